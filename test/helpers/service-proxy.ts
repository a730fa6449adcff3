import http from 'node:http';
import type { AddressInfo } from 'node:net';

interface Backend {
  readonly url: URL;
  ready: boolean;
  /** Polls in a row that got no answer. */
  missed: number;
}

export interface ServiceProxy {
  readonly url: string;
  add(url: string): void;
  remove(url: string): void;
  /** True once the proxy has seen `url` ready (and so routes to it). */
  isRouting(url: string): boolean;
  /** Requests it could not pass on (no ready backend, or the backend failed mid-request): answered 502. */
  /** Requests answered 502, and requests sent again after a reused keep-alive socket was reset. */
  readonly failures: { count: number; retried: number };
  close(): Promise<void>;
}

/**
 * A small stand-in for a Kubernetes Service: round-robin over the backends whose /health/ready answered
 * 200 at the last poll (every `pollMs`), like endpoints that only list ready pods. It never retries: a
 * request that fails upstream is answered 502, so the load generator sees every failure.
 */
export async function startServiceProxy(pollMs = 100): Promise<ServiceProxy> {
  const backends: Backend[] = [];
  const failures = { count: 0, retried: 0 };
  const upstream = new http.Agent({ keepAlive: true, maxSockets: 256 });
  let next = 0;

  const poll = setInterval(() => {
    for (const backend of backends) {
      const req = http.get(new URL('/health/ready', backend.url), { agent: false, timeout: pollMs * 5 }, (res) => {
        backend.ready = res.statusCode === 200;
        backend.missed = 0;
        res.resume();
      });
      req.on('timeout', () => req.destroy());
      // Like a readiness probe's failureThreshold (3 by default): a 503 takes a backend out at once, but a poll
      // that times out or fails only after three in a row, so a busy machine does not empty the endpoints.
      req.on('error', () => {
        backend.missed++;
        if (backend.missed >= 3) backend.ready = false;
      });
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
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => forward(Buffer.concat(chunks), ready[next++ % ready.length], true));

    const forward = (body: Buffer, backend: Backend, mayRetry: boolean) => {
      const upstreamReq = http.request(
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
      upstreamReq.on('error', (error: NodeJS.ErrnoException) => {
        // A pooled keep-alive socket the backend closed just as it was reused: the request never reached the
        // backend, so it is sent again once on a fresh socket (what Node's docs advise, and what proxies do).
        if (mayRetry && upstreamReq.reusedSocket && error.code === 'ECONNRESET' && !res.headersSent) {
          failures.retried++;
          const stillReady = backends.filter((b) => b.ready);
          forward(body, stillReady.length > 0 ? stillReady[next++ % stillReady.length] : backend, false);
          return;
        }
        fail(res);
      });
      upstreamReq.end(body);
    };
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));

  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    failures,
    add: (url) => backends.push({ url: new URL(url), ready: false, missed: 0 }),
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
