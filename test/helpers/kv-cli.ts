import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';

/** The built CLI: the tests run what users run. */
export const KV = join(__dirname, '..', '..', 'dist', 'cli', 'kv.js');

export interface Result {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

/** A `kv` process that keeps running (watch): its output so far, and how to end it. */
export interface Running {
  readonly child: ChildProcess;
  readonly stdout: () => string;
  readonly stderr: () => string;
  readonly exited: Promise<Result>;
}

/** `kv` processes started by this test file and not yet exited. */
const children = new Set<ChildProcess>();

// Jest evaluates this module once per test file: each file checks the build and kills whatever it left running.
if (typeof beforeAll === 'function') {
  beforeAll(() => {
    if (!existsSync(KV)) throw new Error(`${KV} is missing: run "npm run build" first (npm test does it)`);
  });
  afterAll(() => {
    for (const child of children) child.kill('SIGKILL');
  });
}

/** Starts the built CLI with exactly `env` (plus PATH and no history file): nothing of the machine's leaks in. */
export function start(args: string[], env: Record<string, string> = {}, input?: string): Running {
  const child = spawn(process.execPath, [KV, ...args], {
    env: { PATH: process.env.PATH ?? '', KV_HISTORY_FILE: '', ...env },
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  children.add(child);
  let stdout = '';
  let stderr = '';
  child.stdout!.setEncoding('utf8').on('data', (c: string) => (stdout += c));
  child.stderr!.setEncoding('utf8').on('data', (c: string) => (stderr += c));
  child.stdin!.end(input);
  const exited = new Promise<Result>((resolve) =>
    child.once('close', (code) => {
      children.delete(child);
      resolve({ code, stdout, stderr });
    }),
  );
  return { child, stdout: () => stdout, stderr: () => stderr, exited };
}

/** Runs the built CLI to completion (killed after `timeoutMs`, which then fails the test). */
export async function kv(args: string[], env: Record<string, string> = {}, input?: string, timeoutMs = 30_000): Promise<Result> {
  const run = start(args, env, input);
  const timer = setTimeout(() => run.child.kill('SIGKILL'), timeoutMs);
  const result = await run.exited;
  clearTimeout(timer);
  if (result.code === null) throw new Error(`kv ${args.join(' ')} did not finish within ${timeoutMs} ms:\n${result.stdout}\n${result.stderr}`);
  return result;
}

/** Open watch streams on a server, from its metrics: how a test knows a watcher is listening before it writes. */
export async function watchStreams(url: string): Promise<number> {
  const text = await (await fetch(`${url}/metrics`)).text();
  return Number(/^kv_watch_streams (\d+)/m.exec(text)?.[1] ?? 0);
}

export const jsonLines = (text: string): Record<string, unknown>[] =>
  text
    .split('\n')
    .filter((l) => l !== '')
    .map((l) => JSON.parse(l) as Record<string, unknown>);

/** Writes pairs straight through the API (`POST /set`, with `query` such as `?ttl=60`), not through the CLI. */
export async function setPairs(url: string, pairs: Record<string, unknown>, token?: string, query = ''): Promise<void> {
  const res = await fetch(`${url}/set${query}`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json', ...(token && { Authorization: `Bearer ${token}` }) },
    body: JSON.stringify(pairs),
  });
  expect(res.status).toBe(200);
}
