import express from 'express';
import { request as httpRequest } from 'node:http';
import type { AddressInfo } from 'node:net';
import { requestLifecycle } from './request-lifecycle';
import { releaseInFlight, RequestsInFlight } from './requests-in-flight.middleware';

describe('RequestsInFlight', () => {
  it('answers 503 with Retry-After beyond the limit, counts a request until its response closes, and not a stream once it began', async () => {
    const limiter = new RequestsInFlight(2);
    const held: express.Response[] = [];
    const app = express()
      // As the pipeline mounts it: `finish` runs when each response closes (there, a requestLifecycle observer).
      .use(requestLifecycle([], [limiter.finish]), limiter.middleware)
      .get('/hold', (_req, res) => void held.push(res))
      .get('/stream', (_req, res) => {
        res.writeHead(200, { 'Content-Type': 'text/event-stream' }).write(': open\n\n');
        releaseInFlight(res);
      });
    const server = app.listen(0, '127.0.0.1');
    await new Promise((r) => server.once('listening', r));
    const { port } = server.address() as AddressInfo;
    const get = (path: string) =>
      new Promise<{ status: number; headers: Record<string, unknown>; body: string }>((resolve) => {
        httpRequest({ port, host: '127.0.0.1', path, agent: false }, (res) => {
          let body = '';
          res.setEncoding('utf8').on('data', (c: string) => (body += c));
          if (path === '/stream') resolve({ status: res.statusCode!, headers: res.headers, body });
          res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers, body }));
        }).end();
      });
    try {
      // A started stream leaves its slot: two more requests still fit.
      expect((await get('/stream')).status).toBe(200);
      void get('/hold');
      void get('/hold');
      await new Promise((r) => setTimeout(r, 100));
      expect(limiter.inFlight).toBe(2);
      const refused = await get('/hold');
      expect(refused.status).toBe(503);
      expect(refused.headers['retry-after']).toBe('1');
      expect(JSON.parse(refused.body)).toEqual({ status: 'error', statusCode: 503, message: 'Too many requests in flight (HTTP_MAX_REQUESTS_IN_FLIGHT=2); retry shortly' });
      held.shift()!.json({ ok: true });
      await new Promise((r) => setTimeout(r, 50));
      expect(limiter.inFlight).toBe(1);
    } finally {
      held.forEach((res) => res.end());
      server.closeAllConnections();
      await new Promise((r) => server.close(r));
    }
  });
});
