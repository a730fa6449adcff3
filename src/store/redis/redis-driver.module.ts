import { type DynamicModule, Global, Logger, Module, type OnApplicationShutdown, type OnModuleInit } from '@nestjs/common';
import { getToken } from '@willsoto/nestjs-prometheus';
import type { Counter } from 'prom-client';
import { AppConfig } from '../../config/app-config';
import { KV_WEBHOOK_DELIVERIES_TOTAL } from '../../metrics/metric-names';
import { SubscriptionRepository } from '../../subscription/subscription.repository';
import { deliveryCounter, WebhookQueues } from '../../subscription/webhook-queues';
import { ChangeFeed } from '../change-feed';
import { instrumentedStoreProvider } from '../instrumented.store';
import type { KeyspaceChangeReason } from '../keyspace';
import { KeyspaceChanges } from '../keyspace-changes';
import { KeyValueStore } from '../kv.store';
import { RedisChangeFeed } from './redis-change.feed';
import { RedisKeyspaceView } from './redis-keyspace.view';
import { RedisSubscriptionRepository } from './redis-subscription.repository';
import { RedisWebhookQueues } from './redis-webhook.queues';
import { RedisConnections } from './redis.connection';
import { RedisKeyspace } from './redis.keyspace';
import { RedisStore } from './redis.store';
import { RedisWriter } from './redis.writer';

/**
 * The Redis driver: one shared, durable keyspace for every replica. The store, its change feed (a Redis Stream
 * every replica follows), webhook subscriptions, their queues (consumer groups on the feed) and delivery state
 * all live in Redis, under the key names of RedisKeyspace.
 */
@Global()
@Module({})
export class RedisDriverModule implements OnModuleInit, OnApplicationShutdown {
  static forRoot(): DynamicModule {
    return {
      module: RedisDriverModule,
      providers: [
        { provide: RedisConnections, inject: [AppConfig], useFactory: (config: AppConfig) => RedisConnections.open(config) },
        { provide: RedisKeyspace, inject: [AppConfig], useFactory: (config: AppConfig) => new RedisKeyspace(config.getOrThrow('REDIS_KEY_PREFIX', { infer: true })) },
        RedisKeyspaceView,
        KeyspaceChanges,
        {
          provide: RedisWriter,
          inject: [RedisConnections, RedisKeyspace, AppConfig],
          useFactory: (redis: RedisConnections, names: RedisKeyspace, config: AppConfig) =>
            new RedisWriter(
              redis.client,
              redis.writer === null
                ? null
                : {
                    connection: redis.writer,
                    acks: config.getOrThrow('REDIS_MIN_REPLICA_ACKS', { infer: true }),
                    timeoutMs: config.getOrThrow('REDIS_REPLICA_ACK_TIMEOUT_MS', { infer: true }),
                    sendWithinMs: config.getOrThrow('REDIS_COMMAND_TIMEOUT_MS', { infer: true }),
                  },
              names.barrier,
            ),
        },
        {
          provide: RedisStore,
          inject: [RedisConnections, RedisWriter, RedisKeyspace, RedisKeyspaceView, AppConfig],
          useFactory: (redis: RedisConnections, writer: RedisWriter, names: RedisKeyspace, view: RedisKeyspaceView, config: AppConfig) => {
            const store = new RedisStore(redis.client, writer, names, view, {
              history: config.getOrThrow('WATCH_HISTORY', { infer: true }),
              historyBytes: config.getOrThrow('WATCH_HISTORY_BYTES', { infer: true }),
              sweepIntervalMs: config.getOrThrow('KV_EXPIRY_SWEEP_INTERVAL_MS', { infer: true }),
            });
            store.start();
            return store;
          },
        },
        instrumentedStoreProvider(RedisStore),
        {
          provide: RedisChangeFeed,
          inject: [RedisConnections, RedisWriter, RedisKeyspace, RedisKeyspaceView, RedisStore, AppConfig],
          useFactory: (redis: RedisConnections, writer: RedisWriter, names: RedisKeyspace, view: RedisKeyspaceView, store: RedisStore, config: AppConfig) =>
            new RedisChangeFeed(
              redis.reader,
              redis.replayer,
              names,
              view,
              () => store.settleKeyspace(),
              config.getOrThrow('WATCH_HISTORY', { infer: true }),
              writer.waitsForReplicas ? () => writer.barrier() : null,
            ),
        },
        { provide: ChangeFeed, useExisting: RedisChangeFeed },
        {
          provide: RedisSubscriptionRepository,
          inject: [RedisConnections, RedisWriter, RedisKeyspace],
          useFactory: (redis: RedisConnections, writer: RedisWriter, keyspace: RedisKeyspace) => new RedisSubscriptionRepository(redis.client, writer, keyspace),
        },
        { provide: SubscriptionRepository, useExisting: RedisSubscriptionRepository },
        {
          provide: WebhookQueues,
          inject: [RedisConnections, RedisKeyspace, RedisSubscriptionRepository, ChangeFeed, getToken(KV_WEBHOOK_DELIVERIES_TOTAL), AppConfig, RedisKeyspaceView],
          useFactory: (
            redis: RedisConnections,
            keyspace: RedisKeyspace,
            repository: RedisSubscriptionRepository,
            feed: ChangeFeed,
            deliveries: Counter<string>,
            config: AppConfig,
            view: RedisKeyspaceView,
          ) =>
            new RedisWebhookQueues(
              redis.client,
              keyspace,
              repository,
              feed,
              deliveryCounter(deliveries),
              {
                leaseMs: config.getOrThrow('WEBHOOK_LEASE_MS', { infer: true }),
                history: config.getOrThrow('WATCH_HISTORY', { infer: true }),
                historyBytes: config.getOrThrow('WATCH_HISTORY_BYTES', { infer: true }),
              },
              () => view.keyspace?.base ?? 0,
            ),
        },
      ],
      exports: [KeyValueStore, ChangeFeed, SubscriptionRepository, WebhookQueues],
    };
  }

  constructor(
    private readonly redis: RedisConnections,
    private readonly keyspace: RedisKeyspace,
    private readonly view: RedisKeyspaceView,
    private readonly changes: KeyspaceChanges,
    private readonly store: RedisStore,
    private readonly feed: RedisChangeFeed,
    private readonly config: AppConfig,
  ) {}

  /**
   * Learns the keyspace (so the first ETags and watch ids name it), reports every keyspace this replica learns of
   * from then on, and starts following the feed. A Redis that is down at start is no reason not to start: the feed's
   * reader settles the keyspace when Redis answers.
   */
  async onModuleInit(): Promise<void> {
    this.view.onChange(({ from, to, reason }) => {
      if (from === null && (reason === '' || reason === 'born')) {
        this.changes.use(to, reason === 'born' ? 'new: Redis held no keyspace yet' : 'continued from Redis');
      } else if (reason !== '' && reason !== 'born') {
        this.changes.changed({ from: from?.id ?? null, to, reason: reason as KeyspaceChangeReason });
      } else {
        // Another replica began it: ask Redis why.
        void this.redis.client
          .hget(this.keyspace.keyspace, 'reason')
          .catch(() => null)
          .then((why) => this.changes.changed({ from: from?.id ?? null, to, reason: (why ?? 'data_lost') as KeyspaceChangeReason }));
      }
    });
    const reachable = await this.store.settleKeyspace().then(
      () => true,
      () => false,
    );
    this.feed.start();
    // Watches opened before the reader knows where the stream ends are only placed once it does (a watch from now
    // then starts with a reset when writes came in between): with Redis answering, serve once it knows. Bounded, so
    // a Redis that stops answering now does not hold the start back.
    if (reachable) await awaitAtMost(this.feed.following, this.config.getOrThrow('REDIS_COMMAND_TIMEOUT_MS', { infer: true }));
    await this.warnOfLegacyKeys();
  }

  /**
   * kv-store 0.1 named its keys `<prefix>rev`, `<prefix>idx`...: data written by it is not read by this version,
   * which must not look like an empty store without a word.
   */
  private async warnOfLegacyKeys(): Promise<void> {
    const legacy = this.keyspace.legacyNames;
    const found = await this.redis.client.exists(...legacy).catch(() => 0);
    if (found > 0) {
      new Logger('Redis').warn(
        `found keys named the way kv-store 0.1 named them (${legacy.join(', ')}): this version keeps its data under ${this.keyspace.revision} and the like, and does not read them`,
      );
    }
  }

  /** Runs after the HTTP server has stopped and the webhook lanes have ended: nothing uses Redis any more. */
  async onApplicationShutdown(): Promise<void> {
    try {
      await this.feed.close();
      await this.store.close();
    } finally {
      this.redis.close();
    }
  }
}

/** Waits for `promise`, or `ms` at most. */
async function awaitAtMost(promise: Promise<void>, ms: number): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  await Promise.race([promise, new Promise<void>((resolve) => (timer = setTimeout(resolve, ms)))]);
  clearTimeout(timer);
}
