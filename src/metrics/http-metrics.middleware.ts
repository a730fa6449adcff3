import { Injectable, type NestMiddleware } from '@nestjs/common';
import { InjectMetric } from '@willsoto/nestjs-prometheus';
import type { NextFunction, Request, Response } from 'express';
import type { Counter, Histogram } from 'prom-client';
import { HTTP_REQUEST_DURATION, HTTP_REQUESTS_TOTAL, UNMATCHED_ROUTE } from './metric-names';

/**
 * Times every request and counts it by method, route template and status. The label is the route
 * template Express matched (`/get/:key`), never the raw path, so series stay bounded whatever keys and
 * paths clients use; it is read when the response closes, after routing has happened.
 */
@Injectable()
export class HttpMetricsMiddleware implements NestMiddleware {
  constructor(
    @InjectMetric(HTTP_REQUEST_DURATION) private readonly duration: Histogram<string>,
    @InjectMetric(HTTP_REQUESTS_TOTAL) private readonly total: Counter<string>,
  ) {}

  use(req: Request, res: Response, next: NextFunction): void {
    const start = process.hrtime.bigint();
    res.once('close', () => {
      const labels = { method: req.method, route: routeOf(req), status_code: String(res.statusCode) };
      this.duration.observe(labels, Number(process.hrtime.bigint() - start) / 1e9);
      this.total.inc(labels);
    });
    next();
  }
}

/**
 * The matched route template, or `unmatched`. A wildcard path is never one of our routes: it is the
 * catch-all layer that middleware mounted with `forRoutes('*')` (nestjs-pino's, for one) leaves in
 * `req.route` when no route matched.
 */
export function routeOf(req: Request): string {
  const path = (req.route as { path?: unknown } | undefined)?.path;
  return typeof path === 'string' && !path.includes('*') ? path : UNMATCHED_ROUTE;
}
