/**
 * The load generator of the HTTP benchmarks, run as its own process (so it can be pinned to its own CPU, away
 * from the server under test): `node --import tsx bench/lib/load-worker.ts '<LoadSpec as JSON>'`.
 *
 * Runs autocannon against one server: a warm-up, then the measured run. Prints `measuring` on a line of its own
 * when the measured run starts (the parent samples the server's CPU time then) and, at the end, one line of JSON:
 * a LoadResult. Latency percentiles are computed here from every response's own time (autocannon's histogram
 * keeps whole milliseconds only, too coarse at 1-5 ms).
 */
import autocannon from 'autocannon';
import type { LoadResult, LoadSpec } from './harness';
import { requestsFor } from './scenarios';

function run(spec: LoadSpec, seconds: number, latencies: number[] | null): Promise<autocannon.Result> {
  return new Promise((resolve, reject) => {
    const instance = autocannon(
      { url: spec.url, connections: spec.connections, duration: seconds, requests: [requestsFor(spec.scenario, spec.keys, spec.writes)] },
      (error, result) => (error ? reject(error) : resolve(result)),
    );
    if (latencies) {
      instance.on('response', (_client: unknown, statusCode: number, _bytes: number, ms: number) => {
        if (statusCode < 400) latencies.push(ms);
      });
    }
  });
}

const percentile = (sorted: Float64Array, q: number) => (sorted.length === 0 ? NaN : sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]);

async function main() {
  const spec = JSON.parse(process.argv[2]) as LoadSpec;
  if (spec.warmupSeconds > 0) await run(spec, spec.warmupSeconds, null);
  const latencies: number[] = [];
  process.stdout.write('measuring\n');
  const cpuBefore = process.cpuUsage();
  const started = process.hrtime.bigint();
  const r = await run(spec, spec.seconds, latencies);
  const wallSeconds = Number(process.hrtime.bigint() - started) / 1e9;
  const cpu = process.cpuUsage(cpuBefore);
  const sorted = Float64Array.from(latencies).sort();
  const result: LoadResult = {
    rps: r.requests.average,
    requests: r.requests.total,
    p50: percentile(sorted, 0.5),
    p90: percentile(sorted, 0.9),
    p99: percentile(sorted, 0.99),
    max: sorted.length > 0 ? sorted[sorted.length - 1] : NaN,
    errors: r.errors + r.timeouts,
    non2xx: r.non2xx,
    loadgenCpu: (cpu.user + cpu.system) / 1e6 / wallSeconds,
  };
  process.stdout.write(`${JSON.stringify(result)}\n`);
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
