import type { ChangeFeed } from '../change-feed';
import { type NewSubscription, type Subscription, SubscriptionRepository } from '../../subscription/subscription.repository';
import type { SnapshotSection } from './snapshot-sections';

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
    const subscription = { ...input, startRevision: this.feed.position.revision };
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
