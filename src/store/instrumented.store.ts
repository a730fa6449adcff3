import type { FactoryProvider, InjectionToken } from '@nestjs/common';
import { getToken } from '@willsoto/nestjs-prometheus';
import { KV_STORE_OPERATION_DURATION } from '../metrics/metric-names';
import type { SeriesHistogram } from '../metrics/series-histogram';
import type { Keyspace } from './keyspace';
import { type JsonValue, KeyValueStore, type KeyPage, type KvEntry, type KvRecord, type ListQuery, type Page, type Precondition, type WriteOptions, type WriteResult } from './kv.store';

/** Receives the duration of each store operation. */
export type OperationObserver = (operation: string, driver: string, seconds: number) => void;

/**
 * Times every operation of another store (for kv_store_operation_duration_seconds) without the drivers
 * knowing about metrics. Failed operations are timed too.
 */
export class InstrumentedStore extends KeyValueStore {
  constructor(
    private readonly inner: KeyValueStore,
    private readonly observe: OperationObserver,
  ) {
    super();
  }

  get driver(): string {
    return this.inner.driver;
  }

  get keyspace(): Keyspace {
    return this.inner.keyspace;
  }

  get(key: string): Promise<KvRecord | null> {
    return this.time('get', () => this.inner.get(key));
  }

  /** Timed as a `get`: the same read, to the operation label. */
  value(key: string): Promise<JsonValue | undefined> {
    return this.time('get', () => this.inner.value(key));
  }

  set(entries: readonly KvEntry[], options?: WriteOptions): Promise<WriteResult[]> {
    return this.time('set', () => this.inner.set(entries, options));
  }

  delete(key: string, precondition?: Precondition): Promise<KvRecord> {
    return this.time('delete', () => this.inner.delete(key, precondition));
  }

  list(query: ListQuery): Promise<Page> {
    return this.time('list', () => this.inner.list(query));
  }

  listKeys(query: ListQuery): Promise<KeyPage> {
    return this.time('list_keys', () => this.inner.listKeys(query));
  }

  count(): Promise<number> {
    return this.time('count', () => this.inner.count());
  }

  revision(): Promise<number> {
    return this.inner.revision();
  }

  ping(): Promise<void> {
    return this.time('ping', () => this.inner.ping());
  }

  close(): Promise<void> {
    return this.inner.close();
  }

  private time<T>(operation: string, run: () => Promise<T>): Promise<T> {
    const start = performance.now();
    const done = () => this.observe(operation, this.inner.driver, (performance.now() - start) / 1000);
    // One promise reaction, not an async function's extra ticks (nor `finally`'s, which waits on a promise of its
    // own before passing the outcome on): this wraps every store call on the hot path.
    return run().then(
      (result) => {
        done();
        return result;
      },
      (error: unknown) => {
        done();
        throw error;
      },
    );
  }
}

/**
 * The KeyValueStore port bound to a driver's store (provided under `driverStore`), timed into
 * kv_store_operation_duration_seconds. Each driver module provides the port this way.
 */
export function instrumentedStoreProvider(driverStore: InjectionToken): FactoryProvider<KeyValueStore> {
  return {
    provide: KeyValueStore,
    inject: [driverStore, getToken(KV_STORE_OPERATION_DURATION)],
    useFactory: (store: KeyValueStore, duration: SeriesHistogram) =>
      new InstrumentedStore(store, (operation, driver, seconds) => duration.labels(operation, driver).observe(seconds)),
  };
}
