import type { JsonValue, KvRecord } from '../kv.store';

/** 2020-01-01T00:00:00Z in seconds: times are kept as seconds from here, small enough for V8's small integers until 2054. */
const EPOCH_SECONDS = 1_577_836_800;

/**
 * A record as the memory driver holds it, one per key: what KvRecord carries, with its two times packed into small
 * integers (whole seconds since 2020 for each, and both millisecond parts in one field).
 *
 * Why not the times themselves: an epoch-milliseconds number is too large for V8's small integers, so each time
 * field of a record would point to a 16-byte heap number of its own. Small integers are kept inside the object:
 * 88 bytes per record instead of 80 plus two 16-byte boxes, 24 bytes per key fewer and two allocations fewer per
 * write (`npm run bench:memory`). A time outside the small range (before 1986 or after 2054, which only a restored
 * snapshot could hold) is still exact, only boxed again.
 *
 * Readers never see this class: the store hands out plain KvRecords (`toRecord`), so nothing outside the driver
 * depends on the packing.
 */
export class MemoryRecord {
  private readonly createdSeconds: number;
  private readonly updatedSeconds: number;
  /** createdAt's milliseconds × 1000 + updatedAt's. */
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
    this.millis = (createdAt - created * 1000) * 1000 + (updatedAt - updated * 1000);
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
