import type { Redis } from 'ioredis';
import {
  KeyExistsError,
  KeyNotFoundError,
  RevisionMismatchError,
  StoreUnavailableError,
} from '../../common/errors/domain.errors';
import { compareCodePoints, reverseCodePoints } from '../key-order';
import { formatPosition, type Keyspace } from '../keyspace';
import {
  type JsonValue,
  type KeyPage,
  KeyValueStore,
  type KvEntry,
  type KvRecord,
  type ListQuery,
  type Page,
  type Precondition,
  type WriteOptions,
  type WriteResult,
} from '../kv.store';
import type { RedisKeyspaceView } from './redis-keyspace.view';
import { guardRedis } from './redis.connection';
import type { RedisKeyspace } from './redis.keyspace';
import { DELETE_SCRIPT, KEYSPACE_SCRIPT, SET_SCRIPT, SWEEP_SCRIPT } from './redis.scripts';
import type { RedisWriter } from './redis.writer';

export interface RedisStoreOptions {
  /** WATCH_HISTORY: the change stream keeps at least this many entries, trimmed a stream node at a time beyond them. */
  readonly history: number;
  /** WATCH_HISTORY_BYTES: and to this many bytes of them. */
  readonly historyBytes: number;
  readonly sweepIntervalMs: number;
}

/** Native Redis expiry lags logical expiry by this much, so the sweeper can announce an expiry with its value. */
const EXPIRY_GRACE_MS = 60_000;
const SWEEP_SLICE = 1000;
/** Keys fetched per round trip when walking an index. */
const CHUNK = 256;
/** No UTF-8 string contains this byte, so `prefix + 0xFF` bounds every string that starts with `prefix`. */
const TOP = Buffer.from([0xff]);

type Reply = (string | number)[];

/** The store's scripts, called with the number of KEYS first, then KEYS, then ARGV (see redis.scripts.ts). */
type Script = 'kvSet' | 'kvDelete' | 'kvSweep' | 'kvKeyspace';

/**
 * The Redis driver: one shared, durable keyspace for every replica, with the same contract as the memory
 * driver (the conformance suite runs against both). Mutations are Lua scripts (redis.scripts.ts); search
 * walks ZRANGEBYLEX ranges of the key index or of the reversed-key index, whichever ZLEXCOUNT says is
 * narrower; no KEYS or SCAN anywhere. Any Redis failure surfaces as StoreUnavailableError (503).
 */
export class RedisStore extends KeyValueStore {
  readonly driver = 'redis';
  private sweepTimer: NodeJS.Timeout | undefined;
  private sweeping = false;

  constructor(
    /** Reads (auto-pipelined). */
    private readonly redis: Redis,
    /** Writes, replicated as REDIS_MIN_REPLICA_ACKS asks. */
    private readonly writer: RedisWriter,
    private readonly names: RedisKeyspace,
    private readonly view: RedisKeyspaceView,
    private readonly options: RedisStoreOptions,
  ) {
    super();
    // Without numberOfKeys, each call passes its own: a batch names one record per entry.
    writer.define('kvSet', SET_SCRIPT);
    writer.define('kvDelete', DELETE_SCRIPT);
    writer.define('kvSweep', SWEEP_SCRIPT);
    writer.define('kvKeyspace', KEYSPACE_SCRIPT);
  }

  /** Runs a store script with `keys` and `args`; its reply, once the writer says it counts as written. */
  private async script(name: Script, keys: readonly string[], args: (string | number)[]): Promise<Reply> {
    return (await this.writer.run(name, [keys.length, ...keys, ...args])) as Reply;
  }

  get keyspace(): Keyspace {
    const keyspace = this.view.keyspace;
    if (keyspace === null) throw new StoreUnavailableError('Redis has not answered since the start: the keyspace is not known yet');
    return keyspace;
  }

  /** KEYS of a mutation: the store's own names, then the records of `keys`. */
  private scriptKeys(keys: readonly string[]): string[] {
    return [...this.names.storeKeys, ...keys.map((key) => this.names.record(key))];
  }

  /** ARGV[1..6] of every store script (redis.scripts.ts). */
  private commonArgs(now: number): (string | number)[] {
    return [this.options.history, this.options.historyBytes, ...this.view.scriptArgs(), now];
  }

  /** Takes the keyspace a script's reply names (reply[1..3]) and returns the rest of the reply after the status. */
  private settled(reply: Reply): Reply {
    this.view.observe(String(reply[1]), Number(reply[2]), String(reply[3]));
    return [reply[0], ...reply.slice(4)];
  }

  /**
   * Learns the keyspace from Redis (beginning one if there is none, or if Redis is behind what this replica saw).
   * At start, and whenever the feed's reader finds the keyspace gone or behind. Returns the current revision.
   */
  async settleKeyspace(): Promise<number> {
    const keys = this.names.storeKeys;
    const [, revision] = this.settled(await this.script('kvKeyspace', keys, this.commonArgs(Date.now())));
    return Number(revision);
  }

  /** Starts the sweeper (every replica runs one; the script makes that safe). */
  start(): void {
    this.sweepTimer = setInterval(() => void this.sweepDue(), this.options.sweepIntervalMs);
    this.sweepTimer.unref();
  }

  async close(): Promise<void> {
    clearInterval(this.sweepTimer);
    this.redis.disconnect();
  }

  /** Removes due keys, announcing each expiry once. Returns how many this call removed. */
  async sweep(now = Date.now()): Promise<number> {
    let total = 0;
    for (;;) {
      const due = await this.guard(() => this.redis.zrangebyscore(this.names.expiries, '-inf', now, 'LIMIT', 0, SWEEP_SLICE));
      if (due.length > 0) {
        const keys = this.scriptKeys(due);
        const args = due.flatMap((key) => [key, reverseCodePoints(key)]);
        const [, removed] = this.settled(await this.script('kvSweep', keys, [...this.commonArgs(now), ...args]));
        total += Number(removed);
      }
      if (due.length < SWEEP_SLICE) return total;
    }
  }

  private async sweepDue(): Promise<void> {
    if (this.sweeping) return;
    this.sweeping = true;
    try {
      await this.sweep();
    } catch {
      // Redis is away; the next tick tries again, and reads hide expired keys meanwhile.
    } finally {
      this.sweeping = false;
    }
  }

  async get(key: string): Promise<KvRecord | null> {
    const [record] = await this.fetch([key], Date.now());
    return record;
  }

  async value(key: string): Promise<JsonValue | undefined> {
    const [v, r, e] = await this.guard(() => this.redis.hmget(this.names.record(key), 'v', 'r', 'e'));
    return v !== null && isLive(r, expiryOf(e), Date.now()) ? (JSON.parse(v) as JsonValue) : undefined;
  }

  async set(entries: readonly KvEntry[], options: WriteOptions = {}): Promise<WriteResult[]> {
    const now = Date.now();
    const [kind, revisions] = preconditionArgs(options.precondition);
    const keys = this.scriptKeys(entries.map(({ key }) => key));
    const args: (string | number)[] = [...this.commonArgs(now), options.ttlSeconds === undefined ? '' : options.ttlSeconds * 1000, EXPIRY_GRACE_MS, kind, revisions];
    const sizes: number[] = [];
    for (const { key, value, size, json: encoded } of entries) {
      const json = encoded ?? JSON.stringify(value);
      sizes.push(size ?? Buffer.byteLength(json));
      args.push(key, reverseCodePoints(key), json);
    }
    const reply = this.settled(await this.script('kvSet', keys, args));
    failIfRefused(reply);
    const expiresAt = options.ttlSeconds === undefined ? null : now + options.ttlSeconds * 1000;
    const results = entries.map(({ key, value }, i) => ({
      record: { key, value, revision: Number(reply[1 + i * 3]), createdAt: Number(reply[3 + i * 3]), updatedAt: now, expiresAt, size: sizes[i] },
      created: Number(reply[2 + i * 3]) === 1,
    }));
    this.view.see(results[results.length - 1].record.revision);
    return results;
  }

  async delete(key: string, precondition?: Precondition): Promise<KvRecord> {
    const [kind, revisions] = preconditionArgs(precondition);
    const keys = this.scriptKeys([key]);
    const reply = this.settled(await this.script('kvDelete', keys, [...this.commonArgs(Date.now()), kind, revisions, key, reverseCodePoints(key)]));
    failIfRefused(reply);
    const [, value, revision, createdAt, updatedAt, expiresAt, deletedAt] = reply;
    this.view.see(Number(deletedAt));
    return {
      key,
      value: JSON.parse(String(value)) as JsonValue,
      revision: Number(revision),
      createdAt: Number(createdAt),
      updatedAt: Number(updatedAt),
      expiresAt: expiryOf(expiresAt),
      size: Buffer.byteLength(String(value)),
    };
  }

  /**
   * A page of records. With `maxBytes`, the values' sizes (HSTRLEN, one pipelined round trip per chunk) decide how
   * many records to fetch, so a page of large values is never read from Redis whole before it is cut.
   */
  async list(query: ListQuery): Promise<Page> {
    const now = Date.now();
    const { maxBytes } = query;
    if (maxBytes === undefined) {
      const { items, more } = await this.page(query, (keys) => this.fetch(keys, now));
      return { items, next: more ? items[items.length - 1].key : null };
    }
    const items: KvRecord[] = [];
    let bytes = 0;
    for await (const keys of this.candidates(query)) {
      const sizes = await this.guard(() => Promise.all(keys.map((key) => this.redis.hstrlen(this.names.record(key), 'v'))));
      // How many of this chunk fit in the page's bytes (the first record of a page always does).
      let fits = 0;
      while (fits < keys.length) {
        const next = bytes + sizes[fits] + Buffer.byteLength(keys[fits]);
        if (next > maxBytes && (items.length > 0 || fits > 0)) break;
        bytes = next;
        fits++;
      }
      for (const record of await this.fetch(keys.slice(0, fits), now)) {
        if (record === null) continue;
        if (items.length === query.limit) return { items, next: items[items.length - 1].key };
        items.push(record);
      }
      if (fits < keys.length) return { items, next: items.length > 0 ? items[items.length - 1].key : null };
    }
    return { items, next: null };
  }

  /** Like list, but reads only whether each key is live, not its value. */
  async listKeys(query: ListQuery): Promise<KeyPage> {
    const now = Date.now();
    const { items, more } = await this.page(query, (keys) => this.liveKeys(keys, now));
    return { keys: items, next: more ? items[items.length - 1] : null };
  }

  /** Collects up to `limit` live items from the candidate keys, and whether more follow. */
  private async page<T>(query: ListQuery, resolve: (keys: string[]) => Promise<(T | null)[]>): Promise<{ items: T[]; more: boolean }> {
    const items: T[] = [];
    for await (const keys of this.candidates(query)) {
      for (const item of await resolve(keys)) {
        if (item === null) continue;
        if (items.length === query.limit) return { items, more: true };
        items.push(item);
      }
    }
    return { items, more: false };
  }

  /**
   * The keys that have not expired (null in place of the others), from one ZMSCORE on the expiry index: every key
   * in `idx` has its record (scripts change both at once), so its expiry is all there is to check. One command for
   * the whole chunk, where a read of each record cost Redis and the client a command per key (search at 100k keys
   * ran at a tenth of a GET's rate in `npm run bench`).
   */
  private async liveKeys(keys: readonly string[], now: number): Promise<(string | null)[]> {
    if (keys.length === 0) return [];
    const expiries = await this.guard(() => this.redis.zmscore(this.names.expiries, ...keys));
    return expiries.map((e, i) => (e === null || Number(e) > now ? keys[i] : null));
  }

  async count(): Promise<number> {
    const [total, expired] = await this.guard(() =>
      Promise.all([this.redis.zcard(this.names.index), this.redis.zcount(this.names.expiries, '-inf', Date.now())]),
    );
    return total - expired;
  }

  async revision(): Promise<number> {
    return Number((await this.guard(() => this.redis.get(this.names.revision))) ?? 0);
  }

  /**
   * A keyed read, not PING: in Cluster mode it goes to the node that owns the keyspace's slot (a PING would ask any
   * node), and in Sentinel mode to the primary this replica writes to.
   */
  async ping(): Promise<void> {
    await this.guard(() => this.redis.exists(this.names.keyspace));
  }

  /**
   * Live records for `keys`, in order (null where absent or expired), and the keyspace they are in (so ETags name
   * the right one). One pipelined round trip.
   */
  private async fetch(keys: readonly string[], now: number): Promise<(KvRecord | null)[]> {
    if (keys.length === 0) return [];
    const [keyspace, replies] = await this.guard(() =>
      Promise.all([this.redis.hmget(this.names.keyspace, 'id', 'base'), Promise.all(keys.map((key) => this.redis.hmget(this.names.record(key), 'v', 'r', 'c', 'u', 'e')))]),
    );
    // A keyspace that is gone begins again with the next write (or the feed's reader); until then the view stands.
    if (keyspace[0] !== null) this.view.observe(keyspace[0], Number(keyspace[1]), '');
    return replies.map(([v, r, c, u, e], i) => {
      const expiresAt = expiryOf(e);
      if (v === null || !isLive(r, expiresAt, now)) return null;
      return {
        key: keys[i],
        value: JSON.parse(v) as JsonValue,
        revision: Number(r),
        createdAt: Number(c),
        updatedAt: Number(u),
        expiresAt,
        size: Buffer.byteLength(v),
      };
    });
  }

  /**
   * Matching keys in ascending order, in chunks, from the cheaper index: the prefix range of `idx` (the whole
   * index without a prefix) walked until a page is full, or the reversed-suffix range of `ridx`, read whole and
   * sorted (it is ordered by reversed key). ZCARD and ZLEXCOUNT (O(log n)) tell which is cheaper, so a narrow
   * suffix reads only its few keys and a broad one (`:profile` on every key) walks forward a page at a time.
   */
  private async *candidates(query: ListQuery): AsyncGenerator<string[]> {
    const prefix = query.prefix ?? '';
    const suffix = query.suffix ?? '';
    const { after } = query;
    const inPage = (key: string) => key.startsWith(prefix) && key.endsWith(suffix) && (after === undefined || compareCodePoints(key, after) > 0);
    const suffixRange = suffix === '' ? null : lexRange(reverseCodePoints(suffix));
    if (suffixRange) {
      const prefixRange = lexRange(prefix);
      const [total, viaPrefix, viaSuffix] = await this.guard(() =>
        Promise.all([
          this.redis.zcard(this.names.index),
          prefix === '' ? Promise.resolve(Number.POSITIVE_INFINITY) : this.redis.zlexcount(this.names.index, prefixRange.min, prefixRange.max),
          this.redis.zlexcount(this.names.reversedIndex, suffixRange.min, suffixRange.max),
        ]),
      );
      // The suffix side reads its whole range (to sort it); the forward side stops after a page of matches,
      // which takes about (limit + 1) / (share of keys with the suffix) steps, never more than its range.
      const forwardCost = Math.min(viaPrefix, total, viaSuffix === 0 ? 0 : ((query.limit + 1) * total) / viaSuffix);
      if (viaSuffix <= forwardCost) {
        const keys: string[] = [];
        for (let offset = 0; ; offset += CHUNK) {
          const chunk = await this.guard(() => this.redis.zrangebylex(this.names.reversedIndex, suffixRange.min, suffixRange.max, 'LIMIT', offset, CHUNK));
          for (const reversed of chunk) {
            const key = reverseCodePoints(reversed);
            if (inPage(key)) keys.push(key);
          }
          if (chunk.length < CHUNK) break;
        }
        keys.sort(compareCodePoints);
        for (let i = 0; i < keys.length; i += CHUNK) yield keys.slice(i, i + CHUNK);
        return;
      }
    }
    const range = lexRange(prefix);
    let min: string | Buffer = after !== undefined && (prefix === '' || compareCodePoints(after, prefix) >= 0) ? `(${after}` : range.min;
    // One page (plus one, to know whether more follow) is usually enough: start there, double if filters reject.
    let size = Math.min(CHUNK, query.limit + 1);
    for (;;) {
      const chunk = await this.guard(() => this.redis.zrangebylex(this.names.index, min, range.max, 'LIMIT', 0, size));
      const keys = chunk.filter(inPage);
      if (keys.length > 0) yield keys;
      if (chunk.length < size) return;
      min = `(${chunk[chunk.length - 1]}`;
      size = Math.min(CHUNK, size * 2);
    }
  }

  private guard<T>(call: () => Promise<T>): Promise<T> {
    return guardRedis(call);
  }
}

/** The ZRANGEBYLEX bounds of every string starting with `prefix`. */
function lexRange(prefix: string): { min: string | Buffer; max: string | Buffer } {
  if (prefix === '') return { min: '-', max: '+' };
  return { min: `[${prefix}`, max: Buffer.concat([Buffer.from(`(${prefix}`), TOP]) };
}

function preconditionArgs(precondition: Precondition | undefined): [string, string] {
  if (!precondition) return ['', ''];
  if ('revisions' in precondition) return ['revisions', precondition.revisions.map(formatPosition).join(',')];
  return [precondition.exists ? 'present' : 'absent', ''];
}

/** A record hash's `e` field as expiresAt: '' (or none) is no expiry. */
const expiryOf = (e: string | number | null): number | null => (e === null || e === '' ? null : Number(e));

/** Whether a record hash with revision field `r` and `expiresAt` is live at `now`: no revision is no record, and a logically expired one is gone. */
const isLive = (r: string | null, expiresAt: number | null, now: number): boolean => r !== null && (expiresAt === null || expiresAt > now);

/** Turns a script's refusal into the same domain error the memory driver throws. */
function failIfRefused(reply: Reply): void {
  const [status, ...rest] = reply.map(String);
  if (status === 'ok') return;
  if (status === 'exists') throw new KeyExistsError(rest);
  if (status === 'missing') throw new KeyNotFoundError(rest);
  if (status === 'revision') throw new RevisionMismatchError(rest[0], rest[1] === '' ? null : Number(rest[1]));
  throw new StoreUnavailableError(`unexpected script reply ${status}`);
}
