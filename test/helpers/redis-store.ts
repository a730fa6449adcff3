import { Redis } from 'ioredis';
import { RedisChangeFeed } from '../../src/store/redis/redis-change.feed';
import { RedisKeyspaceView } from '../../src/store/redis/redis-keyspace.view';
import { RedisKeyspace } from '../../src/store/redis/redis.keyspace';
import { RedisStore } from '../../src/store/redis/redis.store';
import { RedisWriter } from '../../src/store/redis/redis.writer';
import { uniquePrefix } from './redis-server';

export interface RedisStoreOptionsForTest {
  readonly history?: number;
  readonly historyBytes?: number;
}

/** The Redis driver's store and feed, wired as its module wires them, on a keyspace of their own. */
export interface RedisSubject {
  readonly store: RedisStore;
  readonly feed: RedisChangeFeed;
  readonly names: RedisKeyspace;
  readonly view: RedisKeyspaceView;
  readonly clients: readonly Redis[];
  close(): Promise<void>;
}

/**
 * Connects to `url`, settles the keyspace and starts the feed's reader (unless `follow` is false), waiting until
 * it stands at the stream's end: a watch from now, started then, gets every write made after it.
 */
export async function redisSubject(url: string, { history = 100, historyBytes = 1 << 30 }: RedisStoreOptionsForTest = {}, follow = true): Promise<RedisSubject> {
  const names = new RedisKeyspace(uniquePrefix());
  const clients = [new Redis(url), new Redis(url), new Redis(url)];
  await Promise.all(clients.map((c) => c.ping()));
  const view = new RedisKeyspaceView();
  const store = new RedisStore(clients[0], new RedisWriter(clients[0], null, names.barrier), names, view, { history, historyBytes, sweepIntervalMs: 3_600_000 });
  await store.settleKeyspace();
  const feed = new RedisChangeFeed(clients[1], clients[2], names, view, () => store.settleKeyspace(), history);
  if (follow) {
    feed.start();
    await feed.following;
  }
  return {
    store,
    feed,
    names,
    view,
    clients,
    close: async () => {
      await feed.close();
      await store.close();
    },
  };
}
