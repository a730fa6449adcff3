import { Redis } from 'ioredis';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { StoreUnavailableError, WriteOutcomeUnknownError } from '../src/common/errors/domain.errors';
import { RedisWriter } from '../src/store/redis/redis.writer';
import { type RedisServer, startRedisServer } from './helpers/redis-server';
import { until } from './helpers/until';

/**
 * RedisWriter against a real primary and replica: what REDIS_MIN_REPLICA_ACKS makes a success mean, group commits,
 * and the honest failure when the replica does not confirm.
 */
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
    return { shared, writer: new RedisWriter(shared, acks === 0 ? null : { connection: connect(primary.url), acks, timeoutMs }, '{t}barrier') };
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
});
