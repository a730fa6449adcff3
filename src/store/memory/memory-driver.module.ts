import { type DynamicModule, Global, Module, type OnApplicationShutdown, type OnModuleInit, Optional, type Provider } from '@nestjs/common';
import { getToken } from '@willsoto/nestjs-prometheus';
import type { Counter } from 'prom-client';
import { AppConfig } from '../../config/app-config';
import { KV_WEBHOOK_DELIVERIES_TOTAL } from '../../metrics/metric-names';
import { SubscriptionRepository } from '../../subscription/subscription.repository';
import { deliveryCounter, WebhookQueues } from '../../subscription/webhook-queues';
import { ChangeFeed } from '../change-feed';
import { instrumentedStoreProvider } from '../instrumented.store';
import { KeyspaceChanges } from '../keyspace-changes';
import { KeyValueStore } from '../kv.store';
import { MemorySnapshotService } from './memory-snapshot.service';
import { MemoryStore } from './memory.store';
import { MemorySubscriptionRepository } from './memory-subscription.repository';
import { MemoryWebhookQueues } from './memory-webhook.queues';
import { SnapshotSections } from './snapshot-sections';

export interface MemoryDriverOptions {
  /** SNAPSHOT_FILE is set: the data is restored at start and snapshotted while running. */
  readonly snapshots: boolean;
}

/**
 * The memory driver: the store, its change feed, webhook subscriptions and their queues, all in this process;
 * with SNAPSHOT_FILE, snapshots that carry the store and the subscriptions across restarts.
 */
@Global()
@Module({})
export class MemoryDriverModule implements OnModuleInit, OnApplicationShutdown {
  static forRoot({ snapshots }: MemoryDriverOptions): DynamicModule {
    const providers: Provider[] = [
      {
        provide: MemoryStore,
        inject: [AppConfig],
        useFactory: (config: AppConfig) => {
          const store = new MemoryStore({
            sweepIntervalMs: config.getOrThrow('KV_EXPIRY_SWEEP_INTERVAL_MS', { infer: true }),
            history: config.getOrThrow('WATCH_HISTORY', { infer: true }),
            historyBytes: config.getOrThrow('WATCH_HISTORY_BYTES', { infer: true }),
            maxBytes: config.getOrThrow('KV_MAX_STORE_BYTES', { infer: true }),
          });
          store.start();
          return store;
        },
      },
      instrumentedStoreProvider(MemoryStore),
      { provide: ChangeFeed, inject: [MemoryStore], useFactory: (store: MemoryStore) => store.feed },
      KeyspaceChanges,
      // Where features put their own state into snapshots, beside the store's records.
      SnapshotSections,
      {
        provide: SubscriptionRepository,
        inject: [ChangeFeed, SnapshotSections],
        useFactory: (feed: ChangeFeed, sections: SnapshotSections) => {
          const repository = new MemorySubscriptionRepository(feed);
          sections.register('subscriptions', repository);
          return repository;
        },
      },
      {
        provide: WebhookQueues,
        inject: [ChangeFeed, SubscriptionRepository, getToken(KV_WEBHOOK_DELIVERIES_TOTAL), AppConfig],
        useFactory: (feed: ChangeFeed, repository: SubscriptionRepository, deliveries: Counter<string>, config: AppConfig) =>
          new MemoryWebhookQueues(feed, repository, deliveryCounter(deliveries), {
            maxPending: config.getOrThrow('WEBHOOK_MAX_PENDING', { infer: true }),
            maxPendingBytes: config.getOrThrow('WEBHOOK_MAX_PENDING_BYTES', { infer: true }),
          }),
      },
    ];
    if (snapshots) {
      providers.push({
        provide: MemorySnapshotService,
        inject: [MemoryStore, SnapshotSections, KeyspaceChanges, AppConfig],
        useFactory: (store: MemoryStore, sections: SnapshotSections, keyspace: KeyspaceChanges, config: AppConfig) =>
          new MemorySnapshotService(store, sections, {
            file: config.getOrThrow('SNAPSHOT_FILE', { infer: true }),
            intervalMs: config.getOrThrow('SNAPSHOT_INTERVAL_MS', { infer: true }),
            onCorrupt: config.getOrThrow('SNAPSHOT_ON_CORRUPT', { infer: true }),
            keyspace,
          }),
      });
    }
    return { module: MemoryDriverModule, providers, exports: [KeyValueStore, ChangeFeed, SubscriptionRepository, WebhookQueues] };
  }

  constructor(
    private readonly store: MemoryStore,
    private readonly keyspace: KeyspaceChanges,
    @Optional() private readonly snapshots?: MemorySnapshotService,
  ) {}

  /**
   * Restores the snapshot before anything serves. Every provider exists by now, so every snapshot section is
   * registered; and a global module's init hooks run before those of the feature modules, so the webhook
   * dispatcher starts with the restored subscriptions. (A failure here rejects app.listen() with a one-line
   * SnapshotError, where a failing provider factory would have Nest print it with a stack.)
   */
  async onModuleInit(): Promise<void> {
    if (this.snapshots) await this.snapshots.start();
    else this.keyspace.use(this.store.keyspace, 'new: without SNAPSHOT_FILE every start begins one');
  }

  /** Runs after the HTTP server has stopped, so no request sees a closed store and the last snapshot misses no write. */
  async onApplicationShutdown(): Promise<void> {
    try {
      await this.snapshots?.stop();
    } finally {
      await this.store.feed.close();
      await this.store.close();
    }
  }
}
