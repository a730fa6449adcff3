import { Module } from '@nestjs/common';
import { SubscriptionsController } from './subscriptions.controller';
import { SubscriptionsService } from './subscriptions.service';
import { WatchController } from './watch.controller';
import { WatchService } from './watch.service';
import { WebhookDispatcher } from './webhook.dispatcher';
import { WebhookSender } from './webhook.sender';

/**
 * Subscriptions to changes: live SSE watch streams and signed webhooks, both fed by the change feed. Where
 * subscriptions and their queues live is the store driver's (SubscriptionRepository, WebhookQueues).
 */
@Module({
  controllers: [WatchController, SubscriptionsController],
  providers: [WatchService, WebhookSender, SubscriptionsService, WebhookDispatcher],
  exports: [WatchService, WebhookDispatcher],
})
export class SubscriptionModule {}
