import { Logger } from '@nestjs/common';
import type { ChangeEvent, ChangeFeed } from '../change-feed';
import { matches } from '../../subscription/event-filter';
import type { Subscription, SubscriptionRepository } from '../../subscription/subscription.repository';
import {
  DEAD_LETTERS_KEPT,
  type DeadLetter,
  deadLetterOf,
  type DeliveryCounter,
  type DeliveryQueue,
  type DeliveryState,
  type LaneControl,
  WebhookQueues,
} from '../../subscription/webhook-queues';
import { type Delivery, toDelivery } from '../../subscription/webhook.sender';

/** One subscription's events and delivery state, in process. */
class MemoryDeliveryQueue implements DeliveryQueue {
  private readonly queue: Delivery[] = [];
  private start = 0;
  /** The lane took the head and has not settled it yet (in flight or waiting to retry). */
  private held = false;
  lastDeliveredRevision: number | null = null;
  consecutiveFailures = 0;
  lastError: string | null = null;
  deadLettered = 0;
  readonly deadLetters: DeadLetter[] = [];

  constructor(
    private readonly count: DeliveryCounter,
    private readonly maxPending: number,
  ) {}

  get pending(): number {
    return this.queue.length - this.start;
  }

  /**
   * Queues one event. Beyond WEBHOOK_MAX_PENDING the oldest gives way, unless the lane holds it (in flight or
   * waiting to retry): then the next oldest does.
   */
  push(delivery: Delivery): void {
    this.queue.push(delivery);
    if (this.pending <= this.maxPending) return;
    const index = this.held ? this.start + 1 : this.start;
    const [dropped] = this.queue.splice(index, 1);
    this.count('dead_lettered');
    this.keepDeadLetter(dropped, `queue full (WEBHOOK_MAX_PENDING=${this.maxPending})`);
  }

  async head(): Promise<Delivery | null> {
    const head = this.queue[this.start] ?? null;
    this.held = head !== null;
    return head;
  }

  async delivered(delivery: Delivery): Promise<void> {
    this.lastDeliveredRevision = delivery.event.revision;
    this.consecutiveFailures = 0;
    this.shift();
  }

  async failed(_delivery: Delivery, error: string): Promise<void> {
    this.consecutiveFailures++;
    this.lastError = error;
  }

  async deadLetter(delivery: Delivery, error: string): Promise<void> {
    this.consecutiveFailures++;
    this.lastError = error;
    this.keepDeadLetter(delivery, error);
    this.shift();
  }

  state(): DeliveryState {
    return {
      lastDeliveredRevision: this.lastDeliveredRevision,
      pending: this.pending,
      consecutiveFailures: this.consecutiveFailures,
      lastError: this.lastError,
      deadLettered: this.deadLettered,
      deadLetters: [...this.deadLetters],
    };
  }

  private keepDeadLetter(delivery: Delivery, error: string): void {
    this.deadLettered++;
    this.deadLetters.push(deadLetterOf(delivery, error));
    if (this.deadLetters.length > DEAD_LETTERS_KEPT) this.deadLetters.shift();
  }

  private shift(): void {
    this.held = false;
    this.start++;
    // Compact now and then instead of shifting the array on every delivery.
    if (this.start > 1024 && this.start * 2 > this.queue.length) {
      this.queue.splice(0, this.start);
      this.start = 0;
    }
  }
}

/**
 * The memory driver's webhook queues: each subscription's events wait in a queue in this process, bounded by
 * WEBHOOK_MAX_PENDING, and this process delivers every subscription. Queues are lost on restart (subscriptions
 * survive one only in a snapshot, SNAPSHOT_FILE).
 */
export class MemoryWebhookQueues extends WebhookQueues {
  private readonly logger = new Logger('WebhookDispatcher');
  private readonly queues = new Map<string, { subscription: Subscription; queue: MemoryDeliveryQueue }>();
  private lanes: LaneControl | null = null;
  private stopWatching: () => void = () => undefined;

  constructor(
    private readonly feed: ChangeFeed,
    private readonly repository: SubscriptionRepository,
    private readonly count: DeliveryCounter,
    private readonly maxPending: number,
  ) {
    super();
  }

  async start(lanes: LaneControl): Promise<void> {
    this.lanes = lanes;
    for (const subscription of await this.repository.list()) this.created(subscription);
    this.stopWatching = this.feed.watch(null, {
      events: (batch) => this.enqueue(batch),
      // A live-only watch is never reset; nothing to do if one ever were.
      reset: () => undefined,
    });
  }

  created(subscription: Subscription): void {
    const queue = new MemoryDeliveryQueue(this.count, this.maxPending);
    this.queues.set(subscription.id, { subscription, queue });
    this.lanes?.open(subscription, queue);
  }

  deleted(id: string): void {
    this.queues.delete(id);
  }

  async states(ids: readonly string[]): Promise<Map<string, DeliveryState>> {
    const states = new Map<string, DeliveryState>();
    for (const id of ids) {
      const entry = this.queues.get(id);
      if (entry) states.set(id, entry.queue.state());
    }
    return states;
  }

  async stop(): Promise<void> {
    this.stopWatching();
    this.lanes = null;
    const pending = [...this.queues.values()].reduce((n, { queue }) => n + queue.pending, 0);
    if (pending > 0) this.logger.warn(`shutting down with ${pending} undelivered webhook event(s); the memory driver does not keep them`);
  }

  async release(): Promise<void> {
    this.queues.clear();
  }

  private enqueue(batch: readonly ChangeEvent[]): void {
    for (const { subscription, queue } of this.queues.values()) {
      let queued = false;
      for (const event of batch) {
        if (event.revision <= subscription.startRevision || !matches(subscription.filter, event)) continue;
        queue.push(toDelivery(subscription, event));
        queued = true;
      }
      if (queued) this.lanes?.wake(subscription.id);
    }
  }
}
