import { type ChildProcess, execFile, execFileSync, spawn } from 'node:child_process';
import { freePort } from './free-port';

/** A Debian `prometheus` package binary (prometheus or promtool), or a clear error saying how to get it. */
export function prometheusBinary(name: 'prometheus' | 'promtool'): string {
  try {
    return execFileSync('sh', ['-c', `command -v ${name}`], { encoding: 'utf8' }).trim();
  } catch {
    throw new Error(`${name} is not installed: the monitoring tests need it (Debian: apt-get install prometheus, which brings promtool; .ci/run installs it)`);
  }
}

export interface ToolResult {
  readonly code: number;
  readonly output: string;
}

/** Runs promtool with `args` in `cwd`, with a bounded run time, and returns its exit code and output. */
export function promtool(args: string[], cwd: string): Promise<ToolResult> {
  return new Promise((resolve) => {
    execFile(prometheusBinary('promtool'), args, { cwd, timeout: 60_000, env: { PATH: process.env.PATH ?? '' } }, (error, stdout, stderr) =>
      resolve({ code: error ? (typeof error.code === 'number' ? error.code : 1) : 0, output: stdout + stderr }),
    );
  });
}

export interface PrometheusServer {
  /** e.g. http://127.0.0.1:41234 */
  readonly url: string;
  /** Runs an instant query through the HTTP API; throws when Prometheus answers an error. */
  query(expr: string): Promise<Array<{ metric: Record<string, string>; value: [number, string] }>>;
  /** Stops the server (SIGTERM to the PID this helper started) and waits for it. */
  stop(): Promise<void>;
}

/**
 * Starts a private Prometheus on a free 127.0.0.1 port with `config` (a prometheus.yml path) and its data in
 * `dataDir`, and waits until it is ready. Only this process is ever stopped, by its PID.
 */
export async function startPrometheus(config: string, dataDir: string, timeoutMs = 30_000): Promise<PrometheusServer> {
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  const child: ChildProcess = spawn(
    prometheusBinary('prometheus'),
    [`--config.file=${config}`, `--storage.tsdb.path=${dataDir}`, `--web.listen-address=127.0.0.1:${port}`, '--log.level=warn'],
    { stdio: ['ignore', 'ignore', 'pipe'], env: { PATH: process.env.PATH ?? '' } },
  );
  let log = '';
  child.stderr!.on('data', (chunk: Buffer) => (log = (log + chunk.toString()).slice(-8000)));
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const stop = async (): Promise<void> => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
    await exited;
  };
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`prometheus exited with ${child.exitCode}:\n${log}`);
    const ready = await fetch(`${url}/-/ready`).then((r) => r.ok, () => false);
    if (ready) break;
    if (Date.now() > deadline) {
      await stop();
      throw new Error(`prometheus was not ready within ${timeoutMs} ms:\n${log}`);
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  const query = async (expr: string) => {
    const res = await fetch(`${url}/api/v1/query?${new URLSearchParams({ query: expr })}`, { signal: AbortSignal.timeout(10_000) });
    const body = (await res.json()) as { status: string; error?: string; data?: { resultType: string; result: unknown } };
    if (body.status !== 'success') throw new Error(`query ${expr} failed: ${body.error ?? res.status}`);
    if (body.data!.resultType !== 'vector') throw new Error(`query ${expr} returned a ${body.data!.resultType}, not a vector`);
    return body.data!.result as Array<{ metric: Record<string, string>; value: [number, string] }>;
  };
  return { url, query, stop };
}
