import http from 'node:http';
import { killIfRunning, type ServerProcess, startServerProcess } from './helpers/server-process';
import { openSse } from './helpers/sse-client';

/** One request on its own connection; resolves with status, headers and body. */
function get(url: string, agent?: http.Agent): Promise<{ status: number; headers: http.IncomingHttpHeaders; body: string }> {
  return new Promise((resolve, reject) => {
    http
      .get(url, { agent: agent ?? false }, (res) => {
        let body = '';
        res.on('data', (c: Buffer) => (body += c.toString()));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
      })
      .on('error', reject);
  });
}

/** Starts a POST /set whose body is sent in two parts; `finish()` sends the rest. */
function slowPost(url: string) {
  const body = JSON.stringify({ key: 'slow', value: 'x'.repeat(1000) });
  let settle!: (r: { status: number } | { error: string }) => void;
  const done = new Promise<{ status: number } | { error: string }>((resolve) => (settle = resolve));
  const req = http.request(`${url}/set`, { method: 'POST', agent: false, headers: { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(body) } }, (res) => {
    res.resume();
    res.on('end', () => settle({ status: res.statusCode ?? 0 }));
  });
  req.on('error', (e) => settle({ error: (e as NodeJS.ErrnoException).code ?? e.message }));
  req.write(body.slice(0, 10));
  return { done, finish: () => req.end(body.slice(10)) };
}

describe('graceful shutdown of the built server', () => {
  let server: ServerProcess | undefined;

  afterEach(async () => {
    await killIfRunning(server);
  });

  it('fails readiness at once, keeps serving with Connection: close during SHUTDOWN_DELAY_MS, ends streams with retry, exits 0', async () => {
    server = await startServerProcess({ SHUTDOWN_DELAY_MS: '1500' });
    const { url } = server;
    expect((await get(`${url}/health/ready`)).status).toBe(200);
    const stream = await openSse(`${url}/watch`);
    const keepAlive = new http.Agent({ keepAlive: true });
    expect((await get(`${url}/get/x`, keepAlive)).headers.connection).toBe('keep-alive');
    const signalled = Date.now();
    server.child.kill('SIGTERM');
    await new Promise((r) => setTimeout(r, 200));
    const ready = await get(`${url}/health/ready`);
    expect(ready.status).toBe(503);
    expect(JSON.parse(ready.body)).toMatchObject({ status: 'error', statusCode: 503, error: { lifecycle: { status: 'down' } } });
    expect((await get(`${url}/health/live`)).status).toBe(200);
    const served = await get(`${url}/get/x`, keepAlive);
    expect(served.status).toBe(404);
    expect(served.headers.connection).toBe('close');
    await stream.ended;
    expect(Date.now() - signalled).toBeGreaterThanOrEqual(1400);
    expect(stream.frames[stream.frames.length - 1]).toMatchObject({ event: 'shutdown', retry: '1000' });
    expect(await server.exited).toEqual({ code: 0, signal: null });
    await expect(get(`${url}/health/live`)).rejects.toMatchObject({ code: 'ECONNREFUSED' });
    keepAlive.destroy();
  });

  it('lets an in-flight request finish before exiting, and logs it before the shutdown is complete', async () => {
    server = await startServerProcess();
    const post = slowPost(server.url);
    await new Promise((r) => setTimeout(r, 100));
    server.child.kill('SIGTERM');
    await new Promise((r) => setTimeout(r, 300));
    expect(server.child.exitCode).toBeNull(); // still waiting for the request
    post.finish();
    expect(await post.done).toEqual({ status: 200 });
    expect(await server.exited).toEqual({ code: 0, signal: null });
    // The last of its output may still be in the pipe when the exit is seen.
    await new Promise((r) => setTimeout(r, 200));
    const requestLine = server.lines.findIndex((l) => l.includes('"req":') && l.includes('"url":"/set"'));
    const complete = server.lines.findIndex((l) => l.includes('shutdown complete'));
    expect(requestLine).toBeGreaterThanOrEqual(0);
    expect(complete).toBeGreaterThan(requestLine);
  });

  it('cuts requests still running after SHUTDOWN_TIMEOUT_MS and exits 0', async () => {
    server = await startServerProcess({ SHUTDOWN_TIMEOUT_MS: '500' });
    const post = slowPost(server.url);
    await new Promise((r) => setTimeout(r, 100));
    const signalled = Date.now();
    server.child.kill('SIGTERM');
    expect(await server.exited).toEqual({ code: 0, signal: null });
    expect(Date.now() - signalled).toBeLessThan(3000);
    expect(await post.done).toHaveProperty('error');
    expect(server.lines.join('\n')).toMatch(/SHUTDOWN_TIMEOUT_MS=500/);
  });

  it('keeps probes and scrapes out of info-level request logs', async () => {
    server = await startServerProcess();
    await get(`${server.url}/health/ready`);
    await get(`${server.url}/metrics`);
    await get(`${server.url}/get/logged-key`);
    await new Promise((r) => setTimeout(r, 100));
    const requestLogs = server.lines.filter((l) => l.includes('"req":'));
    expect(requestLogs.some((l) => l.includes('/get/logged-key'))).toBe(true);
    expect(requestLogs.filter((l) => l.includes('/health') || l.includes('/metrics'))).toEqual([]);
    const raw = requestLogs.find((l) => l.includes('/get/logged-key'))!;
    expect(raw.match(/"route":/g)).toHaveLength(1); // one route field, not one per pino-http hook
    const line = JSON.parse(raw) as Record<string, unknown>;
    expect(line).toMatchObject({ level: 40, route: '/get/:key', res: { statusCode: 404 }, req: { method: 'GET', id: expect.any(String) } });
    expect(typeof line.responseTime).toBe('number');
  });
});

describe('faults that leave the state unknown', () => {
  const injector = require.resolve('./fixtures/fault-injector.cjs');
  let server: ServerProcess | undefined;
  afterEach(() => killIfRunning(server));

  it('logs an unhandled rejection and fails readiness, without dying', async () => {
    server = await startServerProcess({ KV_TEST_FAULT: 'rejection' }, 20_000, ['--require', injector]);
    server.child.kill('SIGUSR2');
    await new Promise((r) => setTimeout(r, 300));
    const ready = await get(`${server.url}/health/ready`);
    expect(ready.status).toBe(503);
    expect(JSON.parse(ready.body).error.lifecycle.message).toMatch(/unhandled promise rejection/);
    expect((await get(`${server.url}/health/live`)).status).toBe(200);
    expect(server.lines.join('\n')).toMatch(/unhandled promise rejection: Error: injected rejection/);
  });

  it('logs an uncaught exception and shuts down, exiting 1', async () => {
    server = await startServerProcess({ KV_TEST_FAULT: 'exception' }, 20_000, ['--require', injector]);
    server.child.kill('SIGUSR2');
    expect(await server.exited).toEqual({ code: 1, signal: null });
    expect(server.lines.join('\n')).toMatch(/uncaught exception: Error: injected exception/);
  });
});
