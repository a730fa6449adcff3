import express, { type Application, type NextFunction, type Request, type Response } from 'express';
import fc from 'fast-check';
import { createServer, type Server } from 'node:http';
import { type AddressInfo, connect } from 'node:net';
import { type DispatchedMethod, firstSegment, RouteDispatch } from './route-dispatch';

/** Routes like the service's: literal first segments, parameters after them, two routes that match the same paths. */
const ROUTES: [DispatchedMethod, string][] = [
  ['get', '/keys'],
  ['get', '/keys/:key'],
  ['put', '/keys/:key'],
  ['delete', '/keys/:key'],
  ['get', '/keys/:other'],
  ['post', '/set'],
  ['get', '/get/:key'],
  ['get', '/'],
  ['get', '/docs'],
  ['get', '/docs/index.html'],
  ['get', '/docs-json'],
  ['head', '/search'],
  ['get', '/search'],
  ['get', '/a.b'],
];

const answer = (label: string) => (req: Request, res: Response) => res.json({ label, params: req.params as unknown });

/** The same routes on Express's own router, or through a RouteDispatch; what no route takes ends in `last`. */
function app(dispatched: boolean, settings: { caseSensitive?: boolean; strict?: boolean } = {}): Application {
  const application = express();
  if (settings.caseSensitive) application.enable('case sensitive routing');
  if (settings.strict) application.enable('strict routing');
  const dispatch = new RouteDispatch({ caseSensitive: !!settings.caseSensitive, strict: !!settings.strict });
  if (dispatched) application.use(dispatch.middleware);
  ROUTES.forEach(([method, path], i) => {
    const label = `${i} ${method} ${path}`;
    if (dispatched) dispatch.add(method, path, [answer(label)]);
    else application[method](path, answer(label));
  });
  application.use((req: Request, res: Response) => res.status(404).json({ label: 'none', method: req.method }));
  return application;
}

async function listen(application: Application): Promise<{ server: Server; url: string }> {
  const server = createServer(application);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { server, url: `http://127.0.0.1:${(server.address() as AddressInfo).port}` };
}

/** The status line and body of a GET of `target` as written, over a socket (fetch would normalise it first). */
async function raw(url: string, target: string): Promise<string> {
  const { port } = new URL(url);
  const socket = connect(Number(port), '127.0.0.1');
  socket.end(`GET ${target} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n`);
  let text = '';
  for await (const chunk of socket) text += String(chunk);
  return `${text.split('\r\n')[0]} ${text.slice(text.indexOf('\r\n\r\n') + 4)}`;
}

async function ask(url: string, method: string, path: string): Promise<string> {
  const res = await fetch(url + path, { method });
  return `${res.status} ${await res.text()}`;
}

describe('RouteDispatch', () => {
  const servers: Server[] = [];
  afterAll(async () => {
    await Promise.all(servers.map((s) => new Promise((resolve) => s.close(resolve))));
  });
  async function pair(settings: { caseSensitive?: boolean; strict?: boolean } = {}) {
    const plain = await listen(app(false, settings));
    const dispatched = await listen(app(true, settings));
    servers.push(plain.server, dispatched.server);
    return { plain: plain.url, dispatched: dispatched.url };
  }

  // Paths made of the routes' own words in any case, parameters, dots, percent-encodings, empty segments,
  // trailing slashes and queries: where a first-segment dispatch could go wrong.
  const segment = fc.constantFrom('keys', 'KEYS', 'Keys', 'get', 'GET', 'set', 'docs', 'DOCS', 'docs-json', 'index.html', 'search', 'a.b', 'a', 'x y', '%67et', 'k%2Fy', ':key', '');
  const path = fc
    .tuple(fc.array(segment, { minLength: 0, maxLength: 3 }), fc.boolean(), fc.constantFrom('', '?', '?prefix=a', '?a=/b'))
    .map(([segments, slash, query]) => `/${segments.join('/')}${slash && segments.length > 0 ? '/' : ''}${query}`.replace(/ /g, '%20'));
  const method = fc.constantFrom('GET', 'HEAD', 'POST', 'PUT', 'DELETE', 'PATCH', 'OPTIONS');

  it.each([{}, { caseSensitive: true }, { strict: true }])('answers every request as Express routing the same routes itself does (%p)', async (settings) => {
    const { plain, dispatched } = await pair(settings);
    await fc.assert(
      fc.asyncProperty(method, path, async (m, p) => {
        expect(await ask(dispatched, m, p)).toBe(await ask(plain, m, p));
      }),
      { numRuns: 250 },
    );
  });

  it('keeps the order of registration among routes of the same first segment', async () => {
    const { dispatched } = await pair();
    expect(await ask(dispatched, 'GET', '/keys/a')).toBe('200 {"label":"1 get /keys/:key","params":{"key":"a"}}');
  });

  it('passes OPTIONS requests on to the layers after it, where a router of its own would answer them', async () => {
    const { plain, dispatched } = await pair();
    expect(await ask(plain, 'OPTIONS', '/keys/a')).toBe('404 {"label":"none","method":"OPTIONS"}');
    expect(await ask(dispatched, 'OPTIONS', '/keys/a')).toBe('404 {"label":"none","method":"OPTIONS"}');
    const router = express.Router();
    router.get('/keys/:key', answer('alone'));
    const alone = await listen(express().use(router));
    servers.push(alone.server);
    expect(await ask(alone.url, 'OPTIONS', '/keys/a')).toBe('200 GET, HEAD');
  });

  it('refuses a route whose first segment is a pattern, or whose path is not a string', () => {
    const dispatch = new RouteDispatch({ caseSensitive: false, strict: false });
    for (const path of ['/:key', '/*all', '/{a}', '/a{/:b}', '/(x)', '/a\\:b']) {
      expect(() => dispatch.add('get', path, [])).toThrow(`route ${path}: its first segment must be literal text`);
    }
    expect(() => dispatch.add('get', /x/, [])).toThrow('route paths must be strings');
    expect(() => dispatch.add('get', 'keys', [])).toThrow('route paths must be strings that start with "/"');
    expect(dispatch.routes()).toEqual([]);
  });

  it('lists its routes in the order of registration', () => {
    const dispatch = new RouteDispatch({ caseSensitive: false, strict: false });
    const handler = () => undefined;
    dispatch.add('get', '/b/:x', [handler]);
    dispatch.add('post', '/a', [handler]);
    dispatch.add('get', '/b', [handler]);
    expect(dispatch.routes().map((layer) => `${Object.keys(layer.route!.methods).join()} ${layer.route!.path}`)).toEqual(['get /b/:x', 'post /a', 'get /b']);
  });

  it('files paths by the text before the second slash', () => {
    expect(['/', '/Keys', '/keys/a/b', '/keys/', '/%67et/a'].map((p) => firstSegment(p, false))).toEqual(['', 'keys', 'keys', 'keys', '%67et']);
    expect(firstSegment('/Keys/a', true)).toBe('Keys');
  });

  it('dispatches by the path Express routes on, not the raw target: a fragment or a backslash in it too', async () => {
    const { plain, dispatched } = await pair();
    for (const target of ['/keys#x', '/keys/a#frag', '/get\\a', '/get\\a#x', '/KEYS#', '/keys?x#y']) {
      expect(await raw(dispatched, target)).toBe(await raw(plain, target));
    }
    expect(await raw(dispatched, '/keys#x')).toMatch(/^HTTP\/1.1 200 /);
  });

  it('hands a request no route of its segment takes to the next layer, with its url untouched', () => {
    const dispatch = new RouteDispatch({ caseSensitive: false, strict: false });
    dispatch.add('get', '/keys', [() => undefined]);
    const next = jest.fn() as NextFunction;
    const req = { method: 'GET', url: '/unknown/a', path: '/unknown/a' } as Request;
    dispatch.middleware(req, {} as Response, next);
    expect(next).toHaveBeenCalledWith();
    expect(req.url).toBe('/unknown/a');
  });
});
