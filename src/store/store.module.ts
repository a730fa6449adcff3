import { type DynamicModule, Module } from '@nestjs/common';
import type { EnvironmentVariables } from '../config/env.validation';
import { MemoryDriverModule } from './memory/memory-driver.module';
import { RedisDriverModule } from './redis/redis-driver.module';

/**
 * Chooses the store driver, once, from the validated settings (STORE_DRIVER). The driver module provides every
 * port whose implementation differs by driver, globally: KeyValueStore and ChangeFeed (src/store), and the
 * subscription feature's SubscriptionRepository and WebhookQueues. Features inject the ports only; everything
 * driver-specific stays in src/store/memory or src/store/redis.
 */
@Module({})
export class StoreModule {
  static forRoot(settings: Pick<EnvironmentVariables, 'STORE_DRIVER' | 'SNAPSHOT_FILE'>): DynamicModule {
    const driver = settings.STORE_DRIVER === 'redis' ? RedisDriverModule.forRoot() : MemoryDriverModule.forRoot({ snapshots: settings.SNAPSHOT_FILE !== '' });
    return { module: StoreModule, imports: [driver], exports: [driver] };
  }
}
