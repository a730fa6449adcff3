import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { IHorizontalPodAutoscaler } from 'kubernetes-models/autoscaling/v2/HorizontalPodAutoscaler';
import type { IConfigMap } from 'kubernetes-models/v1/ConfigMap';
import { helmBinaries, runHelm } from './helpers/helm';
import { type Manifest, manifestProblems, parseManifests } from './helpers/helm-manifests';

/*
 * The Jenkinsfile, checked two ways: the real linter (npm-groovy-lint, which runs CodeNarc on Java) must find
 * no error or warning in it, and must find them in deliberately broken copies (so a linter that checks nothing
 * cannot pass); and the pipeline must have the stages, gates and commands the delivery process relies on.
 */

const ROOT = join(__dirname, '..');
const JENKINSFILE = join(ROOT, 'Jenkinsfile');
const LINT_CONFIG = join(ROOT, '.groovylintrc.json');
const LINTER = join(ROOT, 'node_modules', 'npm-groovy-lint', 'lib', 'index.js');
// A short-lived JVM: less heap than the default 2 GB, no /tmp/hsperfdata file, quicker start-up.
const JAVA_OPTIONS = '-Xms128m,-Xmx1024m,-XX:-UsePerfData,-XX:TieredStopAtLevel=1,-XX:+UseSerialGC';
const LINT_TIMEOUT_MS = 150_000;

/**
 * The Java that runs CodeNarc, found here and passed explicitly: given only "java", npm-groovy-lint's
 * java-caller downloads a JRE when none (or none between 17 and 24) is installed, and tests stay offline.
 */
function javaExecutable(): string {
  let java: string;
  try {
    java = execFileSync('sh', ['-c', 'command -v java'], { encoding: 'utf8' }).trim();
  } catch {
    throw new Error('java is not installed: npm-groovy-lint needs Java 17+ (Debian: apt-get install openjdk-17-jre-headless)');
  }
  // `java -version` prints to stderr.
  const { stderr } = spawnSync(java, ['-version'], { encoding: 'utf8' });
  const major = Number(/version "(\d+)/.exec(stderr)?.[1]);
  if (!(major >= 17)) throw new Error(`${java} is Java ${major || '?'}: npm-groovy-lint needs Java 17 or newer`);
  return java;
}

type Severity = 'error' | 'warning' | 'info';

interface Finding {
  readonly line: number;
  readonly rule: string;
  readonly severity: Severity;
  readonly msg: string;
}

interface LintRun {
  readonly exitCode: number | null;
  /** The linter's stdout and stderr, for failure messages. */
  readonly log: string;
  readonly summary: {
    readonly totalFilesLinted: number;
    readonly totalFoundErrorNumber: number;
    readonly totalFoundWarningNumber: number;
    readonly totalFoundInfoNumber: number;
  };
  /** Findings per linted file (absolute path). */
  readonly files: Record<string, { errors: Finding[] }>;
  /** PIDs of the run's process group (the linter and its JVM) still alive after the linter exited. */
  readonly leftover: number[];
}

function processGroupMembers(pgid: number): number[] {
  return execFileSync('ps', ['-eo', 'pid=,pgid='], { encoding: 'utf8' })
    .split('\n')
    .map((line) => line.trim().split(/\s+/).map(Number))
    .filter(([pid, group]) => group === pgid && pid !== process.pid)
    .map(([pid]) => pid);
}

/**
 * Runs npm-groovy-lint once, in its own process group, without the CodeNarc server (--noserver: one JVM that
 * ends with the run), failing on warnings, with the repository's rules whatever directory the files are in.
 */
function lint(java: string, files: string[], reportPath: string): Promise<LintRun> {
  const args = [LINTER, '--noserver', '--failon', 'warning', '--javaexecutable', java, `--javaoptions=${JAVA_OPTIONS}`];
  args.push('--config', LINT_CONFIG, '--output', reportPath, ...files);
  const child = spawn(process.execPath, args, {
    cwd: ROOT,
    detached: true,
    env: { ...process.env, NO_COLOR: '1', FORCE_COLOR: '0' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const pgid = child.pid!;
  let log = '';
  child.stdout.on('data', (chunk: Buffer) => (log += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => (log += chunk.toString()));
  return new Promise<LintRun>((resolve, reject) => {
    const timer = setTimeout(() => {
      try {
        process.kill(-pgid, 'SIGKILL');
      } catch {
        // The group is already gone.
      }
      reject(new Error(`npm-groovy-lint did not finish within ${LINT_TIMEOUT_MS} ms:\n${log}`));
    }, LINT_TIMEOUT_MS);
    child.once('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
    child.once('exit', (exitCode) => {
      clearTimeout(timer);
      const leftover = processGroupMembers(pgid);
      // Reported by the test below; stopped here so that a failing run still leaves nothing behind.
      if (leftover.length > 0) process.kill(-pgid, 'SIGKILL');
      let report: Pick<LintRun, 'summary' | 'files'>;
      try {
        report = JSON.parse(readFileSync(reportPath, 'utf8')) as Pick<LintRun, 'summary' | 'files'>;
      } catch (err) {
        reject(new Error(`npm-groovy-lint (exit ${exitCode}) wrote no readable report ${reportPath}: ${String(err)}\n${log}`));
        return;
      }
      resolve({ exitCode, log, ...report, leftover });
    });
  });
}

/** The findings of the given severities in one file (from line `fromLine` on), as one line of text each. */
const findingsOf = (run: LintRun, file: string, severities: Severity[], fromLine = 1): string[] =>
  (run.files[file]?.errors ?? [])
    .filter((f) => severities.includes(f.severity) && f.line >= fromLine)
    .sort((a, b) => a.line - b.line)
    .map((f) => `${f.severity} line ${f.line} ${f.rule}: ${f.msg.split('\n')[0]}`);

describe('Jenkinsfile lint (npm-groovy-lint, CodeNarc)', () => {
  let dir: string;
  let clean: LintRun;
  let broken: LintRun;
  let withRuleErrors: string;
  let withSyntaxError: string;
  let addedFrom: number;

  beforeAll(async () => {
    const java = javaExecutable();
    dir = mkdtempSync(join(tmpdir(), 'kv-jenkinsfile-'));
    const source = readFileSync(JENKINSFILE, 'utf8');
    addedFrom = source.split('\n').length;
    // Copy 1: the real Jenkinsfile plus a function with an unused variable, unreachable code and a long line.
    withRuleErrors = join(dir, 'rules', 'Jenkinsfile');
    mkdirSync(join(dir, 'rules'));
    const longLine = `    echo '${'this line is deliberately longer than the limit '.repeat(3)}'`;
    writeFileSync(
      withRuleErrors,
      `${source}\nString broken() {\n    String neverRead = 'unused'\n    return 'early'\n${longLine}\n}\n`,
    );
    // Copy 2: the real Jenkinsfile without its last closing brace: it no longer parses.
    withSyntaxError = join(dir, 'syntax', 'Jenkinsfile');
    mkdirSync(join(dir, 'syntax'));
    writeFileSync(withSyntaxError, `${source.trimEnd().replace(/\}$/, '')}\n`);

    [clean, broken] = await Promise.all([
      lint(java, [JENKINSFILE], join(dir, 'clean.json')),
      lint(java, [withRuleErrors, withSyntaxError], join(dir, 'broken.json')),
    ]);
  }, 2 * LINT_TIMEOUT_MS);

  afterAll(() => {
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('finds no error and no warning in the Jenkinsfile', () => {
    expect(clean.summary.totalFilesLinted).toBe(1);
    expect(findingsOf(clean, JENKINSFILE, ['error', 'warning'])).toEqual([]);
    expect(clean.summary.totalFoundErrorNumber).toBe(0);
    expect(clean.summary.totalFoundWarningNumber).toBe(0);
    // --failon warning: the command a developer or CI would run passes.
    expect({ exitCode: clean.exitCode, log: clean.log }).toEqual({ exitCode: 0, log: expect.any(String) });
  });

  it('reports rule violations and syntax errors in broken copies (the linter really checks)', () => {
    expect(broken.summary.totalFilesLinted).toBe(2);
    expect(broken.exitCode).toBe(1);
    // Judged on the lines added to the copy only: the clean part is the first test's business.
    const ruleFindings = findingsOf(broken, withRuleErrors, ['error', 'warning'], addedFrom);
    expect(ruleFindings).toEqual([
      expect.stringMatching(/^warning line \d+ UnusedVariable:/),
      expect.stringMatching(/^error line \d+ DeadCode:/),
      expect.stringMatching(/^warning line \d+ LineLength:/),
    ]);
    expect(findingsOf(broken, withSyntaxError, ['error'])).toEqual([expect.stringMatching(/^error line \d+ NglParseError:/)]);
    expect(broken.summary.totalFoundErrorNumber).toBeGreaterThanOrEqual(2);
  });

  it('leaves no linter or JVM process running (--noserver)', () => {
    expect({ clean: clean.leftover, broken: broken.leftover }).toEqual({ clean: [], broken: [] });
  });
});

/** The text of the `{ ... }` block that starts at the first brace at or after `from`. */
function blockAt(text: string, from: number): string {
  const open = text.indexOf('{', from);
  if (open < 0) throw new Error(`no block after offset ${from}`);
  let depth = 0;
  for (let i = open; i < text.length; i++) {
    if (text[i] === '{') depth++;
    else if (text[i] === '}' && --depth === 0) return text.slice(open, i + 1);
  }
  throw new Error(`unbalanced block at offset ${open}`);
}

describe('Jenkinsfile pipeline', () => {
  const text = readFileSync(JENKINSFILE, 'utf8');
  const stage = (name: string): string => {
    const at = text.indexOf(`stage('${name}')`);
    if (at < 0) throw new Error(`no stage '${name}'`);
    return blockAt(text, at);
  };
  /** The first `name { ... }` block in `within` (the last one: its own, for a stage with nested stages). */
  const directive = (name: string, within: string = text, last = false): string => {
    const at = last ? within.lastIndexOf(`${name} {`) : within.indexOf(`${name} {`);
    if (at < 0) throw new Error(`no ${name} { } block`);
    return blockAt(within, at);
  };
  const deployFunction = blockAt(text, text.indexOf('void deployRelease(Map target)'));

  it('is a declarative pipeline whose stages come in delivery order', () => {
    expect(text).toMatch(/^pipeline \{$/m);
    const stages = [...text.matchAll(/\bstage\('([^']+)'\)/g)].map(([, name]) => name);
    const required = [
      'Checkout',
      'Install',
      'Lint',
      'Test',
      'Build image',
      'Push image',
      'Deploy staging',
      'Approve',
      'Deploy production',
    ];
    expect(stages.filter((name) => required.includes(name))).toEqual(required);
    expect(stages).toEqual(['Build and stage', ...required]);
  });

  it('takes registry, clusters and namespaces as parameters, and can skip deploys', () => {
    const parameters = directive('parameters');
    for (const name of [
      'IMAGE_REGISTRY',
      'IMAGE_NAME',
      'STAGING_KUBE_CONTEXT',
      'STAGING_NAMESPACE',
      'PRODUCTION_KUBE_CONTEXT',
      'PRODUCTION_NAMESPACE',
      'PRODUCTION_APPROVERS',
    ]) {
      expect(parameters).toMatch(new RegExp(`string\\(name: '${name}'`));
    }
    expect(parameters).toMatch(/booleanParam\(name: 'SKIP_DEPLOY', defaultValue: false/);
    // Which environment a run deploys to, and whether production waits for a person.
    expect(parameters).toMatch(/choice\(name: 'DEPLOY_ENVIRONMENT', choices: \['production', 'staging'\]/);
    expect(parameters).toMatch(/booleanParam\(name: 'PRODUCTION_APPROVAL', defaultValue: true/);
  });

  it('sets a timeout, discards old builds, timestamps the log and never runs twice at once', () => {
    const options = directive('options');
    expect(options).toMatch(/\btimeout\(time: \d+, unit: 'HOURS'\)/);
    expect(options).toMatch(/\bbuildDiscarder\(logRotator\(numToKeepStr: '\d+'/);
    expect(options).toContain('timestamps()');
    expect(options).toContain('disableConcurrentBuilds()');
  });

  it('checks out, installs with npm ci, type-checks, and lints and renders the chart strictly with each environment', () => {
    expect(stage('Checkout')).toContain('checkout(scm)');
    expect(stage('Install')).toMatch(/\bnpm ci\b/);
    expect(stage('Lint')).toContain("sh 'npm run typecheck'");
    expect(stage('Lint')).toContain('for environment in staging production; do');
    expect(stage('Lint')).toContain('helm lint --strict "$CHART" --values "$ENVIRONMENTS/$environment.yaml"');
    expect(stage('Lint')).toContain('helm template "$HELM_RELEASE" "$CHART" --values "$ENVIRONMENTS/$environment.yaml"');
    expect(directive('environment')).toContain("CHART = 'helm/kv-store'");
    expect(directive('environment')).toContain("ENVIRONMENTS = 'helm/environments'");
  });

  it('runs the tests with JUnit reports and publishes them whatever the outcome', () => {
    const test = stage('Test');
    expect(test).toContain("sh 'npm test -- --ci --reporters=default --reporters=jest-junit'");
    expect(directive('environment')).toContain("JEST_JUNIT_OUTPUT_DIR = 'reports/junit'");
    expect(directive('always', directive('post', test))).toMatch(/junit\(testResults: "\$\{env\.JEST_JUNIT_OUTPUT_DIR\}\/\*\.xml"/);
    // jest-junit is what --reporters=jest-junit loads.
    expect(() => require.resolve('jest-junit', { paths: [ROOT] })).not.toThrow();
  });

  it('builds the image with its version, revision and source, tagged with the commit', () => {
    const build = stage('Build image');
    expect(build).toMatch(/docker build --pull/);
    expect(build).toContain('--build-arg VERSION="$IMAGE_VERSION"');
    expect(build).toContain('--build-arg REVISION="$GIT_COMMIT"');
    expect(build).toContain('--build-arg SOURCE="$GIT_URL"');
    expect(stage('Checkout')).toContain('env.IMAGE_TAG = env.GIT_COMMIT');
    // Tags: the commit first, then a release tag's semver or the branch name.
    const imageTags = blockAt(text, text.indexOf('List<String> imageTags()'));
    expect(imageTags).toContain('List<String> tags = [env.GIT_COMMIT]');
    expect(imageTags).toMatch(/env\.TAG_NAME \?: env\.BRANCH_NAME/);
  });

  it('pushes with registry credentials from Jenkins, never on the command line', () => {
    const push = stage('Push image');
    expect(push).toMatch(/withCredentials\(\[usernamePassword\(credentialsId: env\.REGISTRY_CREDENTIALS,/);
    expect(push).toContain('docker login "$IMAGE_REGISTRY" --username "$REGISTRY_USER" --password-stdin');
    expect(push).toContain('docker push "$ref"');
    // The digest the push produced is what the deploys pin.
    expect(push).toContain('env.IMAGE_DIGEST = pushedDigest()');
    const pushedDigest = blockAt(text, text.indexOf('String pushedDigest()'));
    expect(pushedDigest).toContain('docker image inspect -f "{{json .RepoDigests}}" "$IMAGE_REPOSITORY:$IMAGE_TAG"');
    expect(pushedDigest).toMatch(/digest ==~ \/sha256:\[a-f0-9\]\{64\}\//);
    // Every shell script is a single-quoted Groovy string: secrets and parameters reach the shell as
    // environment variables, never interpolated into the command by Groovy.
    expect(text).not.toMatch(/\bsh[ (]+"/);
    expect(text).not.toMatch(/\bsh\(script: "/);
  });

  it('deploys both environments through one deployRelease() function: helm upgrade --atomic --wait with the environment file and the pinned digest, then helm test', () => {
    expect(text.match(/helm upgrade --install/g)).toHaveLength(1);
    // Defined once, called by the two deploy stages.
    expect(text.match(/\bdeployRelease\(/g)).toHaveLength(3);
    expect(deployFunction).toContain('helm upgrade --install "$HELM_RELEASE" "$CHART"');
    for (const flag of [
      '--kube-context "$KUBE_CONTEXT"',
      '--namespace "$KUBE_NAMESPACE"',
      '--values "$ENVIRONMENTS/$DEPLOY_ENVIRONMENT.yaml"',
      '--set-string image.repository="$IMAGE_REPOSITORY"',
      '--set-string image.tag="$IMAGE_TAG"',
      '--set-string image.digest="$IMAGE_DIGEST"',
      '--atomic',
      '--wait',
      '--timeout 10m',
    ]) {
      expect(deployFunction).toContain(flag);
    }
    expect(deployFunction).toMatch(/helm test "\$HELM_RELEASE"/);
    expect(deployFunction).toMatch(/helm rollback "\$HELM_RELEASE"/);
    expect(deployFunction).toContain("withCredentials([file(credentialsId: target.kubeconfigCredentialsId, variable: 'KUBECONFIG')])");
    expect(deployFunction).toContain('"DEPLOY_ENVIRONMENT=${target.name}"');
    // Only the two environments that have a values file, and never without a pushed digest.
    expect(deployFunction).toContain("if (!(target.name in ['staging', 'production'])) {");
    expect(deployFunction).toContain("if (!((env.IMAGE_DIGEST ?: '') ==~ /sha256:[a-f0-9]{64}/)) {");
    // Each deploy stage passes its own environment's parameters and kubeconfig credential.
    for (const [name, prefix] of [
      ['staging', 'STAGING'],
      ['production', 'PRODUCTION'],
    ]) {
      const args = [`name: '${name}'`, `kubeContext: params.${prefix}_KUBE_CONTEXT`, `namespace: params.${prefix}_NAMESPACE`];
      args.push(`kubeconfigCredentialsId: env.${prefix}_KUBECONFIG_CREDENTIALS`);
      const call = stage(`Deploy ${name}`).match(/deployRelease\(([^)]*)\)/)?.[1];
      expect(call?.split(/,\s+/)).toEqual(args);
    }
    for (const name of ['Deploy staging', 'Deploy production']) expect(stage(name)).not.toContain('helm ');
  });

  it('waits for approval without holding an executor, and deploys production only from main or a tag', () => {
    const approve = stage('Approve');
    expect(approve).toContain('agent none');
    expect(approve).toMatch(/timeout\(time: \d+, unit: '(MINUTES|HOURS)'\) \{\s+script \{\s+String approver = input\(/);
    expect(approve).toContain('submitter: params.PRODUCTION_APPROVERS');
    expect(approve).not.toMatch(/\bsh\b/);
    expect(text).toMatch(/^ {4}agent none$/m);
    for (const name of ['Approve', 'Deploy production']) {
      const when = directive('when', stage(name));
      expect(when).toContain('beforeAgent true');
      expect(when).toContain('expression { !params.SKIP_DEPLOY }');
      expect(when).toContain('expression { deploysProduction() }');
      expect(when).toMatch(/anyOf \{\s+branch 'main'\s+buildingTag\(\)\s+\}/);
    }
    // The approval is a parameter; unset (a first build) it is required.
    expect(directive('when', stage('Approve'))).toContain('expression { params.PRODUCTION_APPROVAL != false }');
    expect(directive('when', stage('Deploy production'))).not.toContain('PRODUCTION_APPROVAL');
    expect(blockAt(text, text.indexOf('boolean deploysProduction()'))).toContain("(params.DEPLOY_ENVIRONMENT ?: 'production') == 'production'");
    expect(directive('when', stage('Deploy staging'))).toContain('expression { !params.SKIP_DEPLOY }');
    // The production agent gets the chart and the environments' values this run checked out and linted.
    expect(stage('Checkout')).toContain("stash(name: 'chart', includes: 'helm/**')");
    expect(stage('Deploy production')).toContain("unstash('chart')");
  });

  it('logs out of the registry, removes its images and cleans the workspaces', () => {
    const post = directive('post', stage('Build and stage'), true);
    expect(post).not.toContain('junit');
    expect(directive('always', post)).toContain(`sh 'docker logout "$IMAGE_REGISTRY" || true'`);
    expect(directive('always', post)).toContain("sh 'docker image rm $IMAGE_REFS || true'");
    expect(directive('cleanup', post)).toContain('cleanWs()');
    expect(directive('cleanup', directive('post', stage('Deploy production')))).toContain('cleanWs()');
  });
});

/**
 * Every shell script the Jenkinsfile runs (sh '...', sh '''...''', sh(script: '...')), as the shell gets it:
 * Groovy's single-quoted strings only unescape \', \\ and a backslash-newline (which joins the two lines).
 */
function shellScripts(source: string): string[] {
  const unescape = (groovy: string): string => groovy.replace(/\\(\n|'|\\)/g, (_, c: string) => (c === '\n' ? '' : c));
  const scripts: string[] = [];
  for (const [, script] of source.matchAll(/\bsh '''([\s\S]*?)'''/g)) scripts.push(unescape(script));
  for (const [, script] of source.matchAll(/\bsh(?: |\(script: )'(?!'')((?:[^'\\\n]|\\.)*)'/g)) scripts.push(unescape(script));
  return scripts;
}

describe('Jenkinsfile shell scripts', () => {
  const text = readFileSync(JENKINSFILE, 'utf8');
  const scripts = shellScripts(text);
  let dir: string;

  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'kv-jenkinsfile-sh-'));
    // Stand-ins for docker and helm: they record each call; `helm test` fails when HELM_TEST_FAILS=1.
    for (const tool of ['docker', 'helm']) {
      const stub = join(dir, tool);
      writeFileSync(stub, `#!/bin/sh\necho "${tool} $*" >> "$CALLS"\n[ "${tool} $1 \${HELM_TEST_FAILS:-0}" != "helm test 1" ]\n`);
      chmodSync(stub, 0o755);
    }
  });
  afterAll(() => {
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  let runs = 0;
  /** Runs one of the Jenkinsfile's scripts the way Jenkins does (/bin/sh -xe), with the stubs first on PATH. */
  const runScript = (script: string, env: Record<string, string>): { status: number | null; calls: string[]; output: string } => {
    const calls = join(dir, `calls-${++runs}`);
    const result = spawnSync('/bin/sh', ['-xe', '-c', script], {
      cwd: dir,
      encoding: 'utf8',
      env: { PATH: `${dir}:/usr/bin:/bin`, CALLS: calls, ...env },
    });
    const recorded = existsSync(calls) ? readFileSync(calls, 'utf8').trim().split('\n') : [];
    return { status: result.status, calls: recorded, output: result.stdout + result.stderr };
  };
  const scriptContaining = (needle: string): string => {
    const found = scripts.filter((script) => script.includes(needle));
    expect(found).toHaveLength(1);
    return found[0];
  };

  it('all parse (sh -n)', () => {
    // Each `sh` step's script found (none missed by the patterns above).
    expect(scripts).toHaveLength(text.match(/\bsh[ (]/g)!.length);
    expect(scripts.length).toBeGreaterThanOrEqual(10);
    for (const script of scripts) {
      const { status, stderr } = spawnSync('/bin/sh', ['-n', '-c', script], { encoding: 'utf8' });
      expect({ script, status, stderr }).toEqual({ script, status: 0, stderr: '' });
    }
  });

  const image = {
    IMAGE_REPOSITORY: 'registry.example.com/platform/kv-store',
    IMAGE_TAG: '0123456789abcdef0123456789abcdef01234567',
    IMAGE_DIGEST: `sha256:${'0123456789abcdef'.repeat(4)}`,
    HELM_RELEASE: 'kv-store',
    CHART: 'helm/kv-store',
    ENVIRONMENTS: 'helm/environments',
  };

  it('builds one image with all its tags and the build arguments', () => {
    const { status, calls, output } = runScript(scriptContaining('docker build'), {
      IMAGE_REFS: `${image.IMAGE_REPOSITORY}:${image.IMAGE_TAG} ${image.IMAGE_REPOSITORY}:main`,
      IMAGE_VERSION: '0.1.0+0123456789ab',
      GIT_COMMIT: image.IMAGE_TAG,
      GIT_URL: 'https://git.example.com/platform/kv-store.git',
    });
    expect({ status, output }).toEqual({ status: 0, output: expect.any(String) });
    expect(calls).toEqual([
      'docker build --pull --build-arg VERSION=0.1.0+0123456789ab ' +
        `--build-arg REVISION=${image.IMAGE_TAG} --build-arg SOURCE=https://git.example.com/platform/kv-store.git ` +
        `--tag ${image.IMAGE_REPOSITORY}:${image.IMAGE_TAG} --tag ${image.IMAGE_REPOSITORY}:main .`,
    ]);
  });

  const deployEnv = { ...image, DEPLOY_ENVIRONMENT: 'staging', KUBE_CONTEXT: 'staging-ctx', KUBE_NAMESPACE: 'kv-store-staging' };
  const target = '--kube-context staging-ctx --namespace kv-store-staging';

  it('deploys with helm upgrade --install --atomic, then runs helm test', () => {
    const { status, calls, output } = runScript(scriptContaining('helm upgrade'), deployEnv);
    expect({ status, output }).toEqual({ status: 0, output: expect.any(String) });
    expect(calls).toEqual([
      `helm upgrade --install kv-store helm/kv-store ${target} --values helm/environments/staging.yaml ` +
        `--set-string image.repository=${image.IMAGE_REPOSITORY} --set-string image.tag=${image.IMAGE_TAG} ` +
        `--set-string image.digest=${image.IMAGE_DIGEST} --atomic --wait --timeout 10m --history-max 10`,
      `helm test kv-store ${target} --logs --timeout 5m`,
    ]);
  });

  it('rolls back and fails the stage when helm test fails', () => {
    const { status, calls } = runScript(scriptContaining('helm upgrade'), { ...deployEnv, HELM_TEST_FAILS: '1' });
    expect(status).toBe(1);
    expect(calls.map((call) => call.split(' ').slice(0, 2).join(' '))).toEqual(['helm upgrade', 'helm test', 'helm rollback']);
    expect(calls[2]).toBe(`helm rollback kv-store ${target} --wait --timeout 10m`);
  });
  it('reads the pushed image digest with docker image inspect', () => {
    const { status, calls } = runScript(scriptContaining('{{json .RepoDigests}}'), image);
    expect(status).toBe(0);
    expect(calls).toEqual([`docker image inspect -f {{json .RepoDigests}} ${image.IMAGE_REPOSITORY}:${image.IMAGE_TAG}`]);
  });

  /**
   * The deploy script's `helm upgrade --install` argument list, turned into the `helm template` that renders
   * the same release: flags that only matter to a cluster are dropped, and any other flag fails the test, so a
   * new flag in the deploy command is a decision made here too.
   */
  const templateArgs = (argv: string[]): string[] => {
    const [command, install, release, chart, ...flags] = argv;
    expect([command, install]).toEqual(['upgrade', '--install']);
    const args = ['template', release, join(ROOT, chart)];
    for (let i = 0; i < flags.length; i++) {
      const flag = flags[i];
      if (['--atomic', '--wait'].includes(flag)) continue;
      if (['--kube-context', '--timeout', '--history-max'].includes(flag)) i++;
      else if (flag === '--values') args.push(flag, join(ROOT, flags[++i]));
      else if (['--namespace', '--set-string', '--set'].includes(flag)) args.push(flag, flags[++i]);
      else throw new Error(`the deploy command has a flag this test does not know: ${flag}`);
    }
    return args;
  };

  it.each(['staging', 'production'])("renders the deploy stage's helm command against helm/environments/%s.yaml with Helm 3 and Helm 4", async (environment) => {
    // The deploy script as Jenkins runs it, with a helm that records the upgrade's arguments one by one.
    const bin = join(dir, `argv-${environment}`);
    mkdirSync(bin);
    writeFileSync(join(bin, 'helm'), '#!/bin/sh\n[ "$1" != upgrade ] || printf \'%s\\0\' "$@" > "$ARGV"\n');
    chmodSync(join(bin, 'helm'), 0o755);
    const argvFile = join(bin, 'argv');
    const run = spawnSync('/bin/sh', ['-e', '-c', scriptContaining('helm upgrade')], {
      cwd: dir,
      encoding: 'utf8',
      env: { PATH: `${bin}:/usr/bin:/bin`, ARGV: argvFile, ...deployEnv, DEPLOY_ENVIRONMENT: environment, KUBE_NAMESPACE: `kv-store-${environment}` },
    });
    expect({ status: run.status, stderr: run.stderr }).toEqual({ status: 0, stderr: '' });
    const argv = readFileSync(argvFile, 'utf8').split('\0').slice(0, -1);
    expect(argv).toContain(`helm/environments/${environment}.yaml`);
    const args = templateArgs(argv);

    for (const helm of helmBinaries()) {
      const result = await runHelm(helm, dir, args);
      expect({ helm: helm.label, code: result.code, stderr: result.stderr }).toEqual({ helm: helm.label, code: 0, stderr: '' });
      const docs = parseManifests(result.stdout);
      expect(docs.flatMap((d) => manifestProblems(d).map((p) => `${d.kind}/${d.metadata.name}: ${p}`))).toEqual([]);
      const of = <T>(kind: string): T[] => docs.filter((d) => d.kind === kind) as unknown as T[];
      const deployment = of<Manifest & { spec: { template: { spec: { containers: Array<{ image: string }> } } } }>('Deployment')[0];
      // The image the build pushed, pinned by its digest, in the environment's namespace.
      expect(deployment.spec.template.spec.containers[0].image).toBe(`${image.IMAGE_REPOSITORY}@${image.IMAGE_DIGEST}`);
      expect(deployment.metadata.namespace).toBe(`kv-store-${environment}`);
      // The environment's values, not the chart's defaults.
      const settings = of<IConfigMap>('ConfigMap').find((c) => c.metadata!.name === 'kv-store')!.data!;
      expect(settings).toMatchObject({ STORE_DRIVER: 'redis', REDIS_SENTINEL_MASTER: 'mymaster' });
      const hpa = of<IHorizontalPodAutoscaler>('HorizontalPodAutoscaler')[0];
      expect(hpa.spec!.minReplicas).toBeGreaterThanOrEqual(environment === 'production' ? 3 : 2);
      expect(docs.map((d) => d.kind)).toEqual(expect.arrayContaining(['PodDisruptionBudget', 'Ingress', 'ServiceMonitor', 'PrometheusRule', 'NetworkPolicy']));
    }
  });
  it.each(helmBinaries().map((helm) => [helm.label, helm] as const))("runs the Lint stage's helm lint and helm template of both environments with %s", (_label, helm) => {
    const bin = join(dir, `lint-${helm.version}`);
    mkdirSync(bin);
    symlinkSync(helm.path, join(bin, 'helm'));
    const run = spawnSync('/bin/sh', ['-xe', '-c', scriptContaining('helm lint --strict')], {
      cwd: ROOT,
      encoding: 'utf8',
      env: { PATH: `${bin}:/usr/bin:/bin`, HOME: bin, HELM_CACHE_HOME: join(bin, 'cache'), HELM_CONFIG_HOME: join(bin, 'config'), HELM_DATA_HOME: join(bin, 'data'), ...image },
    });
    expect({ status: run.status, output: run.stdout + run.stderr }).toEqual({ status: 0, output: expect.stringContaining('0 chart(s) failed') });
    expect(run.stderr.match(/\+ helm (lint|template) /g)).toEqual(['+ helm lint ', '+ helm template ', '+ helm lint ', '+ helm template ']);
    // Negative control: without an image the same script fails (the chart has no default image).
    const bare = spawnSync('/bin/sh', ['-e', '-c', scriptContaining('helm lint --strict')], {
      cwd: ROOT,
      encoding: 'utf8',
      env: { PATH: `${bin}:/usr/bin:/bin`, HOME: bin, ...image, IMAGE_REPOSITORY: '' },
    });
    expect({ status: bare.status, stderr: bare.stderr }).toEqual({ status: 1, stderr: expect.stringContaining('image.repository is not set') });
  });
});
