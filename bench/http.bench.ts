/**
 * HTTP throughput benchmark (a script, not a test): `npm run bench:http`.
 *
 * Starts the built service four times in one run: on the memory driver, on the redis driver (a private
 * redis-server on a free 127.0.0.1 port), and on a Sentinel set (1 primary, 1 replica, 3 sentinels) with
 * REDIS_MIN_REPLICA_ACKS 0 and 1, so the cost of waiting for a replica (WAIT) is a measured figure. Drives each with
 * autocannon (50 connections): GET /get/:key of existing keys and POST /set (overwriting those keys). Rounds
 * alternate between the targets so machine drift hits all alike; each round is a warm-up then a measured run. The servers and redis-server share one CPU and
 * the load generator (its own process, bench/lib/load-worker.ts) has the other, where `taskset` exists. Prints
 * requests/s, p50 and p99 (medians over rounds) and the ratio redis/memory, and writes
 * bench/results/http-<date>.json. Settings as in bench/compare.bench.ts: --seconds, --warmup, --rounds
 * (or BENCH_SECONDS, BENCH_WARMUP, BENCH_ROUNDS).
 */
import { startRedisServer, uniquePrefix } from '../test/helpers/redis-server';
import { startSentinelSet } from '../test/helpers/redis-topology';
import { startServerProcess } from '../test/helpers/server-process';
import { LOADGEN_CPU, type Measurement, measure, median, pin, SERVER_CPU, setting, stopChild, today, writeResult } from './lib/harness';
import { preload, type Scenario } from './lib/scenarios';

const SECONDS = setting('seconds', 10);
const WARMUP = setting('warmup', 2);
const ROUNDS = setting('rounds', 2);
const KEYS = 10_000;
const SCENARIOS: Scenario[] = ['GET /get/:key', 'POST /set'];
const TARGETS = ['memory', 'redis', 'sentinel acks 0', 'sentinel acks 1'] as const;
type Target = (typeof TARGETS)[number];

async function main() {
  const redis = await startRedisServer();
  const set = await startSentinelSet({ replicas: 1, sentinels: 3 });
  const sentinel = (acks: number) => ({
    LOG_LEVEL: 'warn',
    STORE_DRIVER: 'redis',
    REDIS_SENTINELS: set.sentinelAddresses.join(','),
    REDIS_SENTINEL_MASTER: set.name,
    REDIS_MIN_REPLICA_ACKS: String(acks),
    REDIS_KEY_PREFIX: uniquePrefix(),
  });
  const servers = {
    memory: await startServerProcess({ LOG_LEVEL: 'warn' }, 30_000),
    redis: await startServerProcess({ LOG_LEVEL: 'warn', STORE_DRIVER: 'redis', REDIS_URL: redis.url, REDIS_KEY_PREFIX: uniquePrefix() }, 30_000),
    'sentinel acks 0': await startServerProcess(sentinel(0), 30_000),
    'sentinel acks 1': await startServerProcess(sentinel(1), 30_000),
  };
  const sentinelPids = [...set.nodes, ...set.sentinels].map((n) => n.pid);
  const pids: Record<Target, number[]> = {
    memory: [servers.memory.child.pid!],
    redis: [servers.redis.child.pid!, redis.pid],
    'sentinel acks 0': [servers['sentinel acks 0'].child.pid!, ...sentinelPids],
    'sentinel acks 1': [servers['sentinel acks 1'].child.pid!, ...sentinelPids],
  };
  let pinned = pin(process.pid, LOADGEN_CPU);
  for (const list of Object.values(pids)) for (const pid of list) pinned = pin(pid, SERVER_CPU) && pinned;
  try {
    for (const s of Object.values(servers)) await preload(s.url, KEYS);
    const results: Record<string, Partial<Record<Scenario, Measurement[]>>> = {};
    for (let round = 0; round < ROUNDS; round++) {
      for (const scenario of SCENARIOS) {
        for (const driver of TARGETS) {
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
      const of = (target: Target) => summary(results[target][scenario]!);
      return { scenario, memory, redis: of('redis'), sentinel0: of('sentinel acks 0'), sentinel1: of('sentinel acks 1'), ratio: of('redis').rps / memory.rps };
    });
    const cell = (m: ReturnType<typeof summary>) => `${m.rps} (${m.p50.toFixed(1)} / ${m.p99.toFixed(1)})`;
    console.log(`\n| scenario | memory req/s (p50 / p99 ms) | redis | sentinel, acks 0 | sentinel, acks 1 | redis/memory | acks 1 / acks 0 |`);
    console.log('|---|---:|---:|---:|---:|---:|---:|');
    for (const row of rows) {
      console.log(
        `| ${row.scenario} | ${cell(row.memory)} | ${cell(row.redis)} | ${cell(row.sentinel0)} | ${cell(row.sentinel1)} | ${(row.ratio * 100).toFixed(0)}% | ${((row.sentinel1.rps / row.sentinel0.rps) * 100).toFixed(0)}% |`,
      );
    }
    const json = { node: process.version, date: new Date().toISOString(), seconds: SECONDS, rounds: ROUNDS, pinned, rows };
    console.log(`written ${writeResult(`http-${today()}.json`, JSON.stringify(json, null, 2))}`);
  } finally {
    for (const s of Object.values(servers)) await stopChild(s);
    await redis.stop();
    await set.close();
  }
}

main().catch((error: unknown) => {
  console.error(error);
  process.exitCode = 1;
});
