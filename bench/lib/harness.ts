/**
 * What the HTTP benchmarks (bench/http.bench.ts, bench/compare.bench.ts) share: CPU pinning, the load generator
 * as a pinned child process (bench/lib/load-worker.ts), the CPU time servers spend during a measurement, reference
 * servers as child processes, settings from the command line or the environment, medians and result files.
 */
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { freePort } from '../../test/helpers/free-port';
import type { Scenario, WriteMode } from './scenarios';

export const ROOT = join(__dirname, '..', '..');
const WORKER = join(__dirname, 'load-worker.ts');

/** The load generator (and the benchmark script itself) run on this CPU, servers on the other. */
export const LOADGEN_CPU = '0';
export const SERVER_CPU = '1';

let tasksetWorks: boolean | undefined;
/** Whether `taskset` exists and this machine has the two CPUs we pin to. */
export function canPin(): boolean {
  if (tasksetWorks === undefined) {
    try {
      execFileSync('taskset', ['-c', `${LOADGEN_CPU},${SERVER_CPU}`, 'true'], { stdio: 'ignore' });
      tasksetWorks = true;
    } catch {
      tasksetWorks = false;
    }
  }
  return tasksetWorks;
}

/** Pins every thread of a running process to `cpu` (threads it starts later inherit it). False when not possible. */
export function pin(pid: number, cpu: string): boolean {
  if (!canPin()) return false;
  try {
    execFileSync('taskset', ['-a', '-p', '-c', cpu, String(pid)], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

const CLOCK_TICKS = (() => {
  try {
    return Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
  } catch {
    return 100;
  }
})();

/** CPU seconds (all threads) a process has used so far, in user mode and in the kernel; 0 where /proc is not available. */
export function cpuSeconds(pid: number): { user: number; system: number } {
  try {
    // The command name (field 2) may contain spaces: count fields after its closing parenthesis.
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return { user: Number(fields[11]) / CLOCK_TICKS, system: Number(fields[12]) / CLOCK_TICKS };
  } catch {
    return { user: 0, system: 0 };
  }
}

/** PIDs of the direct children of `ppid` whose command name is `comm` (e.g. the redis-server a helper started). */
export function childPids(ppid: number, comm: string): number[] {
  const pids: number[] = [];
  for (const entry of readdirSync('/proc').filter((name) => /^\d+$/.test(name))) {
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      const name = stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')'));
      const parent = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      if (name === comm && parent === ppid) pids.push(Number(entry));
    } catch {
      // The process ended meanwhile.
    }
  }
  return pids;
}

export interface LoadSpec {
  readonly url: string;
  readonly scenario: Scenario;
  /** How many keys are preloaded (`key-0` ...): GET and search requests spread over them. */
  readonly keys: number;
  readonly writes?: WriteMode;
  readonly connections: number;
  readonly warmupSeconds: number;
  readonly seconds: number;
}

export interface LoadResult {
  /** Mean requests per second over the measured run (autocannon's per-second average). */
  readonly rps: number;
  readonly requests: number;
  /** Latency percentiles of the answered requests, in milliseconds. */
  readonly p50: number;
  readonly p90: number;
  readonly p99: number;
  readonly max: number;
  /** Connection errors and timeouts. */
  readonly errors: number;
  /** Answers outside 2xx. */
  readonly non2xx: number;
  /** CPU the load generator used, in CPUs (1 = one core busy all the time). */
  readonly loadgenCpu: number;
}

export interface Measurement extends LoadResult {
  /** CPU the server processes used during the measured run, in CPUs (user + system). */
  readonly serverCpu: number;
  /** The user-mode part of serverCpu: the JavaScript and native code of the server, without system calls (nor the
   * kernel work, such as other processes' network interrupts, that Linux may charge to whichever process runs). */
  readonly serverUserCpu: number;
  /**
   * When the measured run began and ended, in microseconds of the machine's monotonic clock (CLOCK_MONOTONIC, which
   * `process.hrtime` and V8's CPU profiles both read): the window of a server's profile that the figures cover.
   */
  readonly measuredUs: readonly [from: number, to: number];
}

/**
 * Runs the load generator in its own process, pinned to LOADGEN_CPU where possible, against a server whose
 * processes are `serverPids` (their CPU time during the measured run is reported as `serverCpu`).
 */
export function measure(spec: LoadSpec, serverPids: readonly number[]): Promise<Measurement> {
  const args = ['--import', 'tsx', WORKER, JSON.stringify(spec)];
  const child = canPin()
    ? spawn('taskset', ['-c', LOADGEN_CPU, process.execPath, ...args], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] })
    : spawn(process.execPath, args, { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
  const serverCpu = () =>
    serverPids.map(cpuSeconds).reduce((sum, cpu) => ({ user: sum.user + cpu.user, system: sum.system + cpu.system }), { user: 0, system: 0 });
  return new Promise((resolve, reject) => {
    let stderr = '';
    let start: { cpu: { user: number; system: number }; at: bigint } | undefined;
    let result: LoadResult | undefined;
    const used = { total: NaN, user: NaN, toUs: NaN };
    child.stderr!.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    createInterface({ input: child.stdout! }).on('line', (line) => {
      if (line === 'measuring') {
        start = { cpu: serverCpu(), at: process.hrtime.bigint() };
      } else if (line.startsWith('{') && start) {
        const end = serverCpu();
        const at = process.hrtime.bigint();
        used.toUs = Number(at / 1000n);
        const seconds = Number(at - start.at) / 1e9;
        used.user = (end.user - start.cpu.user) / seconds;
        used.total = used.user + (end.system - start.cpu.system) / seconds;
        result = JSON.parse(line) as LoadResult;
      }
    });
    child.once('error', reject);
    child.once('close', (code) => {
      if (code === 0 && result && start) resolve({ ...result, serverCpu: used.total, serverUserCpu: used.user, measuredUs: [Number(start.at / 1000n), used.toUs] });
      else reject(new Error(`load generator failed (exit ${code}) on ${spec.scenario} ${spec.url}:\n${stderr}`));
    });
  });
}

export interface ChildServer {
  readonly child: ChildProcess;
  readonly url: string;
  readonly exited: Promise<unknown>;
}

/** Starts a reference server (a script taking PORT and HOST) with the current Node and waits until /health/live answers. */
export async function startScript(script: string, timeoutMs = 20_000, nodeArgs: readonly string[] = []): Promise<ChildServer> {
  const port = await freePort();
  const child = spawn(process.execPath, [...nodeArgs, script], {
    env: { PATH: process.env.PATH ?? '', HOST: '127.0.0.1', PORT: String(port) },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout!.on('data', (chunk: Buffer) => (output += chunk.toString()));
  child.stderr!.on('data', (chunk: Buffer) => (output += chunk.toString()));
  const exited = new Promise((resolve) => child.once('exit', resolve));
  const url = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + timeoutMs;
  while (!(await fetch(`${url}/health/live`).then((r) => r.ok, () => false))) {
    if (child.exitCode !== null || Date.now() > deadline) {
      child.kill('SIGKILL');
      throw new Error(`${script} did not start:\n${output}`);
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  return { child, url, exited };
}

/** SIGTERM to a server this run started, SIGKILL if it is still there after `graceMs`; resolves when it has exited. */
export async function stopChild(server: { child: ChildProcess; exited: Promise<unknown> }, graceMs = 10_000): Promise<void> {
  if (server.child.exitCode !== null || server.child.signalCode !== null) return;
  server.child.kill('SIGTERM');
  const timer = setTimeout(() => server.child.kill('SIGKILL'), graceMs);
  await server.exited;
  clearTimeout(timer);
}

/**
 * A numeric setting: `--name=value` on the command line, else BENCH_<NAME> in the environment, else the default.
 */
export function setting(name: string, fallback: number): number {
  const raw = settingText(name);
  if (raw === undefined) return fallback;
  const value = Number(raw);
  if (!Number.isFinite(value) || value < 0) throw new Error(`--${name} / BENCH_${name.toUpperCase()} must be a non-negative number (got ${raw})`);
  return value;
}

/** A text setting, looked up as `setting` does. */
export function settingText(name: string): string | undefined {
  const flag = process.argv.slice(2).find((arg) => arg.startsWith(`--${name}=`));
  return flag !== undefined ? flag.slice(name.length + 3) : process.env[`BENCH_${name.toUpperCase().replaceAll('-', '_')}`];
}

/** A text setting read as space-separated words (Node options, say); none when absent. */
export const settingWords = (name: string): string[] => (settingText(name) ?? '').split(' ').filter(Boolean);

export const median = (xs: readonly number[]): number => {
  const sorted = [...xs].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
};

export const mean = (xs: readonly number[]): number => xs.reduce((a, b) => a + b, 0) / xs.length;

/** Today's date as YYYY-MM-DD (UTC), for result file names. */
export const today = (): string => new Date().toISOString().slice(0, 10);

/** Writes `bench/results/<name>` and returns its path. */
export function writeResult(name: string, text: string): string {
  const dir = join(ROOT, 'bench', 'results');
  mkdirSync(dir, { recursive: true });
  const file = join(dir, name);
  writeFileSync(file, text.endsWith('\n') ? text : `${text}\n`);
  return file;
}

/** A process's resident set size, from /proc. */
export const rssBytes = (pid: number): number => Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))![1]) * 1024;

/**
 * A server's memory after a full GC: the server runs with `--expose-gc --require bench/memory-probe.cjs`, which
 * answers SIGUSR2 with one MEMORY line on stderr. `lastResort`: after a last-resort GC instead (SIGURG), which
 * also frees what ordinary GCs keep (V8's compilation cache, optimised code, young-generation room).
 */
export function liveMemory(child: ChildProcess, lastResort = false): Promise<NodeJS.MemoryUsage> {
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
    child.kill(lastResort ? 'SIGURG' : 'SIGUSR2');
  });
}
