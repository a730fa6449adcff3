import type { Redis } from 'ioredis';
import { DomainError, StoreUnavailableError } from '../common/errors/domain.errors';

/**
 * The Redis driver's command connection and key prefix, for features that keep their own data beside the
 * store's (webhook subscriptions and their delivery state). Injected as null with the memory driver.
 */
export class RedisConnection {
  constructor(
    readonly client: Redis,
    /** REDIS_KEY_PREFIX: every key this deployment uses starts with it. */
    readonly prefix: string,
  ) {}
}

/** Runs a Redis call; any failure that is not a domain answer means the store is unavailable (503). */
export async function guardRedis<T>(call: () => Promise<T>): Promise<T> {
  try {
    return await call();
  } catch (error) {
    if (error instanceof DomainError) throw error;
    throw new StoreUnavailableError(error instanceof Error ? error.message : String(error));
  }
}
