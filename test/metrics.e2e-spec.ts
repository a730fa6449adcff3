import request from 'supertest';
import { startTestApp, type TestApp } from './helpers/test-app';
import { openSse } from './helpers/sse-client';

/** Parses Prometheus text into `name{labels} value` samples. */
function samples(text: string): Map<string, number> {
  const out = new Map<string, number>();
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const space = line.lastIndexOf(' ');
    out.set(line.slice(0, space), Number(line.slice(space + 1)));
  }
  return out;
}

describe('GET /metrics (e2e)', () => {
  let t: TestApp;
  const json = { 'Content-Type': 'application/json' };
  const scrape = async () => {
    const res = await request(t.url).get('/metrics').expect(200);
    return { text: res.text, samples: samples(res.text), contentType: res.headers['content-type'] };
  };

  beforeEach(async () => {
    t = await startTestApp();
  });
  afterEach(() => t.close());

  it('exports process metrics and every service metric in Prometheus text format', async () => {
    const { text, contentType } = await scrape();
    expect(contentType).toMatch(/^text\/plain/);
    for (const name of [
      'process_cpu_user_seconds_total',
      'nodejs_heap_size_used_bytes',
      'http_request_duration_seconds',
      'http_requests_total',
      'kv_keys',
      'kv_watch_streams',
      'kv_events_total',
      'kv_webhook_deliveries_total',
      'kv_store_operation_duration_seconds',
    ]) {
      expect(text).toMatch(new RegExp(`^# TYPE ${name} `, 'm'));
    }
  });

  it('labels requests by route template and status, never by raw path', async () => {
    await request(t.url).post('/set').set(json).send('{"key":"a/b c","value":1}').expect(200);
    await request(t.url).get('/get/a%2Fb%20c').expect(200);
    await request(t.url).get('/get/missing').expect(404);
    await request(t.url).get('/no/such/path').expect(404);
    const { samples: s, text } = await scrape();
    expect(s.get('http_requests_total{method="POST",route="/set",status_code="200"}')).toBe(1);
    expect(s.get('http_requests_total{method="GET",route="/get/:key",status_code="200"}')).toBe(1);
    expect(s.get('http_requests_total{method="GET",route="/get/:key",status_code="404"}')).toBe(1);
    expect(s.get('http_requests_total{method="GET",route="unmatched",status_code="404"}')).toBe(1);
    expect(s.get('http_request_duration_seconds_count{method="GET",route="/get/:key",status_code="200"}')).toBe(1);
    expect(text).not.toContain('missing');
    expect(text).not.toContain('no/such');
  });

  it('computes kv_keys at scrape time and never puts it in a label', async () => {
    await request(t.url).post('/set').set(json).send('{"a":1,"b":2,"c":3}').expect(200);
    expect((await scrape()).samples.get('kv_keys')).toBe(3);
    await request(t.url).delete('/keys/a').expect(204);
    const { samples: s, text } = await scrape();
    expect(s.get('kv_keys')).toBe(2);
    expect(text).not.toMatch(/keys="/);
  });

  it('counts events by type, open watch streams, and store operations by driver', async () => {
    const stream = await openSse(`${t.url}/watch`);
    await request(t.url).post('/set').set(json).send('{"a":1,"b":2}').expect(200);
    await request(t.url).delete('/keys/a').expect(204);
    const { samples: s } = await scrape();
    expect(s.get('kv_events_total{type="put"}')).toBe(2);
    expect(s.get('kv_events_total{type="delete"}')).toBe(1);
    expect(s.get('kv_watch_streams')).toBe(1);
    expect(s.get('kv_store_operation_duration_seconds_count{operation="set",driver="memory"}')).toBe(1);
    expect(s.get('kv_store_operation_duration_seconds_count{operation="delete",driver="memory"}')).toBe(1);
    stream.close();
  });

  it('keeps the number of series bounded after 10000 requests to random paths and keys', async () => {
    const seriesCount = async () => [...(await scrape()).samples.keys()].filter((k) => k.startsWith('http_')).length;
    const agent = request.agent(t.url);
    const random = () => Math.random().toString(36).slice(2);
    const batches = 100;
    for (let b = 0; b < batches; b++) {
      await Promise.all(
        Array.from({ length: 100 }, (_, i) =>
          i % 3 === 0 ? agent.get(`/get/${random()}`) : i % 3 === 1 ? agent.get(`/${random()}/${random()}`) : agent.get(`/keys/${random()}`),
        ),
      );
      if (b === 9) expect(await seriesCount()).toBeGreaterThan(0);
    }
    const afterOneThousand = await seriesCount();
    // ten times more requests later: not one more series than the route templates and statuses allow
    expect(await seriesCount()).toBeLessThanOrEqual(afterOneThousand + 20);
    expect(await seriesCount()).toBeLessThan(200);
  }, 60_000);
});
