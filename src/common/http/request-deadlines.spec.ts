import express, { type Response } from 'express';
import { createServer, request, type Server } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { connect } from 'node:net';
import { requestLifecycle } from './request-lifecycle';
import { RequestDeadlines } from './request-deadlines';

const LIMIT_MS = 150;

/** A real HTTP server whose routes answer late, never, or half, behind the deadlines of `LIMIT_MS`. */
async function serve(): Promise<{ server: Server; deadlines: RequestDeadlines; url: string; port: number }> {
  const app = express();
  const server = createServer(app);
  const deadlines = new RequestDeadlines(LIMIT_MS, (req) => req.path === '/stream').boundTo(server);
  app.use(requestLifecycle([deadlines.start], [deadlines.finish]));
  app.get('/fast', (_req, res) => res.json({ ok: true }));
  app.get('/late', (_req, res) => void setTimeout(() => res.headersSent || res.json({ late: true }), LIMIT_MS * 3));
  app.get('/never', () => undefined);
  app.get('/half', (_req, res) => res.writeHead(200, { 'Content-Type': 'text/plain' }).write('partial'));
  app.get('/stream', (_req, res) => res.writeHead(200, { 'Content-Type': 'text/event-stream' }).write(': open\n\n'));
  app.post('/upload', express.json(), (_req, res) => res.json({ ok: true }));
  app.put('/stuck', express.json(), () => undefined);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return { server, deadlines, url: `http://127.0.0.1:${port}`, port };
}

function get(url: string): Promise<{ status: number; body: string; headers: Record<string, unknown>; error?: string }> {
  return new Promise((resolve) => {
    request(url, { agent: false }, (res) => {
      let body = '';
      res.setEncoding('utf8').on('data', (chunk: string) => (body += chunk));
      res.on('end', () => resolve({ status: res.statusCode!, body, headers: res.headers }));
      res.on('error', (error) => resolve({ status: res.statusCode!, body, headers: res.headers, error: error.message }));
    })
      .on('error', (error) => resolve({ status: 0, body: '', headers: {}, error: error.message }))
      .end();
  });
}

describe('RequestDeadlines', () => {
  let s: Awaited<ReturnType<typeof serve>>;
  const sockets: Socket[] = [];

  beforeEach(async () => {
    s = await serve();
  });

  afterEach(async () => {
    for (const socket of sockets.splice(0)) socket.destroy();
    s.server.closeAllConnections();
    await new Promise((resolve) => s.server.close(resolve));
  });

  it('answers 503 in JSON, closing the connection, for a request the application never answers', async () => {
    const started = Date.now();
    const res = await get(`${s.url}/never`);
    expect(res.status).toBe(503);
    expect(JSON.parse(res.body)).toEqual({ status: 'error', statusCode: 503, message: `Request not answered within HTTP_REQUEST_TIMEOUT_MS=${LIMIT_MS}` });
    expect(res.headers.connection).toBe('close');
    // Not before the limit; well within a generous bound after it (the sweep runs every tenth of the limit).
    expect(Date.now() - started).toBeGreaterThanOrEqual(LIMIT_MS - 5);
    expect(Date.now() - started).toBeLessThan(LIMIT_MS + 2000);
  });

  it('answers 504, "may have been applied", for a write received in full and not answered in time', async () => {
    const answer = await new Promise<string>((resolve) => {
      const socket = connect(s.port, '127.0.0.1', () => socket.write('PUT /stuck HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n{}'));
      sockets.push(socket);
      let data = '';
      socket.setEncoding('utf8').on('data', (chunk: string) => (data += chunk));
      socket.on('close', () => resolve(data));
    });
    expect(answer).toMatch(/^HTTP\/1\.1 504 /);
    expect(answer).toContain(
      `"message":"Request not answered within HTTP_REQUEST_TIMEOUT_MS=${LIMIT_MS}: it may have been applied; check before retrying"`,
    );
  });

  it('answers 408 when the request body has not arrived in time', async () => {
    const answer = await new Promise<string>((resolve) => {
      const socket = connect(s.port, '127.0.0.1', () => {
        socket.write('POST /upload HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{"a":');
      });
      sockets.push(socket);
      let data = '';
      socket.setEncoding('utf8').on('data', (chunk: string) => (data += chunk));
      socket.on('close', () => resolve(data));
    });
    expect(answer).toMatch(/^HTTP\/1\.1 408 /);
    expect(answer).toContain(`"message":"Request not received within HTTP_REQUEST_TIMEOUT_MS=${LIMIT_MS}"`);
  });

  it('cuts a response that started but stalled, since its status line is gone', async () => {
    const res = await get(`${s.url}/half`);
    expect(res.status).toBe(200);
    expect(res.error ?? 'the response ended normally').toMatch(/aborted|socket hang up|ECONNRESET/);
  });

  it('leaves answered requests and exempt streams alone, and forgets every finished request', async () => {
    for (let i = 0; i < 20; i++) expect((await get(`${s.url}/fast`)).status).toBe(200);
    // A stream outlives the limit many times over.
    const body = await new Promise<string>((resolve, reject) => {
      request(`${s.url}/stream`, { agent: false }, (res) => {
        let data = '';
        res.setEncoding('utf8').on('data', (chunk: string) => (data += chunk));
        setTimeout(() => {
          resolve(`${res.statusCode} ${data} ${res.destroyed ? 'destroyed' : 'open'}`);
          res.destroy();
        }, LIMIT_MS * 4);
      }).on('error', reject).end();
    });
    expect(body).toBe('200 : open\n\n open');
    expect(s.deadlines.waiting).toBe(0);
  });

  it('does not answer twice when the application answers after the deadline', async () => {
    const res = await get(`${s.url}/late`);
    expect(res.status).toBe(503);
    // The late handler finds the headers sent and writes nothing; the server stays up for the next request.
    await new Promise((r) => setTimeout(r, LIMIT_MS * 3));
    expect((await get(`${s.url}/fast`)).status).toBe(200);
  });
});

describe('RequestDeadlines queue', () => {
  /** A response already sent in full: expiring it writes nothing, so the sweep's choices show in `isStreaming`'s calls. */
  const answered = (name: string) => ({ req: { name }, writableFinished: true }) as unknown as Response & { req: { name: string } };

  it('keeps requests finished in any order out of the sweep, and sweeps the rest oldest first', async () => {
    const asked: string[] = [];
    const deadlines = new RequestDeadlines(10, (req) => {
      asked.push((req as unknown as { name: string }).name);
      return false;
    });
    try {
      const responses = ['a', 'b', 'c', 'd', 'e'].map(answered);
      const start = performance.now();
      responses.forEach((res, i) => deadlines.start(res.req as never, res, start + i));
      // The middle, the oldest, the newest, and one twice (a late 'close' after the sweep or a second observer).
      for (const i of [2, 0, 4, 2]) deadlines.finish(responses[i].req as never, responses[i]);
      expect(deadlines.waiting).toBe(2);
      await new Promise((r) => setTimeout(r, 200));
      expect(asked).toEqual(['b', 'd']);
      expect(deadlines.waiting).toBe(0);
      // Finishing one the sweep already took, or one never started, changes nothing.
      deadlines.finish(responses[1].req as never, responses[1]);
      deadlines.finish({} as never, answered('z'));
      expect(deadlines.waiting).toBe(0);
      const late = answered('f');
      deadlines.start(late.req as never, late, performance.now());
      expect(deadlines.waiting).toBe(1);
    } finally {
      deadlines.stop();
    }
    expect(deadlines.waiting).toBe(0);
  });

  it('keeps each queue whole when a response is started twice, or finished by another queue', async () => {
    const asked: string[] = [];
    const isStreaming = (req: unknown) => {
      asked.push((req as { name: string }).name);
      return false;
    };
    const [one, two] = [new RequestDeadlines(10, isStreaming), new RequestDeadlines(10, isStreaming)];
    try {
      const [a, b, c] = ['a', 'b', 'c'].map(answered);
      const now = performance.now();
      for (const res of [a, b, c]) one.start(res.req as never, res, now);
      // b starts again: it moves to the newest place instead of linking to itself.
      one.start(b.req as never, b, now);
      expect(one.waiting).toBe(3);
      // Another queue's finish leaves one's list alone; its start takes the response out of one's.
      two.finish(c.req as never, c);
      expect(one.waiting).toBe(3);
      two.start(c.req as never, c, now);
      expect([one.waiting, two.waiting]).toEqual([2, 1]);
      await new Promise((r) => setTimeout(r, 200));
      expect(asked.sort()).toEqual(['a', 'b', 'c']);
      expect([one.waiting, two.waiting]).toEqual([0, 0]);
    } finally {
      one.stop();
      two.stop();
    }
  });
});
