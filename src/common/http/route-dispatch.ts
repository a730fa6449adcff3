import { type NextFunction, type Request, type RequestHandler, type Response, Router } from 'express';

/** The route methods the dispatch takes: those the application's controllers and the docs page register. */
export const DISPATCHED_METHODS = ['get', 'post', 'put', 'delete', 'patch', 'head'] as const;
export type DispatchedMethod = (typeof DISPATCHED_METHODS)[number];

/** What Express's router keeps of a route (router 2.x): its path matchers and its methods. */
export interface RouteLayer {
  readonly route?: { readonly path: string; readonly methods: Record<string, boolean> };
  readonly matchers?: readonly ((path: string) => unknown)[];
}

/** Express's routing settings, as the application's own router takes them. */
export interface RouteMatching {
  readonly caseSensitive: boolean;
  readonly strict: boolean;
}

// path-to-regexp's syntax (parameters, wildcards, groups, escapes): a first segment holding any of these is a
// pattern, and could match requests whose first segment differs from its text.
const PATTERN_SYNTAX = /[:*{}()[\]?+!\\]/;

/**
 * The first segment of a path (a route template, or the path Express routes a request by: `req.path`), as the
 * dispatch files it: the text between the leading slash and the next one, lower-cased unless routing is
 * case-sensitive. `/` has ''.
 */
export function firstSegment(path: string, caseSensitive: boolean): string {
  const end = path.indexOf('/', 1);
  const segment = end === -1 ? path.slice(1) : path.slice(1, end);
  return caseSensitive ? segment : segment.toLowerCase();
}

/**
 * The application's routes, filed by the first segment of their path, each segment's routes in an Express router
 * of their own: a request walks only the routes that share its first segment, in the order they were registered,
 * instead of every route before its own (Express tries a request against each route in turn, and the twenty-odd
 * routes of the API and its docs page took `npm run bench:layers` measurably more time than bare NestJS's three).
 *
 * A request's first segment names the only routes that can match it, because every route's first segment is
 * literal text (`add` refuses a pattern there). The routers take the application's matching settings, so a route
 * matches exactly the requests it matched on the application's router; OPTIONS requests are passed on untouched
 * (no route takes OPTIONS: the not-found handler answers them with 405 and `Allow`), where a router would
 * answer them itself.
 */
export class RouteDispatch {
  private readonly routers = new Map<string, Router>();
  private readonly all: RouteLayer[] = [];

  constructor(private readonly matching: RouteMatching) {}

  /** Registers a route, as `app[method](path, ...handlers)` would. */
  add(method: DispatchedMethod, path: unknown, handlers: readonly RequestHandler[]): void {
    if (typeof path !== 'string' || !path.startsWith('/')) throw new Error(`route paths must be strings that start with "/" (got ${String(path)})`);
    const segment = firstSegment(path, this.matching.caseSensitive);
    if (PATTERN_SYNTAX.test(segment)) throw new Error(`route ${path}: its first segment must be literal text (the routes are dispatched by it)`);
    let router = this.routers.get(segment);
    if (router === undefined) {
      router = Router(this.matching);
      this.routers.set(segment, router);
    }
    router[method](path, ...handlers);
    this.all.push(router.stack[router.stack.length - 1] as RouteLayer);
  }

  /** Every route, in the order of registration (what the application's router would list). */
  routes(): readonly RouteLayer[] {
    return this.all;
  }

  /** The one layer the application mounts for every route. */
  readonly middleware = (req: Request, res: Response, next: NextFunction): void => {
    // `req.path` is the path Express's routers match (parsed from the URL: without the query or a fragment).
    const router = req.method === 'OPTIONS' ? undefined : this.routers.get(firstSegment(req.path, this.matching.caseSensitive));
    if (router === undefined) next();
    else router(req, res, next);
  };
}
