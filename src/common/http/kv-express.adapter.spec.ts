import type { Application, RequestHandler } from 'express';
import { KvExpressAdapter } from './kv-express.adapter';

const SETTINGS = { HTTP_MAX_HEADER_BYTES: 16_384, HTTP_REQUEST_TIMEOUT_MS: 30_000 };
const handler: RequestHandler = (_req, res) => res.end();

/** The names of the layers of the adapter's Express application, in order. */
const layersOf = (adapter: KvExpressAdapter) => adapter.getInstance<Application & { router: { stack: { name: string }[] } }>().router.stack.map((l) => l.name);

describe('KvExpressAdapter', () => {
  it('mounts one layer for every route, where the first route is registered, after the middleware before it', () => {
    const adapter = new KvExpressAdapter(SETTINGS);
    adapter.use(function before(_req: unknown, _res: unknown, next: () => void) {
      next();
    });
    adapter.get('/a', handler);
    adapter.post('/b/:x', handler);
    adapter.put('/a/:x', handler);
    adapter.delete('/a/:x', handler);
    adapter.patch('/a/:x', handler);
    adapter.head('/c', handler);
    adapter.use(function after(_req: unknown, _res: unknown, next: () => void) {
      next();
    });
    const layers = layersOf(adapter);
    expect(layers.slice(layers.indexOf('before'))).toEqual(['before', 'middleware', 'after']);
    expect(adapter.routes().map((l) => `${Object.keys(l.route!.methods).join()} ${l.route!.path}`)).toEqual([
      'get /a',
      'post /b/:x',
      'put /a/:x',
      'delete /a/:x',
      'patch /a/:x',
      'head /c',
    ]);
  });

  it("reads an Express setting with one argument to get, as Express's own app.get does", () => {
    const adapter = new KvExpressAdapter(SETTINGS);
    adapter.set('trust proxy', 'loopback');
    expect(adapter.get('trust proxy')).toBe('loopback');
    expect(adapter.routes()).toEqual([]);
  });

  it('refuses routes the dispatch could not serve: all methods, and OPTIONS', () => {
    const adapter = new KvExpressAdapter(SETTINGS);
    expect(() => adapter.all()).toThrow('routes for all methods (@All) are not supported');
    expect(() => adapter.options()).toThrow('OPTIONS routes are not supported');
  });
});
