import type { JsonValue } from './kv.store';

export type ChangeType = 'put' | 'delete' | 'expire';

/**
 * One change to one key. `put` carries `value` (and `prevValue` when it replaced one); `delete` and
 * `expire` carry `prevValue`. Every event has its own store revision: revisions are consecutive, so a
 * watcher can tell from the numbers alone that it missed nothing.
 */
export interface ChangeEvent {
  readonly type: ChangeType;
  readonly key: string;
  readonly value?: JsonValue;
  readonly prevValue?: JsonValue;
  readonly revision: number;
  /** When the change happened, ISO 8601. */
  readonly time: string;
}

/** Receives one watch's events. Calls are synchronous and in revision order. */
export interface WatchSink {
  /** Events in revision order; one call carries one whole atomic batch (a multi-pair set). */
  events(batch: readonly ChangeEvent[]): void;
  /**
   * The requested start is older than the retained history (or ahead of the store): events were lost.
   * The client must re-read state, then continue from `revision`; live events follow.
   */
  reset(revision: number): void;
}

/**
 * The change feed port: every committed change, in revision order, keeping the last WATCH_HISTORY events for
 * replay. Events enter it only through the store's own commits (each driver publishes internally, as a write
 * completes), so consumers can only watch. In process for the memory driver; on Redis a stream that spans
 * replicas, with the same contract.
 */
export abstract class ChangeFeed {
  /**
   * Starts a watch: every retained event with revision > `since` first (or a reset when they are not all
   * retained), then live events, with no gap and no duplicate between the two. `since` null: live only.
   * Returns the function that stops the watch and releases everything it held.
   */
  abstract watch(since: number | null, sink: WatchSink): () => void;

  /** The revision of the newest event published, 0 before any. */
  abstract get revision(): number;

  /** Live watches (for metrics, and for tests proving that closed streams release everything). */
  abstract get watchers(): number;

  /** Stops following changes and releases connections. Called once, at shutdown. */
  abstract close(): Promise<void>;
}
