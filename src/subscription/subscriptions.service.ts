import { Injectable } from '@nestjs/common';
import { randomBytes, randomUUID } from 'node:crypto';
import { LimitReachedError, SubscriptionNotFoundError } from '../common/errors/domain.errors';
import { AppConfig } from '../config/app-config';
import type { CreateSubscriptionDto } from './dto/create-subscription.dto';
import type { CreatedSubscriptionDto, SubscriptionDto } from './dto/subscription.dto';
import { toEventFilter } from './event-filter';
import { type Subscription, SubscriptionRepository } from './subscription.repository';
import { type DeliveryState, EMPTY_DELIVERY_STATE } from './webhook-queues';
import { WebhookDispatcher } from './webhook.dispatcher';
import { WebhookSender } from './webhook.sender';

/** Webhook subscriptions: registration (with the SSRF check), listing with delivery state, removal. */
@Injectable()
export class SubscriptionsService {
  private readonly maxSubscriptions: number;

  constructor(
    private readonly repository: SubscriptionRepository,
    private readonly dispatcher: WebhookDispatcher,
    private readonly sender: WebhookSender,
    config: AppConfig,
  ) {
    this.maxSubscriptions = config.getOrThrow('WEBHOOK_MAX_SUBSCRIPTIONS', { infer: true });
  }

  async create(input: CreateSubscriptionDto): Promise<CreatedSubscriptionDto> {
    const filter = toEventFilter(input);
    const policy = this.sender.policy;
    const url = policy.parse(input.url);
    await policy.assertAllowed(url);
    const generated = input.secret === undefined;
    const subscription = await this.repository.create(
      {
        id: randomUUID(),
        url: url.toString(),
        filter,
        secret: input.secret ?? randomBytes(32).toString('base64url'),
        createdAt: new Date().toISOString(),
      },
      this.maxSubscriptions,
    );
    if (!subscription) {
      throw new LimitReachedError(`WEBHOOK_MAX_SUBSCRIPTIONS=${this.maxSubscriptions} subscriptions exist; delete one first`);
    }
    this.dispatcher.track(subscription);
    return { ...this.view(subscription, EMPTY_DELIVERY_STATE), ...(generated && { secret: subscription.secret }) };
  }

  async list(): Promise<SubscriptionDto[]> {
    const subscriptions = await this.repository.list();
    const states = await this.dispatcher.states(subscriptions.map((s) => s.id));
    return subscriptions.map((s) => this.view(s, states.get(s.id)));
  }

  async get(id: string): Promise<SubscriptionDto> {
    const subscription = await this.repository.get(id);
    if (!subscription) throw new SubscriptionNotFoundError(id);
    const states = await this.dispatcher.states([id]);
    return this.view(subscription, states.get(id));
  }

  async delete(id: string): Promise<void> {
    if (!(await this.repository.delete(id))) throw new SubscriptionNotFoundError(id);
    this.dispatcher.untrack(id);
  }

  private view(subscription: Subscription, state: DeliveryState = EMPTY_DELIVERY_STATE): SubscriptionDto {
    return {
      id: subscription.id,
      url: subscription.url,
      filter: { ...subscription.filter },
      createdAt: subscription.createdAt,
      lastDeliveredRevision: state.lastDeliveredRevision,
      pending: state.pending,
      consecutiveFailures: state.consecutiveFailures,
      lastError: state.lastError,
      deadLettered: state.deadLettered,
      deadLetters: [...state.deadLetters],
    };
  }
}
