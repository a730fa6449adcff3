import { Logger } from '@nestjs/common';
import type { Subscription } from './subscription.repository';
import type { Delivery, WebhookSender } from './webhook.sender';

/** An event that exhausted its attempts (or was dropped unsent) and was skipped. */
export interface DeadLetter {
  readonly revision: number;
  readonly key: string;
  readonly attempts: number;
  readonly error: string;
  readonly at: string;
}

/** Delivery state of one subscription, as GET /subscriptions/:id shows it. */
export interface DeliveryState {
  readonly lastDeliveredRevision: number | null;
  readonly pending: number;
  readonly consecutiveFailures: number;
  readonly lastError: string | null;
  readonly deadLettered: number;
  /** The most recent dead letters, oldest first (at most DEAD_LETTERS_KEPT). */
  readonly deadLetters: readonly DeadLetter[];
}

export const EMPTY_DELIVERY_STATE: DeliveryState = {
  lastDeliveredRevision: null,
  pending: 0,
  consecutiveFailures: 0,
  lastError: null,
  deadLettered: 0,
  deadLetters: [],
};

export type DeliveryResult = 'delivered' | 'failed' | 'dead_lettered';

/** Dead letters kept per subscription for GET /subscriptions/:id. */
export const DEAD_LETTERS_KEPT = 100;

export function deadLetterOf(delivery: Delivery, error: string): DeadLetter {
  return { revision: delivery.event.revision, key: delivery.event.key, attempts: delivery.attempts, error, at: new Date().toISOString() };
}

/**
 * Delivers change events to webhook subscriptions: POST of the event JSON, signed with HMAC-SHA256 of the raw
 * body (X-KV-Signature), in revision order per subscription. A 2xx within WEBHOOK_TIMEOUT_MS is a delivery;
 * anything else is retried with exponential backoff and jitter, WEBHOOK_MAX_ATTEMPTS times in all, then
 * dead-lettered, and the next events continue. At-least-once: a receiver may see an event twice (X-KV-Delivery
 * is the same on every attempt), and misses none that was not dead-lettered.
 *
 * The memory driver's dispatcher queues events in process; the Redis driver's shares subscriptions, queues and
 * state across replicas so each event is sent by one of them.
 */
export abstract class WebhookDispatcher {
  /** Starts delivering to a subscription just created on this replica. */
  abstract track(subscription: Subscription): void;

  /** Stops delivering to a subscription just deleted on this replica, abandoning what it had queued. */
  abstract untrack(id: string): void;

  /** Delivery state of each of `ids` that is known. */
  abstract states(ids: readonly string[]): Promise<Map<string, DeliveryState>>;
}

/**
 * One subscription's queue as a delivery lane sees it. The memory driver keeps it in process; the Redis driver
 * in the subscription's consumer group and state hash.
 */
export interface DeliveryQueue {
  /** The oldest undelivered event, or null when there is none yet. Called again only after it was settled. */
  head(): Promise<Delivery | null>;
  /** The head was delivered: drop it and record the success. */
  delivered(delivery: Delivery): Promise<void>;
  /** An attempt failed and will be retried: record the failure; the head stays. */
  failed(delivery: Delivery, error: string): Promise<void>;
  /** The head used up its attempts: drop it and keep a dead letter. */
  deadLetter(delivery: Delivery, error: string): Promise<void>;
}

/**
 * Works through one subscription's queue, one request at a time, strictly in order: the next event is only sent
 * once the previous one was delivered or dead-lettered. Errors of the queue itself (Redis away) pause the lane
 * and it tries again; it never ends until stopped.
 */
export class DeliveryLane {
  private static readonly logger = new Logger('WebhookDispatcher');
  private readonly abort = new AbortController();
  private draining = false;
  private wakeUp: (() => void) | null = null;
  private endSleep: (() => void) | null = null;
  private woken = false;
  private loop: Promise<void> | null = null;

  constructor(
    readonly subscription: Subscription,
    private readonly queue: DeliveryQueue,
    private readonly sender: WebhookSender,
    private readonly count: (result: DeliveryResult) => void,
    /** How long to pause after the queue itself failed. */
    private readonly queueRetryMs = 1000,
  ) {}

  start(): this {
    this.loop ??= this.run();
    return this;
  }

  /** New events may be queued: look again if idle. */
  wake(): void {
    this.woken = true;
    this.wakeUp?.();
  }

  /** Aborts the request in flight and any wait, leaving the head unsettled; resolves when the lane has ended. */
  stop(): Promise<void> {
    this.abort.abort();
    return this.drain();
  }

  /**
   * Ends the lane once the request in flight (bounded by WEBHOOK_TIMEOUT_MS) is answered and settled, so a
   * shutdown does not leave a delivered event to be sent again; no retry waits, no new request.
   */
  drain(): Promise<void> {
    this.draining = true;
    this.wakeUp?.();
    this.endSleep?.();
    return this.loop ?? Promise.resolve();
  }

  private get ending(): boolean {
    return this.draining || this.abort.signal.aborted;
  }

  private async run(): Promise<void> {
    while (!this.ending) {
      try {
        this.woken = false;
        const delivery = await this.queue.head();
        if (delivery) await this.deliver(delivery);
        else if (!this.woken) await this.idle();
      } catch (e) {
        if (this.ending) return;
        DeliveryLane.logger.warn(`webhook ${this.subscription.id}: ${e instanceof Error ? e.message : String(e)}; retrying`);
        await this.sleep(this.queueRetryMs);
      }
    }
  }

  private async deliver(delivery: Delivery): Promise<void> {
    while (!this.ending) {
      delivery.attempts++;
      const error = await this.sender.post(this.subscription, delivery, this.abort.signal);
      if (this.abort.signal.aborted) return; // the next holder of this queue settles it
      if (error === null) {
        this.count('delivered');
        await this.queue.delivered(delivery);
        return;
      }
      this.count('failed');
      if (delivery.attempts >= this.sender.maxAttempts) {
        this.count('dead_lettered');
        DeliveryLane.logger.warn(`webhook ${this.subscription.id}: dead-lettered revision ${delivery.event.revision} after ${delivery.attempts} attempt(s): ${error}`);
        await this.queue.deadLetter(delivery, error);
        return;
      }
      await this.queue.failed(delivery, error);
      await this.sleep(this.sender.backoff(delivery.attempts));
    }
  }

  private idle(): Promise<void> {
    // drain() or stop() may have come while the queue was being read, when there was no wait to end yet.
    if (this.ending) return Promise.resolve();
    return new Promise<void>((resolve) => (this.wakeUp = resolve)).finally(() => (this.wakeUp = null));
  }

  private sleep(ms: number): Promise<void> {
    if (this.ending) return Promise.resolve();
    return new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, ms);
      this.endSleep = () => {
        clearTimeout(timer);
        resolve();
      };
    }).finally(() => (this.endSleep = null));
  }
}
