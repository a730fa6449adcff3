/**
 * The load generator of the HTTP benchmarks, run as its own process (so it can be pinned to its own CPU, away
 * from the server under test): `node --import tsx bench/lib/load-worker.ts '<LoadSpec as JSON>'`.
 *
 * Drives one server with wrk (Debian: `apt-get install wrk`), one thread and `connections` connections: a warm-up,
 * then the measured run. wrk is written in C and keeps up with servers far faster than the ones measured here
 * (autocannon, in one Node process, saturates near 20-30k requests/s on this machine and flattered every ratio
 * above that). The requests come from a Lua script generated for the scenario (bench/lib/scenarios.ts names the
 * keys). Prints `measuring` on a line of its own when the measured run starts (the parent samples the server's CPU
 * time then) and, at the end, one line of JSON: a LoadResult.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { LoadResult, LoadSpec } from './harness';
import { wrkScript } from './scenarios';

/** CPU seconds a process used so far (user + system), from /proc; 0 where it cannot be read. */
function cpuOf(pid: number): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(fields[11]) + Number(fields[12])) / 100;
  } catch {
    return Number.NaN;
  }
}

interface WrkSummary {
  readonly requests: number;
  readonly durationUs: number;
  readonly errors: number;
  readonly non2xx: number;
  readonly p50: number;
  readonly p90: number;
  readonly p99: number;
  readonly max: number;
}

function wrk(spec: LoadSpec, seconds: number, script: string): Promise<{ summary: WrkSummary; cpuSeconds: number; wallSeconds: number }> {
  return new Promise((resolve, reject) => {
    const started = process.hrtime.bigint();
    const child = spawn('wrk', ['-t1', `-c${spec.connections}`, `-d${seconds}s`, '--timeout', '10s', '-s', script, spec.url], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let cpu = 0;
    // wrk's CPU time, read while it runs (a process that has exited has no /proc entry left to read).
    const sampler = setInterval(() => {
      const now = cpuOf(child.pid ?? 0);
      if (Number.isFinite(now)) cpu = now;
    }, 200);
    child.stdout.on('data', (c: Buffer) => (out += c.toString()));
    child.stderr.on('data', (c: Buffer) => (out += c.toString()));
    child.once('error', (error) => {
      clearInterval(sampler);
      reject(new Error(`wrk could not run (${error.message}): install it (Debian: apt-get install wrk)`));
    });
    child.once('close', (code) => {
      clearInterval(sampler);
      const line = out.split('\n').find((l) => l.startsWith('{"requests"'));
      if (code !== 0 || !line) return reject(new Error(`wrk failed (exit ${code}):\n${out}`));
      resolve({ summary: JSON.parse(line) as WrkSummary, cpuSeconds: cpu, wallSeconds: Number(process.hrtime.bigint() - started) / 1e9 });
    });
  });
}

async function main() {
  const spec = JSON.parse(process.argv[2]) as LoadSpec;
  const dir = mkdtempSync(join(tmpdir(), 'kv-wrk-'));
  try {
    const script = (phase: string) => {
      const file = join(dir, `${phase}.lua`);
      writeFileSync(file, wrkScript(spec.scenario, spec.keys, spec.writes ?? 'insert', `${process.pid}-${phase}`));
      return file;
    };
    if (spec.warmupSeconds > 0) await wrk(spec, spec.warmupSeconds, script('warmup'));
    process.stdout.write('measuring\n');
    const { summary, cpuSeconds, wallSeconds } = await wrk(spec, spec.seconds, script('measured'));
    const result: LoadResult = {
      rps: summary.requests / (summary.durationUs / 1e6),
      requests: summary.requests,
      p50: summary.p50,
      p90: summary.p90,
      p99: summary.p99,
      max: summary.max,
      errors: summary.errors,
      non2xx: summary.non2xx,
      loadgenCpu: cpuSeconds / wallSeconds,
    };
    process.stdout.write(`${JSON.stringify(result)}\n`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
