import { type RedisServer, startRedisServer, uniquePrefix } from './redis-server';

/** Every store driver: suites that must behave identically on each run once per driver. */
export const DRIVERS = ['memory', 'redis'] as const;
export type DriverName = (typeof DRIVERS)[number];

/**
 * Registers beforeAll/afterAll hooks that give a suite its driver: nothing for memory; for redis, a private
 * redis-server for the whole file. `env()` returns the settings for one app, each call a fresh keyspace.
 */
export function useDriver(driver: DriverName): { env(): Record<string, string>; readonly redis: RedisServer | undefined } {
  let redis: RedisServer | undefined;
  if (driver === 'redis') {
    beforeAll(async () => {
      redis = await startRedisServer();
    });
    afterAll(async () => {
      await redis?.stop();
    });
  }
  return {
    env: (): Record<string, string> =>
      driver === 'redis' ? { STORE_DRIVER: 'redis', REDIS_URL: redis!.url, REDIS_KEY_PREFIX: uniquePrefix() } : {},
    get redis() {
      return redis;
    },
  };
}
