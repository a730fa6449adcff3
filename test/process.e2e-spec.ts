import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { type RedisServer, startRedisServer } from './helpers/redis-server';
import { until } from './helpers/until';
import { killIfRunning, runServerProcess, type ServerProcess, START_NODE_ARGS, startServerProcess } from './helpers/server-process';

describe('the built server as a process', () => {
  let server: ServerProcess | undefined;

  afterEach(async () => {
    await killIfRunning(server);
    server = undefined;
  });

  it('serves the API with the in-memory store and logs JSON with request ids', async () => {
    server = await startServerProcess();
    expect(server.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    expect(server.lines.some((l) => l.includes(`Listening on ${server!.url} (store: memory)`))).toBe(true);
    const set = await fetch(`${server.url}/set`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json', 'X-Request-Id': 'proc-test-1' },
      body: JSON.stringify({ key: 'key_1', value: 'value_1' }),
    });
    expect(set.status).toBe(200);
    expect(await (await fetch(`${server.url}/get/key_1`)).json()).toEqual({ key: 'key_1', value: 'value_1' });
    await new Promise((r) => setTimeout(r, 100));
    const logs = server.lines.map((l) => JSON.parse(l) as { req?: { id?: string }; responseTime?: unknown });
    const requestLog = logs.find((l) => l.req?.id === 'proc-test-1');
    expect(requestLog).toMatchObject({ req: { id: 'proc-test-1', method: 'POST', url: '/set' }, res: { statusCode: 200 } });
    expect(typeof requestLog?.responseTime).toBe('number');
  });

  it('runs with the Node options it ships with, in the image as with npm start: a young generation kept small under load', async () => {
    const dockerfile = readFileSync(join(__dirname, '..', 'Dockerfile'), 'utf8');
    const cmd = JSON.parse(/^CMD (\[.*\])$/m.exec(dockerfile)![1]) as string[];
    expect(cmd).toEqual(['node', ...START_NODE_ARGS, 'dist/main.js']);
    expect(START_NODE_ARGS).toEqual(['--max-semi-space-size=8', '--no-allocation-site-pretenuring']);

    // Bulk writes that keep records alive: left to itself, V8 13 grows the young generation to 2 x 64 MiB under
    // such a load and keeps it (docs/benchmarks.md, Memory per key); capped, it stays at 2 x 8 MiB.
    server = await startServerProcess({ LOG_LEVEL: 'warn' });
    for (let batch = 0; batch < 150; batch++) {
      const pairs = Object.fromEntries(Array.from({ length: 1000 }, (_, i) => [`young-${batch}-${i}`, 'v'.repeat(30)]));
      const response = await fetch(`${server.url}/set`, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify(pairs) });
      expect(response.status).toBe(200);
    }
    const metrics = await (await fetch(`${server.url}/metrics`)).text();
    const youngBytes = Number(/^nodejs_heap_space_size_total_bytes\{space="new"\} (\d+)/m.exec(metrics)![1]);
    expect(youngBytes).toBeLessThanOrEqual(16 * 2 ** 20);
  });

  it('holds back while nothing reads its stdout, queueing no log lines in memory, and goes on once it is read', async () => {
    server = await startServerProcess();
    const { url } = server;
    const answers = (path: string) => fetch(`${url}${path}`, { signal: AbortSignal.timeout(2000) }).then(() => true, () => false);
    server.child.stdout!.pause();
    // Each request logs a line of about 1 KB: the pipe and the reader's buffer fill within a few hundred.
    const long = 'x'.repeat(900);
    let answered = 0;
    while (answered < 5000 && (await answers(`/get/${long}${answered}`))) answered++;
    expect(answered).toBeGreaterThan(10);
    expect(answered).toBeLessThan(5000);
    // Stuck on its stdout, it answers nothing, its liveness probe included (so an orchestrator restarts it).
    expect(await answers('/health/live')).toBe(false);
    server.child.stdout!.resume();
    let live = false;
    await until(async () => (live = await answers('/health/live')), 10_000);
    expect(live).toBe(true);
    // The lines written while held back were not lost.
    await until(() => server!.lines.some((l) => l.includes(`${long}${answered - 1}"`)), 5000);
    expect(server.lines.some((l) => l.includes(`${long}${answered - 1}"`))).toBe(true);
  });

  it.each(['SIGTERM', 'SIGINT'] as const)('exits 0 on %s, at once with the default settings when nothing is in flight', async (signal) => {
    server = await startServerProcess();
    const sentAt = Date.now();
    server.child.kill(signal);
    expect(await server.exited).toEqual({ code: 0, signal: null });
    // A local Ctrl-C: no drain delay by default (the Helm chart sets one). Generous bound; it takes ~0.1 s here.
    expect(Date.now() - sentAt).toBeLessThan(3000);
  });

  it('a port in use: exit 1 with one clear line, no stack trace', async () => {
    server = await startServerProcess();
    const { code, stderr } = await runServerProcess({ PORT: new URL(server.url).port, HOST: '127.0.0.1', LOG_LEVEL: 'silent' });
    expect(code).toBe(1);
    const lines = stderr.trim().split('\n');
    expect(lines).toEqual([`Cannot listen on 127.0.0.1:${new URL(server.url).port}: the port is in use by another process (set PORT to a free one)`]);
  });

  it.each([
    [{ PORT: 'abc' }, /^Invalid configuration: PORT must be an integer from 0 to 65535 \(got "abc"\)$/],
    [{ PORT: '70000' }, /^Invalid configuration: PORT must be an integer from 0 to 65535 \(got 70000\)$/],
    [{ STORE_DRIVER: 'mongo' }, /^Invalid configuration: STORE_DRIVER must be one of the following values: memory, redis \(got "mongo"\)$/],
    [{ LOG_LEVEL: 'loud' }, /^Invalid configuration: LOG_LEVEL must be one of the following values: fatal, error, warn, info, debug, trace, silent/],
    [{ KV_MAX_VALUE_BYTES: '2048', KV_MAX_BODY_BYTES: '1024' }, /^Invalid configuration: KV_MAX_BODY_BYTES \(1024\) must be at least KV_MAX_VALUE_BYTES/],
  ])('refuses to start with %j: exit 1 and one clear line', async (env, message) => {
    const { code, stdout, stderr } = await runServerProcess(env);
    expect(code).toBe(1);
    expect(stdout).toBe('');
    const lines = stderr.trim().split('\n');
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(message);
  });
});

describe('the built server on a Redis that holds kv-store 0.1 data', () => {
  let redis: RedisServer;
  let server: ServerProcess | undefined;

  beforeAll(async () => {
    redis = await startRedisServer();
  });
  afterEach(async () => {
    await killIfRunning(server);
    server = undefined;
  });
  afterAll(async () => redis?.stop());

  /** The Redis driver's warnings of start-up, once the server is ready. */
  const legacyWarnings = (s: ServerProcess) => s.lines.filter((line) => line.includes('kv-store 0.1'));

  it('warns at start that keys named the 0.1 way are not read, and only then', async () => {
    // The warning comes before the line that says the server listens (both through the asynchronous logger).
    const listening = (s: ServerProcess) => until(() => s.lines.some((line) => line.includes('Listening on')), 10_000);
    const clean = `c${Date.now()}:`;
    server = await startServerProcess({ STORE_DRIVER: 'redis', REDIS_URL: redis.url, REDIS_KEY_PREFIX: clean });
    await listening(server);
    expect(legacyWarnings(server)).toEqual([]);
    await killIfRunning(server);

    // What 0.1 left: its revision counter and a record, outside the hash tag this version puts every key under.
    const old = `o${Date.now()}:`;
    const client = new Redis(redis.url);
    await client.set(`${old}rev`, '41');
    await client.hset(`${old}r:kept`, { v: '"from 0.1"', r: '41' });
    client.disconnect();
    server = await startServerProcess({ STORE_DRIVER: 'redis', REDIS_URL: redis.url, REDIS_KEY_PREFIX: old });
    await listening(server);
    const warnings = legacyWarnings(server);
    expect(warnings).toHaveLength(1);
    const warning = JSON.parse(warnings[0]) as { level: number; msg: string };
    expect(warning.level).toBe(40);
    expect(warning.msg).toContain(`${old}rev, ${old}idx`);
    expect(warning.msg).toContain('does not read them');
    // Not read: the store begins empty, and its revisions begin at 1, not after 0.1's 41.
    expect(await (await fetch(`${server.url}/keys`)).json()).toEqual({ items: [], next: null });
    expect((await fetch(`${server.url}/get/kept`)).status).toBe(404);
    const written = await fetch(`${server.url}/keys/new`, { method: 'PUT', headers: { 'Content-Type': 'application/json' }, body: '{"value":1}' });
    expect(written.status).toBe(201);
    expect(((await written.json()) as { revision: number }).revision).toBe(1);
  });
});
