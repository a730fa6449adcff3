import { Global, Module, type OnApplicationShutdown, Inject } from '@nestjs/common';
import { ConfigService } from '@nestjs/config';
import type { AppConfig } from '../config/app-config';
import { KeyValueStore } from './kv.store';
import { MemoryStore } from './memory.store';

/**
 * Binds the KeyValueStore port to the driver STORE_DRIVER names. Global, so every feature module can
 * inject the port without importing this module.
 */
@Global()
@Module({
  providers: [
    {
      provide: KeyValueStore,
      inject: [ConfigService],
      useFactory: (config: AppConfig): KeyValueStore => {
        const driver = config.getOrThrow('STORE_DRIVER', { infer: true });
        switch (driver) {
          case 'memory': {
            const store = new MemoryStore({
              sweepIntervalMs: config.getOrThrow('KV_EXPIRY_SWEEP_INTERVAL_MS', { infer: true }),
            });
            store.start();
            return store;
          }
        }
      },
    },
  ],
  exports: [KeyValueStore],
})
export class StoreModule implements OnApplicationShutdown {
  constructor(@Inject(KeyValueStore) private readonly store: KeyValueStore) {}

  /** Runs after the HTTP server has stopped, so no request sees a closed store. */
  async onApplicationShutdown(): Promise<void> {
    await this.store.close();
  }
}
