import { Injectable } from '@nestjs/common';
import { InjectMetric } from '@willsoto/nestjs-prometheus';
import type { Request, Response } from 'express';
import type { Counter } from 'prom-client';
import type { RequestObserver } from '../common/http/request-lifecycle';
import { HTTP_REQUEST_DURATION, UNMATCHED_ROUTE } from './metric-names';
import type { SeriesHistogram } from './series-histogram';

/**
 * Times every request by method, route template and status (a `requestLifecycle` observer; the histogram's counts
 * are also http_requests_total, see collectRequestCounts). The
 * label is the route template Express matched (`/get/:key`), never the raw path, so series stay bounded whatever
 * keys and paths clients use; it is read when the response is done, after routing has happened.
 */
@Injectable()
export class HttpMetricsRecorder {
  constructor(@InjectMetric(HTTP_REQUEST_DURATION) private readonly duration: SeriesHistogram) {}

  readonly observe: RequestObserver = (req: Request, res: Response, seconds: number): void => {
    this.duration.labels(req.method, routeOf(req), String(res.statusCode)).observe(seconds);
  };
}

/**
 * Collects http_requests_total at scrape time from the request histogram's counts, series by series: a request is
 * one observation on its way out, and the two metrics can never disagree.
 */
export function collectRequestCounts(total: Counter<string>, duration: SeriesHistogram): void {
  total.reset();
  for (const series of duration.series()) total.inc(series.labels, series.count);
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
