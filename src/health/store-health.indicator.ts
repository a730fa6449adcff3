import { Injectable } from '@nestjs/common';
import { type HealthIndicatorResult, HealthIndicatorService } from '@nestjs/terminus';
import { AppConfig } from '../config/app-config';
import { KeyValueStore } from '../store/kv.store';

/** Up when the store answers a ping within HEALTH_STORE_TIMEOUT_MS; says which keyspace it is in. */
@Injectable()
export class StoreHealthIndicator {
  private readonly timeoutMs: number;

  constructor(
    private readonly store: KeyValueStore,
    private readonly indicators: HealthIndicatorService,
    config: AppConfig,
  ) {
    this.timeoutMs = config.getOrThrow('HEALTH_STORE_TIMEOUT_MS', { infer: true });
  }

  async check(key = 'store'): Promise<HealthIndicatorResult> {
    const indicator = this.indicators.check(key);
    let timer: NodeJS.Timeout | undefined;
    try {
      await Promise.race([
        this.store.ping(),
        new Promise((_, reject) => {
          timer = setTimeout(() => reject(new Error(`no answer within ${this.timeoutMs} ms`)), this.timeoutMs);
        }),
      ]);
      // The keyspace the store's revisions are in now: a change of it is what clients resuming from before must learn of.
      return indicator.up({ driver: this.store.driver, keyspace: this.store.keyspace.id });
    } catch (error) {
      return indicator.down({ driver: this.store.driver, message: error instanceof Error ? error.message : String(error) });
    } finally {
      clearTimeout(timer);
    }
  }
}
