import type { Gauge } from 'prom-client';
import type { KeyValueStore } from '../store/kv.store';

/** Whether the store answers a ping within `timeoutMs` (never throws: a failure is `false`). */
export async function storeAnswers(store: KeyValueStore, timeoutMs: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<boolean>((resolve) => {
    timer = setTimeout(() => resolve(false), timeoutMs);
  });
  try {
    return await Promise.race([store.ping().then(() => true, () => false), late]);
  } finally {
    clearTimeout(timer);
  }
}

/**
 * Collects kv_store_up at scrape time: 1 when the store answers a ping within HEALTH_STORE_TIMEOUT_MS (what
 * readiness asks too), else 0. The scrape itself always succeeds, so an outage is a 0 and not a missing target.
 */
export async function collectStoreUp(gauge: Gauge<string>, store: KeyValueStore, timeoutMs: number): Promise<void> {
  gauge.set((await storeAnswers(store, timeoutMs)) ? 1 : 0);
}

/**
 * Collects kv_keys at scrape time. When the store cannot count (an outage), the gauge is NaN, "unknown", rather
 * than a failed scrape (which would hide kv_store_up's 0 behind a down target) or a stale or zero count.
 */
export async function collectKeys(gauge: Gauge<string>, store: KeyValueStore): Promise<void> {
  gauge.set(await store.count().catch(() => Number.NaN));
}
