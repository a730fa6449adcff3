import type { KeyspacePosition, Position } from './keyspace';
import type { JsonValue } from './kv.store';

export type ChangeType = 'put' | 'delete' | 'expire';

/**
 * One change to one key. `put` carries `value` (and `prevValue` when it replaced one); `delete` and
 * `expire` carry `prevValue` (to every sink that reads values: see WatchSink.readsValues). Every event has its own
 * store revision: revisions are consecutive within a keyspace, so a watcher can tell from the numbers alone that it
 * missed nothing.
 */
export interface ChangeEvent {
  readonly type: ChangeType;
  readonly key: string;
  readonly value?: JsonValue;
  readonly prevValue?: JsonValue;
  /** The keyspace the revision belongs to (see keyspace.ts). */
  readonly keyspace: string;
  readonly revision: number;
  /** When the change happened, ISO 8601. */
  readonly time: string;
}

/** Receives one watch's events. Calls are synchronous and in revision order. */
export interface WatchSink {
  /** Events in revision order; one call carries whole atomic batches (a multi-pair set is never split). */
  events(batch: readonly ChangeEvent[]): void;
  /**
   * The requested start is not in the retained history (older than it, ahead of the store, or from another
   * keyspace), or the keyspace changed under a running watch: events were lost. The client must re-read state,
   * then continue from `position`; live events follow.
   */
  reset(position: KeyspacePosition): void;
  /**
   * Flow control of replays: while this returns false the feed reads no more history for this watch, until
   * `Watch.resume()`. Live events are never held back (a sink that cannot keep up ends itself). Absent: replay
   * without pause.
   */
  wantsMore?(): boolean;
  /**
   * Events this watch still had to replay left the history while it was paused (it could not keep up). Absent:
   * `reset` to the current position is sent instead.
   */
  lagged?(): void;
  /**
   * False: the sink reads neither `value` nor `prevValue` (a counter, a waker), so its events may come without them.
   * The Redis driver then leaves the values in its stream entries unparsed unless another sink reads them, which
   * spares every replica a JSON parse of each write's value and previous value. Absent: the sink reads them.
   */
  readonly readsValues?: boolean;
}

/** A running watch. */
export interface Watch {
  /** False while it is still replaying history: its position is not the feed's yet. */
  readonly live: boolean;
  /** Stops the watch and releases everything it held. */
  stop(): void;
  /** The sink has room again (wantsMore is true): continue a paused replay. */
  resume(): void;
}

/**
 * The change feed port: every committed change, in revision order, keeping the last WATCH_HISTORY events (and at
 * most WATCH_HISTORY_BYTES of them) for replay. Events enter it only through the store's own commits (each driver
 * publishes internally, as a write completes), so consumers can only watch. In process for the memory driver;
 * on Redis a stream that spans replicas, with the same contract.
 */
export abstract class ChangeFeed {
  /**
   * Starts a watch: every retained event after `since` first (or a reset when they are not all retained, or when
   * `since` is from another keyspace or ahead of the store), then live events, with no gap and no duplicate
   * between the two. `since` null: live only. A change of keyspace under a running watch resets it.
   */
  abstract watch(since: Position | null, sink: WatchSink): Watch;

  /** The newest position: the current keyspace and the revision of its newest event (its base before any). */
  abstract get position(): KeyspacePosition;

  /** Live watches (for metrics, and for tests proving that closed streams release everything). */
  abstract get watchers(): number;

  /** Stops following changes and releases connections. Called once, at shutdown. */
  abstract close(): Promise<void>;
}

/**
 * The part of a watch every driver shares: where its replay stands, and its end. A driver says how a paused replay
 * goes on (`resume`) and what stopping releases (`release`).
 */
export abstract class FeedWatch implements Watch {
  /** The revision replayed up to, or null once live. */
  cursor: number | null = null;
  stopped = false;

  constructor(readonly sink: WatchSink) {}

  get live(): boolean {
    return this.cursor === null;
  }

  stop(): void {
    this.stopped = true;
    this.release();
  }

  abstract resume(): void;

  /** Takes the watch out of its feed. */
  protected abstract release(): void;
}
