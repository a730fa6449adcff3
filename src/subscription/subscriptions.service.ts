import { Injectable } from '@nestjs/common';
import { ConfigService } from '@nestjs/config';
import { randomBytes, randomUUID } from 'node:crypto';
import { LimitReachedError, SubscriptionNotFoundError } from '../common/errors/domain.errors';
import type { EnvironmentVariables } from '../config/env.validation';
import { ChangeFeed } from '../store/change-feed';
import type { CreateSubscriptionDto } from './dto/create-subscription.dto';
import type { CreatedSubscriptionDto, SubscriptionDto } from './dto/subscription.dto';
import { toEventFilter } from './event-filter';
import { type Subscription, SubscriptionRepository } from './subscription.repository';
import { WebhookDispatcher } from './webhook.dispatcher';

/** Webhook subscriptions: registration (with the SSRF check), listing with delivery state, removal. */
@Injectable()
export class SubscriptionsService {
  private readonly maxSubscriptions: number;

  constructor(
    private readonly repository: SubscriptionRepository,
    private readonly dispatcher: WebhookDispatcher,
    private readonly feed: ChangeFeed,
    config: ConfigService<EnvironmentVariables, true>,
  ) {
    this.maxSubscriptions = config.getOrThrow('WEBHOOK_MAX_SUBSCRIPTIONS', { infer: true });
  }

  async create(input: CreateSubscriptionDto): Promise<CreatedSubscriptionDto> {
    const filter = toEventFilter(input);
    const policy = this.dispatcher.targetPolicy;
    const url = policy.parse(input.url);
    await policy.assertAllowed(url);
    if ((await this.repository.count()) >= this.maxSubscriptions) {
      throw new LimitReachedError(`WEBHOOK_MAX_SUBSCRIPTIONS=${this.maxSubscriptions} subscriptions exist; delete one first`);
    }
    const generated = input.secret === undefined;
    const subscription: Subscription = {
      id: randomUUID(),
      url: url.toString(),
      filter,
      secret: input.secret ?? randomBytes(32).toString('base64url'),
      createdAt: new Date().toISOString(),
      startRevision: this.feed.revision,
    };
    await this.repository.create(subscription);
    this.dispatcher.track(subscription);
    return { ...this.view(subscription), ...(generated && { secret: subscription.secret }) };
  }

  async list(): Promise<SubscriptionDto[]> {
    return (await this.repository.list()).map((s) => this.view(s));
  }

  async get(id: string): Promise<SubscriptionDto> {
    const subscription = await this.repository.get(id);
    if (!subscription) throw new SubscriptionNotFoundError(id);
    return this.view(subscription);
  }

  async delete(id: string): Promise<void> {
    if (!(await this.repository.delete(id))) throw new SubscriptionNotFoundError(id);
    this.dispatcher.untrack(id);
  }

  private view(subscription: Subscription): SubscriptionDto {
    const state = this.dispatcher.state(subscription.id);
    return {
      id: subscription.id,
      url: subscription.url,
      filter: { ...subscription.filter },
      createdAt: subscription.createdAt,
      lastDeliveredRevision: state?.lastDeliveredRevision ?? null,
      pending: state?.pending ?? 0,
      consecutiveFailures: state?.consecutiveFailures ?? 0,
      lastError: state?.lastError ?? null,
      deadLettered: state?.deadLettered ?? 0,
      deadLetters: [...(state?.deadLetters ?? [])],
    };
  }
}
