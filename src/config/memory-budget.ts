import type { EnvironmentVariables } from './env.validation';

const MIB = 1024 * 1024;

/**
 * The process itself under load: Node, the code, Nest, Swagger, metrics and the heap's working room. Measured: an
 * idle server holds about 145 MiB of RSS, one under `wrk` load about 200 MiB on the memory driver and about 255 MiB
 * on the redis driver (its requests in flight wait for Redis and grow the heap: docs/benchmarks.md), which is at
 * this figure's edge.
 */
export const BASELINE_BYTES = 256 * MIB;

/** History a resuming watch is handed at once, at most (and one batch), on top of its own buffer. */
export const REPLAY_SLICE_BYTES = 64 * 1024;

/** What a Redis driver's webhook lane reads ahead of its deliveries, at most (redis-webhook.queues.ts). */
export const REDIS_LANE_READ_BYTES = MIB;

/** One term of the budget: the bytes a setting (or a product of settings) lets clients make the process hold. */
export interface MemoryTerm {
  readonly name: string;
  readonly formula: string;
  readonly bytes: number;
}

export interface MemoryBudget {
  readonly terms: readonly MemoryTerm[];
  /** The worst case: every term at its bound at once. */
  readonly total: number;
}

type BudgetSettings = Pick<
  EnvironmentVariables,
  | 'STORE_DRIVER'
  | 'KV_MAX_STORE_BYTES'
  | 'KV_MAX_BODY_BYTES'
  | 'KV_MAX_BATCH_KEYS'
  | 'KV_MAX_VALUE_BYTES'
  | 'KV_MAX_PAGE_BYTES'
  | 'WATCH_HISTORY_BYTES'
  | 'WATCH_MAX_STREAMS'
  | 'WATCH_MAX_BUFFER_BYTES'
  | 'WEBHOOK_MAX_SUBSCRIPTIONS'
  | 'WEBHOOK_MAX_PENDING_BYTES'
  | 'HTTP_MAX_REQUESTS_IN_FLIGHT'
>;

/**
 * The worst-case memory of one process, as a sum of the bounds its settings put on everything clients can make it
 * hold. Every such place is bounded in bytes (the docs' "Memory budget" lists them); this is the one place that adds
 * them up. It assumes string values: a value of many tiny objects or arrays takes more memory than its JSON (up to
 * about ten times in the worst case).
 */
export function memoryBudget(s: BudgetSettings): MemoryBudget {
  const memory = s.STORE_DRIVER === 'memory';
  const terms: MemoryTerm[] = [
    { name: 'process', formula: 'baseline', bytes: BASELINE_BYTES },
    // On Redis the data and its history live in Redis (bounded by its maxmemory).
    { name: 'data', formula: 'KV_MAX_STORE_BYTES (memory driver)', bytes: memory ? s.KV_MAX_STORE_BYTES : 0 },
    { name: 'watch history', formula: 'WATCH_HISTORY_BYTES (memory driver)', bytes: memory ? s.WATCH_HISTORY_BYTES : 0 },
    {
      name: 'watch streams',
      formula: 'WATCH_MAX_STREAMS × (WATCH_MAX_BUFFER_BYTES + 64 KiB replay slice)',
      bytes: s.WATCH_MAX_STREAMS * (s.WATCH_MAX_BUFFER_BYTES + REPLAY_SLICE_BYTES),
    },
    {
      // A batch's events carry the values it replaced (on the memory driver, values of the store itself): encoded
      // once for every stream while they are sent.
      name: 'largest batch',
      formula: memory ? 'KV_MAX_BODY_BYTES + min(KV_MAX_BATCH_KEYS × KV_MAX_VALUE_BYTES, KV_MAX_STORE_BYTES)' : 'KV_MAX_BODY_BYTES + KV_MAX_BATCH_KEYS × KV_MAX_VALUE_BYTES',
      bytes: s.KV_MAX_BODY_BYTES + Math.min(s.KV_MAX_BATCH_KEYS * s.KV_MAX_VALUE_BYTES, memory ? s.KV_MAX_STORE_BYTES : Number.POSITIVE_INFINITY),
    },
    {
      name: 'webhook queues',
      formula: memory ? 'WEBHOOK_MAX_SUBSCRIPTIONS × WEBHOOK_MAX_PENDING_BYTES' : 'WEBHOOK_MAX_SUBSCRIPTIONS × 1 MiB read ahead',
      bytes: s.WEBHOOK_MAX_SUBSCRIPTIONS * (memory ? s.WEBHOOK_MAX_PENDING_BYTES : REDIS_LANE_READ_BYTES),
    },
    {
      // A body is held as text and parsed; a page as the answer being sent.
      name: 'requests',
      formula: 'HTTP_MAX_REQUESTS_IN_FLIGHT × (2 × KV_MAX_BODY_BYTES + KV_MAX_PAGE_BYTES)',
      bytes: s.HTTP_MAX_REQUESTS_IN_FLIGHT * (2 * s.KV_MAX_BODY_BYTES + s.KV_MAX_PAGE_BYTES),
    },
  ];
  return { terms, total: terms.reduce((sum, term) => sum + term.bytes, 0) };
}

/** `1536 MiB`, `8 GiB`: for log lines. */
export function formatBytes(bytes: number): string {
  return bytes >= 8 * 1024 * MIB ? `${(bytes / (1024 * MIB)).toFixed(1)} GiB` : `${Math.ceil(bytes / MIB)} MiB`;
}
