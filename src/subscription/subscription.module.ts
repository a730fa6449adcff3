import { Module } from '@nestjs/common';
import { ConfigService } from '@nestjs/config';
import { getToken } from '@willsoto/nestjs-prometheus';
import type { Counter } from 'prom-client';
import type { AppConfig } from '../config/app-config';
import { KV_WEBHOOK_DELIVERIES_TOTAL } from '../metrics/metric-names';
import { ChangeFeed } from '../store/change-feed';
import { RedisConnection } from '../store/redis.connection';
import { SnapshotSections } from '../store/snapshot-sections';
import { MemoryWebhookDispatcher } from './memory-webhook.dispatcher';
import { RedisSubscriptionRepository } from './redis-subscription.repository';
import { RedisWebhookDispatcher } from './redis-webhook.dispatcher';
import { MemorySubscriptionRepository, SubscriptionRepository } from './subscription.repository';
import { SubscriptionsController } from './subscriptions.controller';
import { SubscriptionsService } from './subscriptions.service';
import { WatchController } from './watch.controller';
import { WatchService } from './watch.service';
import { type DeliveryResult, WebhookDispatcher } from './webhook.dispatcher';
import { WebhookSender } from './webhook.sender';

/** Subscriptions to changes: live SSE watch streams and signed webhooks, both fed by the change feed. */
@Module({
  controllers: [WatchController, SubscriptionsController],
  providers: [
    WatchService,
    WebhookSender,
    SubscriptionsService,
    {
      // Beside the store: in process (and in its snapshots) for memory, in Redis (shared by the replicas) for redis.
      provide: SubscriptionRepository,
      inject: [ChangeFeed, RedisConnection, SnapshotSections],
      useFactory: (feed: ChangeFeed, redis: RedisConnection | null, sections: SnapshotSections): SubscriptionRepository => {
        if (redis) return new RedisSubscriptionRepository(redis);
        const repository = new MemorySubscriptionRepository(feed);
        sections.register('subscriptions', repository);
        return repository;
      },
    },
    {
      provide: WebhookDispatcher,
      inject: [ConfigService, ChangeFeed, SubscriptionRepository, WebhookSender, RedisConnection, getToken(KV_WEBHOOK_DELIVERIES_TOTAL)],
      useFactory: (
        config: AppConfig,
        feed: ChangeFeed,
        repository: SubscriptionRepository,
        sender: WebhookSender,
        redis: RedisConnection | null,
        deliveries: Counter<string>,
      ): WebhookDispatcher => {
        const count = (result: DeliveryResult, n = 1) => deliveries.inc({ result }, n);
        if (redis && repository instanceof RedisSubscriptionRepository) {
          return new RedisWebhookDispatcher(redis, repository, feed, sender, count, {
            leaseMs: config.getOrThrow('WEBHOOK_LEASE_MS', { infer: true }),
            history: config.getOrThrow('WATCH_HISTORY', { infer: true }),
          });
        }
        return new MemoryWebhookDispatcher(feed, repository, sender, count, config.getOrThrow('WEBHOOK_MAX_PENDING', { infer: true }));
      },
    },
  ],
  exports: [WatchService, WebhookDispatcher],
})
export class SubscriptionModule {}
