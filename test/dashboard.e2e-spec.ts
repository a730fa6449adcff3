import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CHART } from './helpers/helm';
import { type PrometheusServer, startPrometheus } from './helpers/prometheus';
import { openSse, type SseClient } from './helpers/sse-client';
import { startTestApp, type TestApp } from './helpers/test-app';
import { until } from './helpers/until';
import { startWebhookReceiver, type WebhookReceiver } from './helpers/webhook-receiver';

/*
 * The Grafana dashboard the chart ships (helm/kv-store/files/grafana-dashboard.json), proven against a real
 * Prometheus (Debian's package) on a free 127.0.0.1 port scraping a running kv-store every second under light
 * mixed traffic: reads, writes, misses, bad requests, searches, deletes, a watch stream and two webhook
 * subscriptions (one receiver answers 200, the other 500 until its events are dead-lettered). Then every panel's
 * query runs through Prometheus's HTTP API and must return data, so a renamed metric or label fails here.
 */

jest.setTimeout(120_000);

const DASHBOARD = join(CHART, 'files', 'grafana-dashboard.json');
/** The labels a ServiceMonitor gives the targets of release "demo" in namespace "kv-test". */
const JOB = 'demo-kv-store';
const NAMESPACE = 'kv-test';
/** Light traffic: one round of mixed requests every TICK_MS for TRAFFIC_MS. */
const TRAFFIC_MS = 8_000;
const TICK_MS = 50;
/** What Grafana would put in $__rate_interval for a 1 s scrape, widened to cover the traffic just sent. */
const RATE_INTERVAL = '30s';

interface Target {
  expr: string;
  refId: string;
}
interface Panel {
  type: string;
  title: string;
  targets?: Target[];
  panels?: Panel[];
}
interface Variable {
  name: string;
  type: string;
  query?: { query: string } | string;
  allValue?: string;
}
interface Dashboard {
  uid: string;
  panels: Panel[];
  templating: { list: Variable[] };
}

const dashboard = JSON.parse(readFileSync(DASHBOARD, 'utf8')) as Dashboard;
/** Every panel with queries, rows' nested panels included. */
const queryPanels = (panels: Panel[]): Panel[] => panels.flatMap((p) => [...(p.targets?.length ? [p] : []), ...queryPanels(p.panels ?? [])]);
/** A panel query as Grafana sends it for this release: the variables filled in. */
const resolve = (expr: string): string =>
  expr
    .replaceAll('$__rate_interval', RATE_INTERVAL)
    .replaceAll('$namespace', NAMESPACE)
    .replaceAll('$job', JOB)
    .replaceAll('$instance', dashboard.templating.list.find((v) => v.name === 'instance')!.allValue!);

describe('the Grafana dashboard against a real Prometheus scraping kv-store (e2e)', () => {
  let dir: string;
  let app: TestApp;
  let prometheus: PrometheusServer;
  let healthy: WebhookReceiver;
  let failing: WebhookReceiver;
  let watch: SseClient;
  let requestsSent = 0;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'kv-dashboard-'));
    healthy = await startWebhookReceiver();
    failing = await startWebhookReceiver();
    failing.reply = () => ({ status: 500 });
    app = await startTestApp({
      WEBHOOK_ALLOWED_HOSTS: '127.0.0.1',
      WEBHOOK_MAX_ATTEMPTS: '2',
      WEBHOOK_RETRY_BASE_MS: '20',
      WEBHOOK_RETRY_MAX_MS: '40',
      WEBHOOK_TIMEOUT_MS: '500',
    });
    const target = new URL(app.url).host;
    const config = join(dir, 'prometheus.yml');
    writeFileSync(
      config,
      [
        'global:',
        '  scrape_interval: 1s',
        '  scrape_timeout: 1s',
        'scrape_configs:',
        `  - job_name: ${JOB}`,
        '    static_configs:',
        `      - targets: ["${target}"]`,
        '        labels:',
        `          namespace: ${NAMESPACE}`,
        '',
      ].join('\n'),
    );
    prometheus = await startPrometheus(config, join(dir, 'data'));

    const post = (path: string, body: unknown) =>
      fetch(`${app.url}${path}`, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify(body) });
    for (const receiver of [healthy, failing]) expect((await post('/subscriptions', { url: receiver.url, prefix: 'dash:' })).status).toBe(201);
    watch = await openSse(`${app.url}/watch?prefix=dash:`);

    // Light mixed traffic, bounded in time and count.
    const stopAt = Date.now() + TRAFFIC_MS;
    for (let round = 0; Date.now() < stopAt && round < 1000; round++) {
      const key = `dash:${round % 50}`;
      const answers = await Promise.all([
        post('/set', { [key]: { round }, [`dash:other:${round % 7}`]: round }),
        fetch(`${app.url}/get/${encodeURIComponent(key)}`),
        fetch(`${app.url}/get/dash%3Amissing`),
        fetch(`${app.url}/search?prefix=dash:&limit=10`),
        fetch(`${app.url}/keys?prefix=dash:other&limit=5`),
        round % 5 === 0 ? fetch(`${app.url}/keys/${encodeURIComponent(key)}`, { method: 'DELETE' }) : Promise.resolve(undefined),
        round % 10 === 0 ? fetch(`${app.url}/set`, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: '{"broken' }) : Promise.resolve(undefined),
      ]);
      for (const answer of answers) if (answer) await answer.arrayBuffer();
      requestsSent += answers.filter(Boolean).length;
      await new Promise((r) => setTimeout(r, TICK_MS));
    }
    await failing.waitFor((received) => received.length >= 4, 10_000);
  });

  afterAll(async () => {
    watch?.close();
    await app?.close();
    await prometheus?.stop();
    await Promise.all([healthy?.close(), failing?.close()]);
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('sent the traffic it claims, with both webhook receivers and the watch stream in use', () => {
    expect(requestsSent).toBeGreaterThan(200);
    expect(healthy.received.length).toBeGreaterThan(0);
    expect(failing.received.length).toBeGreaterThanOrEqual(4);
    expect(watch.status).toBe(200);
  });

  it('returns data for every query of every panel', async () => {
    const panels = queryPanels(dashboard.panels);
    expect(panels.length).toBeGreaterThanOrEqual(15);
    const queries = panels.flatMap((panel) => panel.targets!.map((target) => ({ panel: panel.title, refId: target.refId, expr: resolve(target.expr) })));
    for (const { expr } of queries) expect(expr).not.toMatch(/\$/);
    // Scrapes come every second; give the last ones a moment to land, then ask until all answer (bounded).
    let empty: Array<{ panel: string; refId: string; expr: string }> = queries;
    await until(async () => {
      const results = await Promise.all(queries.map(async (q) => ({ q, rows: await prometheus.query(q.expr) })));
      empty = results.filter(({ rows }) => rows.length === 0).map(({ q }) => q);
      return empty.length === 0;
    }, 30_000, 1_000);
    expect(empty).toEqual([]);
  });

  it('fills the template variables from the metrics (label_values over kv_build_info)', async () => {
    const values = async (label: string, match: string): Promise<string[]> => {
      const res = await fetch(`${prometheus.url}/api/v1/label/${label}/values?${new URLSearchParams({ 'match[]': match })}`);
      return ((await res.json()) as { data: string[] }).data;
    };
    const variables = dashboard.templating.list.filter((v) => v.type === 'query');
    expect(variables.map((v) => v.name)).toEqual(['namespace', 'job', 'instance']);
    for (const variable of variables) {
      const query = typeof variable.query === 'string' ? variable.query : variable.query!.query;
      const [, match, label] = /^label_values\((.+), (\w+)\)$/.exec(query)!;
      expect({ variable: variable.name, values: await values(label, resolve(match)) }).toEqual({ variable: variable.name, values: [expect.any(String)] });
    }
    expect(await values('job', 'kv_build_info')).toEqual([JOB]);
  });

  it('shows the build, the store and its keyspace as the server reports them', async () => {
    const [build] = await prometheus.query(resolve('count by (version, revision, node) (kv_build_info{namespace="$namespace", job="$job"})'));
    expect(build.metric).toEqual({ version: expect.stringMatching(/^\d+\.\d+\.\d+/), revision: 'unknown', node: process.version });
    const [store] = await prometheus.query(resolve('min(kv_store_up{namespace="$namespace", job="$job"})'));
    expect(store.value[1]).toBe('1');
    const keyspaces = await prometheus.query(resolve('kv_keyspace_info{namespace="$namespace", job="$job"}'));
    expect(keyspaces.map((k) => [k.metric.keyspace, k.value[1]])).toEqual([[expect.stringMatching(/^[0-9a-f]{12}$/), '1']]);
    // Every reason is a series from the start (so the first change is an increase), and none happened here.
    const changes = await prometheus.query(resolve('kv_keyspace_changes_total{namespace="$namespace", job="$job"}'));
    expect(changes.map((c) => [c.metric.reason, c.value[1]]).sort()).toEqual([
      ['data_lost', '0'],
      ['regressed', '0'],
      ['snapshot_discarded', '0'],
      ['unclean_restart', '0'],
    ]);
  });

  it('finds no data for a metric that does not exist (the check can fail)', async () => {
    const renamed = resolve('sum by (route) (rate(http_requests_totals{namespace="$namespace", job="$job"}[$__rate_interval]))');
    expect(await prometheus.query(renamed)).toEqual([]);
    const otherRelease = resolve('sum by (route) (rate(http_requests_total{namespace="$namespace", job="other"}[$__rate_interval]))');
    expect(await prometheus.query(otherRelease)).toEqual([]);
  });
});
