import { ChangeFeed, type ChangeEvent, type WatchSink } from '../change-feed';

/**
 * The in-process change feed: a ring buffer of the last `history` events and a set of live sinks.
 *
 * Replay-then-live is gapless without any locking because everything here is synchronous: `watch` reads
 * the backlog and registers the sink in one turn of the event loop, and the store publishes in one turn
 * too, so no event can fall between the two.
 */
export class MemoryChangeFeed extends ChangeFeed {
  private readonly ring: (ChangeEvent | undefined)[];
  /** Index in `ring` where the next event goes. */
  private head = 0;
  private size = 0;
  private latest = 0;
  private readonly sinks = new Set<WatchSink>();

  constructor(private readonly history: number) {
    super();
    this.ring = new Array<ChangeEvent | undefined>(history);
  }

  get revision(): number {
    return this.latest;
  }

  /**
   * Continues the revision sequence of a restored snapshot: the next event published must be `revision + 1`.
   * The events before it are not retained, so a watch resuming from an older revision gets a reset.
   * Only for a feed that has published nothing yet.
   */
  startAt(revision: number): void {
    if (this.latest !== 0 || this.size !== 0) throw new Error('startAt() needs a feed that has published nothing');
    this.latest = revision;
  }

  get watchers(): number {
    return this.sinks.size;
  }

  async close(): Promise<void> {
    this.sinks.clear();
  }

  /** Called by the memory store with each committed batch, in revision order (not part of the ChangeFeed port). */
  publish(batch: readonly ChangeEvent[]): void {
    if (batch.length === 0) return;
    for (const event of batch) {
      this.ring[this.head] = event;
      this.head = (this.head + 1) % this.history;
      this.size = Math.min(this.size + 1, this.history);
    }
    this.latest = batch[batch.length - 1].revision;
    // A sink that throws must not starve the others of the batch.
    for (const sink of [...this.sinks]) {
      try {
        sink.events(batch);
      } catch {
        this.sinks.delete(sink);
      }
    }
  }

  watch(since: number | null, sink: WatchSink): () => void {
    if (since !== null && since !== this.latest) {
      const backlog = this.since(since);
      if (backlog === null) sink.reset(this.latest);
      else if (backlog.length > 0) sink.events(backlog);
    }
    this.sinks.add(sink);
    return () => this.sinks.delete(sink);
  }

  /** Retained events after `since`, or null when some of them are no longer retained (or never were). */
  private since(since: number): ChangeEvent[] | null {
    if (since > this.latest || since < 0) return null;
    const oldest = this.latest - this.size + 1; // revisions in the ring are consecutive
    if (since < oldest - 1) return null;
    const count = this.latest - since;
    const events: ChangeEvent[] = [];
    for (let i = this.size - count; i < this.size; i++) {
      events.push(this.ring[(this.head - this.size + i + this.history) % this.history] as ChangeEvent);
    }
    return events;
  }
}
