import type { ChangeFeed } from '../store/change-feed';
import type { SnapshotSection } from '../store/snapshot-sections';
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

/**
 * Subscriptions in process, for the memory driver. They are part of the store's snapshots (SNAPSHOT_FILE) as
 * the `subscriptions` section, secrets included, so they survive a restart together with the keys.
 */
export class MemorySubscriptionRepository extends SubscriptionRepository implements SnapshotSection {
  private subscriptions = new Map<string, Subscription>();

  constructor(private readonly feed: ChangeFeed) {
    super();
  }

  async create(input: NewSubscription, max: number): Promise<Subscription | null> {
    if (this.subscriptions.size >= max) return null;
    const subscription = { ...input, startRevision: this.feed.revision };
    this.subscriptions.set(subscription.id, subscription);
    return subscription;
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

  dump(): Subscription[] {
    return [...this.subscriptions.values()];
  }

  prepareRestore(items: readonly unknown[]): () => void {
    const restored = new Map<string, Subscription>();
    items.forEach((item, index) => {
      const problem = subscriptionProblem(item);
      if (problem !== null) throw new Error(`item ${index + 1}: ${problem}`);
      const subscription = item as Subscription;
      if (restored.has(subscription.id)) throw new Error(`item ${index + 1}: subscription ${subscription.id} appears twice`);
      restored.set(subscription.id, subscription);
    });
    return () => (this.subscriptions = restored);
  }
}

const FILTER_FIELDS = ['key', 'prefix', 'suffix'];

/** What is wrong with a stored subscription, or null when it has every field, of the right type. */
function subscriptionProblem(item: unknown): string | null {
  if (typeof item !== 'object' || item === null || Array.isArray(item)) return 'a subscription must be an object';
  const { id, url, filter, secret, createdAt, startRevision } = item as Record<string, unknown>;
  if (typeof id !== 'string' || id === '') return 'id must be a non-empty string';
  if (typeof url !== 'string' || !URL.canParse(url)) return `subscription ${id}: url must be a URL`;
  if (typeof secret !== 'string' || secret === '') return `subscription ${id}: secret must be a non-empty string`;
  if (typeof createdAt !== 'string' || Number.isNaN(Date.parse(createdAt))) return `subscription ${id}: createdAt must be a time`;
  if (!Number.isSafeInteger(startRevision) || (startRevision as number) < 0) return `subscription ${id}: startRevision must be a revision`;
  const fields = typeof filter === 'object' && filter !== null && !Array.isArray(filter) ? Object.entries(filter) : null;
  if (fields === null || fields.length > 1 || fields.some(([name, value]) => !FILTER_FIELDS.includes(name) || typeof value !== 'string')) {
    return `subscription ${id}: filter must be {}, {key}, {prefix} or {suffix} with a string`;
  }
  return null;
}
