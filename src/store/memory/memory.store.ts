import BTree from 'sorted-btree';
import { KeyExistsError, KeyNotFoundError, RevisionMismatchError } from '../../common/errors/domain.errors';
import type { ChangeEvent } from '../change-feed';
import { compareCodePoints } from '../key-order';
import { MemoryChangeFeed } from './memory-change.feed';
import { MemoryKeyIndex } from './memory-key.index';
import type { StoreImage } from './memory-snapshot';
import {
  type KeyPage,
  KeyValueStore,
  type KvEntry,
  type KvRecord,
  type ListQuery,
  type Page,
  type Precondition,
  type WriteOptions,
  type WriteResult,
} from '../kv.store';

export interface MemoryStoreOptions {
  /** How often expired keys are swept out of memory. */
  readonly sweepIntervalMs: number;
  /** WATCH_HISTORY: change events the store's feed keeps for replay. */
  readonly history: number;
}

type ExpiryKey = readonly [expiresAt: number, key: string];

const compareExpiry = (a: ExpiryKey, b: ExpiryKey): number => a[0] - b[0] || compareCodePoints(a[1], b[1]);

/**
 * Expired keys removed per synchronous slice of a sweep: large backlogs are worked off in slices so the
 * event loop keeps serving requests in between.
 */
const SWEEP_SLICE = 1000;

/**
 * The in-memory driver: one process, nothing to install. Records live in a MemoryKeyIndex (ordered by code
 * point, with a reversed-key twin), so listing and prefix/suffix search cost O(log n + page) from any
 * cursor; another tree orders keys that have a TTL by expiry time, so the sweeper finds due keys in
 * O(log n) each and expired keys never pile up in memory.
 *
 * Every method does its work synchronously before resolving, which is what makes batches and
 * preconditions atomic here: no other request can run between the check and the write. Each mutation's events
 * leave through its commit: they are published to the store's own feed as the mutation completes, in the same
 * synchronous step, so a watcher never sees a write before it happened nor misses one.
 */
export class MemoryStore extends KeyValueStore {
  readonly driver = 'memory';

  private readonly records = new MemoryKeyIndex<KvRecord>();
  private readonly expiries = new BTree<ExpiryKey, true>(undefined, compareExpiry);
  private currentRevision = 0;
  private sweepTimer: NodeJS.Timeout | undefined;
  private sweeping = false;
  /** Events of the mutation in progress, published together when it completes. */
  private pending: ChangeEvent[] = [];

  /** The change feed this store's commits are published to. */
  readonly feed: MemoryChangeFeed;

  constructor(private readonly options: MemoryStoreOptions) {
    super();
    this.feed = new MemoryChangeFeed(options.history);
  }

  /** Starts the periodic sweep of expired keys. */
  start(): void {
    if (this.sweepTimer) return;
    this.sweepTimer = setInterval(() => this.sweepInSlices(), this.options.sweepIntervalMs);
    // The sweeper must never be what keeps the process alive.
    this.sweepTimer.unref();
  }

  /** Stops background work. The data stays readable. */
  async close(): Promise<void> {
    clearInterval(this.sweepTimer);
    this.sweepTimer = undefined;
  }

  async get(key: string): Promise<KvRecord | null> {
    const record = this.records.get(key);
    return record && !isExpired(record, Date.now()) ? record : null;
  }

  async set(entries: readonly KvEntry[], options: WriteOptions = {}): Promise<WriteResult[]> {
    return this.mutate((now) => {
      const current = entries.map(({ key }) => this.live(key, now));
      if (options.precondition) {
        checkPreconditions(entries, current, options.precondition);
      }
      const expiresAt = options.ttlSeconds === undefined ? null : now + options.ttlSeconds * 1000;
      const time = new Date(now).toISOString();
      return entries.map(({ key, value }) => {
        // live() has already dropped expired records; a key named twice in a batch sees its earlier pair.
        const previous = this.records.get(key) ?? null;
        const record: KvRecord = {
          key,
          value,
          revision: ++this.currentRevision,
          createdAt: previous?.createdAt ?? now,
          updatedAt: now,
          expiresAt,
        };
        this.unindexExpiry(previous);
        this.records.set(key, record);
        if (expiresAt !== null) this.expiries.set([expiresAt, key], true);
        this.pending.push(
          previous === null
            ? { type: 'put', key, value, revision: record.revision, time }
            : { type: 'put', key, value, prevValue: previous.value, revision: record.revision, time },
        );
        return { record, created: previous === null };
      });
    });
  }

  async delete(key: string, precondition?: Precondition): Promise<KvRecord> {
    return this.mutate((now) => {
      const current = this.live(key, now);
      if (precondition) checkPreconditions([{ key, value: null }], [current], precondition);
      if (current === null) throw new KeyNotFoundError([key]);
      this.remove(current, 'delete', now);
      return current;
    });
  }

  async list(query: ListQuery): Promise<Page> {
    const now = Date.now();
    const { values: items, more } = this.records.query(query, (record) => !isExpired(record, now));
    return { items, next: more ? items[items.length - 1].key : null };
  }

  async listKeys(query: ListQuery): Promise<KeyPage> {
    const { items, next } = await this.list(query);
    return { keys: items.map((record) => record.key), next };
  }

  async count(): Promise<number> {
    const now = Date.now();
    let expired = 0;
    for (const [[expiresAt]] of this.expiries.entries()) {
      if (expiresAt > now) break;
      expired++;
    }
    return this.records.size - expired;
  }

  async revision(): Promise<number> {
    return this.currentRevision;
  }

  async ping(): Promise<void> {}

  /**
   * A point-in-time view for a snapshot, taken synchronously: later writes do not show in it, however long
   * the caller takes to walk its records. Keys already expired at that instant are left out.
   */
  snapshot(): StoreImage {
    const takenAt = Date.now();
    return { revision: this.currentRevision, takenAt, records: liveAt(this.records.frozenValues(), takenAt) };
  }

  /**
   * Fills this new, never-written store from a snapshot: records, their expiry index and the revision, which
   * the change feed continues from. Keys expired by now are skipped, without events: their expiry happened
   * while no one was watching. Returns how many records were restored.
   */
  restore(image: Pick<StoreImage, 'revision' | 'records'>): number {
    if (this.currentRevision !== 0 || this.records.size !== 0) throw new Error('restore() needs a store that has never been written');
    const now = Date.now();
    let restored = 0;
    for (const record of image.records) {
      if (isExpired(record, now)) continue;
      this.records.set(record.key, record);
      if (record.expiresAt !== null) this.expiries.set([record.expiresAt, record.key], true);
      restored++;
    }
    this.currentRevision = image.revision;
    this.feed.startAt(image.revision);
    return restored;
  }

  /**
   * Removes every key whose expiry has passed, up to `limit` of them, and returns how many it removed.
   * Public so tests can drive expiry without waiting for the timer.
   */
  sweep(now = Date.now(), limit = Number.POSITIVE_INFINITY): number {
    return this.mutate(() => {
      let removed = 0;
      while (removed < limit) {
        const due = this.expiries.minKey();
        if (due === undefined || due[0] > now) break;
        const record = this.records.get(due[1]);
        if (record) this.remove(record, 'expire', due[0]);
        else this.expiries.delete(due);
        removed++;
      }
      return removed;
    });
  }

  private sweepInSlices(): void {
    if (this.sweeping) return;
    this.sweeping = true;
    const slice = (): void => {
      if (this.sweep(Date.now(), SWEEP_SLICE) === SWEEP_SLICE && this.sweepTimer) {
        setImmediate(slice);
      } else {
        this.sweeping = false;
      }
    };
    slice();
  }

  /**
   * Runs one mutation and publishes its events as one batch, also when it throws: a failed precondition
   * may already have expired keys, and those expiries happened.
   */
  private mutate<T>(work: (now: number) => T): T {
    try {
      return work(Date.now());
    } finally {
      if (this.pending.length > 0) {
        const batch = this.pending;
        this.pending = [];
        this.feed.publish(batch);
      }
    }
  }

  /** The record for `key` if live; an expired one is removed first, so its expiry is its own change. */
  private live(key: string, now: number): KvRecord | null {
    const record = this.records.get(key);
    if (!record) return null;
    if (!isExpired(record, now)) return record;
    this.remove(record, 'expire', record.expiresAt ?? now);
    return null;
  }

  /** Removes a record as one change; `at` is when it happened (an expiry's own time, not the sweep's). */
  private remove(record: KvRecord, type: 'delete' | 'expire', at: number): void {
    this.records.delete(record.key);
    this.unindexExpiry(record);
    this.pending.push({ type, key: record.key, prevValue: record.value, revision: ++this.currentRevision, time: new Date(at).toISOString() });
  }

  private unindexExpiry(record: KvRecord | null): void {
    if (record?.expiresAt != null) this.expiries.delete([record.expiresAt, record.key]);
  }
}

function isExpired(record: KvRecord, now: number): boolean {
  return record.expiresAt !== null && record.expiresAt <= now;
}

function* liveAt(records: Iterable<KvRecord>, now: number): Generator<KvRecord> {
  for (const record of records) if (!isExpired(record, now)) yield record;
}

/** Throws the matching domain error when any entry violates the precondition. */
export function checkPreconditions(
  entries: readonly KvEntry[],
  current: readonly (KvRecord | null)[],
  precondition: Precondition,
): void {
  if ('revisions' in precondition) {
    entries.forEach(({ key }, i) => {
      const revision = current[i]?.revision ?? null;
      if (revision === null || !precondition.revisions.includes(revision)) {
        throw new RevisionMismatchError(key, revision);
      }
    });
    return;
  }
  const violating = entries.filter((_, i) => (current[i] !== null) !== precondition.exists).map((e) => e.key);
  if (violating.length === 0) return;
  throw precondition.exists ? new KeyNotFoundError(violating) : new KeyExistsError(violating);
}
