/**
 * Memory per key (a script, not a test): `npm run bench:memory [-- --keys=1000000 --key-bytes=16 --value-bytes=32
 * --node-flags=<options>]`.
 *
 * Loads the same keys into the built service (memory driver, default settings) and into a private redis-server
 * (no persistence), each the way its clients bulk-write: `POST /set` with maps of KV_MAX_BATCH_KEYS pairs, and
 * pipelined `MSET` of as many pairs, a few batches in flight. For each it reads the process's RSS from /proc before
 * and after the load (the service after a full GC, through bench/memory-probe.cjs; Redis after its own lazy
 * frees settle) and divides the growth by the number of keys. The service runs with the Node options it ships with
 * (package.json's start script). Also shown: the service's RSS per key after a last-resort GC (its baseline is
 * taken that way too), which also frees what an ordinary full GC leaves; its live heap per key; and Redis's
 * `used_memory` per key (what the allocator was asked for, without fragmentation). Both run on the same CPU in turn;
 * traffic stays on 127.0.0.1. Results go to bench/results/memory-<date>.json and .md.
 */
import type { ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import Redis from 'ioredis';
import { startRedisServer } from '../test/helpers/redis-server';
import { startServerProcess } from '../test/helpers/server-process';
import { liveMemory, LOADGEN_CPU, pin, rssBytes, SERVER_CPU, setting, settingWords, stopChild, today, writeResult } from './lib/harness';

const KEYS = setting('keys', 1_000_000);
const KEY_BYTES = setting('key-bytes', 16);
const VALUE_BYTES = setting('value-bytes', 32);
/** Pairs per bulk write: the service's default KV_MAX_BATCH_KEYS. */
const BATCH = 1000;
const IN_FLIGHT = 4;
/**
 * Node options for the service on top of those it ships with (`--node-flags="--max-semi-space-size=64"`, say:
 * the last of a repeated V8 option wins).
 */
const NODE_FLAGS = settingWords('node-flags');

/** Key number `i`, padded to KEY_BYTES: `k:000000000042`. */
function keyOf(i: number): string {
  const digits = String(i);
  return `k:${digits.padStart(KEY_BYTES - 2, '0')}`;
}

/** A value of VALUE_BYTES bytes: for the service a JSON string of that many bytes (its quotes included). */
const RAW_VALUE = 'v'.repeat(VALUE_BYTES);
const JSON_VALUE = 'v'.repeat(Math.max(0, VALUE_BYTES - 2));

/** Runs `batches` bulk writes, IN_FLIGHT at a time. */
async function load(write: (from: number, to: number) => Promise<void>): Promise<number> {
  const started = performance.now();
  let next = 0;
  const worker = async () => {
    while (next < KEYS) {
      const from = next;
      next = Math.min(KEYS, next + BATCH);
      await write(from, next);
    }
  };
  await Promise.all(Array.from({ length: IN_FLIGHT }, worker));
  return (performance.now() - started) / 1000;
}

/**
 * The service's memory after a full GC as V8 runs its own, RSS read a moment later as for Redis. `lastResort`: after
 * a last-resort GC, which V8 runs only near its heap limit: it also drops V8's compilation cache and optimised code
 * and shrinks the young generation, about 20 bytes per key here that an ordinary GC leaves.
 */
async function gcAndMeasure(child: ChildProcess, lastResort = false): Promise<{ rss: number; heapUsed: number }> {
  const { heapUsed } = await liveMemory(child, lastResort);
  await new Promise((r) => setTimeout(r, 200));
  return { rss: rssBytes(child.pid!), heapUsed };
}

async function postSet(url: string, body: string): Promise<void> {
  const response = await fetch(`${url}/set`, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body });
  if (!response.ok) throw new Error(`POST /set answered ${response.status}: ${await response.text()}`);
}

interface Result {
  readonly server: string;
  readonly keys: number;
  readonly loadSeconds: number;
  readonly rssBefore: number;
  readonly rssAfter: number;
  readonly rssPerKey: number;
  /** The service: RSS per key after a last-resort GC. */
  readonly rssPerKeyLastResort?: number;
  /** The service: live V8 heap per key (after the last-resort GC: a full GC can leave pages unswept); Redis: used_memory per key. */
  readonly heapPerKey: number;
}

async function measureService(): Promise<Result> {
  const server = await startServerProcess({ LOG_LEVEL: 'warn' }, 30_000, [...NODE_FLAGS, '--expose-gc', '--require', join(__dirname, 'memory-probe.cjs')]);
  pin(server.child.pid!, SERVER_CPU);
  try {
    // The baseline after a last-resort GC (without what only that collection frees at start-up, room the load would
    // reuse): what the load adds is all counted.
    const before = await gcAndMeasure(server.child, true);
    const loadSeconds = await load((from, to) => {
      const pairs: Record<string, string> = {};
      for (let i = from; i < to; i++) pairs[keyOf(i)] = JSON_VALUE;
      return postSet(server.url, JSON.stringify(pairs));
    });
    const after = await gcAndMeasure(server.child);
    const lastResort = await gcAndMeasure(server.child, true);
    return {
      server: 'service (memory driver)',
      keys: KEYS,
      loadSeconds,
      rssBefore: before.rss,
      rssAfter: after.rss,
      rssPerKey: (after.rss - before.rss) / KEYS,
      rssPerKeyLastResort: (lastResort.rss - before.rss) / KEYS,
      heapPerKey: (lastResort.heapUsed - before.heapUsed) / KEYS,
    };
  } finally {
    await stopChild(server);
  }
}

async function measureRedis(): Promise<Result> {
  const redis = await startRedisServer();
  pin(redis.pid, SERVER_CPU);
  const client = new Redis(redis.url, { lazyConnect: true });
  await client.connect();
  const usedMemory = async () => Number(/used_memory:(\d+)/.exec(await client.info('memory'))![1]);
  try {
    const usedBefore = await usedMemory();
    const rssBefore = rssBytes(redis.pid);
    const loadSeconds = await load(async (from, to) => {
      const args: string[] = [];
      for (let i = from; i < to; i++) args.push(keyOf(i), RAW_VALUE);
      await client.mset(args);
    });
    await new Promise((r) => setTimeout(r, 500));
    const usedAfter = await usedMemory();
    const rssAfter = rssBytes(redis.pid);
    return {
      server: `redis-server ${/redis_version:(\S+)/.exec(await client.info('server'))![1]}`,
      keys: KEYS,
      loadSeconds,
      rssBefore,
      rssAfter,
      rssPerKey: (rssAfter - rssBefore) / KEYS,
      heapPerKey: (usedAfter - usedBefore) / KEYS,
    };
  } finally {
    client.disconnect();
    await redis.stop();
  }
}

async function main(): Promise<void> {
  pin(process.pid, LOADGEN_CPU);
  console.log(`loading ${KEYS.toLocaleString('en')} keys of ${KEY_BYTES} bytes with values of ${VALUE_BYTES} bytes into each server`);
  const redis = await measureRedis();
  const service = await measureService();
  const ratio = service.rssPerKey / redis.rssPerKey;
  const ratioLastResort = service.rssPerKeyLastResort! / redis.rssPerKey;
  const mib = (bytes: number) => `${(bytes / 2 ** 20).toFixed(0)} MiB`;
  const lines = [
    `Memory per key, ${KEYS.toLocaleString('en')} keys (${KEY_BYTES}-byte keys, ${VALUE_BYTES}-byte values), ${today()}, Node ${process.version}`,
    '',
    '| server | RSS before | RSS after | RSS per key | RSS per key after a last-resort GC | heap per key | load time |',
    '|---|---:|---:|---:|---:|---:|---:|',
    ...[service, redis].map(
      (r) =>
        `| ${r.server} | ${mib(r.rssBefore)} | ${mib(r.rssAfter)} | ${r.rssPerKey.toFixed(0)} B | ${r.rssPerKeyLastResort === undefined ? '' : `${r.rssPerKeyLastResort.toFixed(0)} B`} | ${r.heapPerKey.toFixed(0)} B | ${r.loadSeconds.toFixed(1)} s |`,
    ),
    '',
    ...(NODE_FLAGS.length > 0 ? [`The service ran with these Node options added: ${NODE_FLAGS.join(' ')}`, ''] : []),
    `service / Redis, RSS per key: ${ratio.toFixed(2)}x (target: at most 2x); after a last-resort GC: ${ratioLastResort.toFixed(2)}x.`,
    `The service's RSS per key is read after a full GC as V8 runs its own. A last-resort GC, which V8 runs only near its heap limit and this`,
    `benchmark's probe asks for, also drops V8's compilation cache and optimised code and shrinks the young generation: the next column.`,
    `The service's baseline (RSS before) is taken after a last-resort GC, so that what it frees at start-up, room the load reuses, is counted.`,
    `"heap per key" is the service's live V8 heap (after that last-resort GC), and Redis's used_memory.`,
  ];
  console.log(lines.join('\n'));
  writeResult(`memory-${today()}.md`, lines.join('\n'));
  const file = writeResult(`memory-${today()}.json`, JSON.stringify({ node: process.version, date: new Date().toISOString(), keyBytes: KEY_BYTES, valueBytes: VALUE_BYTES, nodeFlags: NODE_FLAGS, ratio, ratioLastResort, runs: [service, redis] }, null, 2));
  console.log(`written ${file}`);
}

main().catch((error: unknown) => {
  console.error(error);
  process.exitCode = 1;
});
