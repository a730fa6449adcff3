import { Logger } from '@nestjs/common';
import { Cluster, Redis, type RedisOptions } from 'ioredis';
import { DomainError, StoreFullError, StoreUnavailableError, WriteOutcomeUnknownError } from '../../common/errors/domain.errors';
import type { AppConfig } from '../../config/app-config';
import { type RedisMode, redisModeOf } from '../../config/env.validation';

/** An error's message, for logs and answers, whatever was thrown. */
export const messageOf = (error: unknown): string => (error instanceof Error ? error.message : String(error));

/** Runs a Redis call that changes nothing (a read); any failure that is not a domain answer is a 503. */
export async function guardRedis<T>(call: () => Promise<T>): Promise<T> {
  try {
    return await call();
  } catch (error) {
    if (error instanceof DomainError) throw error;
    throw new StoreUnavailableError(messageOf(error));
  }
}

/**
 * Runs a Redis call that writes, and says honestly what a failure means:
 * - Redis refused it (an error reply: read-only replica, loading, out of memory): nothing was written;
 * - it never went out (no connection; there is no offline queue): nothing was written (503);
 * - it went out and no answer came (timeout, connection lost): it may have been applied (504). Commands are
 *   never resent on reconnection (autoResendUnfulfilledCommands is off): a write must not apply twice.
 */
export async function guardRedisWrite<T>(call: () => Promise<T>): Promise<T> {
  try {
    return await call();
  } catch (error) {
    throw writeFailure(error);
  }
}

/** The domain error a failed write stands for (see guardRedisWrite). */
export function writeFailure(error: unknown): Error {
  if (error instanceof DomainError) return error;
  const message = messageOf(error);
  if (error instanceof Error && error.name === 'ReplyError') {
    if (message.startsWith('OOM')) return new StoreFullError(`Redis is out of memory (maxmemory): ${message}`);
    return new StoreUnavailableError(message);
  }
  if (message.startsWith("Stream isn't writeable")) return new StoreUnavailableError(message);
  return new WriteOutcomeUnknownError(message);
}

/**
 * Logs a Redis connection's losses and recoveries once per transition (ioredis would otherwise print every
 * reconnection error to the console, outside the JSON logs), and connects again one that ioredis ended by itself,
 * unless `closed()` says the application closed it.
 */
function watchConnection(client: Redis, name: string, closed: () => boolean): Redis {
  const logger = new Logger('Redis');
  let down = false;
  // ioredis gives a client up for good ('end') when a connection attempt is cut short: its Sentinel failover
  // detector, on +switch-master, drops the connection, and an attempt still asking the sentinels for the primary
  // (a killed primary's clients are reconnecting then) rejects with "Connection is closed.". Seen under load: the
  // client stayed ended after the failover, and every write through it failed. Only close() may end a connection.
  client.on('end', () => {
    if (closed()) return;
    logger.warn(`${name} connection was given up by the Redis client; connecting again`);
    setTimeout(() => {
      if (!closed() && client.status === 'end') client.connect().catch(() => undefined);
    }, RECONNECT_AFTER_END_MS).unref();
  });
  client.on('error', (error: Error) => {
    if (down) return;
    down = true;
    logger.warn(`${name} connection lost: ${error.message}; reconnecting`);
  });
  client.on('ready', () => {
    if (!down) return;
    down = false;
    logger.log(`${name} connection restored`);
  });
  return client;
}

/** Pause before connecting again a client ioredis ended by itself (see watchConnection); it retries as often. */
const RECONNECT_AFTER_END_MS = 100;

/**
 * Resolves once every client is connected, or after `timeoutMs` regardless: a Redis that is down at boot
 * must not stop the process (readiness reports it until it is reachable).
 */
function connected(clients: Redis[], timeoutMs: number): Promise<void> {
  const ready = clients.map((client) => (client.status === 'ready' ? Promise.resolve() : new Promise<void>((resolve) => client.once('ready', () => resolve()))));
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<void>((resolve) => (timer = setTimeout(resolve, timeoutMs)));
  return Promise.race([Promise.all(ready).then(() => undefined), timeout]).finally(() => clearTimeout(timer));
}

/** How the Redis driver reaches Redis, from the validated settings (env.validation.ts). */
export interface RedisTarget {
  readonly mode: RedisMode;
  /** Standalone: REDIS_URL; Sentinel and Cluster: the sentinels or seed nodes. */
  readonly url: string;
  readonly nodes: readonly { host: string; port: number }[];
  readonly sentinelMaster: string;
  readonly sentinelPassword: string;
  readonly username: string;
  readonly password: string;
  readonly db: number;
  readonly tls: boolean;
}

/** `host:port,host:port` (a host may be a bracketed IPv6 literal), already validated. */
export function parseNodes(list: string): { host: string; port: number }[] {
  if (list === '') return [];
  return list.split(',').map((entry) => {
    const colon = entry.lastIndexOf(':');
    return { host: entry.slice(0, colon).replace(/^\[(.*)\]$/, '$1'), port: Number(entry.slice(colon + 1)) };
  });
}

export function redisTargetOf(config: AppConfig): RedisTarget {
  const sentinels = config.getOrThrow('REDIS_SENTINELS', { infer: true });
  const clusterNodes = config.getOrThrow('REDIS_CLUSTER_NODES', { infer: true });
  return {
    mode: redisModeOf({ REDIS_SENTINELS: sentinels, REDIS_CLUSTER_NODES: clusterNodes }),
    url: config.getOrThrow('REDIS_URL', { infer: true }),
    nodes: parseNodes(sentinels !== '' ? sentinels : clusterNodes),
    sentinelMaster: config.getOrThrow('REDIS_SENTINEL_MASTER', { infer: true }),
    sentinelPassword: config.getOrThrow('REDIS_SENTINEL_PASSWORD', { infer: true }),
    username: config.getOrThrow('REDIS_USERNAME', { infer: true }),
    password: config.getOrThrow('REDIS_PASSWORD', { infer: true }),
    db: config.getOrThrow('REDIS_DB', { infer: true }),
    tls: config.getOrThrow('REDIS_TLS', { infer: true }),
  };
}

/** What every connection shares, whatever the mode. */
interface Timing {
  readonly connectTimeout: number;
  /** Undefined for a connection that blocks (XREAD BLOCK): its commands wait as long as they ask to. */
  readonly commandTimeout: number | undefined;
  readonly autoPipelining: boolean;
}

/**
 * Opens one connection (for Cluster, one client over every node) to `target`. Typed as `Redis` for every mode:
 * a Cluster client has the same commands, scripts and pipelines, and the driver uses nothing else.
 */
function connect(target: RedisTarget, timing: Timing): Redis {
  const common: RedisOptions = {
    connectTimeout: timing.connectTimeout,
    commandTimeout: timing.commandTimeout,
    // Fail fast in an outage (503 at once) instead of queueing requests until Redis returns.
    enableOfflineQueue: false,
    // A command that went out and got no answer fails at once, and is never sent again: a write must not be
    // applied twice, and its answer must come within REDIS_COMMAND_TIMEOUT_MS.
    maxRetriesPerRequest: 0,
    autoResendUnfulfilledCommands: false,
    enableAutoPipelining: timing.autoPipelining,
    ...(target.username !== '' && { username: target.username }),
    ...(target.password !== '' && { password: target.password }),
    ...(target.tls && { tls: {} }),
  };
  switch (target.mode) {
    case 'standalone':
      return new Redis(target.url, { ...common, ...(target.db !== 0 && { db: target.db }) });
    case 'sentinel':
      return new Redis({
        ...common,
        db: target.db,
        sentinels: [...target.nodes],
        name: target.sentinelMaster,
        role: 'master',
        ...(target.sentinelPassword !== '' && { sentinelPassword: target.sentinelPassword }),
        ...(target.tls && { enableTLSForSentinelMode: true, sentinelTLS: {} }),
        // Reconnect as soon as the sentinels announce a new primary, not at the next failed command.
        failoverDetector: true,
        // Ask the sentinels again soon: a failover takes seconds, and writes fail (503) until it is found.
        retryStrategy: (times) => Math.min(100 * times, 1000),
        // A primary demoted to replica refuses writes: find the new one (the refused command is not resent,
        // and was not applied).
        reconnectOnError: (error) => (error.message.startsWith('READONLY') ? 1 : false),
      });
    case 'cluster':
      return new Cluster([...target.nodes], {
        redisOptions: common,
        enableOfflineQueue: false,
        enableAutoPipelining: timing.autoPipelining,
        // A command whose connection closed may have been applied: it fails (504 for a write), never resent.
        // MOVED, ASK, TRYAGAIN and CLUSTERDOWN mean it was not applied: those are retried.
        retryDelayOnFailover: 0,
        retryDelayOnClusterDown: 100,
        clusterRetryStrategy: (times) => Math.min(100 * times, 1000),
        slotsRefreshTimeout: timing.connectTimeout,
      }) as unknown as Redis;
  }
}

/** Every connection the Redis driver opens, from the validated settings; closed together at shutdown. */
export class RedisConnections {
  /** Set by close(): from then on a connection that ends stays ended. */
  private closing = false;

  private constructor(
    /** Commands of the store, subscriptions and webhook state: auto-pipelined, failing fast in an outage. */
    readonly client: Redis,
    /** The change feed's reader: XREAD BLOCK holds its connection, so it has one of its own. */
    readonly reader: Redis,
    /** Replays of the change feed for resuming watches, beside the reader. */
    readonly replayer: Redis,
    /**
     * Writes that wait for replicas (REDIS_MIN_REPLICA_ACKS > 0): WAIT blocks its connection, and must follow the
     * writes it waits for on that same connection. Null when writes do not wait.
     */
    readonly writer: Redis | null,
    readonly target: RedisTarget,
  ) {}

  /** Opens the connections; waits for them at most REDIS_CONNECT_TIMEOUT_MS, then goes on regardless. */
  static async open(config: AppConfig): Promise<RedisConnections> {
    const target = redisTargetOf(config);
    const connectTimeout = config.getOrThrow('REDIS_CONNECT_TIMEOUT_MS', { infer: true });
    const commandTimeout = config.getOrThrow('REDIS_COMMAND_TIMEOUT_MS', { infer: true });
    const acks = config.getOrThrow('REDIS_MIN_REPLICA_ACKS', { infer: true });
    const ackTimeout = config.getOrThrow('REDIS_REPLICA_ACK_TIMEOUT_MS', { infer: true });
    let connections: RedisConnections | undefined;
    const closed = () => connections?.closing ?? false;
    const open = (name: string, timing: Omit<Timing, 'connectTimeout'>) => watchConnection(connect(target, { connectTimeout, ...timing }), name, closed);
    connections = new RedisConnections(
      open('store', { commandTimeout, autoPipelining: true }),
      open('feed reader', { commandTimeout: undefined, autoPipelining: false }),
      open('feed replay', { commandTimeout, autoPipelining: true }),
      // A write there may queue behind one WAIT, then wait for its own.
      acks > 0 ? open('replicated writes', { commandTimeout: commandTimeout + 2 * ackTimeout, autoPipelining: false }) : null,
      target,
    );
    await connected(connections.all, connectTimeout);
    return connections;
  }

  private get all(): Redis[] {
    return [this.client, this.reader, this.replayer, ...(this.writer ? [this.writer] : [])];
  }

  close(): void {
    this.closing = true;
    // A second disconnect() of an ended client arms a reconnection timer that would hold the process open.
    for (const connection of this.all) if (connection.status !== 'end') connection.disconnect();
  }
}
