/**
 * Every Redis key name kv-store uses, built in this one place (TypeScript and Lua alike: scripts receive the
 * names they touch as KEYS, never a prefix to build names from).
 *
 * All names start with one hash tag, `{<REDIS_KEY_PREFIX>}`, so Redis Cluster keeps every key of a deployment in
 * one slot: multi-key scripts (a batch, its revisions, the indexes and the change stream move together) run on
 * one node. Several deployments can share one Redis with different prefixes.
 *
 * Layout, for the tag T:
 *   T keyspace            hash     id, base (revision it began at), reason and at (why and when it began): see keyspace.ts;
 *                                  tb: feedbytes before the feed's oldest entry as the last byte trim left it (redis.scripts.ts)
 *   T rev                 string   the store revision
 *   T r:<key>             hash     one record: v (value JSON), r (revision), c (createdAt ms), u (updatedAt ms),
 *                                  e (expiresAt ms or '')
 *   T idx                 zset     every key, score 0 (ZRANGEBYLEX: UTF-8 byte order = code-point order)
 *   T ridx                zset     every key reversed by code point (suffix search as a prefix range)
 *   T exp                 zset     keys with a TTL, scored by expiresAt (the sweeper's work list)
 *   T feed                stream   change events, entry id <revision>-0; each webhook subscription is a consumer
 *                                  group `wh:<id>` on it
 *   T feedbytes           string   bytes ever added to the feed (each entry records the running total, so the
 *                                  bytes between two entries are known without reading the ones between)
 *   T barrier             string   a counter the feed's reader increments to WAIT for replicas (REDIS_MIN_REPLICA_ACKS)
 *   T subs                set      webhook subscription ids
 *   T sub:<id>            hash     json (the subscription without its start), start (revision it starts after)
 *   T wh:<id>:lease       string   the replica delivering this subscription (its consumer name), with a TTL
 *   T wh:<id>:state       hash     delivered, failures, error, dead, head, attempts
 *   T wh:<id>:dead        list     the latest dead letters (JSON), oldest first
 */
export class RedisKeyspace {
  /** The hash tag every name starts with. */
  readonly tag: string;
  readonly revision: string;
  readonly index: string;
  readonly reversedIndex: string;
  readonly expiries: string;
  readonly feed: string;
  readonly feedBytes: string;
  readonly keyspace: string;
  readonly subscriptions: string;
  readonly barrier: string;

  /** `prefix`: REDIS_KEY_PREFIX (braces are refused by its validation: they would end the hash tag early). */
  constructor(prefix: string) {
    this.tag = `{${prefix}}`;
    this.revision = `${this.tag}rev`;
    this.index = `${this.tag}idx`;
    this.reversedIndex = `${this.tag}ridx`;
    this.expiries = `${this.tag}exp`;
    this.feed = `${this.tag}feed`;
    this.feedBytes = `${this.tag}feedbytes`;
    this.keyspace = `${this.tag}keyspace`;
    this.subscriptions = `${this.tag}subs`;
    this.barrier = `${this.tag}barrier`;
  }

  /** Names kv-store 0.1 used before keys carried a hash tag (only to warn that such data is not read). */
  get legacyNames(): readonly string[] {
    const prefix = this.tag.slice(1, -1);
    return [`${prefix}rev`, `${prefix}idx`];
  }

  /** The hash of one record. */
  record(key: string): string {
    return `${this.tag}r:${key}`;
  }

  /** The names a store mutation touches besides its records, in the order the store's scripts expect as KEYS. */
  get storeKeys(): readonly string[] {
    return [this.revision, this.index, this.reversedIndex, this.expiries, this.feed, this.keyspace, this.feedBytes];
  }

  subscription(id: string): string {
    return `${this.tag}sub:${id}`;
  }

  /** The consumer group of a subscription on the feed (a name inside the stream, not a key). */
  webhookGroup(id: string): string {
    return `wh:${id}`;
  }

  webhookLease(id: string): string {
    return `${this.tag}wh:${id}:lease`;
  }

  webhookState(id: string): string {
    return `${this.tag}wh:${id}:state`;
  }

  webhookDeadLetters(id: string): string {
    return `${this.tag}wh:${id}:dead`;
  }
}
