import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import net from 'node:net';
import { freePort } from './free-port';

export interface RedisServer {
  readonly port: number;
  readonly url: string;
  /** The PID of the redis-server this helper started (it changes with restart). */
  readonly pid: number;
  /** Stops the server (SIGTERM to the PID this helper started) and waits for it to exit. */
  stop(): Promise<void>;
  /** Kills it (SIGKILL): nothing is saved. */
  kill(): Promise<void>;
  /** Starts it again on the same port (and the same data directory, when it has one). */
  restart(): Promise<void>;
  /** SIGSTOP / SIGCONT: it keeps its connections but answers nothing while paused. */
  pause(): void;
  resume(): void;
}

export interface RedisServerOptions {
  /** A data directory: with it, `SAVE` writes dump.rdb there and a restart loads it; `appendonly` keeps an AOF too. */
  readonly dir?: string;
  readonly appendonly?: boolean;
  /** More redis-server arguments, e.g. ['--maxmemory', '10mb']. */
  readonly args?: readonly string[];
}

function redisServerPath(): string {
  try {
    return execFileSync('sh', ['-c', 'command -v redis-server'], { encoding: 'utf8' }).trim();
  } catch {
    throw new Error('redis-server is not installed: the Redis tests need it (Debian: apt-get install redis-server; .ci/run installs it)');
  }
}

/** Resolves once a redis-server on `port` answers PING (a loading one answers LOADING first). */
export async function waitForPing(port: number, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const ok = await new Promise<boolean>((resolve) => {
      const socket = net.connect(port, '127.0.0.1');
      socket.once('error', () => resolve(false));
      socket.once('connect', () => socket.write('PING\r\n'));
      socket.once('data', (data) => {
        socket.destroy();
        resolve(data.toString().startsWith('+PONG'));
      });
    });
    if (ok) return;
    if (Date.now() > deadline) throw new Error(`redis-server on port ${port} did not answer within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/**
 * Starts a private redis-server on a free 127.0.0.1 port, without persistence unless `options` give it a data
 * directory. Tests never touch a Redis they did not start (a machine's own may listen on 6379).
 */
export async function startRedisServer(options: RedisServerOptions = {}): Promise<RedisServer> {
  const binary = redisServerPath();
  const port = await freePort();
  const persistence = options.dir
    ? ['--dir', options.dir, '--dbfilename', 'dump.rdb', '--save', '', '--appendonly', options.appendonly ? 'yes' : 'no']
    : ['--save', '', '--appendonly', 'no'];
  let child: ChildProcess;
  const launch = async () => {
    child = spawn(binary, ['--port', String(port), '--bind', '127.0.0.1', ...persistence, '--daemonize', 'no', ...(options.args ?? [])], { stdio: 'ignore' });
    await waitForPing(port, 20_000);
  };
  const ended = (signal: NodeJS.Signals) =>
    new Promise<void>((resolve) => {
      if (child.exitCode !== null || child.signalCode !== null) return resolve();
      child.once('exit', () => resolve());
      // A paused server must run again to act on a signal other than SIGKILL.
      if (signal !== 'SIGKILL') child.kill('SIGCONT');
      child.kill(signal);
    });
  await launch();
  return {
    port,
    url: `redis://127.0.0.1:${port}`,
    get pid() {
      return child.pid as number;
    },
    stop: () => ended('SIGTERM'),
    kill: () => ended('SIGKILL'),
    restart: launch,
    pause: () => void child.kill('SIGSTOP'),
    resume: () => void child.kill('SIGCONT'),
  };
}

/** A fresh key prefix, so every test (or app) gets its own keyspace on a shared test Redis. */
export const uniquePrefix = (): string => `t${randomUUID().slice(0, 8)}:`;

/** Calls and microseconds of each command since the last CONFIG RESETSTAT, by name, from `INFO commandstats`. */
export function commandStats(info: string): Map<string, { readonly calls: number; readonly usec: number }> {
  const stats = new Map<string, { readonly calls: number; readonly usec: number }>();
  for (const match of info.matchAll(/^cmdstat_([^:]+):calls=(\d+),usec=(\d+)/gm)) stats.set(match[1], { calls: Number(match[2]), usec: Number(match[3]) });
  return stats;
}
