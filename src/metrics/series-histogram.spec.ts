import fc from 'fast-check';
import { Histogram, Registry } from 'prom-client';
import { SeriesHistogram } from './series-histogram';

const BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

/** The same histogram twice, each on a registry of its own: prom-client's, and ours. */
function pair(labelNames: string[]) {
  const config = { name: 'kv_test_duration_seconds', help: 'A test histogram.', labelNames, buckets: BUCKETS };
  const theirs = new Registry();
  const ours = new Registry();
  return { reference: new Histogram({ ...config, registers: [theirs] }), histogram: new SeriesHistogram({ ...config, registers: [ours] }), theirs, ours };
}

// Values on and around the bounds, below the first and above the last, and anything else.
const valueArb = fc.oneof(
  fc.constantFrom(...BUCKETS, 0, -1, 11, 1e9),
  fc.constantFrom(...BUCKETS).map((bound) => bound * (1 + Number.EPSILON)),
  fc.double({ min: -1, max: 20, noNaN: true }),
);
const observationArb = fc.record({ method: fc.constantFrom('GET', 'POST', 'PUT'), route: fc.constantFrom('/set', '/get/:key', 'a"b\\c\nd'), status: fc.constantFrom('200', '404', '503'), value: valueArb });

describe('SeriesHistogram', () => {
  it('exposes exactly what prom-client\'s Histogram exposes for the same observations, text and JSON, and after a reset', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(observationArb, { maxLength: 40 }), fc.array(observationArb, { maxLength: 10 }), async (before, after) => {
        const { reference, histogram, theirs, ours } = pair(['method', 'route', 'status_code']);
        const observe = ({ method, route, status, value }: { method: string; route: string; status: string; value: number }) => {
          reference.observe({ method, route, status_code: status }, value);
          histogram.labels(method, route, status).observe(value);
        };
        before.forEach(observe);
        expect(await ours.metrics()).toBe(await theirs.metrics());
        expect(await ours.getMetricsAsJSON()).toEqual(await theirs.getMetricsAsJSON());
        reference.reset();
        histogram.reset();
        after.forEach(observe);
        expect(await ours.metrics()).toBe(await theirs.metrics());
        expect(histogram.series().map((series) => [series.labels, series.count])).toEqual(
          (await reference.get()).values.filter((v) => v.metricName?.endsWith('_count')).map((v) => [v.labels, v.value]),
        );
      }),
      { numRuns: 300 },
    );
  });

  it('has its one series from the start when it has no labels, as prom-client\'s does', async () => {
    const { reference, histogram, theirs, ours } = pair([]);
    expect(await ours.metrics()).toBe(await theirs.metrics());
    reference.observe(0.003);
    histogram.labels().observe(0.003);
    expect(await ours.metrics()).toBe(await theirs.metrics());
    reference.reset();
    histogram.reset();
    expect(await ours.metrics()).toBe(await theirs.metrics());
  });

  it('refuses what prom-client refuses: a value that is not a finite number, the le label; and a wrong number of label values', async () => {
    const { reference, histogram, theirs, ours } = pair(['route']);
    expect(() => histogram.labels()).toThrow(/expected 1 label values, got 0/);
    expect(() => histogram.labels('/set', 'GET')).toThrow(/expected 1 label values, got 2/);
    for (const value of [Number.NaN, Number.POSITIVE_INFINITY]) {
      expect(() => reference.observe({ route: '/set' }, value)).toThrow(TypeError);
      expect(() => histogram.labels('/set').observe(value)).toThrow(TypeError);
    }
    expect(histogram.labels('/set').count).toBe(0);
    // Neither shows a series for refused values.
    expect(await ours.metrics()).toBe(await theirs.metrics());
    expect(await ours.metrics()).not.toContain('/set');
    expect(histogram.series()).toEqual([]);
    expect(() => new SeriesHistogram({ name: 'kv_le', help: 'h', labelNames: ['le'], buckets: BUCKETS, registers: [] })).toThrow(/reserved/);
    expect(() => new SeriesHistogram({ name: 'kv_unsorted', help: 'h', labelNames: [], buckets: [1, 0.5], registers: [] })).toThrow(/ascending/);
  });
});
