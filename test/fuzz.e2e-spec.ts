import fc from 'fast-check';
import { readFileSync } from 'node:fs';
import http from 'node:http';
import { createAgent, type FuzzResponse, sendHttp, sendRaw } from './helpers/fuzz-http';
import { StoreModel } from './helpers/fuzz-model';
import { effectOf, judge, type Violation } from './helpers/fuzz-oracle';
import { bytesOf } from './helpers/fuzz-payload';
import { API_KEYS, API_KEYS_ENV, assembleRaw, encodeKey, type FuzzRequest, fuzzRequestArb, httpExpressible, reproOf } from './helpers/fuzz-requests';
import { killIfRunning, type ServerProcess, startServerProcess } from './helpers/server-process';
import { until } from './helpers/until';

/**
 * The bad-input fuzz suite: thousands of generated hostile requests (fast-check) against the real server, run as
 * a child process (dist/main.js: build first) over real HTTP, once open and once with API keys. Every answer is
 * judged (no 5xx; every error in the JSON error shape; the promised limits; access control; see
 * helpers/fuzz-oracle.ts), every acknowledged write goes into a model of the store that must match the store at
 * the end, and the process must stay up with its memory back near its baseline.
 *
 * The seed is fixed and printed; FUZZ_SEED=<n> replays another run, FUZZ_RUNS=<n> changes the number of
 * requests per server. Findings are collected rather than thrown at the first one, each with a one-line repro,
 * minimised by fast-check's shrinking, and the assertions below each check one group of them.
 *
 * Requests that are not valid HTTP (malformed request lines, bare CR/LF, control bytes or raw non-ASCII in the
 * target, conflicting framing headers, HTTP/1.1 without Host, CONNECT) are answered by Node's HTTP parser before
 * the application exists for them: there a closed connection or Node's own 4xx is accepted (and listed as an
 * observation). Every valid request must be answered by the application, in its JSON shape.
 */

const SEED = Number(process.env.FUZZ_SEED ?? 20261124);
/** Requests per server (two servers: at least 5000 in all). */
const RUNS = Number(process.env.FUZZ_RUNS ?? 3000);
const TOTAL_AT_LEAST = 5000;
const CONCURRENCY = 8;
const REQUEST_TIMEOUT_MS = 10_000;
/** A watch stream answers with its head at once. */
const STREAM_HEAD_TIMEOUT_MS = 3_000;
/** Time fast-check may spend shrinking one finding, and all of them, per server. */
const SHRINK_MS = 1_500;
const SHRINK_TOTAL_MS = 6_000;

/**
 * Settings of the fuzzed server. Limits stay at their defaults. Lowered, so the run shows their effect within its
 * time: the request timeout (a body that never arrives is answered after 5 s rather than 30 s), the retained
 * change history (it holds values; a small one lets memory return to its baseline once the keys are deleted),
 * and the expiry sweep. LOG_LEVEL=error keeps the stack of every 5xx in the captured output.
 */
const REQUEST_TIMEOUT_SETTING_MS = 5000;
const SERVER_ENV = {
  LOG_LEVEL: 'error',
  HTTP_REQUEST_TIMEOUT_MS: String(REQUEST_TIMEOUT_SETTING_MS),
  WATCH_HISTORY: '256',
  KV_EXPIRY_SWEEP_INTERVAL_MS: '200',
};

/**
 * jest runs without --expose-gc, so memory is measured in the server process: started with --expose-gc and a
 * preloaded handler that collects garbage on SIGUSR2 and prints process.memoryUsage() as one line.
 */
const GC_ON_SIGNAL = `--import=data:text/javascript,${encodeURIComponent(
  "process.on('SIGUSR2',()=>{globalThis.gc();globalThis.gc();process.stdout.write('FUZZ_GC '+JSON.stringify(process.memoryUsage())+'\\n')})",
)}`;
/** Live heap may grow by this much over the run (metrics series, caches); a leak per request would exceed it. */
const HEAP_GROWTH_LIMIT = 64 * 1024 * 1024;

interface Finding {
  readonly kind: string;
  readonly family: string;
  count: number;
  index: number;
  request: FuzzRequest;
  detail: string;
  status: number;
  body: string;
  repro: string;
  minimal?: { repro: string; status: number; body: string };
}

/** Findings grouped by kind and generator family, each with the shortest repro seen. */
class Findings {
  readonly groups = new Map<string, Finding>();
  readonly observations = new Map<string, Finding>();

  add(into: Map<string, Finding>, v: Violation, index: number, r: FuzzRequest, res: FuzzResponse): void {
    const signature = signatureOf(v, r);
    const repro = reproOf(r);
    const had = into.get(signature);
    if (had) {
      had.count++;
      if (repro.length < had.repro.length) Object.assign(had, { index, request: r, detail: v.detail, status: res.status, body: bodyOf(res), repro });
      return;
    }
    into.set(signature, { kind: v.kind, family: r.family, count: 1, index, request: r, detail: v.detail, status: res.status, body: bodyOf(res), repro });
  }

  of(kinds: readonly string[]): Finding[] {
    return [...this.groups.values()].filter((f) => kinds.includes(f.kind));
  }
}

/** Findings of one kind and family are one finding; answers that are not JSON group by what was answered instead. */
const signatureOf = (v: Violation, r: FuzzRequest) => (v.kind === 'error not JSON' ? `${v.kind} | ${v.detail.split(' body ')[0]}` : `${v.kind} | ${r.family}`);

/**
 * Starts dist/main.js with --expose-gc and the GC hook. Others may be rebuilding dist/ at the same moment (the
 * build empties it first): a start that finds it missing or half-written is retried for a while.
 */
async function startBuiltServer(env: Record<string, string>): Promise<ServerProcess> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await startServerProcess(env, 30_000, ['--expose-gc', GC_ON_SIGNAL]);
    } catch (error) {
      const rebuilding = /is missing|Cannot find module|MODULE_NOT_FOUND/.test(String(error));
      if (!rebuilding || attempt >= 6) throw error;
      await new Promise((r) => setTimeout(r, 10_000));
    }
  }
}

/** CPU time (user + system) the server process has used, from /proc (Linux); NaN elsewhere. */
function serverCpuSeconds(server: ServerProcess): number {
  try {
    const fields = readFileSync(`/proc/${server.child.pid}/stat`, 'utf8').split(') ')[1].split(' ');
    return (Number(fields[11]) + Number(fields[12])) / 100;
  } catch {
    return Number.NaN;
  }
}

/** The expiry in a PUT answer (ms since the epoch, null for none), or undefined when the answer has none. */
function expiryOf(res: FuzzResponse): number | null | undefined {
  try {
    const record = JSON.parse(res.body.toString('utf8')) as { expiresAt?: string | null };
    return record.expiresAt === undefined ? undefined : record.expiresAt === null ? null : Date.parse(record.expiresAt);
  } catch {
    return undefined;
  }
}
const bodyOf = (res: FuzzResponse) => (res.status === 0 ? `(${res.failure ?? 'no answer'})` : res.body.toString('utf8').slice(0, 200));

function describeFindings(list: readonly Finding[]): string {
  return list
    .map(
      (f) =>
        `- [${f.kind}] ${f.family} (${f.count}x, e.g. #${f.index}): ${f.detail}\n    repro: ${f.minimal?.repro ?? f.repro}\n` +
        `    observed: ${JSON.stringify(f.minimal ? `${f.minimal.status} ${f.minimal.body}` : `${f.status} ${f.body}`)}`,
    )
    .join('\n');
}

const RESPONSE_KINDS = ['5xx', 'error not JSON', 'error shape', 'no answer', '2xx body not JSON', 'HEAD answer with a body'];
const LIMIT_KINDS = ['limit not enforced'];
const VALIDATION_KINDS = ['unknown query parameter accepted'];
const AUTH_KINDS = ['auth bypass', 'auth wrongly denied', 'auth status', 'auth in open mode'];
const WRITE_KINDS = [
  'internal webhook accepted', 'file disclosure', 'acknowledged other key', 'acknowledged other value', 'acknowledged other expiry', 'unexplained acknowledgement',
  'lossy write accepted',
];

/** Hostile requests sent by every server's run (the file must send at least TOTAL_AT_LEAST). */
let sentInAll = 0;

/** A watch stream held open through a run. */
interface HeldStream {
  readonly target: string;
  readonly openedAt: number;
  status: number;
  bytes: number;
  closedAt: number | null;
  close(): void;
}

/** Spellings of the watch route that Express routes to it (case-insensitive, optional trailing slash). */
const WATCH_SPELLINGS = ['/watch', '/watch/', '/WATCH', '/Watch/?prefix=a'];

interface Mode {
  readonly name: string;
  readonly env: Record<string, string>;
  readonly authMode: boolean;
}

const MODES: Mode[] = [
  { name: 'open (no API keys)', env: {}, authMode: false },
  { name: 'with API keys', env: { API_KEYS: API_KEYS_ENV }, authMode: true },
];

describe.each(MODES)('bad-input fuzz, $name (e2e, child process)', ({ name, env, authMode }) => {
  let server: ServerProcess;
  let port: number;
  let agent: http.Agent;
  const findings = new Findings();
  const model = new StoreModel();
  const statuses = new Map<number, number>();
  const families = new Map<string, number>();
  let sent = 0;
  let crashed: string | null = null;
  let baseline: NodeJS.MemoryUsage;
  let runMs = 0;
  let cpu = '';
  const slowest: { ms: number; index: number; r: FuzzRequest; status: number }[] = [];
  const admin: [string, string][] = authMode ? [['Authorization', `Bearer ${API_KEYS.admin}`]] : [];
  let held: HeldStream[] = [];

  /** Opens a watch stream and keeps reading it (so it never falls behind) until closed. */
  function hold(target: string): Promise<HeldStream> {
    return new Promise((resolve) => {
      const stream: HeldStream = { target, openedAt: Date.now(), status: 0, bytes: 0, closedAt: null, close: () => req.destroy() };
      const req = http.get({ host: '127.0.0.1', port, path: target, headers: Object.fromEntries(admin), agent: false }, (res) => {
        stream.status = res.statusCode ?? 0;
        res.on('data', (chunk: Buffer) => (stream.bytes += chunk.length));
        res.on('close', () => (stream.closedAt ??= Date.now()));
        resolve(stream);
      });
      req.on('error', () => {
        stream.closedAt ??= Date.now();
        resolve(stream);
      });
    });
  }

  /** Sends one request the way the fuzzer does, and feeds acknowledged (or possibly applied) writes to the model. */
  async function execute(r: FuzzRequest, source: string): Promise<FuzzResponse> {
    const before = Date.now();
    const timeout = r.timeoutMs ?? (r.stream ? STREAM_HEAD_TIMEOUT_MS : REQUEST_TIMEOUT_MS);
    const res = httpExpressible(r)
      ? await sendHttp(port, { method: r.method, path: r.target, headers: r.headers, body: r.body && bytesOf(r.body), stream: r.stream }, timeout, agent)
      : await sendRaw(port, bytesOf(assembleRaw(r)), timeout, r.method === 'HEAD');
    const after = Date.now();
    if (res.failure === 'ECONNREFUSED' && crashed === null) {
      const again = await sendHttp(port, { method: 'GET', path: '/health/live', headers: [] }, 2000, agent);
      crashed = `connection refused at request ${source} (${Date.now() - after} ms later /health/live answered ${again.status} ${again.failure ?? ''})`;
    }
    const certain = res.status >= 200 && res.status < 300;
    const unknown = res.status === 0 || res.status >= 500;
    const effect = certain || unknown ? effectOf(r) : undefined;
    if (effect?.kind === 'writes') {
      // A PUT's answer is the stored record: its expiry is what was acknowledged.
      const acknowledged = certain && r.method === 'PUT' ? expiryOf(res) : undefined;
      for (const w of effect.writes) model.record(acknowledged === undefined ? w : { ...w, expiresAt: acknowledged }, before, after, certain, source);
    }
    return res;
  }

  /** A plain request of the suite itself (not counted as fuzz), with the admin key in auth mode. */
  function call(method: string, target: string, body?: unknown): Promise<FuzzResponse> {
    const headers: [string, string][] = [...admin, ...(body === undefined ? [] : [['Content-Type', 'application/json'] as [string, string]])];
    return sendHttp(port, { method, path: target, headers, body: body === undefined ? undefined : Buffer.from(JSON.stringify(body)) }, REQUEST_TIMEOUT_MS, agent);
  }

  /** Collects garbage in the server and reads its memory usage (see GC_ON_SIGNAL). */
  async function memory(): Promise<NodeJS.MemoryUsage> {
    const samples = () => server.lines.filter((l) => l.startsWith('FUZZ_GC '));
    const seen = samples().length;
    server.child.kill('SIGUSR2');
    await until(() => samples().length > seen, 5_000);
    const line = samples().at(-1);
    if (line === undefined || samples().length === seen) throw new Error(`the server printed no memory sample:\n${server.lines.slice(-20).join('\n')}`);
    return JSON.parse(line.slice('FUZZ_GC '.length)) as NodeJS.MemoryUsage;
  }

  /** Walks GET /keys page by page; `from`/`to` bracket the moment the server read each page. */
  async function eachKey(visit: (key: string, value: string, from: number, to: number) => void): Promise<void> {
    let after: string | null = null;
    for (;;) {
      const from = Date.now();
      const res = await call('GET', `/keys?limit=1000${after === null ? '' : `&after=${encodeKey(after)}`}`);
      if (res.status !== 200) throw new Error(`listing keys: ${res.status} ${res.body.toString().slice(0, 200)}`);
      const page = JSON.parse(res.body.toString('utf8')) as { items: { key: string; value: unknown }[]; next: string | null };
      const to = Date.now();
      for (const item of page.items) visit(item.key, JSON.stringify(item.value), from, to);
      if (page.next === null) return;
      after = page.next;
    }
  }

  beforeAll(async () => {
    server = await startBuiltServer({ ...SERVER_ENV, ...env });
    port = Number(new URL(server.url).port);
    agent = createAgent();
    // Warm every route once (the OpenAPI document is built lazily) before the baseline is taken.
    for (const [method, target, body] of [
      ['GET', '/health/ready'], ['GET', '/metrics'], ['GET', '/docs-json'], ['GET', '/docs'], ['GET', '/'], ['GET', '/keys'], ['GET', '/search?prefix=a'],
      ['PUT', '/keys/warm-up', { value: 1 }], ['GET', '/keys/warm-up'], ['GET', '/get/warm-up'], ['DELETE', '/keys/warm-up'], ['POST', '/set', { 'warm-up': 1 }],
      ['DELETE', '/keys/warm-up'], ['GET', '/get/%ZZ'], ['GET', '/nope'], ['GET', '/subscriptions'], ['POST', '/set', []],
    ] as [string, string, unknown?][]) {
      await call(method, target, body);
    }
    baseline = await memory();
  }, 120_000);

  afterAll(async () => {
    for (const stream of held) stream.close();
    agent?.destroy();
    if (server) cpu = `server ${serverCpuSeconds(server).toFixed(1)} s`;
    await killIfRunning(server);
    const counts = [...families.entries()].sort((a, b) => b[1] - a[1]).map(([f, n]) => `${f} ${n}`).join(', ');
    const byStatus = [...statuses.entries()].sort((a, b) => a[0] - b[0]).map(([s, n]) => `${s === 0 ? 'none' : s}: ${n}`).join(', ');
    const problems = [...findings.groups.values()];
    if (crashed !== null) console.log(`fuzz ${name}: ${crashed}; the server's last output:\n${server.lines.slice(-60).join('\n')}`);
    // The stacks the server logged for its 5xx answers (LOG_LEVEL=error), once each.
    const stacks = new Set(server.lines.filter((l) => l.includes('"level":50') && l.includes('"context"')).map((l) => l.replace(/"(time|pid|hostname|req)":("[^"]*"|\d+|\{[^}]*\}),?/g, '')));
    if (stacks.size > 0) console.log(`fuzz ${name}: the server logged ${stacks.size} distinct error(s):\n${[...stacks].slice(0, 10).join('\n')}`);
    console.log(
      [
        `fuzz ${name}: seed ${SEED} (FUZZ_SEED=${SEED} to replay), ${sent} hostile requests in ${runMs} ms, ${CONCURRENCY} in flight; CPU ${cpu}, this process ${(process.cpuUsage().user / 1e6).toFixed(1)} s so far`,
        `repros assume a server on 127.0.0.1:8080 started with ${Object.entries({ ...SERVER_ENV, ...env }).map(([k, v]) => `${k}=${v}`).join(' ')}`,
        `families: ${counts}`,
        `statuses: ${byStatus}`,
        `model: ${model.size} keys written`,
        `slowest: ${slowest.map((x) => `#${x.index} ${x.r.family} ${x.r.variant.slice(0, 40)} ${x.status} in ${x.ms} ms`).join('; ')}`,
        `${problems.length} finding(s)${problems.length ? `:\n${describeFindings(problems)}` : ''}`,
        `${findings.observations.size} observation(s) (accepted, listed for the record)${
          findings.observations.size ? `:\n${describeFindings([...findings.observations.values()])}` : ''
        }`,
      ].join('\n'),
    );
  });

  it(`answers ${RUNS} generated hostile requests (fixed seed)`, async () => {
    const requests = fc.sample(fuzzRequestArb, { seed: SEED, numRuns: RUNS });
    // Streams that must survive the whole run (checked below).
    held = await Promise.all(WATCH_SPELLINGS.map(hold));
    const started = Date.now();
    let next = 0;
    const worker = async () => {
      while (next < requests.length && crashed === null) {
        const index = next++;
        const r = requests[index];
        const res = await execute(r, `#${index}`);
        sent++;
        sentInAll++;
        families.set(r.family, (families.get(r.family) ?? 0) + 1);
        statuses.set(res.status, (statuses.get(res.status) ?? 0) + 1);
        if (slowest.length < 5 || res.ms > slowest[4].ms) {
          slowest.push({ ms: res.ms, index, r, status: res.status });
          slowest.sort((a, b) => b.ms - a.ms).splice(5);
        }
        const { violations, observations } = judge(r, res, authMode);
        for (const v of violations) findings.add(findings.groups, v, index, r, res);
        for (const o of observations) findings.add(findings.observations, o, index, r, res);
        if (server.child.exitCode !== null || server.child.signalCode !== null) crashed ??= `the server exited during request #${index}`;
      }
    };
    await Promise.all(Array.from({ length: CONCURRENCY }, worker));
    runMs = Date.now() - started;

    // Minimise: replay each finding's request in fast-check and let it shrink while the same kind of finding remains.
    const shrinkDeadline = Date.now() + SHRINK_TOTAL_MS;
    for (const finding of findings.groups.values()) {
      if (crashed !== null || Date.now() > shrinkDeadline) break;
      const signature = signatureOf({ kind: finding.kind, detail: finding.detail }, finding.request);
      let last: { r: FuzzRequest; res: FuzzResponse } | undefined;
      const details = await fc.check(
        fc.asyncProperty(fuzzRequestArb, async (r) => {
          const res = await execute(r, 'shrink');
          const same = judge(r, res, authMode).violations.some((v) => signatureOf(v, r) === signature);
          if (same) last = { r, res };
          return !same;
        }),
        { seed: SEED, path: String(finding.index), numRuns: 1, plugins: [fc.interruptAfterTimeLimit(Math.min(SHRINK_MS, Math.max(0, shrinkDeadline - Date.now())))] },
      );
      if (details.failed && last) finding.minimal = { repro: reproOf(last.r), status: last.res.status, body: bodyOf(last.res) };
    }

    expect(crashed).toBeNull();
    expect(sent).toBe(RUNS);
  }, 120_000);

  it('keeps watch streams open through the run, at every spelling of /watch (streams are exempt from HTTP_REQUEST_TIMEOUT_MS)', async () => {
    const wait = Math.max(0, ...held.map((s) => s.openedAt + REQUEST_TIMEOUT_SETTING_MS + 1000 - Date.now()));
    await new Promise((r) => setTimeout(r, wait));
    const cut = held
      .filter((s) => s.status !== 200 || s.closedAt !== null)
      .map((s) => `${s.target}: ${s.status} ${s.closedAt === null ? 'open' : `closed after ${s.closedAt - s.openedAt} ms`}, ${s.bytes} bytes read`);
    for (const stream of held) stream.close();
    expect(cut).toEqual([]);
  }, 20_000);

  it('stays up: liveness answers after the run', async () => {
    expect(crashed).toBeNull();
    expect(server.child.exitCode).toBeNull();
    const live = await call('GET', '/health/live');
    expect(live.status).toBe(200);
  });

  it('answers without a 5xx, and every error (status >= 400) is the JSON error shape', () => {
    const list = findings.of(RESPONSE_KINDS);
    expect(describeFindings(list)).toBe('');
  });

  it('enforces the documented limits: 431 head, 414 URL, 413 body, 400 JSON depth', () => {
    expect(describeFindings(findings.of(LIMIT_KINDS))).toBe('');
  });

  it('refuses unknown query parameters (400), prototype names included', () => {
    expect(describeFindings(findings.of(VALIDATION_KINDS))).toBe('');
  });

  it(authMode ? 'applies API-key roles: 401 without a valid key, 403 for a weak role, never a 2xx' : 'asks for no credentials when no API keys are configured', () => {
    expect(describeFindings(findings.of(AUTH_KINDS))).toBe('');
  });

  it('acknowledges only what it stores: no internal webhook, no file, no changed key or value, no lossy number', () => {
    expect(describeFindings(findings.of(WRITE_KINDS))).toBe('');
  });

  it('holds exactly the acknowledged writes afterwards (last write wins, deletes and expiry included)', async () => {
    const listed = new Map<string, { value: string; from: number; to: number }>();
    const listingFrom = Date.now();
    await eachKey((key, value, from, to) => listed.set(key, { value, from, to }));
    const listingTo = Date.now();
    const problems: string[] = [];
    for (const key of new Set([...model.keys(), ...listed.keys()])) {
      const seen = listed.get(key);
      const problem = seen ? model.check(key, seen.value, seen.from, seen.to) : model.check(key, null, listingFrom, listingTo);
      if (problem) problems.push(`GET /keys: ${problem}`);
    }
    // The other read routes agree with the model too.
    const modelKeys = model.keys().filter((k) => k.isWellFormed());
    let at = 0;
    await Promise.all(
      Array.from({ length: CONCURRENCY }, async () => {
        while (at < modelKeys.length) {
          const key = modelKeys[at++];
          const from = Date.now();
          const res = await call('GET', `/get/${encodeKey(key)}`);
          const to = Date.now();
          if (res.status !== 200 && res.status !== 404) {
            problems.push(`GET /get/${encodeKey(key).slice(0, 60)}: ${res.status} ${res.body.toString().slice(0, 120)}`);
            continue;
          }
          const value = res.status === 200 ? JSON.stringify((JSON.parse(res.body.toString('utf8')) as { value: unknown }).value) : null;
          const problem = model.check(key, value, from, to);
          if (problem) problems.push(`GET /get: ${problem}`);
        }
      }),
    );
    const pageFrom = Date.now();
    const page = await call('GET', '/?limit=10000');
    const pageTo = Date.now();
    if (page.status === 200) {
      const all = JSON.parse(page.body.toString('utf8')) as Record<string, unknown>;
      for (const key of new Set([...Object.keys(all), ...listed.keys()])) {
        const problem = model.check(key, Object.hasOwn(all, key) ? JSON.stringify(all[key]) : null, pageFrom, pageTo);
        if (problem) problems.push(`GET /: ${problem}`);
      }
    } else {
      problems.push(`GET /?limit=10000: ${page.status}`);
    }
    // A prototype-pollution canary: whatever was sent before, a body naming `key` without `value` is still refused, and
    // a two-property map is still two pairs.
    const canary = await call('POST', '/set', { key: 'fuzz-canary', other: 1 });
    if (canary.status !== 400) problems.push(`canary set: ${canary.status} ${canary.body.toString()}`);
    const canaryRead = await call('GET', '/get/fuzz-canary');
    if (canaryRead.status !== 404) problems.push(`a key named "fuzz-canary" exists after writing {"key":"fuzz-canary","other":1}: ${canaryRead.body.toString()}`);
    const map = await call('POST', '/set', { 'fuzz-canary-a': 1, 'fuzz-canary-b': 2 });
    if (map.status !== 200 || !map.body.toString().includes('"count":2')) problems.push(`canary map: ${map.status} ${map.body.toString()}`);
    await call('DELETE', '/keys/fuzz-canary-a');
    await call('DELETE', '/keys/fuzz-canary-b');
    const subscriptions = await call('GET', '/subscriptions');
    if (subscriptions.body.toString() !== '[]') problems.push(`webhook subscriptions exist: ${subscriptions.body.toString().slice(0, 200)}`);
    expect(problems.slice(0, 30).join('\n')).toBe('');
  }, 60_000);

  it('keeps metric labels bounded: route templates only', async () => {
    const res = await call('GET', '/metrics');
    const text = res.body.toString('utf8');
    const series = text.split('\n').filter((l) => l.startsWith('http_requests_total{'));
    const routes = new Set(series.map((l) => /route="((?:[^"\\]|\\.)*)"/.exec(l)?.[1] ?? '?'));
    const odd = [...routes].filter((r) => r !== 'unmatched' && !/^\/[A-Za-z0-9\-_/:.]{0,40}$/.test(r));
    expect(odd).toEqual([]);
    expect(routes.size).toBeLessThanOrEqual(40);
    expect(series.length).toBeLessThanOrEqual(2000);
    expect(text).toContain('nodejs_heap_size_used_bytes');
  });

  it('returns to near its baseline memory once the keys are deleted', async () => {
    const keys: string[] = [];
    await eachKey((key) => keys.push(key));
    let at = 0;
    await Promise.all(
      Array.from({ length: CONCURRENCY }, async () => {
        while (at < keys.length) await call('DELETE', `/keys/${encodeKey(keys[at++])}`);
      }),
    );
    // Push the deleted values out of the retained change history (WATCH_HISTORY=256).
    for (let i = 0; i < 300; i++) await call('PUT', '/keys/fuzz-flush', { value: i });
    await call('DELETE', '/keys/fuzz-flush');
    await new Promise((r) => setTimeout(r, 500));
    await memory();
    const after = await memory();
    const mib = (n: number) => `${(n / 1024 / 1024).toFixed(1)} MiB`;
    console.log(
      `fuzz ${name}: heap used ${mib(baseline.heapUsed)} before, ${mib(after.heapUsed)} after (limit +${mib(HEAP_GROWTH_LIMIT)}); ` +
        `rss ${mib(baseline.rss)} -> ${mib(after.rss)}`,
    );
    expect(after.heapUsed).toBeLessThanOrEqual(baseline.heapUsed + HEAP_GROWTH_LIMIT);
  }, 60_000);
});

describe('bad-input fuzz totals', () => {
  it(`sent at least ${TOTAL_AT_LEAST} hostile requests in all`, () => {
    expect(sentInAll).toBeGreaterThanOrEqual(Math.min(TOTAL_AT_LEAST, RUNS * MODES.length));
  });
});
