import { Module } from '@nestjs/common';
import { MemorySubscriptionRepository, SubscriptionRepository } from './subscription.repository';
import { SubscriptionsController } from './subscriptions.controller';
import { SubscriptionsService } from './subscriptions.service';
import { WatchController } from './watch.controller';
import { WatchService } from './watch.service';
import { WebhookDispatcher } from './webhook.dispatcher';

/** Subscriptions to changes: live SSE watch streams and signed webhooks, both fed by the change feed. */
@Module({
  controllers: [WatchController, SubscriptionsController],
  providers: [
    WatchService,
    WebhookDispatcher,
    SubscriptionsService,
    { provide: SubscriptionRepository, useClass: MemorySubscriptionRepository },
  ],
  exports: [WatchService, WebhookDispatcher],
})
export class SubscriptionModule {}
