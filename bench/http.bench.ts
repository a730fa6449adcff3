/**
 * HTTP throughput benchmark (a script, not a test): `npm run bench:http`.
 *
 * Starts the built service twice in one run, on the memory driver and on the redis driver (a private
 * redis-server on a free 127.0.0.1 port), and drives each with autocannon (50 connections): GET /get/:key of
 * existing keys and POST /set (overwriting those keys). Rounds alternate between the drivers so machine drift
 * hits both alike; each round is a warm-up then a measured run. The servers and redis-server share one CPU and
 * the load generator (its own process, bench/lib/load-worker.ts) has the other, where `taskset` exists. Prints
 * requests/s, p50 and p99 (medians over rounds) and the ratio redis/memory, and writes
 * bench/results/http-<date>.json. Settings as in bench/compare.bench.ts: --seconds, --warmup, --rounds
 * (or BENCH_SECONDS, BENCH_WARMUP, BENCH_ROUNDS).
 */
import { startRedisServer, uniquePrefix } from '../test/helpers/redis-server';
import { startServerProcess } from '../test/helpers/server-process';
import { childPids, LOADGEN_CPU, type Measurement, measure, median, pin, SERVER_CPU, setting, stopChild, today, writeResult } from './lib/harness';
import { preload, type Scenario } from './lib/scenarios';

const SECONDS = setting('seconds', 10);
const WARMUP = setting('warmup', 2);
const ROUNDS = setting('rounds', 2);
const KEYS = 10_000;
const SCENARIOS: Scenario[] = ['GET /get/:key', 'POST /set'];

async function main() {
  const redis = await startRedisServer();
  const servers = {
    memory: await startServerProcess({ LOG_LEVEL: 'warn' }, 30_000),
    redis: await startServerProcess({ LOG_LEVEL: 'warn', STORE_DRIVER: 'redis', REDIS_URL: redis.url, REDIS_KEY_PREFIX: uniquePrefix() }, 30_000),
  };
  const pids = { memory: [servers.memory.child.pid!], redis: [servers.redis.child.pid!, ...childPids(process.pid, 'redis-server')] };
  let pinned = pin(process.pid, LOADGEN_CPU);
  for (const list of Object.values(pids)) for (const pid of list) pinned = pin(pid, SERVER_CPU) && pinned;
  try {
    for (const s of Object.values(servers)) await preload(s.url, KEYS);
    const results: Record<string, Partial<Record<Scenario, Measurement[]>>> = {};
    for (let round = 0; round < ROUNDS; round++) {
      for (const scenario of SCENARIOS) {
        for (const driver of ['memory', 'redis'] as const) {
          const m = await measure(
            { url: servers[driver].url, scenario, keys: KEYS, writes: 'overwrite', connections: 50, warmupSeconds: WARMUP, seconds: SECONDS },
            pids[driver],
          );
          ((results[driver] ??= {})[scenario] ??= []).push(m);
        }
      }
    }
    const summary = (ms: Measurement[]) => ({
      rps: Math.round(median(ms.map((m) => m.rps))),
      p50: median(ms.map((m) => m.p50)),
      p99: median(ms.map((m) => m.p99)),
      errors: ms.reduce((sum, m) => sum + m.errors + m.non2xx, 0),
    });
    const rows = SCENARIOS.map((scenario) => {
      const memory = summary(results.memory[scenario]!);
      const redisRow = summary(results.redis[scenario]!);
      return { scenario, memory, redis: redisRow, ratio: redisRow.rps / memory.rps };
    });
    console.log(`\n| scenario | memory req/s | memory p50/p99 ms | redis req/s | redis p50/p99 ms | redis/memory |`);
    console.log('|---|---:|---:|---:|---:|---:|');
    for (const row of rows) {
      console.log(
        `| ${row.scenario} | ${row.memory.rps} | ${row.memory.p50.toFixed(1)} / ${row.memory.p99.toFixed(1)} | ${row.redis.rps} | ` +
          `${row.redis.p50.toFixed(1)} / ${row.redis.p99.toFixed(1)} | ${(row.ratio * 100).toFixed(0)}% |`,
      );
    }
    const json = { node: process.version, date: new Date().toISOString(), seconds: SECONDS, rounds: ROUNDS, pinned, rows };
    console.log(`written ${writeResult(`http-${today()}.json`, JSON.stringify(json, null, 2))}`);
  } finally {
    for (const s of Object.values(servers)) await stopChild(s);
    await redis.stop();
  }
}

main().catch((error: unknown) => {
  console.error(error);
  process.exitCode = 1;
});
