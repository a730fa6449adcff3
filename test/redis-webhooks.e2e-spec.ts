import { Redis } from 'ioredis';
import request from 'supertest';
import { RedisDeliveryQueue, RedisWebhookQueues } from '../src/store/redis/redis-webhook.queues';
import { KeyValueStore } from '../src/store/kv.store';
import { RedisKeyspace } from '../src/store/redis/redis.keyspace';
import { WebhookQueues } from '../src/subscription/webhook-queues';
import { type RedisServer, startRedisServer, uniquePrefix } from './helpers/redis-server';
import { killIfRunning, type ServerProcess, startServerProcess } from './helpers/server-process';
import { startTestApp, type TestApp } from './helpers/test-app';
import { until } from './helpers/until';
import { settledSubscription, startWebhookReceiver, type WebhookReceiver } from './helpers/webhook-receiver';

/** Webhooks with several replicas on one Redis: shared subscriptions, each event sent by one replica. */
describe('redis driver: webhooks across replicas', () => {
  let redis: RedisServer;
  let receiver: WebhookReceiver;
  const apps: TestApp[] = [];
  let processReplica: ServerProcess | undefined;
  let env: Record<string, string>;
  const json = { 'Content-Type': 'application/json' };

  beforeAll(async () => {
    redis = await startRedisServer();
  });
  afterAll(() => redis.stop());

  beforeEach(async () => {
    receiver = await startWebhookReceiver();
    env = {
      STORE_DRIVER: 'redis',
      REDIS_URL: redis.url,
      REDIS_KEY_PREFIX: uniquePrefix(),
      WEBHOOK_ALLOWED_HOSTS: '127.0.0.1',
      WEBHOOK_RETRY_BASE_MS: '50',
      WEBHOOK_RETRY_MAX_MS: '200',
      WEBHOOK_MAX_ATTEMPTS: '1000',
    };
  });
  afterEach(async () => {
    await killIfRunning(processReplica);
    processReplica = undefined;
    for (const app of apps.splice(0)) await app.close();
    await receiver.close();
  });

  const replica = async (extra: Record<string, string> = {}) => {
    const app = await startTestApp({ ...env, ...extra });
    apps.push(app);
    return app;
  };
  const set = (url: string, pairs: Record<string, unknown>) => request(url).post('/set').set(json).send(JSON.stringify(pairs)).expect(200);
  const subscribe = async (url: string) => (await request(url).post('/subscriptions').set(json).send(JSON.stringify({ url: receiver.url })).expect(201)).body as { id: string };
  const leaseHolder = async (id: string) => {
    const client = new Redis(redis.url);
    try {
      return await client.get(new RedisKeyspace(env.REDIS_KEY_PREFIX).webhookLease(id));
    } finally {
      client.disconnect();
    }
  };
  const ownerOf = (app: TestApp) => (app.app.get(WebhookQueues) as RedisWebhookQueues).owner;

  /** Appends revisions from..to to the feed as the store's scripts write them (in keyspace ks1, or ks2 from `ks2From` on). */
  const appendFeed = async (other: Redis, names: RedisKeyspace, from: number, to: number, ks2From = Infinity) => {
    for (let r = from; r <= to; r++) {
      await other.xadd(names.feed, `${r}-0`, 't', 'put', 'k', `k${r}`, 'v', String(r), 'm', Date.now(), 'n', r, 'ks', r < ks2From ? 'ks1' : 'ks2', 's', 10, 'c', r * 10);
    }
  };

  /**
   * The delivery queue of a subscription s1, driven directly on `client` (the queues' scripts defined on it, as the
   * driver does): a feed of revisions 1..n, the group created at `from`, the lease held by this replica ('owner').
   */
  /**
   * A client whose commands fail rather than wait (no offline queue, no retries, 300 ms timeout), once connected, for
   * the queue under test; and a plain one, to set up and inspect Redis around it.
   */
  const lossyPair = async () => {
    const client = new Redis(redis.url, { enableOfflineQueue: false, maxRetriesPerRequest: 0, commandTimeout: 300 });
    const other = new Redis(redis.url);
    await new Promise((ready) => client.once('ready', ready));
    return { client, other };
  };
  const directQueue = async (client: Redis, other: Redis, { n, from = 0, ks2From = Infinity, onLost = () => undefined }: { n: number; from?: number; ks2From?: number; onLost?: () => void }) => {
    const names = new RedisKeyspace(uniquePrefix());
    const options = { leaseMs: 60_000, history: 100, historyBytes: 1 << 20 };
    new RedisWebhookQueues(client, names, null as never, null as never, () => undefined, options);
    await appendFeed(other, names, 1, n, ks2From);
    const group = names.webhookGroup('s1');
    await other.xgroup('CREATE', names.feed, group, `${from}-0`);
    await other.set(names.webhookLease('s1'), 'owner');
    const announced = ks2From === Infinity ? { keyspace: 'ks1', revision: 100, base: 0 } : { keyspace: 'ks2', revision: 100, base: ks2From - 1 };
    const subscription = { id: 's1', url: receiver.url, filter: {}, secret: 'x', createdAt: new Date().toISOString(), startRevision: 0 };
    const queue = new RedisDeliveryQueue(client as ConstructorParameters<typeof RedisDeliveryQueue>[0], names, subscription, 'owner', options, () => undefined, () => announced, onLost);
    return { names, group, queue };
  };

  it('posts each event once, in order, whichever replica took the write, and hands over at once on shutdown', async () => {
    // A long lease: only the hand-over at shutdown can explain a quick takeover.
    const a = await replica({ WEBHOOK_LEASE_MS: '60000' });
    const b = await replica({ WEBHOOK_LEASE_MS: '60000' });
    const sub = await subscribe(a.url);
    expect((await request(b.url).get('/subscriptions').expect(200)).body.map((s: { id: string }) => s.id)).toEqual([sub.id]);
    await until(async () => (await leaseHolder(sub.id)) === ownerOf(a), 5000, 20);
    for (let i = 0; i < 30; i++) await set(i % 2 === 0 ? a.url : b.url, { [`k${i}`]: i });
    await receiver.waitFor((r) => r.length === 30, 10_000);
    await new Promise((r) => setTimeout(r, 300)); // room for any duplicate to show up
    expect(receiver.received.map((h) => h.body.revision)).toEqual(Array.from({ length: 30 }, (_, i) => i + 1));
    const onB = await settledSubscription(b.url, sub.id);
    expect(onB).toMatchObject({ lastDeliveredRevision: 30, pending: 0, consecutiveFailures: 0, deadLettered: 0 });

    await a.close();
    apps.splice(apps.indexOf(a), 1);
    const closedAt = Date.now();
    await set(b.url, { after: 1 });
    await receiver.waitFor((r) => r.length === 31, 10_000);
    expect(Date.now() - closedAt).toBeLessThan(10_000);
    expect(receiver.received[30].body).toMatchObject({ key: 'after', revision: 31 });
    expect(await leaseHolder(sub.id)).toBe(ownerOf(b));
  });

  it('delivers the events a killed replica left undelivered, from another replica, in order', async () => {
    const lease = { WEBHOOK_LEASE_MS: '1000' };
    processReplica = await startServerProcess({ ...env, ...lease, LOG_LEVEL: 'warn' });
    const status: number[] = [];
    let up = false;
    receiver.reply = (_hook, index) => ({ status: (status[index] = up ? 200 : 503) });
    const sub = await subscribe(processReplica.url);
    for (let i = 1; i <= 5; i++) await set(processReplica.url, { [`k${i}`]: i });
    // The process replica holds the subscription and keeps retrying revision 1.
    await receiver.waitFor((r) => r.length >= 3, 10_000);
    const deliveryId = receiver.received[0].headers['x-kv-delivery'];
    const b = await replica(lease);
    await new Promise((r) => setTimeout(r, 1500)); // B tries for the lease meanwhile and must not get it
    expect(await leaseHolder(sub.id)).not.toBe(ownerOf(b));

    processReplica.child.kill('SIGKILL');
    await processReplica.exited;
    up = true;
    const delivered = () => receiver.received.filter((_h, i) => status[i] === 200);
    await until(() => delivered().length >= 5, 15_000, 50);
    expect(delivered().map((h) => h.body.key)).toEqual(['k1', 'k2', 'k3', 'k4', 'k5']);
    expect(delivered()[0].headers['x-kv-delivery']).toBe(deliveryId);
    expect(await leaseHolder(sub.id)).toBe(ownerOf(b));
    const state = await settledSubscription(b.url, sub.id);
    expect(state).toMatchObject({ lastDeliveredRevision: 5, pending: 0, consecutiveFailures: 0, lastError: 'HTTP 503', deadLettered: 0 });
  });

  it('entries a lost read moved the group past (Redis restarting, failing over) are delivered, not dead-lettered as a gap', async () => {
    const { client, other } = await lossyPair();
    try {
      let lost = false;
      const { names, group, queue } = await directQueue(client, other, { n: 10, onLost: () => (lost = true) });
      const delivered: number[] = [];
      const deliverNext = async () => {
        const next = await queue.head();
        if (next === null) throw new Error('nothing to deliver');
        delivered.push(next.event.revision);
        await queue.delivered(next);
      };
      for (let i = 0; i < 4; i++) await deliverNext(); // the first read took 1-4

      // A read of this consumer whose reply never arrived: Redis moved 5-7 into its pending list.
      await other.xreadgroup('GROUP', group, 'owner', 'COUNT', 3, 'STREAMS', names.feed, '>');
      redis.pause();
      try {
        await expect(queue.head()).rejects.toThrow();
      } finally {
        redis.resume();
      }
      for (let i = 0; i < 6; i++) await deliverNext();
      expect(delivered).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);

      // The group moved past 11-13 for a consumer this lane never heard of (a read replicated by a primary that then
      // died with its reply): the stream still has them, so they are read again, not called trimmed.
      await appendFeed(other, names, 11, 20);
      await other.xreadgroup('GROUP', group, 'elsewhere', 'COUNT', 3, 'STREAMS', names.feed, '>');
      for (let i = 0; i < 10; i++) await deliverNext();
      expect(delivered.slice(10)).toEqual([11, 12, 13, 14, 15, 16, 17, 18, 19, 20]);
      expect(await other.hget(names.webhookState('s1'), 'dead')).toBeNull();
      expect(lost).toBe(false);
    } finally {
      client.disconnect();
      other.disconnect();
    }
  });

  it('settles again an event whose settling failed, before the next: never left pending behind later ones, never twice', async () => {
    const { client, other } = await lossyPair();
    try {
      let lost = false;
      const { names, group, queue } = await directQueue(client, other, { n: 4, onLost: () => (lost = true) });
      const head = async () => {
        const next = await queue.head();
        if (next === null) throw new Error('nothing to deliver');
        return next;
      };

      // A settling Redis applies but whose reply is lost: Redis is paused past the command timeout, then resumes.
      const first = await head();
      expect(first.event.revision).toBe(1);
      redis.pause();
      try {
        await expect(queue.deadLetter(first, 'gave up')).rejects.toThrow();
      } finally {
        redis.resume();
      }
      // A settling that never reaches Redis (its connection failed first).
      const second = await head();
      expect(second.event.revision).toBe(2);
      jest.spyOn(client, 'kvSettle' as never).mockRejectedValueOnce(new Error('Connection is closed.') as never);
      await expect(queue.delivered(second)).rejects.toThrow('Connection is closed.');
      // The next head settles revision 2 first: not sent again, not left pending.
      const third = await head();
      expect(third.event.revision).toBe(3);
      expect(await other.xpending(names.feed, group)).toEqual([2, '3-0', '4-0', [['owner', '2']]]);
      // A failed attempt whose settling fails too: the head read again keeps its count of attempts.
      third.attempts = 3;
      jest.spyOn(client, 'kvSettle' as never).mockRejectedValueOnce(new Error('Connection is closed.') as never);
      await expect(queue.failed(third, 'HTTP 500')).rejects.toThrow('Connection is closed.');
      const again = await head();
      expect([again.event.revision, again.attempts]).toEqual([3, 3]);
      await queue.delivered(again);
      await queue.delivered(await head());

      expect(await other.xpending(names.feed, group)).toEqual([0, null, null, null]);
      const state = await other.hgetall(names.webhookState('s1'));
      expect(state).toMatchObject({ delivered: '4', dead: '1', failures: '0' });
      // The dead letter of revision 1 is recorded once, although its settling ran twice.
      expect((await other.lrange(names.webhookDeadLetters('s1'), 0, -1)).map((json) => JSON.parse(json) as { revision: number })).toEqual([
        expect.objectContaining({ revision: 1, error: 'gave up' }),
      ]);

      // Settled again after the lease went to another replica: not applied, and nothing more is read for this one.
      await appendFeed(other, names, 5, 5);
      const fifth = await head();
      await appendFeed(other, names, 6, 6);
      jest.spyOn(client, 'kvSettle' as never).mockRejectedValueOnce(new Error('Connection is closed.') as never);
      await expect(queue.delivered(fifth)).rejects.toThrow('Connection is closed.');
      await other.set(names.webhookLease('s1'), 'another');
      expect(await queue.head()).toBeNull();
      expect(lost).toBe(true);
      // 5 stays pending for the next holder; 6 was not read by this one.
      expect(await other.xpending(names.feed, group)).toEqual([1, '5-0', '5-0', [['owner', '1']]]);
    } finally {
      client.disconnect();
      other.disconnect();
    }
  });

  it('records every gap whose recording failed, and takes back what a former holder read after the takeover began', async () => {
    const client = new Redis(redis.url);
    const other = new Redis(redis.url);
    /** The queue of `directQueue`, a way to deliver all it has, and its dead letters' ranges. */
    const setUp = async (n: number, from: number, ks2From = Infinity) => {
      const { names, group, queue } = await directQueue(client, other, { n, from, ks2From });
      const drain = async () => {
        const sent: number[] = [];
        for (let next = await queue.head(); next !== null; next = await queue.head()) {
          sent.push(next.event.revision);
          await queue.delivered(next);
        }
        return sent;
      };
      const deadLetters = async () => (await other.lrange(names.webhookDeadLetters('s1'), 0, -1)).map((json) => (JSON.parse(json) as { revision: number; error: string }).error.split(' left')[0]);
      return { names, group, queue, drain, deadLetters };
    };
    const failNextSettle = () => jest.spyOn(client, 'kvSettle' as never).mockRejectedValueOnce(new Error('Connection is closed.') as never);
    try {
      // The group falls behind a trimmed feed: recording the gap fails once, after the read that moved past it.
      const behind = await setUp(10, 0);
      await other.xtrim(behind.names.feed, 'MAXLEN', 5);
      failNextSettle();
      await expect(behind.queue.head()).rejects.toThrow('Connection is closed.');
      expect(await behind.drain()).toEqual([6, 7, 8, 9, 10]);
      expect(await behind.deadLetters()).toEqual(['revisions 1-5']);

      // A former holder's pending entries were trimmed: the first of their dead letters fails to be recorded.
      const left = await setUp(10, 0);
      await other.xreadgroup('GROUP', left.group, 'former', 'COUNT', 5, 'STREAMS', left.names.feed, '>');
      await other.xtrim(left.names.feed, 'MAXLEN', 7);
      failNextSettle();
      await expect(left.queue.head()).rejects.toThrow('Connection is closed.');
      expect(await left.drain()).toEqual([4, 5, 6, 7, 8, 9, 10]);
      expect(await left.deadLetters()).toEqual(['revision 1', 'revision 2', 'revision 3']);

      // The former holder (its lease lapsed while it was busy) reads 8-10 just as this one takes the entries it left.
      const stale = await setUp(12, 7);
      const xautoclaim = client.xautoclaim.bind(client) as (...args: unknown[]) => Promise<unknown>;
      jest.spyOn(client, 'xautoclaim').mockImplementationOnce((async (...args: unknown[]) => {
        const reply = await xautoclaim(...args);
        await other.xreadgroup('GROUP', stale.group, 'former', 'COUNT', 3, 'STREAMS', stale.names.feed, '>');
        return reply;
      }) as never);
      expect(await stale.drain()).toEqual([8, 9, 10, 11, 12]);
      expect(await stale.deadLetters()).toEqual([]);
      expect(await other.xpending(stale.names.feed, stale.group)).toEqual([0, null, null, null]);

      // The same when the group is at its start (no last-read entry says its keyspace): the entries the former holder
      // read, now claimed and delivered by this lane, are not read again.
      const fresh = await setUp(6, 0);
      jest.spyOn(client, 'xautoclaim').mockImplementationOnce((async (...args: unknown[]) => {
        await other.xreadgroup('GROUP', fresh.group, 'former', 'COUNT', 3, 'STREAMS', fresh.names.feed, '>');
        return xautoclaim(...args);
      }) as never);
      expect(await fresh.drain()).toEqual([1, 2, 3, 4, 5, 6]);
      expect(await other.xpending(fresh.names.feed, fresh.group)).toEqual([0, null, null, null]);

      // What the former holder read there spans a keyspace change (ks1 to 4, ks2 from 5): the group is in ks2 now, so
      // ks2 revisions trimmed after them (7 and 8) are a gap, not a keyspace's jump.
      const across = await setUp(10, 0, 5);
      await other.xdel(across.names.feed, '7-0', '8-0');
      jest.spyOn(client, 'xautoclaim').mockImplementationOnce((async (...args: unknown[]) => {
        await other.xreadgroup('GROUP', across.group, 'former', 'COUNT', 6, 'STREAMS', across.names.feed, '>');
        return xautoclaim(...args);
      }) as never);
      expect(await across.drain()).toEqual([1, 2, 3, 4, 5, 6, 9, 10]);
      expect(await across.deadLetters()).toEqual(['revisions 7-8']);
    } finally {
      client.disconnect();
      other.disconnect();
    }
  });

  it('dead-letters an event whose change feed entry cannot be read, and delivers the ones behind it', async () => {
    const a = await replica();
    const sub = await subscribe(a.url);
    await set(a.url, { k0: 0 });
    await receiver.waitFor((r) => r.length === 1, 10_000);
    // Damage no write of ours makes: an entry whose value is not JSON, at the next revision.
    const names = new RedisKeyspace(env.REDIS_KEY_PREFIX);
    const client = new Redis(redis.url);
    try {
      const revision = await client.incr(names.revision);
      const ks = a.app.get(KeyValueStore).keyspace.id;
      await client.xadd(names.feed, `${revision}-0`, 't', 'put', 'k', 'broken', 'm', String(Date.now()), 'n', String(revision), 'ks', ks, 's', '140', 'v', '{not json');
    } finally {
      client.disconnect();
    }
    // Dead-lettered without an attempt: nothing is counted against the receiver, and the metric shows it.
    const dead = await settledSubscription(a.url, sub.id, (state) => state.deadLettered === 1);
    expect(dead).toMatchObject({ lastDeliveredRevision: 1, pending: 0, consecutiveFailures: 0, lastError: null });
    const metrics = (await request(a.url).get('/metrics').expect(200)).text;
    expect(metrics).toContain('kv_webhook_deliveries_total{result="dead_lettered"} 1\n');
    expect(metrics).not.toContain('kv_webhook_deliveries_total{result="failed"}');
    await set(a.url, { k1: 1 });
    await receiver.waitFor((r) => r.length === 2, 10_000);
    expect(receiver.received.map((h) => [h.body.key, h.body.revision])).toEqual([
      ['k0', 1],
      ['k1', 3],
    ]);
    const state = await settledSubscription(a.url, sub.id);
    expect(state).toMatchObject({ lastDeliveredRevision: 3, pending: 0, deadLettered: 1 });
    expect(state.deadLetters).toEqual([
      { revision: 2, key: 'broken', attempts: 0, error: expect.stringMatching(/^its change feed entry 2-0 cannot be read \(.*JSON/), at: expect.any(String) },
    ]);
  });

  it('keeps subscriptions and their state when every replica restarts', async () => {
    const a = await replica();
    const sub = await subscribe(a.url);
    await set(a.url, { before: 1 });
    await receiver.waitFor((r) => r.length === 1);
    await a.close();
    apps.splice(0);
    const c = await replica();
    expect((await request(c.url).get(`/subscriptions/${sub.id}`).expect(200)).body).toMatchObject({ lastDeliveredRevision: 1, pending: 0 });
    await set(c.url, { after: 2 });
    await receiver.waitFor((r) => r.length === 2);
    expect(receiver.received.map((h) => h.body.key)).toEqual(['before', 'after']);
  });
});
