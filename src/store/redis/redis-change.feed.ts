import { Logger } from '@nestjs/common';
import type { Redis } from 'ioredis';
import { ChangeFeed, type ChangeEvent, type ChangeType, FeedWatch, type Watch, type WatchSink } from '../change-feed';
import { eventTime } from '../event-time';
import type { KeyspacePosition, Position } from '../keyspace';
import type { JsonValue } from '../kv.store';
import type { ObservedKeyspace, RedisKeyspaceView } from './redis-keyspace.view';
import { messageOf } from './redis.connection';
import type { RedisKeyspace } from './redis.keyspace';

/** One entry of a Redis Stream as ioredis returns it. */
export type StreamEntry = [id: string, fields: string[]];

/**
 * About how many bytes of history a replay hands a sink at once. It reads entries in round trips of a count that
 * follows their sizes (from 1 to 256), so a backlog of large values is never read from Redis much ahead of its sink.
 */
const REPLAY_SLICE_BYTES = 64 * 1024;
const REPLAY_COUNT_MAX = 256;

/** About how many bytes of events the reader takes from the stream per round trip. */
const READ_BYTES = 4 * 1024 * 1024;

/** How often the reader, when the stream is quiet, checks that the keyspace is still the one it follows. */
const CHECK_EVERY_MS = 1000;

class RedisWatch extends FeedWatch {
  /** A paused replay, waiting for resume(). */
  paused: (() => void) | null = null;
  /**
   * Events up to this revision were read straight from Redis by the replay, possibly ahead of this replica's
   * reader: when the reader delivers them too, they are dropped.
   */
  replayedUpTo = 0;

  constructor(
    private readonly feed: RedisChangeFeed,
    sink: WatchSink,
  ) {
    super(sink);
  }

  /** Not while a replay that read ahead of this replica's reader waits for it: the feed's position is behind the watch's. */
  override get live(): boolean {
    return super.live && this.replayedUpTo <= this.feed.position.revision;
  }

  resume(): void {
    const paused = this.paused;
    this.paused = null;
    paused?.();
  }

  protected release(): void {
    this.feed.forget(this);
    // A paused replay wakes up to find the watch stopped, and ends.
    this.resume();
  }
}

/**
 * The change feed of the Redis driver: the store's scripts append every event to one Redis Stream (entry
 * id = revision), and every replica reads it (XREAD BLOCK on a connection of its own) and fans it out to its
 * local watchers. So a watcher on replica B sees writes made on replica A, and a client may resume on B with
 * the Last-Event-ID it got from A: ids are the same everywhere.
 *
 * Keyspace: entries name theirs. When the reader finds a new one (in an entry, in the keyspace hash, or because
 * the stream is behind what it read: a Redis that lost data), every watch is reset to it at once, and the reader
 * goes on from the new keyspace's beginning, never silently waiting for revisions it already passed.
 */
export class RedisChangeFeed extends ChangeFeed {
  private readonly live = new Set<RedisWatch>();
  private readonly replaying = new Set<RedisWatch>();
  /**
   * Watches started before the reader first stood at the stream's end, with the position each began from. Until
   * then `latest` is not the stream's end, so they cannot be placed: a resuming watch then replays from where it
   * asked, as any does; one from now, told a position that turns out behind the stream's end, is reset to it.
   */
  private readonly early = new Map<RedisWatch, { since: Position | null; told: KeyspacePosition }>();
  /** Whether the reader has stood at the stream's end once: watches are placed as they start from then on. */
  private atEnd = false;
  private reachedEnd: () => void = () => undefined;
  /** Resolves once the reader has stood at the stream's end, where watches from now begin (and placed those started before). */
  readonly following = new Promise<void>((resolve) => (this.reachedEnd = resolve));
  private lastId = '0-0';
  private latest = 0;
  /** Entries of a batch whose last entry has not been read yet (a batch is never split between watchers' writes). */
  private partial: StreamEntry[] = [];
  private running = false;
  /**
   * Counts keyspace changes. The store learns of one from any reply, while the reader waits on a read from the old
   * keyspace's position: a reply read across a change is dropped, and the new keyspace read from its base.
   */
  private changes = 0;
  private loop: Promise<void> | undefined;
  private readonly stopObserving: () => void;
  /** Whether events are being held because replicas do not acknowledge them (logged once per episode). */
  private holding = false;
  private readonly logger = new Logger('ChangeFeed');

  constructor(
    private readonly reader: Redis,
    private readonly replayer: Redis,
    private readonly names: RedisKeyspace,
    private readonly view: RedisKeyspaceView,
    /** Runs the keyspace script (RedisStore.settleKeyspace): begins a new keyspace when Redis lost data. */
    private readonly settle: () => Promise<number>,
    /**
     * WATCH_HISTORY: the history a watch may resume from is the newest this many events, as on the memory driver.
     * The write scripts trim the stream a whole node at a time (`XADD MAXLEN ~`), so it may hold some older entries
     * too; those are not replayed.
     */
    private readonly history: number,
    /**
     * With REDIS_MIN_REPLICA_ACKS > 0 (RedisWriter.barrier): resolves once what Redis holds so far is on enough
     * replicas. Events are announced only then, so no watcher (or webhook) sees one that a failover may take back.
     */
    private readonly replicated: (() => Promise<void>) | null = null,
  ) {
    super();
    this.stopObserving = view.onChange((observed) => this.keyspaceChanged(observed));
  }

  get position(): KeyspacePosition {
    return { keyspace: this.view.keyspace?.id ?? '', revision: this.latest };
  }

  get watchers(): number {
    return this.live.size + this.replaying.size + this.early.size;
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
    this.stopObserving();
    this.reader.disconnect();
    this.replayer.disconnect();
    await this.loop;
  }

  watch(since: Position | null, sink: WatchSink): Watch {
    const watch = new RedisWatch(this, sink);
    if (this.atEnd) {
      this.place(watch, since);
    } else {
      const told = this.position;
      // Not live yet: its progress is where it began, not the feed's position.
      watch.cursor = since?.revision ?? told.revision;
      this.early.set(watch, { since, told });
    }
    return watch;
  }

  private place(watch: RedisWatch, since: Position | null): void {
    const { sink } = watch;
    const current = this.view.keyspace;
    watch.cursor = null;
    if (since === null) {
      this.live.add(watch);
    } else if (current === null || (since.keyspace !== null && since.keyspace !== current.id) || since.revision < (since.keyspace === null ? current.base : 0)) {
      sink.reset(this.position);
      // A sink may end its watch on a reset (an SSE stream out of room).
      if (!watch.stopped) this.live.add(watch);
    } else if (since.revision === this.latest) {
      this.live.add(watch);
    } else {
      watch.cursor = since.revision;
      this.replaying.add(watch);
      void this.replay(watch, current.id);
    }
  }

  /** Called by a watch that stops. */
  forget(watch: RedisWatch): void {
    this.early.delete(watch);
    this.live.delete(watch);
    this.replaying.delete(watch);
  }

  /**
   * Replays the stream after the watch's cursor in slices, pausing while its sink wants no more, until it has
   * caught up with what this replica's reader delivered: then it joins the live watches. Nothing is buffered on
   * the way: a slow watch reads what it missed from Redis when it is ready, and one that falls out of the retained
   * history is told so (lagged). Redis being away ends the replay with a reset (it cannot say what was missed).
   */
  private async replay(watch: RedisWatch, keyspace: string): Promise<void> {
    const { sink } = watch;
    const finish = (ended: 'reset' | 'lagged' | 'live') => {
      // The keyspace changed while a slice was read: what the watch has is of the old one (`latest`, now the new one's
      // base, may be below its cursor, and the new stream may begin above it: neither is the watch's own doing).
      const action = ended !== 'reset' && this.view.keyspace?.id !== keyspace ? 'reset' : ended;
      this.replaying.delete(watch);
      const cursor = watch.cursor ?? this.latest;
      watch.cursor = null;
      if (watch.stopped) return;
      if (action === 'lagged' && sink.lagged) {
        sink.lagged();
        return;
      }
      if (action !== 'live') sink.reset(this.position);
      watch.replayedUpTo = action === 'live' ? cursor : this.latest;
      this.live.add(watch);
    };
    try {
      let count = 1;
      const start = watch.cursor as number;
      const [oldest] = (await this.replayer.xrange(this.names.feed, '-', '+', 'COUNT', 1)) as StreamEntry[];
      const end = Math.max(this.latest, await this.currentEnd());
      // The newest event as this replay knows it: the history is the newest WATCH_HISTORY events before it.
      const newest = () => Math.max(this.latest, end);
      if (start > end || start < newest() - this.history || (oldest && revisionOf(oldest[0]) > start + 1) || (!oldest && start < end)) return finish('reset');
      for (;;) {
        if (watch.stopped || this.view.keyspace?.id !== keyspace) return finish('reset');
        if ((watch.cursor as number) >= this.latest) return finish('live');
        if (sink.wantsMore && !sink.wantsMore()) {
          await new Promise<void>((resume) => (watch.paused = resume));
          continue;
        }
        // The history moved past what this watch still had to read while it was paused (the newest WATCH_HISTORY events;
        // the entries the stream holds beyond them are checked below).
        if ((watch.cursor as number) < newest() - this.history) return finish('lagged');
        const from = (watch.cursor as number) + 1;
        const entries = (await this.replayer.xrange(this.names.feed, `${from}-0`, '+', 'COUNT', count)) as StreamEntry[];
        const read = entries.reduce((n, [, fields]) => n + Number(fieldOf(fields, 's') ?? 0), 0);
        if (read > 2 * REPLAY_SLICE_BYTES) count = Math.max(1, Math.floor(count / 2));
        else if (entries.length === count && read * 2 < REPLAY_SLICE_BYTES) count = Math.min(REPLAY_COUNT_MAX, count * 2);
        if (entries.length === 0) return finish(this.latest > (watch.cursor as number) ? 'reset' : 'live');
        // The history moved past what this watch still had to read while it was paused.
        if (revisionOf(entries[0][0]) > from) return finish('lagged');
        const slice: ChangeEvent[] = [];
        let bytes = 0;
        for (const entry of entries) {
          const event = this.events([entry], true)?.[0];
          // Damage to the stream (logged): what the watch missed cannot be told, as when the history is gone.
          if (event === undefined) return finish('reset');
          // Not past what the reader announced: with REDIS_MIN_REPLICA_ACKS, later entries may not be replicated yet.
          if (event.keyspace !== keyspace || (this.replicated !== null && event.revision > this.latest)) break;
          slice.push(event);
          bytes += Number(fieldOf(entry[1], 's') ?? 0);
          // Whole batches only, and a slice of a size the sink can take.
          if (bytes >= REPLAY_SLICE_BYTES && event.revision >= Number(fieldOf(entry[1], 'n') ?? event.revision)) break;
        }
        if (slice.length === 0) return finish('reset');
        if (watch.stopped) return finish('reset');
        watch.cursor = slice[slice.length - 1].revision;
        sink.events(slice);
      }
    } catch {
      // Redis is away: the watch cannot be told what it missed, so it starts over from a reset.
      finish('reset');
    }
  }

  private async currentEnd(): Promise<number> {
    const [last] = (await this.replayer.xrevrange(this.names.feed, '+', '-', 'COUNT', 1)) as StreamEntry[];
    return last ? revisionOf(last[0]) : 0;
  }

  /**
   * Where the reader stands: at the stream's end when it starts, or at the new keyspace's beginning after a
   * change. A keyspace that is gone (Redis lost its data), or a stream behind what this replica has read (Redis
   * lost writes), is settled by the keyspace script, which begins a new keyspace: watches are reset to it.
   */
  private async position_(first: boolean): Promise<void> {
    const [[id, base], end] = await Promise.all([
      this.replayer.hmget(this.names.keyspace, 'id', 'base') as Promise<(string | null)[]>,
      this.currentEnd(),
    ]);
    const known = this.view.keyspace;
    if (id === null || (known !== null && id === known.id && end < this.latest)) {
      await this.settle();
    } else {
      this.view.observe(id, Number(base), '');
    }
    if (first) {
      await this.whenReplicated();
      this.latest = Math.max(this.latest, end);
      if (this.latest > 0) this.lastId = `${this.latest}-0`;
      this.view.see(this.latest);
      this.placeEarly();
    }
  }

  /** Places the watches started before the reader stood at the stream's end, now that it does. */
  private placeEarly(): void {
    const early = [...this.early];
    this.early.clear();
    this.atEnd = true;
    this.reachedEnd();
    const position = this.position;
    for (const [watch, { since, told }] of early) {
      try {
        if (since !== null) {
          this.place(watch, since);
          continue;
        }
        watch.cursor = null;
        if (told.keyspace !== position.keyspace || told.revision !== position.revision) watch.sink.reset(position);
        if (!watch.stopped) this.live.add(watch);
      } catch {
        this.forget(watch);
      }
    }
  }

  private async follow(): Promise<void> {
    let positioned = false;
    let checked = Date.now();
    // Entries per XREAD: up to 1000 of small events, fewer of large ones (about READ_BYTES a round).
    let count = 64;
    while (this.running) {
      try {
        if (!positioned) {
          // At the stream's end only the first time: after that, whatever the stream holds past lastId is news.
          await this.position_(!this.atEnd);
          positioned = true;
          checked = Date.now();
        }
        const changes = this.changes;
        const reply = (await this.reader.xread('COUNT', count, 'BLOCK', 1000, 'STREAMS', this.names.feed, this.lastId)) as [string, StreamEntry[]][] | null;
        if (!reply) {
          if (Date.now() - checked >= CHECK_EVERY_MS) {
            await this.position_(false);
            checked = Date.now();
          }
          continue;
        }
        await this.whenReplicated();
        // The store learned of a new keyspace while this was read: read that one from its base instead.
        if (this.changes !== changes) continue;
        const read = reply[0][1].reduce((n, [, fields]) => n + Number(fieldOf(fields, 's') ?? 0), 0);
        if (read > READ_BYTES) count = Math.max(1, Math.floor(count / 2));
        else if (reply[0][1].length === count && read * 2 < READ_BYTES) count = Math.min(1000, count * 2);
        for (const entry of reply[0][1]) {
          const keyspace = fieldOf(entry[1], 'ks') ?? '';
          if (keyspace !== this.view.keyspace?.id) {
            // Another replica began a new keyspace: learn it (resetting every watch), then carry on with it.
            const [id, base, reason] = (await this.replayer.hmget(this.names.keyspace, 'id', 'base', 'reason')) as (string | null)[];
            if (id === keyspace) this.view.observe(id, Number(base), reason ?? '');
            // Learned, here or by the store meanwhile (keyspaceChanged moved lastId to its base): read it from there.
            // This reply began at an id of the old one, and the new keyspace's revisions may start below it (a replica
            // behind this one began it).
            if (this.changes !== changes) break;
          }
          this.lastId = entry[0];
          // An entry of a keyspace already superseded (it changed again meanwhile) belongs to no history a watch follows.
          if (keyspace !== this.view.keyspace?.id) continue;
          // Entries, not events, until the batch is whole: whether any sink reads values is known only then.
          this.partial.push(entry);
          const revision = revisionOf(entry[0]);
          this.view.see(revision);
          if (revision >= Number(fieldOf(entry[1], 'n') ?? revision)) {
            const batch = this.partial;
            this.partial = [];
            this.deliver(batch);
          }
        }
      } catch {
        if (!this.running) return;
        // Redis is away: wait a little, then check where things stand before reading on from the last id seen.
        positioned = false;
        await new Promise((resolve) => setTimeout(resolve, 500));
      }
    }
  }

  /**
   * Waits until what the reader read is on REDIS_MIN_REPLICA_ACKS replicas; throws (the reader reads the same
   * entries again after a pause) when they do not have it in time.
   */
  private async whenReplicated(): Promise<void> {
    if (this.replicated === null) return;
    try {
      await this.replicated();
    } catch (error) {
      if (!this.holding) {
        this.holding = true;
        this.logger.warn(`change events are held until REDIS_MIN_REPLICA_ACKS replicas have them: ${messageOf(error)}`);
      }
      throw error;
    }
    if (this.holding) {
      this.holding = false;
      this.logger.log('replicas acknowledge again: held change events are announced');
    }
  }

  /** A new keyspace: every watch is reset to its beginning, and the reader goes on from there. */
  private keyspaceChanged({ from, to }: ObservedKeyspace): void {
    if (from === null) return;
    this.changes++;
    this.latest = to.base;
    this.lastId = `${to.base}-0`;
    this.partial = [];
    const position = this.position;
    for (const watch of [...this.live]) {
      // What a replay read ahead was of the old keyspace: the new one's revisions from its base are all news.
      watch.replayedUpTo = to.base;
      try {
        watch.sink.reset(position);
      } catch {
        this.live.delete(watch);
      }
    }
    // Replays notice the change themselves (they check the keyspace between slices) and end with a reset.
    for (const watch of this.replaying) watch.resume();
  }

  private deliver(entries: StreamEntry[]): void {
    const first = revisionOf(entries[0][0]);
    const last = revisionOf(entries[entries.length - 1][0]);
    this.latest = last;
    const watches = [...this.live];
    const reads = (watch: RedisWatch) => watch.sink.readsValues !== false;
    // Values are parsed once, and only if a sink that reads them gets some of this batch; the others get the same
    // events, or ones without values. null: an entry could not be read (only damage to the stream does that).
    const full = watches.some((watch) => reads(watch) && watch.replayedUpTo < last) ? this.events(entries, true) : undefined;
    const bare = full ?? this.events(entries, false);
    for (const watch of watches) {
      try {
        const batch = reads(watch) ? full : bare;
        if (batch === null) {
          // Events it cannot have are lost to it: it starts again from here, as from a history that is gone.
          if (watch.replayedUpTo < last) watch.sink.reset(this.position);
          continue;
        }
        if (batch === undefined) continue;
        if (watch.replayedUpTo < first) {
          watch.sink.events(batch);
        } else if (watch.replayedUpTo < last) {
          watch.sink.events(batch.filter((e) => e.revision > watch.replayedUpTo));
        }
      } catch {
        this.live.delete(watch);
      }
    }
  }

  /** The events of `entries`, or null (logged) when one of them cannot be read. */
  private events(entries: StreamEntry[], values: boolean): ChangeEvent[] | null {
    try {
      return entries.map((entry) => toEvent(entry, values));
    } catch (error) {
      this.logger.error(
        `change ${entries.length === 1 ? `event ${entries[0][0]}` : `events ${entries[0][0]} to ${entries[entries.length - 1][0]}`} cannot be read (${messageOf(error)}): ` +
          `the watches they were for are reset`,
      );
      return null;
    }
  }
}

/** The revision a feed entry id (`<revision>-0`) stands for. */
export function revisionOf(id: string): number {
  return Number(id.slice(0, id.indexOf('-')));
}

export function fieldOf(fields: string[], name: string): string | undefined {
  for (let i = 0; i < fields.length; i += 2) if (fields[i] === name) return fields[i + 1];
  return undefined;
}

/**
 * The change event a feed entry holds (fields written by the store's scripts); without `value` and `prevValue`
 * when `values` is false (for sinks that do not read them).
 */
export function toEvent([id, fields]: StreamEntry, values = true): ChangeEvent {
  const value = values ? fieldOf(fields, 'v') : undefined;
  const prev = values ? fieldOf(fields, 'p') : undefined;
  return {
    type: fieldOf(fields, 't') as ChangeType,
    key: fieldOf(fields, 'k') as string,
    ...(value !== undefined && { value: JSON.parse(value) as JsonValue }),
    ...(prev !== undefined && { prevValue: JSON.parse(prev) as JsonValue }),
    keyspace: fieldOf(fields, 'ks') ?? '',
    revision: revisionOf(id),
    time: eventTime(Number(fieldOf(fields, 'm'))),
  };
}
