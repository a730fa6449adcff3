import type { Application, RequestHandler } from 'express';
import { KvExpressAdapter } from './kv-express.adapter';

const SETTINGS = { HTTP_MAX_HEADER_BYTES: 16_384, HTTP_REQUEST_TIMEOUT_MS: 30_000 };
const handler: RequestHandler = (_req, res) => res.end();

/** The names of the layers of the adapter's Express application, in order. */
const layersOf = (adapter: KvExpressAdapter) => adapter.getInstance<Application & { router: { stack: { name: string }[] } }>().router.stack.map((l) => l.name);

describe('KvExpressAdapter', () => {
  it('mounts one layer for every route, where mountRoutes is called, however late the routes come', () => {
    const adapter = new KvExpressAdapter(SETTINGS);
    adapter.use(function before(_req: unknown, _res: unknown, next: () => void) {
      next();
    });
    adapter.mountRoutes();
    adapter.use(function after(_req: unknown, _res: unknown, next: () => void) {
      next();
    });
    adapter.get('/a', handler);
    adapter.post('/b/:x', handler);
    adapter.put('/a/:x', handler);
    adapter.delete('/a/:x', handler);
    adapter.patch('/a/:x', handler);
    adapter.head('/c', handler);
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

  it('refuses a route before mountRoutes, and a second mountRoutes', () => {
    const adapter = new KvExpressAdapter(SETTINGS);
    expect(() => adapter.get('/a', handler)).toThrow('route /a registered before mountRoutes()');
    adapter.mountRoutes();
    expect(() => adapter.mountRoutes()).toThrow('the routes are already mounted');
  });

  it('refuses routes the dispatch does not serve: all methods, OPTIONS and the other methods Nest can route', () => {
    const adapter = new KvExpressAdapter(SETTINGS);
    adapter.mountRoutes();
    expect(() => adapter.all()).toThrow('routes for all methods (@All) are not supported');
    for (const refuse of [adapter.options, adapter.search, adapter.query, adapter.propfind, adapter.proppatch, adapter.mkcol, adapter.copy, adapter.move, adapter.lock, adapter.unlock]) {
      expect(() => refuse.call(adapter)).toThrow(/^routes [A-Z]+ are not supported/);
    }
    expect(adapter.routes()).toEqual([]);
  });

  it('takes the routing settings of the application router', () => {
    const adapter = new KvExpressAdapter(SETTINGS);
    adapter.enable('case sensitive routing');
    adapter.mountRoutes();
    adapter.get('/Keys', handler);
    // The application's router was made before the setting changed: routes stay case-insensitive, as Nest assumes.
    const router = adapter.getInstance<Application & { router: { caseSensitive: boolean } }>().router;
    expect(router.caseSensitive).toBe(false);
    expect(adapter.routes()[0].matchers?.[0]('/keys')).not.toBe(false);
  });
});
