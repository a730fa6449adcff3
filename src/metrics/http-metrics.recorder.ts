import { Injectable } from '@nestjs/common';
import { InjectMetric } from '@willsoto/nestjs-prometheus';
import type { Request, Response } from 'express';
import type { Counter, Histogram } from 'prom-client';
import type { RequestObserver } from '../common/http/request-lifecycle';
import { HTTP_REQUEST_DURATION, UNMATCHED_ROUTE } from './metric-names';

/**
 * Times every request by method, route template and status (a `requestLifecycle` observer; the histogram's counts
 * are also http_requests_total, see collectRequestCounts). The
 * label is the route template Express matched (`/get/:key`), never the raw path, so series stay bounded whatever
 * keys and paths clients use; it is read when the response is done, after routing has happened.
 */
@Injectable()
export class HttpMetricsRecorder {
  constructor(@InjectMetric(HTTP_REQUEST_DURATION) private readonly duration: Histogram<string>) {}

  readonly observe: RequestObserver = (req: Request, res: Response, seconds: number): void => {
    this.duration.observe({ method: req.method, route: routeOf(req), status_code: String(res.statusCode) }, seconds);
  };
}

/**
 * Collects http_requests_total at scrape time from the request histogram's counts, series by series: a request is
 * one observation on its way out (prom-client hashes the labels of each), and the two metrics can never disagree.
 */
export async function collectRequestCounts(total: Counter<string>, duration: Histogram<string>): Promise<void> {
  const { name, values } = await duration.get();
  total.reset();
  for (const { metricName, labels, value } of values) if (metricName === `${name}_count`) total.inc(labels, value);
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
