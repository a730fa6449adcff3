import BTree from 'sorted-btree';
import { KeyExistsError, KeyNotFoundError, RevisionMismatchError, StoreFullError } from '../../common/errors/domain.errors';
import type { ChangeEvent } from '../change-feed';
import { eventTime } from '../event-time';
import { compareCodePoints } from '../key-order';
import { type Keyspace, newKeyspaceId } from '../keyspace';
import { MemoryChangeFeed } from './memory-change.feed';
import { MemoryKeyIndex } from './memory-key.index';
import { MemoryRecord } from './memory.record';
import type { StoreImage } from './memory-snapshot';
import {
  type JsonValue,
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
  /** WATCH_HISTORY_BYTES: and at most this many bytes of them. Default: no byte bound. */
  readonly historyBytes?: number;
  /** KV_MAX_STORE_BYTES: most bytes of keys and values (JSON) the store holds. Default: no bound. */
  readonly maxBytes?: number;
}

/** What a change event costs in the history beyond its key and values: its other fields and its encoding. */
const EVENT_OVERHEAD_BYTES = 128;

/**
 * What a key costs in memory beyond its own bytes and its value's: the record, its entries in the key map and both
 * ordered indexes (measured: about 350 bytes at a million keys). Counted in KV_MAX_STORE_BYTES, so that many tiny
 * keys cannot take far more memory than the bound says.
 */
export const KEY_OVERHEAD_BYTES = 384;

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

  private readonly records = new MemoryKeyIndex<MemoryRecord>();
  /** Bytes of keys (UTF-8) and values (JSON) held, plus KEY_OVERHEAD_BYTES per key: what KV_MAX_STORE_BYTES bounds. */
  private storedBytes = 0;
  private currentKeyspace: Keyspace = { id: newKeyspaceId(), base: 0 };
  private readonly expiries = new BTree<ExpiryKey, true>(undefined, compareExpiry);
  private currentRevision = 0;
  private sweepTimer: NodeJS.Timeout | undefined;
  private sweeping = false;
  /** Events of the mutation in progress (and their sizes), published together when it completes. */
  private pending: ChangeEvent[] = [];
  private pendingSizes: number[] = [];

  /** The change feed this store's commits are published to. */
  readonly feed: MemoryChangeFeed;

  constructor(private readonly options: MemoryStoreOptions) {
    super();
    this.feed = new MemoryChangeFeed({ history: options.history, historyBytes: options.historyBytes ?? Number.POSITIVE_INFINITY }, this.currentKeyspace);
  }

  /** The keyspace of this process: new at every start, unless restored from a snapshot taken at a clean stop. */
  get keyspace(): Keyspace {
    return this.currentKeyspace;
  }

  /** Bytes of keys and values held (what KV_MAX_STORE_BYTES bounds). */
  get bytes(): number {
    return this.storedBytes;
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
    return this.readable(key)?.toRecord() ?? null;
  }

  async value(key: string): Promise<JsonValue | undefined> {
    return this.readable(key)?.value;
  }

  async set(entries: readonly KvEntry[], options: WriteOptions = {}): Promise<WriteResult[]> {
    return this.mutate((now) => {
      const current = entries.map(({ key }) => this.live(key, now));
      if (options.precondition) {
        checkPreconditions(entries, current, options.precondition, this.currentKeyspace.id);
      }
      const sizes = entries.map((entry) => entry.size ?? jsonBytes(entry.value));
      this.checkRoom(entries, sizes);
      const expiresAt = options.ttlSeconds === undefined ? null : now + options.ttlSeconds * 1000;
      const time = eventTime(now);
      const keyspace = this.currentKeyspace.id;
      return entries.map(({ key, value }, i) => {
        // live() has already dropped expired records; a key named twice in a batch sees its earlier pair. A single
        // pair's is the record live() found: a look-up in a map of every key, saved on the most common write.
        const previous = entries.length === 1 ? current[0] : (this.records.get(key) ?? null);
        const record = new MemoryRecord(key, value, ++this.currentRevision, previous?.createdAt ?? now, now, expiresAt, sizes[i]);
        this.unindexExpiry(previous);
        this.records.set(key, record);
        this.storedBytes += sizes[i] - (previous === null ? -(Buffer.byteLength(key) + KEY_OVERHEAD_BYTES) : previous.size);
        if (expiresAt !== null) this.expiries.set([expiresAt, key], true);
        this.pending.push(
          previous === null
            ? { type: 'put', key, value, keyspace, revision: record.revision, time }
            : { type: 'put', key, value, prevValue: previous.value, keyspace, revision: record.revision, time },
        );
        this.pendingSizes.push(EVENT_OVERHEAD_BYTES + 2 * key.length + sizes[i] + (previous?.size ?? 0));
        return new MemoryWriteResult(record, previous === null);
      });
    });
  }

  async delete(key: string, precondition?: Precondition): Promise<KvRecord> {
    return this.mutate((now) => {
      const current = this.live(key, now);
      if (precondition) checkPreconditions([{ key, value: null }], [current], precondition, this.currentKeyspace.id);
      if (current === null) throw new KeyNotFoundError([key]);
      this.remove(current, 'delete', now);
      return current.toRecord();
    });
  }

  async list(query: ListQuery): Promise<Page> {
    const { records, next } = this.page(query);
    return { items: records.map((record) => record.toRecord()), next };
  }

  async listKeys(query: ListQuery): Promise<KeyPage> {
    const { records, next } = this.page(query);
    return { keys: records.map((record) => record.key), next };
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
    return { keyspace: this.currentKeyspace, revision: this.currentRevision, takenAt, records: liveAt(this.records.frozenValues(), takenAt) };
  }

  /**
   * Fills this new, never-written store from a snapshot: records, their expiry index and the revision, which
   * the change feed continues from, in `keyspace`: the snapshot's own when it was taken at a clean stop, else a
   * new one based at its revision (see MemorySnapshotService). Keys expired by now are skipped, without events:
   * their expiry happened while no one was watching. Returns how many records were restored.
   */
  restore(image: Pick<StoreImage, 'revision' | 'records'>, keyspace: Keyspace): number {
    if (this.currentRevision !== 0 || this.records.size !== 0) throw new Error('restore() needs a store that has never been written');
    const now = Date.now();
    let restored = 0;
    for (const record of image.records) {
      if (isExpired(record, now)) continue;
      this.records.set(record.key, MemoryRecord.of(record));
      this.storedBytes += Buffer.byteLength(record.key) + KEY_OVERHEAD_BYTES + record.size;
      if (record.expiresAt !== null) this.expiries.set([record.expiresAt, record.key], true);
      restored++;
    }
    this.currentRevision = image.revision;
    this.currentKeyspace = keyspace;
    this.feed.startAt(keyspace, image.revision);
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
        const [batch, sizes] = [this.pending, this.pendingSizes];
        this.pending = [];
        this.pendingSizes = [];
        this.feed.publish(batch, sizes);
      }
    }
  }

  /** The live records of a page, and the key the next page starts after (null on the last page). */
  private page(query: ListQuery): { records: MemoryRecord[]; next: string | null } {
    const now = Date.now();
    const { values, more } = this.records.query(query, (record) => !isExpired(record, now));
    const records = query.maxBytes === undefined ? values : withinBytes(values, query.maxBytes);
    return { records, next: more || records.length < values.length ? records[records.length - 1].key : null };
  }

  /** The record for `key` if live, for a read: an expired one is left for the sweeper (or the next write) to remove. */
  private readable(key: string): MemoryRecord | undefined {
    const record = this.records.get(key);
    return record && !isExpired(record, Date.now()) ? record : undefined;
  }

  /** The record for `key` if live; an expired one is removed first, so its expiry is its own change. */
  private live(key: string, now: number): MemoryRecord | null {
    const record = this.records.get(key);
    if (!record) return null;
    if (!isExpired(record, now)) return record;
    this.remove(record, 'expire', record.expiresAt ?? now);
    return null;
  }

  /** Removes a record as one change; `at` is when it happened (an expiry's own time, not the sweep's). */
  private remove(record: MemoryRecord, type: 'delete' | 'expire', at: number): void {
    this.records.delete(record.key);
    this.storedBytes -= Buffer.byteLength(record.key) + KEY_OVERHEAD_BYTES + record.size;
    this.unindexExpiry(record);
    this.pending.push({
      type,
      key: record.key,
      prevValue: record.value,
      keyspace: this.currentKeyspace.id,
      revision: ++this.currentRevision,
      time: eventTime(at),
    });
    this.pendingSizes.push(EVENT_OVERHEAD_BYTES + 2 * record.key.length + record.size);
  }

  /** Throws StoreFullError, before anything changes, when writing `entries` would take the store past KV_MAX_STORE_BYTES. */
  private checkRoom(entries: readonly KvEntry[], sizes: readonly number[]): void {
    const max = this.options.maxBytes;
    if (max === undefined) return;
    // Net growth, with a key named twice in a batch counted at its last value.
    const last = new Map<string, number>();
    entries.forEach(({ key }, i) => last.set(key, sizes[i]));
    let growth = 0;
    for (const [key, size] of last) {
      const previous = this.records.get(key);
      growth += previous ? size - previous.size : size + Buffer.byteLength(key) + KEY_OVERHEAD_BYTES;
    }
    if (growth > 0 && this.storedBytes + growth > max) {
      throw new StoreFullError(`The store holds ${this.storedBytes} bytes of keys and values; this write needs ${growth} more and the limit is KV_MAX_STORE_BYTES=${max}; delete keys, or raise the limit`);
    }
  }

  private unindexExpiry(record: MemoryRecord | null): void {
    if (record?.expiresAt != null) this.expiries.delete([record.expiresAt, record.key]);
  }
}

/**
 * A write's result, its record built only when read: a bulk `POST /set` answers with a count and never reads them,
 * and building each would cost a record object and its two times per pair written.
 */
class MemoryWriteResult implements WriteResult {
  constructor(
    private readonly stored: MemoryRecord,
    readonly created: boolean,
  ) {}

  get record(): KvRecord {
    return this.stored.toRecord();
  }
}

/** Bytes of a value's JSON encoding. */
export function jsonBytes(value: unknown): number {
  return Buffer.byteLength(JSON.stringify(value));
}

/** The leading records whose keys and values fit in `maxBytes`; the first one always (a record larger than a page comes alone). */
function withinBytes(records: MemoryRecord[], maxBytes: number): MemoryRecord[] {
  let bytes = 0;
  for (let i = 0; i < records.length; i++) {
    bytes += records[i].size + records[i].key.length;
    if (bytes > maxBytes && i > 0) return records.slice(0, i);
  }
  return records;
}

function isExpired(record: Pick<KvRecord, 'expiresAt'>, now: number): boolean {
  return record.expiresAt !== null && record.expiresAt <= now;
}

function* liveAt(records: Iterable<MemoryRecord>, now: number): Generator<KvRecord> {
  for (const record of records) if (!isExpired(record, now)) yield record.toRecord();
}

/** Throws the matching domain error when any entry violates the precondition, checked in `keyspace`. */
export function checkPreconditions(
  entries: readonly KvEntry[],
  current: readonly (Pick<KvRecord, 'revision'> | null)[],
  precondition: Precondition,
  keyspace: string,
): void {
  if ('revisions' in precondition) {
    entries.forEach(({ key }, i) => {
      const revision = current[i]?.revision ?? null;
      if (revision === null || !precondition.revisions.some((p) => p.keyspace === keyspace && p.revision === revision)) {
        throw new RevisionMismatchError(key, revision);
      }
    });
    return;
  }
  const violating = entries.filter((_, i) => (current[i] !== null) !== precondition.exists).map((e) => e.key);
  if (violating.length === 0) return;
  throw precondition.exists ? new KeyNotFoundError(violating) : new KeyExistsError(violating);
}
