import type { Request, Response } from 'express';
import { Counter, Registry } from 'prom-client';
import { collectRequestCounts, HttpMetricsRecorder } from './http-metrics.recorder';
import { HTTP_REQUEST_DURATION, HTTP_REQUESTS_TOTAL } from './metric-names';
import { SeriesHistogram } from './series-histogram';

/** The two request metrics as the metrics module registers them, on a registry of their own. */
function requestMetrics() {
  const registry = new Registry();
  const labelNames = ['method', 'route', 'status_code'];
  const duration = new SeriesHistogram({ name: HTTP_REQUEST_DURATION, help: 'h', labelNames, buckets: [0.001, 0.01], registers: [registry] });
  const total = new Counter({
    name: HTTP_REQUESTS_TOTAL,
    help: 'c',
    labelNames,
    registers: [registry],
    collect() {
      return collectRequestCounts(this, duration);
    },
  });
  return { registry, recorder: new HttpMetricsRecorder(duration), total };
}

const answered = (recorder: HttpMetricsRecorder, method: string, route: string | undefined, status: number) =>
  recorder.observe({ method, route: route === undefined ? undefined : { path: route } } as unknown as Request, { statusCode: status } as Response, 0.001);

describe('HttpMetricsRecorder and http_requests_total', () => {
  it('counts each request once per series, scrape after scrape, as the histogram counts it', async () => {
    const { registry, recorder } = requestMetrics();
    answered(recorder, 'GET', '/get/:key', 200);
    answered(recorder, 'GET', '/get/:key', 200);
    answered(recorder, 'GET', '/get/:key', 404);
    answered(recorder, 'POST', '/set', 200);
    answered(recorder, 'GET', undefined, 404);
    const counts = async () => {
      const text = await registry.metrics();
      return text.split('\n').filter((line) => line.startsWith(`${HTTP_REQUESTS_TOTAL}{`)).sort();
    };
    const expected = [
      `${HTTP_REQUESTS_TOTAL}{method="GET",route="/get/:key",status_code="200"} 2`,
      `${HTTP_REQUESTS_TOTAL}{method="GET",route="/get/:key",status_code="404"} 1`,
      `${HTTP_REQUESTS_TOTAL}{method="GET",route="unmatched",status_code="404"} 1`,
      `${HTTP_REQUESTS_TOTAL}{method="POST",route="/set",status_code="200"} 1`,
    ];
    expect(await counts()).toEqual(expected);
    // A second scrape recounts: nothing is added twice.
    expect(await counts()).toEqual(expected);
    answered(recorder, 'POST', '/set', 200);
    expect(await counts()).toContain(`${HTTP_REQUESTS_TOTAL}{method="POST",route="/set",status_code="200"} 2`);
    const text = await registry.metrics();
    expect(text).toContain(`${HTTP_REQUEST_DURATION}_count{method="POST",route="/set",status_code="200"} 2`);
  });

  it('has no series before the first request', async () => {
    const { registry } = requestMetrics();
    expect((await registry.metrics()).split('\n').filter((line) => line.startsWith(`${HTTP_REQUESTS_TOTAL}{`))).toEqual([]);
  });
});
