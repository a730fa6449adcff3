import { ExpressAdapter } from '@nestjs/platform-express';
import type { Application, RequestHandler } from 'express';
import http from 'node:http';
import type { EnvironmentVariables } from '../../config/env.validation';
import type { Socket } from 'node:net';
import { answerConnect, answerOutsideApp, originFormOf } from './malformed-requests';
import { type DispatchedMethod, RouteDispatch, type RouteLayer, type RouteMatching } from './route-dispatch';

/**
 * The Express adapter with what Nest does not expose: the request-head limit (HTTP_MAX_HEADER_BYTES, 431 beyond
 * it) is fixed when the server is created, request targets are checked before Express parses them (it would
 * answer a malformed one with an HTML page), and routes are filed by their first path segment (RouteDispatch),
 * mounted as one layer where configureApp calls `mountRoutes()`.
 */
export class KvExpressAdapter extends ExpressAdapter {
  private dispatch?: RouteDispatch;

  /**
   * `settings`: the validated environment (main.ts and the e2e apps pass the same), read for the two settings
   * only the server's creation can apply: HTTP_MAX_HEADER_BYTES, and HTTP_REQUEST_TIMEOUT_MS as the longest a
   * connection closed on a malformed target keeps reading the body sent.
   */
  constructor(private readonly settings: Pick<EnvironmentVariables, 'HTTP_MAX_HEADER_BYTES' | 'HTTP_REQUEST_TIMEOUT_MS'>) {
    super();
  }

  override initHttpServer(): void {
    const app = this.getInstance<http.RequestListener>();
    // Nest's own options (https, return503OnClosing, forceCloseConnections) are not used by this service.
    this.setHttpServer(
      // Node would answer a request without Host with a bare 400 of its own: it is answered here, in JSON.
      http.createServer({ maxHeaderSize: this.settings.HTTP_MAX_HEADER_BYTES, requireHostHeader: false }, (req, res) => {
        const target = originFormOf(req.url ?? '', req.method);
        if (target === null) {
          answerOutsideApp(res, 400, 'Malformed request target: expected a path such as /keys/a', this.settings.HTTP_REQUEST_TIMEOUT_MS);
          return;
        }
        if (req.headers.host === undefined && req.httpVersionMajor === 1 && req.httpVersionMinor >= 1) {
          answerOutsideApp(res, 400, 'Host header is required (HTTP/1.1)', this.settings.HTTP_REQUEST_TIMEOUT_MS);
          return;
        }
        req.url = target;
        app(req, res);
      }),
    );
    // Node closes a CONNECT (a proxy tunnel request) without a word unless someone listens: this is no proxy.
    this.getHttpServer().on('connect', (req: http.IncomingMessage, socket: Socket) => answerConnect(req, socket, this.settings.HTTP_REQUEST_TIMEOUT_MS));
  }

  /**
   * Mounts the one layer every route is dispatched from (RouteDispatch), here in the middleware, and must come
   * before any route is registered: the routes then run where this is called, whenever they are registered (Nest
   * registers its routes at `init()`, after everything configureApp mounts).
   */
  mountRoutes(): void {
    if (this.dispatch !== undefined) throw new Error('the routes are already mounted');
    // The application router's own settings, frozen when it was made (as Nest's getRouteMatchingOptions reads them).
    const app = this.getInstance<Application>();
    const router = app.router as unknown as Partial<RouteMatching>;
    this.dispatch = new RouteDispatch({ caseSensitive: !!router.caseSensitive, strict: !!router.strict });
    app.use(this.dispatch.middleware);
  }

  /** Every route registered through this adapter, in the order of registration (for RouteTable). */
  routes(): readonly RouteLayer[] {
    return this.dispatch?.routes() ?? [];
  }

  // `get` with one argument reads an Express setting: only the two-argument form registers a route.
  override get(...args: unknown[]): unknown {
    return args.length < 2 ? super.get(args[0] as never) : this.route('get', args);
  }
  override post(...args: unknown[]): unknown {
    return this.route('post', args);
  }
  override put(...args: unknown[]): unknown {
    return this.route('put', args);
  }
  override delete(...args: unknown[]): unknown {
    return this.route('delete', args);
  }
  override patch(...args: unknown[]): unknown {
    return this.route('patch', args);
  }
  override head(...args: unknown[]): unknown {
    return this.route('head', args);
  }
  // A route for every method, or for OPTIONS, would have to see the OPTIONS requests the dispatch passes on; the
  // other methods Nest can route (WebDAV's, SEARCH, QUERY) are refused rather than left out of the dispatch, where
  // RouteTable would not see them either.
  override all(): never {
    return unsupported('for all methods (@All)');
  }
  override options(): never {
    return unsupported('OPTIONS');
  }
  override search(): never {
    return unsupported('SEARCH');
  }
  override query(): never {
    return unsupported('QUERY');
  }
  override propfind(): never {
    return unsupported('PROPFIND');
  }
  override proppatch(): never {
    return unsupported('PROPPATCH');
  }
  override mkcol(): never {
    return unsupported('MKCOL');
  }
  override copy(): never {
    return unsupported('COPY');
  }
  override move(): never {
    return unsupported('MOVE');
  }
  override lock(): never {
    return unsupported('LOCK');
  }
  override unlock(): never {
    return unsupported('UNLOCK');
  }

  private route(method: DispatchedMethod, [path, ...handlers]: unknown[]): this {
    if (this.dispatch === undefined) throw new Error(`route ${String(path)} registered before mountRoutes(): it would run before the middleware`);
    this.dispatch.add(method, path, handlers as RequestHandler[]);
    return this;
  }
}

function unsupported(what: string): never {
  throw new Error(`routes ${what} are not supported: the route dispatch takes GET, HEAD, POST, PUT, DELETE and PATCH routes`);
}
