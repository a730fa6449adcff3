import { type BeforeApplicationShutdown, Injectable, type OnModuleInit } from '@nestjs/common';
import { InjectMetric } from '@willsoto/nestjs-prometheus';
import type { Counter } from 'prom-client';
import { KV_WEBHOOK_DELIVERIES_TOTAL } from '../metrics/metric-names';
import { DeliveryLane } from './delivery.lane';
import type { Subscription } from './subscription.repository';
import { type DeliveryCounter, deliveryCounter, type DeliveryQueue, type DeliveryState, type LaneControl, WebhookQueues } from './webhook-queues';
import { WebhookSender } from './webhook.sender';

/**
 * Delivers change events to webhook subscriptions: POST of the event JSON, signed with HMAC-SHA256 of the raw
 * body (X-KV-Signature), in revision order per subscription. A 2xx within WEBHOOK_TIMEOUT_MS is a delivery;
 * anything else is retried with exponential backoff and jitter, WEBHOOK_MAX_ATTEMPTS times in all, then
 * dead-lettered, and the next events continue. At-least-once: a receiver may see an event twice (X-KV-Delivery
 * is the same on every attempt), and misses none that was not dead-lettered.
 *
 * The store driver's WebhookQueues decides which subscriptions this replica delivers and holds their queues;
 * this dispatcher runs one lane per subscription it is handed, and ends them all at shutdown.
 */
@Injectable()
export class WebhookDispatcher implements LaneControl, OnModuleInit, BeforeApplicationShutdown {
  private readonly lanes = new Map<string, DeliveryLane>();
  private readonly count: DeliveryCounter;

  constructor(
    private readonly queues: WebhookQueues,
    private readonly sender: WebhookSender,
    @InjectMetric(KV_WEBHOOK_DELIVERIES_TOTAL) deliveries: Counter<string>,
  ) {
    this.count = deliveryCounter(deliveries);
  }

  async onModuleInit(): Promise<void> {
    await this.queues.start(this);
  }

  /** Starts delivering to a subscription just created on this replica. */
  track(subscription: Subscription): void {
    this.queues.created(subscription);
  }

  /** Stops delivering to a subscription just deleted on this replica, abandoning what it had queued. */
  untrack(id: string): void {
    this.queues.deleted(id);
    this.close(id);
  }

  /** Delivery state of each of `ids` that is known. */
  states(ids: readonly string[]): Promise<Map<string, DeliveryState>> {
    return this.queues.states(ids);
  }

  open(subscription: Subscription, queue: DeliveryQueue): void {
    this.close(subscription.id);
    this.lanes.set(subscription.id, new DeliveryLane(subscription, queue, this.sender, this.count).start());
  }

  close(id: string): void {
    void this.lanes.get(id)?.stop();
    this.lanes.delete(id);
  }

  wake(id?: string): void {
    if (id === undefined) this.lanes.forEach((lane) => lane.wake());
    else this.lanes.get(id)?.wake();
  }

  /**
   * Lets the requests in flight finish (each bounded by WEBHOOK_TIMEOUT_MS) and be settled, so a shutdown does not
   * leave a delivered event to be sent again, then hands back what this replica held.
   */
  async beforeApplicationShutdown(): Promise<void> {
    await this.queues.stop();
    await Promise.all([...this.lanes.values()].map((lane) => lane.drain()));
    this.lanes.clear();
    await this.queues.release();
  }
}
