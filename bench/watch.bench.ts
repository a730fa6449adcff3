/**
 * Watch benchmark (a script, not a test): `npm run bench:watch [-- counts...]`.
 *
 * Starts the built server as a child process, opens N concurrent SSE watchers on it (1000 and 10000 by
 * default) from this process, then issues writes one at a time and measures, for every event and every
 * watcher, the delay from the write's request being sent to the event's arrival (the server fans an event out
 * before it answers the write, so the write's own processing counts in the delay): p50, p99 and max, and the
 * time until the last watcher had each event. Server memory per watcher is its RSS growth divided by N.
 * Each count runs `--rounds=3` times (a new server each) and reports the medians. Server and load generator are
 * pinned to different CPUs when `taskset` exists. Results go to
 * bench/results/watch-<date>.json. Traffic stays on 127.0.0.1.
 */
import { execFileSync } from 'node:child_process';
import http from 'node:http';
import net from 'node:net';
import { join } from 'node:path';
import { startServerProcess } from '../test/helpers/server-process';
import { liveMemory, median, rssBytes, setting, today, writeResult } from './lib/harness';

const COUNTS = process.argv.slice(2).filter((arg) => !arg.startsWith('--')).map(Number).filter((n) => n > 0);
const counts = COUNTS.length > 0 ? COUNTS : [1000, 10_000];
/** Rounds per count (a new server each), reported as medians: one round on this shared machine can be off by 1.5x. */
const ROUNDS = setting('rounds', 3);
const WRITES = 30;
const WRITE_GAP_MS = 200;

const hasTaskset = (() => {
  try {
    execFileSync('taskset', ['-p', String(process.pid)], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
})();

const rssKiB = (pid: number) => rssBytes(pid) / 1024;

const pct = (sorted: number[], q: number) => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))];

const ID = Buffer.from('id: ');
const CONNECTED = Buffer.from(': connected');
const COLON = 0x3a;
const OK_STATUS = Buffer.from('HTTP/1.1 200');

/**
 * One watcher: records when each revision (1..WRITES) arrived. It speaks HTTP/1.1 on a raw socket and scans the
 * bytes (chunk framing included) for `id: `, with a typed array per watcher: Node's HTTP client costs several times
 * more per event, and on 10,000 sockets that cost, not the server's, would be what the delays measure.
 */
function watcher(url: string, onReady: () => void, onError: (e: Error) => void) {
  const arrivals = new Float64Array(WRITES + 1).fill(-1);
  const { hostname, port } = new URL(url);
  const socket = net.connect(Number(port), hostname, () => socket.write(`GET /watch HTTP/1.1\r\nHost: ${hostname}:${port}\r\n\r\n`));
  let head: Buffer = Buffer.alloc(0);
  let ready = false;
  /** The end of the previous read after its last newline: an `id:` line split across two reads is read whole. */
  let rest: Buffer = Buffer.alloc(0);
  socket.on('data', (data: Buffer) => {
    const now = performance.now();
    if (!ready) {
      head = Buffer.concat([head, data]);
      if (head.length >= 12 && !head.subarray(0, 12).equals(OK_STATUS)) return onError(new Error(`watch answered ${head.subarray(0, 40).toString()}`));
      if (head.indexOf(CONNECTED) < 0) return;
      ready = true;
      data = head;
      onReady();
    }
    const chunk = rest.length === 0 ? data : Buffer.concat([rest, data]);
    const lastNewline = chunk.lastIndexOf(0x0a);
    rest = chunk.subarray(lastNewline + 1);
    for (let i = chunk.indexOf(ID); i >= 0 && i < lastNewline; i = chunk.indexOf(ID, i + 4)) {
      // `id: <keyspace>:<revision>` (a keyspace id has no colon).
      let j = chunk.indexOf(COLON, i + 4);
      let revision = 0;
      for (j++; chunk[j] >= 0x30 && chunk[j] <= 0x39; j++) revision = revision * 10 + chunk[j] - 0x30;
      if (revision <= WRITES && arrivals[revision] < 0) arrivals[revision] = now;
    }
  });
  socket.on('error', onError);
  return { arrivals, close: () => socket.destroy() };
}

/** Sends a write; resolves with the time it was sent, once it has been answered 200. */
function post(url: string, body: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = http.request(`${url}/set`, { method: 'POST', headers: { 'Content-Type': 'application/json' }, agent: false }, (res) => {
      res.resume();
      res.on('end', () => (res.statusCode === 200 ? resolve(sent) : reject(new Error(`POST /set answered ${res.statusCode}`))));
    });
    req.on('error', reject);
    const sent = performance.now();
    req.end(body);
  });
}

async function run(n: number) {
  const server = await startServerProcess({ WATCH_MAX_STREAMS: String(n + 10), WATCH_MAX_STREAMS_PER_CLIENT: String(n + 10) }, 30_000, [
    '--expose-gc',
    '--require',
    join(__dirname, 'memory-probe.cjs'),
  ]);
  const pid = server.child.pid!;
  if (hasTaskset) {
    execFileSync('taskset', ['-a', '-p', '-c', '0', String(pid)], { stdio: 'ignore' });
    execFileSync('taskset', ['-a', '-p', '-c', '1', String(process.pid)], { stdio: 'ignore' });
  }
  try {
    await new Promise((r) => setTimeout(r, 500));
    const rssBefore = rssKiB(pid);
    const heapBefore = (await liveMemory(server.child)).heapUsed;
    const watchers: ReturnType<typeof watcher>[] = [];
    for (let opened = 0; opened < n; opened += 500) {
      const batch = Math.min(500, n - opened);
      await new Promise<void>((resolve, reject) => {
        let ready = 0;
        for (let i = 0; i < batch; i++) watchers.push(watcher(server.url, () => ++ready === batch && resolve(), reject));
      });
    }
    await new Promise((r) => setTimeout(r, 1000));
    const rssAfter = rssKiB(pid);
    const heapAfter = (await liveMemory(server.child)).heapUsed;

    const written: { revision: number; at: number }[] = [];
    for (let i = 0; i < WRITES; i++) {
      const at = await post(server.url, JSON.stringify({ key: `bench:${i}`, value: { i, payload: 'x'.repeat(64) } }));
      written.push({ revision: i + 1, at });
      await new Promise((r) => setTimeout(r, WRITE_GAP_MS));
    }
    await new Promise((r) => setTimeout(r, 2000));

    const delays: number[] = [];
    const lastWatcher: number[] = [];
    let missing = 0;
    for (const { revision, at } of written) {
      let latest = 0;
      for (const w of watchers) {
        const arrived = w.arrivals[revision];
        if (arrived < 0) {
          missing++;
          continue;
        }
        delays.push(arrived - at);
        latest = Math.max(latest, arrived - at);
      }
      lastWatcher.push(latest);
    }
    delays.sort((a, b) => a - b);
    lastWatcher.sort((a, b) => a - b);
    watchers.forEach((w) => w.close());
    return {
      watchers: n,
      writes: WRITES,
      deliveries: delays.length,
      missing,
      delayMs: { p50: pct(delays, 0.5), p99: pct(delays, 0.99), max: delays[delays.length - 1] },
      allWatchersMs: { p50: pct(lastWatcher, 0.5), p99: pct(lastWatcher, 0.99), max: lastWatcher[lastWatcher.length - 1] },
      serverRssPerWatcherKiB: (rssAfter - rssBefore) / n,
      serverLiveHeapPerWatcherKiB: (heapAfter - heapBefore) / 1024 / n,
      pinned: hasTaskset,
    };
  } finally {
    server.child.kill('SIGTERM');
    await server.exited;
  }
}

async function main() {
  const runs = [];
  for (const n of counts) {
    const rounds = [];
    for (let round = 0; round < ROUNDS; round++) {
      const r = await run(n);
      rounds.push(r);
      console.log(
        `${r.watchers} watchers, round ${round + 1}: ${r.deliveries} deliveries (${r.missing} missing); delay p50 ${r.delayMs.p50.toFixed(1)} ms, ` +
          `p99 ${r.delayMs.p99.toFixed(1)} ms, max ${r.delayMs.max.toFixed(1)} ms; every watcher within p50 ${r.allWatchersMs.p50.toFixed(1)} ms, ` +
          `p99 ${r.allWatchersMs.p99.toFixed(1)} ms; server memory per watcher: ${r.serverLiveHeapPerWatcherKiB.toFixed(1)} KiB live heap, ${r.serverRssPerWatcherKiB.toFixed(1)} KiB RSS`,
      );
    }
    const summary = {
      watchers: n,
      rounds: rounds.length,
      medianDelayMs: { p50: median(rounds.map((r) => r.delayMs.p50)), p99: median(rounds.map((r) => r.delayMs.p99)), max: median(rounds.map((r) => r.delayMs.max)) },
      p99PerRoundMs: rounds.map((r) => Number(r.delayMs.p99.toFixed(1))),
      details: rounds,
    };
    runs.push(summary);
    console.log(
      `${n} watchers, median of ${rounds.length} rounds: delay p50 ${summary.medianDelayMs.p50.toFixed(1)} ms, p99 ${summary.medianDelayMs.p99.toFixed(1)} ms ` +
        `(per round: ${summary.p99PerRoundMs.join(', ')}), max ${summary.medianDelayMs.max.toFixed(1)} ms`,
    );
  }
  const file = writeResult(`watch-${today()}.json`, JSON.stringify({ node: process.version, date: new Date().toISOString(), runs }, null, 2));
  console.log(`written ${file}`);
}

void main();
