import type { Express, NextFunction, Request, Response } from 'express';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { KvExpressAdapter } from './kv-express.adapter';

/** Express's entry point for each request (not in its public types). */
type Handle = (req: Request, res: Response, next?: NextFunction) => void;

describe('KvExpressAdapter', () => {
  let adapter: KvExpressAdapter;
  let url: string;
  /** For each request Express took: whether req and res already had the app's prototypes. */
  const prototypesOnArrival: boolean[] = [];

  beforeAll(async () => {
    adapter = new KvExpressAdapter({ HTTP_MAX_HEADER_BYTES: 16384, HTTP_REQUEST_TIMEOUT_MS: 5000 });
    adapter.initHttpServer();
    const app = adapter.getInstance<Express & { handle: Handle }>();
    // As the service configures it (app.setup.ts): without ETags, reply writes JSON itself.
    app.set('etag', false);
    const handle = app.handle.bind(app);
    app.handle = (req, res, next) => {
      prototypesOnArrival.push(Object.getPrototypeOf(req) === app.request && Object.getPrototypeOf(res) === app.response);
      handle(req, res, next);
    };
    app.get('/answer', (req, res) => adapter.reply(res, { method: req.method, node: req instanceof http.IncomingMessage && res instanceof http.ServerResponse }, 200));
    // As Nest's router calls it: the status set before (by @HttpCode or a passthrough response), none given.
    app.put('/created', (_req, res) => adapter.reply(res.status(201), { created: true }));
    const server = adapter.getHttpServer() as http.Server;
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });

  afterAll(() => adapter.close());

  it("makes requests and responses with Express's prototypes, so Express need not change them on every request", async () => {
    const response = await fetch(`${url}/answer`);
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toBe('application/json; charset=utf-8');
    expect(await response.json()).toEqual({ method: 'GET', node: true });
    expect(prototypesOnArrival).toEqual([true]);
  });

  it('answers with the status set before reply when reply is given none', async () => {
    const response = await fetch(`${url}/created`, { method: 'PUT' });
    expect(response.status).toBe(201);
    expect(response.headers.get('content-type')).toBe('application/json; charset=utf-8');
    expect(response.headers.get('content-length')).toBe('16');
    expect(await response.json()).toEqual({ created: true });
  });
});
