import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Redis from 'ioredis';
import { freePort } from './free-port';

/**
 * Real Redis topologies for tests: a Sentinel set (primary, replicas, sentinels) or a Redis Cluster, every node a
 * `redis-server` this module spawned on a free 127.0.0.1 port, in a temporary directory of its own. Processes are
 * signalled only by the PIDs started here; a Redis on 6379 is never touched. A test file's `afterAll` closes whatever
 * a failed test left open.
 */

const HOST = '127.0.0.1';
/** A machine's own Redis may listen here: no node of ours ever uses it. */
const RESERVED_PORT = 6379;
/** Per command sent by the helper: a paused node must not hang a wait, it must count as "not yet". */
const COMMAND_TIMEOUT_MS = 1000;
/** Redis 7 lets a primary wait up to `shutdown-timeout` (10 s) for lagging replicas on SIGTERM. */
const STOP_TIMEOUT_MS = 15_000;
const DEFAULT_START_TIMEOUT_MS = 30_000;
const DEFAULT_FAILOVER_TIMEOUT_MS = 30_000;
const POLL_INTERVAL_MS = 100;
/** DEL of a key that does not exist is a write command with no effect: a replica answers READONLY, a node that does
 * not serve the slot MOVED, a cluster that is down CLUSTERDOWN, a writable primary 0. Nothing is replicated. */
const PROBE_PREFIX = 'kv-store:redis-topology:probe';

export type NodeRole = 'master' | 'slave' | 'sentinel';
/** What the helper knows of the process: `paused` after pause() until resume(), `exited` once it has ended. */
export type NodeState = 'running' | 'paused' | 'exited';

/** One redis-server (or sentinel) process this helper started. */
export interface TopologyNode {
  /** `primary`, `replica-1`, `sentinel-2`, `node-3`…: also the name of its directory in the topology's. */
  readonly name: string;
  readonly host: string;
  readonly port: number;
  /** `127.0.0.1:<port>` */
  readonly address: string;
  readonly pid: number;
  readonly logFile: string;
  readonly state: NodeState;
  /** The first element of ROLE: `master`, `slave` or `sentinel`. */
  role(): Promise<NodeRole>;
  /** INFO `section` (all sections without one) as field → value. */
  info(section?: string): Promise<Record<string, string>>;
  /** One command on a fresh connection (1 s timeout): errors such as READONLY or MOVED reject. */
  call(command: string, ...args: (string | number)[]): Promise<unknown>;
  /** SIGKILL, and waits for the exit: nothing is saved, clients see their connections reset. */
  kill(): Promise<void>;
  /** SIGTERM (after SIGCONT if paused), and waits up to 15 s for the exit; then SIGKILL and an error. */
  stop(): Promise<void>;
  /** SIGSTOP: the kernel still accepts connections and buffers data, the server answers nothing. */
  pause(): void;
  /** SIGCONT */
  resume(): void;
  /**
   * On a primary: CLIENT KILL TYPE replica; resolves with the number of replica links cut. A paused replica still
   * receives the primary's stream into its socket buffer and applies it once resumed; a cut link is what makes
   * writes after the cut really lost if this primary then dies.
   */
  cutReplicas(): Promise<number>;
}

/** A node of a Redis Cluster. */
export interface ClusterNode extends TopologyNode {
  /** CLUSTER MYID */
  readonly id: string;
  /** Its cluster bus port (`--cluster-port`), also a free port of its own. */
  readonly busPort: number;
}

export interface SentinelSetOptions {
  readonly replicas: number;
  readonly sentinels: number;
  /** `sentinel down-after-milliseconds`; 1000 caused double failovers on a busy 2-core machine. Default 2000. */
  readonly downAfterMs?: number;
  /** `sentinel failover-timeout`. Default 10000. */
  readonly failoverTimeoutMs?: number;
  /** Sentinels that must agree the primary is down. Default: a majority of `sentinels`. */
  readonly quorum?: number;
  /** The master group's name. Default `kvstore`. */
  readonly name?: string;
  /** Bound on start-up, until every replica is in sync and every sentinel knows the whole set. Default 30000. */
  readonly startTimeoutMs?: number;
}

/** A primary, its replicas and the sentinels that monitor them. */
export interface SentinelSet {
  /** The master group's name, for `new Redis({ sentinels, name })`. */
  readonly name: string;
  readonly dir: string;
  /** The data nodes: `nodes[0]` was started as the primary, the others as its replicas. */
  readonly nodes: readonly TopologyNode[];
  readonly sentinels: readonly TopologyNode[];
  /** `127.0.0.1:<port>` of every sentinel. */
  readonly sentinelAddresses: readonly string[];
  /** The same as `{ host, port }`, the shape ioredis takes in `sentinels`. */
  readonly sentinelEndpoints: ReadonlyArray<{ host: string; port: number }>;
  /** How long start-up took, in ms. */
  readonly startupMs: number;
  /** The node (data node or sentinel) on `port`; throws for a port this set does not own. */
  node(port: number): TopologyNode;
  /** The primary the first answering sentinel names (SENTINEL GET-MASTER-ADDR-BY-NAME). */
  currentPrimary(): Promise<TopologyNode>;
  /**
   * Resolves with the new primary once every running sentinel names the same node other than `fromPort`, that node
   * reports ROLE master and accepts a write command. Rejects after `timeoutMs` with what was last seen.
   */
  waitForFailover(fromPort: number, timeoutMs?: number): Promise<TopologyNode>;
  /** SIGKILLs every process still running (paused ones too), waits for every exit, removes `dir`. Idempotent. */
  close(): Promise<void>;
}

export interface ClusterOptions {
  readonly primaries: number;
  readonly replicasPerPrimary: number;
  /** `cluster-node-timeout`. Default 2000. */
  readonly nodeTimeoutMs?: number;
  /** Bound on start-up, until every node reports cluster_state:ok and agrees on the shards. Default 30000. */
  readonly startTimeoutMs?: number;
}

/** A Redis Cluster made with `redis-cli --cluster create`. */
export interface RedisCluster {
  readonly dir: string;
  readonly nodes: readonly ClusterNode[];
  /** `127.0.0.1:<port>` of every node, for `new Cluster(seeds)`. */
  readonly seeds: readonly string[];
  readonly startupMs: number;
  node(port: number): ClusterNode;
  /** CLUSTER KEYSLOT, asked of a running node. */
  slotOfKey(key: string): Promise<number>;
  /** The online primary serving `slot` in the first running node's CLUSTER SHARDS; throws if there is none. */
  ownerOfSlot(slot: number): Promise<ClusterNode>;
  ownerOfKey(key: string): Promise<ClusterNode>;
  /** The primary of `slot`, as ownerOfSlot. */
  currentPrimary(slot: number): Promise<ClusterNode>;
  /**
   * Resolves with the node that took over the slots of the node on `fromPort`, once every other running node agrees
   * on it, reports cluster_state:ok, and it accepts a write command for one of those slots.
   */
  waitForFailover(fromPort: number, timeoutMs?: number): Promise<ClusterNode>;
  close(): Promise<void>;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

const message = (error: unknown) => (error instanceof Error ? error.message : String(error));

/** Runs `use` on a fresh connection to 127.0.0.1:`port` that gives up rather than retries or queues. */
async function withClient<T>(port: number, use: (client: Redis) => Promise<T>): Promise<T> {
  const client = new Redis({
    host: HOST,
    port,
    lazyConnect: true,
    enableReadyCheck: false,
    enableOfflineQueue: false,
    maxRetriesPerRequest: 0,
    retryStrategy: () => null,
    connectTimeout: COMMAND_TIMEOUT_MS,
    commandTimeout: COMMAND_TIMEOUT_MS,
  });
  // Failures reach the caller through the rejected promise; the event would only be reported as unhandled.
  client.on('error', () => undefined);
  try {
    await client.connect();
    return await use(client);
  } finally {
    // Disconnecting an ended client would only arm a timer waiting for a 'close' that already happened.
    if (client.status !== 'end') client.disconnect();
  }
}

const ask = (port: number, command: string, args: (string | number)[] = []) => withClient(port, (client) => client.call(command, args));

function parseInfo(text: unknown): Record<string, string> {
  const fields: Record<string, string> = {};
  for (const line of String(text).split('\r\n')) {
    const colon = line.indexOf(':');
    if (colon > 0 && !line.startsWith('#')) fields[line.slice(0, colon)] = line.slice(colon + 1);
  }
  return fields;
}

/** A flat RESP array [name, value, name, value, …] (SENTINEL MASTER, CLUSTER SHARDS) as an object. */
function pairs(reply: unknown): Record<string, unknown> {
  if (!Array.isArray(reply) || reply.length % 2 !== 0) throw new Error(`expected a flat list of name/value pairs, got ${JSON.stringify(reply)}`);
  const out: Record<string, unknown> = {};
  for (let i = 0; i < reply.length; i += 2) out[String(reply[i])] = reply[i + 1];
  return out;
}

function list(reply: unknown): unknown[] {
  if (!Array.isArray(reply)) throw new Error(`expected a list, got ${JSON.stringify(reply)}`);
  return reply;
}

/**
 * Calls `attempt` until it resolves; it throws to say "not yet" and why. At `deadline` the last reason is the error,
 * so a failed wait says what it was waiting for and what it saw.
 */
async function poll<T>(what: string, deadline: number, attempt: () => Promise<T>): Promise<T> {
  let last = 'nothing was checked';
  for (;;) {
    try {
      return await attempt();
    } catch (error) {
      last = message(error);
    }
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}; last seen: ${last}`);
    await sleep(POLL_INTERVAL_MS);
  }
}

function checkCount(what: string, value: number, min: number): void {
  if (!Number.isInteger(value) || value < min) throw new Error(`${what} must be an integer >= ${min}, got ${value}`);
}

function logTail(file: string, lines = 30): string {
  if (!existsSync(file)) return `(no log at ${file})`;
  return readFileSync(file, 'utf8').trimEnd().split('\n').slice(-lines).join('\n');
}

/** Ports handed out in this test file: freePort() may offer a port again before the first taker has bound it. */
const handedOut = new Set<number>();

async function allocatePort(): Promise<number> {
  for (let tries = 0; tries < 100; tries++) {
    const port = await freePort();
    if (port !== RESERVED_PORT && !handedOut.has(port)) {
      handedOut.add(port);
      return port;
    }
  }
  throw new Error('found no free 127.0.0.1 port in 100 tries');
}

/** A spawned process and what became of it. */
class Proc {
  readonly exited: Promise<void>;
  paused = false;
  spawnError?: Error;

  constructor(readonly child: ChildProcess) {
    this.exited = new Promise((resolve) => {
      child.once('exit', () => resolve());
      // 'error' also reports a failed signal (so: on, not once); only a process that never started has no PID.
      child.on('error', (error) => {
        if (child.pid !== undefined) return;
        this.spawnError = error;
        resolve();
      });
    });
  }

  get done(): boolean {
    return this.child.exitCode !== null || this.child.signalCode !== null || this.spawnError !== undefined;
  }
}

class Node implements ClusterNode {
  readonly host = HOST;
  id = '';
  busPort = 0;

  constructor(
    readonly name: string,
    readonly port: number,
    readonly logFile: string,
    private readonly proc: Proc,
  ) {}

  get address(): string {
    return `${HOST}:${this.port}`;
  }

  get pid(): number {
    return this.proc.child.pid as number;
  }

  get state(): NodeState {
    if (this.proc.done) return 'exited';
    return this.proc.paused ? 'paused' : 'running';
  }

  call(command: string, ...args: (string | number)[]): Promise<unknown> {
    return ask(this.port, command, args);
  }

  async info(section?: string): Promise<Record<string, string>> {
    return parseInfo(await this.call('INFO', ...(section === undefined ? [] : [section])));
  }

  async role(): Promise<NodeRole> {
    const role = String(list(await this.call('ROLE'))[0]);
    if (role !== 'master' && role !== 'slave' && role !== 'sentinel') throw new Error(`${this.name}: unknown ROLE ${role}`);
    return role;
  }

  async kill(): Promise<void> {
    if (!this.proc.done) this.proc.child.kill('SIGKILL');
    await this.proc.exited;
  }

  async stop(): Promise<void> {
    if (this.proc.done) return;
    // A stopped process acts on SIGTERM only once it runs again.
    this.resume();
    this.proc.child.kill('SIGTERM');
    let timer: NodeJS.Timeout | undefined;
    const late = await Promise.race([this.proc.exited.then(() => false), new Promise<boolean>((resolve) => (timer = setTimeout(() => resolve(true), STOP_TIMEOUT_MS)))]);
    clearTimeout(timer);
    if (late) {
      await this.kill();
      throw new Error(`${this.name} (pid ${this.pid}) did not exit within ${STOP_TIMEOUT_MS} ms of SIGTERM; it was SIGKILLed:\n${logTail(this.logFile)}`);
    }
  }

  pause(): void {
    if (this.proc.done) throw new Error(`${this.name} (pid ${this.pid}) has exited: it cannot be paused`);
    this.proc.child.kill('SIGSTOP');
    this.proc.paused = true;
  }

  resume(): void {
    if (this.proc.done) throw new Error(`${this.name} (pid ${this.pid}) has exited: it cannot be resumed`);
    this.proc.child.kill('SIGCONT');
    this.proc.paused = false;
  }

  async cutReplicas(): Promise<number> {
    const role = await this.role();
    if (role !== 'master') throw new Error(`${this.name} is a ${role}, not a primary: it has no replica links to cut`);
    return Number(await this.call('CLIENT', 'KILL', 'TYPE', 'replica'));
  }
}

/** Where a node's files go, and the ports it was given. */
interface Placement {
  readonly port: number;
  readonly busPort: number;
  readonly dir: string;
  readonly logFile: string;
}

/** The processes and directory of one topology. */
class Processes {
  readonly dir: string;
  private readonly procs: Proc[] = [];
  closed = false;
  private closing?: Promise<void>;

  constructor(kind: string) {
    this.dir = mkdtempSync(join(tmpdir(), `kv-redis-${kind}-`));
    open.add(this);
  }

  /**
   * Starts a redis-server with the arguments `build` gives for its placement and resolves once it answers on its
   * port with its own PID (a port taken in the meantime by someone else's server is not mistaken for ours). A server
   * that could not bind its port is tried again on other ports.
   */
  async start(name: string, build: (at: Placement) => string[], deadline: number, withBus = false): Promise<Node> {
    const failures: string[] = [];
    for (let attempt = 1; attempt <= 3; attempt++) {
      if (this.closed) throw new Error(`${name}: the topology was closed while it was starting`);
      const dir = join(this.dir, name);
      mkdirSync(dir, { recursive: true });
      const at: Placement = { port: await allocatePort(), busPort: withBus ? await allocatePort() : 0, dir, logFile: join(dir, 'redis.log') };
      const proc = this.track(spawn('redis-server', build(at), { stdio: 'ignore' }));
      const node = new Node(name, at.port, at.logFile, proc);
      node.busPort = at.busPort;
      const outcome = await this.serving(node, proc, deadline);
      if (outcome === undefined) return node;
      failures.push(`port ${at.port}: ${outcome}\n${logTail(at.logFile, 10)}`);
    }
    throw new Error(`${name} did not start in 3 attempts:\n${failures.join('\n')}`);
  }

  /** Every child, redis-cli included, so that close() ends it. */
  track(child: ChildProcess): Proc {
    const proc = new Proc(child);
    this.procs.push(proc);
    running.add(proc);
    void proc.exited.then(() => running.delete(proc));
    return proc;
  }

  private async serving(node: Node, proc: Proc, deadline: number): Promise<string | undefined> {
    for (;;) {
      if (proc.spawnError) {
        const missing = (proc.spawnError as NodeJS.ErrnoException).code === 'ENOENT';
        throw new Error(missing ? 'redis-server is not installed: the Redis tests need it (Debian: apt-get install redis-server; .ci/run installs it)' : `redis-server did not spawn: ${proc.spawnError.message}`);
      }
      if (proc.done) return 'it exited';
      try {
        const pid = Number(parseInfo(await ask(node.port, 'INFO', ['server'])).process_id);
        if (pid === proc.child.pid) return undefined;
        await node.kill();
        return `another process (pid ${pid}) answers on this port`;
      } catch {
        // Not listening yet (or still loading): try again.
      }
      if (Date.now() > deadline) {
        await node.kill();
        throw new Error(`${node.name} did not answer on ${node.address} in time:\n${logTail(node.logFile)}`);
      }
      await sleep(50);
    }
  }

  close(): Promise<void> {
    this.closing ??= (async () => {
      this.closed = true;
      // SIGKILL ends a stopped (paused) process too.
      await Promise.all(
        this.procs.map((proc) => {
          if (!proc.done) proc.child.kill('SIGKILL');
          return proc.exited;
        }),
      );
      rmSync(this.dir, { recursive: true, force: true });
      open.delete(this);
    })();
    return this.closing;
  }
}

/** Topologies of this test file not closed yet, and processes not exited yet. */
const open = new Set<Processes>();
const running = new Set<Proc>();

// A hook that timed out mid-start, or a test that failed before its close(), would leave processes that keep Jest
// from exiting. Jest evaluates this module once per test file, so each file cleans up after itself.
if (typeof afterAll === 'function') {
  afterAll(async () => {
    await Promise.all([...open].map((topology) => topology.close()));
    const left = [...running];
    for (const proc of left) proc.child.kill('SIGKILL');
    await Promise.all(left.map((proc) => proc.exited));
  });
}

/** Arguments every data node gets: loopback, no persistence, its own directory and log, no delay before a full sync. */
function dataNodeArgs(at: Placement): string[] {
  return [
    '--port', String(at.port), '--bind', HOST, '--daemonize', 'no', '--dir', at.dir, '--logfile', at.logFile,
    '--save', '', '--appendonly', 'no',
    // Redis 7.0 waits 5 s for more replicas before a diskless full sync; alone that would dominate every start-up.
    '--repl-diskless-sync-delay', '0',
  ];
}

function ownedNode<T extends TopologyNode>(nodes: readonly T[], port: number): T {
  const node = nodes.find((n) => n.port === port);
  if (!node) throw new Error(`no node of this topology listens on port ${port} (it has ${nodes.map((n) => n.port).join(', ')})`);
  return node;
}

async function linkUp(replica: TopologyNode): Promise<void> {
  const link = (await replica.info('replication')).master_link_status;
  if (link !== 'up') throw new Error(`${replica.name} (${replica.address}) reports master_link_status:${link}`);
}

function range(count: number): number[] {
  return Array.from({ length: count }, (_, i) => i);
}

/** What both topologies share: their directory, and closing every process they started. */
abstract class Topology {
  readonly dir: string;

  constructor(private readonly processes: Processes) {
    this.dir = processes.dir;
  }

  close(): Promise<void> {
    return this.processes.close();
  }
}

/** A start-up that fails leaves nothing behind: what it started is ended before the error reaches the caller. */
async function closedOnFailure<T>(processes: Processes, start: () => Promise<T>): Promise<T> {
  try {
    return await start();
  } catch (error) {
    await processes.close();
    throw error;
  }
}

/**
 * Starts a primary, `replicas` replicas of it and `sentinels` sentinels monitoring it, and resolves once every
 * replica is in sync and every sentinel knows the primary, every replica and every other sentinel.
 */
export async function startSentinelSet(options: SentinelSetOptions): Promise<SentinelSet> {
  checkCount('replicas', options.replicas, 0);
  checkCount('sentinels', options.sentinels, 1);
  const name = options.name ?? 'kvstore';
  const quorum = options.quorum ?? Math.floor(options.sentinels / 2) + 1;
  checkCount('quorum', quorum, 1);
  const started = Date.now();
  const deadline = started + (options.startTimeoutMs ?? DEFAULT_START_TIMEOUT_MS);
  const processes = new Processes('sentinel');
  return closedOnFailure(processes, async () => {
    const primary = await processes.start('primary', dataNodeArgs, deadline);
    const replicas = await Promise.all(
      range(options.replicas).map((i) => processes.start(`replica-${i + 1}`, (at) => [...dataNodeArgs(at), '--replicaof', HOST, String(primary.port)], deadline)),
    );
    await poll('every replica to be in sync', deadline, async () => {
      for (const replica of replicas) await linkUp(replica);
    });
    const sentinelConfig = (at: Placement) => {
      // Sentinel rewrites its configuration file as it learns: each one needs its own, writable.
      const file = join(at.dir, 'sentinel.conf');
      writeFileSync(
        file,
        [
          `port ${at.port}`, `bind ${HOST}`, 'daemonize no', `dir ${at.dir}`, `logfile ${at.logFile}`,
          `sentinel monitor ${name} ${HOST} ${primary.port} ${quorum}`,
          `sentinel down-after-milliseconds ${name} ${options.downAfterMs ?? 2000}`,
          `sentinel failover-timeout ${name} ${options.failoverTimeoutMs ?? 10_000}`,
          `sentinel parallel-syncs ${name} 1`,
          '',
        ].join('\n'),
      );
      return [file, '--sentinel'];
    };
    const sentinels = await Promise.all(range(options.sentinels).map((i) => processes.start(`sentinel-${i + 1}`, sentinelConfig, deadline)));
    const replicaPorts = replicas.map((r) => r.port).sort((a, b) => a - b).join(',');
    await poll('every sentinel to know the primary, its replicas and the other sentinels', deadline, async () => {
      for (const sentinel of sentinels) {
        const master = pairs(await sentinel.call('SENTINEL', 'MASTER', name));
        if (master.flags !== 'master' || Number(master.port) !== primary.port) throw new Error(`${sentinel.name} sees the master as ${JSON.stringify(master)}`);
        const known = list(await sentinel.call('SENTINEL', 'REPLICAS', name)).map(pairs);
        const healthy = known.filter((r) => r.flags === 'slave' && r['master-link-status'] === 'ok').map((r) => Number(r.port));
        if (healthy.sort((a, b) => a - b).join(',') !== replicaPorts) throw new Error(`${sentinel.name} knows healthy replicas [${healthy.join(',')}], expected [${replicaPorts}]`);
        const peers = list(await sentinel.call('SENTINEL', 'SENTINELS', name)).map(pairs).filter((s) => s.flags === 'sentinel');
        if (peers.length !== sentinels.length - 1) throw new Error(`${sentinel.name} knows ${peers.length} other sentinels, expected ${sentinels.length - 1}`);
      }
    });
    return new SentinelSetTopology(name, processes, [primary, ...replicas], sentinels, Date.now() - started);
  });
}

class SentinelSetTopology extends Topology implements SentinelSet {
  readonly sentinelAddresses: readonly string[];
  readonly sentinelEndpoints: ReadonlyArray<{ host: string; port: number }>;

  constructor(
    readonly name: string,
    processes: Processes,
    readonly nodes: readonly TopologyNode[],
    readonly sentinels: readonly TopologyNode[],
    readonly startupMs: number,
  ) {
    super(processes);
    this.sentinelAddresses = sentinels.map((s) => s.address);
    this.sentinelEndpoints = sentinels.map((s) => ({ host: s.host, port: s.port }));
  }

  node(port: number): TopologyNode {
    return ownedNode([...this.nodes, ...this.sentinels], port);
  }

  private async primaryPortFrom(sentinel: TopologyNode): Promise<number> {
    const address = list(await sentinel.call('SENTINEL', 'GET-MASTER-ADDR-BY-NAME', this.name));
    return Number(address[1]);
  }

  async currentPrimary(): Promise<TopologyNode> {
    const errors: string[] = [];
    for (const sentinel of this.sentinels.filter((s) => s.state === 'running')) {
      try {
        return ownedNode(this.nodes, await this.primaryPortFrom(sentinel));
      } catch (error) {
        errors.push(`${sentinel.name}: ${message(error)}`);
      }
    }
    throw new Error(`no running sentinel named a primary of this set: ${errors.join('; ') || 'none is running'}`);
  }

  waitForFailover(fromPort: number, timeoutMs = DEFAULT_FAILOVER_TIMEOUT_MS): Promise<TopologyNode> {
    return poll(`the sentinels to replace the primary on port ${fromPort}`, Date.now() + timeoutMs, async () => {
      const live = this.sentinels.filter((s) => s.state === 'running');
      const named = await Promise.all(live.map((s) => this.primaryPortFrom(s).then((port) => `${s.name}:${port}`, (error: unknown) => `${s.name}:(${message(error)})`)));
      const ports = new Set(named.map((n) => n.slice(n.indexOf(':') + 1)));
      if (ports.size !== 1) throw new Error(`the sentinels do not agree: ${named.join(', ')}`);
      const port = Number([...ports][0]);
      if (port === fromPort || !Number.isInteger(port)) throw new Error(`the sentinels name ${named.join(', ')}`);
      const next = ownedNode(this.nodes, port);
      const role = await next.role();
      if (role !== 'master') throw new Error(`the sentinels name ${next.name} (${next.address}), which is still a ${role}`);
      await next.call('DEL', PROBE_PREFIX);
      return next;
    });
  }
}

/** One shard as CLUSTER SHARDS reports it. */
interface Shard {
  readonly ranges: Array<[number, number]>;
  readonly nodes: Array<{ id: string; port: number; role: string; health: string }>;
}

async function clusterShards(node: TopologyNode): Promise<Shard[]> {
  return list(await node.call('CLUSTER', 'SHARDS')).map((raw) => {
    const shard = pairs(raw);
    const slots = list(shard.slots).map(Number);
    const ranges: Array<[number, number]> = [];
    for (let i = 0; i < slots.length; i += 2) ranges.push([slots[i], slots[i + 1]]);
    const nodes = list(shard.nodes)
      .map(pairs)
      .map((n) => ({ id: String(n.id), port: Number(n.port), role: String(n.role), health: String(n.health) }));
    return { ranges, nodes };
  });
}

const inRanges = (ranges: Array<[number, number]>, slot: number) => ranges.some(([from, to]) => slot >= from && slot <= to);
const onlinePrimary = (shard: Shard) => shard.nodes.find((n) => n.role === 'master' && n.health === 'online');

async function clusterState(node: TopologyNode): Promise<string> {
  return parseInfo(await node.call('CLUSTER', 'INFO')).cluster_state;
}

/** The command that made the cluster ran with its output kept, so a failure shows it. */
function redisCli(processes: Processes, args: string[], timeoutMs: number): Promise<string> {
  if (processes.closed) return Promise.reject(new Error('the topology was closed while it was starting'));
  return new Promise((resolve, reject) => {
    const child = execFile('redis-cli', args, { timeout: Math.max(timeoutMs, 1), encoding: 'utf8' }, (error, stdout, stderr) => {
      if (!error) return resolve(stdout);
      const missing = (error as NodeJS.ErrnoException).code === 'ENOENT';
      reject(new Error(missing ? 'redis-cli is not installed (Debian: apt-get install redis-tools)' : `redis-cli ${args.join(' ')} failed: ${error.message}\n${stdout}\n${stderr}`));
    });
    processes.track(child);
  });
}

/**
 * Starts `primaries × (1 + replicasPerPrimary)` cluster-enabled nodes, joins them with `redis-cli --cluster create`,
 * and resolves once every node reports cluster_state:ok, every node sees the same shards (each an online primary and
 * its replicas, none failed), and every replica's link to its primary is up.
 */
export async function startCluster(options: ClusterOptions): Promise<RedisCluster> {
  checkCount('primaries', options.primaries, 3); // redis-cli --cluster create refuses fewer
  checkCount('replicasPerPrimary', options.replicasPerPrimary, 0);
  const nodeTimeoutMs = options.nodeTimeoutMs ?? 2000;
  checkCount('nodeTimeoutMs', nodeTimeoutMs, 1);
  const started = Date.now();
  const deadline = started + (options.startTimeoutMs ?? DEFAULT_START_TIMEOUT_MS);
  const processes = new Processes('cluster');
  return closedOnFailure(processes, async () => {
    const clusterArgs = (at: Placement) => [
      ...dataNodeArgs(at),
      '--cluster-enabled', 'yes', '--cluster-config-file', join(at.dir, 'nodes.conf'),
      '--cluster-node-timeout', String(nodeTimeoutMs),
      // The default bus port is port + 10000, which nobody checked was free.
      '--cluster-port', String(at.busPort),
    ];
    const total = options.primaries * (1 + options.replicasPerPrimary);
    const nodes = await Promise.all(range(total).map((i) => processes.start(`node-${i + 1}`, clusterArgs, deadline, true)));
    for (const node of nodes) node.id = String(await node.call('CLUSTER', 'MYID'));
    await redisCli(processes, ['--cluster', 'create', ...nodes.map((n) => n.address), '--cluster-replicas', String(options.replicasPerPrimary), '--cluster-yes'], deadline - Date.now());
    const shards = await poll('every node to report cluster_state:ok and the same shards, every replica in sync', deadline, async () => {
      const views = await Promise.all(
        nodes.map(async (node) => {
          const state = await clusterState(node);
          if (state !== 'ok') throw new Error(`${node.name} reports cluster_state:${state}`);
          const shards = await clusterShards(node);
          if (shards.length !== options.primaries) throw new Error(`${node.name} sees ${shards.length} shards`);
          for (const shard of shards) {
            // A replica shows as "loading" to the others until its replication offset leaves 0, which can wait for the
            // primary's first replication ping (10 s): its own INFO (below) is what says it is in sync.
            const members = shard.nodes.filter((n) => n.health !== 'fail');
            if (!onlinePrimary(shard) || members.length !== 1 + options.replicasPerPrimary) throw new Error(`${node.name} sees the shard ${JSON.stringify(shard)}`);
          }
          return shards;
        }),
      );
      const agreed = views.map((shards) => JSON.stringify(shards.map((s) => [s.ranges, s.nodes.map((n) => `${n.role}:${n.id}`).sort()]).sort()));
      if (new Set(agreed).size !== 1) throw new Error(`the nodes do not agree on the shards: ${agreed.join(' | ')}`);
      for (const node of nodes) if ((await node.role()) === 'slave') await linkUp(node);
      return views[0];
    });
    const slotsOf = new Map(shards.map((s) => [onlinePrimary(s)!.id, s.ranges]));
    return new ClusterTopology(processes, nodes, slotsOf, Date.now() - started);
  });
}

class ClusterTopology extends Topology implements RedisCluster {
  readonly seeds: readonly string[];
  /** A key in each primary's slots, found with CLUSTER KEYSLOT. */
  private readonly probes = new Map<string, string>();

  constructor(
    processes: Processes,
    readonly nodes: readonly ClusterNode[],
    /**
     * The slot ranges of each primary, by node id: slots move only by failover here (no resharding), and a primary
     * that failed no longer lists its former slots (CLUSTER SHARDS in 7.0 shows it as a shard without slots).
     */
    private readonly slotsOf: Map<string, Array<[number, number]>>,
    readonly startupMs: number,
  ) {
    super(processes);
    this.seeds = nodes.map((n) => n.address);
  }

  node(port: number): ClusterNode {
    return ownedNode(this.nodes, port);
  }

  private byId(id: string): ClusterNode {
    const node = this.nodes.find((n) => n.id === id);
    if (!node) throw new Error(`no node of this cluster has the id ${id}`);
    return node;
  }

  /** Asks the running nodes in turn, until one answers. */
  private async ask<T>(what: string, question: (node: ClusterNode) => Promise<T>): Promise<T> {
    const errors: string[] = [];
    for (const node of this.nodes.filter((n) => n.state === 'running')) {
      try {
        return await question(node);
      } catch (error) {
        errors.push(`${node.name}: ${message(error)}`);
      }
    }
    throw new Error(`no running node answered ${what}: ${errors.join('; ') || 'none is running'}`);
  }

  async slotOfKey(key: string): Promise<number> {
    return Number(await this.ask('CLUSTER KEYSLOT', (node) => node.call('CLUSTER', 'KEYSLOT', key)));
  }

  async ownerOfSlot(slot: number): Promise<ClusterNode> {
    if (!Number.isInteger(slot) || slot < 0 || slot > 16383) throw new Error(`a slot is an integer in 0..16383, got ${slot}`);
    const shards = await this.ask('CLUSTER SHARDS', clusterShards);
    const owner = shards.filter((s) => inRanges(s.ranges, slot)).map(onlinePrimary)[0];
    if (!owner) throw new Error(`no online primary serves slot ${slot}: ${JSON.stringify(shards)}`);
    return this.byId(owner.id);
  }

  async ownerOfKey(key: string): Promise<ClusterNode> {
    return this.ownerOfSlot(await this.slotOfKey(key));
  }

  currentPrimary(slot: number): Promise<ClusterNode> {
    return this.ownerOfSlot(slot);
  }

  private async probeKey(ranges: Array<[number, number]>): Promise<string> {
    const id = JSON.stringify(ranges);
    const known = this.probes.get(id);
    if (known) return known;
    const candidates = range(1000).map((i) => `${PROBE_PREFIX}:{${i}}`);
    const slots = await this.ask('CLUSTER KEYSLOT', (node) =>
      withClient(node.port, async (client) => {
        const pipeline = client.pipeline();
        for (const key of candidates) pipeline.call('CLUSTER', ['KEYSLOT', key]);
        return ((await pipeline.exec()) ?? []).map(([error, slot]) => (error ? -1 : Number(slot)));
      }),
    );
    const key = candidates.find((_, i) => inRanges(ranges, slots[i]));
    if (!key) throw new Error(`none of ${candidates.length} probe keys falls in the slots ${id}`);
    this.probes.set(id, key);
    return key;
  }

  waitForFailover(fromPort: number, timeoutMs = DEFAULT_FAILOVER_TIMEOUT_MS): Promise<ClusterNode> {
    const from = this.node(fromPort);
    const ranges = this.slotsOf.get(from.id);
    if (!ranges) return Promise.reject(new Error(`${from.name} (${from.address}) serves no slots: only a primary's slots can fail over`));
    const slot = ranges[0][0];
    return poll(`a replica to take over the slots of ${from.name} (${from.address})`, Date.now() + timeoutMs, async () => {
      const others = this.nodes.filter((n) => n !== from && n.state === 'running');
      const views = await Promise.all(
        others.map(async (node) => {
          const state = await clusterState(node);
          const shard = (await clusterShards(node)).find((s) => inRanges(s.ranges, slot));
          return { node, state, primary: shard && onlinePrimary(shard)?.id };
        }),
      );
      const ids = new Set(views.map((v) => v.primary));
      const id = views[0]?.primary;
      if (id === undefined || id === from.id || ids.size !== 1 || views.some((v) => v.state !== 'ok')) {
        const name = (nodeId?: string) => (nodeId ? (this.nodes.find((n) => n.id === nodeId)?.name ?? nodeId) : 'none');
        throw new Error(views.map((v) => `${v.node.name}: cluster_state:${v.state}, primary of slot ${slot} ${name(v.primary)}`).join('; ') || 'no other node is running');
      }
      const next = this.byId(id);
      await next.call('DEL', await this.probeKey(ranges));
      this.slotsOf.delete(from.id);
      this.slotsOf.set(next.id, ranges);
      return next;
    });
  }
}
