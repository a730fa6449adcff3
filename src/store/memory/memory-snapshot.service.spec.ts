import { Logger } from '@nestjs/common';
import { chmodSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ChangeEvent } from '../change-feed';
import { MemoryChangeFeed } from './memory-change.feed';
import * as format from './memory-snapshot';
import { SnapshotError } from './memory-snapshot';
import { MemorySnapshotService, type MemorySnapshotOptions } from './memory-snapshot.service';
import { MemoryStore } from './memory.store';
import { type SnapshotSection, SnapshotSections } from './snapshot-sections';

const KS = { id: 'aaaaaaaaaaaa', base: 0 };

/** A section holding a list of strings, refusing anything else. */
class ListSection implements SnapshotSection {
  items: string[] = [];
  dump(): string[] {
    return [...this.items];
  }
  prepareRestore(items: readonly unknown[]): () => void {
    if (items.some((item) => typeof item !== 'string')) throw new Error('items must be strings');
    return () => (this.items = items as string[]);
  }
}

function newStore(): { store: MemoryStore; feed: MemoryChangeFeed } {
  const store = new MemoryStore({ sweepIntervalMs: 3_600_000, history: 100 });
  return { store, feed: store.feed };
}

describe('MemoryStore snapshot and restore', () => {
  it('snapshot() is a point-in-time view: writes made while it is walked do not show', async () => {
    const { store } = newStore();
    for (let i = 0; i < 1000; i++) await store.set([{ key: `k${String(i).padStart(4, '0')}`, value: i }]);
    const image = store.snapshot();
    const walked: string[] = [];
    for (const record of image.records) {
      walked.push(record.key);
      if (walked.length === 10) {
        await store.set([{ key: 'k0005', value: 'changed' }, { key: 'k9999', value: 'new' }, { key: 'a-first', value: 1 }]);
        await store.delete('k0500');
      }
    }
    expect(image.revision).toBe(1000);
    expect(walked).toHaveLength(1000);
    expect(walked).toContain('k0500');
    expect(walked).not.toContain('k9999');
    expect([...store.snapshot().records].find((r) => r.key === 'k0005')?.value).toBe('changed');
  });

  it('leaves out keys already expired when the view is taken', async () => {
    jest.useFakeTimers({ now: 1_000_000 });
    try {
      const { store } = newStore();
      await store.set([{ key: 'short', value: 1 }], { ttlSeconds: 1 });
      await store.set([{ key: 'long', value: 2 }], { ttlSeconds: 100 });
      jest.setSystemTime(1_000_000 + 1000);
      expect([...store.snapshot().records].map((r) => r.key)).toEqual(['long']);
    } finally {
      jest.useRealTimers();
    }
  });

  it('restore() brings back records, expiries and the revision; the feed continues from it', async () => {
    const now = Date.now();
    const { store, feed } = newStore();
    const records = [
      { key: 'a', value: 1, revision: 3, createdAt: now - 5000, updatedAt: now - 4000, expiresAt: null, size: 1 },
      { key: 'gone', value: 2, revision: 4, createdAt: now - 5000, updatedAt: now - 5000, expiresAt: now - 1, size: 1 },
      { key: 'soon', value: 3, revision: 7, createdAt: now - 5000, updatedAt: now - 5000, expiresAt: now + 60_000, size: 1 },
    ];
    const events: ChangeEvent[] = [];
    feed.watch(null, { events: (batch) => events.push(...batch), reset: () => undefined });
    expect(store.restore({ revision: 9, records }, KS)).toBe(2);
    expect(events).toEqual([]); // the key that expired meanwhile is simply not there
    expect(await store.get('a')).toEqual(records[0]);
    expect(store.keyspace).toBe(KS);
    expect(await store.get('gone')).toBeNull();
    expect(await store.count()).toBe(2);
    expect(await store.revision()).toBe(9);
    expect(feed.position).toEqual({ keyspace: KS.id, revision: 9 });
    const [written] = await store.set([{ key: 'b', value: 4 }]);
    expect(written.record.revision).toBe(10);
    expect(events.map((e) => e.revision)).toEqual([10]);
    expect(store.sweep(now + 60_000)).toBe(1); // the restored expiry is indexed
    expect(events.map((e) => [e.type, e.key, e.revision])).toEqual([
      ['put', 'b', 10],
      ['expire', 'soon', 11],
    ]);
  });

  it('after a restore, a watch resuming from before it gets a reset; one at its revision continues', () => {
    const { store, feed } = newStore();
    store.restore({ revision: 50, records: [] }, KS);
    const resets: number[] = [];
    const seen: number[] = [];
    feed.watch({ keyspace: KS.id, revision: 40 }, { events: (b) => seen.push(...b.map((e) => e.revision)), reset: (r) => resets.push(r.revision) });
    feed.watch({ keyspace: KS.id, revision: 50 }, { events: (b) => seen.push(...b.map((e) => e.revision)), reset: (r) => resets.push(r.revision) });
    expect(resets).toEqual([50]);
    void store.set([{ key: 'x', value: 1 }]);
    expect(seen).toEqual([51, 51]);
  });

  it('restores only into a store that was never written', async () => {
    const { store } = newStore();
    await store.set([{ key: 'a', value: 1 }]);
    expect(() => store.restore({ revision: 5, records: [] }, KS)).toThrow('restore() needs a store that has never been written');
    const feed = new MemoryChangeFeed({ history: 10, historyBytes: 1024 }, KS);
    feed.publish([{ type: 'put', key: 'a', value: 1, keyspace: KS.id, revision: 1, time: new Date().toISOString() }], [10]);
    expect(() => feed.startAt({ id: 'bbbbbbbbbbbb', base: 5 }, 5)).toThrow('startAt() needs a feed that has published nothing');
  });
});

describe('SnapshotSections', () => {
  it('dumps every section, installs a restore only once all sections accepted it, and keeps unknown sections', () => {
    const sections = new SnapshotSections();
    const a = new ListSection();
    const b = new ListSection();
    sections.register('a', a);
    sections.register('b', b);
    expect(() => sections.register('a', new ListSection())).toThrow('snapshot section "a" is registered twice');
    expect(() => sections.prepareRestore(new Map([['a', ['x']], ['b', [1]]]))).toThrow('section "b": items must be strings');
    expect(a.items).toEqual([]);
    const install = sections.prepareRestore(new Map<string, unknown[]>([['a', ['x']], ['other', [{ kept: true }]]]));
    install();
    expect(a.items).toEqual(['x']);
    expect(sections.dump()).toEqual(new Map<string, unknown[]>([['other', [{ kept: true }]], ['a', ['x']], ['b', []]]));
    expect(() => sections.register('late', new ListSection())).toThrow(/registered after the snapshot was restored/);
  });
});

describe('MemorySnapshotService', () => {
  let dir: string;
  let file: string;
  let logs: string[];
  const running: MemorySnapshotService[] = [];

  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'kv-snapshot-service-'));
    file = join(dir, 'kv.snapshot');
    logs = [];
    for (const level of ['log', 'warn', 'error', 'debug'] as const) {
      jest.spyOn(Logger.prototype, level).mockImplementation((...args: unknown[]) => void logs.push(`${level}: ${String(args[0])}`));
    }
  });

  afterEach(async () => {
    await Promise.all(running.splice(0).map((s) => s.stop().catch(() => undefined)));
    jest.restoreAllMocks();
    chmodSync(dir, 0o700);
    rmSync(dir, { recursive: true, force: true });
  });

  function service(options: Partial<MemorySnapshotOptions> = {}) {
    const { store, feed } = newStore();
    const sections = new SnapshotSections();
    const list = new ListSection();
    sections.register('list', list);
    const snapshots = new MemorySnapshotService(store, sections, { file, intervalMs: 3_600_000, onCorrupt: 'fail', ...options });
    running.push(snapshots);
    return { store, feed, list, snapshots };
  }

  it('starts empty without a file, writes at stop, and the next start restores store and sections', async () => {
    const first = service();
    await first.snapshots.start();
    expect(logs).toContain(`log: No snapshot at ${file} yet: starting empty`);
    await first.store.set([{ key: 'k', value: { deep: [1] } }], { ttlSeconds: 3600 });
    first.list.items.push('item');
    await first.snapshots.stop();
    expect(logs.some((l) => /^log: Snapshot written to .*: 1 keys, \d+ bytes, revision 1, in \d+ ms$/.test(l))).toBe(true);

    const second = service();
    await second.snapshots.start();
    expect(await second.store.get('k')).toEqual(await first.store.get('k'));
    expect(await second.store.revision()).toBe(1);
    expect(second.list.items).toEqual(['item']);
    expect(logs.some((l) => /^log: Restored .* 1 keys, 1 list, revision 1, in \d+ ms$/.test(l))).toBe(true);
  });

  it('at stop, announces keys already expired but not swept yet before the final write, so the restored revision counts them', async () => {
    const first = service();
    await first.snapshots.start();
    await first.store.set([{ key: 'short', value: 1 }], { ttlSeconds: 1 });
    await first.store.set([{ key: 'kept', value: 2 }]);
    const events: ChangeEvent[] = [];
    first.feed.watch(null, { events: (batch) => events.push(...batch), reset: () => undefined });
    // Expired, and the sweeper (hourly here) has not run.
    jest.spyOn(Date, 'now').mockReturnValue(Date.now() + 2000);
    await first.snapshots.stop();
    expect(events.map((e) => [e.type, e.key, e.revision])).toEqual([['expire', 'short', 3]]);

    const second = service();
    await second.snapshots.start();
    expect(await second.store.revision()).toBe(3);
    expect(await second.store.get('short')).toBeNull();
    expect((await second.store.get('kept'))?.value).toBe(2);
  });

  it('writes periodically only when something changed, never two at once', async () => {
    // Writing this takes longer than the interval, so a second write would start during the first if it could.
    const { store, snapshots } = service({ intervalMs: 1 });
    for (let i = 0; i < 10_000; i++) await store.set([{ key: `k${i}`, value: 'x'.repeat(50) }]);
    const actual = format.writeSnapshotFile;
    const write = jest.spyOn(format, 'writeSnapshotFile');
    let inFlight = 0;
    let most = 0;
    write.mockImplementation(async (...args) => {
      most = Math.max(most, ++inFlight);
      try {
        return await actual(...args);
      } finally {
        inFlight--;
      }
    });
    await snapshots.start();
    const writer = setInterval(() => void store.set([{ key: 'tick', value: Date.now() }]), 2);
    // As long as it takes for a few snapshots, however busy the machine.
    for (const deadline = Date.now() + 10_000; write.mock.calls.length < 4 && Date.now() < deadline; ) await new Promise((r) => setTimeout(r, 10));
    clearInterval(writer);
    const final = await store.revision();
    while ((await format.readSnapshotFile(file))?.revision !== final) await new Promise((r) => setTimeout(r, 10));
    const calls = write.mock.calls.length;
    expect(calls).toBeGreaterThan(2);
    expect(most).toBe(1);
    await new Promise((r) => setTimeout(r, 100));
    expect(write.mock.calls.length).toBe(calls); // unchanged: not rewritten
    expect(logs.some((l) => l.startsWith('debug: Snapshot written to'))).toBe(true);
    await snapshots.stop();
    expect(write.mock.calls.length).toBe(calls); // still unchanged at shutdown
    expect((await format.readSnapshotFile(file))?.revision).toBe(await store.revision());
  });

  it('stops the start with a SnapshotError for a damaged file (SNAPSHOT_ON_CORRUPT=fail)', async () => {
    writeFileSync(file, '{"format":"kv-store-snapshot","version":1,"rev');
    const { snapshots } = service();
    await expect(snapshots.start()).rejects.toThrow(
      new SnapshotError(`Snapshot ${file} is truncated: its header is incomplete; to start empty instead, set SNAPSHOT_ON_CORRUPT=ignore (the file is then moved aside)`),
    );
    expect(readdirSync(dir)).toEqual(['kv.snapshot']);
  });

  it('refuses a snapshot whose section fails its checks, naming it', async () => {
    await format.writeSnapshotFile(file, { keyspace: KS, revision: 0, takenAt: Date.now(), records: [], sections: new Map([['list', [42]]]) });
    const { snapshots } = service();
    await expect(snapshots.start()).rejects.toThrow(`Snapshot ${file} is corrupt: section "list": items must be strings; to start empty instead`);
  });

  it('with SNAPSHOT_ON_CORRUPT=ignore moves the bad file aside, warns and starts empty', async () => {
    await format.writeSnapshotFile(file, { keyspace: KS, revision: 3, takenAt: Date.now(), records: [], sections: new Map([['list', [42]]]) });
    const { snapshots, store, list } = service({ onCorrupt: 'ignore' });
    await snapshots.start();
    expect(await store.revision()).toBe(0);
    expect(list.items).toEqual([]);
    const [aside] = readdirSync(dir);
    expect(aside).toMatch(/^kv\.snapshot\.corrupt-\d{4}-\d\d-\d\dT\d\d-\d\d-\d\d-\d{3}Z$/);
    expect(logs).toContain(`warn: Snapshot ${file} is corrupt: section "list": items must be strings. SNAPSHOT_ON_CORRUPT=ignore: moved it to ${join(dir, aside)}; starting EMPTY`);
    await snapshots.stop();
    expect(existsSync(file)).toBe(true); // a fresh snapshot replaces it
    expect(readFileSync(join(dir, aside), 'utf8')).toContain('42');
  });

  it('refuses to start when the snapshot directory cannot be written', async () => {
    const { snapshots } = service({ file: join(dir, 'missing', 'kv.snapshot') });
    await expect(snapshots.start()).rejects.toThrow(/^Snapshot directory .*missing \(of SNAPSHOT_FILE=.*\) is not writable: ENOENT/);
  });
});
