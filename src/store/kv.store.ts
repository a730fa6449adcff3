import type { Keyspace, KeyspacePosition } from './keyspace';

/** Any value JSON can carry. */
export type JsonValue = string | number | boolean | null | JsonValue[] | { [key: string]: JsonValue };

/** One stored key with its metadata. Times are epoch milliseconds. */
export interface KvRecord {
  readonly key: string;
  readonly value: JsonValue;
  /** Store revision of the key's last change (put). */
  readonly revision: number;
  readonly createdAt: number;
  readonly updatedAt: number;
  /** When the key stops existing, or null for never. */
  readonly expiresAt: number | null;
  /** Bytes of the value's JSON encoding. */
  readonly size: number;
}

export interface KvEntry {
  readonly key: string;
  readonly value: JsonValue;
  /** Bytes of the value's JSON encoding, when the caller has measured it already (the store measures otherwise). */
  readonly size?: number;
  /**
   * The value's JSON text, when the caller has encoded it already (to measure it): a driver that stores the text
   * uses it rather than encoding the value a second time, which for a value of megabytes takes milliseconds.
   */
  readonly json?: string;
}

/**
 * A condition every key of a write must meet, checked atomically with the write itself.
 * - `{ exists: false }`: create only (nx, If-None-Match: *)
 * - `{ exists: true }`: update only (xx, If-Match: *)
 * - `{ revisions: [...] }`: compare-and-set: the key exists at one of these positions (If-Match); a position of
 *   another keyspace never matches, even with the same revision number
 */
export type Precondition =
  | { readonly exists: boolean }
  | { readonly revisions: readonly KeyspacePosition[] };

export interface WriteOptions {
  /** Lifetime in seconds. Omitted: the key never expires (a previous TTL is cleared, as Redis SET does). */
  readonly ttlSeconds?: number;
  readonly precondition?: Precondition;
}

export interface WriteResult {
  readonly record: KvRecord;
  /** True when the key did not exist before this write. */
  readonly created: boolean;
}

/**
 * A page of keys in ascending code-point order, optionally filtered. Absent or empty filters match every
 * key; both together match keys that have the prefix and the suffix.
 */
export interface ListQuery {
  readonly limit: number;
  /** Exclusive lower bound: only keys after this one. */
  readonly after?: string;
  readonly prefix?: string;
  readonly suffix?: string;
  /**
   * KV_MAX_PAGE_BYTES (`list` only): the page ends early, before the record whose value would take it past this
   * many bytes of values (and keys); a first record larger than it still comes, alone.
   */
  readonly maxBytes?: number;
}

export interface Page {
  readonly items: KvRecord[];
  /** The cursor for the next page (the last key of this one), or null when nothing remains. */
  readonly next: string | null;
}

export interface KeyPage {
  readonly keys: string[];
  /** The cursor for the next page (the last key of this one), or null when nothing remains. */
  readonly next: string | null;
}

/**
 * The store port. Controllers and services depend on this abstract class, which doubles as the
 * injection token; a factory in StoreModule binds the driver chosen by STORE_DRIVER.
 *
 * Contract shared by every driver:
 * - One store-wide revision counter, strictly increasing, bumped once per key changed (each pair of a
 *   batch gets its own consecutive revision) and once per key deleted or expired.
 * - Writes are atomic: a batch is applied whole or not at all, and preconditions are checked in the same
 *   step. Violations throw KeyExistsError, KeyNotFoundError or RevisionMismatchError and write nothing.
 * - An expired key is never returned, even before the driver has physically removed it.
 * - Keys order by Unicode code point everywhere (see compareCodePoints).
 * - Revisions belong to a keyspace (keyspace.ts): no revision is ever handed out twice in one keyspace.
 */
export abstract class KeyValueStore {
  /** Driver name, e.g. for metrics labels. */
  abstract readonly driver: string;

  /**
   * The keyspace as this process knows it now (the memory driver's own; on Redis the one the last answer from
   * Redis named). ETags and watch ids carry its id; preconditions are checked against the store's own.
   */
  abstract get keyspace(): Keyspace;

  /** The live record for `key`, or null if absent or expired. */
  abstract get(key: string): Promise<KvRecord | null>;

  /**
   * The live value of `key`, or undefined if absent or expired: `get` without the record's revision, times and
   * keyspace, for a read that answers with the value alone (the seed `GET /get/:key`). The redis driver then reads
   * the record's hash only, where `get` also reads the keyspace its revision belongs to.
   */
  abstract value(key: string): Promise<JsonValue | undefined>;

  /** Writes all entries atomically (see the contract above) and returns the new records in order. */
  abstract set(entries: readonly KvEntry[], options?: WriteOptions): Promise<WriteResult[]>;

  /** Deletes `key` and returns the record it had. Throws KeyNotFoundError if absent. */
  abstract delete(key: string, precondition?: Precondition): Promise<KvRecord>;

  /** A page of live records in key order. Costs O(log n + page), however large the store. */
  abstract list(query: ListQuery): Promise<Page>;

  /** Like `list`, keys only (the search path: no values are fetched). */
  abstract listKeys(query: ListQuery): Promise<KeyPage>;

  /** Number of live keys (expired keys not yet swept may be counted by some drivers until the next sweep). */
  abstract count(): Promise<number>;

  /** The store's current revision (0 for a store that has never been written). */
  abstract revision(): Promise<number>;

  /** Resolves when the store can serve requests; rejects otherwise. */
  abstract ping(): Promise<void>;

  /** Releases timers and connections. Called once, at shutdown, after HTTP has drained. */
  abstract close(): Promise<void>;
}
