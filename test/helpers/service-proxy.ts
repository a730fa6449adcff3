import http from 'node:http';
import type { AddressInfo } from 'node:net';

interface Backend {
  readonly url: URL;
  ready: boolean;
}

export interface ServiceProxy {
  readonly url: string;
  add(url: string): void;
  remove(url: string): void;
  /** True once the proxy has seen `url` ready (and so routes to it). */
  isRouting(url: string): boolean;
  /** Requests it could not pass on (no ready backend, or the backend failed mid-request): answered 502. */
  readonly failures: { count: number };
  close(): Promise<void>;
}

/**
 * A small stand-in for a Kubernetes Service: round-robin over the backends whose /health/ready answered
 * 200 at the last poll (every `pollMs`), like endpoints that only list ready pods. It never retries: a
 * request that fails upstream is answered 502, so the load generator sees every failure.
 */
export async function startServiceProxy(pollMs = 100): Promise<ServiceProxy> {
  const backends: Backend[] = [];
  const failures = { count: 0 };
  const upstream = new http.Agent({ keepAlive: true, maxSockets: 256 });
  let next = 0;

  const poll = setInterval(() => {
    for (const backend of backends) {
      const req = http.get(new URL('/health/ready', backend.url), { agent: false, timeout: pollMs * 5 }, (res) => {
        backend.ready = res.statusCode === 200;
        res.resume();
      });
      req.on('timeout', () => req.destroy());
      req.on('error', () => (backend.ready = false));
    }
  }, pollMs);

  const fail = (res: http.ServerResponse) => {
    failures.count++;
    if (!res.headersSent) res.writeHead(502, { 'Content-Type': 'application/json' });
    res.end('{"status":"error","statusCode":502,"message":"bad gateway"}');
  };

  const server = http.createServer((req, res) => {
    const ready = backends.filter((b) => b.ready);
    if (ready.length === 0) {
      req.resume();
      fail(res);
      return;
    }
    const backend = ready[next++ % ready.length];
    const forward = http.request(
      new URL(req.url ?? '/', backend.url),
      { method: req.method, headers: { ...req.headers, host: backend.url.host, connection: 'keep-alive' }, agent: upstream },
      (answer) => {
        const headers = { ...answer.headers };
        delete headers.connection; // hop-by-hop: the client's connection to us is ours to manage
        res.writeHead(answer.statusCode ?? 502, headers);
        answer.pipe(res);
        answer.on('error', () => fail(res));
      },
    );
    forward.on('error', () => fail(res));
    req.pipe(forward);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));

  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    failures,
    add: (url) => backends.push({ url: new URL(url), ready: false }),
    remove: (url) => {
      const i = backends.findIndex((b) => b.url.toString() === new URL(url).toString());
      if (i >= 0) backends.splice(i, 1);
    },
    isRouting: (url) => backends.some((b) => b.url.toString() === new URL(url).toString() && b.ready),
    close: () =>
      new Promise<void>((r) => {
        clearInterval(poll);
        upstream.destroy();
        server.closeAllConnections();
        server.close(() => r());
      }),
  };
}
