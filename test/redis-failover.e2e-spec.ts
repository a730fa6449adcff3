import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type RedisServer, startRedisServer, uniquePrefix } from './helpers/redis-server';
import { startCluster, startSentinelSet, type TopologyNode } from './helpers/redis-topology';
import { openSse, type SseClient } from './helpers/sse-client';
import { startTestApp, type TestApp } from './helpers/test-app';
import { until } from './helpers/until';
import { startWebhookReceiver, type WebhookReceiver } from './helpers/webhook-receiver';

/**
 * kv-store on Redis the way production runs it, with its primary killed under load: a Sentinel set, a Cluster and
 * a standalone Redis with AOF. Real redis-server processes on free loopback ports, two real service instances,
 * 16 concurrent HTTP writers, a watch stream and a webhook subscription. What is measured (recovery time, writes,
 * how each ended) is printed for docs/redis.md#durability-on-redis.
 */
jest.setTimeout(90_000);

const WRITERS = 16;
/** Load before the kill, and after the first acknowledged write that follows it. */
const LOAD_MS = 1000;
/** The bound on how long writes may be refused after the primary dies. */
const RECOVERY_MS = 10_000;
const json = { 'Content-Type': 'application/json' };

interface Write {
  readonly key: string;
  readonly value: number;
  readonly startedAt: number;
  endedAt: number;
  status: number;
  /** `<keyspace>:<revision>` from the ETag of an acknowledged write. */
  position: string;
}

const revisionOf = (position: string) => Number(position.slice(position.lastIndexOf(':') + 1));
const keyspaceOf = (position: string) => position.slice(0, position.lastIndexOf(':'));
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Writers that each PUT fresh keys in turn (alternating between the instances) until stopped. */
function startLoad(urls: readonly string[]): { writes: Write[]; stop(): Promise<void> } {
  const writes: Write[] = [];
  let running = true;
  const writer = async (w: number) => {
    for (let n = 0; running; n++) {
      const write: Write = { key: `w${w}-${n}`, value: w * 1_000_000 + n, startedAt: Date.now(), endedAt: 0, status: 0, position: '' };
      writes.push(write);
      try {
        const res = await fetch(`${urls[(w + n) % urls.length]}/keys/${write.key}`, {
          method: 'PUT',
          headers: json,
          body: JSON.stringify({ value: write.value }),
          signal: AbortSignal.timeout(15_000),
        });
        write.status = res.status;
        write.position = (res.headers.get('etag') ?? '').replace(/"/g, '');
        await res.arrayBuffer();
      } catch {
        write.status = -1;
      }
      write.endedAt = Date.now();
      // A refused write is retried as a new key after a breath: the load goes on through the failover.
      if (write.status >= 500 || write.status < 0) await sleep(50);
    }
  };
  const all = Array.from({ length: WRITERS }, (_, w) => writer(w));
  return {
    writes,
    stop: async () => {
      running = false;
      await Promise.all(all);
    },
  };
}

const acknowledged = (writes: readonly Write[]) => writes.filter((w) => w.status === 200 || w.status === 201);

/** Every record under `prefix` on `url`, following the pages' `Link: rel="next"`. */
async function readAll(url: string, prefix: string): Promise<Map<string, unknown>> {
  const found = new Map<string, unknown>();
  let next: string | null = `/?prefix=${prefix}&limit=10000`;
  while (next !== null) {
    const res = await fetch(`${url}${next}`);
    expect(res.status).toBe(200);
    for (const [key, value] of Object.entries((await res.json()) as Record<string, unknown>)) found.set(key, value);
    next = /<([^>]+)>;\s*rel="next"/.exec(res.headers.get('link') ?? '')?.[1] ?? null;
  }
  return found;
}

/** Waits until both instances answer readiness. */
async function ready(apps: readonly TestApp[], timeoutMs = 20_000): Promise<void> {
  await until(async () => (await Promise.all(apps.map((a) => fetch(`${a.url}/health/ready`).then((r) => r.status === 200, () => false)))).every(Boolean), timeoutMs);
}

/** What every acks = 1 failover must show (the list), given the finished load and the instances. */
async function expectNoAcknowledgedWriteLost(writes: readonly Write[], apps: readonly TestApp[], watcher: SseClient, receiver: WebhookReceiver) {
  const acked = acknowledged(writes);
  expect(acked.length).toBeGreaterThan(100);

  // Readable afterwards on both instances.
  for (const app of apps) {
    const stored = await readAll(app.url, 'w');
    const missing = acked.filter((w) => stored.get(w.key) !== w.value).map((w) => w.key);
    expect(missing).toEqual([]);
  }

  // Revisions unique, in one keyspace (no reset was needed), and increasing: a write acknowledged before another
  // began has the smaller revision.
  expect(new Set(acked.map((w) => keyspaceOf(w.position))).size).toBe(1);
  expect(new Set(acked.map((w) => w.position)).size).toBe(acked.length);
  const byEnd = [...acked].sort((a, b) => a.endedAt - b.endedAt);
  let i = 0;
  let highestEnded = 0;
  for (const write of [...acked].sort((a, b) => a.startedAt - b.startedAt)) {
    while (i < byEnd.length && byEnd[i].endedAt < write.startedAt) highestEnded = Math.max(highestEnded, revisionOf(byEnd[i++].position));
    expect(revisionOf(write.position)).toBeGreaterThan(highestEnded);
  }

  // The watcher saw every acknowledged write once, in revision order, and no reset.
  const ackedKeys = new Set(acked.map((w) => w.key));
  await watcher.waitFor(() => watcher.events().filter((e) => ackedKeys.has(e.data.key as string)).length >= acked.length, 20_000);
  const events = watcher.events();
  expect(events.filter((e) => e.event === 'reset')).toEqual([]);
  const seen = events.filter((e) => ackedKeys.has(e.data.key as string));
  expect(seen.length).toBe(acked.length);
  expect(new Set(seen.map((e) => e.data.key)).size).toBe(acked.length);
  const revisions = events.map((e) => e.data.revision as number);
  expect(revisions).toEqual([...revisions].sort((a, b) => a - b));
  expect(new Set(revisions).size).toBe(revisions.length);
  const positionOf = new Map(acked.map((w) => [w.key, w.position]));
  expect(seen.filter((e) => e.id !== positionOf.get(e.data.key as string))).toEqual([]);

  // Every acknowledged write reached the webhook at least once, each delivery id always with the same event.
  await until(() => {
    const hooked = new Set(receiver.received.map((h) => h.body.key));
    return [...ackedKeys].every((k) => hooked.has(k));
  }, 30_000);
  const delivered = new Map<string, string>();
  for (const hook of receiver.received) {
    const id = String(hook.headers['x-kv-delivery']);
    const event = `${String(hook.body.key)}@${String(hook.body.revision)}`;
    expect(delivered.get(id) ?? event).toBe(event);
    delivered.set(id, event);
  }
  const hooked = new Set(receiver.received.map((h) => h.body.key));
  const unhooked = [...ackedKeys].filter((k) => !hooked.has(k));
  if (unhooked.length > 0) {
    const subs = await (await fetch(`${apps[0].url}/subscriptions`)).json();
    console.log(`${unhooked.length} acknowledged writes never reached the webhook, e.g. ${unhooked.slice(0, 5).map((k) => positionOf.get(k)).join(',')} max received rev ${Math.max(...receiver.received.map((h) => Number(h.body.revision)))} received ${receiver.received.length}; subs ${JSON.stringify(subs)}`);
  }
  expect(unhooked).toEqual([]);
}

describe('Redis failover under load', () => {
  const apps: TestApp[] = [];
  const watchers: SseClient[] = [];
  let receiver: WebhookReceiver | undefined;
  let topology: { close(): Promise<void> } | undefined;

  afterEach(async () => {
    watchers.splice(0).forEach((w) => w.close());
    for (const app of apps.splice(0)) await app.close();
    await receiver?.close();
    receiver = undefined;
    await topology?.close();
    topology = undefined;
  });

  const instances = async (env: Record<string, string>) => {
    const common = {
      STORE_DRIVER: 'redis',
      REDIS_KEY_PREFIX: uniquePrefix(),
      WEBHOOK_ALLOWED_HOSTS: '127.0.0.1',
      WEBHOOK_RETRY_BASE_MS: '50',
      WEBHOOK_RETRY_MAX_MS: '200',
      WEBHOOK_MAX_ATTEMPTS: '1000',
      WEBHOOK_LEASE_MS: '2000',
      ...env,
    };
    for (let i = 0; i < 2; i++) apps.push(await startTestApp(common));
    await ready(apps);
    receiver = await startWebhookReceiver();
    const res = await fetch(`${apps[0].url}/subscriptions`, { method: 'POST', headers: json, body: JSON.stringify({ url: receiver.url }) });
    expect(res.status).toBe(201);
    const watcher = await openSse(`${apps[1].url}/watch`);
    watchers.push(watcher);
    return { prefix: common.REDIS_KEY_PREFIX, watcher, receiver };
  };

  /**
   * Runs the load, kills the primary (`kill` returns the new primary and its replicas once the failover is done),
   * checks that writes are acknowledged again within RECOVERY_MS, then that a write is not a success while the new
   * primary's replicas are paused. Returns the finished load.
   */
  const killUnderLoad = async (label: string, kill: () => Promise<{ primary: TopologyNode; replicas: TopologyNode[] }>) => {
    const load = startLoad(apps.map((a) => a.url));
    await sleep(LOAD_MS);
    // Readiness, polled through the failover: down while there is no primary, back by itself.
    const readiness: number[] = [];
    let polling = true;
    const poller = (async () => {
      while (polling) {
        readiness.push(await fetch(`${apps[0].url}/health/ready`).then((r) => r.status, () => -1));
        await sleep(100);
      }
    })();
    const killedAt = Date.now();
    const { primary, replicas } = await kill();
    const failedOverAt = Date.now();
    await until(() => load.writes.some((w) => w.startedAt > killedAt && (w.status === 200 || w.status === 201)), RECOVERY_MS + 5000);
    const recovered = load.writes.filter((w) => w.startedAt > killedAt && (w.status === 200 || w.status === 201)).map((w) => w.endedAt);
    const recoveryMs = Math.min(...recovered) - killedAt;
    await sleep(LOAD_MS);
    await load.stop();
    const outcomes = new Map<number, number>();
    for (const w of load.writes) outcomes.set(w.status, (outcomes.get(w.status) ?? 0) + 1);
    console.log(
      `${label}: primary SIGKILLed; new primary ${primary.address} after ${failedOverAt - killedAt} ms; writes acknowledged again ${recoveryMs} ms after the kill; ` +
        `${load.writes.length} writes by ${WRITERS} writers, by status: ${JSON.stringify(Object.fromEntries(outcomes))}`,
    );
    expect(recoveryMs).toBeLessThan(RECOVERY_MS);
    await until(async () => (await fetch(`${apps[0].url}/health/ready`)).status === 200, RECOVERY_MS);
    polling = false;
    await poller;
    expect(readiness).toContain(503);
    expect(readiness[readiness.length - 1]).toBe(200);
    // No write was answered as a failure that says nothing was written, after it was in fact applied: checked by
    // the callers' read-back (a 503 key must not be readable, or it would be a lost "nothing written").

    // With the new primary's replicas paused, a write is not answered as a success (504: may have been applied).
    for (const replica of replicas) replica.pause();
    try {
      const res = await fetch(`${apps[0].url}/keys/while-replicas-paused`, { method: 'PUT', headers: json, body: '{"value":1}' });
      expect(res.status).toBe(504);
      expect(((await res.json()) as { message: string }).message).toMatch(/may have been applied/);
    } finally {
      for (const replica of replicas) replica.resume();
    }
    return load.writes;
  };

  /** A write answered 503 said nothing was written: it must not be found. */
  const expectRefusedNotWritten = async (writes: readonly Write[]) => {
    const refused = writes.filter((w) => w.status === 503);
    const stored = await readAll(apps[0].url, 'w');
    expect(refused.filter((w) => stored.has(w.key)).map((w) => w.key)).toEqual([]);
  };

  it('Sentinel, REDIS_MIN_REPLICA_ACKS=1: SIGKILL of the primary loses no acknowledged write; watch and webhook see each once, in order', async () => {
    const set = await startSentinelSet({ replicas: 2, sentinels: 3 });
    topology = set;
    const { watcher, receiver: hooks } = await instances({
      REDIS_SENTINELS: set.sentinelAddresses.join(','),
      REDIS_SENTINEL_MASTER: set.name,
      REDIS_MIN_REPLICA_ACKS: '1',
    });
    const writes = await killUnderLoad('sentinel 1+2+3, acks 1', async () => {
      const old = set.nodes[0];
      await old.kill();
      const primary = await set.waitForFailover(old.port, 30_000);
      return { primary, replicas: set.nodes.filter((n) => n !== primary && n !== old) };
    });
    await expectNoAcknowledgedWriteLost(writes, apps, watcher, hooks);
    await expectRefusedNotWritten(writes);
  });

  it('Cluster (3 primaries, 2 replicas each), REDIS_MIN_REPLICA_ACKS=1: SIGKILL of the slot owner loses no acknowledged write', async () => {
    const cluster = await startCluster({ primaries: 3, replicasPerPrimary: 2 });
    topology = cluster;
    const { prefix, watcher, receiver: hooks } = await instances({ REDIS_CLUSTER_NODES: cluster.seeds.join(','), REDIS_MIN_REPLICA_ACKS: '1' });
    const owner = await cluster.ownerOfKey(`{${prefix}}rev`);
    const ownReplicas: TopologyNode[] = [];
    for (const node of cluster.nodes) if ((await node.info('replication')).master_port === String(owner.port)) ownReplicas.push(node);
    expect(ownReplicas).toHaveLength(2);
    const writes = await killUnderLoad('cluster 3x(1+2), acks 1', async () => {
      await owner.kill();
      const primary = await cluster.waitForFailover(owner.port, 30_000);
      return { primary, replicas: ownReplicas.filter((n) => n !== primary) };
    });
    await expectNoAcknowledgedWriteLost(writes, apps, watcher, hooks);
    await expectRefusedNotWritten(writes);
  });

  it('Cluster, REDIS_MIN_REPLICA_ACKS=1: every kind of request works with all keys in one slot', async () => {
    const cluster = await startCluster({ primaries: 3, replicasPerPrimary: 1 });
    topology = cluster;
    const { watcher } = await instances({ REDIS_CLUSTER_NODES: cluster.seeds.join(','), REDIS_MIN_REPLICA_ACKS: '1', KV_EXPIRY_SWEEP_INTERVAL_MS: '50' });
    const [a, b] = apps.map((app) => app.url);
    const call = async (url: string, method: string, body?: unknown, headers: Record<string, string> = {}) => {
      const res = await fetch(url, { method, headers: { ...json, ...headers }, body: body === undefined ? undefined : JSON.stringify(body) });
      const text = await res.text();
      return { status: res.status, headers: res.headers, body: text === '' ? null : (JSON.parse(text) as unknown) };
    };
    expect((await call(`${a}/set`, 'POST', { 'user:1': 1, 'user:2': 2, 'team:1': 't' })).status).toBe(200);
    expect((await call(`${a}/set?nx=true`, 'POST', { 'user:1': 9, 'user:3': 3 })).status).toBe(409);
    expect((await call(`${b}/get/user:2`, 'GET')).body).toEqual({ key: 'user:2', value: 2 });
    expect((await call(`${b}/search?prefix=user:`, 'GET')).body).toEqual(['user:1', 'user:2']);
    expect((await call(`${b}/search?suffix=:1`, 'GET')).body).toEqual(['team:1', 'user:1']);
    const page = await call(`${b}/?limit=2`, 'GET');
    expect(page.body).toEqual({ 'team:1': 't', 'user:1': 1 });
    expect(page.headers.get('link')).toContain('rel="next"');
    const record = await call(`${b}/keys/user:1`, 'GET');
    const etag = record.headers.get('etag') as string;
    expect((await call(`${a}/keys/user:1`, 'PUT', { value: 10 }, { 'If-Match': etag })).status).toBe(200);
    expect((await call(`${b}/keys/user:1`, 'PUT', { value: 11 }, { 'If-Match': etag })).status).toBe(412);
    expect((await call(`${b}/keys/temp`, 'PUT', { value: 1, ttl: 1 })).status).toBe(201);
    expect((await call(`${a}/keys/user:2`, 'DELETE')).status).toBe(204);
    await watcher.waitFor(() => watcher.events().some((e) => e.event === 'expire' && e.data.key === 'temp'), 10_000);
    const events = watcher.events();
    expect(events.map((e) => `${e.event} ${String(e.data.key)}`)).toEqual(['put user:1', 'put user:2', 'put team:1', 'put user:1', 'put temp', 'delete user:2', 'expire temp']);
    const resumed = await openSse(`${a}/watch`, { 'Last-Event-ID': events[2].id });
    watchers.push(resumed);
    await resumed.waitFor(() => resumed.events().length === 4, 10_000);
    expect(resumed.events().map((e) => e.id)).toEqual(events.slice(3).map((e) => e.id));
    const subscriptions = (await call(`${b}/subscriptions`, 'GET')).body as { id: string }[];
    expect(subscriptions).toHaveLength(1);
    expect((await call(`${b}/subscriptions/${subscriptions[0].id}`, 'DELETE')).status).toBe(204);
    expect((await call(`${a}/subscriptions`, 'GET')).body).toEqual([]);
    expect((await call(`${a}/health/ready`, 'GET')).status).toBe(200);
  });

  it('Sentinel, REDIS_MIN_REPLICA_ACKS=0: a failover that loses acknowledged writes resets watchers, and no delivery id names two events', async () => {
    const set = await startSentinelSet({ replicas: 1, sentinels: 3 });
    topology = set;
    const { watcher, receiver: hooks } = await instances({ REDIS_SENTINELS: set.sentinelAddresses.join(','), REDIS_SENTINEL_MASTER: set.name });
    const [primary, replica] = set.nodes;
    const put = (key: string, value: number) => fetch(`${apps[0].url}/keys/${key}`, { method: 'PUT', headers: json, body: JSON.stringify({ value }) });
    for (let i = 0; i < 5; i++) expect((await put(`synced-${i}`, i)).status).toBe(201);
    await until(async () => Number((await replica.info('replication')).master_repl_offset) >= Number((await primary.info('replication')).master_repl_offset), 10_000);

    // Acknowledged with asynchronous replication, then lost: the replica is paused and its link cut first.
    replica.pause();
    expect(await primary.cutReplicas()).toBe(1);
    for (let i = 0; i < 5; i++) expect((await put(`lost-${i}`, i)).status).toBe(201);
    await watcher.waitFor(() => watcher.events().filter((e) => String(e.data.key).startsWith('lost-')).length === 5, 10_000);
    await hooks.waitFor((h) => h.some((hook) => hook.body.key === 'lost-4'), 10_000);
    await primary.kill();
    replica.resume();
    await set.waitForFailover(primary.port, 30_000);

    // Writes go on, in a new keyspace above every revision handed out before: the watcher is told, not left silent.
    await until(async () => (await put('after', 1)).status === 201, RECOVERY_MS);
    await watcher.waitFor(() => watcher.events().some((e) => e.event === 'reset'), 10_000);
    const lostRevisions = watcher.events().filter((e) => String(e.data.key).startsWith('lost-'));
    const after = await fetch(`${apps[1].url}/keys/after`);
    const position = (after.headers.get('etag') ?? '').replace(/"/g, '');
    expect(keyspaceOf(position)).not.toBe(keyspaceOf(lostRevisions[0].id));
    expect(revisionOf(position)).toBeGreaterThan(Math.max(...lostRevisions.map((e) => revisionOf(e.id))));
    expect((await fetch(`${apps[1].url}/keys/lost-0`)).status).toBe(404);

    await hooks.waitFor((h) => h.some((hook) => hook.body.key === 'after'), 20_000);
    const delivered = new Map<string, string>();
    for (const hook of hooks.received) {
      const id = String(hook.headers['x-kv-delivery']);
      const event = `${String(hook.body.key)}@${String(hook.body.revision)}`;
      expect(delivered.get(id) ?? event).toBe(event);
      delivered.set(id, event);
    }
  });

  describe('standalone with appendonly yes', () => {
    let redis: RedisServer | undefined;
    let dir = '';
    afterEach(async () => {
      await redis?.kill();
      redis = undefined;
      if (dir !== '') rmSync(dir, { recursive: true, force: true });
    });

    it('restarted under load: revisions continue, no acknowledged write is lost and no watcher is reset', async () => {
      dir = mkdtempSync(join(tmpdir(), 'kv-aof-'));
      redis = await startRedisServer({ dir, appendonly: true, args: ['--appendfsync', 'always'] });
      const { watcher, receiver: hooks } = await instances({ REDIS_URL: redis.url });
      const load = startLoad(apps.map((a) => a.url));
      await sleep(LOAD_MS);
      const restartedAt = Date.now();
      await redis.stop();
      await redis.restart();
      await until(() => load.writes.some((w) => w.startedAt > restartedAt && w.status === 201), RECOVERY_MS);
      await sleep(LOAD_MS);
      await load.stop();
      const acked = acknowledged(load.writes);
      console.log(`standalone AOF restart: ${load.writes.length} writes, ${acked.length} acknowledged, ${load.writes.filter((w) => w.status === 504).length} unknown (504)`);
      await expectNoAcknowledgedWriteLost(load.writes, apps, watcher, hooks);
    });
  });
});
