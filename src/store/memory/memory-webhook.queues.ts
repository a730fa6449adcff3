import { Logger } from '@nestjs/common';
import type { ChangeEvent, ChangeFeed, Watch } from '../change-feed';
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

export interface MemoryQueueLimits {
  /** WEBHOOK_MAX_PENDING: undelivered events per subscription. */
  readonly maxPending: number;
  /** WEBHOOK_MAX_PENDING_BYTES: and their bytes (request bodies). */
  readonly maxPendingBytes: number;
}

/** One subscription's events and delivery state, in process. */
class MemoryDeliveryQueue implements DeliveryQueue {
  private readonly queue: Delivery[] = [];
  private start = 0;
  private bytes = 0;
  /** The lane took the head and has not settled it yet (in flight or waiting to retry). */
  private held = false;
  lastDeliveredRevision: number | null = null;
  consecutiveFailures = 0;
  lastError: string | null = null;
  deadLettered = 0;
  readonly deadLetters: DeadLetter[] = [];

  constructor(
    private readonly count: DeliveryCounter,
    private readonly limits: MemoryQueueLimits,
  ) {}

  get pending(): number {
    return this.queue.length - this.start;
  }

  /**
   * Queues one event. Beyond WEBHOOK_MAX_PENDING events or WEBHOOK_MAX_PENDING_BYTES bytes the oldest give way,
   * unless the lane holds one (in flight or waiting to retry): then the next oldest do. The newest always stays.
   */
  push(delivery: Delivery): void {
    this.queue.push(delivery);
    this.bytes += delivery.body.length;
    const { maxPending, maxPendingBytes } = this.limits;
    while (this.pending > maxPending || (this.bytes > maxPendingBytes && this.pending > (this.held ? 2 : 1))) {
      const index = this.held ? this.start + 1 : this.start;
      const [dropped] = this.queue.splice(index, 1);
      this.bytes -= dropped.body.length;
      this.count('dead_lettered');
      const limit = this.pending >= maxPending ? `WEBHOOK_MAX_PENDING=${maxPending}` : `WEBHOOK_MAX_PENDING_BYTES=${maxPendingBytes}`;
      this.keepDeadLetter(dropped, `queue full (${limit})`);
    }
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
    this.bytes -= this.queue[this.start].body.length;
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
  private watch: Watch | null = null;

  constructor(
    private readonly feed: ChangeFeed,
    private readonly repository: SubscriptionRepository,
    private readonly count: DeliveryCounter,
    private readonly limits: MemoryQueueLimits,
  ) {
    super();
  }

  async start(lanes: LaneControl): Promise<void> {
    this.lanes = lanes;
    for (const subscription of await this.repository.list()) this.created(subscription);
    this.watch = this.feed.watch(null, {
      events: (batch) => this.enqueue(batch),
      // A live-only watch is never reset; nothing to do if one ever were.
      reset: () => undefined,
    });
  }

  created(subscription: Subscription): void {
    const queue = new MemoryDeliveryQueue(this.count, this.limits);
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
    this.watch?.stop();
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
