import { Injectable } from '@nestjs/common';
import { HttpAdapterHost } from '@nestjs/core';

/** What Express's router keeps of a route (router 2.x): its path matchers and its methods. */
interface RouteLayer {
  readonly route?: { readonly path: string; readonly methods: Record<string, boolean> };
  readonly matchers?: readonly ((path: string) => unknown)[];
}

/**
 * The methods the application serves at a path, read from the router Express built from the controllers: so a
 * known path asked with another method is a 405 with `Allow`, and `/get/` an empty key, not "Cannot GET".
 */
@Injectable()
export class RouteTable {
  constructor(private readonly adapter: HttpAdapterHost) {}

  /** Methods some route serves at `path` (HEAD wherever GET is), sorted; empty for an unknown path. */
  methodsAt(path: string): string[] {
    const methods = new Set<string>();
    for (const layer of this.layers()) {
      if (!layer.route || !layer.matchers?.some((match) => match(path) !== false)) continue;
      for (const [method, on] of Object.entries(layer.route.methods)) if (on && method !== '_all') methods.add(method.toUpperCase());
    }
    if (methods.has('GET')) methods.add('HEAD');
    return [...methods].sort();
  }

  /** The template of the route that serves `method` at `path` (HEAD as GET), or undefined when none does. */
  templateOf(method: string, path: string): string | undefined {
    const wanted = method === 'HEAD' ? 'get' : method.toLowerCase();
    for (const layer of this.layers()) {
      if (!layer.route?.methods[wanted] || !layer.matchers?.some((match) => match(path) !== false)) continue;
      return layer.route.path;
    }
    return undefined;
  }

  private layers(): readonly RouteLayer[] {
    const app = this.adapter.httpAdapter?.getInstance<{ router?: { stack?: RouteLayer[] } }>();
    return app?.router?.stack ?? [];
  }
}
