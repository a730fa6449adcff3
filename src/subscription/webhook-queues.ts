import type { Subscription } from './subscription.repository';
import type { Delivery } from './webhook.sender';

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

/** Counts delivery outcomes (kv_webhook_deliveries_total); `n` events at once for a dead letter that stands for several. */
export type DeliveryCounter = (result: DeliveryResult, n?: number) => void;

/** Dead letters kept per subscription for GET /subscriptions/:id. */
export const DEAD_LETTERS_KEPT = 100;

export function deadLetterOf(delivery: Delivery, error: string): DeadLetter {
  return { revision: delivery.event.revision, key: delivery.event.key, attempts: delivery.attempts, error, at: new Date().toISOString() };
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

/** What a WebhookQueues implementation tells the dispatcher: which queues this replica delivers, and when to look. */
export interface LaneControl {
  /** Deliver `subscription` from `queue` on this replica: the dispatcher runs a lane for it. */
  open(subscription: Subscription, queue: DeliveryQueue): void;
  /** Stop delivering `id` here at once, abandoning the request in flight (its queue keeps the event). */
  close(id: string): void;
  /** New events may wait in the queue of `id`, or of every subscription when `id` is omitted. */
  wake(id?: string): void;
}

/**
 * The webhook queues port: where each subscription's undelivered events wait and which replica delivers them.
 * The memory driver queues in process and delivers every subscription itself; the Redis driver keeps queues
 * and state in Redis and hands each subscription to one replica at a time. The dispatcher (feature side) runs
 * the lanes: the requests, retries and dead letters are the same on every driver.
 */
export abstract class WebhookQueues {
  /** Starts handing queues to `lanes` (open, close, wake), beginning with the subscriptions that exist now. */
  abstract start(lanes: LaneControl): Promise<void>;

  /** A subscription was just created on this replica. */
  abstract created(subscription: Subscription): void;

  /** A subscription was just deleted on this replica: forget its queue (the dispatcher closes its lane). */
  abstract deleted(id: string): void;

  /** Delivery state of each of `ids` that is known. */
  abstract states(ids: readonly string[]): Promise<Map<string, DeliveryState>>;

  /** Stops handing out queues: no `open` comes after this resolves. The dispatcher then drains its lanes. */
  abstract stop(): Promise<void>;

  /** After the lanes have ended: hands back what this replica held, so another one continues at once. */
  abstract release(): Promise<void>;
}

/** The DeliveryCounter that records into kv_webhook_deliveries_total. */
export function deliveryCounter(deliveries: { inc(labels: { result: DeliveryResult }, n: number): void }): DeliveryCounter {
  return (result, n = 1) => deliveries.inc({ result }, n);
}
