import { Global, Module, type OnApplicationShutdown, Inject } from '@nestjs/common';
import { ConfigService } from '@nestjs/config';
import type { AppConfig } from '../config/app-config';
import { getToken } from '@willsoto/nestjs-prometheus';
import type { Histogram } from 'prom-client';
import { KV_STORE_OPERATION_DURATION } from '../metrics/metric-names';
import { ChangeFeed } from './change-feed';
import { InstrumentedStore } from './instrumented.store';
import { KeyValueStore } from './kv.store';
import { MemoryChangeFeed } from './memory-change.feed';
import { MemoryStore } from './memory.store';

/**
 * Binds the KeyValueStore and ChangeFeed ports to the driver STORE_DRIVER names. Global, so every
 * feature module can inject the ports without importing this module.
 */
@Global()
@Module({
  providers: [
    {
      provide: ChangeFeed,
      inject: [ConfigService],
      useFactory: (config: AppConfig): ChangeFeed => new MemoryChangeFeed(config.getOrThrow('WATCH_HISTORY', { infer: true })),
    },
    {
      provide: KeyValueStore,
      inject: [ConfigService, ChangeFeed, getToken(KV_STORE_OPERATION_DURATION)],
      useFactory: (config: AppConfig, feed: ChangeFeed, duration: Histogram<string>): KeyValueStore => {
        const driver = config.getOrThrow('STORE_DRIVER', { infer: true });
        const observe = (operation: string, name: string, seconds: number) => duration.observe({ operation, driver: name }, seconds);
        switch (driver) {
          case 'memory': {
            const store = new MemoryStore({ sweepIntervalMs: config.getOrThrow('KV_EXPIRY_SWEEP_INTERVAL_MS', { infer: true }) }, feed);
            store.start();
            return new InstrumentedStore(store, observe);
          }
        }
      },
    },
  ],
  exports: [KeyValueStore, ChangeFeed],
})
export class StoreModule implements OnApplicationShutdown {
  constructor(@Inject(KeyValueStore) private readonly store: KeyValueStore) {}

  /** Runs after the HTTP server has stopped, so no request sees a closed store. */
  async onApplicationShutdown(): Promise<void> {
    await this.store.close();
  }
}
