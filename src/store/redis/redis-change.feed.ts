import type { Redis } from 'ioredis';
import type { JsonValue } from '../kv.store';
import { ChangeFeed, type ChangeEvent, type ChangeType, type WatchSink } from '../change-feed';

/** One entry of a Redis Stream as ioredis returns it. */
export type StreamEntry = [id: string, fields: string[]];

/** A sink whose replay is still being read: live events wait in `buffered` meanwhile. */
interface Pending {
  readonly sink: WatchSink;
  readonly buffered: ChangeEvent[][];
}

/**
 * The change feed of the Redis driver: the store's scripts append every event to one Redis Stream (entry
 * id = revision), and every replica reads it (XREAD BLOCK on a connection of its own) and fans it out to its
 * local watchers. So a watcher on replica B sees writes made on replica A, and a client may resume on B with
 * the Last-Event-ID it got from A: ids are the same everywhere.
 */
export class RedisChangeFeed extends ChangeFeed {
  private readonly sinks = new Set<WatchSink>();
  private readonly pending = new Set<Pending>();
  private lastId = '0-0';
  private latest = 0;
  /** Entries of a batch whose last entry has not been read yet (a batch is never split between watchers' writes). */
  private partial: ChangeEvent[] = [];
  private running = false;
  private loop: Promise<void> | undefined;

  constructor(
    private readonly reader: Redis,
    private readonly replayer: Redis,
    private readonly stream: string,
  ) {
    super();
  }

  get revision(): number {
    return this.latest;
  }

  get watchers(): number {
    return this.sinks.size + this.pending.size;
  }

  /**
   * Starts following the stream from its current end. Does not wait for Redis: if it is not reachable
   * yet, the loop keeps trying (and readiness reports the store as down meanwhile).
   */
  start(): void {
    this.running = true;
    this.loop = this.follow();
  }

  async close(): Promise<void> {
    this.running = false;
    this.reader.disconnect();
    this.replayer.disconnect();
    await this.loop;
  }

  watch(since: number | null, sink: WatchSink): () => void {
    if (since === null || since === this.latest) {
      this.sinks.add(sink);
      return () => this.sinks.delete(sink);
    }
    const pending: Pending = { sink, buffered: [] };
    this.pending.add(pending);
    let stopped = false;
    let live: WatchSink | undefined;
    const goLive = (upTo: number) => {
      // The replay read the stream directly, possibly ahead of this replica's reader loop: events up to
      // `upTo` may still come through the loop, and must not be delivered twice.
      let last = upTo;
      live = {
        events: (batch) => {
          const fresh = batch.filter((e) => e.revision > last);
          if (fresh.length === 0) return;
          last = fresh[fresh.length - 1].revision;
          sink.events(fresh.length === batch.length ? batch : fresh);
        },
        reset: (revision) => sink.reset(revision),
      };
      this.pending.delete(pending);
      this.sinks.add(live);
    };
    void this.replay(since)
      .then((backlog) => {
        if (stopped) return;
        if (backlog === null) sink.reset(this.latest);
        else if (backlog.length > 0) sink.events(backlog);
        let upTo = backlog === null ? this.latest : backlog.length > 0 ? backlog[backlog.length - 1].revision : since;
        for (const batch of pending.buffered) {
          const fresh = batch.filter((e) => e.revision > upTo);
          if (fresh.length === 0) continue;
          sink.events(fresh);
          upTo = fresh[fresh.length - 1].revision;
        }
        goLive(upTo);
      })
      .catch(() => {
        // Redis is away: the watcher cannot be told what it missed, so it starts over from a reset.
        if (stopped) return;
        sink.reset(this.latest);
        goLive(this.latest);
      });
    return () => {
      stopped = true;
      this.pending.delete(pending);
      if (live) this.sinks.delete(live);
    };
  }

  /** Retained events after `since` (read from Redis), or null when some are no longer retained. */
  private async replay(since: number): Promise<ChangeEvent[] | null> {
    const [oldest] = (await this.replayer.xrange(this.stream, '-', '+', 'COUNT', 1)) as StreamEntry[];
    const latest = Math.max(this.latest, await this.currentEnd());
    if (since > latest || (oldest && revisionOf(oldest[0]) > since + 1) || (!oldest && since < latest)) return null;
    const entries = (await this.replayer.xrange(this.stream, `${since + 1}-0`, '+')) as StreamEntry[];
    return entries.map(toEvent);
  }

  private async currentEnd(): Promise<number> {
    const [last] = (await this.replayer.xrevrange(this.stream, '+', '-', 'COUNT', 1)) as StreamEntry[];
    return last ? revisionOf(last[0]) : 0;
  }

  private async follow(): Promise<void> {
    let positioned = false;
    while (this.running) {
      try {
        if (!positioned) {
          this.latest = Math.max(this.latest, await this.currentEnd());
          if (this.latest > 0) this.lastId = `${this.latest}-0`;
          positioned = true;
        }
        const reply = (await this.reader.xread('COUNT', 1000, 'BLOCK', 1000, 'STREAMS', this.stream, this.lastId)) as [string, StreamEntry[]][] | null;
        if (!reply) continue;
        for (const entry of reply[0][1]) {
          this.lastId = entry[0];
          const event = toEvent(entry);
          this.partial.push(event);
          if (event.revision >= Number(fieldOf(entry[1], 'n') ?? event.revision)) {
            const batch = this.partial;
            this.partial = [];
            this.deliver(batch);
          }
        }
      } catch {
        if (!this.running) return;
        // Redis is away: wait a little and read on from the last id seen; nothing is skipped.
        await new Promise((resolve) => setTimeout(resolve, 500));
      }
    }
  }

  private deliver(batch: ChangeEvent[]): void {
    this.latest = batch[batch.length - 1].revision;
    for (const pending of this.pending) pending.buffered.push(batch);
    for (const sink of [...this.sinks]) {
      try {
        sink.events(batch);
      } catch {
        this.sinks.delete(sink);
      }
    }
  }
}

/** The revision a feed entry id (`<revision>-0`) stands for. */
export function revisionOf(id: string): number {
  return Number(id.slice(0, id.indexOf('-')));
}

function fieldOf(fields: string[], name: string): string | undefined {
  for (let i = 0; i < fields.length; i += 2) if (fields[i] === name) return fields[i + 1];
  return undefined;
}

/** The change event a feed entry holds (fields written by the store's scripts). */
export function toEvent([id, fields]: StreamEntry): ChangeEvent {
  const value = fieldOf(fields, 'v');
  const prev = fieldOf(fields, 'p');
  return {
    type: fieldOf(fields, 't') as ChangeType,
    key: fieldOf(fields, 'k') as string,
    ...(value !== undefined && { value: JSON.parse(value) as JsonValue }),
    ...(prev !== undefined && { prevValue: JSON.parse(prev) as JsonValue }),
    revision: revisionOf(id),
    time: new Date(Number(fieldOf(fields, 'm'))).toISOString(),
  };
}
