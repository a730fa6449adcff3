import { Global, Inject, Logger, Module, type OnApplicationShutdown, type OnModuleInit } from '@nestjs/common';
import { ConfigService } from '@nestjs/config';
import { getToken } from '@willsoto/nestjs-prometheus';
import { Redis, type RedisOptions } from 'ioredis';
import type { Histogram } from 'prom-client';
import type { AppConfig } from '../config/app-config';
import { KV_STORE_OPERATION_DURATION } from '../metrics/metric-names';
import { ChangeFeed } from './change-feed';
import { InstrumentedStore, type OperationObserver } from './instrumented.store';
import { KeyValueStore } from './kv.store';
import { MemoryChangeFeed } from './memory-change.feed';
import { MemoryStore } from './memory.store';
import { MemorySnapshotService } from './memory-snapshot.service';
import { RedisChangeFeed } from './redis-change.feed';
import { RedisConnection } from './redis.connection';
import { RedisStore } from './redis.store';
import { SnapshotSections } from './snapshot-sections';

/** A store and the change feed its writes go to: the two are always of the same driver. */
interface StoreDriver {
  readonly store: KeyValueStore;
  readonly feed: ChangeFeed;
  /** The Redis driver's connection, for features that keep shared state beside the store's. */
  readonly redis: RedisConnection | null;
  /** The memory driver's snapshots, when SNAPSHOT_FILE is set. */
  readonly snapshots: MemorySnapshotService | null;
}

const STORE_DRIVER = Symbol('STORE_DRIVER');

/**
 * Logs a Redis connection's losses and recoveries once per transition (ioredis would otherwise print every
 * reconnection error to the console, outside the JSON logs).
 */
function watchConnection(client: Redis, name: string): Redis {
  const logger = new Logger('Redis');
  let down = false;
  client.on('error', (error: Error) => {
    if (down) return;
    down = true;
    logger.warn(`${name} connection lost: ${error.message}; reconnecting`);
  });
  client.on('ready', () => {
    if (!down) return;
    down = false;
    logger.log(`${name} connection restored`);
  });
  return client;
}

/**
 * Resolves once every client is connected, or after `timeoutMs` regardless: a Redis that is down at boot
 * must not stop the process (readiness reports it until it is reachable).
 */
function connected(clients: Redis[], timeoutMs: number): Promise<void> {
  const ready = clients.map((client) => (client.status === 'ready' ? Promise.resolve() : new Promise<void>((resolve) => client.once('ready', () => resolve()))));
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<void>((resolve) => (timer = setTimeout(resolve, timeoutMs)));
  return Promise.race([Promise.all(ready).then(() => undefined), timeout]).finally(() => clearTimeout(timer));
}

async function createDriver(config: AppConfig, observe: OperationObserver, sections: SnapshotSections): Promise<StoreDriver> {
  const history = config.getOrThrow('WATCH_HISTORY', { infer: true });
  const sweepIntervalMs = config.getOrThrow('KV_EXPIRY_SWEEP_INTERVAL_MS', { infer: true });
  switch (config.getOrThrow('STORE_DRIVER', { infer: true })) {
    case 'memory': {
      const feed = new MemoryChangeFeed(history);
      const store = new MemoryStore({ sweepIntervalMs }, feed);
      store.start();
      const file = config.getOrThrow('SNAPSHOT_FILE', { infer: true });
      const snapshots = file
        ? new MemorySnapshotService(store, sections, {
            file,
            intervalMs: config.getOrThrow('SNAPSHOT_INTERVAL_MS', { infer: true }),
            onCorrupt: config.getOrThrow('SNAPSHOT_ON_CORRUPT', { infer: true }),
          })
        : null;
      return { store: new InstrumentedStore(store, observe), feed, redis: null, snapshots };
    }
    case 'redis': {
      const prefix = config.getOrThrow('REDIS_KEY_PREFIX', { infer: true });
      const options: RedisOptions = {
        connectTimeout: config.getOrThrow('REDIS_CONNECT_TIMEOUT_MS', { infer: true }),
        commandTimeout: config.getOrThrow('REDIS_COMMAND_TIMEOUT_MS', { infer: true }),
        // Fail fast in an outage (503 at once) instead of queueing requests until Redis returns.
        enableOfflineQueue: false,
        maxRetriesPerRequest: 1,
        enableAutoPipelining: true,
      };
      const url = config.getOrThrow('REDIS_URL', { infer: true });
      const client = watchConnection(new Redis(url, options), 'store');
      // XREAD BLOCK holds its connection, so the feed reads on one of its own (and replays on another).
      const reader = watchConnection(new Redis(url, { ...options, commandTimeout: undefined }), 'feed reader');
      const replayer = watchConnection(new Redis(url, options), 'feed replay');
      await connected([client, reader, replayer], options.connectTimeout ?? 5000);
      const feed = new RedisChangeFeed(reader, replayer, `${prefix}feed`);
      feed.start();
      const store = new RedisStore(client, { prefix, history, sweepIntervalMs });
      store.start();
      return { store: new InstrumentedStore(store, observe), feed, redis: new RedisConnection(client, prefix), snapshots: null };
    }
  }
}

/**
 * Binds the KeyValueStore and ChangeFeed ports (and, for Redis, the RedisConnection) to the driver STORE_DRIVER names. Global, so every
 * feature module can inject the ports without importing this module. SnapshotSections is where features add their
 * own state to the memory driver's snapshots.
 */
@Global()
@Module({
  providers: [
    SnapshotSections,
    {
      provide: STORE_DRIVER,
      inject: [ConfigService, getToken(KV_STORE_OPERATION_DURATION), SnapshotSections],
      useFactory: (config: AppConfig, duration: Histogram<string>, sections: SnapshotSections): Promise<StoreDriver> =>
        createDriver(config, (operation, driver, seconds) => duration.observe({ operation, driver }, seconds), sections),
    },
    { provide: KeyValueStore, inject: [STORE_DRIVER], useFactory: (driver: StoreDriver) => driver.store },
    { provide: ChangeFeed, inject: [STORE_DRIVER], useFactory: (driver: StoreDriver) => driver.feed },
    { provide: RedisConnection, inject: [STORE_DRIVER], useFactory: (driver: StoreDriver) => driver.redis },
  ],
  exports: [KeyValueStore, ChangeFeed, RedisConnection, SnapshotSections],
})
export class StoreModule implements OnModuleInit, OnApplicationShutdown {
  constructor(@Inject(STORE_DRIVER) private readonly driver: StoreDriver) {}

  /**
   * Restores the snapshot before anything serves. Every provider exists by now, so every snapshot section is
   * registered; and a global module's init hooks run before those of the feature modules, so the webhook
   * dispatcher starts with the restored subscriptions. (A failure here rejects app.listen() with a one-line
   * SnapshotError, where a failing provider factory would have Nest print it with a stack.)
   */
  async onModuleInit(): Promise<void> {
    await this.driver.snapshots?.start();
  }

  /** Runs after the HTTP server has stopped, so no request sees a closed store and the last snapshot misses no write. */
  async onApplicationShutdown(): Promise<void> {
    try {
      await this.driver.snapshots?.stop();
    } finally {
      await this.driver.feed.close();
      await this.driver.store.close();
    }
  }
}
