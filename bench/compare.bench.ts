/**
 * The service against its ceilings (a script, not a test): `npm run bench`.
 *
 * Starts, in one run: the built service (dist/main.js) with its defaults on the memory driver (LOG_LEVEL=info,
 * its request log drained from a pipe as a log collector would), the same with LOG_LEVEL=warn, the service on
 * the redis driver (a private redis-server on a free port, when one is installed), and three reference servers
 * that serve the same two seed routes from a Map: a bare NestJS application (bench/reference/nest.cjs, the ceiling
 * of the framework the service is built on), plain Express 5 with express.json() (bench/reference/express.cjs,
 * the ceiling of the platform Nest runs on) and bare node:http (bench/reference/node-http.cjs, the ceiling of
 * Node itself). Their answers are checked to be the same as the service's first.
 *
 * Every server is preloaded with 100,000 keys, then driven by wrk (one thread, 50 connections; a warm-up, then a
 * measured run) in a separate process, the servers (and redis-server) pinned to CPU 1 and the load generator and
 * this script to CPU 0 where `taskset` exists:
 * - GET /get/:key over the preloaded keys (every server), and GET /search?prefix= (~111 of the 100,000 keys per
 *   query; the services only), in the same rounds, so search is compared with the service's own GET;
 * - then POST /set of one new pair per request (every server).
 * Rounds alternate between servers (the order rotates every round) so machine drift hits all alike; the figures
 * are medians over rounds. Prints and writes bench/results/<date>.json and bench/results/<date>.md.
 *
 * Settings (`--name=value` or BENCH_<NAME>): seconds (10) per measurement, warmup (3) seconds before each,
 * rounds (3), connections (50), keys (100000), servers (service,service-warn,service-redis,nest,express,node), and
 * alt-main: the dist/main.js of another build (a prototype, a baseline) to run as one more server, `service-alt`;
 * alt-node-flags: Node options for `service-alt` (space-separated; without alt-main, it runs this build with them);
 * alt-driver (memory): `redis` runs service-alt on the redis driver, on the same redis-server as service-redis (its
 * own key prefix), so two builds of the redis driver are compared in the same rounds.
 * Every service starts with the options package.json's start script gives it (START_NODE_ARGS), service-alt too, then
 * service-alt's own: the last of a repeated V8 option wins.
 * A quick run: `npm run bench -- --seconds=2 --warmup=1 --rounds=1`.
 */
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import { join } from 'node:path';
import { startRedisServer, uniquePrefix, type RedisServer } from '../test/helpers/redis-server';
import { START_NODE_ARGS, startServerProcess } from '../test/helpers/server-process';
import {
  canPin,
  childPids,
  LOADGEN_CPU,
  type Measurement,
  measure,
  median,
  pin,
  SERVER_CPU,
  setting,
  settingText,
  settingWords,
  startScript,
  stopChild,
  type ChildServer,
  today,
  writeResult,
} from './lib/harness';
import { keyName, preload, type Scenario } from './lib/scenarios';

const SECONDS = setting('seconds', 10);
const WARMUP = setting('warmup', 3);
const ROUNDS = setting('rounds', 3);
const CONNECTIONS = setting('connections', 50);
const KEYS = setting('keys', 100_000);
const ALT_MAIN = settingText('alt-main');
const ALT_NODE_FLAGS = settingWords('alt-node-flags');
const ALT_DRIVER = settingText('alt-driver') ?? 'memory';
if (ALT_DRIVER !== 'memory' && ALT_DRIVER !== 'redis') throw new Error(`--alt-driver must be memory or redis (got ${ALT_DRIVER})`);

/**
 * The targets: requests/s against bare NestJS (the framework's ceiling) with the access log on and with
 * LOG_LEVEL=warn, p99 against NestJS's in the same round, the redis driver against the memory driver, and search
 * against the same server's GET. Every ratio is the median of the ratios taken within each round.
 */
const TARGETS = { vsNest: 0.8, vsNestQuiet: 0.9, p99VsNest: 2, redisVsMemory: 0.7, searchP99Ms: 25, searchVsGet: 0.5 };

interface ServerDef {
  readonly name: string;
  readonly label: string;
  readonly service: boolean;
  start(): Promise<Running>;
}

interface Running {
  readonly url: string;
  /** The processes whose CPU time counts as the server's (the service and its redis-server). */
  readonly pids: number[];
  stop(): Promise<void>;
}

let redis: RedisServer | undefined;
const hasRedis = (() => {
  try {
    execFileSync('sh', ['-c', 'command -v redis-server'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
})();

function service(env: Record<string, string>, nodeArgs: string[] = []): () => Promise<Running> {
  return async () => {
    // startServerProcess drains the service's stdout (one JSON line per request at LOG_LEVEL=info).
    const s = await startServerProcess(env, 60_000, nodeArgs);
    return { url: s.url, pids: [s.child.pid!], stop: () => stopChild(s) };
  };
}

function reference(file: string): () => Promise<Running> {
  return async () => {
    const s: ChildServer = await startScript(join(__dirname, 'reference', file));
    return { url: s.url, pids: [s.child.pid!], stop: () => stopChild(s) };
  };
}

/** The service on the redis driver, on this run's redis-server (started once), under a key prefix of its own. */
function onRedis(nodeArgs: string[] = []): () => Promise<Running> {
  return async () => {
    redis ??= await startRedisServer();
    const s = await service({ STORE_DRIVER: 'redis', REDIS_URL: redis.url, REDIS_KEY_PREFIX: uniquePrefix() }, nodeArgs)();
    return { ...s, pids: [...s.pids, ...childPids(process.pid, 'redis-server')] };
  };
}

// `node <alt main> <dist/main.js>`: the alternative build runs, the extra argument is ignored.
const ALT_ARGS = [...ALT_NODE_FLAGS, ...(ALT_MAIN ? [ALT_MAIN] : [])];

const DEFS: ServerDef[] = [
  { name: 'service', label: 'service (memory)', service: true, start: service({}) },
  { name: 'service-warn', label: 'service (memory, LOG_LEVEL=warn)', service: true, start: service({ LOG_LEVEL: 'warn' }) },
  {
    name: 'service-redis',
    label: 'service (redis)',
    service: true,
    start: onRedis(),
  },
  {
    name: 'service-alt',
    label: `service (${ALT_DRIVER}, ${[ALT_MAIN ?? 'this build', ...ALT_NODE_FLAGS].join(' ')})`,
    service: true,
    start: ALT_DRIVER === 'redis' ? onRedis(ALT_ARGS) : service({}, ALT_ARGS),
  },
  { name: 'nest', label: 'NestJS 12 (reference)', service: false, start: reference('nest.cjs') },
  { name: 'express', label: 'Express 5 (reference)', service: false, start: reference('express.cjs') },
  { name: 'node', label: 'node:http (reference)', service: false, start: reference('node-http.cjs') },
];

function selectedServers(): ServerDef[] {
  const wanted = (settingText('servers') ?? 'service,service-warn,service-redis,nest,express,node').split(',').map((s) => s.trim());
  if ((ALT_MAIN || ALT_NODE_FLAGS.length > 0) && !wanted.includes('service-alt')) wanted.push('service-alt');
  for (const name of wanted) if (!DEFS.some((d) => d.name === name)) throw new Error(`unknown server ${name}: one of ${DEFS.map((d) => d.name).join(', ')}`);
  if (ALT_MAIN !== undefined && !existsSync(ALT_MAIN)) throw new Error(`--alt-main must name an existing dist/main.js (got ${ALT_MAIN})`);
  return DEFS.filter((d) => wanted.includes(d.name)).filter((d) => {
    if (d.name === 'service-redis' && !hasRedis) console.log('redis-server is not installed: skipping the redis driver');
    return d.name !== 'service-redis' || hasRedis;
  });
}

/**
 * The references must answer the seed routes exactly as the service does (status and JSON body): checked on a
 * missing key, a single-pair and a map POST /set, and reading a written key back.
 */
async function checkSameAnswers(servers: Map<ServerDef, Running>): Promise<void> {
  const probes: [string, RequestInit | undefined][] = [
    ['/get/bench-check%2Fmissing', undefined],
    ['/set', { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify({ key: 'bench-check/1', value: { a: [1, 'b'] } }) }],
    ['/set', { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify({ 'bench-check-2': 2, 'bench-check-3': 'three' }) }],
    ['/get/bench-check%2F1', undefined],
    ['/get/bench-check-3', undefined],
  ];
  const answers = new Map<string, string[]>();
  for (const [def, running] of servers) {
    const seen: string[] = [];
    for (const [path, init] of probes) {
      const response = await fetch(`${running.url}${path}`, init);
      seen.push(`${response.status} ${JSON.stringify(await response.json())}`);
    }
    answers.set(def.name, seen);
  }
  const [first, ...rest] = [...answers];
  for (const [name, seen] of rest) {
    seen.forEach((answer, i) => {
      if (answer !== first[1][i]) throw new Error(`${name} answers ${probes[i][0]} with ${answer}, ${first[0]} with ${first[1][i]}`);
    });
  }
}

const fmt = (n: number, digits = 1) => (Number.isFinite(n) ? n.toFixed(digits) : '-');
const pct = (x: number) => (Number.isFinite(x) ? `${Math.round(x * 100)}%` : '-');
const thousands = (n: number) => Math.round(n).toLocaleString('en-US');
const range = (r: readonly [number, number] | undefined) => (r ? `${pct(r[0])}–${pct(r[1])}` : '-');

interface Row {
  readonly scenario: Scenario;
  readonly server: string;
  readonly label: string;
  readonly rps: number;
  readonly rpsMin: number;
  readonly rpsMax: number;
  readonly p50: number;
  readonly p99: number;
  readonly serverCpu: number;
  /** Server CPU time per request, in microseconds: unlike req/s, hardly affected by other load on the machine. */
  readonly cpuUsPerRequest: number;
  /** Its user-mode part (no system calls): the steadiest figure on a busy machine. */
  readonly userCpuUsPerRequest: number;
  readonly loadgenCpu: number;
  readonly errors: number;
  readonly non2xx: number;
  /**
   * GET and POST: requests/s relative to the references; search: relative to the same server's GET. Each is the
   * median of the ratios within each round (see perRound), so it need not equal the ratio of the medians shown.
   */
  readonly vsNest?: number;
  readonly vsExpress?: number;
  /** The lowest and highest of the per-round ratios to Express: how far one round can mislead on this machine. */
  readonly vsExpressRange?: readonly [number, number];
  readonly vsNode?: number;
  readonly vsGet?: number;
  /** The same ratios from CPU time per request (the reference's over this server's). */
  readonly cpuVsNest?: number;
  readonly cpuVsExpress?: number;
  readonly cpuVsNode?: number;
  readonly cpuVsGet?: number;
}

async function main() {
  const defs = selectedServers();
  const pinned = pin(process.pid, LOADGEN_CPU);
  const services = defs.filter((d) => d.service);
  const measurements = defs.length * 2 + services.length;
  console.log(
    `node ${process.version}, ${cpus().length} CPUs, ${pinned ? `servers pinned to CPU ${SERVER_CPU}, load generator to CPU ${LOADGEN_CPU}` : 'not pinned (no taskset)'}; ` +
      `${KEYS} keys, ${CONNECTIONS} connections, ${ROUNDS} rounds of ${measurements} measurements (${WARMUP} s warm-up + ${SECONDS} s): ` +
      `about ${Math.ceil((ROUNDS * measurements * (WARMUP + SECONDS + 1)) / 60)} min`,
  );
  const loadStart = loadavg();
  const servers = new Map<ServerDef, Running>();
  try {
    for (const def of defs) {
      const running = await def.start();
      servers.set(def, running);
      for (const pid of running.pids) pin(pid, SERVER_CPU);
    }
    await checkSameAnswers(servers);
    for (const [def, running] of servers) {
      const started = Date.now();
      await preload(running.url, KEYS);
      console.log(`preloaded ${KEYS} keys into ${def.label} in ${((Date.now() - started) / 1000).toFixed(1)} s`);
    }
    const check = await fetch(`${[...servers.values()][0].url}/get/${keyName(KEYS - 1)}`);
    if (!check.ok) throw new Error(`preloaded key ${keyName(KEYS - 1)} is not readable: ${check.status}`);

    const samples: Record<string, Partial<Record<Scenario, Measurement[]>>> = {};
    const runOne = async (def: ServerDef, scenario: Scenario, round: number) => {
      const running = servers.get(def)!;
      const m = await measure({ url: running.url, scenario, keys: KEYS, connections: CONNECTIONS, warmupSeconds: WARMUP, seconds: SECONDS }, running.pids);
      ((samples[def.name] ??= {})[scenario] ??= []).push(m);
      console.log(
        `[round ${round + 1}/${ROUNDS}] ${scenario.padEnd(19)} ${def.label.padEnd(34)} ${thousands(m.rps).padStart(7)} req/s  ` +
          `p50 ${fmt(m.p50, 2)} ms  p99 ${fmt(m.p99, 2)} ms  server CPU ${pct(m.serverCpu)}  load generator CPU ${pct(m.loadgenCpu)}` +
          (m.errors + m.non2xx > 0 ? `  ERRORS ${m.errors} non-2xx ${m.non2xx}` : ''),
      );
    };
    const rotated = (list: ServerDef[], round: number) => list.map((_, i) => list[(i + round) % list.length]);
    // Reads first, at exactly KEYS keys: GET on every server and search on the services, in the same rounds.
    for (let round = 0; round < ROUNDS; round++) {
      for (const def of rotated(defs, round)) {
        await runOne(def, 'GET /get/:key', round);
        if (def.service) await runOne(def, 'GET /search?prefix=', round);
      }
    }
    // Then writes, which add keys.
    for (let round = 0; round < ROUNDS; round++) {
      for (const def of rotated(defs, round)) await runOne(def, 'POST /set', round);
    }

    const row = (def: ServerDef, scenario: Scenario): Row | undefined => {
      const ms = samples[def.name]?.[scenario];
      if (!ms) return undefined;
      const rps = ms.map((m) => m.rps);
      return {
        scenario,
        server: def.name,
        label: def.label,
        rps: median(rps),
        rpsMin: Math.min(...rps),
        rpsMax: Math.max(...rps),
        p50: median(ms.map((m) => m.p50)),
        p99: median(ms.map((m) => m.p99)),
        serverCpu: median(ms.map((m) => m.serverCpu)),
        cpuUsPerRequest: median(ms.map((m) => (m.serverCpu / m.rps) * 1e6)),
        userCpuUsPerRequest: median(ms.map((m) => (m.serverUserCpu / m.rps) * 1e6)),
        loadgenCpu: median(ms.map((m) => m.loadgenCpu)),
        errors: ms.reduce((sum, m) => sum + m.errors, 0),
        non2xx: ms.reduce((sum, m) => sum + m.non2xx, 0),
      };
    };
    const cpuPerRequest = (m: Measurement) => m.serverCpu / m.rps;
    const measured = (def: ServerDef | undefined, scenario: Scenario): Measurement[] => (def && samples[def.name]?.[scenario]) || [];
    /**
     * A ratio taken within each round, then its median over the rounds (NaN when either side was not measured):
     * the two were measured minutes apart at most, so the machine's drift (its speed changed by up to 2x within
     * one run here) cancels out better than in a ratio of medians.
     */
    const perRound = (xs: Measurement[], ys: Measurement[], ratio: (x: Measurement, y: Measurement) => number): number[] =>
      xs.length === ys.length ? xs.map((x, i) => ratio(x, ys[i])) : [];
    const rpsRatio = (x: Measurement, y: Measurement) => x.rps / y.rps;
    const cpuRatio = (x: Measurement, y: Measurement) => cpuPerRequest(y) / cpuPerRequest(x);
    const medianOf = (xs: number[]) => (xs.length > 0 ? median(xs) : NaN);
    const rows: Row[] = [];
    for (const scenario of ['GET /get/:key', 'POST /set'] as Scenario[]) {
      const [ne, ex, no] = ['nest', 'express', 'node'].map((name) => measured(defs.find((d) => d.name === name), scenario));
      for (const def of defs) {
        const own = measured(def, scenario);
        const vsExpress = perRound(own, ex, rpsRatio);
        rows.push({
          ...row(def, scenario)!,
          vsNest: medianOf(perRound(own, ne, rpsRatio)),
          vsExpress: medianOf(vsExpress),
          vsExpressRange: vsExpress.length > 0 ? [Math.min(...vsExpress), Math.max(...vsExpress)] : undefined,
          vsNode: medianOf(perRound(own, no, rpsRatio)),
          cpuVsNest: medianOf(perRound(own, ne, cpuRatio)),
          cpuVsExpress: medianOf(perRound(own, ex, cpuRatio)),
          cpuVsNode: medianOf(perRound(own, no, cpuRatio)),
        });
      }
    }
    for (const def of services) {
      // A server's search and GET are measured back to back in every round.
      const [search, get] = [measured(def, 'GET /search?prefix='), measured(def, 'GET /get/:key')];
      rows.push({ ...row(def, 'GET /search?prefix=')!, vsGet: medianOf(perRound(search, get, rpsRatio)), cpuVsGet: medianOf(perRound(search, get, cpuRatio)) });
    }

    interface Target {
      readonly server: string;
      readonly target: string;
      readonly met: boolean;
      /** The figure, as shown. */
      readonly shown: string;
      readonly value: number;
    }
    const nest = defs.find((d) => d.name === 'nest');
    const memory = defs.find((d) => d.name === 'service');
    const p99Ratio = (x: Measurement, y: Measurement) => x.p99 / y.p99;
    const roundsOf = (xs: number[], show: (x: number) => string) => (xs.length > 1 ? ` (rounds: ${xs.map(show).join(', ')})` : '');
    const times = (x: number) => `${fmt(x, 2)}x`;
    const targets: Target[] = services.flatMap((def) => {
      const of = (scenario: Scenario) => rows.find((r) => r.server === def.name && r.scenario === scenario)!;
      const search = of('GET /search?prefix=');
      const list: Target[] = [];
      for (const scenario of ['GET /get/:key', 'POST /set'] as Scenario[]) {
        const own = measured(def, scenario);
        const row = of(scenario);
        if (def.name === 'service-redis' || (def.name === 'service-alt' && ALT_DRIVER === 'redis')) {
          const memoryDriver = measured(memory, scenario);
          const ratios = perRound(own, memoryDriver, rpsRatio);
          const value = medianOf(ratios);
          const cpu = medianOf(perRound(own, memoryDriver, cpuRatio));
          list.push({ server: def.name, target: `${scenario} >= ${times(TARGETS.redisVsMemory)} the memory driver's req/s`, value, met: value >= TARGETS.redisVsMemory, shown: `${times(value)} (from CPU time per request: ${times(cpu)})${roundsOf(ratios, times)}` });
          continue;
        }
        const wanted = def.name === 'service-warn' ? TARGETS.vsNestQuiet : TARGETS.vsNest;
        const reference = measured(nest, scenario);
        const ratios = perRound(own, reference, rpsRatio);
        list.push({ server: def.name, target: `${scenario} >= ${pct(wanted)} of NestJS's req/s`, value: row.vsNest!, met: row.vsNest! >= wanted, shown: `${pct(row.vsNest!)} (from CPU time per request: ${pct(row.cpuVsNest!)})${roundsOf(ratios, pct)}` });
        const p99s = perRound(own, reference, p99Ratio);
        const p99 = medianOf(p99s);
        list.push({ server: def.name, target: `${scenario} p99 <= ${TARGETS.p99VsNest}x NestJS's p99 in the same round`, value: p99, met: p99 <= TARGETS.p99VsNest, shown: `${times(p99)}${roundsOf(p99s, times)}` });
      }
      list.push(
        { server: def.name, target: `GET /search?prefix= p99 < ${TARGETS.searchP99Ms} ms`, value: search.p99, met: search.p99 < TARGETS.searchP99Ms, shown: `${fmt(search.p99, 1)} ms` },
        { server: def.name, target: `search >= ${pct(TARGETS.searchVsGet)} of GET req/s`, value: search.vsGet!, met: search.vsGet! >= TARGETS.searchVsGet, shown: `${pct(search.vsGet!)} (from CPU time per request: ${pct(search.cpuVsGet!)})` },
      );
      return list;
    });

    // What the framework alone costs: the share of Express's requests/s that an application with no layers of
    // its own keeps on NestJS, the most any NestJS service can reach here.
    const nestRows = rows.filter((r) => r.server === 'nest' && Number.isFinite(r.vsExpress));
    const ceiling = nestRows.map((r) => `${r.scenario} ${pct(r.vsExpress!)} (from CPU time per request: ${pct(r.cpuVsExpress!)})`).join(', ');

    const date = new Date();
    const md = [
      `# npm run bench: ${date.toISOString()}`,
      '',
      `Node ${process.version}, ${cpus().length} CPUs (${cpus()[0]?.model.trim()}), ${pinned ? `servers on CPU ${SERVER_CPU}, load generator on CPU ${LOADGEN_CPU}` : 'not pinned'}; ` +
        `${KEYS.toLocaleString('en-US')} keys preloaded, ${CONNECTIONS} connections, medians of ${ROUNDS} rounds of ${SECONDS} s (after ${WARMUP} s of warm-up each); ` +
        `load average ${loadStart.map((l) => l.toFixed(1)).join(' ')} at the start, ${loadavg().map((l) => l.toFixed(1)).join(' ')} at the end.`,
      '',
      '"server CPU" is the share of a CPU the server (with its redis-server) used while measured; "CPU us/req" is that CPU time per request, ' +
        'and its ratios (the reference\'s CPU per request over this server\'s) hold even when other work on the machine takes CPU from the server. ' +
        'Every "vs" figure is the median of the ratios taken within each round, not the ratio of the medians shown; "(rounds)" is the lowest and ' +
        'highest of the per-round ratios to Express.',
      '',
      '| scenario | server | req/s | p50 ms | p99 ms | vs NestJS | vs Express | (rounds) | vs node:http | server CPU | CPU us/req | vs NestJS (CPU) | vs Express (CPU) | vs node:http (CPU) |',
      '|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|',
      ...rows
        .filter((r) => r.vsExpress !== undefined)
        .map(
          (r) =>
            `| ${r.scenario} | ${r.label} | ${thousands(r.rps)} | ${fmt(r.p50, 2)} | ${fmt(r.p99, 2)} | ${pct(r.vsNest!)} | ${pct(r.vsExpress!)} | ${range(r.vsExpressRange)} | ${pct(r.vsNode!)} | ` +
            `${pct(r.serverCpu)} | ${fmt(r.cpuUsPerRequest, 0)} | ${pct(r.cpuVsNest!)} | ${pct(r.cpuVsExpress!)} | ${pct(r.cpuVsNode!)} |`,
        ),
      '',
      `GET /search?prefix= (~111 of ${KEYS.toLocaleString('en-US')} keys per query) against the same server's GET /get/:key, measured in the same rounds:`,
      '',
      '| server | search req/s | p50 ms | p99 ms | GET req/s | search / GET | search CPU us/req | GET CPU us/req | search / GET (CPU) |',
      '|---|---:|---:|---:|---:|---:|---:|---:|---:|',
      ...rows
        .filter((r) => r.vsGet !== undefined)
        .map((r) => {
          const get = rows.find((g) => g.server === r.server && g.scenario === 'GET /get/:key')!;
          return (
            `| ${r.label} | ${thousands(r.rps)} | ${fmt(r.p50, 2)} | ${fmt(r.p99, 2)} | ${thousands(get.rps)} | ${pct(r.vsGet!)} | ` +
            `${fmt(r.cpuUsPerRequest, 0)} | ${fmt(get.cpuUsPerRequest, 0)} | ${pct(r.cpuVsGet!)} |`
          );
        }),
      '',
      'Targets:',
      '',
      ...targets.map((t) => `- ${t.met ? 'met' : '**missed**'}: ${defs.find((d) => d.name === t.server)!.label}, ${t.target}: ${t.shown}`),
      ...(nestRows.length > 0 ? ['', `The framework's own ceiling: a bare NestJS application keeps ${ceiling} of plain Express's requests/s.`] : []),
      '',
    ].join('\n');
    const errors = rows.filter((r) => r.errors + r.non2xx > 0);
    console.log(`\n${md}`);
    if (errors.length > 0) console.log(`errors or non-2xx answers in: ${errors.map((r) => `${r.label} ${r.scenario}`).join(', ')}`);
    const json = {
      node: process.version,
      date: date.toISOString(),
      machine: { cpus: cpus().length, model: cpus()[0]?.model.trim(), loadavgStart: loadStart, loadavgEnd: loadavg() },
      settings: { seconds: SECONDS, warmupSeconds: WARMUP, rounds: ROUNDS, connections: CONNECTIONS, keys: KEYS, pinned, canPin: canPin(), altMain: ALT_MAIN, altNodeFlags: ALT_NODE_FLAGS, startNodeArgs: START_NODE_ARGS },
      servers: defs.map((d) => ({ name: d.name, label: d.label })),
      rows,
      targets,
      samples,
    };
    const name = today();
    console.log(`written ${writeResult(`${name}.json`, JSON.stringify(json, null, 2))}`);
    console.log(`written ${writeResult(`${name}.md`, md)}`);
  } finally {
    for (const running of servers.values()) await running.stop();
    await redis?.stop();
  }
}

main().catch((error: unknown) => {
  console.error(error);
  process.exitCode = 1;
});
