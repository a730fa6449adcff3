/**
 * Watch benchmark (a script, not a test): `npm run bench:watch [-- counts...]`.
 *
 * Starts the built server as a child process, opens N concurrent SSE watchers on it (1000 and 10000 by
 * default) from this process, then issues writes one at a time and measures, for every event and every
 * watcher, the delay from the write's HTTP response to the event's arrival: p50, p99 and max, and the
 * time until the last watcher had each event. Server memory per watcher is its RSS growth divided by N.
 * Server and load generator are pinned to different CPUs when `taskset` exists. Results go to
 * bench/results/watch-<date>.json. Traffic stays on 127.0.0.1.
 */
import { type ChildProcess, execFileSync } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import { join } from 'node:path';
import { startServerProcess } from '../test/helpers/server-process';

const COUNTS = process.argv.slice(2).map(Number).filter((n) => n > 0);
const counts = COUNTS.length > 0 ? COUNTS : [1000, 10_000];
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

const rssKiB = (pid: number) => Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))![1]);

/** The server's memory after a full GC, via bench/memory-probe.cjs (SIGUSR2 -> one MEMORY line on stderr). */
function liveMemory(child: ChildProcess): Promise<NodeJS.MemoryUsage> {
  return new Promise((resolve) => {
    let text = '';
    const onData = (chunk: Buffer) => {
      text += chunk.toString();
      const match = /MEMORY (\{.*\})\n/.exec(text);
      if (match) {
        child.stderr!.off('data', onData);
        resolve(JSON.parse(match[1]) as NodeJS.MemoryUsage);
      }
    };
    child.stderr!.on('data', onData);
    child.kill('SIGUSR2');
  });
}
const pct = (sorted: number[], q: number) => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))];

const ID = Buffer.from('id: ');
const CONNECTED = Buffer.from(': connected');

/**
 * One watcher: records when each revision (1..WRITES) arrived. Kept lean (Buffer scanning, a typed
 * array) so that what is measured is the server, not this load generator's own parsing.
 */
function watcher(url: string, onReady: () => void, onError: (e: Error) => void) {
  const arrivals = new Float64Array(WRITES + 1).fill(-1);
  const req = http.get(`${url}/watch`, { agent: false }, (res) => {
    if (res.statusCode !== 200) return onError(new Error(`watch answered ${res.statusCode}`));
    let ready = false;
    res.on('data', (chunk: Buffer) => {
      const now = performance.now();
      if (!ready && chunk.indexOf(CONNECTED) >= 0) {
        ready = true;
        onReady();
      }
      for (let i = chunk.indexOf(ID); i >= 0; i = chunk.indexOf(ID, i + 4)) {
        let revision = 0;
        for (let j = i + 4; chunk[j] >= 0x30 && chunk[j] <= 0x39; j++) revision = revision * 10 + chunk[j] - 0x30;
        if (revision <= WRITES && arrivals[revision] < 0) arrivals[revision] = now;
      }
    });
  });
  req.on('error', onError);
  return { arrivals, close: () => req.destroy() };
}

function post(url: string, body: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = http.request(`${url}/set`, { method: 'POST', headers: { 'Content-Type': 'application/json' }, agent: false }, (res) => {
      res.resume();
      res.on('end', () => resolve(performance.now()));
    });
    req.on('error', reject);
    req.end(body);
  });
}

async function run(n: number) {
  const server = await startServerProcess({ WATCH_MAX_STREAMS: String(n + 10) }, 30_000, [
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
        delays.push(Math.max(0, arrived - at));
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
    const r = await run(n);
    runs.push(r);
    console.log(
      `${r.watchers} watchers: ${r.deliveries} deliveries (${r.missing} missing); delay p50 ${r.delayMs.p50.toFixed(1)} ms, ` +
        `p99 ${r.delayMs.p99.toFixed(1)} ms, max ${r.delayMs.max.toFixed(1)} ms; every watcher within p50 ${r.allWatchersMs.p50.toFixed(1)} ms, ` +
        `p99 ${r.allWatchersMs.p99.toFixed(1)} ms; server memory per watcher: ${r.serverLiveHeapPerWatcherKiB.toFixed(1)} KiB live heap, ${r.serverRssPerWatcherKiB.toFixed(1)} KiB RSS`,
    );
  }
  const dir = join(__dirname, 'results');
  mkdirSync(dir, { recursive: true });
  const file = join(dir, `watch-${new Date().toISOString().slice(0, 10)}.json`);
  writeFileSync(file, `${JSON.stringify({ node: process.version, date: new Date().toISOString(), runs }, null, 2)}\n`);
  console.log(`written ${file}`);
}

void main();
