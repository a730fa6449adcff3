import type { IDeployment } from 'kubernetes-models/apps/v1/Deployment';
import type { IHorizontalPodAutoscaler } from 'kubernetes-models/autoscaling/v2/HorizontalPodAutoscaler';
import type { IIngress } from 'kubernetes-models/networking.k8s.io/v1/Ingress';
import type { INetworkPolicy } from 'kubernetes-models/networking.k8s.io/v1/NetworkPolicy';
import type { IPodDisruptionBudget } from 'kubernetes-models/policy/v1/PodDisruptionBudget';
import type { IConfigMap } from 'kubernetes-models/v1/ConfigMap';
import type { IContainer } from 'kubernetes-models/v1/Container';
import type { IPersistentVolumeClaim } from 'kubernetes-models/v1/PersistentVolumeClaim';
import type { IPod } from 'kubernetes-models/v1/Pod';
import type { ISecret } from 'kubernetes-models/v1/Secret';
import type { IService } from 'kubernetes-models/v1/Service';
import type { IServiceAccount } from 'kubernetes-models/v1/ServiceAccount';
import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, request as httpRequest, type RequestListener, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { isMap, isScalar, parseDocument, type Node as YamlNode } from 'yaml';
import { EnvironmentVariables, validateEnvironment } from '../src/config/env.validation';
import { memoryBudget } from '../src/config/memory-budget';
import { CHART, type HelmBinary, helmBinaries, type HelmResult, runHelm } from './helpers/helm';
import { type Manifest, manifestProblems, parseManifests } from './helpers/helm-manifests';
import { admits, type Peer } from './helpers/helm-network-policy';
import { startTestApp, type TestApp } from './helpers/test-app';

jest.setTimeout(60_000);

const HELMS = helmBinaries();
const RELEASE = 'demo';
const NAMESPACE = 'kv-test';
const FULLNAME = 'demo-kv-store';
const SELECTOR = { 'app.kubernetes.io/name': 'kv-store', 'app.kubernetes.io/instance': RELEASE };
const LABELS = { ...SELECTOR, 'helm.sh/chart': 'kv-store-0.1.0', 'app.kubernetes.io/version': '0.1.0', 'app.kubernetes.io/managed-by': 'Helm' };

const fixture = (name: string): string => join(__dirname, 'fixtures', 'helm', name);
/**
 * The settings the chart's defaults make smaller than the server's, so that everything a client can make a pod hold
 * (memoryBudget) fits the chart's default memory limit.
 */
const CHART_BUDGET = {
  KV_MAX_BATCH_KEYS: '250',
  KV_MAX_STORE_BYTES: String(256 * 1024 * 1024),
  KV_MAX_PAGE_BYTES: String(1024 * 1024),
  WATCH_HISTORY_BYTES: String(32 * 1024 * 1024),
  WATCH_MAX_STREAMS: '1000',
  WATCH_MAX_BUFFER_BYTES: String(256 * 1024),
  WEBHOOK_MAX_SUBSCRIPTIONS: '100',
  WEBHOOK_MAX_PENDING_BYTES: String(1024 * 1024),
  HTTP_MAX_REQUESTS_IN_FLIGHT: '64',
  // Not a budget: the time Kubernetes takes to stop routing to a terminating pod (the server's own default is 0,
  // so a local Ctrl-C stops at once).
  SHUTDOWN_DELAY_MS: '5000',
};

/** Bytes of a Kubernetes quantity such as 1536Mi or 2Gi. */
function quantityBytes(quantity: string): number {
  const [, number, unit] = /^(\d+(?:\.\d+)?)(Ki|Mi|Gi|Ti|k|M|G|T)?$/.exec(quantity)!;
  const factor = { Ki: 2 ** 10, Mi: 2 ** 20, Gi: 2 ** 30, Ti: 2 ** 40, k: 1e3, M: 1e6, G: 1e9, T: 1e12 }[unit ?? ''] ?? 1;
  return Number(number) * factor;
}

/** The environment files the pipeline deploys with (helm/environments, outside the chart). */
const environment = (name: string): string => join(__dirname, '..', 'helm', 'environments', `${name}.yaml`);
/** The values files every Helm version lints and renders: [name, values files]. */
const MATRIX: ReadonlyArray<readonly [string, readonly string[]]> = [
  ['defaults', []],
  ['redis + HPA + PDB', [fixture('redis-hpa-pdb.yaml')]],
  ['ingress + TLS', [fixture('ingress-tls.yaml')]],
  ['monitoring + NetworkPolicy', [fixture('monitoring-networkpolicy.yaml')]],
  ['Redis Sentinel', [fixture('redis-sentinel.yaml')]],
  ['Redis Cluster', [fixture('redis-cluster.yaml')]],
  ['staging environment', [environment('staging')]],
  ['production environment', [environment('production')]],
];
const MATRIX_NAMES = MATRIX.map(([name]) => name);
const valuesArgs = (files: readonly string[]): string[] => files.flatMap((f) => ['--values', f]);
/**
 * Every render names an image, as the pipeline does: the chart refuses to render without one (a test below).
 * With the tag left to the chart's appVersion, so the version label stays 0.1.0.
 */
const IMAGE_REPOSITORY = 'registry.example.com/platform/kv-store';
const IMAGE = ['--set-string', `image.repository=${IMAGE_REPOSITORY}`];
/** Replicated mode with a Redis URL of its own, the base of the cases that vary one setting. */
const REDIS = ['--set', 'store.driver=redis', '--set', 'redis.url=redis://redis:6379'];
/** The PromQL matchers of the release's series, as the ServiceMonitor's targets are labelled. */
const SERIES = `job="${FULLNAME}", namespace="${NAMESPACE}"`;

function all<T>(docs: Manifest[], kind: string): T[] {
  return docs.filter((d) => d.kind === kind) as unknown as T[];
}

function one<T>(docs: Manifest[], kind: string): T {
  const found = all<T>(docs, kind);
  if (found.length !== 1) throw new Error(`expected one ${kind}, rendered ${found.length}`);
  return found[0];
}

const deploymentOf = (docs: Manifest[]) => one<IDeployment>(docs, 'Deployment');
const containerOf = (docs: Manifest[]): IContainer => deploymentOf(docs).spec!.template.spec!.containers[0];
/** The server's settings: the release's own ConfigMap (the dashboard's is another). */
const settingsOf = (docs: Manifest[]): Record<string, string> => all<IConfigMap>(docs, 'ConfigMap').find((c) => c.metadata?.name === FULLNAME)!.data!;
const checksumsOf = (docs: Manifest[]) => deploymentOf(docs).spec!.template.metadata!.annotations ?? {};
const testPodOf = (docs: Manifest[]) => all<IPod>(docs, 'Pod').find((p) => p.metadata?.annotations?.['helm.sh/hook'] === 'test')!;
const decode = (secret: ISecret, key: string): string => Buffer.from(secret.data![key], 'base64').toString('utf8');

let home: string;
beforeAll(() => {
  home = mkdtempSync(join(tmpdir(), 'kv-helm-'));
});
afterAll(() => rmSync(home, { recursive: true, force: true }));

const templateRuns = new Map<string, Promise<HelmResult>>();

/** `helm template` of the release: each distinct run happens once in this file, whichever test asks first. */
function helmTemplate(helm: HelmBinary, args: string[]): Promise<HelmResult> {
  const key = JSON.stringify([helm.path, args]);
  let run = templateRuns.get(key);
  if (!run) templateRuns.set(key, (run = runHelm(helm, home, ['template', RELEASE, CHART, '--namespace', NAMESPACE, ...IMAGE, ...args])));
  return run;
}

async function render(helm: HelmBinary, args: string[]): Promise<Manifest[]> {
  const result = await helmTemplate(helm, args);
  if (result.code !== 0) throw new Error(`helm template ${args.join(' ')} failed:\n${result.stderr}`);
  return parseManifests(result.stdout);
}

const renderMatrix = (helm: HelmBinary, name: string): Promise<Manifest[]> => render(helm, valuesArgs(MATRIX.find(([n]) => n === name)![1]));

/** How many pods the PDB lets a drain evict while the release runs `floor` pods (Kubernetes rounds percentages up). */
function evictableAtFloor(pdb: IPodDisruptionBudget, floor: number): number {
  const { minAvailable, maxUnavailable } = pdb.spec!;
  const pods = (v: number | string): number => (typeof v === 'number' ? v : Math.ceil((parseInt(v, 10) * floor) / 100));
  return minAvailable !== undefined ? floor - pods(minAvailable) : pods(maxUnavailable!);
}

/**
 * The environment a pod of this release gets, as the kubelet resolves it: the ConfigMap, then `env` in order
 * with $(VAR) references expanded. Keys of Secrets the chart does not render stand in as placeholders.
 */
function podEnvironment(docs: Manifest[]): Record<string, string> {
  const env = { ...settingsOf(docs) };
  const secrets = all<ISecret>(docs, 'Secret');
  for (const variable of containerOf(docs).env ?? []) {
    const ref = variable.valueFrom?.secretKeyRef;
    if (!ref) {
      env[variable.name] = variable.value!.replace(/\$\((\w+)\)/g, (_, name: string) => env[name]);
      continue;
    }
    const secret = secrets.find((s) => s.metadata?.name === ref.name);
    env[variable.name] = secret ? decode(secret, ref.key) : `from-secret-${ref.name}`;
  }
  return env;
}

describe.each(HELMS.map((helm) => [helm.label, helm] as const))('the Helm chart with %s', (_label, helm: HelmBinary) => {
  const rendered = new Map<string, Manifest[]>();
  const helmRun = (args: string[]): Promise<HelmResult> => runHelm(helm, home, args);
  const template = (args: string[]): Promise<Manifest[]> => render(helm, args);
  /** The error output of a `helm template` that must fail. */
  const refused = async (args: string[]): Promise<string> => {
    const result = await helmTemplate(helm, args);
    expect({ args, refused: result.code !== 0 }).toEqual({ args, refused: true });
    return result.stderr;
  };

  beforeAll(async () => {
    await Promise.all(MATRIX_NAMES.map(async (name) => rendered.set(name, await renderMatrix(helm, name))));
  });

  it.each(MATRIX)('lints with --strict: %s', async (_name, files) => {
    const result = await helmRun(['lint', '--strict', CHART, ...IMAGE, ...valuesArgs(files)]);
    expect({ code: result.code, output: result.stdout + result.stderr }).toEqual({ code: 0, output: expect.stringContaining('0 chart(s) failed') });
  });

  it.each(MATRIX_NAMES)('renders only objects valid against the Kubernetes API schemas: %s', (name) => {
    const docs = rendered.get(name)!;
    expect(docs.length).toBeGreaterThanOrEqual(5);
    expect(docs.map((d) => ({ object: `${d.kind}/${d.metadata.name}`, problems: manifestProblems(d) }))).toEqual(
      docs.map((d) => ({ object: `${d.kind}/${d.metadata.name}`, problems: [] })),
    );
  });

  it.each(MATRIX_NAMES)('labels every object and selects the pods by name and instance only: %s', (name) => {
    const docs = rendered.get(name)!;
    for (const doc of docs.filter((d) => d !== testPodOf(docs))) {
      expect({ object: `${doc.kind}/${doc.metadata.name}`, labels: doc.metadata.labels }).toEqual({
        object: `${doc.kind}/${doc.metadata.name}`,
        labels: expect.objectContaining(LABELS),
      });
    }
    const deployment = deploymentOf(docs);
    expect(deployment.spec!.selector).toEqual({ matchLabels: SELECTOR });
    expect(deployment.spec!.template.metadata!.labels).toEqual(expect.objectContaining(SELECTOR));
    expect(one<IService>(docs, 'Service').spec!.selector).toEqual(SELECTOR);
    for (const pdb of all<IPodDisruptionBudget>(docs, 'PodDisruptionBudget')) expect(pdb.spec!.selector).toEqual({ matchLabels: SELECTOR });
    for (const policy of all<INetworkPolicy>(docs, 'NetworkPolicy')) expect(policy.spec!.podSelector).toEqual({ matchLabels: SELECTOR });
    for (const monitor of all<Manifest>(docs, 'ServiceMonitor')) expect((monitor.spec as { selector: unknown }).selector).toEqual({ matchLabels: SELECTOR });
    for (const constraint of deployment.spec!.template.spec!.topologySpreadConstraints!) expect(constraint.labelSelector).toEqual({ matchLabels: SELECTOR });
    // The test pod carries its own name label, so no selector of the release ever picks it up.
    const testLabels = testPodOf(docs).metadata!.labels!;
    expect(testLabels).toMatchObject({ 'app.kubernetes.io/name': 'kv-store-test', 'app.kubernetes.io/instance': RELEASE });
  });

  it.each(MATRIX_NAMES)('rolls out without downtime and runs locked down: %s', (name) => {
    const docs = rendered.get(name)!;
    const spec = deploymentOf(docs).spec!;
    const pod = spec.template.spec!;
    const container = containerOf(docs);
    const settings = settingsOf(docs);

    expect(spec.strategy).toEqual({ type: 'RollingUpdate', rollingUpdate: { maxUnavailable: 0, maxSurge: 1 } });
    expect(spec.minReadySeconds).toBeGreaterThan(0);
    expect(container.ports).toEqual([{ name: 'http', containerPort: Number(settings.PORT), protocol: 'TCP' }]);
    expect(container.startupProbe?.httpGet).toEqual({ path: '/health/live', port: 'http' });
    expect(container.livenessProbe?.httpGet).toEqual({ path: '/health/live', port: 'http' });
    expect(container.readinessProbe?.httpGet).toEqual({ path: '/health/ready', port: 'http' });
    // Kubernetes must not SIGKILL a pod that is still in its shutdown delay or draining requests.
    const drainMs = Number(settings.SHUTDOWN_DELAY_MS) + Number(settings.SHUTDOWN_TIMEOUT_MS);
    expect(drainMs).toBeGreaterThan(0);
    expect(pod.terminationGracePeriodSeconds! * 1000).toBeGreaterThan(drainMs);
    expect(spec.template.metadata!.annotations!['checksum/config']).toMatch(/^[0-9a-f]{64}$/);
    expect(pod.topologySpreadConstraints).toContainEqual(
      expect.objectContaining({ topologyKey: 'kubernetes.io/hostname', whenUnsatisfiable: 'ScheduleAnyway', maxSkew: 1 }),
    );
    expect(container.resources).toEqual({ requests: { cpu: expect.anything(), memory: expect.anything() }, limits: { cpu: expect.anything(), memory: expect.anything() } });

    expect(pod.securityContext).toMatchObject({ runAsNonRoot: true, runAsUser: 10001, seccompProfile: { type: 'RuntimeDefault' } });
    expect(container.securityContext).toMatchObject({
      runAsNonRoot: true,
      runAsUser: 10001,
      readOnlyRootFilesystem: true,
      allowPrivilegeEscalation: false,
      capabilities: { drop: ['ALL'] },
      seccompProfile: { type: 'RuntimeDefault' },
    });
    const tmp = container.volumeMounts!.find((m) => m.mountPath === '/tmp')!;
    expect(pod.volumes!.find((v) => v.name === tmp.name)?.emptyDir).toBeDefined();
    expect(pod.automountServiceAccountToken).toBe(false);
    expect(one<IServiceAccount>(docs, 'ServiceAccount').automountServiceAccountToken).toBe(false);
    expect(pod.serviceAccountName).toBe(FULLNAME);
  });

  it('runs one pod with the memory store by default: no autoscaler, no PDB, no Secret, no Ingress', () => {
    const docs = rendered.get('defaults')!;
    expect(docs.map((d) => d.kind).sort()).toEqual(['ConfigMap', 'Deployment', 'Pod', 'Service', 'ServiceAccount']);
    expect(deploymentOf(docs).spec!.replicas).toBe(1);
    // 5 s delay + 10 s drain + the 5 s margin (docs/deploy.md#upgrade-and-rollback: "20 s in all with the defaults").
    expect(deploymentOf(docs).spec!.template.spec!.terminationGracePeriodSeconds).toBe(20);
    expect(settingsOf(docs).STORE_DRIVER).toBe('memory');
    expect(containerOf(docs).env).toBeUndefined();
    expect(checksumsOf(docs)).not.toHaveProperty('checksum/secret');
    expect(one<IService>(docs, 'Service').spec).toMatchObject({ type: 'ClusterIP', ports: [{ name: 'http', port: 80, targetPort: 'http' }] });
  });

  it('leaves the replica count to the autoscaler in redis mode, with CPU and memory targets and a slow scale-down', () => {
    const docs = rendered.get('redis + HPA + PDB')!;
    expect(deploymentOf(docs).spec).not.toHaveProperty('replicas');
    const hpa = one<IHorizontalPodAutoscaler>(docs, 'HorizontalPodAutoscaler');
    expect(hpa.apiVersion).toBe('autoscaling/v2');
    expect(hpa.spec).toMatchObject({ scaleTargetRef: { apiVersion: 'apps/v1', kind: 'Deployment', name: FULLNAME }, minReplicas: 3, maxReplicas: 12 });
    expect(hpa.spec!.metrics).toEqual([
      { type: 'Resource', resource: { name: 'cpu', target: { type: 'Utilization', averageUtilization: 65 } } },
      { type: 'Resource', resource: { name: 'memory', target: { type: 'Utilization', averageUtilization: 75 } } },
    ]);
    expect(hpa.spec!.behavior!.scaleDown!.stabilizationWindowSeconds).toBe(600);
    const pdb = one<IPodDisruptionBudget>(docs, 'PodDisruptionBudget');
    expect(pdb.spec).toMatchObject({ maxUnavailable: 1, unhealthyPodEvictionPolicy: 'AlwaysAllow' });
    // 8 s delay + 25 s drain, rounded up, plus the 5 s margin.
    expect(deploymentOf(docs).spec!.template.spec!.terminationGracePeriodSeconds).toBe(38);
  });

  it('keeps Redis passwords and API keys in Secrets and hands each password over in a variable of its own, never in a URL or the ConfigMap', async () => {
    const replicated = rendered.get('redis + HPA + PDB')!;
    expect(JSON.stringify(settingsOf(replicated))).not.toMatch(/REDIS_PASSWORD|admin-0123/);
    expect(settingsOf(replicated).REDIS_URL).toBe('redis://kv-redis-master.data.svc.cluster.local:6379');
    expect(containerOf(replicated).env).toEqual([{ name: 'REDIS_PASSWORD', valueFrom: { secretKeyRef: { name: 'kv-redis', key: 'redis-password' } } }]);
    const secret = one<ISecret>(replicated, 'Secret');
    expect(Object.keys(secret.data!)).toEqual(['api-keys']);
    expect(decode(secret, 'api-keys')).toBe('admin:admin-0123456789abcdef,read:reader-0123456789abcdef');
    expect(settingsOf(replicated).API_KEYS_FILE).toBe('/etc/kv-store/auth/api-keys');
    expect(containerOf(replicated).volumeMounts).toContainEqual({ name: 'api-keys', mountPath: '/etc/kv-store/auth', readOnly: true });
    expect(deploymentOf(replicated).spec!.template.spec!.volumes).toContainEqual({
      name: 'api-keys',
      secret: { secretName: FULLNAME, defaultMode: 0o440, items: [{ key: 'api-keys', path: 'api-keys' }] },
    });
    expect(checksumsOf(replicated)['checksum/secret']).toMatch(/^[0-9a-f]{64}$/);

    const existing = rendered.get('monitoring + NetworkPolicy')!;
    expect(all(existing, 'Secret')).toEqual([]);
    expect(containerOf(existing).env).toEqual([{ name: 'REDIS_PASSWORD', valueFrom: { secretKeyRef: { name: 'kv-redis-auth', key: 'password' } } }]);

    // Passwords a URL would choke on (/, #, @, %, a space) go into the chart's Secret as they are.
    const sentinel = rendered.get('Redis Sentinel')!;
    const own = one<ISecret>(sentinel, 'Secret');
    expect(Object.keys(own.data!).sort()).toEqual(['redis-password', 'redis-sentinel-password']);
    expect(decode(own, 'redis-password')).toBe('p@ss/w#rd:%40');
    expect(decode(own, 'redis-sentinel-password')).toBe('sentinel/pa#ss word');
    expect(containerOf(sentinel).env).toEqual([
      { name: 'REDIS_PASSWORD', valueFrom: { secretKeyRef: { name: FULLNAME, key: 'redis-password' } } },
      { name: 'REDIS_SENTINEL_PASSWORD', valueFrom: { secretKeyRef: { name: FULLNAME, key: 'redis-sentinel-password' } } },
    ]);
    expect(podEnvironment(sentinel)).toMatchObject({ REDIS_USERNAME: 'kv', REDIS_PASSWORD: 'p@ss/w#rd:%40', REDIS_SENTINEL_PASSWORD: 'sentinel/pa#ss word' });
    const cluster = rendered.get('Redis Cluster')!;
    expect(all(cluster, 'Secret')).toEqual([]);
    expect(containerOf(cluster).env).toEqual([{ name: 'REDIS_PASSWORD', valueFrom: { secretKeyRef: { name: 'redis-cluster', key: 'redis-password' } } }]);

    // Whatever the mode: no variable the pod gets holds a URL with credentials, and no password sits in the ConfigMap.
    for (const name of MATRIX_NAMES) {
      const docs = rendered.get(name)!;
      const urls = Object.entries(podEnvironment(docs)).filter(([, value]) => /rediss?:\/\/[^/\s]*@/.test(value));
      expect({ name, urls }).toEqual({ name, urls: [] });
      expect({ name, settings: Object.keys(settingsOf(docs)).filter((key) => /PASSWORD|API_KEYS$/.test(key)) }).toEqual({ name, settings: [] });
    }

    const [password, existingKeys] = await Promise.all([
      template([...REDIS, '--set', 'redis.auth.username=kv', '--set', 'redis.auth.password=s3cret']),
      template(['--set', 'auth.enabled=true', '--set', 'auth.existingSecret=kv-keys', '--set', 'auth.existingSecretKey=keys']),
    ]);
    expect(decode(one<ISecret>(password, 'Secret'), 'redis-password')).toBe('s3cret');
    expect(podEnvironment(password)).toMatchObject({ REDIS_URL: 'redis://redis:6379', REDIS_USERNAME: 'kv', REDIS_PASSWORD: 's3cret' });
    expect(all(existingKeys, 'Secret')).toEqual([]);
    expect(deploymentOf(existingKeys).spec!.template.spec!.volumes).toContainEqual(
      expect.objectContaining({ secret: expect.objectContaining({ secretName: 'kv-keys', items: [{ key: 'keys', path: 'api-keys' }] }) }),
    );
  });

  it('configures each Redis mode with the settings the server reads, one mode at a time', () => {
    const sentinel = settingsOf(rendered.get('Redis Sentinel')!);
    expect(Object.fromEntries(Object.entries(sentinel).filter(([key]) => key.startsWith('REDIS_')))).toEqual({
      REDIS_SENTINELS: 'sentinel-0.redis.data.svc:26379,sentinel-1.redis.data.svc:26379,sentinel-2.redis.data.svc:26379',
      REDIS_SENTINEL_MASTER: 'mymaster',
      REDIS_USERNAME: 'kv',
      REDIS_DB: '2',
      REDIS_TLS: 'true',
      REDIS_MIN_REPLICA_ACKS: '1',
      REDIS_REPLICA_ACK_TIMEOUT_MS: '500',
      REDIS_KEY_PREFIX: 'kv:',
      REDIS_CONNECT_TIMEOUT_MS: '5000',
      REDIS_COMMAND_TIMEOUT_MS: '2000',
    });
    const cluster = settingsOf(rendered.get('Redis Cluster')!);
    expect(Object.fromEntries(Object.entries(cluster).filter(([key]) => key.startsWith('REDIS_')))).toEqual({
      REDIS_CLUSTER_NODES:
        'redis-cluster-0.redis-cluster-headless.data.svc:6379,redis-cluster-1.redis-cluster-headless.data.svc:6379,redis-cluster-2.redis-cluster-headless.data.svc:7000',
      REDIS_TLS: 'false',
      REDIS_MIN_REPLICA_ACKS: '1',
      REDIS_REPLICA_ACK_TIMEOUT_MS: '1000',
      REDIS_KEY_PREFIX: 'kv:',
      REDIS_CONNECT_TIMEOUT_MS: '5000',
      REDIS_COMMAND_TIMEOUT_MS: '2000',
    });
    const standalone = settingsOf(rendered.get('redis + HPA + PDB')!);
    expect(Object.keys(standalone).filter((key) => key.startsWith('REDIS_')).sort()).toEqual([
      'REDIS_COMMAND_TIMEOUT_MS',
      'REDIS_CONNECT_TIMEOUT_MS',
      'REDIS_KEY_PREFIX',
      'REDIS_MIN_REPLICA_ACKS',
      'REDIS_REPLICA_ACK_TIMEOUT_MS',
      'REDIS_URL',
    ]);
    // Exactly one mode's address variable per release.
    const modeVariables = ['REDIS_URL', 'REDIS_SENTINELS', 'REDIS_CLUSTER_NODES'];
    for (const name of MATRIX_NAMES) {
      const docs = rendered.get(name)!;
      const found = modeVariables.filter((key) => key in settingsOf(docs));
      expect({ name, found: found.length }).toEqual({ name, found: settingsOf(docs).STORE_DRIVER === 'redis' ? 1 : 0 });
    }
  });

  it('rejects two Redis modes at once in the values schema, naming the field that conflicts', async () => {
    const sentinel = ['--set', 'redis.sentinel.hosts={s-0:26379}', '--set', 'redis.sentinel.masterName=mymaster'];
    const cluster = ['--set', 'redis.cluster.nodes={c-0:6379}'];
    const [urlAndSentinel, urlAndCluster, sentinelAndCluster] = await Promise.all([
      refused([...REDIS, ...sentinel]),
      refused([...REDIS, ...cluster]),
      refused(['--set', 'store.driver=redis', ...sentinel, ...cluster]),
    ]);
    for (const message of [urlAndSentinel, urlAndCluster, sentinelAndCluster]) expect(message).toContain("values don't meet the specifications of the schema");
    expect(urlAndSentinel).toMatch(/redis[./]sentinel[./]hosts/);
    expect(urlAndCluster).toMatch(/redis[./]cluster[./]nodes/);
    expect(sentinelAndCluster).toMatch(/redis[./]cluster[./]nodes/);
    // One mode alone passes the same schema.
    for (const args of [REDIS, ['--set', 'store.driver=redis', ...sentinel], ['--set', 'store.driver=redis', ...cluster]]) {
      expect((await template(args)).length).toBeGreaterThan(0);
    }
  });

  it('routes the ingress hosts with TLS, and lets watch streams through ingress-nginx unbuffered', async () => {
    const ingress = one<IIngress>(rendered.get('ingress + TLS')!, 'Ingress');
    expect(ingress.apiVersion).toBe('networking.k8s.io/v1');
    expect(ingress.metadata!.annotations).toEqual({
      'cert-manager.io/cluster-issuer': 'letsencrypt',
      'nginx.ingress.kubernetes.io/proxy-buffering': 'off',
      // the values' own annotation wins over the chart's
      'nginx.ingress.kubernetes.io/proxy-read-timeout': '7200',
      'nginx.ingress.kubernetes.io/proxy-send-timeout': '3600',
    });
    const backend = { service: { name: FULLNAME, port: { name: 'http' } } };
    expect(ingress.spec).toEqual({
      ingressClassName: 'nginx',
      tls: [{ secretName: 'kv-example-tls', hosts: ['kv.example.com', 'kv-internal.example.com'] }],
      rules: [
        { host: 'kv.example.com', http: { paths: [{ path: '/', pathType: 'Prefix', backend }] } },
        { host: 'kv-internal.example.com', http: { paths: [{ path: '/', pathType: 'ImplementationSpecific', backend }] } },
      ],
    });
    const plain = one<IIngress>(await template(['--set', 'ingress.enabled=true', '--set', 'ingress.sseAnnotations=false']), 'Ingress');
    expect(plain.metadata).not.toHaveProperty('annotations');
  });

  it('scrapes /metrics of every pod with a ServiceMonitor and fences the pods with a NetworkPolicy', () => {
    const docs = rendered.get('monitoring + NetworkPolicy')!;
    const monitor = one<Manifest>(docs, 'ServiceMonitor');
    expect(monitor.apiVersion).toBe('monitoring.coreos.com/v1');
    expect(monitor.metadata.labels).toMatchObject({ release: 'prometheus' });
    expect(monitor.spec).toEqual({
      selector: { matchLabels: SELECTOR },
      namespaceSelector: { matchNames: [NAMESPACE] },
      endpoints: [{ port: 'http', path: '/metrics', interval: '15s', scrapeTimeout: '5s', honorLabels: false }],
    });
    const policy = one<INetworkPolicy>(docs, 'NetworkPolicy').spec!;
    expect(policy.policyTypes).toEqual(['Ingress', 'Egress']);
    expect(policy.ingress).toEqual([
      {
        ports: [{ port: 'http', protocol: 'TCP' }],
        from: [{ namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': 'ingress-nginx' } } }],
      },
      {
        ports: [{ port: 'http', protocol: 'TCP' }],
        from: [
          { podSelector: { matchLabels: { 'app.kubernetes.io/name': 'kv-store-test', 'app.kubernetes.io/instance': RELEASE } } },
          {
            namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': 'monitoring' } },
            podSelector: { matchLabels: { 'app.kubernetes.io/name': 'prometheus' } },
          },
        ],
      },
    ]);
    expect(policy.egress).toEqual([
      {
        to: [{ namespaceSelector: {}, podSelector: { matchLabels: { 'k8s-app': 'kube-dns' } } }],
        ports: [{ port: 53, protocol: 'UDP' }, { port: 53, protocol: 'TCP' }],
      },
      // The data port, and the URL's.
      { ports: [{ port: 6379, protocol: 'TCP' }, { port: 6380, protocol: 'TCP' }] },
      { to: [{ ipBlock: { cidr: '0.0.0.0/0', except: ['169.254.169.254/32'] } }], ports: [{ port: 443, protocol: 'TCP' }] },
    ]);
    expect(deploymentOf(docs).spec!.replicas).toBe(2);
  });

  it('admits the helm test pod and the Prometheus scraper whenever the NetworkPolicy restricts the HTTP port', async () => {
    const ns = (name: string) => ({ namespace: name, namespaceLabels: { 'kubernetes.io/metadata.name': name } });
    const testPod: Peer = { ...ns(NAMESPACE), labels: testPodOf(rendered.get('defaults')!).metadata!.labels! };
    const prometheus: Peer = { ...ns('monitoring'), labels: { 'app.kubernetes.io/name': 'prometheus', 'app.kubernetes.io/instance': 'kube-prometheus' } };
    const ingressController: Peer = { ...ns('ingress-nginx'), labels: { 'app.kubernetes.io/name': 'ingress-nginx' } };
    const stranger: Peer = { ...ns('other'), labels: { app: 'curl' } };
    const neighbour: Peer = { ...ns(NAMESPACE), labels: { app: 'curl' } };
    const restricted = await template(['--set', 'networkPolicy.enabled=true', '--set', 'networkPolicy.ingress.from[0].namespaceSelector.matchLabels.team=edge']);
    const cases: Array<[string, Manifest[]]> = [
      ['monitoring + NetworkPolicy', rendered.get('monitoring + NetworkPolicy')!],
      ['staging environment', rendered.get('staging environment')!],
      ['production environment', rendered.get('production environment')!],
      ['default scrapers', restricted],
    ];
    for (const [name, docs] of cases) {
      const policy = one<INetworkPolicy>(docs, 'NetworkPolicy');
      const http = { name: 'http', port: Number(settingsOf(docs).PORT) };
      const verdict = (peer: Peer, port = http) => admits(policy, peer, port);
      expect({ name, testPod: verdict(testPod), prometheus: verdict(prometheus) }).toEqual({ name, testPod: true, prometheus: true });
      // Negative controls: the policy still fences everyone else, and only the HTTP port is open.
      expect({ name, stranger: verdict(stranger), neighbour: verdict(neighbour), otherPort: verdict(prometheus, { name: 'debug', port: 9229 }) }).toEqual({
        name,
        stranger: false,
        neighbour: false,
        otherPort: false,
      });
      if (name !== 'default scrapers') expect({ name, ingressController: verdict(ingressController) }).toEqual({ name, ingressController: true });
    }
    // Without `from`, the port is open to every peer, and the policy adds no rule of its own.
    const open = one<INetworkPolicy>(await template(['--set', 'networkPolicy.enabled=true']), 'NetworkPolicy');
    expect(open.spec!.ingress).toEqual([{ ports: [{ port: 'http', protocol: 'TCP' }] }]);
    expect(admits(open, stranger, { name: 'http', port: 8080 })).toBe(true);
  });

  it('opens egress to the Redis ports the values name: the data port, the URL, the sentinels and the Cluster seeds', () => {
    const redisPorts = (name: string) =>
      one<INetworkPolicy>(rendered.get(name)!, 'NetworkPolicy')
        .spec!.egress!.find((rule) => !rule.to)!
        .ports!.map((p) => p.port)
        .sort();
    expect(redisPorts('Redis Sentinel')).toEqual([26379, 6380]);
    expect(redisPorts('Redis Cluster')).toEqual([6379, 7000]);
    expect(redisPorts('monitoring + NetworkPolicy')).toEqual([6379, 6380]);
    expect(redisPorts('production environment')).toEqual([26379, 6379]);
  });

  it('refuses to render without image.repository, and pins the image by digest when given one', async () => {
    const bare = await runHelm(helm, home, ['template', RELEASE, CHART, '--namespace', NAMESPACE]);
    expect({ code: bare.code, stderr: bare.stderr }).toEqual({ code: 1, stderr: expect.stringContaining('image.repository is not set: name the kv-store image built from') });
    // helm lint runs templates leniently: it only logs a `fail` and exits 0, which is why every values file is
    // rendered here as well as linted.
    const lint = await helmRun(['lint', '--strict', CHART]);
    expect({ code: lint.code, output: lint.stdout + lint.stderr }).toEqual({ code: 0, output: expect.stringContaining('image.repository is not set') });
    expect(containerOf(rendered.get('defaults')!).image).toBe(`${IMAGE_REPOSITORY}:0.1.0`);
    const digest = `sha256:${'ab'.repeat(32)}`;
    const pinned = await template(['--set-string', 'image.tag=0123456789abcdef', '--set-string', `image.digest=${digest}`]);
    expect(containerOf(pinned).image).toBe(`${IMAGE_REPOSITORY}@${digest}`);
  });

  it.each(['staging', 'production'])('deploys the %s environment replicated on Redis Sentinel, with secrets from existing Secrets and monitoring on', (env) => {
    const docs = rendered.get(`${env} environment`)!;
    const settings = settingsOf(docs);
    expect(settings).toMatchObject({ STORE_DRIVER: 'redis', REDIS_SENTINEL_MASTER: 'mymaster', REDIS_MIN_REPLICA_ACKS: '1' });
    expect(settings.REDIS_SENTINELS.split(',')).toHaveLength(3);
    // Nothing secret in the file: no Secret of the chart's own, every password and the API keys from existing Secrets.
    expect(all(docs, 'Secret')).toEqual([]);
    expect(containerOf(docs).env!.map((e) => [e.name, e.valueFrom?.secretKeyRef?.name])).toEqual([
      ['REDIS_PASSWORD', 'redis'],
      ['REDIS_SENTINEL_PASSWORD', 'redis'],
    ]);
    expect(deploymentOf(docs).spec!.template.spec!.volumes).toContainEqual(expect.objectContaining({ name: 'api-keys', secret: expect.objectContaining({ secretName: 'kv-store-api-keys' }) }));
    const hpa = one<IHorizontalPodAutoscaler>(docs, 'HorizontalPodAutoscaler');
    expect(hpa.spec!.minReplicas).toBeGreaterThanOrEqual(env === 'production' ? 3 : 2);
    expect(evictableAtFloor(one<IPodDisruptionBudget>(docs, 'PodDisruptionBudget'), hpa.spec!.minReplicas!)).toBeGreaterThanOrEqual(1);
    expect(one<IIngress>(docs, 'Ingress').spec!.tls).toHaveLength(1);
    expect(containerOf(docs).resources).toEqual({ requests: { cpu: expect.any(String), memory: expect.any(String) }, limits: { cpu: expect.any(String), memory: expect.any(String) } });
    expect(docs.map((d) => d.kind)).toEqual(expect.arrayContaining(['ServiceMonitor', 'PrometheusRule', 'NetworkPolicy']));
    expect(all<IConfigMap>(docs, 'ConfigMap').map((c) => c.metadata!.name).sort()).toEqual([FULLNAME, `${FULLNAME}-dashboard`]);
    expect(checksumsOf(docs)).not.toHaveProperty('checksum/secret');
  });

  it('scales production above staging', () => {
    const floor = (env: string) => one<IHorizontalPodAutoscaler>(rendered.get(`${env} environment`)!, 'HorizontalPodAutoscaler').spec!;
    expect(floor('production').minReplicas!).toBeGreaterThan(floor('staging').minReplicas!);
    expect(floor('production').maxReplicas).toBeGreaterThan(floor('staging').maxReplicas);
  });

  it("renders a PrometheusRule whose every alert has a summary, a description and a link into the runbook in docs/operations.md", async () => {
    const rule = one<Manifest>(rendered.get('monitoring + NetworkPolicy')!, 'PrometheusRule');
    expect(rule.metadata.labels).toMatchObject({ release: 'prometheus' });
    const { groups } = rule.spec as { groups: Array<{ name: string; rules: Array<Record<string, any>> }> };
    const alerts = groups.flatMap((g) => g.rules);
    expect(alerts.map((a) => a.alert)).toEqual([
      'KvStoreInstanceDown',
      'KvStoreInstanceNotReady',
      'KvStoreHighErrorRatio',
      'KvStoreHighLatency',
      'KvStoreStoreUnavailable',
      'KvStoreWebhookDeadLetters',
      'KvStoreKeyspaceChanged',
      'KvStoreWatchOverflows',
      'KvStoreMemoryNearLimit',
    ]);
    for (const alert of alerts) {
      expect({ alert: alert.alert, labels: alert.labels }).toEqual({ alert: alert.alert, labels: { severity: expect.stringMatching(/^(critical|warning)$/), team: 'platform' } });
      expect(alert.annotations).toEqual({
        summary: expect.any(String),
        description: expect.any(String),
        runbook_url: `https://git.example.com/platform/kv-store/-/blob/main/docs/operations.md#${alert.alert.toLowerCase()}`,
      });
    }
    // The release's own series only (the ServiceMonitor's job and namespace), except kube-state-metrics' pod readiness.
    for (const alert of alerts.filter((a) => a.alert !== 'KvStoreInstanceNotReady')) expect(alert.expr).toContain(SERIES);
    // The memory alert compares with the container's limit: 1536Mi by default, nothing to compare without one.
    expect(alerts.find((a) => a.alert === 'KvStoreMemoryNearLimit')!.expr).toContain('/ 1610612736 > 0.9');
    const withRule = ['--set', 'prometheusRule.enabled=true', '--set', 'prometheusRule.runbookUrl=https://x.example/docs/operations.md'];
    const [gibi, decimal, unlimited] = await Promise.all([
      template([...withRule, '--set', 'resources.limits.memory=1.5Gi']),
      template([...withRule, '--set', 'resources.limits.memory=2G', '--set-json', 'prometheusRule.thresholds.memoryLimitRatio=0.8']),
      template([...withRule, '--set', 'resources.limits.memory=null']),
    ]);
    const memoryExpr = (docs: Manifest[]) => (one<Manifest>(docs, 'PrometheusRule').spec as typeof rule.spec & { groups: typeof groups }).groups[0].rules.find((a) => a.alert === 'KvStoreMemoryNearLimit')?.expr;
    expect(memoryExpr(gibi)).toContain('/ 1610612736 > 0.9');
    expect(memoryExpr(decimal)).toContain('/ 2000000000 > 0.8');
    expect(memoryExpr(unlimited)).toBeUndefined();
  });

  it("ships the dashboard JSON in a ConfigMap labelled for Grafana's sidecar", async () => {
    const docs = rendered.get('monitoring + NetworkPolicy')!;
    const dashboard = all<IConfigMap>(docs, 'ConfigMap').find((c) => c.metadata!.name === `${FULLNAME}-dashboard`)!;
    expect(dashboard.metadata).toMatchObject({ namespace: 'monitoring', labels: { grafana_dashboard: '1' }, annotations: { grafana_folder: 'kv-store' } });
    expect(JSON.parse(dashboard.data!['kv-store.json'])).toEqual(JSON.parse(readFileSync(join(CHART, 'files', 'grafana-dashboard.json'), 'utf8')));
    const off = await template([]);
    expect(all<IConfigMap>(off, 'ConfigMap').map((c) => c.metadata!.name)).toEqual([FULLNAME]);
  });

  it('rolls the pods when a setting or a secret changes, and only then', async () => {
    const [again, otherSetting, secretA, secretB] = await Promise.all([
      // a fresh render that names a default explicitly: same pod template, so no needless rollout
      template(['--set', 'config.logLevel=info']),
      template(['--set', 'config.logLevel=debug']),
      template([...REDIS, '--set', 'redis.auth.password=first']),
      template([...REDIS, '--set', 'redis.auth.password=second']),
    ]);
    const defaults = checksumsOf(rendered.get('defaults')!);
    expect(checksumsOf(again)).toEqual(defaults);
    expect(checksumsOf(otherSetting)['checksum/config']).not.toBe(defaults['checksum/config']);
    expect(checksumsOf(secretA)['checksum/config']).toBe(checksumsOf(secretB)['checksum/config']);
    expect(checksumsOf(secretA)['checksum/secret']).toMatch(/^[0-9a-f]{64}$/);
    expect(checksumsOf(secretA)['checksum/secret']).not.toBe(checksumsOf(secretB)['checksum/secret']);
  });

  it('renders a PodDisruptionBudget only when the replica floor can meet it, and never one that blocks drains', async () => {
    const cases: Array<[string[], number | null]> = [
      [['--set', 'replicaCount=1'], null],
      [['--set', 'replicaCount=2', '--set', 'podDisruptionBudget.minAvailable=1'], 2],
      [['--set', 'replicaCount=4', '--set-string', 'podDisruptionBudget.minAvailable=75%'], 4],
      [['--set', 'replicaCount=3', '--set-string', 'podDisruptionBudget.maxUnavailable=50%'], 3],
      [['--set', 'replicaCount=3', '--set', 'podDisruptionBudget.enabled=false'], null],
      [['--set', 'autoscaling.enabled=true', '--set', 'autoscaling.minReplicas=1'], null],
    ];
    const renders = await Promise.all(cases.map(([args]) => template([...REDIS, ...args])));
    renders.forEach((docs, index) => {
      const [args, floor] = cases[index];
      const pdbs = all<IPodDisruptionBudget>(docs, 'PodDisruptionBudget');
      expect({ args, pdbs: pdbs.length }).toEqual({ args, pdbs: floor === null ? 0 : 1 });
      if (floor !== null) {
        expect({ args, evictable: evictableAtFloor(pdbs[0], floor) >= 1 }).toEqual({ args, evictable: true });
        expect(pdbs[0].spec!.unhealthyPodEvictionPolicy).toBe('AlwaysAllow');
      }
    });
    expect(one<IPodDisruptionBudget>(renders[1], 'PodDisruptionBudget').spec).not.toHaveProperty('maxUnavailable');

    const [all2, percent, hpa] = await Promise.all([
      refused([...REDIS, '--set', 'replicaCount=2', '--set', 'podDisruptionBudget.minAvailable=2']),
      refused([...REDIS, '--set', 'replicaCount=4', '--set-string', 'podDisruptionBudget.minAvailable=80%']),
      refused([...REDIS, '--set', 'autoscaling.enabled=true', '--set', 'autoscaling.minReplicas=3', '--set', 'podDisruptionBudget.minAvailable=3']),
    ]);
    expect(all2).toContain('podDisruptionBudget.minAvailable=2 keeps 2 of the 2 guaranteed pods up, so no pod could ever be evicted and node drains would hang');
    expect(percent).toContain('podDisruptionBudget.minAvailable=80% keeps 4 of the 4 guaranteed pods up');
    expect(hpa).toContain('keeps 3 of the 3 guaranteed pods up');
  });

  it('refuses memory-mode replicas and autoscaling, explaining why and pointing to store.driver: redis', async () => {
    const [replicas, autoscaled] = await Promise.all([
      refused(['--set', 'replicaCount=3']),
      refused(['--set', 'autoscaling.enabled=true']),
    ]);
    expect(replicas).toContain('store.driver=memory cannot run replicaCount=3: each of the 3 pods would hold its own, different keyspace');
    expect(autoscaled).toContain('store.driver=memory cannot be autoscaled: every replica the HorizontalPodAutoscaler adds would hold its own, different keyspace');
    for (const message of [replicas, autoscaled]) {
      expect(message).toContain('the known issue of the services kv-store replaces');
      expect(message).toContain('Set store.driver=redis (with redis.url, redis.sentinel.hosts or redis.cluster.nodes)');
    }
  });

  it('refuses incomplete or contradictory settings with a message naming what to set', async () => {
    const cases: Array<[string[], string]> = [
      [['--set', 'store.driver=redis'], 'store.driver=redis needs a Redis to connect to: set redis.url'],
      [['--set', 'store.driver=redis', '--set', 'redis.auth.password=p'], 'store.driver=redis needs a Redis to connect to'],
      [['--set', 'store.driver=redis', '--set', 'redis.url=redis://:p@r:6379'], 'redis.url carries credentials (user@ or :password@)'],
      [['--set', 'store.driver=redis', '--set', 'redis.url=rediss://kv@r:6379'], 'never put into a URL'],
      [[...REDIS, '--set', 'redis.auth.password=p', '--set', 'redis.auth.existingSecret=x'], 'redis.auth.password and redis.auth.existingSecret are both set'],
      [['--set', 'store.driver=redis', '--set', 'redis.sentinel.hosts={s:26379}'], 'redis.sentinel.hosts needs redis.sentinel.masterName'],
      [[...REDIS, '--set', 'redis.sentinel.masterName=m'], 'redis.sentinel.masterName is set without redis.sentinel.hosts'],
      [[...REDIS, '--set', 'redis.sentinel.auth.password=p'], 'redis.sentinel.auth is set without redis.sentinel.hosts'],
      [['--set', 'store.driver=redis', '--set', 'redis.cluster.nodes={c:6379}', '--set', 'redis.db=1'], 'redis.db cannot be used with redis.cluster.nodes'],
      [[...REDIS, '--set', 'redis.tls=true'], 'use a rediss:// redis.url'],
      [['--set', 'prometheusRule.enabled=true'], 'prometheusRule.enabled needs prometheusRule.runbookUrl'],
      [[...REDIS, '--set', 'store.memory.snapshot.enabled=true'], 'store.memory.snapshot only applies to store.driver=memory'],
      [[...REDIS, '--set', 'autoscaling.enabled=true', '--set', 'autoscaling.minReplicas=5', '--set', 'autoscaling.maxReplicas=4'], 'autoscaling.minReplicas (5) is above autoscaling.maxReplicas (4)'],
      [[...REDIS, '--set', 'autoscaling.enabled=true', '--set', 'autoscaling.targetCPUUtilizationPercentage=null', '--set', 'autoscaling.targetMemoryUtilizationPercentage=null'], 'autoscaling is enabled without a metric'],
      [['--set', 'auth.enabled=true'], 'auth.enabled needs API keys'],
      [['--set-string', 'config.extraEnv.PORT=9000'], 'config.extraEnv.PORT: the chart sets PORT itself'],
      [['--set', 'config.healthStoreTimeoutMs=3000'], 'probes.readiness.timeoutSeconds (3 s) must be above config.healthStoreTimeoutMs (3000 ms)'],
    ];
    const messages = await Promise.all(cases.map(([args]) => refused(args)));
    messages.forEach((message, index) => expect(message).toContain(cases[index][1]));
  });

  it('rejects a misspelt key at any depth, a wrong type and a value outside its enum (strict values schema)', async () => {
    const [topLevel, nested, type, driver] = await Promise.all([
      refused(['--set', 'imag.tag=1.0.0']),
      refused(['--set', 'ingress.enabeld=true']),
      refused(['--set-string', 'service.port=http']),
      refused(['--set', 'store.driver=etcd']),
    ]);
    expect(topLevel).toMatch(/additional propert(y|ies) '?imag'? (is )?not allowed/i);
    expect(nested).toMatch(/ingress[\s\S]*additional propert(y|ies) '?enabeld'? (is )?not allowed/i);
    expect(type).toMatch(/service.port[\s\S]*(Expected: integer, given: string|got string, want integer)/);
    expect(driver).toMatch(/store.driver.*must be one of.*memory.*redis/);
  });

  it('snapshots the memory store to a volume with one pod and the Recreate strategy', async () => {
    const [created, existing] = await Promise.all([
      template(['--set', 'store.memory.snapshot.enabled=true']),
      template(['--set', 'store.memory.snapshot.enabled=true', '--set', 'store.memory.snapshot.persistence.existingClaim=kv-data']),
    ]);
    for (const docs of [created, existing]) {
      expect(docs.flatMap(manifestProblems)).toEqual([]);
      // The new pod may only start from the snapshot the old one wrote on its way out.
      expect(deploymentOf(docs).spec!.strategy).toEqual({ type: 'Recreate' });
      expect(settingsOf(docs)).toMatchObject({ SNAPSHOT_FILE: '/data/kv.snapshot', SNAPSHOT_INTERVAL_MS: '30000', SNAPSHOT_ON_CORRUPT: 'fail' });
      expect(containerOf(docs).volumeMounts).toContainEqual({ name: 'snapshot', mountPath: '/data' });
    }
    const claim = one<IPersistentVolumeClaim>(created, 'PersistentVolumeClaim');
    expect(claim.metadata).toMatchObject({ name: `${FULLNAME}-snapshot`, annotations: { 'helm.sh/resource-policy': 'keep' } });
    expect(claim.spec).toEqual({ accessModes: ['ReadWriteOnce'], resources: { requests: { storage: '1Gi' } } });
    expect(deploymentOf(created).spec!.template.spec!.volumes).toContainEqual({ name: 'snapshot', persistentVolumeClaim: { claimName: claim.metadata!.name } });
    expect(all(existing, 'PersistentVolumeClaim')).toEqual([]);
    expect(deploymentOf(existing).spec!.template.spec!.volumes).toContainEqual({ name: 'snapshot', persistentVolumeClaim: { claimName: 'kv-data' } });
  });

  it('ships a `helm test` hook pod that runs non-root under the same security context', async () => {
    const docs = rendered.get('defaults')!;
    const pod = testPodOf(docs);
    const container = pod.spec!.containers[0];
    // `helm test --logs` needs the pod after it passed, so only the next run replaces it.
    expect(pod.metadata!.annotations).toEqual({ 'helm.sh/hook': 'test', 'helm.sh/hook-delete-policy': 'before-hook-creation' });
    expect(pod.spec!.restartPolicy).toBe('Never');
    expect(pod.spec!.securityContext).toEqual(deploymentOf(docs).spec!.template.spec!.securityContext);
    expect(container.securityContext).toEqual(containerOf(docs).securityContext);
    expect(container.image).toBe('curlimages/curl:8.11.1');
    expect(container.env).toContainEqual({ name: 'BASE_URL', value: `http://${FULLNAME}.${NAMESPACE}.svc:80` });
    const custom = testPodOf(await template(['--set', 'tests.image.repository=registry.internal/curl', '--set', 'tests.image.tag=8.12.0']));
    expect(custom.spec!.containers[0].image).toBe('registry.internal/curl:8.12.0');
  });

  it('packages into a chart archive', async () => {
    const destination = join(home, `package-${helm.version}`);
    const result = await helmRun(['package', CHART, '--destination', destination]);
    expect({ code: result.code, stderr: result.stderr }).toEqual({ code: 0, stderr: '' });
    expect(existsSync(join(destination, 'kv-store-0.1.0.tgz'))).toBe(true);
  });
});

/** Runs the `helm test` pod's script on this machine against `baseUrl`, with `files` in place of its mounts. */
function runTestScript(docs: Manifest[], baseUrl: string, files: Record<string, string> = {}): Promise<{ code: number; output: string }> {
  const container = testPodOf(docs).spec!.containers[0];
  const [shell, flags, script] = container.command!;
  const env: Record<string, string> = { PATH: process.env.PATH ?? '' };
  for (const variable of container.env!) env[variable.name] = files[variable.value!] ?? variable.value!;
  env.BASE_URL = baseUrl;
  return new Promise((resolve) => {
    execFile(shell, [flags, script], { env, timeout: 30_000 }, (error, stdout, stderr) =>
      resolve({ code: error ? (typeof error.code === 'number' ? error.code : 1) : 0, output: stdout + stderr }),
    );
  });
}

describe('the Helm chart and the server it deploys', () => {
  const helm3 = HELMS.find((h) => h.major === 3)!;
  const helm4 = HELMS.find((h) => h.major === 4)!;
  const rendered = new Map<string, Manifest[]>();
  let app: TestApp | undefined;
  const servers: Server[] = [];
  const listen = async (handler: RequestListener): Promise<string> => {
    const server = createServer(handler);
    servers.push(server);
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  };

  beforeAll(async () => {
    await Promise.all(MATRIX_NAMES.map(async (name) => rendered.set(name, await renderMatrix(helm3, name))));
  });
  afterAll(async () => {
    await app?.close();
    await Promise.all(servers.map((server) => new Promise((resolve) => server.close(resolve))));
  });

  it.each(MATRIX_NAMES)('renders the same objects with Helm 3 and Helm 4: %s', async (name) => {
    expect(await renderMatrix(helm4, name)).toEqual(rendered.get(name));
  });

  it('documents every key of values.yaml with a comment above it', () => {
    const doc = parseDocument(readFileSync(join(CHART, 'values.yaml'), 'utf8'));
    const undocumented: string[] = [];
    const visit = (node: unknown, path: string): void => {
      if (!isMap(node)) return;
      node.items.forEach((pair, index) => {
        const key = isScalar(pair.key) ? String(pair.key.value) : '?';
        // The yaml parser hangs the comment above a map's first key on the map itself.
        const comment = (pair.key as YamlNode).commentBefore ?? (index === 0 ? (node as YamlNode).commentBefore : undefined);
        if (!comment?.includes('-- ')) undocumented.push(`${path}${key}`);
        visit(pair.value, `${path}${key}.`);
      });
    };
    visit(doc.contents, '');
    expect(undocumented).toEqual([]);
  });

  it('has a values schema that forbids unknown keys in every object it describes', () => {
    const schema = JSON.parse(readFileSync(join(CHART, 'values.schema.json'), 'utf8')) as Record<string, unknown>;
    const open: string[] = [];
    const freeForm: string[] = [];
    const visit = (node: unknown, path: string): void => {
      if (node === null || typeof node !== 'object') return;
      const schemaNode = node as Record<string, unknown>;
      const types = ([] as unknown[]).concat(schemaNode.type);
      if (types.includes('object')) {
        if (schemaNode.properties && schemaNode.additionalProperties !== false) open.push(path);
        if (!schemaNode.properties && schemaNode.additionalProperties === undefined) freeForm.push(path);
      }
      for (const [key, child] of Object.entries(schemaNode)) visit(child, `${path}/${key}`);
    };
    visit(schema, '');
    expect(open).toEqual([]);
    // Objects whose inside is Kubernetes' or Prometheus' to define, listed so that a new one is a decision.
    expect(freeForm.sort()).toEqual([
      '/definitions/resources/properties/claims/items',
      '/properties/affinity/properties/nodeAffinity',
      '/properties/affinity/properties/podAffinity',
      '/properties/affinity/properties/podAntiAffinity',
      '/properties/global',
      '/properties/serviceMonitor/properties/metricRelabelings/items',
      '/properties/serviceMonitor/properties/relabelings/items',
    ]);
  });

  it("fits every configuration it renders (its defaults, both environments, every fixture) in the pod's memory limit", () => {
    for (const name of MATRIX_NAMES) {
      const settings = validateEnvironment(podEnvironment(rendered.get(name)!));
      const limit = quantityBytes(String(containerOf(rendered.get(name)!).resources!.limits!.memory));
      const { total } = memoryBudget(settings);
      expect({ name, fits: total <= limit, total, limit }).toEqual({ name, fits: true, total, limit });
    }
  });

  it('configures the server with its own defaults, and every matrix entry with settings it accepts', () => {
    // Settings the default release leaves to the server: Redis's and the snapshot's (memory mode without
    // snapshots), the derived body limit, and the API keys (a mounted file when enabled, never the env).
    const leftToTheServer = /^(REDIS_\w+|SNAPSHOT_\w+|KV_MAX_BODY_BYTES|API_KEYS(_FILE)?)$/;
    const defaults = Object.fromEntries(
      Object.entries(new EnvironmentVariables())
        .filter(([name, value]) => value !== undefined && !leftToTheServer.test(name))
        .map(([name, value]) => [name, String(value)]),
    );
    // A setting added to the server but not to the chart fails here: give it a key under `config`. The chart's
    // own values differ only where its memory budget needs them smaller (checked in the next test).
    expect(settingsOf(rendered.get('defaults')!)).toEqual({ ...defaults, ...CHART_BUDGET });
    for (const name of MATRIX_NAMES) {
      const env = podEnvironment(rendered.get(name)!);
      expect(() => validateEnvironment(env)).not.toThrow();
    }
    const replicated = podEnvironment(rendered.get('redis + HPA + PDB')!);
    expect(replicated.REDIS_PASSWORD).toBe('from-secret-kv-redis');
    expect(validateEnvironment(replicated)).toMatchObject({
      STORE_DRIVER: 'redis',
      REDIS_URL: 'redis://kv-redis-master.data.svc.cluster.local:6379',
      REDIS_KEY_PREFIX: 'kv-prod:',
      SHUTDOWN_DELAY_MS: 8000,
      SHUTDOWN_TIMEOUT_MS: 25000,
    });
  });

  it("passes the helm test pod's checks against the real server configured by the chart's ConfigMap", async () => {
    const docs = rendered.get('defaults')!;
    const { HOST: _host, PORT: _port, ...settings } = settingsOf(docs);
    app = await startTestApp({ ...settings, LOG_LEVEL: 'silent' });
    const passed = await runTestScript(docs, app.url);
    expect(passed).toEqual({ code: 0, output: expect.stringMatching(/set helm-test:demo:1\n[\s\S]*\nok\n$/) });
    const key = encodeURIComponent('helm-test:demo:1');
    expect((await fetch(`${app.url}/get/${key}`)).status).toBe(404);

    // Negative control: a server that answers 200 to everything must not pass.
    const impostor = await listen((_req, res) => res.writeHead(200, { 'Content-Type': 'application/json' }).end('{"status":"ok"}'));
    const failed = await runTestScript(docs, impostor);
    expect(failed).toEqual({ code: 1, output: expect.stringContaining('FAIL: GET /get answered {"status":"ok"}') });
  });

  it('with API keys, the helm test pod picks a key that may write from the mounted keys file and sends it', async () => {
    const docs = rendered.get('redis + HPA + PDB')!;
    const keysFile = join(home, 'api-keys');
    writeFileSync(keysFile, decode(one<ISecret>(docs, 'Secret'), 'api-keys'));
    app ??= await startTestApp();
    // Stands in for the server's API key check (probes stay open), forwarding to the real server.
    const seen: Array<string | undefined> = [];
    const gate = await listen((req, res) => {
      if (!req.url!.startsWith('/health/')) {
        seen.push(req.headers.authorization);
        if (req.headers.authorization !== 'Bearer admin-0123456789abcdef') return void res.writeHead(401).end();
      }
      const upstream = httpRequest(`${app!.url}${req.url}`, { method: req.method, headers: req.headers }, (answer) => {
        res.writeHead(answer.statusCode!, answer.headers);
        answer.pipe(res);
      });
      req.pipe(upstream);
    });
    const result = await runTestScript(docs, gate, { '/etc/kv-store/auth/api-keys': keysFile });
    expect(result).toEqual({ code: 0, output: expect.stringMatching(/\nok\n$/) });
    expect(seen).toEqual(Array(4).fill('Bearer admin-0123456789abcdef'));
  });

  it('tells in NOTES how to reach the service and its docs, and what the store mode means', async () => {
    const notes = async (args: string[]): Promise<string> => {
      const result = await runHelm(helm4, home, ['install', RELEASE, CHART, '--namespace', NAMESPACE, '--dry-run=client', ...IMAGE, ...args]);
      expect(result.stderr).toBe('');
      return result.stdout.slice(result.stdout.indexOf('NOTES:'));
    };
    const [memory, replicated, ingress] = await Promise.all([
      notes([]),
      notes(valuesArgs([fixture('redis-hpa-pdb.yaml')])),
      notes(valuesArgs([fixture('ingress-tls.yaml')])),
    ]);
    expect(memory).toContain(`kubectl --namespace ${NAMESPACE} port-forward service/${FULLNAME} 8080:80`);
    expect(memory).toContain('API docs at http://127.0.0.1:8080/docs');
    expect(memory).toContain('Store: memory');
    expect(memory).toContain('It is lost whenever the pod restarts, is rescheduled or is upgraded.');
    expect(replicated).toContain('Store: redis');
    expect(replicated).toContain('Every replica serves one shared keyspace kept in Redis');
    expect(replicated).toContain('Replicas: 3 to 12 (HorizontalPodAutoscaler).');
    expect(ingress).toContain('https://kv.example.com/');
    expect(ingress).toContain('API docs (Swagger UI): https://kv.example.com/docs');
    for (const text of [memory, replicated, ingress]) expect(text).toContain(`helm test ${RELEASE} --namespace ${NAMESPACE}`);
  });
});
