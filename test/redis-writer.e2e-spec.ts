import { Redis } from 'ioredis';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { StoreUnavailableError, WriteOutcomeUnknownError } from '../src/common/errors/domain.errors';
import { RedisWriter } from '../src/store/redis/redis.writer';
import { type RedisServer, startRedisServer, uniquePrefix } from './helpers/redis-server';
import { openSse, type SseClient } from './helpers/sse-client';
import { startTestApp } from './helpers/test-app';
import { startWebhookReceiver } from './helpers/webhook-receiver';
import { until } from './helpers/until';

/**
 * RedisWriter against a real primary and replica: what REDIS_MIN_REPLICA_ACKS makes a success mean, group commits,
 * and the honest failure when the replica does not confirm.
 */
const json = { 'Content-Type': 'application/json' };

describe('RedisWriter (REDIS_MIN_REPLICA_ACKS)', () => {
  let primary: RedisServer;
  let replica: RedisServer;
  let dir = '';
  const clients: Redis[] = [];
  const connect = (url: string) => {
    const client = new Redis(url, { maxRetriesPerRequest: 0 });
    clients.push(client);
    return client;
  };

  beforeAll(async () => {
    primary = await startRedisServer({ args: ['--repl-diskless-sync-delay', '0'] });
    // A replica writes the primary's snapshot to its directory on the first sync: a temporary one, not the repository.
    dir = mkdtempSync(join(tmpdir(), 'kv-writer-'));
    replica = await startRedisServer({ args: ['--replicaof', '127.0.0.1', String(primary.port), '--dir', dir] });
    const probe = connect(replica.url);
    await until(async () => (await probe.info('replication')).includes('master_link_status:up'), 15_000);
    expect(await probe.info('replication')).toContain('master_link_status:up');
    // Redis 7.0 replicas may take a second or two after the link is up before they acknowledge offsets.
    const onPrimary = connect(primary.url);
    await until(async () => (await onPrimary.set('{t}warm', '1'), (await onPrimary.wait(1, 100)) === 1), 15_000);
    expect(await onPrimary.wait(1, 1000)).toBe(1);
  });
  afterAll(async () => {
    clients.splice(0).forEach((c) => c.disconnect());
    await replica?.stop();
    await primary?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  const writer = (acks: number, timeoutMs = 500) => {
    const shared = connect(primary.url);
    return { shared, writer: new RedisWriter(shared, acks === 0 ? null : { connection: connect(primary.url), acks, timeoutMs, sendWithinMs: 5000 }, '{t}barrier') };
  };
  const waits = async (client: Redis) => Number(/cmdstat_wait:calls=(\d+)/.exec(await client.info('commandstats'))?.[1] ?? 0);

  it('answers a write once a replica has it, many concurrent writes sharing few WAITs', async () => {
    const { shared, writer: w } = writer(1);
    expect(w.waitsForReplicas).toBe(true);
    const before = await waits(shared);
    const replies = await Promise.all(Array.from({ length: 200 }, (_, i) => w.run('set', [`{t}k${i}`, String(i)])));
    expect(replies.every((r) => r === 'OK')).toBe(true);
    const used = (await waits(shared)) - before;
    expect(used).toBeGreaterThanOrEqual(1);
    expect(used).toBeLessThan(20);
    // Acknowledged means the replica has it.
    expect(await connect(replica.url).get('{t}k199')).toBe('199');
  });

  it('says "may have been applied" (504) when the replica does not confirm in time, though the primary applied it', async () => {
    const { shared, writer: w } = writer(1, 300);
    replica.pause();
    try {
      const started = Date.now();
      await expect(w.run('set', ['{t}paused', 'yes'])).rejects.toThrow(WriteOutcomeUnknownError);
      await expect(w.run('set', ['{t}paused2', 'yes'])).rejects.toThrow(/0 of 1 replicas had it after 300 ms: a failover may lose it/);
      expect(Date.now() - started).toBeLessThan(5000);
      await expect(w.barrier()).rejects.toThrow(WriteOutcomeUnknownError);
      expect(await shared.get('{t}paused')).toBe('yes');
    } finally {
      replica.resume();
    }
    await w.barrier();
    expect(await w.run('set', ['{t}resumed', 'yes'])).toBe('OK');
  });

  it('asks more replicas than there are: never a plain success', async () => {
    const { writer: w } = writer(2, 200);
    await expect(w.run('set', ['{t}two', 'x'])).rejects.toThrow(/1 of 2 replicas had it after 200 ms/);
  });

  it('a command Redis refuses wrote nothing (503), and does not fail the others of its group', async () => {
    const { shared, writer: w } = writer(1);
    await shared.set('{t}string', 'x');
    const [refused, fine] = await Promise.allSettled([w.run('lpush', ['{t}string', 'y']), w.run('set', ['{t}fine', '1'])]);
    expect(refused.status === 'rejected' && refused.reason).toBeInstanceOf(StoreUnavailableError);
    expect(fine).toEqual({ status: 'fulfilled', value: 'OK' });
  });

  it('with REDIS_MIN_REPLICA_ACKS=0 writes go out on the shared connection without WAIT', async () => {
    const { shared, writer: w } = writer(0);
    expect(w.waitsForReplicas).toBe(false);
    const before = await waits(shared);
    expect(await w.run('set', ['{t}async', '1'])).toBe('OK');
    await w.barrier();
    expect(await waits(shared)).toBe(before);
  });

  it('the service announces a change to watchers and webhooks only once a replica has it', async () => {
    const receiver = await startWebhookReceiver();
    const app = await startTestApp({
      STORE_DRIVER: 'redis',
      REDIS_URL: primary.url,
      REDIS_KEY_PREFIX: uniquePrefix(),
      REDIS_MIN_REPLICA_ACKS: '1',
      REDIS_REPLICA_ACK_TIMEOUT_MS: '300',
      WEBHOOK_ALLOWED_HOSTS: '127.0.0.1',
    });
    const watchers: SseClient[] = [];
    try {
      await fetch(`${app.url}/subscriptions`, { method: 'POST', headers: json, body: JSON.stringify({ url: receiver.url }) });
      const before = await fetch(`${app.url}/keys/before`, { method: 'PUT', headers: json, body: '{"value":0}' });
      expect(before.status).toBe(201);
      const since = (before.headers.get('etag') ?? '').replace(/"/g, '');
      const live = await openSse(`${app.url}/watch`);
      watchers.push(live);
      await receiver.waitFor((hooks) => hooks.length === 1, 10_000);

      replica.pause();
      try {
        const unconfirmed = await fetch(`${app.url}/keys/held`, { method: 'PUT', headers: json, body: '{"value":1}' });
        expect(unconfirmed.status).toBe(504);
        // Applied by the primary, not confirmed by the replica: nobody is told of it yet.
        const resumed = await openSse(`${app.url}/watch`, { 'Last-Event-ID': since });
        watchers.push(resumed);
        await new Promise((r) => setTimeout(r, 1500));
        for (const watcher of [live, resumed]) expect(watcher.events().filter((e) => e.data.key === 'held')).toEqual([]);
        expect(receiver.received.map((h) => h.body.key)).toEqual(['before']);
      } finally {
        replica.resume();
      }
      // Once the replica has it, each of them hears of it, once.
      for (const watcher of watchers) await watcher.waitFor(() => watcher.events().some((e) => e.data.key === 'held'), 10_000);
      await receiver.waitFor((hooks) => hooks.some((h) => h.body.key === 'held'), 10_000);
      await new Promise((r) => setTimeout(r, 300));
      for (const watcher of watchers) expect(watcher.events().filter((e) => e.data.key === 'held')).toHaveLength(1);
      expect(receiver.received.filter((h) => h.body.key === 'held')).toHaveLength(1);
    } finally {
      watchers.forEach((w) => w.close());
      await app.close();
      await receiver.close();
    }
  });
});
