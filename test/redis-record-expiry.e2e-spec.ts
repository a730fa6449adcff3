import { commandStats, startRedisServer, type RedisServer } from './helpers/redis-server';
import { redisSubject, type RedisSubject } from './helpers/redis-store';

/**
 * A record's expiry lives in two places on Redis: the record hash's native expiry (a safety net after
 * EXPIRY_GRACE_MS) and the expiry index the sweeper and count() read. A write without TTL must leave neither behind,
 * and the write script clears them only where one can be: checked here on a real redis-server, in Redis itself.
 */
describe('the Redis driver: record expiry across writes', () => {
  let redis: RedisServer;
  let s: RedisSubject;

  beforeAll(async () => {
    redis = await startRedisServer();
  });
  afterAll(() => redis.stop());
  beforeEach(async () => {
    s = await redisSubject(redis.url, {}, false);
  });
  afterEach(() => s.close());

  const client = () => s.clients[0];
  /** The record hash's native expiry in ms (-1: none, -2: no hash), and the key's score in the expiry index. */
  const expiryOf = async (key: string) => ({
    native: await client().pttl(s.names.record(key)),
    indexed: await client().zscore(s.names.expiries, key),
  });
  const expiryCommands = async () => {
    const stats = commandStats((await client().info('commandstats')) as string);
    return (stats.get('persist')?.calls ?? 0) + (stats.get('zrem')?.calls ?? 0);
  };

  it('clears both when a key with a TTL is written again without one', async () => {
    await s.store.set([{ key: 'a', value: 1 }], { ttlSeconds: 60 });
    const before = await expiryOf('a');
    expect(before.native).toBeGreaterThan(60_000);
    expect(Number(before.indexed)).toBeGreaterThan(Date.now());
    await s.store.set([{ key: 'a', value: 2 }]);
    expect(await expiryOf('a')).toEqual({ native: -1, indexed: null });
    expect(await s.store.count()).toBe(1);
  });

  it('clears both for a key named twice in a batch without TTL', async () => {
    await s.store.set([{ key: 'a', value: 1 }], { ttlSeconds: 60 });
    await s.store.set([
      { key: 'a', value: 2 },
      { key: 'a', value: 3 },
    ]);
    expect(await expiryOf('a')).toEqual({ native: -1, indexed: null });
    expect((await s.store.get('a'))?.value).toBe(3);
  });

  it('drops the index entry of a key whose hash Redis expired natively, when it is written again', async () => {
    await s.store.set([{ key: 'a', value: 1 }], { ttlSeconds: 60 });
    // What Redis leaves when no replica swept within the grace: the hash gone, the key still in both indexes, due.
    await client().del(s.names.record('a'));
    await client().zadd(s.names.expiries, Date.now() - 1000, 'a');
    expect(await s.store.count()).toBe(0);
    await s.store.set([{ key: 'a', value: 2 }]);
    expect(await expiryOf('a')).toEqual({ native: -1, indexed: null });
    expect(await s.store.count()).toBe(1);
    expect((await s.store.get('a'))?.value).toBe(2);
  });

  it('clears both by what the record says, when the key index was lost but the record was not', async () => {
    await s.store.set([{ key: 'a', value: 1 }], { ttlSeconds: 60 });
    // Damage that leaves the record hash and the expiry index: the key index gone (an eviction policy drops such keys).
    await client().del(s.names.index);
    await s.store.set([{ key: 'a', value: 2 }]);
    expect(await expiryOf('a')).toEqual({ native: -1, indexed: null });
    expect((await s.store.get('a'))?.expiresAt).toBeNull();
  });

  it('runs no expiry command for a write without TTL to a new key or to one without expiry', async () => {
    const before = await expiryCommands();
    await s.store.set([{ key: 'n', value: 1 }]);
    await s.store.set([{ key: 'n', value: 2 }]);
    await s.store.set([
      { key: 'm', value: 1 },
      { key: 'm', value: 2 },
      { key: 'n', value: 3 },
    ]);
    expect(await expiryCommands()).toBe(before);
    expect(await expiryOf('n')).toEqual({ native: -1, indexed: null });
    // A TTL given, then taken away, costs both commands once.
    await s.store.set([{ key: 'n', value: 4 }], { ttlSeconds: 60 });
    await s.store.set([{ key: 'n', value: 5 }]);
    expect(await expiryCommands()).toBe(before + 2);
  });
});
