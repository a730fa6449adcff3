import { Injectable } from '@nestjs/common';
import { InjectMetric } from '@willsoto/nestjs-prometheus';
import type { Request, Response } from 'express';
import type { Counter, Histogram } from 'prom-client';
import type { RequestObserver } from '../common/http/request-lifecycle';
import { HTTP_REQUEST_DURATION, HTTP_REQUESTS_TOTAL, UNMATCHED_ROUTE } from './metric-names';

/**
 * Times every request and counts it by method, route template and status (a `requestLifecycle` observer). The
 * label is the route template Express matched (`/get/:key`), never the raw path, so series stay bounded whatever
 * keys and paths clients use; it is read when the response is done, after routing has happened.
 */
@Injectable()
export class HttpMetricsRecorder {
  constructor(
    @InjectMetric(HTTP_REQUEST_DURATION) private readonly duration: Histogram<string>,
    @InjectMetric(HTTP_REQUESTS_TOTAL) private readonly total: Counter<string>,
  ) {}

  readonly observe: RequestObserver = (req: Request, res: Response, seconds: number): void => {
    const labels = { method: req.method, route: routeOf(req), status_code: String(res.statusCode) };
    this.duration.observe(labels, seconds);
    this.total.inc(labels);
  };
}

/**
 * The matched route template, or `unmatched`. A wildcard path is never one of our routes: it can only be a
 * catch-all layer (middleware mounted through Nest with `forRoutes('*')`, say) left in `req.route` when no route
 * matched, and would otherwise label every unknown path alike under a name that is not a route.
 */
export function routeOf(req: Request): string {
  const path = (req.route as { path?: unknown } | undefined)?.path;
  return typeof path === 'string' && !path.includes('*') ? path : UNMATCHED_ROUTE;
}
