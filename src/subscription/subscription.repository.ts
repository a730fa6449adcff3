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

/** Where subscriptions live: in process for the memory driver; a Redis implementation shares them across replicas. */
export abstract class SubscriptionRepository {
  abstract create(subscription: Subscription): Promise<void>;
  abstract list(): Promise<Subscription[]>;
  abstract get(id: string): Promise<Subscription | null>;
  /** True when it existed. */
  abstract delete(id: string): Promise<boolean>;
  abstract count(): Promise<number>;
}

export class MemorySubscriptionRepository extends SubscriptionRepository {
  private readonly subscriptions = new Map<string, Subscription>();

  async create(subscription: Subscription): Promise<void> {
    this.subscriptions.set(subscription.id, subscription);
  }

  async list(): Promise<Subscription[]> {
    return [...this.subscriptions.values()];
  }

  async get(id: string): Promise<Subscription | null> {
    return this.subscriptions.get(id) ?? null;
  }

  async delete(id: string): Promise<boolean> {
    return this.subscriptions.delete(id);
  }

  async count(): Promise<number> {
    return this.subscriptions.size;
  }
}
