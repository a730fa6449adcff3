import type { ChangeEvent, ChangeType } from '../change-feed';
import type { JsonValue } from '../kv.store';

/** Slots a history starts with; it doubles when full, up to its bound on events. */
const INITIAL_SLOTS = 1024;

/**
 * The memory driver's replay history: the newest events, at most `maxEvents` of them and at most `maxBytes` of their
 * sizes (the newest event is kept whatever its size), held field by field in a ring of parallel arrays.
 *
 * Why not the events themselves: an event object lives exactly as long as the history keeps it, long enough for
 * the garbage collector to move it to the old generation, where it then dies. Under a stream of writes that was
 * the bulk of the old generation's garbage (10,000 retained events are some 1.5 MB, rewritten every few thousand
 * writes), which is what sets the heap's peak, and so the process's RSS, while a store is being filled
 * (`npm run bench:memory`). Here retaining an event writes a few pointers (to its key, its values and its batch's
 * time string) into arrays that grow with the history (doubling, up to maxEvents), not with each event; events are
 * built again, equal to the published ones, only when a replay reads them. So a replayed event is a new object: what
 * is cached by event identity (a stream's encodings of one turn's events) is not shared with a replay.
 *
 * Revisions in the history are consecutive, so they are not stored: slot `i` (counted from the oldest) holds
 * revision `oldest + i`.
 */
export class MemoryEventHistory {
  private types: ChangeType[] = [];
  private keys: string[] = [];
  private values: (JsonValue | undefined)[] = [];
  private prevValues: (JsonValue | undefined)[] = [];
  private keyspaces: string[] = [];
  private times: string[] = [];
  private sizes = new Float64Array(0);
  /** 1 where the event is the last of its atomic batch: replay slices end only there. */
  private batchEnds = new Uint8Array(0);
  /** Array index of the oldest event. */
  private head = 0;
  private count = 0;
  private totalBytes = 0;
  /** Revision of the oldest event (meaningless while empty). */
  private first = 0;

  constructor(
    private readonly maxEvents: number,
    private readonly maxBytes: number,
    /** Slots of the first allocation (tests make it small, to grow a history that has wrapped around). */
    private readonly initialSlots = INITIAL_SLOTS,
  ) {
    if (!(maxEvents >= 1 && initialSlots >= 1)) throw new RangeError(`a history keeps at least one event (maxEvents ${maxEvents}, initialSlots ${initialSlots})`);
  }

  /** Events retained. */
  get length(): number {
    return this.count;
  }

  /** Their sizes, summed. */
  get bytes(): number {
    return this.totalBytes;
  }

  /** Revision of the oldest retained event, or undefined when none is. */
  get oldest(): number | undefined {
    return this.count === 0 ? undefined : this.first;
  }

  /**
   * Appends one committed batch (consecutive revisions, following the newest retained one), then drops the oldest
   * events beyond either bound.
   */
  append(batch: readonly ChangeEvent[], sizes: readonly number[]): void {
    if (this.count === 0 && batch.length > 0) this.first = batch[0].revision;
    for (let i = 0; i < batch.length; i++) {
      if (this.count === this.slots) {
        if (this.slots < this.maxEvents) this.grow();
        else this.dropOldest();
      }
      const event = batch[i];
      const slot = (this.head + this.count) % this.slots;
      this.types[slot] = event.type;
      this.keys[slot] = event.key;
      this.values[slot] = event.value;
      this.prevValues[slot] = event.prevValue;
      this.keyspaces[slot] = event.keyspace;
      this.times[slot] = event.time;
      this.sizes[slot] = sizes[i];
      this.batchEnds[slot] = i === batch.length - 1 ? 1 : 0;
      this.totalBytes += sizes[i];
      this.count++;
    }
    while (this.totalBytes > this.maxBytes && this.count > 1) this.dropOldest();
  }

  /**
   * The events from `revision` (a retained one) on, in whole batches, stopping at the end of the first batch that
   * brings the slice to `sliceBytes` or more.
   */
  slice(revision: number, sliceBytes: number): ChangeEvent[] {
    const events: ChangeEvent[] = [];
    let bytes = 0;
    for (let i = revision - this.first; i < this.count; i++) {
      const slot = (this.head + i) % this.slots;
      events.push(this.eventAt(slot, this.first + i));
      bytes += this.sizes[slot];
      if (bytes >= sliceBytes && this.batchEnds[slot] === 1) break;
    }
    return events;
  }

  private get slots(): number {
    return this.sizes.length;
  }

  /** The event as the store published it: the same fields, in the same order, absent ones left out. */
  private eventAt(slot: number, revision: number): ChangeEvent {
    const type = this.types[slot];
    const key = this.keys[slot];
    const value = this.values[slot];
    const prevValue = this.prevValues[slot];
    const keyspace = this.keyspaces[slot];
    const time = this.times[slot];
    if (value === undefined) return prevValue === undefined ? { type, key, keyspace, revision, time } : { type, key, prevValue, keyspace, revision, time };
    return prevValue === undefined ? { type, key, value, keyspace, revision, time } : { type, key, value, prevValue, keyspace, revision, time };
  }

  private dropOldest(): void {
    const slot = this.head;
    this.totalBytes -= this.sizes[slot];
    // Released now: a dropped event may hold the only references to a large key or value.
    this.keys[slot] = '';
    this.values[slot] = undefined;
    this.prevValues[slot] = undefined;
    this.head = (this.head + 1) % this.slots;
    this.count--;
    this.first++;
  }

  /** Doubles the slots (up to maxEvents), the oldest event moving to index 0. Pushed, so the arrays stay packed. */
  private grow(): void {
    const slots = Math.min(this.maxEvents, Math.max(this.initialSlots, 2 * this.slots));
    const order = Array.from({ length: this.count }, (_, i) => (this.head + i) % this.slots);
    const regrow = <T>(from: T[], empty: T): T[] => {
      const to: T[] = [];
      for (const slot of order) to.push(from[slot]);
      while (to.length < slots) to.push(empty);
      return to;
    };
    this.types = regrow(this.types, 'put');
    this.keys = regrow(this.keys, '');
    this.values = regrow(this.values, undefined);
    this.prevValues = regrow(this.prevValues, undefined);
    this.keyspaces = regrow(this.keyspaces, '');
    this.times = regrow(this.times, '');
    const sizes = new Float64Array(slots);
    const batchEnds = new Uint8Array(slots);
    order.forEach((slot, i) => {
      sizes[i] = this.sizes[slot];
      batchEnds[i] = this.batchEnds[slot];
    });
    this.sizes = sizes;
    this.batchEnds = batchEnds;
    this.head = 0;
  }
}
