import { createHmac } from 'node:crypto';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { readSnapshotFile } from '../src/store/memory/memory-snapshot';
import { killIfRunning, runServerProcess, type ServerProcess, startServerProcess } from './helpers/server-process';
import { openSse } from './helpers/sse-client';
import { until } from './helpers/until';
import { startWebhookReceiver, type WebhookReceiver } from './helpers/webhook-receiver';

interface KvRecordJson {
  key: string;
  value: unknown;
  revision: number;
  keyspace: string;
  createdAt: string;
  updatedAt: string;
  expiresAt: string | null;
}

const json = { 'Content-Type': 'application/json' };

async function put(url: string, key: string, value: unknown, ttl?: number): Promise<KvRecordJson> {
  const res = await fetch(`${url}/keys/${encodeURIComponent(key)}`, { method: 'PUT', headers: json, body: JSON.stringify({ value, ...(ttl && { ttl }) }) });
  if (res.status !== 200 && res.status !== 201) throw new Error(`PUT ${key}: ${res.status} ${await res.text()}`);
  return (await res.json()) as KvRecordJson;
}

/** Every live record, in key order. */
async function allRecords(url: string): Promise<KvRecordJson[]> {
  const res = await fetch(`${url}/keys?limit=10000`);
  const page = (await res.json()) as { items: KvRecordJson[]; next: string | null };
  expect(page.next).toBeNull();
  return page.items;
}

async function getJson(url: string): Promise<{ status: number; body: unknown }> {
  const res = await fetch(url);
  return { status: res.status, body: await res.json() };
}

describe('memory snapshots across restarts of the built server (SNAPSHOT_FILE)', () => {
  let dir: string;
  let file: string;
  let server: ServerProcess | undefined;
  let receiver: WebhookReceiver | undefined;

  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'kv-snapshots-e2e-'));
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  let counter = 0;
  beforeEach(() => {
    file = join(dir, `kv-${++counter}.snapshot`);
  });
  afterEach(async () => {
    await killIfRunning(server);
    server = undefined;
    await receiver?.close();
    receiver = undefined;
  });

  const start = (env: Record<string, string> = {}) =>
    startServerProcess({ SNAPSHOT_FILE: file, WEBHOOK_ALLOWED_HOSTS: '127.0.0.1', WEBHOOK_RETRY_BASE_MS: '20', WEBHOOK_RETRY_MAX_MS: '100', ...env });

  async function stop(s: ServerProcess, signal: 'SIGTERM' | 'SIGKILL'): Promise<void> {
    s.child.kill(signal);
    expect(await s.exited).toEqual(signal === 'SIGTERM' ? { code: 0, signal: null } : { code: null, signal: 'SIGKILL' });
  }

  it('SIGTERM, then a new start: keys, values, revisions, TTLs and subscriptions are back; the sequence continues', async () => {
    receiver = await startWebhookReceiver();
    // Expiry is only swept out on the next start: the short TTL must expire while the server is down.
    server = await start({ SNAPSHOT_INTERVAL_MS: '600000', KV_EXPIRY_SWEEP_INTERVAL_MS: '3600000' });
    const first = server;
    const secret = 'a-webhook-secret-of-some-length';
    const created = await fetch(`${first.url}/subscriptions`, { method: 'POST', headers: json, body: JSON.stringify({ url: receiver.url, prefix: 'user:', secret }) });
    expect(created.status).toBe(201);
    const subscription = (await created.json()) as { id: string };

    await put(first.url, 'user:1', { name: 'ada' });
    const multi = await fetch(`${first.url}/set?ttl=3600`, { method: 'POST', headers: json, body: JSON.stringify({ 'user:2': 2, 'user:3': [3, { deep: true }], 'team/a b?': 'x' }) });
    expect(multi.status).toBe(200);
    await put(first.url, 'user:1', { name: 'ada', role: 'admin' }); // an update: createdAt and updatedAt differ
    await put(first.url, 'plain', 'no ttl', undefined);
    await receiver.waitFor((hooks) => hooks.length === 4); // user:1, user:2, user:3, user:1 again
    const short = await put(first.url, 'short-lived', 'gone after the restart', 3);
    const before = await allRecords(first.url);
    expect(before.map((r) => r.key)).toEqual(['plain', 'short-lived', 'team/a b?', 'user:1', 'user:2', 'user:3']);
    const lastRevision = short.revision;
    expect(lastRevision).toBe(7);

    await stop(first, 'SIGTERM');
    expect(first.lines.join('\n')).toMatch(/"msg":"Snapshot written to [^"]+: 6 keys, \d+ bytes, revision 7, in \d+ ms"/);
    await until(() => Date.now() > Date.parse(short.expiresAt!) + 50, 5000);

    server = await start();
    expect(server.lines.join('\n')).toMatch(/"msg":"Restored [^"]+ \(taken [^)]+\): 5 keys \(1 expired while down, dropped\), 1 subscriptions, revision 7, in \d+ ms"/);
    expect(await allRecords(server.url)).toEqual(before.filter((r) => r.key !== 'short-lived'));
    expect((await getJson(`${server.url}/get/short-lived`)).status).toBe(404);
    expect(await getJson(`${server.url}/get/user%3A3`)).toEqual({ status: 200, body: { key: 'user:3', value: [3, { deep: true }] } });

    // A watch resuming from before the restart gets a reset (the history is not kept); one from its revision does not.
    const stale = await openSse(`${server.url}/watch`, { 'Last-Event-ID': '3' });
    const current = await openSse(`${server.url}/watch?since=${lastRevision}`);
    await stale.waitFor((frames) => frames.some((f) => f.event === 'reset'));
    // A clean stop continues its keyspace: positions from before the restart still mean the same.
    const { keyspace } = short;
    expect(stale.events()[0]).toMatchObject({ event: 'reset', data: { keyspace, revision: lastRevision } });

    const next = await put(server.url, 'user:4', 'after the restart');
    expect(next.revision).toBe(lastRevision + 1);
    await current.waitFor(() => current.events().length === 1);
    expect(current.events()).toEqual([{ id: `${keyspace}:${lastRevision + 1}`, event: 'put', data: expect.objectContaining({ key: 'user:4', revision: lastRevision + 1 }) }]);
    stale.close();
    current.close();

    const listed = (await getJson(`${server.url}/subscriptions`)).body as { id: string; url: string; filter: unknown }[];
    expect(listed).toEqual([expect.objectContaining({ id: subscription.id, url: receiver.url, filter: { prefix: 'user:' } })]);
    // It still delivers, signed with the same secret, only what follows its filter.
    await put(server.url, 'other', 'not followed');
    await put(server.url, 'user:5', 'followed');
    await receiver.waitFor((hooks) => hooks.length === 6);
    const delivered = receiver.received.slice(4);
    expect(delivered.map((h) => h.body)).toEqual([
      expect.objectContaining({ type: 'put', key: 'user:4', revision: lastRevision + 1 }),
      expect.objectContaining({ type: 'put', key: 'user:5', revision: lastRevision + 3 }),
    ]);
    for (const hook of delivered) {
      expect(hook.headers['x-kv-signature']).toBe(`sha256=${createHmac('sha256', secret).update(hook.rawBody).digest('hex')}`);
      expect(hook.headers['x-kv-subscription']).toBe(subscription.id);
    }
  }, 60_000);

  it('kill -9 loses at most the writes after the last snapshot; five kills while writing: every restart loads a consistent state', async () => {
    const model = new Map<string, { value: unknown; revision: number }>();
    let revision = 0;
    for (let round = 1; ; round++) {
      // Each start restores what the previous round left: exactly the model up to the snapshot's revision.
      server = await start({ SNAPSHOT_INTERVAL_MS: '100' });
      const current = server;
      const records = await allRecords(current.url);
      expect(records.map((r) => [r.key, r.value, r.revision])).toEqual(
        [...model].sort(([a], [b]) => (a < b ? -1 : 1)).map(([key, { value, revision: r }]) => [key, value, r]),
      );
      if (round > 5) break;

      const acknowledged: { key: string; value: unknown; revision: number }[] = [];
      let inFlight: { key: string; value: unknown } | null = null;
      const write = async (key: string, value: unknown): Promise<void> => {
        inFlight = { key, value };
        const record = await put(current.url, key, value);
        acknowledged.push({ key, value, revision: record.revision });
        inFlight = null;
      };
      let snapshotted = revision;
      if (round === 1) {
        // Between snapshots: write, wait until a snapshot holds it, write more, kill at once.
        for (let i = 0; i < 30; i++) await write(`before-${i}`, i);
        snapshotted = acknowledged[acknowledged.length - 1].revision;
        await until(async () => ((await readSnapshotFile(file))?.revision ?? 0) >= snapshotted, 10_000);
        for (let i = 0; i < 30; i++) await write(`after-${i}`, i);
        current.child.kill('SIGKILL');
        await current.exited;
      } else {
        // Continuously, until the kill.
        let killed = false;
        const writing = (async () => {
          for (let i = 0; !killed; i++) await write(`k${i % 25}`, { round, i }).catch(() => (killed = true));
        })();
        // After a random number of writes, and a random moment later: usually with one in flight.
        const target = 20 + Math.floor(Math.random() * 60);
        await until(() => acknowledged.length >= target, 15_000);
        await new Promise((r) => setTimeout(r, Math.random() * 30));
        killed = true;
        current.child.kill('SIGKILL');
        await current.exited;
        await writing;
        expect(acknowledged.length).toBeGreaterThanOrEqual(target);
      }

      const snapshot = await readSnapshotFile(file); // throws if the file were damaged
      const restored = snapshot?.revision ?? 0;
      expect(restored).toBeGreaterThanOrEqual(snapshotted);
      // Revisions of one round are consecutive from the last restore; a write whose answer was lost to the
      // kill can only have the next one.
      const applied = [...acknowledged];
      const pending = inFlight as { key: string; value: unknown } | null;
      if (pending) applied.push({ ...pending, revision: (applied[applied.length - 1]?.revision ?? revision) + 1 });
      for (const write of applied) if (write.revision <= restored) model.set(write.key, { value: write.value, revision: write.revision });
      revision = restored;
    }
    expect(revision).toBeGreaterThan(0);
  }, 90_000);

  describe('a snapshot it cannot trust', () => {
    /** One valid snapshot written by the server, copied for each test to damage. */
    let good: Buffer;
    beforeAll(async () => {
      file = join(dir, 'good.snapshot');
      server = await start();
      for (let i = 0; i < 20; i++) await put(server.url, `key-${i}`, { i, text: 'some value' });
      await stop(server, 'SIGTERM');
      server = undefined;
      good = readFileSync(file);
    }, 30_000);

    const failedStart = (snapshotFile: string) => runServerProcess({ PORT: '0', HOST: '127.0.0.1', SNAPSHOT_FILE: snapshotFile, SHUTDOWN_DELAY_MS: '0' });

    it('truncated, or with one byte flipped: the start fails with exit code 1 and one line naming the file and the problem', async () => {
      const cases = [
        { name: 'truncated', bytes: good.subarray(0, Math.floor(good.length * 0.6)), problem: /is truncated or damaged: the end marker is missing after \d+ complete line\(s\) and a partial one/ },
        { name: 'flipped', bytes: Buffer.from(good).fill(good[200] ^ 0x01, 200, 201), problem: /is corrupt: checksum mismatch \(its content was damaged or altered\)/ },
      ];
      // Both at once: a start costs seconds of CPU, and the two are independent.
      const results = await Promise.all(
        cases.map(({ name, bytes }) => {
          const damaged = `${file}.${name}`;
          writeFileSync(damaged, bytes);
          return failedStart(damaged);
        }),
      );
      cases.forEach(({ name, problem }, i) => {
        const { code, stderr } = results[i];
        expect(code).toBe(1);
        const lines = stderr.trim().split('\n');
        expect(lines).toHaveLength(1);
        expect(lines[0]).toMatch(new RegExp(`^Snapshot ${file}\\.${name} ${problem.source}; to start empty instead, set SNAPSHOT_ON_CORRUPT=ignore \\(the file is then moved aside\\)$`));
      });
    }, 30_000);

    it('with SNAPSHOT_ON_CORRUPT=ignore: starts empty, warns, and keeps the bad file aside', async () => {
      const damaged = good.subarray(0, good.length - 10);
      writeFileSync(file, damaged);
      server = await start({ SNAPSHOT_ON_CORRUPT: 'ignore' });
      expect(await allRecords(server.url)).toEqual([]);
      const warning = server.lines.find((l) => l.includes('SNAPSHOT_ON_CORRUPT=ignore'));
      expect(JSON.parse(warning!)).toMatchObject({ level: 40, msg: expect.stringMatching(new RegExp(`^Snapshot ${file} is truncated or damaged: .*; starting EMPTY$`)) });
      const aside = readdirSync(dir).filter((name) => name.startsWith(`kv-${counter}.snapshot.corrupt-`));
      expect(aside).toHaveLength(1);
      expect(readFileSync(join(dir, aside[0]))).toEqual(damaged);
      // The server carries on with a fresh snapshot of its own.
      await put(server.url, 'fresh', 1);
      await stop(server, 'SIGTERM');
      expect((await readSnapshotFile(file))?.records.map((r) => r.key)).toEqual(['fresh']);
    }, 30_000);
  });
});
