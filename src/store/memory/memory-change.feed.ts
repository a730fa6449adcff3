import { ChangeFeed, type ChangeEvent, FeedWatch, type Watch, type WatchSink } from '../change-feed';
import type { Keyspace, KeyspacePosition, Position } from '../keyspace';
import { MemoryEventHistory } from './memory-event.history';

export interface MemoryChangeFeedOptions {
  /** WATCH_HISTORY: most events kept for replay. */
  readonly history: number;
  /** WATCH_HISTORY_BYTES: most bytes of events kept for replay (the newest event is kept whatever its size). */
  readonly historyBytes: number;
}

/**
 * Replays hand a sink history in slices of about this many bytes (whole batches), asking it between slices
 * whether it wants more: a resuming stream never holds more than its own bound, however large the backlog.
 */
const SLICE_BYTES = 64 * 1024;

class MemoryWatch extends FeedWatch {
  constructor(
    private readonly feed: MemoryChangeFeed,
    sink: WatchSink,
  ) {
    super(sink);
  }

  resume(): void {
    if (!this.stopped && this.cursor !== null) this.feed.pump(this);
  }

  protected release(): void {
    this.feed.forget(this);
  }
}

/**
 * The in-process change feed: the last `history` events (at most `historyBytes` of them) and a set of live
 * watches.
 *
 * Replay-then-live is gapless without any locking because everything here is synchronous: a replay reads the
 * history and joins the live watches in the same turn of the event loop in which it reads the newest event, and
 * the store publishes in one turn too, so no event can fall between the two. A replay paused by its sink (a slow
 * client) goes on reading the history when resumed, new events included, and so catches up without holding any.
 */
export class MemoryChangeFeed extends ChangeFeed {
  private readonly history: MemoryEventHistory;
  private latest: number;
  private readonly live = new Set<MemoryWatch>();
  private readonly replaying = new Set<MemoryWatch>();

  constructor(
    options: MemoryChangeFeedOptions,
    private keyspace: Keyspace,
  ) {
    super();
    this.history = new MemoryEventHistory(options.history, options.historyBytes);
    this.latest = keyspace.base;
  }

  get position(): KeyspacePosition {
    return { keyspace: this.keyspace.id, revision: this.latest };
  }

  get watchers(): number {
    return this.live.size + this.replaying.size;
  }

  /** Retained events and their bytes (for the memory bound's tests and metrics). */
  get retained(): { readonly events: number; readonly bytes: number } {
    return { events: this.history.length, bytes: this.history.bytes };
  }

  /**
   * Continues a keyspace restored from a snapshot, or begins the one a restart chose, at `revision`: the next event
   * published is `revision + 1`. Nothing before it is retained, so a watch resuming from an older revision gets a
   * reset. Only for a feed that has published nothing yet.
   */
  startAt(keyspace: Keyspace, revision: number): void {
    if (this.history.length !== 0 || this.latest !== this.keyspace.base) throw new Error('startAt() needs a feed that has published nothing');
    this.keyspace = keyspace;
    this.latest = revision;
  }

  async close(): Promise<void> {
    this.live.clear();
    this.replaying.clear();
  }

  /**
   * Called by the memory store with each committed batch, in revision order, and the size of each event (not part
   * of the ChangeFeed port: events enter only through the store's commits).
   */
  publish(batch: readonly ChangeEvent[], sizes: readonly number[]): void {
    if (batch.length === 0) return;
    this.history.append(batch, sizes);
    this.latest = batch[batch.length - 1].revision;
    // A watch that throws must not starve the others of the batch.
    for (const watch of [...this.live]) {
      try {
        watch.sink.events(batch);
      } catch {
        this.live.delete(watch);
      }
    }
  }

  watch(since: Position | null, sink: WatchSink): Watch {
    const watch = new MemoryWatch(this, sink);
    if (since === null || (since.revision === this.latest && (since.keyspace ?? this.keyspace.id) === this.keyspace.id)) {
      this.live.add(watch);
    } else if (!this.retains(since)) {
      sink.reset(this.position);
      this.live.add(watch);
    } else {
      watch.cursor = since.revision;
      this.replaying.add(watch);
      this.pump(watch);
    }
    return watch;
  }

  /** Reads history into a replaying watch until it catches up (then it is live) or its sink wants no more. */
  pump(watch: MemoryWatch): void {
    const { sink } = watch;
    while (!watch.stopped && watch.cursor !== null) {
      if (watch.cursor === this.latest) {
        watch.cursor = null;
        this.replaying.delete(watch);
        this.live.add(watch);
        return;
      }
      if (sink.wantsMore && !sink.wantsMore()) return;
      const oldest = this.history.oldest;
      if (oldest === undefined || watch.cursor + 1 < oldest) {
        // What it still had to read left the history while it was paused: it could not keep up.
        this.replaying.delete(watch);
        watch.cursor = null;
        if (sink.lagged) {
          sink.lagged();
        } else {
          sink.reset(this.position);
          this.live.add(watch);
        }
        return;
      }
      const slice = this.history.slice(watch.cursor + 1, SLICE_BYTES);
      watch.cursor = slice[slice.length - 1].revision;
      sink.events(slice);
    }
  }

  /** Called by a watch that stops. */
  forget(watch: MemoryWatch): void {
    this.live.delete(watch);
    this.replaying.delete(watch);
  }

  /** True when every event after `since` is retained and `since` is a position of the current keyspace. */
  private retains(since: Position): boolean {
    if (since.keyspace !== null && since.keyspace !== this.keyspace.id) return false;
    if (since.revision > this.latest || since.revision < this.keyspace.base) return false;
    return since.revision >= (this.history.oldest ?? this.latest + 1) - 1;
  }
}
