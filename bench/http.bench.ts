/**
 * HTTP throughput benchmark (a script, not a test): `npm run bench:http`.
 *
 * Starts the built service twice in one run, on the memory driver and on the redis driver (a private
 * redis-server on a free 127.0.0.1 port), and drives each with autocannon (50 connections): GET /get/:key of
 * existing keys and POST /set. Rounds alternate between the drivers so machine drift hits both alike; each
 * round is a warm-up then a measured run. The server and redis-server share one CPU and the load generator
 * has the other, where `taskset` exists. Prints requests/s, p50 and p99 and the ratio redis/memory, and writes
 * bench/results/http-<date>.json.
 */
import autocannon from 'autocannon';
import { execFileSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { startRedisServer, uniquePrefix } from '../test/helpers/redis-server';
import { startServerProcess } from '../test/helpers/server-process';

const SECONDS = Number(process.env.BENCH_SECONDS ?? 10);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 2);
const KEYS = 10_000;

const pin = (pid: number, cpu: string) => {
  try {
    execFileSync('taskset', ['-a', '-p', '-c', cpu, String(pid)], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
};

type Scenario = 'GET /get/:key' | 'POST /set';

function run(url: string, scenario: Scenario, duration: number): Promise<autocannon.Result> {
  let n = 0;
  return autocannon({
    url,
    connections: 50,
    duration,
    requests: [
      scenario === 'GET /get/:key'
        ? { method: 'GET', setupRequest: (req) => ({ ...req, path: `/get/key-${n++ % KEYS}` }) }
        : {
            method: 'POST',
            path: '/set',
            headers: { 'content-type': 'application/json' },
            setupRequest: (req) => ({ ...req, body: JSON.stringify({ key: `key-${n++ % KEYS}`, value: { n, payload: 'x'.repeat(32) } }) }),
          },
    ],
  });
}

async function main() {
  const redis = await startRedisServer();
  const servers = {
    memory: await startServerProcess({ LOG_LEVEL: 'warn' }, 30_000),
    redis: await startServerProcess({ LOG_LEVEL: 'warn', STORE_DRIVER: 'redis', REDIS_URL: redis.url, REDIS_KEY_PREFIX: uniquePrefix() }, 30_000),
  };
  let pinned = pin(process.pid, '1');
  for (const s of Object.values(servers)) pinned = pin(s.child.pid!, '0') && pinned;
  try {
    for (const s of Object.values(servers)) {
      for (let i = 0; i < KEYS; i += 1000) {
        const body = JSON.stringify(Object.fromEntries(Array.from({ length: 1000 }, (_, j) => [`key-${i + j}`, { n: i + j }])));
        await fetch(`${s.url}/set`, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body });
      }
    }
    const results: Record<string, Record<Scenario, { rps: number[]; p50: number[]; p99: number[]; errors: number }>> = {};
    for (let round = 0; round < ROUNDS; round++) {
      for (const scenario of ['GET /get/:key', 'POST /set'] as Scenario[]) {
        for (const [driver, server] of Object.entries(servers)) {
          await run(server.url, scenario, 2); // warm-up
          const r = await run(server.url, scenario, SECONDS);
          const entry = ((results[driver] ??= {} as never)[scenario] ??= { rps: [], p50: [], p99: [], errors: 0 });
          entry.rps.push(r.requests.average);
          entry.p50.push(r.latency.p50);
          entry.p99.push(r.latency.p99);
          entry.errors += r.errors + r.non2xx;
        }
      }
    }
    const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
    const rows = (['GET /get/:key', 'POST /set'] as Scenario[]).map((scenario) => {
      const m = results.memory[scenario];
      const r = results.redis[scenario];
      return {
        scenario,
        memory: { rps: Math.round(mean(m.rps)), p50: mean(m.p50), p99: mean(m.p99), errors: m.errors },
        redis: { rps: Math.round(mean(r.rps)), p50: mean(r.p50), p99: mean(r.p99), errors: r.errors },
        ratio: mean(r.rps) / mean(m.rps),
      };
    });
    console.log(`\n| scenario | memory req/s | memory p50/p99 ms | redis req/s | redis p50/p99 ms | redis/memory |`);
    console.log('|---|---:|---:|---:|---:|---:|');
    for (const row of rows) {
      console.log(
        `| ${row.scenario} | ${row.memory.rps} | ${row.memory.p50.toFixed(1)} / ${row.memory.p99.toFixed(1)} | ${row.redis.rps} | ` +
          `${row.redis.p50.toFixed(1)} / ${row.redis.p99.toFixed(1)} | ${(row.ratio * 100).toFixed(0)}% |`,
      );
    }
    const dir = join(__dirname, 'results');
    mkdirSync(dir, { recursive: true });
    const file = join(dir, `http-${new Date().toISOString().slice(0, 10)}.json`);
    writeFileSync(file, `${JSON.stringify({ node: process.version, date: new Date().toISOString(), seconds: SECONDS, rounds: ROUNDS, pinned, rows }, null, 2)}\n`);
    console.log(`written ${file}`);
  } finally {
    for (const s of Object.values(servers)) {
      s.child.kill('SIGTERM');
      await s.exited;
    }
    await redis.stop();
  }
}

void main();
