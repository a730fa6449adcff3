/**
 * Where a request's time goes, layer by layer (a script, not a test): `npm run bench:layers`.
 *
 * Runs the built service (default settings, its access log drained from a pipe) and the bare NestJS reference
 * (bench/reference/nest.cjs) under `node --cpu-prof`, each pinned to CPU 1 and driven by wrk on CPU 0 for one
 * scenario at a time (GET /get/:key over preloaded keys, then POST /set of new keys). Each profile's samples are
 * attributed to the innermost frame that belongs to a layer of the stack (the table below), and the time per layer
 * is divided by the requests answered: microseconds of CPU per request, by layer. Only the samples taken during the
 * measured run count (start-up, preload and warm-up are left out); the CPU the process's other threads used in it
 * (V8's garbage-collection helpers, libuv's pool) is a row of its own. Profiling slows everything by about the same
 * factor, so the rows compare with each other and with the reference, not with `npm run bench`.
 *
 * Settings as in bench/compare.bench.ts: --seconds (8), --warmup (2), --connections (50), --keys (10000).
 * Writes bench/results/layers-<date>.json.
 */
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startServerProcess } from '../test/helpers/server-process';
import { LOADGEN_CPU, type Measurement, measure, pin, ROOT, SERVER_CPU, setting, startScript, stopChild, today, writeResult } from './lib/harness';
import { preload, type Scenario } from './lib/scenarios';

const SECONDS = setting('seconds', 8);
const WARMUP = setting('warmup', 2);
const CONNECTIONS = setting('connections', 50);
const KEYS = setting('keys', 10_000);
const SCENARIOS: Scenario[] = ['GET /get/:key', 'POST /set'];

/** Layers, by where their code lives (a frame's URL); the first rule that matches a frame names its layer. */
const LAYERS: [layer: string, pattern: RegExp][] = [
  ['access log', /\/(pino|pino-std-serializers|sonic-boom|pino-http|nestjs-pino|thread-stream)\/|\/logging\//],
  ['metrics', /\/prom-client\/|\/metrics\/|instrumented\.store/],
  ['store', /\/src\/store\/|\/dist\/store\/|\/sorted-btree\//],
  ['guards', /\/auth\/|\/@nestjs\/throttler\/|\/@nestjs\/core\/guards\//],
  ['pipes (validation)', /\/class-validator\/|\/class-transformer\/|\/validation\/|\/@nestjs\/common\/pipes\/|\/@nestjs\/core\/pipes\//],
  ['body parsing', /\/body-parser\/|\/raw-body\/|\/iconv-lite\/|\/type-is\/|\/content-type\/|json-body\.middleware/],
  ['request tracking (id, deadline, in-flight)', /request-lifecycle|request-deadlines|requests-in-flight|on-finished|node:internal\/crypto\/random/],
  ['headers (security, CORS)', /security-headers|\/helmet\/|\/cors\//],
  ['URL checks, preconditions', /url-length|prototype-query|malformed-requests|kv-express\.adapter|\/conditional\.|route-table|\/compose\./],
  ['handler (controller, service)', /\/key-value\/|\/search\/|\/subscription\/|reference\/nest\.cjs/],
  ['interceptors, filters', /\/@nestjs\/core\/interceptors\/|\/@nestjs\/core\/exceptions\/|\/filters\//],
  ['routing (Nest)', /\/@nestjs\/core\/router\/|\/@nestjs\/core\/helpers\/|\/@nestjs\/platform-express\//],
  ['routing (Express)', /\/router\/|\/express\/lib\/(application|router)|\/path-to-regexp\/|\/finalhandler\//],
  ['response (Express)', /\/express\/lib\/response|\/send\/|\/etag\/|\/fresh\/|\/content-disposition\/|json-reply/],
  ['request (Express)', /\/express\/lib\/request|\/qs\/|\/parseurl\/|\/proxy-addr\/|\/accepts\//],
];

/** Node's own HTTP and socket work, charged only when no layer above is on the stack. */
const NODE_HTTP = /^node:(_http|net|stream|internal\/(http|streams|stream_base|timers|net|async_hooks|process\/task_queues))/;

interface ProfileNode {
  readonly id: number;
  readonly callFrame: { readonly functionName: string; readonly url: string };
  readonly children?: readonly number[];
}
interface Profile {
  readonly nodes: readonly ProfileNode[];
  /** Microseconds of the monotonic clock, as `process.hrtime` reads it. */
  readonly startTime: number;
  readonly endTime: number;
  readonly samples: readonly number[];
  readonly timeDeltas: readonly number[];
}

/** Microseconds of samples per layer in a .cpuprofile, of the samples taken within `[fromUs, toUs]`. */
function layersOf(profile: Profile, [fromUs, toUs]: readonly [number, number]): Map<string, number> {
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const parent = new Map<number, number>();
  for (const node of profile.nodes) for (const child of node.children ?? []) parent.set(child, node.id);
  const layerOfNode = new Map<number, string>();
  const resolve = (id: number): string => {
    const known = layerOfNode.get(id);
    if (known !== undefined) return known;
    // Walk from the sampled frame towards the root: the innermost frame of a layer names the sample's layer.
    let nodeHttp = false;
    let layer: string | undefined;
    for (let at: number | undefined = id; at !== undefined && layer === undefined; at = parent.get(at)) {
      const { url, functionName } = byId.get(at)!.callFrame;
      if (functionName === '(garbage collector)') layer = 'garbage collection';
      else if (functionName === '(idle)') layer = 'idle';
      else if (functionName === '(program)') layer = 'Node, native (program)';
      else layer = LAYERS.find(([, pattern]) => pattern.test(url))?.[0];
      if (layer === undefined && NODE_HTTP.test(url)) nodeHttp = true;
    }
    const result = layer ?? (nodeHttp ? 'Node HTTP server and sockets' : 'other');
    layerOfNode.set(id, result);
    return result;
  };
  const time = new Map<string, number>();
  // A sample's time is the profile's start plus the deltas so far; its delta is the time it stands for.
  let at = profile.startTime;
  profile.samples.forEach((id, i) => {
    at += profile.timeDeltas[i];
    if (at < fromUs || at > toUs) return;
    const layer = resolve(id);
    time.set(layer, (time.get(layer) ?? 0) + profile.timeDeltas[i]);
  });
  return time;
}

interface Run {
  readonly target: string;
  readonly scenario: Scenario;
  readonly load: Measurement;
  /** µs of CPU per answered request, by layer. */
  readonly perRequest: Record<string, number>;
}

async function profileOnce(target: 'service' | 'nest', scenario: Scenario): Promise<Run> {
  const dir = mkdtempSync(join(tmpdir(), 'kv-prof-'));
  const nodeArgs = ['--cpu-prof', `--cpu-prof-dir=${dir}`];
  const server =
    target === 'service'
      ? await startServerProcess({ LOG_LEVEL: 'info' }, 30_000, nodeArgs)
      : await startScript(join(ROOT, 'bench', 'reference', 'nest.cjs'), 20_000, nodeArgs);
  try {
    pin(server.child.pid!, SERVER_CPU);
    await preload(server.url, KEYS);
    const load = await measure({ url: server.url, scenario, keys: KEYS, connections: CONNECTIONS, warmupSeconds: WARMUP, seconds: SECONDS }, [server.child.pid!]);
    await stopChild(server);
    const file = readdirSync(dir).find((f) => f.endsWith('.cpuprofile'));
    if (!file) throw new Error(`${target} wrote no CPU profile`);
    const profile = JSON.parse(readFileSync(join(dir, file), 'utf8')) as Profile;
    const [fromUs, toUs] = load.measuredUs;
    if (profile.startTime > fromUs || profile.endTime < toUs) {
      throw new Error(`${target}'s profile does not cover the measured run: its clock is not the benchmark's`);
    }
    const time = layersOf(profile, load.measuredUs);
    time.delete('idle');
    const mainThread = [...time.values()].reduce((a, b) => a + b, 0);
    // The process's CPU in the measured run beyond its main thread's samples: V8's helper threads (concurrent
    // marking, parallel scavenges), libuv's pool.
    const processCpu = load.serverCpu * (toUs - fromUs);
    time.set('other threads (GC helpers, libuv)', Math.max(0, processCpu - mainThread));
    const perRequest = Object.fromEntries([...time].map(([layer, us]) => [layer, us / load.requests]));
    return { target, scenario, load, perRequest };
  } finally {
    await stopChild(server);
    rmSync(dir, { recursive: true, force: true });
  }
}

async function main() {
  pin(process.pid, LOADGEN_CPU);
  const runs: Run[] = [];
  for (const scenario of SCENARIOS) for (const target of ['service', 'nest'] as const) runs.push(await profileOnce(target, scenario));
  const layers = [...new Set(runs.flatMap((r) => Object.keys(r.perRequest)))].sort(
    (a, b) => (runs[0].perRequest[b] ?? 0) - (runs[0].perRequest[a] ?? 0),
  );
  const cell = (run: Run, layer: string) => (run.perRequest[layer] === undefined ? '' : run.perRequest[layer].toFixed(1));
  const head = runs.map((r) => `${r.target} ${r.scenario}`);
  console.log(`\n| layer (µs of CPU per request) | ${head.join(' | ')} |`);
  console.log(`|---|${head.map(() => '---:').join('|')}|`);
  for (const layer of layers) console.log(`| ${layer} | ${runs.map((r) => cell(r, layer)).join(' | ')} |`);
  const sum = (run: Run) => Object.values(run.perRequest).reduce((a, b) => a + b, 0);
  console.log(`| **total** | ${runs.map((r) => `**${sum(r).toFixed(1)}**`).join(' | ')} |`);
  console.log(`| req/s under the profiler | ${runs.map((r) => Math.round(r.load.rps)).join(' | ')} |`);
  console.log(`written ${writeResult(`layers-${today()}.json`, JSON.stringify({ node: process.version, date: new Date().toISOString(), seconds: SECONDS, runs }, null, 2))}`);
}

main().catch((error: unknown) => {
  console.error(error);
  process.exitCode = 1;
});
