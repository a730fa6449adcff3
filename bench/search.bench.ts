/**
 * Search benchmark (a script, not a test): `npm run bench:search [-- sizes...]`.
 *
 * Builds the memory store at 10k, 100k and 1M keys of realistic shapes (`user:<n>:profile`,
 * `order-<n, 7 digits>`), then measures, in process:
 * - prefix, suffix and combined queries returning ~100 keys, through the store port (as HTTP does),
 *   against a naive full scan over the same keys (what the seeds did);
 * - the latency of a put;
 * - heap bytes per key beyond the key and value themselves (UTF-8 bytes of both).
 * Prints a table and writes it as JSON under bench/results/.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { MemoryStore } from '../src/store/memory/memory.store';
import type { ListQuery } from '../src/store/kv.store';

const gc = (globalThis as { gc?: () => void }).gc;
if (!gc) throw new Error('run with node --expose-gc (npm run bench:search does)');

const SIZES = process.argv.slice(2).map(Number).filter((n) => n > 0);
const sizes = SIZES.length > 0 ? SIZES : [10_000, 100_000, 1_000_000];
const PAGE = 100;

interface Stats {
  median: number;
  p99: number;
}

function stats(samplesNs: number[]): Stats {
  const sorted = [...samplesNs].sort((a, b) => a - b);
  const at = (q: number) => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] / 1000;
  return { median: at(0.5), p99: at(0.99) };
}

async function time(fn: () => unknown, iterations: number, warmup = iterations): Promise<Stats> {
  for (let i = 0; i < warmup; i++) await fn();
  const samples: number[] = [];
  for (let i = 0; i < iterations; i++) {
    const start = process.hrtime.bigint();
    await fn();
    samples.push(Number(process.hrtime.bigint() - start));
  }
  return stats(samples);
}

const userKey = (n: number) => `user:${n}:profile`;
const orderKey = (n: number) => `order-${String(n).padStart(7, '0')}`;

interface QueryResult {
  name: string;
  filter: string;
  matches: number;
  indexUs: Stats;
  scanUs: Stats;
  ratio: number;
}

async function run(size: number) {
  const half = size / 2;
  gc!();
  const heapBefore = process.memoryUsage().heapUsed;
  const store = new MemoryStore({ sweepIntervalMs: 60_000, history: 1 }); // sweeper not started: nothing expires here
  let payloadBytes = 0;
  for (let start = 0; start < half; start += 1000) {
    const entries = [];
    for (let n = start; n < Math.min(half, start + 1000); n++) {
      for (const key of [userKey(n), orderKey(n)]) {
        const value = `v${n}`;
        payloadBytes += Buffer.byteLength(key) + Buffer.byteLength(JSON.stringify(value));
        entries.push({ key, value });
      }
    }
    await store.set(entries);
  }
  gc!();
  const heapAfter = process.memoryUsage().heapUsed;
  const bytesPerKey = (heapAfter - heapBefore - payloadBytes) / size;

  // The naive baseline scans every key, as the seeds did (materialised after the heap measurement).
  const allKeys = (await store.listKeys({ limit: size })).keys;
  const scan = (q: ListQuery) => {
    const out: string[] = [];
    for (const k of allKeys) if (k.startsWith(q.prefix ?? '') && k.endsWith(q.suffix ?? '')) out.push(k);
    return out.slice(0, q.limit);
  };

  // A user-id suffix that ~50-100 users share at this size (n < size/2 ending in these digits).
  const digits = Math.max(1, Math.round(Math.log10(half / 100)));
  const userSuffix = `${'7'.repeat(digits)}:profile`;
  const queries: [string, ListQuery][] = [
    ['prefix', { prefix: 'order-00001', limit: PAGE }],
    ['suffix', { suffix: userSuffix, limit: PAGE }],
    ['prefix+suffix (narrow suffix)', { prefix: 'user:', suffix: userSuffix, limit: PAGE }],
    ['prefix+suffix (narrow prefix)', { prefix: 'order-0001', suffix: '7', limit: PAGE }],
  ];
  const scanIterations = Math.max(5, Math.min(200, Math.round(2e6 / size)));
  const results: QueryResult[] = [];
  for (const [name, q] of queries) {
    const matches = (await store.listKeys(q)).keys.length;
    if (JSON.stringify(scan(q)) !== JSON.stringify((await store.listKeys(q)).keys)) throw new Error(`index and scan disagree on ${name}`);
    const indexUs = await time(() => store.listKeys(q), 5000);
    const scanUs = await time(() => scan(q), scanIterations, 2);
    results.push({ name, filter: JSON.stringify({ prefix: q.prefix, suffix: q.suffix }), matches, indexUs, scanUs, ratio: scanUs.median / indexUs.median });
  }

  let next = 0;
  const putUs = await time(() => store.set([{ key: `new:${next++}`, value: 'v' }]), 20_000);
  return { size, bytesPerKey: Math.round(bytesPerKey), putUs, queries: results };
}

async function main() {
  const runs = [];
  for (const size of sizes) {
    const r = await run(size);
    runs.push(r);
    console.log(`\n${r.size.toLocaleString('en')} keys: ${r.bytesPerKey} heap bytes/key beyond key+value; put median ${r.putUs.median.toFixed(2)} us, p99 ${r.putUs.p99.toFixed(2)} us`);
    console.log('| query | matches | index median (us) | index p99 (us) | scan median (us) | scan/index |');
    console.log('|---|---:|---:|---:|---:|---:|');
    for (const q of r.queries) {
      console.log(`| ${q.name} ${q.filter} | ${q.matches} | ${q.indexUs.median.toFixed(1)} | ${q.indexUs.p99.toFixed(1)} | ${q.scanUs.median.toFixed(0)} | ${Math.round(q.ratio)}x |`);
    }
  }
  const dir = join(__dirname, 'results');
  mkdirSync(dir, { recursive: true });
  const file = join(dir, `search-${new Date().toISOString().slice(0, 10)}.json`);
  writeFileSync(file, `${JSON.stringify({ node: process.version, date: new Date().toISOString(), runs }, null, 2)}\n`);
  console.log(`\nwritten ${file}`);
}

void main();
