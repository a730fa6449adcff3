import type { JsonValue, KvRecord } from '../kv.store';

/**
 * 2020-01-01T00:00:00Z in seconds: times are kept as seconds from here, which V8 holds as small integers from 1986 to
 * 2054 (31-bit small integers, on builds with pointer compression) or from 1952 to 2088 (32-bit, on builds without
 * it, such as Node's official ones).
 */
const EPOCH_SECONDS = 1_577_836_800;

/**
 * A record as the memory driver holds it, one per key: what KvRecord carries, with its two times packed into small
 * integers (whole seconds since 2020 for each, and both millisecond parts in one field). Times are whole epoch
 * milliseconds (Date.now(), or a snapshot's, which are checked to be whole).
 *
 * Why not the times themselves: an epoch-milliseconds number is too large for V8's small integers, so each time
 * field of a record would point to a 16-byte heap number of its own. Small integers are kept inside the object:
 * 88 bytes per record instead of 80 plus two 16-byte boxes, so 24 bytes and two heap objects fewer per key held
 * (`npm run bench:memory`). A time outside the small range (see EPOCH_SECONDS; only a restored snapshot could hold
 * one) is still exact, only boxed again.
 *
 * Readers never see this class: the store hands out plain KvRecords (`toRecord`), built when asked for, so nothing
 * outside the driver depends on the packing.
 */
export class MemoryRecord {
  /** Whole seconds (floored: negative before 2020) from EPOCH_SECONDS to createdAt. */
  private readonly createdSeconds: number;
  /** The same for updatedAt. */
  private readonly updatedSeconds: number;
  /** createdAt's milliseconds × 1000 + updatedAt's, 0 to 999,999. */
  private readonly millis: number;

  constructor(
    readonly key: string,
    readonly value: JsonValue,
    /** Store revision of the key's last put. */
    readonly revision: number,
    createdAt: number,
    updatedAt: number,
    /** When the key stops existing, or null for never. */
    readonly expiresAt: number | null,
    /** Bytes of the value's JSON encoding. */
    readonly size: number,
  ) {
    const created = Math.floor(createdAt / 1000);
    const updated = Math.floor(updatedAt / 1000);
    this.createdSeconds = created - EPOCH_SECONDS;
    this.updatedSeconds = updated - EPOCH_SECONDS;
    // `| 0`: the interpreter's float arithmetic would give a heap number until the constructor is optimised.
    this.millis = ((createdAt - created * 1000) * 1000 + (updatedAt - updated * 1000)) | 0;
  }

  /** Builds the record from a KvRecord (one restored from a snapshot). */
  static of(record: KvRecord): MemoryRecord {
    return new MemoryRecord(record.key, record.value, record.revision, record.createdAt, record.updatedAt, record.expiresAt, record.size);
  }

  /** Epoch milliseconds. */
  get createdAt(): number {
    return (this.createdSeconds + EPOCH_SECONDS) * 1000 + Math.floor(this.millis / 1000);
  }

  /** Epoch milliseconds. */
  get updatedAt(): number {
    return (this.updatedSeconds + EPOCH_SECONDS) * 1000 + (this.millis % 1000);
  }

  /** The record as readers see it: a plain object, times in epoch milliseconds. */
  toRecord(): KvRecord {
    return {
      key: this.key,
      value: this.value,
      revision: this.revision,
      createdAt: this.createdAt,
      updatedAt: this.updatedAt,
      expiresAt: this.expiresAt,
      size: this.size,
    };
  }
}
