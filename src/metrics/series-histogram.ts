import { register, type Registry } from 'prom-client';

export interface SeriesHistogramConfiguration {
  readonly name: string;
  readonly help: string;
  readonly labelNames: readonly string[];
  /** Upper bounds, ascending (the `+Inf` bucket is implied). */
  readonly buckets: readonly number[];
  /** Where it is exposed; prom-client's global registry by default, as for prom-client's own metrics. */
  readonly registers?: readonly Registry[];
}

/** A histogram entry as prom-client's registry formats it: the bucket's `le` apart from the series' labels. */
interface ExportedValue {
  readonly labels: Record<string, string | number>;
  readonly sharedLabels: Readonly<Record<string, string>>;
  readonly value: number;
  readonly metricName: string;
  readonly exemplar?: null;
}

/** The metric as prom-client's registry reads it (`get`, `getForPromString`). */
interface ExportedMetric {
  readonly name: string;
  readonly help: string;
  readonly type: 'histogram';
  readonly values: readonly object[];
  readonly aggregator: 'sum';
}

/** The observations of one label set. */
export class HistogramSeries {
  /** Observations per bucket, not cumulative; the last slot holds those above the highest bound. */
  private readonly counts: Float64Array;
  private total = 0;
  private observations = 0;

  constructor(
    /** The label set, in the histogram's label order. */
    readonly labels: Readonly<Record<string, string>>,
    private readonly bounds: readonly number[],
  ) {
    this.counts = new Float64Array(bounds.length + 1);
  }

  /** Observations so far. */
  get count(): number {
    return this.observations;
  }

  /** Records one value (a duration in seconds). Throws a TypeError for a value that is not a finite number, as prom-client does. */
  observe(value: number): void {
    if (!Number.isFinite(value)) throw new TypeError(`Value is not a valid number: ${value}`);
    const bounds = this.bounds;
    let i = 0;
    while (i < bounds.length && value > bounds[i]) i++;
    this.counts[i]++;
    this.total += value;
    this.observations++;
  }

  /** Its entries as prom-client's Histogram exports them: cumulative buckets, `+Inf`, sum, count. */
  exported(name: string): ExportedValue[] {
    const values: ExportedValue[] = [];
    let cumulative = 0;
    this.bounds.forEach((le, i) => {
      cumulative += this.counts[i];
      values.push({ labels: { le }, sharedLabels: this.labels, value: cumulative, metricName: `${name}_bucket`, exemplar: null });
    });
    values.push({ labels: { le: '+Inf' }, sharedLabels: this.labels, value: this.observations, metricName: `${name}_bucket`, exemplar: null });
    values.push({ labels: {}, sharedLabels: this.labels, value: this.total, metricName: `${name}_sum` });
    values.push({ labels: {}, sharedLabels: this.labels, value: this.observations, metricName: `${name}_count` });
    return values;
  }
}

/**
 * A Prometheus histogram whose observations cost a few map look-ups: `labels(...values)` finds the label set's series
 * through one small map per label, keyed by the values themselves, and `observe` adds to that series' buckets.
 * prom-client's Histogram (which gives the same exposition) validates the label names, builds a key string from them
 * and looks the series up by it, then finds the bucket through an object keyed by the bound's text, on every
 * observation: with two histograms observed per request, that was about 2.7 us of CPU per `POST /set`
 * (docs/benchmarks.md). It registers with prom-client's registry and exports its values in prom-client's own shape,
 * so /metrics shows it exactly as it showed prom-client's (a test compares the two); exemplars are not supported.
 *
 * Series live until `reset`, which drops them all: callers look a series up each time rather than keep it.
 */
export class SeriesHistogram {
  readonly type = 'histogram';
  readonly aggregator = 'sum';
  readonly name: string;
  readonly help: string;
  private readonly labelNames: readonly string[];
  private readonly bounds: readonly number[];
  /** Series by their first label value, then their second, and so on (the last level holds the series). */
  private root = new Map<string, unknown>();
  /** Every series, in the order they were first observed (the order prom-client exports them in). */
  private all: HistogramSeries[] = [];

  constructor({ name, help, labelNames, buckets, registers = [register] }: SeriesHistogramConfiguration) {
    if (buckets.some((bound, i) => !Number.isFinite(bound) || (i > 0 && bound <= buckets[i - 1]))) {
      throw new Error(`${name}: buckets must be finite and ascending`);
    }
    if (labelNames.includes('le')) throw new Error(`${name}: le is a reserved label name`);
    this.name = name;
    this.help = help;
    this.labelNames = [...labelNames];
    this.bounds = [...buckets];
    // Without labels, the one series exists from the start, as prom-client's does.
    if (this.labelNames.length === 0) this.added(new HistogramSeries({}, this.bounds));
    for (const registry of registers) registry.registerMetric(this as never);
  }

  /** The series of these label values, given in the order of `labelNames`. */
  labels(...values: string[]): HistogramSeries {
    if (values.length !== this.labelNames.length) throw new Error(`${this.name}: expected ${this.labelNames.length} label values, got ${values.length}`);
    if (values.length === 0) return this.all[0] ?? this.added(new HistogramSeries({}, this.bounds));
    let level = this.root;
    const last = values.length - 1;
    for (let i = 0; i < last; i++) {
      let next = level.get(values[i]) as Map<string, unknown> | undefined;
      if (next === undefined) {
        next = new Map();
        level.set(values[i], next);
      }
      level = next;
    }
    let series = level.get(values[last]) as HistogramSeries | undefined;
    if (series === undefined) {
      series = this.added(new HistogramSeries(Object.fromEntries(this.labelNames.map((label, i) => [label, values[i]])), this.bounds));
      level.set(values[last], series);
    }
    return series;
  }

  /**
   * Every series observed since the start (or the last reset): one that was only looked up, or whose only value was
   * refused, is left out, as prom-client shows no series before its first observation. (Without labels, the one
   * series shows from the start, as prom-client's does.)
   */
  series(): readonly HistogramSeries[] {
    return this.labelNames.length === 0 ? this.all : this.all.filter((series) => series.count > 0);
  }

  /** Drops every series (a histogram without labels then exposes nothing until its next observation, as prom-client's). */
  reset(): void {
    this.root = new Map();
    this.all = [];
  }

  /** What the registry formats for /metrics (prom-client calls this in place of `get` when it exists). */
  getForPromString(): Promise<ExportedMetric> {
    return Promise.resolve(this.exported((value) => value));
  }

  /** The values with each series' labels merged into each entry's (as prom-client's Histogram gives them). */
  get(): Promise<ExportedMetric> {
    return Promise.resolve(
      this.exported(({ labels, sharedLabels, ...value }) => ({ ...value, labels: { ...labels, ...sharedLabels } })),
    );
  }

  private added(series: HistogramSeries): HistogramSeries {
    this.all.push(series);
    return series;
  }

  private exported(shape: (value: ExportedValue) => object): ExportedMetric {
    return {
      name: this.name,
      help: this.help,
      type: this.type,
      values: this.series().flatMap((series) => series.exported(this.name).map(shape)),
      aggregator: this.aggregator,
    };
  }
}
