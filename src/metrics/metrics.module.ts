import { Global, Module, type OnApplicationShutdown, type Provider } from '@nestjs/common';
import { makeCounterProvider, makeGaugeProvider, PrometheusModule, getToken } from '@willsoto/nestjs-prometheus';
import { register } from 'prom-client';
import { AppConfig } from '../config/app-config';
import { KeyValueStore } from '../store/kv.store';
import { BuildInfoMetric } from './build-info';
import { ChangeMetricsService } from './change-metrics.service';
import { collectRequestCounts, HttpMetricsRecorder } from './http-metrics.recorder';
import { MetricsController } from './metrics.controller';
import { SeriesHistogram, type SeriesHistogramConfiguration } from './series-histogram';
import { collectKeys, collectStoreUp } from './store-up';
import {
  HTTP_REQUEST_DURATION,
  HTTP_REQUESTS_TOTAL,
  KV_BUILD_INFO,
  KV_EVENTS_TOTAL,
  KV_KEYS,
  KV_KEYSPACE_CHANGES_TOTAL,
  KV_KEYSPACE_INFO,
  KV_STORE_OPERATION_DURATION,
  KV_STORE_UP,
  KV_WATCH_OVERFLOWS_TOTAL,
  KV_WATCH_STREAMS,
  KV_WEBHOOK_DELIVERIES_TOTAL,
} from './metric-names';

/** From 0.5 ms to 10 s: in-memory requests take well under a millisecond, streams and slow stores seconds. */
const LATENCY_BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

/**
 * A SeriesHistogram (cheaper observations than prom-client's Histogram, the same exposition), injected as
 * @InjectMetric(name). Like the library's own providers, it reuses the one already registered under that name, so
 * that two applications in one process (tests run replicas side by side) share it rather than fail to register.
 */
const makeSeriesHistogramProvider = (configuration: SeriesHistogramConfiguration): Provider => ({
  provide: getToken(configuration.name),
  useFactory: () => {
    const existing: unknown = register.getSingleMetric(configuration.name);
    if (existing === undefined) return new SeriesHistogram(configuration);
    if (existing instanceof SeriesHistogram) return existing;
    throw new Error(`${configuration.name} is already registered as another kind of metric`);
  },
});

const metrics = [
  makeSeriesHistogramProvider({
    name: HTTP_REQUEST_DURATION,
    help: 'HTTP request duration in seconds, by method, route template and status code.',
    labelNames: ['method', 'route', 'status_code'],
    buckets: LATENCY_BUCKETS,
  }),
  makeCounterProvider({
    name: HTTP_REQUESTS_TOTAL,
    help: 'HTTP requests, by method, route template and status code.',
    labelNames: ['method', 'route', 'status_code'],
    inject: [getToken(HTTP_REQUEST_DURATION)],
    collect(this, duration: SeriesHistogram) {
      return collectRequestCounts(this, duration);
    },
  }),
  makeGaugeProvider({
    name: KV_KEYS,
    help: 'Keys currently stored (counted at scrape time).',
    inject: [KeyValueStore],
    collect(this, store: KeyValueStore) {
      return collectKeys(this, store);
    },
  }),
  makeGaugeProvider({
    name: KV_STORE_UP,
    help: 'Whether the store answers a ping within HEALTH_STORE_TIMEOUT_MS (1) or not (0), asked at scrape time.',
    inject: [KeyValueStore, AppConfig],
    collect(this, store: KeyValueStore, config: AppConfig) {
      return collectStoreUp(this, store, config.getOrThrow('HEALTH_STORE_TIMEOUT_MS', { infer: true }));
    },
  }),
  makeGaugeProvider({
    name: KV_BUILD_INFO,
    help: 'The running build: package version, commit (revision, `unknown` when the build did not record one) and Node.js version. Always 1.',
    labelNames: ['version', 'revision', 'node'],
  }),
  makeGaugeProvider({ name: KV_WATCH_STREAMS, help: 'Open watch (SSE) streams.' }),
  makeCounterProvider({
    name: KV_WATCH_OVERFLOWS_TOTAL,
    help: 'Watch streams ended with event: overflow (the client fell WATCH_MAX_BUFFER_BYTES behind, live or while replaying).',
  }),
  makeCounterProvider({
    name: KV_EVENTS_TOTAL,
    help: 'Change events published, by type.',
    labelNames: ['type'],
    inject: [ChangeMetricsService],
    collect(this, changes: ChangeMetricsService) {
      changes.collectInto(this);
    },
  }),
  makeCounterProvider({
    name: KV_WEBHOOK_DELIVERIES_TOTAL,
    help: 'Webhook delivery attempts, by result: delivered, failed (will be retried or dead-lettered), dead_lettered.',
    labelNames: ['result'],
  }),
  makeSeriesHistogramProvider({
    name: KV_STORE_OPERATION_DURATION,
    help: 'Store operation duration in seconds, by operation and driver.',
    labelNames: ['operation', 'driver'],
    buckets: LATENCY_BUCKETS,
  }),
  makeCounterProvider({
    name: KV_KEYSPACE_CHANGES_TOTAL,
    help: 'New keyspaces this instance saw its store begin (revisions of the old one no longer resume anything), by reason.',
    labelNames: ['reason'],
  }),
  makeGaugeProvider({ name: KV_KEYSPACE_INFO, help: 'The keyspace the store is in (value 1; the label names it).', labelNames: ['keyspace'] }),
];

/**
 * Prometheus metrics at GET /metrics: Node's default process metrics plus the service's own. Registered
 * once here and exported to every module (global). The registry is cleared at shutdown so another app in
 * the same process (tests) registers fresh metrics bound to its own store.
 */
@Global()
@Module({
  imports: [PrometheusModule.register({ path: '/metrics', defaultMetrics: { enabled: true }, controller: MetricsController })],
  providers: [...metrics, HttpMetricsRecorder, ChangeMetricsService, BuildInfoMetric],
  exports: [...metrics, HttpMetricsRecorder],
})
export class MetricsModule implements OnApplicationShutdown {
  onApplicationShutdown(): void {
    register.clear();
  }
}
