import { type Keyspace, newKeyspaceId } from '../keyspace';

/** A keyspace this replica learned of: `reason` is why it began when this replica saw it begin, '' when it only heard of it. */
export interface ObservedKeyspace {
  readonly from: Keyspace | null;
  readonly to: Keyspace;
  readonly reason: string;
}

/**
 * What this replica knows of the Redis keyspace: its id and base as the last answer from Redis named them, and
 * the highest revision of it this replica has seen (its own writes' and its feed reader's). Every store script
 * gets both, so a Redis that came back behind that revision cannot hand it out again: the script begins a new
 * keyspace instead (redis.scripts.ts). Shared by the store, its feed, and whoever reports changes.
 */
export class RedisKeyspaceView {
  private current: Keyspace | null = null;
  private highWater = 0;
  private candidate = newKeyspaceId();
  private readonly listeners = new Set<(observed: ObservedKeyspace) => void>();

  /** The keyspace, or null before Redis has answered once. */
  get keyspace(): Keyspace | null {
    return this.current;
  }

  /** The arguments every store script takes about it: this replica's keyspace id, its high-water revision, and a new id in case one is needed. */
  scriptArgs(): [view: string, highWater: number, candidate: string] {
    return [this.current?.id ?? '', this.highWater, this.candidate];
  }

  /** A revision of the current keyspace was handed out or read. */
  see(revision: number): void {
    if (revision > this.highWater) this.highWater = revision;
  }

  /** The keyspace an answer from Redis named. */
  observe(id: string, base: number, reason: string): void {
    if (id === this.candidate) this.candidate = newKeyspaceId();
    if (this.current?.id === id) return;
    const from = this.current;
    this.current = { id, base };
    // Revisions of the old keyspace say nothing about this one.
    this.highWater = base;
    for (const listener of [...this.listeners]) listener({ from, to: this.current, reason });
  }

  /** Calls `listener` on every keyspace this replica learns of (the first one included). */
  onChange(listener: (observed: ObservedKeyspace) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }
}
