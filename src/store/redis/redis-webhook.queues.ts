import { Logger } from '@nestjs/common';
import type { Redis } from 'ioredis';
import { randomUUID } from 'node:crypto';
import { hostname } from 'node:os';
import { matches } from '../../subscription/event-filter';
import type { Subscription } from '../../subscription/subscription.repository';
import {
  DEAD_LETTERS_KEPT,
  type DeadLetter,
  deadLetterOf,
  type DeliveryCounter,
  type DeliveryQueue,
  type DeliveryState,
  type LaneControl,
  WebhookQueues,
} from '../../subscription/webhook-queues';
import { type Delivery, toDelivery } from '../../subscription/webhook.sender';
import type { ChangeEvent, ChangeFeed, ChangeType, Watch } from '../change-feed';
import type { KeyspacePosition } from '../keyspace';
import { fieldOf, revisionOf, type StreamEntry, toEvent } from './redis-change.feed';
import type { RedisSubscriptionRepository } from './redis-subscription.repository';
import { ACQUIRE_LEASE, RELEASE_LEASE, SETTLE } from './redis-webhook.scripts';
import { guardRedis, messageOf } from './redis.connection';
import type { RedisKeyspace } from './redis.keyspace';

/**
 * The event a feed entry holds; for an entry that cannot be read in full (a value that is not JSON, a time that is
 * not a number: only damage to the stream makes one), what can be read of it, and why the rest cannot.
 */
function readEntry(entry: StreamEntry): { event: ChangeEvent; damage?: string } {
  try {
    return { event: toEvent(entry) };
  } catch (error) {
    const [id, fields] = entry;
    return {
      event: {
        type: fieldOf(fields, 't') as ChangeType,
        key: fieldOf(fields, 'k') ?? '',
        keyspace: fieldOf(fields, 'ks') ?? '',
        revision: revisionOf(id),
        time: new Date().toISOString(),
      },
      damage: `its change feed entry ${id} cannot be read (${messageOf(error)})`,
    };
  }
}

interface LeaseCommands {
  kvLeaseAcquire(...keysThenArgs: (string | number)[]): Promise<number>;
  kvLeaseRelease(...keysThenArgs: (string | number)[]): Promise<number>;
  kvSettle(...keysThenArgs: (string | number)[]): Promise<number>;
}

type Client = Redis & LeaseCommands;

/**
 * Longest pause between two lease rounds. Leases are renewed three times per WEBHOOK_LEASE_MS, but free ones
 * (handed back by a replica that shut down) are looked for at least this often.
 */
const MAX_TICK_MS = 1000;

/** Stream entries a lane reads per round trip, at most; fewer when they are large (READ_BUDGET_BYTES). */
const READ_COUNT = 100;
/** About how many bytes of events a lane holds read ahead of its deliveries. */
const READ_BUDGET_BYTES = 1024 * 1024;

/** An entry of a consumer group's pending list whose event was trimmed from the stream has no fields. */
type GroupEntry = [id: string, fields: string[] | null];
type GroupReply = [stream: string, entries: GroupEntry[]][] | null;

export interface RedisQueuesOptions {
  /** WEBHOOK_LEASE_MS: how long a replica's claim on a subscription lasts unless renewed. */
  readonly leaseMs: number;
  /** WATCH_HISTORY and WATCH_HISTORY_BYTES, named in the dead letter of events trimmed before they were read. */
  readonly history: number;
  readonly historyBytes: number;
}

/** How far a replica's change feed has announced events: its position, and the base of its keyspace. */
export interface Announced extends KeyspacePosition {
  readonly base: number;
}

/** Flat `[name, value, ...]` replies of XINFO as an object. */
function fieldsOf(flat: unknown[]): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (let i = 0; i + 1 < flat.length; i += 2) out[String(flat[i])] = flat[i + 1];
  return out;
}

/**
 * One subscription's queue on Redis: its consumer group on the change feed. The lease holder is the group's
 * only reader. It first claims what a previous holder left unacknowledged (XAUTOCLAIM) and works through its
 * own pending entries, then reads new ones (XREADGROUP >). An event is acknowledged once delivered or
 * dead-lettered, so a replica that dies mid-way leaves it pending for the next holder: at-least-once.
 */
export class RedisDeliveryQueue implements DeliveryQueue {
  private static readonly logger = new Logger('WebhookDispatcher');
  private readonly buffer: GroupEntry[] = [];
  private started = false;
  /** Cursor through this consumer's pending entries; null once they are done and new entries are read. */
  private pendingCursor: string | null = '0-0';
  /** Revision of the newest entry read, to notice entries trimmed before the group read them. */
  private lastRead = 0;
  /** The keyspace of the newest entry read (null when unknown): a jump in revisions to a new keyspace is no gap. */
  private lastKeyspace: string | null = null;
  private readCount = 4;
  private retried: { entry: string; attempts: number } = { entry: '', attempts: 0 };
  private current = '';
  /**
   * The settling of an event taken off the buffer (delivered or dead-lettered) that failed: Redis may or may not
   * have applied it. Run again before anything else is read, so the event is neither left pending behind the ones
   * after it (to be sent again, out of order, by the next holder) nor sent twice by this one; the script does
   * nothing the second time when the first one was applied.
   */
  private unsettled: (() => Promise<boolean>) | null = null;
  /** Revisions XAUTOCLAIM reported trimmed from this group's pending list, not yet recorded as dead letters. */
  private readonly trimmedPending: number[] = [];

  private readonly feed: string;
  private readonly group: string;

  constructor(
    private readonly redis: Client,
    private readonly keyspace: RedisKeyspace,
    private readonly subscription: Subscription,
    private readonly owner: string,
    private readonly options: RedisQueuesOptions,
    private readonly count: DeliveryCounter,
    /** How far this replica's change feed has announced events, and where its keyspace began. */
    private readonly announced: () => Announced,
    private readonly lost: () => void,
  ) {
    this.feed = keyspace.feed;
    this.group = keyspace.webhookGroup(subscription.id);
  }

  async head(): Promise<Delivery | null> {
    try {
      return await this.next();
    } catch (e) {
      // A read whose reply was lost (Redis restarted, the connection dropped) may still have moved entries into this
      // consumer's pending list: read that list again before new entries, or they would look trimmed (a gap).
      this.pendingCursor = '0-0';
      // The subscription was deleted (its group destroyed) on some replica: nothing left to deliver.
      if (e instanceof Error && e.message.startsWith('NOGROUP')) {
        this.lost();
        return null;
      }
      throw e;
    }
  }

  private async next(): Promise<Delivery | null> {
    if (!this.started && !(await this.start())) return null;
    if (this.unsettled !== null) {
      const held = await this.unsettled();
      this.unsettled = null;
      // The lease went to another replica meanwhile: this one reads nothing more.
      if (!held) return null;
    }
    for (;;) {
      if (this.buffer.length === 0 && !(await this.fill())) return null;
      const skipped = this.takeSkipped();
      if (skipped.length > 0) {
        await this.redis.xack(this.feed, this.group, ...skipped);
        continue;
      }
      const [id, fields] = this.buffer[0];
      if (fields === null) {
        if (!(await this.settleHead(() => this.gap(id, revisionOf(id), revisionOf(id))))) return null;
        continue;
      }
      const { event, damage } = readEntry([id, fields]);
      // Not before this replica's change feed announced it (it wakes the lanes when it does): with
      // REDIS_MIN_REPLICA_ACKS, that is once replicas have it, so no webhook is sent an event a failover may take
      // back. An event of another keyspace is older than the announced one when its revision is at or below the
      // announced keyspace's base (a new keyspace continues above every revision before it): it goes; a newer one
      // waits until the feed has learned its keyspace.
      const announced = this.announced();
      const ready = event.keyspace === announced.keyspace ? event.revision <= announced.revision : event.revision <= announced.base;
      if (!ready) return null;
      this.current = id;
      const attempts = id === this.retried.entry ? this.retried.attempts : 0;
      const delivery = toDelivery(this.subscription, event, attempts);
      return damage === undefined ? delivery : { ...delivery, undeliverable: damage };
    }
  }

  async delivered(delivery: Delivery): Promise<void> {
    const entry = this.current;
    await this.settleHead(() => this.settle('delivered', entry, delivery.event.revision, ''));
  }

  async failed(delivery: Delivery, error: string): Promise<void> {
    // Known here whether or not Redis records it: a head read again after a failed settling keeps its count of
    // attempts (WEBHOOK_MAX_ATTEMPTS), rather than starting over from what Redis last had.
    this.retried = { entry: this.current, attempts: delivery.attempts };
    await this.settle('failed', this.current, delivery.event.revision, error, '', 0, delivery.attempts);
  }

  async deadLetter(delivery: Delivery, error: string): Promise<void> {
    // An event no attempt was made for says nothing of the receiver: no failure is counted against it.
    const outcome = delivery.undeliverable === undefined ? 'dead' : 'unread';
    const letter = JSON.stringify(deadLetterOf(delivery, error));
    const entry = this.current;
    await this.settleHead(() => this.settle(outcome, entry, delivery.event.revision, error, letter, 1));
  }

  /**
   * Takes the head off the buffer and settles it, or keeps that settling to run again (`unsettled`) when it fails.
   * False when the lease is no longer this replica's.
   */
  private async settleHead(settle: () => Promise<boolean>): Promise<boolean> {
    this.buffer.shift();
    return this.settleSurely(settle);
  }

  /** Settles, or keeps the settling to run again before anything else is read (`unsettled`) when it fails. */
  private async settleSurely(settle: () => Promise<boolean>): Promise<boolean> {
    this.unsettled = settle;
    const held = await settle();
    this.unsettled = null;
    return held;
  }

  /** Leading entries of the buffer that are not for this subscription, taken off it. */
  private takeSkipped(): string[] {
    const skipped: string[] = [];
    while (this.buffer.length > 0) {
      const [id, fields] = this.buffer[0];
      if (fields === null || matches(this.subscription.filter, readEntry([id, fields]).event)) break;
      skipped.push(id);
      this.buffer.shift();
    }
    return skipped;
  }

  /** Takes over what earlier holders left pending, and where the group stands; false when the lease is gone. */
  private async start(): Promise<boolean> {
    // Where the group stands, read before the pending entries are claimed: a read the former holder still makes
    // after that (its lease lapsed while it was busy) then shows as entries this lane never got, which it reads
    // again (fill), instead of leaving them pending with that holder until the next takeover.
    const groups = ((await this.redis.xinfo('GROUPS', this.feed)) as unknown[][]).map(fieldsOf);
    const mine = groups.find((g) => g.name === this.group);
    const lastRead = mine ? revisionOf(String(mine['last-delivered-id'])) : 0;
    const [last] = (await this.redis.xrange(this.feed, `${lastRead}-0`, `${lastRead}-0`)) as [string, string[]][];
    let cursor = '0-0';
    do {
      const [next, , deleted = []] = (await this.redis.xautoclaim(this.feed, this.group, this.owner, 0, cursor, 'COUNT', 1000, 'JUSTID')) as [
        string,
        string[],
        string[]?,
      ];
      // Entries trimmed from the stream leave the pending list here (Redis 7), for good: each one is a dead letter,
      // kept here until it is recorded (a failed start runs again, and XAUTOCLAIM does not report them twice).
      this.trimmedPending.push(...deleted.map(revisionOf));
      cursor = next;
    } while (cursor !== '0-0');
    while (this.trimmedPending.length > 0) {
      if (!(await this.gap('', this.trimmedPending[0], this.trimmedPending[0]))) {
        this.unrecorded(`revision(s) ${this.trimmedPending.join(', ')}`);
        return false;
      }
      this.trimmedPending.shift();
    }
    const consumers = ((await this.redis.xinfo('CONSUMERS', this.feed, this.group)) as unknown[][]).map(fieldsOf);
    for (const c of consumers) {
      // Consumers of replicas that are gone, now that their entries are ours.
      if (c.name !== this.owner && Number(c.pending) === 0) await this.redis.xgroup('DELCONSUMER', this.feed, this.group, String(c.name));
    }
    this.lastRead = lastRead;
    this.lastKeyspace = last ? (fieldOf(last[1], 'ks') ?? null) : null;
    const [entry, attempts] = await this.redis.hmget(this.keyspace.webhookState(this.subscription.id), 'head', 'attempts');
    this.retried = { entry: entry ?? '', attempts: Number(attempts ?? 0) };
    this.started = true;
    return true;
  }

  /** Reads the next entries into the buffer; false when there are none yet. */
  private async fill(): Promise<boolean> {
    if (this.pendingCursor !== null) {
      const entries = ((await this.read(this.pendingCursor)) as GroupReply)?.[0]?.[1] ?? [];
      if (entries.length > 0) {
        this.pendingCursor = entries[entries.length - 1][0];
        // Pending entries were read once already: they count as read when new ones are checked for a gap. One newer
        // than where start() found the group (a former holder read it after start() looked, or a read of this lane
        // failed after the group moved) also says the group's keyspace now: stream ids only grow.
        const newest = entries.findLast(([, fields]) => fields !== null);
        if (newest !== undefined && revisionOf(newest[0]) > this.lastRead) {
          this.lastRead = revisionOf(newest[0]);
          this.lastKeyspace = fieldOf(newest[1] as string[], 'ks') ?? null;
        }
        this.buffer.push(...entries);
        return true;
      }
      this.pendingCursor = null;
    }
    const entries = ((await this.read('>')) as GroupReply)?.[0]?.[1] ?? [];
    if (entries.length === 0) return false;
    const first = revisionOf(entries[0][0]);
    const keyspace = entries[0][1] === null ? null : (fieldOf(entries[0][1], 'ks') ?? null);
    let trimmed: [from: number, to: number] | null = null;
    // A new keyspace continues above the old one's revisions: that jump is not a gap.
    if (first > this.lastRead + 1 && (this.lastKeyspace === null || keyspace === this.lastKeyspace)) {
      const [kept] = (await this.redis.xrange(this.feed, `${this.lastRead + 1}-0`, `${first - 1}-0`, 'COUNT', 1)) as [string, string[]][];
      if (kept) {
        // The stream still has entries this lane never got: a read whose reply was lost (a failover, a restart)
        // moved the group past them. Whatever before them was trimmed is a gap; the group goes back to read the rest.
        const resume = revisionOf(kept[0]) - 1;
        if (resume > this.lastRead && !(await this.gap('', this.lastRead + 1, resume))) {
          this.unrecorded(`revisions ${this.lastRead + 1}-${resume}`);
          return false;
        }
        await this.redis.xgroup('SETID', this.feed, this.group, `${resume}-0`);
        this.lastRead = resume;
        return this.fill();
      }
      // The feed was trimmed past events this group had not read yet (it fell WATCH_HISTORY events behind). Recorded
      // once the entries are taken: this read moved the group past the gap, so a failed recording must run again.
      trimmed = [this.lastRead + 1, first - 1];
    }
    const [lastId, lastFields] = entries[entries.length - 1];
    this.lastRead = revisionOf(lastId);
    this.lastKeyspace = lastFields === null ? this.lastKeyspace : (fieldOf(lastFields, 'ks') ?? null);
    this.buffer.push(...entries);
    if (trimmed !== null) {
      const [from, to] = trimmed;
      if (!(await this.settleSurely(() => this.gap('', from, to)))) {
        this.unrecorded(`revisions ${from}-${to}`);
        return false;
      }
    }
    return true;
  }

  /**
   * The lease lapsed (rarely: within one read) before events that left the feed unread were recorded as dead letters.
   * The group has moved past them, so the next holder is not told of them: it is said here.
   */
  private unrecorded(what: string): void {
    RedisDeliveryQueue.logger.warn(`webhook ${this.subscription.id}: lost its lease before recording ${what} as dead letters (they left the feed before delivery)`);
  }

  /** Reads entries of the group, as many as fit READ_BUDGET_BYTES judging by the last read's sizes. */
  private async read(from: string): Promise<unknown> {
    const reply = await this.redis.xreadgroup('GROUP', this.group, this.owner, 'COUNT', this.readCount, 'STREAMS', this.feed, from);
    const entries = (reply as GroupReply)?.[0]?.[1] ?? [];
    const bytes = entries.reduce((n, [, fields]) => n + Number((fields && fieldOf(fields, 's')) ?? 0), 0);
    if (bytes > READ_BUDGET_BYTES) this.readCount = Math.max(1, Math.floor(this.readCount / 2));
    else if (entries.length === this.readCount && bytes * 4 < READ_BUDGET_BYTES) this.readCount = Math.min(READ_COUNT, this.readCount * 2);
    return reply;
  }

  /** Events from..to left the feed before they were delivered: one dead letter for all of them (false: lease lost). */
  private async gap(entry: string, from: number, to: number): Promise<boolean> {
    const range = from === to ? `revision ${from}` : `revisions ${from}-${to}`;
    const letter: DeadLetter = {
      revision: from,
      key: '',
      attempts: 0,
      error: `${range} left the change feed (WATCH_HISTORY=${this.options.history}, WATCH_HISTORY_BYTES=${this.options.historyBytes}) before delivery`,
      at: new Date().toISOString(),
    };
    const held = await this.settle('gap', entry, from, '', JSON.stringify(letter), to - from + 1);
    // Counted once recorded, so a settling run again is not counted twice.
    if (held) this.count('dead_lettered', to - from + 1);
    return held;
  }

  private async settle(
    outcome: 'delivered' | 'failed' | 'dead' | 'gap' | 'unread',
    entry: string,
    revision: number,
    error: string,
    letter = '',
    dead = 0,
    attempts = 0,
  ): Promise<boolean> {
    const id = this.subscription.id;
    const k = this.keyspace;
    const ok = await this.redis.kvSettle(
      k.webhookLease(id),
      k.webhookState(id),
      k.webhookDeadLetters(id),
      k.feed,
      this.owner,
      this.group,
      outcome,
      entry,
      revision,
      error,
      attempts,
      letter,
      dead,
      DEAD_LETTERS_KEPT,
    );
    if (ok === 0) this.lost();
    return ok !== 0;
  }
}

/**
 * The Redis driver's webhook queues. Subscriptions, their queues (consumer groups on the shared change feed) and
 * their delivery state live in Redis. Each subscription is delivered by one replica at a time, the holder of its
 * lease (WEBHOOK_LEASE_MS, renewed three times per period; free leases are looked for every second), so in the
 * normal case each event is POSTed once, not once per replica, and in order. When a replica dies its leases lapse;
 * another takes them and delivers what was left pending. At shutdown a replica finishes the requests in flight
 * and hands its leases back.
 */
export class RedisWebhookQueues extends WebhookQueues {
  private readonly logger = new Logger('WebhookDispatcher');
  /** This replica's consumer name in every group and the value of the leases it holds: unique per instance. */
  readonly owner = `${hostname()}-${process.pid}-${randomUUID().slice(0, 8)}`;
  private readonly redis: Client;
  /** Queues of the subscriptions whose lease this replica holds (the dispatcher runs their lanes). */
  private readonly held = new Map<string, RedisDeliveryQueue>();
  private lanes: LaneControl | null = null;
  private timer: NodeJS.Timeout | undefined;
  private ticking: Promise<void> | null = null;
  private again = false;
  private stopped = false;
  private failing = false;
  private watch: Watch | null = null;

  constructor(
    client: Redis,
    private readonly keyspace: RedisKeyspace,
    private readonly repository: RedisSubscriptionRepository,
    private readonly feed: ChangeFeed,
    private readonly count: DeliveryCounter,
    private readonly options: RedisQueuesOptions,
    /** The revision the current keyspace began at (RedisKeyspaceView), for events of other keyspaces. */
    private readonly keyspaceBase: () => number = () => 0,
  ) {
    super();
    this.redis = client as Client;
    this.redis.defineCommand('kvLeaseAcquire', { numberOfKeys: 2, lua: ACQUIRE_LEASE });
    this.redis.defineCommand('kvLeaseRelease', { numberOfKeys: 1, lua: RELEASE_LEASE });
    this.redis.defineCommand('kvSettle', { numberOfKeys: 4, lua: SETTLE });
  }

  async start(lanes: LaneControl): Promise<void> {
    this.lanes = lanes;
    // The feed's reader sees every replica's writes: it tells idle lanes there may be work.
    this.watch = this.feed.watch(null, { events: () => lanes.wake(), reset: () => lanes.wake(), readsValues: false });
    this.schedule(0);
  }

  created(): void {
    this.tick();
  }

  deleted(id: string): void {
    this.held.delete(id);
  }

  states(ids: readonly string[]): Promise<Map<string, DeliveryState>> {
    return ids.length === 0 ? Promise.resolve(new Map()) : guardRedis(() => this.readStates(ids));
  }

  private async readStates(ids: readonly string[]): Promise<Map<string, DeliveryState>> {
    const k = this.keyspace;
    const readState = async (id: string) => ({
      id,
      state: await this.redis.hgetall(k.webhookState(id)),
      dead: await this.redis.lrange(k.webhookDeadLetters(id), 0, -1),
    });
    // Auto-pipelining sends these in one round trip.
    const [groups, revision, perId] = await Promise.all([
      this.redis.xinfo('GROUPS', k.feed) as Promise<unknown[][]>,
      this.redis.get(k.revision),
      Promise.all(ids.map(readState)),
    ]);
    const byName = new Map(groups.map(fieldsOf).map((g) => [String(g.name), g]));
    const states = new Map<string, DeliveryState>();
    for (const { id, state, dead } of perId) {
      const group = byName.get(k.webhookGroup(id));
      if (!group) continue;
      // Ids are revisions and every revision is one entry: what the group has not read is the difference.
      const unread = Math.max(0, Number(revision ?? 0) - revisionOf(String(group['last-delivered-id'])));
      states.set(id, {
        lastDeliveredRevision: state.delivered ? Number(state.delivered) : null,
        pending: Number(group.pending) + unread,
        consecutiveFailures: Number(state.failures ?? 0),
        lastError: state.error || null,
        deadLettered: Number(state.dead ?? 0),
        deadLetters: dead.map((json) => JSON.parse(json) as DeadLetter),
      });
    }
    return states;
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.timer);
    this.watch?.stop();
    await this.ticking;
    this.lanes = null;
  }

  /** Handing the leases back lets another replica continue now rather than after WEBHOOK_LEASE_MS. */
  async release(): Promise<void> {
    const held = [...this.held.keys()];
    this.held.clear();
    await Promise.all(held.map((id) => this.redis.kvLeaseRelease(this.keyspace.webhookLease(id), this.owner).catch(() => 0)));
  }

  private schedule(ms: number): void {
    if (this.stopped) return;
    this.timer = setTimeout(() => this.tick(), ms);
  }

  /** Takes, renews or gives up leases; runs one at a time, and once more if asked while running. */
  private tick(): void {
    if (this.stopped) return;
    if (this.ticking) {
      this.again = true;
      return;
    }
    clearTimeout(this.timer);
    this.ticking = this.balance()
      .catch((e: unknown) => {
        if (!this.failing) this.logger.warn(`webhook leases: ${messageOf(e)}; retrying`);
        this.failing = true;
      })
      .finally(() => {
        this.ticking = null;
        if (this.again) {
          this.again = false;
          this.tick();
        } else {
          this.schedule(Math.min(MAX_TICK_MS, Math.floor(this.options.leaseMs / 3)));
        }
      });
  }

  private async balance(): Promise<void> {
    const ids = await this.repository.ids();
    const live = new Set(ids);
    for (const id of this.held.keys()) if (!live.has(id)) this.drop(id);
    const k = this.keyspace;
    const leases = await Promise.all(ids.map((id) => this.redis.kvLeaseAcquire(k.subscriptions, k.webhookLease(id), id, this.owner, this.options.leaseMs)));
    for (const [i, id] of ids.entries()) {
      if (leases[i] !== 1) {
        this.drop(id);
        continue;
      }
      if (this.held.has(id)) {
        this.lanes?.wake(id);
        continue;
      }
      const subscription = await this.repository.get(id);
      if (subscription && !this.stopped && this.lanes) this.lanes.open(subscription, this.queue(subscription));
    }
    this.failing = false;
  }

  /** This replica no longer delivers `id` (another holds its lease, or it is gone). */
  private drop(id: string): void {
    if (!this.held.delete(id)) return;
    this.lanes?.close(id);
  }

  /** A queue for a subscription whose lease this replica just took. */
  private queue(subscription: Subscription): RedisDeliveryQueue {
    const queue: RedisDeliveryQueue = new RedisDeliveryQueue(this.redis, this.keyspace, subscription, this.owner, this.options, this.count, () => ({ ...this.feed.position, base: this.keyspaceBase() }), () => {
      // Another replica holds the lease now (this one stalled past it), or the subscription is gone: leave it.
      if (this.held.get(subscription.id) === queue) this.drop(subscription.id);
    });
    this.held.set(subscription.id, queue);
    return queue;
  }
}
