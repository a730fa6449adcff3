import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { type RedisServer, startRedisServer, uniquePrefix } from './helpers/redis-server';
import { startTestApp, type TestApp } from './helpers/test-app';
import { until } from './helpers/until';

/*
 * The metrics the dashboard and the alerts stand on that the server adds for them: kv_build_info, and
 * kv_store_up, which must read 0 in a store outage while the scrape itself still succeeds (a failed scrape
 * would only say "target down", and hide which part failed).
 */

const VERSION = (JSON.parse(readFileSync(join(__dirname, '..', 'package.json'), 'utf8')) as { version: string }).version;

/** The samples of one scrape, `name{labels}` to value, and its HTTP status. */
async function scrape(app: TestApp): Promise<{ status: number; samples: Map<string, number> }> {
  const res = await fetch(`${app.url}/metrics`, { signal: AbortSignal.timeout(10_000) });
  const samples = new Map<string, number>();
  for (const line of (await res.text()).split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const space = line.lastIndexOf(' ');
    samples.set(line.slice(0, space), Number(line.slice(space + 1)));
  }
  return { status: res.status, samples };
}

describe('kv_build_info and kv_store_up (e2e)', () => {
  let app: TestApp | undefined;
  let redis: RedisServer | undefined;
  afterEach(async () => {
    await app?.close();
    app = undefined;
    await redis?.stop();
    redis = undefined;
  });

  it('reports the version from package.json, the Node version and, without a build-info file, revision "unknown"', async () => {
    app = await startTestApp();
    const { samples } = await scrape(app);
    const info = [...samples].filter(([name]) => name.startsWith('kv_build_info{'));
    expect(info).toEqual([[`kv_build_info{version="${VERSION}",revision="unknown",node="${process.version}"}`, 1]]);
    expect(samples.get('kv_store_up')).toBe(1);
  });

  it('on Redis: kv_store_up is 0 while Redis is down, the scrape still answers 200 (kv_keys NaN), and 1 again once it is back', async () => {
    redis = await startRedisServer();
    app = await startTestApp({ STORE_DRIVER: 'redis', REDIS_URL: redis.url, REDIS_KEY_PREFIX: uniquePrefix(), HEALTH_STORE_TIMEOUT_MS: '500' });
    await fetch(`${app.url}/set`, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: '{"a":1,"b":2}' });
    const up = await scrape(app);
    expect({ status: up.status, up: up.samples.get('kv_store_up'), keys: up.samples.get('kv_keys') }).toEqual({ status: 200, up: 1, keys: 2 });

    await redis.stop();
    const started = Date.now();
    const down = await scrape(app);
    expect({ status: down.status, up: down.samples.get('kv_store_up'), keys: down.samples.get('kv_keys') }).toEqual({ status: 200, up: 0, keys: NaN });
    // Bounded by the store's command timeout (2 s by default), well inside a Prometheus scrape timeout.
    expect(Date.now() - started).toBeLessThan(8_000);

    await redis.restart();
    let back = down;
    await until(async () => (back = await scrape(app!)).samples.get('kv_store_up') === 1, 15_000, 200);
    expect({ status: back.status, up: back.samples.get('kv_store_up') }).toEqual({ status: 200, up: 1 });
  });
});
