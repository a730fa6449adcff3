/**
 * Two builds of the service on one scenario, fresh servers in alternation (a script, not a test):
 * `npm run bench:ab -- --alt-main=<another build's dist/main.js>`.
 *
 * Every round starts this build, the other build and the bare NestJS reference (bench/reference/nest.cjs) in turn,
 * each a new process pinned to CPU 1 with `keys` preloaded, and measures the scenario on it alone (warm-up, then the
 * measured run, wrk on CPU 0), then stops it. So each server meets the same store size and a heap that served
 * nothing else; `npm run bench` measures every scenario on long-lived servers instead, whose stores grow round
 * after round. Prints every run, then the medians of CPU time per request and of requests/s, and their ratios,
 * and writes bench/results/ab-<date>.json.
 *
 * Settings (`--name=value` or BENCH_<NAME>): alt-main (required), scenario (`POST /set`; or `GET /get/:key`,
 * `GET /search?prefix=`), rounds (3), seconds (8), warmup (2), keys (100000), log-level (info, for both builds).
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { startServerProcess } from '../test/helpers/server-process';
import { LOADGEN_CPU, type Measurement, measure, median, pin, ROOT, SERVER_CPU, setting, settingText, startScript, stopChild, today, writeResult } from './lib/harness';
import { preload, SCENARIOS, type Scenario } from './lib/scenarios';

const ALT_MAIN = settingText('alt-main');
const SCENARIO = (settingText('scenario') ?? 'POST /set') as Scenario;
const ROUNDS = setting('rounds', 3);
const SECONDS = setting('seconds', 8);
const WARMUP = setting('warmup', 2);
const KEYS = setting('keys', 100_000);
const LOG_LEVEL = settingText('log-level') ?? 'info';

const SERVERS = ['this build', 'other build', 'NestJS'] as const;
type Server = (typeof SERVERS)[number];

async function runOnce(server: Server): Promise<Measurement> {
  const child =
    server === 'NestJS'
      ? await startScript(join(ROOT, 'bench', 'reference', 'nest.cjs'))
      : // `node <other main> <dist/main.js>`: the other build runs, the extra argument is ignored.
        await startServerProcess({ LOG_LEVEL }, 60_000, server === 'other build' ? [ALT_MAIN as string] : []);
  try {
    pin(child.child.pid!, SERVER_CPU);
    await preload(child.url, KEYS);
    return await measure({ url: child.url, scenario: SCENARIO, keys: KEYS, connections: 50, warmupSeconds: WARMUP, seconds: SECONDS }, [child.child.pid!]);
  } finally {
    await stopChild(child);
  }
}

async function main(): Promise<void> {
  if (ALT_MAIN === undefined || !existsSync(ALT_MAIN)) throw new Error(`--alt-main must name an existing dist/main.js (got ${ALT_MAIN})`);
  if (!SCENARIOS.includes(SCENARIO)) throw new Error(`--scenario must be one of ${SCENARIOS.join(', ')} (got ${SCENARIO})`);
  pin(process.pid, LOADGEN_CPU);
  const runs: Record<Server, Measurement[]> = { 'this build': [], 'other build': [], NestJS: [] };
  for (let round = 0; round < ROUNDS; round++) {
    for (const server of SERVERS) {
      const m = await runOnce(server);
      runs[server].push(m);
      const cpuUs = (m.serverCpu * 1e6) / m.rps;
      console.log(`[round ${round + 1}/${ROUNDS}] ${SCENARIO} ${server.padEnd(11)} ${Math.round(m.rps).toLocaleString('en-US').padStart(7)} req/s  p99 ${m.p99.toFixed(2)} ms  ${cpuUs.toFixed(1)} us of CPU per request`);
    }
  }
  const summary = SERVERS.map((server) => ({
    server,
    rps: median(runs[server].map((m) => m.rps)),
    cpuUsPerRequest: median(runs[server].map((m) => (m.serverCpu * 1e6) / m.rps)),
    p99: median(runs[server].map((m) => m.p99)),
  }));
  const [ours, other, nest] = summary;
  console.log(`\n${SCENARIO}, medians of ${ROUNDS} rounds (other build: ${ALT_MAIN}, LOG_LEVEL=${LOG_LEVEL}):`);
  for (const s of summary) console.log(`  ${s.server.padEnd(11)} ${Math.round(s.rps).toLocaleString('en-US').padStart(7)} req/s  ${s.cpuUsPerRequest.toFixed(1)} us/req  p99 ${s.p99.toFixed(2)} ms`);
  console.log(`  this build: ${(ours.rps / nest.rps).toFixed(2)}x NestJS's req/s (other build ${(other.rps / nest.rps).toFixed(2)}x); CPU per request ${(ours.cpuUsPerRequest / other.cpuUsPerRequest).toFixed(3)}x the other build's`);
  const file = writeResult(`ab-${today()}.json`, JSON.stringify({ node: process.version, date: new Date().toISOString(), scenario: SCENARIO, altMain: ALT_MAIN, logLevel: LOG_LEVEL, seconds: SECONDS, summary, runs }, null, 2));
  console.log(`written ${file}`);
}

main().catch((error: unknown) => {
  console.error(error);
  process.exitCode = 1;
});
