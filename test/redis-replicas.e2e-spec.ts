import request from 'supertest';
import { openSse, type SseClient } from './helpers/sse-client';
import { until } from './helpers/until';
import { type RedisServer, startRedisServer, uniquePrefix } from './helpers/redis-server';
import type { Redis } from 'ioredis';
import type { WatchSink } from '../src/store/change-feed';
import { RedisChangeFeed } from '../src/store/redis/redis-change.feed';
import type { RedisKeyspace } from '../src/store/redis/redis.keyspace';
import { redisSubject } from './helpers/redis-store';
import { startTestApp, type TestApp } from './helpers/test-app';

/** Two replicas of the service on one Redis: one keyspace, one change feed. */
describe('redis driver: replicas share one keyspace', () => {
  let redis: RedisServer;
  let a: TestApp;
  let b: TestApp;
  const clients: SseClient[] = [];
  const json = { 'Content-Type': 'application/json' };

  beforeAll(async () => {
    redis = await startRedisServer();
  });
  afterAll(() => redis.stop());

  beforeEach(async () => {
    const env = { STORE_DRIVER: 'redis', REDIS_URL: redis.url, REDIS_KEY_PREFIX: uniquePrefix(), KV_EXPIRY_SWEEP_INTERVAL_MS: '50' };
    a = await startTestApp(env);
    b = await startTestApp(env);
  });
  afterEach(async () => {
    clients.splice(0).forEach((c) => c.close());
    await a.close();
    await b.close();
  });

  const watch = async (app: TestApp, query = '', headers: Record<string, string> = {}) => {
    const c = await openSse(`${app.url}/watch${query}`, headers);
    clients.push(c);
    return c;
  };

  it('reads, lists and searches on B what was written on A', async () => {
    await request(a.url).post('/set').set(json).send('{"abc-1":1,"abc-2":2,"xyz-1":"three"}').expect(200);
    expect((await request(b.url).get('/get/abc-2')).body).toEqual({ key: 'abc-2', value: 2 });
    expect((await request(b.url).get('/search?suffix=-1')).body).toEqual(['abc-1', 'xyz-1']);
    expect((await request(b.url).get('/')).text).toBe('{"abc-1":1,"abc-2":2,"xyz-1":"three"}');
    await request(b.url).delete('/keys/abc-1').expect(204);
    expect((await request(a.url).get('/get/abc-1')).status).toBe(404);
  });

  it('streams A\'s writes to watchers on B, and resumes on B from an id received on A', async () => {
    const onB = await watch(b);
    const onA = await watch(a);
    for (let i = 0; i < 5; i++) await request(a.url).put(`/keys/k${i}`).set(json).send(JSON.stringify({ value: i })).expect(201);
    await onB.waitFor(() => onB.events().length === 5);
    await onA.waitFor(() => onA.events().length === 5);
    const ks = onB.events()[0].data.keyspace as string;
    expect(onB.events().map((e) => e.id)).toEqual([1, 2, 3, 4, 5].map((r) => `${ks}:${r}`));
    const lastOnA = onA.events()[2].id; // pretend the client dropped after revision 3 on A
    onA.close();
    const resumed = await watch(b, '', { 'Last-Event-ID': lastOnA });
    await request(a.url).put('/keys/k5').set(json).send('{"value":5}').expect(201);
    await resumed.waitFor(() => resumed.events().length === 3);
    expect(resumed.events().map((e) => e.id)).toEqual([4, 5, 6].map((r) => `${ks}:${r}`));
  });

  it('lets exactly one of two replicas win a create-only race on one key', async () => {
    for (let round = 0; round < 20; round++) {
      const body = JSON.stringify({ [`race-${round}`]: round });
      const [ra, rb] = await Promise.all([
        request(a.url).post('/set?nx=true').set(json).send(body),
        request(b.url).post('/set?nx=true').set(json).send(body),
      ]);
      expect([ra.status, rb.status].sort()).toEqual([200, 409]);
    }
  });

  it('expires each key exactly once although both replicas sweep', async () => {
    const onA = await watch(a);
    await request(a.url).post('/set?ttl=1').set(json).send(JSON.stringify(Object.fromEntries(Array.from({ length: 50 }, (_, i) => [`t${i}`, i])))).expect(200);
    await onA.waitFor(() => onA.events().filter((e) => e.event === 'expire').length === 50, 5000);
    await new Promise((r) => setTimeout(r, 300));
    const expired = onA.events().filter((e) => e.event === 'expire').map((e) => e.data.key);
    expect(expired).toHaveLength(50);
    expect(new Set(expired).size).toBe(50);
    expect(onA.events().filter((e) => e.event === 'expire').every((e) => e.data.prevValue !== undefined)).toBe(true);
  });
});

describe('redis driver: outage', () => {
  let redis: RedisServer;
  let t: TestApp;

  beforeAll(async () => {
    redis = await startRedisServer();
    t = await startTestApp({ STORE_DRIVER: 'redis', REDIS_URL: redis.url, REDIS_KEY_PREFIX: uniquePrefix(), HEALTH_STORE_TIMEOUT_MS: '500' });
  });
  afterAll(async () => {
    await t.close();
    await redis.stop();
  });

  it('fails fast with 503 "store unavailable" while Redis is down, and recovers by itself', async () => {
    await request(t.url).put('/keys/a').set('Content-Type', 'application/json').send('{"value":1}').expect(201);
    await redis.stop();
    const started = Date.now();
    const res = await request(t.url).get('/get/a');
    expect(res.status).toBe(503);
    expect(res.body).toMatchObject({ status: 'error', statusCode: 503, message: 'store unavailable' });
    expect(Date.now() - started).toBeLessThan(2500);
    expect((await request(t.url).post('/set').set('Content-Type', 'application/json').send('{"b":1}')).status).toBe(503);
    expect((await request(t.url).get('/health/ready')).status).toBe(503);
    expect((await request(t.url).get('/health/live')).status).toBe(200);

    await redis.restart();
    let status = 0;
    await until(async () => (status = (await request(t.url).get('/health/ready')).status) === 200, 15_000, 200);
    expect(status).toBe(200);
    // The restarted Redis kept nothing (no persistence in tests): the keyspace works again from empty.
    await request(t.url).put('/keys/c').set('Content-Type', 'application/json').send('{"value":3}').expect(201);
    expect((await request(t.url).get('/get/c')).body).toEqual({ key: 'c', value: 3 });
  }, 30_000);
});

/** The keyspace another replica began in the tests below. */
const NEW_KEYSPACE = 'bbbbbbbbbbbb';

/**
 * Redis lost its data, and a replica that had seen only revision `base` began NEW_KEYSPACE there and wrote `base + 1`
 * to `last` (none when `last` is `base`), all in one step.
 */
async function loseDataToNewKeyspace(client: Redis, names: RedisKeyspace, base: number, last: number): Promise<void> {
  const multi = client.multi().del(names.feed).hset(names.keyspace, 'id', NEW_KEYSPACE, 'base', String(base), 'reason', 'data_lost');
  for (let r = base + 1; r <= last; r++) {
    multi.xadd(names.feed, `${r}-0`, 't', 'put', 'k', `n${r}`, 'v', String(r), 'm', String(Date.now()), 'n', String(r), 'ks', NEW_KEYSPACE, 's', '10');
  }
  await multi.exec();
}

/** Holds the feed reader's reads from stream id `from` (the read after that revision) until the returned function runs. */
function holdReadsFrom(reader: Redis, from: string): () => void {
  const xread = reader.xread.bind(reader) as (...args: unknown[]) => Promise<unknown>;
  let release = () => undefined as void;
  const gate = new Promise<void>((resolve) => (release = resolve));
  jest.spyOn(reader, 'xread').mockImplementation((async (...args: unknown[]) => {
    if (args[args.length - 1] === from) await gate;
    return xread(...args);
  }) as never);
  return release;
}

/** A sink recording `old:N` and `new:N` events, and `reset:old|new:N`, with `ks` the old keyspace. */
function recordAcross(ks: string, into: string[]): WatchSink {
  const side = (keyspace: string) => (keyspace === ks ? 'old' : 'new');
  return {
    events: (b) => into.push(...b.map((e) => `${side(e.keyspace)}:${e.revision}`)),
    reset: (p) => into.push(`reset:${side(p.keyspace)}:${p.revision}`),
  };
}

describe('redis change feed: replay racing the reader loop', () => {
  let redis: RedisServer;
  beforeAll(async () => {
    redis = await startRedisServer();
  });
  afterAll(() => redis.stop());

  it('answers a broad suffix by walking forward a page at a time, and a narrow one from the suffix index', async () => {
    const { store, names: keyspace, clients, close } = await redisSubject(redis.url, {}, false);
    const client = clients[0];
    try {
      for (let i = 0; i < 3000; i += 1000) {
        await store.set(Array.from({ length: 1000 }, (_, j) => ({ key: `user:${i + j}:profile`, value: 1 })));
      }
      await store.set([{ key: 'user:7:avatar', value: 1 }]);
      const reads = jest.spyOn(client, 'zrangebylex');
      const broad = await store.listKeys({ suffix: ':profile', limit: 10 });
      expect(broad.keys).toHaveLength(10);
      const broadReads = reads.mock.calls.map((c) => [String(c[0]), Number(c[c.length - 1])]);
      expect(broadReads.every(([key]) => key === keyspace.index)).toBe(true);
      expect(broadReads.reduce((n, [, count]) => n + Number(count), 0)).toBeLessThan(100);
      reads.mockClear();
      expect((await store.listKeys({ suffix: ':avatar', limit: 10 })).keys).toEqual(['user:7:avatar']);
      expect(reads.mock.calls.map((c) => String(c[0]))).toEqual([keyspace.reversedIndex]);
    } finally {
      await close();
    }
  });

  it('resets the watches that read values when an entry of the stream cannot be read, and goes on', async () => {
    const { store, feed, names, clients, close } = await redisSubject(redis.url);
    const ks = store.keyspace.id;
    try {
      const read: number[] = [];
      const resets: number[] = [];
      const counted: [number, boolean][] = [];
      feed.watch(null, { events: (b) => read.push(...b.map((e) => e.revision)), reset: (position) => resets.push(position.revision) });
      feed.watch(null, { events: (b) => counted.push(...b.map((e): [number, boolean] => [e.revision, 'value' in e])), reset: () => undefined, readsValues: false });
      await store.set([{ key: 'k0', value: 0 }]);
      await until(() => counted.length === 1, 3000, 10);
      // Damage no write of ours makes: an entry whose value is not JSON, at the next revision.
      const revision = await clients[0].incr(names.revision);
      await clients[0].xadd(names.feed, `${revision}-0`, 't', 'put', 'k', 'broken', 'm', String(Date.now()), 'n', String(revision), 'ks', ks, 's', '140', 'v', '{not json');
      await store.set([{ key: 'k1', value: 1 }]);
      await until(() => counted.length === 3, 3000, 10);
      await until(() => read.includes(3), 3000, 10);
      expect(read).toEqual([1, 3]);
      expect(resets).toEqual([2]);
      // The sink that reads no values gets every event, the damaged one too (without its value; the others carry
      // theirs, parsed for the sink that reads them).
      expect(counted).toEqual([
        [1, true],
        [2, false],
        [3, true],
      ]);

      // A watch resuming before the damage replays up to it, then starts again from a reset.
      const replayed: number[] = [];
      const replayResets: number[] = [];
      feed.watch({ keyspace: ks, revision: 0 }, { events: (b) => replayed.push(...b.map((e) => e.revision)), reset: (position) => replayResets.push(position.revision) });
      await until(() => replayResets.length === 1, 3000, 10);
      expect(replayed).toEqual([1]);
      expect(replayResets).toEqual([3]);
    } finally {
      await close();
    }
  });

  it('places watches started before its reader first stood at the stream\'s end: a write in between is never missed silently', async () => {
    // The reader is not started: these watches begin while it does not know where the stream ends.
    const { store, feed, close } = await redisSubject(redis.url, {}, false);
    const ks = store.keyspace.id;
    try {
      await store.set([{ key: 'k0', value: 0 }]);
      const fromNow: number[] = [];
      const resumed: number[] = [];
      const resets: [string, number][] = [];
      const now = feed.watch(null, { events: (b) => fromNow.push(...b.map((e) => e.revision)), reset: (p) => resets.push(['now', p.revision]) });
      feed.watch({ keyspace: ks, revision: 0 }, { events: (b) => resumed.push(...b.map((e) => e.revision)), reset: (p) => resets.push(['resumed', p.revision]) });
      feed.watch(null, { events: () => resets.push(['stopped', -1]), reset: () => resets.push(['stopped', -1]) }).stop();
      // Told revision 0 (nothing newer is known yet), so not live: its progress is not the feed's.
      expect(now.live).toBe(false);
      expect(feed.watchers).toBe(2);
      // Written after the watches began, before the reader looked.
      await store.set([{ key: 'k1', value: 1 }]);
      feed.start();
      await feed.following;
      await store.set([{ key: 'k2', value: 2 }]);
      await until(() => fromNow.includes(3) && resumed.includes(3), 3000, 10);
      // The watch from now was told revision 0 but begins at 2: it is reset to 2, never silently short of 1 and 2.
      expect(resets).toEqual([['now', 2]]);
      expect(fromNow).toEqual([3]);
      // The resuming watch replays what it asked for.
      expect(resumed).toEqual([1, 2, 3]);
      expect(now.live).toBe(true);
      expect(feed.watchers).toBe(2);
    } finally {
      await close();
    }

    // On an empty stream, the position a watch from now was told is where the reader stands: no reset.
    const quiet = await redisSubject(redis.url, {}, false);
    try {
      const seen: number[] = [];
      const resets: number[] = [];
      quiet.feed.watch(null, { events: (b) => seen.push(...b.map((e) => e.revision)), reset: (p) => resets.push(p.revision) });
      quiet.feed.start();
      await quiet.feed.following;
      await quiet.store.set([{ key: 'k0', value: 0 }]);
      await until(() => seen.length === 1, 3000, 10);
      expect(seen).toEqual([1]);
      expect(resets).toEqual([]);
    } finally {
      await quiet.close();
    }
  });

  it('reads on from where it stood after a failed read of a stream that was empty when it started: nothing skipped', async () => {
    const subject = await redisSubject(redis.url, {}, false);
    // With REDIS_MIN_REPLICA_ACKS, events wait for replicas: here the first wait fails once (replicas too slow).
    let failures = 0;
    const feed = new RedisChangeFeed(subject.clients[1], subject.clients[2], subject.names, subject.view, () => subject.store.settleKeyspace(), 100, async () => {
      if (failures-- > 0) throw new Error('replicas did not acknowledge in time');
    });
    try {
      feed.start();
      await feed.following;
      const seen: number[] = [];
      const resets: number[] = [];
      feed.watch(null, { events: (b) => seen.push(...b.map((e) => e.revision)), reset: (p) => resets.push(p.revision) });
      failures = 1;
      await subject.store.set([{ key: 'k0', value: 0 }]);
      await subject.store.set([{ key: 'k1', value: 1 }]);
      await until(() => failures < 0 && seen.length >= 2, 5000, 10);
      expect(seen).toEqual([1, 2]);
      expect(resets).toEqual([]);
    } finally {
      await feed.close();
      await subject.close();
    }
  });

  it('follows a new keyspace from its base, for live and resumed watches, when another replica began it below what this one read', async () => {
    const { store, feed, names, clients, close } = await redisSubject(redis.url);
    const ks = store.keyspace.id;
    try {
      const fromNow: string[] = [];
      const resumed: string[] = [];
      feed.watch(null, recordAcross(ks, fromNow));
      for (let i = 1; i <= 5; i++) await store.set([{ key: `k${i}`, value: i }]);
      await until(() => fromNow.length === 5, 3000, 10);
      // Resumed from 3: it replays 4 and 5 itself, ahead of nothing, and goes live.
      const watch = feed.watch({ keyspace: ks, revision: 3 }, recordAcross(ks, resumed));
      await until(() => watch.live && resumed.length === 2, 3000, 10);

      // A replica that had seen only revision 2 began a new keyspace and wrote 3 to 6.
      await loseDataToNewKeyspace(clients[0], names, 2, 6);
      await until(() => fromNow.includes('new:6') && resumed.includes('new:6'), 3000, 10);
      const after = ['reset:new:2', 'new:3', 'new:4', 'new:5', 'new:6'];
      expect(fromNow).toEqual(['old:1', 'old:2', 'old:3', 'old:4', 'old:5', ...after]);
      expect(resumed).toEqual(['old:4', 'old:5', ...after]);
    } finally {
      await close();
    }
  });

  it('is not live, for progress ids, while its replay has read ahead of this replica\'s reader; each event once', async () => {
    const { store, feed, clients, close } = await redisSubject(redis.url);
    const ks = store.keyspace.id;
    // The reader's read after revision 2 waits: this replica's reader lags.
    const release = holdReadsFrom(clients[1], '2-0');
    try {
      await store.set([{ key: 'k1', value: 1 }]);
      await until(() => feed.position.revision === 1, 3000, 10);
      await store.set([{ key: 'k2', value: 2 }]);
      await until(() => feed.position.revision === 2, 3000, 10);
      await store.set([{ key: 'k3', value: 3 }]);
      await store.set([{ key: 'k4', value: 4 }]);
      const seen: number[] = [];
      // Resumed from 0: the replay reads slices of growing count (1, then 2), so its second one reaches 3, past the
      // reader's 2, and it ends there.
      const watch = feed.watch({ keyspace: ks, revision: 0 }, { events: (b) => seen.push(...b.map((e) => e.revision)), reset: () => seen.push(-1) });
      await until(() => seen.length === 3, 3000, 10);
      expect(seen).toEqual([1, 2, 3]);
      expect(feed.position.revision).toBe(2);
      // A progress id now would be 2, behind the 3 the client has: a reconnect would get 3 twice.
      expect(watch.live).toBe(false);
      release();
      await until(() => feed.position.revision === 4, 3000, 10);
      expect(watch.live).toBe(true);
      await store.set([{ key: 'k5', value: 5 }]);
      await until(() => seen.includes(5), 3000, 10);
      expect(seen).toEqual([1, 2, 3, 4, 5]);
    } finally {
      release();
      jest.restoreAllMocks();
      await close();
    }
  });

  it('reads a new keyspace the store learned of while the reader waited on the old one from its base', async () => {
    const { store, feed, names, clients, close } = await redisSubject(redis.url);
    const ks = store.keyspace.id;
    // The reader's read after revision 5 waits until released.
    const release = holdReadsFrom(clients[1], '5-0');
    try {
      const seen: string[] = [];
      feed.watch(null, recordAcross(ks, seen));
      for (let i = 1; i <= 5; i++) await store.set([{ key: `k${i}`, value: i }]);
      await until(() => seen.length === 5, 3000, 10);
      // A replica that had seen only revision 2 began a new keyspace and wrote 3 to 6.
      await loseDataToNewKeyspace(clients[0], names, 2, 6);
      // This replica's store learns of it first (a read names the keyspace), while the reader waits on revision 5.
      await store.get('n3');
      expect(seen).toEqual(['old:1', 'old:2', 'old:3', 'old:4', 'old:5', 'reset:new:2']);
      release();
      await until(() => seen.includes('new:6'), 3000, 10);
      expect(seen.slice(5)).toEqual(['reset:new:2', 'new:3', 'new:4', 'new:5', 'new:6']);
    } finally {
      release();
      jest.restoreAllMocks();
      await close();
    }
  });

  it('ends a replay with a reset, not live, when the keyspace changed while it read a slice', async () => {
    const { store, feed, view, names, clients, close } = await redisSubject(redis.url);
    const ks = store.keyspace.id;
    const replayer = clients[2];
    const xrange = replayer.xrange.bind(replayer) as (...args: unknown[]) => Promise<unknown>;
    try {
      for (let i = 1; i <= 3; i++) await store.set([{ key: `k${i}`, value: i }]);
      await until(() => feed.position.revision === 3, 3000, 10);
      // The replay's slice read (its second XRANGE) comes back after Redis lost its data, a new keyspace began (from
      // 0, nothing written yet) and the store learned of it.
      let calls = 0;
      jest.spyOn(replayer, 'xrange').mockImplementation((async (...args: unknown[]) => {
        const reply = await xrange(...args);
        if (++calls !== 2) return reply;
        await loseDataToNewKeyspace(clients[0], names, 0, 0);
        view.observe(NEW_KEYSPACE, 0, 'data_lost');
        return [];
      }) as never);
      const events: number[] = [];
      const resets: string[] = [];
      const watch = feed.watch({ keyspace: ks, revision: 1 }, { events: (b) => events.push(...b.map((e) => e.revision)), reset: (p) => resets.push(`${p.keyspace}:${p.revision}`) });
      await until(() => calls >= 2 && watch.live, 3000, 10);
      expect(events).toEqual([]);
      expect(resets).toEqual([`${NEW_KEYSPACE}:0`]);
    } finally {
      jest.restoreAllMocks();
      await close();
    }
  });

  it('delivers an event once when the replay read it before this replica\'s reader loop did', async () => {
    const { store, feed, close } = await redisSubject(redis.url);
    const ks = store.keyspace.id;
    try {
      for (let i = 0; i < 3; i++) await store.set([{ key: `k${i}`, value: i }]);
      // Once the loop is at revision 3, watch(1) must replay (a watch from the current revision goes live directly).
      await until(() => feed.position.revision >= 3, 3000, 10);
      expect(feed.position.revision).toBe(3);
      const seen: number[] = [];
      feed.watch({ keyspace: ks, revision: 1 }, { events: (b) => seen.push(...b.map((e) => e.revision)), reset: () => undefined });
      await until(() => seen.includes(3), 3000, 10);
      // The loop, lagging behind the replay's XRANGE, now hands over revision 3 again, then 4.
      // (stream entries as XREAD returns them: id, then field names and values)
      const entry = (revision: number, key: string, value: number) => [`${revision}-0`, ['t', 'put', 'k', key, 'm', String(Date.now()), 'n', String(revision), 'ks', ks, 'v', String(value)]];
      const late = entry(3, 'k2', 2);
      const next = entry(4, 'k3', 3);
      (feed as unknown as { deliver(entries: unknown[]): void }).deliver([late]);
      (feed as unknown as { deliver(entries: unknown[]): void }).deliver([late, next]);
      expect(seen).toEqual([2, 3, 4]);
    } finally {
      await close();
    }
  });
});
