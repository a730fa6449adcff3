import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { freePort } from './free-port';

export const MAIN = join(__dirname, '..', '..', 'dist', 'main.js');

/**
 * The Node options the service is shipped with: those of package.json's start script (`exec node <options>
 * dist/main.js`), which the container's CMD repeats (test/process.e2e-spec.ts checks that). Tests and benchmarks
 * start the service with them, so they measure what `npm start` and the image run.
 */
export const START_NODE_ARGS: readonly string[] = (() => {
  const { scripts } = JSON.parse(readFileSync(join(__dirname, '..', '..', 'package.json'), 'utf8')) as { scripts: { start: string } };
  const match = /^exec node ((?:--\S+ )*)dist\/main\.js$/.exec(scripts.start);
  if (!match) throw new Error(`package.json's start script is not "exec node [--options] dist/main.js": ${scripts.start}`);
  return match[1].split(' ').filter(Boolean);
})();

export interface ServerProcess {
  readonly child: ChildProcess;
  readonly url: string;
  /** Every line the process wrote to stdout so far. */
  readonly lines: string[];
  /** Resolves with the exit code (or signal) once the process has ended. */
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

/** Children started by this test file and not yet exited. */
const running = new Set<ChildProcess>();

// A hook that timed out mid-start can leave a child its clean-up never saw; it would keep Jest from exiting.
// Jest evaluates this module once per test file, so each file kills whatever it left behind.
if (typeof afterAll === 'function') {
  afterAll(async () => {
    const left = [...running];
    for (const child of left) child.kill('SIGKILL');
    await Promise.all(left.map((child) => new Promise((resolve) => (child.exitCode !== null || child.signalCode !== null ? resolve(null) : child.once('exit', resolve)))));
  });
}

/** Lines of output kept per server (at least the most recent this many, at most twice as many), so long benchmark runs do not grow without bound. */
const KEPT_LINES = 5000;

/**
 * Starts the built server (dist/main.js) as a real child process on a free 127.0.0.1 port and waits until
 * /health/live answers. The environment is exactly `env` plus PATH: nothing else leaks in.
 */
export async function startServerProcess(env: Record<string, string> = {}, timeoutMs = 45_000, nodeArgs: string[] = []): Promise<ServerProcess> {
  if (!existsSync(MAIN)) throw new Error(`${MAIN} is missing: run "npm run build" first (npm test does it)`);
  const port = env.PORT ?? String(await freePort());
  const child = spawn(process.execPath, [...START_NODE_ARGS, ...nodeArgs, MAIN], {
    // SHUTDOWN_DELAY_MS is 0 by default (no load balancer to wait for) unless a test asks for one.
    env: { PATH: process.env.PATH ?? '', HOST: '127.0.0.1', LOG_LEVEL: 'info', ...env, PORT: port },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  running.add(child);
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.once('exit', (code, signal) => {
      running.delete(child);
      resolve({ code, signal });
    }),
  );
  const lines: string[] = [];
  const keep = (line: string) => {
    lines.push(line);
    // Trimmed once the count doubles, not on every line: shifting 5,000 lines per line took a whole CPU from the
    // process reading a server under load (the benchmarks' load generator shares it).
    if (lines.length >= 2 * KEPT_LINES) lines.splice(0, lines.length - KEPT_LINES);
  };
  createInterface({ input: child.stdout! }).on('line', keep);
  child.stderr!.on('data', (chunk: Buffer) => keep(chunk.toString()));
  const url = `http://127.0.0.1:${port}`;
  let stopped = false;
  void exited.then(() => (stopped = true));
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (stopped) throw new Error(`server exited before it was live:\n${lines.join('\n')}`);
    const live = await fetch(`${url}/health/live`).then((r) => r.ok, () => false);
    if (live) break;
    if (Date.now() > deadline) {
      child.kill('SIGKILL');
      throw new Error(`server was not live within ${timeoutMs} ms:\n${lines.join('\n')}`);
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  return { child, url, lines, exited };
}

/** Runs the built server to completion and returns its exit code and output (for start-up failures). */
export function runServerProcess(env: Record<string, string>): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [...START_NODE_ARGS, MAIN], { env: { PATH: process.env.PATH ?? '', ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
    child.once('close', (code) => resolve({ code, stdout, stderr }));
  });
}

/** Kills a server a test started, if it is still running, and waits for it (afterEach clean-up). */
export async function killIfRunning(server: ServerProcess | undefined): Promise<void> {
  if (!server) return;
  if (server.child.exitCode === null && server.child.signalCode === null) server.child.kill('SIGKILL');
  await server.exited;
}
