import type { EventFilter } from './event-filter';

/** A webhook subscription as stored. */
export interface Subscription {
  readonly id: string;
  readonly url: string;
  readonly filter: EventFilter;
  /** HMAC-SHA256 key for X-KV-Signature. Never shown again after creation. */
  readonly secret: string;
  readonly createdAt: string;
  /** Events with a revision above this are delivered (the store's revision when it was created). */
  readonly startRevision: number;
}

/** A subscription to create: the repository fixes its start revision, atomically with the creation. */
export type NewSubscription = Omit<Subscription, 'startRevision'>;

/**
 * Where subscriptions live: in process for the memory driver; in Redis for the redis driver, shared by every
 * replica and kept across restarts.
 */
export abstract class SubscriptionRepository {
  /** Stores it, unless `max` subscriptions exist already (then null). */
  abstract create(subscription: NewSubscription, max: number): Promise<Subscription | null>;
  /** Every subscription, oldest first. */
  abstract list(): Promise<Subscription[]>;
  abstract get(id: string): Promise<Subscription | null>;
  /** True when it existed. */
  abstract delete(id: string): Promise<boolean>;
}
