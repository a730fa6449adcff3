import { validateEnvironment } from './env.validation';
import { BASELINE_BYTES, formatBytes, memoryBudget } from './memory-budget';

const MIB = 1024 * 1024;

describe('memoryBudget', () => {
  const settings = validateEnvironment({
    KV_MAX_STORE_BYTES: String(100 * MIB),
    WATCH_HISTORY_BYTES: String(10 * MIB),
    WATCH_MAX_STREAMS: '10',
    WATCH_MAX_BUFFER_BYTES: String(MIB),
    KV_MAX_VALUE_BYTES: String(MIB),
    KV_MAX_BODY_BYTES: String(2 * MIB),
    KV_MAX_BATCH_KEYS: '10',
    WEBHOOK_MAX_SUBSCRIPTIONS: '5',
    WEBHOOK_MAX_PENDING_BYTES: String(2 * MIB),
    HTTP_MAX_REQUESTS_IN_FLIGHT: '4',
    KV_MAX_PAGE_BYTES: String(MIB),
  });

  it('adds up every bound a client can fill, for the memory driver', () => {
    const budget = memoryBudget(settings);
    expect(Object.fromEntries(budget.terms.map((t) => [t.name, t.bytes]))).toEqual({
      process: BASELINE_BYTES,
      data: 100 * MIB,
      'watch history': 10 * MIB,
      'watch streams': 10 * (MIB + 64 * 1024),
      'largest batch': 2 * MIB + 10 * MIB,
      'webhook queues': 5 * 2 * MIB,
      requests: 4 * (2 * 2 * MIB + MIB),
    });
    expect(budget.total).toBe(budget.terms.reduce((n, t) => n + t.bytes, 0));
  });

  it('leaves data and history to Redis on the Redis driver, where a lane reads 1 MiB ahead', () => {
    const budget = memoryBudget({ ...settings, STORE_DRIVER: 'redis' });
    const bytes = Object.fromEntries(budget.terms.map((t) => [t.name, t.bytes]));
    expect(bytes).toMatchObject({ data: 0, 'watch history': 0, 'webhook queues': 5 * MIB, 'largest batch': 2 * MIB + 10 * MIB });
  });

  it('formats sizes for the start-up line', () => {
    expect(formatBytes(1536 * MIB)).toBe('1536 MiB');
    expect(formatBytes(70 * 1024 * MIB)).toBe('70.0 GiB');
  });
});
