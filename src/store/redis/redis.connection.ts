import { Logger } from '@nestjs/common';
import { Redis, type RedisOptions } from 'ioredis';
import { DomainError, StoreFullError, StoreUnavailableError, WriteOutcomeUnknownError } from '../../common/errors/domain.errors';
import type { AppConfig } from '../../config/app-config';

const messageOf = (error: unknown): string => (error instanceof Error ? error.message : String(error));

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
    if (error instanceof DomainError) throw error;
    const message = messageOf(error);
    if (error instanceof Error && error.name === 'ReplyError') {
      if (message.startsWith('OOM')) throw new StoreFullError(`Redis is out of memory (maxmemory): ${message}`);
      throw new StoreUnavailableError(message);
    }
    if (message.startsWith("Stream isn't writeable")) throw new StoreUnavailableError(message);
    throw new WriteOutcomeUnknownError(message);
  }
}

/**
 * Logs a Redis connection's losses and recoveries once per transition (ioredis would otherwise print every
 * reconnection error to the console, outside the JSON logs).
 */
function watchConnection(client: Redis, name: string): Redis {
  const logger = new Logger('Redis');
  let down = false;
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

/** Every connection the Redis driver opens, from the validated settings; closed together at shutdown. */
export class RedisConnections {
  private constructor(
    /** Commands of the store, subscriptions and webhook state: auto-pipelined, failing fast in an outage. */
    readonly client: Redis,
    /** The change feed's reader: XREAD BLOCK holds its connection, so it has one of its own. */
    readonly reader: Redis,
    /** Replays of the change feed for resuming watches, beside the reader. */
    readonly replayer: Redis,
  ) {}

  /** Opens the connections; waits for them at most REDIS_CONNECT_TIMEOUT_MS, then goes on regardless. */
  static async open(config: AppConfig): Promise<RedisConnections> {
    const options: RedisOptions = {
      connectTimeout: config.getOrThrow('REDIS_CONNECT_TIMEOUT_MS', { infer: true }),
      commandTimeout: config.getOrThrow('REDIS_COMMAND_TIMEOUT_MS', { infer: true }),
      // Fail fast in an outage (503 at once) instead of queueing requests until Redis returns.
      enableOfflineQueue: false,
      // A command that went out and got no answer fails at once, and is never sent again: a write must not be
      // applied twice, and its answer must come within REDIS_COMMAND_TIMEOUT_MS.
      maxRetriesPerRequest: 0,
      autoResendUnfulfilledCommands: false,
      enableAutoPipelining: true,
    };
    const url = config.getOrThrow('REDIS_URL', { infer: true });
    const connections = new RedisConnections(
      watchConnection(new Redis(url, options), 'store'),
      watchConnection(new Redis(url, { ...options, commandTimeout: undefined }), 'feed reader'),
      watchConnection(new Redis(url, options), 'feed replay'),
    );
    await connected([connections.client, connections.reader, connections.replayer], options.connectTimeout ?? 5000);
    return connections;
  }

  close(): void {
    for (const connection of [this.client, this.reader, this.replayer]) connection.disconnect();
  }
}
