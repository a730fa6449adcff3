import autocannon from 'autocannon';
import request from 'supertest';
import { DRIVERS, useDriver } from './helpers/drivers';
import { until } from './helpers/until';
import { killIfRunning, type ServerProcess, startServerProcess } from './helpers/server-process';
import { type ServiceProxy, startServiceProxy } from './helpers/service-proxy';

/**
 * The zero-downtime proof: three instances of the built server behind a Service-like proxy, continuous
 * mixed load from 50 connections, and a full rolling replacement done the way the Helm chart does it
 * (start a new instance, wait until it is routed to, SIGTERM an old one, repeat). Not one request may fail.
 * A negative control in the same file shows that the harness does see failures: SIGKILL under load.
 */
describe.each(DRIVERS)('rolling update under load (3 instances behind a Service-like proxy, %s driver)', (driverName) => {
  const driver = useDriver(driverName);
  // Shorter than production (5 s) but well above the proxy's 100 ms readiness poll.
  let ENV: Record<string, string>;
  /** Keys whose POST /set was acknowledged (redis driver: all must be readable after the rollout). */
  const acknowledged: string[] = [];
  let written = 0;
  const servers: ServerProcess[] = [];
  let proxy: ServiceProxy;

  /** Starts still under way, so clean-up can wait for them even when a hook timed out mid-start. */
  const starting = new Set<Promise<unknown>>();
  const start = async () => {
    const started = startServerProcess({ ...ENV, LOG_LEVEL: 'info' });
    starting.add(started);
    const server = await started.finally(() => starting.delete(started));
    servers.push(server);
    proxy.add(server.url);
    await until(() => proxy.isRouting(server.url), 10_000);
    if (!proxy.isRouting(server.url)) throw new Error(`${server.url} never became ready`);
    return server;
  };

  /** Starts the load; `stop()` ends it and `result` resolves with the counts. */
  const load = () => {
    let settle!: (r: autocannon.Result) => void;
    const result = new Promise<autocannon.Result>((resolve) => (settle = resolve));
    const instance = autocannon(
      {
      url: proxy.url,
      connections: 50,
      duration: 60,
      requests: [
        {
          method: 'POST',
          path: '/set',
          headers: { 'content-type': 'application/json' },
          // A fresh key per write, remembered by its connection until the answer comes.
          setupRequest: (req: autocannon.Request, context: object) => {
            const key = `load-${written++}`;
            (context as { key?: string }).key = key;
            return { ...req, body: JSON.stringify({ [key]: written, 'load-b': { n: 2 } }) };
          },
          onResponse: (status: number, _body: string, context: object) => {
            if (status === 200) acknowledged.push((context as { key: string }).key);
          },
        },
        { method: 'GET', path: '/search?prefix=load-&limit=20' },
        { method: 'GET', path: '/keys?limit=5' },
      ],
      },
      (error, r) => (error ? settle({ errors: 1, non2xx: 0, requests: { sent: 0 } } as unknown as autocannon.Result) : settle(r)),
    );
    let answered = 0;
    instance.on('response', () => answered++);
    return { stop: () => instance.stop(), result, answered: () => answered };
  };

  beforeEach(async () => {
    ENV = { ...driver.env(), SHUTDOWN_DELAY_MS: '1000', LOG_LEVEL: 'warn' };
    acknowledged.length = 0;
    proxy = await startServiceProxy(100);
    await Promise.all([start(), start(), start()]);
    // A process start takes a few seconds on a busy 2-CPU machine; three of them may not fit the default timeout.
  }, 60_000);

  afterEach(async () => {
    await Promise.allSettled([...starting]);
    for (const server of servers.splice(0)) await killIfRunning(server);
    await proxy.close();
  });

  it('replaces every instance with zero failed requests', async () => {
    const run = load();
    await new Promise((r) => setTimeout(r, 500));
    const olds = servers.slice(0, 3);
    const exits: Promise<{ code: number | null; signal: NodeJS.Signals | null }>[] = [];
    for (const old of olds) {
      await start();
      old.child.kill('SIGTERM');
      exits.push(old.exited);
      // the proxy notices the failing readiness within a poll; the next step waits for the new one anyway
    }
    expect(await Promise.all(exits)).toEqual(olds.map(() => ({ code: 0, signal: null })));
    olds.forEach((old) => proxy.remove(old.url));
    await new Promise((r) => setTimeout(r, 500));
    // At least 5000 requests in all: on a slower driver the load runs on a little after the rollout (bounded).
    await until(() => run.answered() >= 5000, 30_000, 100);
    run.stop();
    const r = await run.result;
    const counts = { total: r.requests.sent, ok: r['2xx'], non2xx: r.non2xx, errors: r.errors, timeouts: r.timeouts, proxyFailures: proxy.failures.count, proxyRetries: proxy.failures.retried };
    console.log(`rolling update under load: ${JSON.stringify(counts)}`);
    expect(counts.total).toBeGreaterThanOrEqual(5000);
    expect({ non2xx: counts.non2xx, errors: counts.errors, timeouts: counts.timeouts, proxyFailures: counts.proxyFailures }).toEqual({
      non2xx: 0,
      errors: 0,
      timeouts: 0,
      proxyFailures: 0,
    });
    if (driverName === 'redis') {
      // One shared keyspace: every write acknowledged during the rollout is readable from the new instances.
      expect(acknowledged.length).toBeGreaterThan(1000);
      const missing: string[] = [];
      for (let i = 0; i < acknowledged.length; i += 100) {
        const statuses = await Promise.all(acknowledged.slice(i, i + 100).map((key) => request(proxy.url).get(`/get/${key}`).then((r) => [key, r.status] as const)));
        missing.push(...statuses.filter(([, status]) => status !== 200).map(([key]) => key));
      }
      console.log(`redis: ${acknowledged.length} acknowledged writes, ${missing.length} not readable after the rollout`);
      expect(missing).toEqual([]);
    }
  }, 90_000);

  it('negative control: SIGKILL under load is seen as failed requests', async () => {
    const run = load();
    await new Promise((r) => setTimeout(r, 500));
    servers[0].child.kill('SIGKILL');
    await servers[0].exited;
    await new Promise((r) => setTimeout(r, 1000));
    run.stop();
    const r = await run.result;
    const counts = { total: r.requests.sent, non2xx: r.non2xx, errors: r.errors, proxyFailures: proxy.failures.count };
    console.log(`SIGKILL under load: ${JSON.stringify(counts)}`);
    expect(counts.non2xx + counts.errors).toBeGreaterThan(0);
    expect(counts.proxyFailures).toBeGreaterThan(0);
  }, 60_000);
});
