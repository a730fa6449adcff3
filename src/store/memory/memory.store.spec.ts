import { KeyExistsError, KeyNotFoundError, RevisionMismatchError } from '../../common/errors/domain.errors';
import type { ChangeEvent } from '../change-feed';
import { MemoryChangeFeed } from './memory-change.feed';
import { MemoryStore } from './memory.store';

describe('MemoryStore', () => {
  /** A position of the store's own keyspace. */
  const at = (revision: number) => ({ keyspace: store.keyspace.id, revision });
  const T0 = Date.parse('2026-01-01T00:00:00.000Z');
  let store: MemoryStore;

  beforeEach(() => {
    jest.useFakeTimers({ now: T0 });
    store = new MemoryStore({ sweepIntervalMs: 1000, history: 100 });
    store.start();
  });

  afterEach(async () => {
    await store.close();
    jest.useRealTimers();
  });

  describe('revisions', () => {
    it('starts at 0 and gives every changed key its own consecutive revision', async () => {
      expect(await store.revision()).toBe(0);
      const [a] = await store.set([{ key: 'a', value: 1 }]);
      expect(a.record.revision).toBe(1);
      const batch = await store.set([
        { key: 'b', value: 2 },
        { key: 'c', value: 3 },
      ]);
      expect(batch.map((r) => r.record.revision)).toEqual([2, 3]);
      expect(await store.revision()).toBe(3);
    });

    it('bumps the revision on delete and keeps createdAt across updates', async () => {
      await store.set([{ key: 'k', value: 'v1' }]);
      jest.advanceTimersByTime(5000);
      const [updated] = await store.set([{ key: 'k', value: 'v2' }]);
      expect(updated.created).toBe(false);
      expect(updated.record.createdAt).toBe(T0);
      expect(updated.record.updatedAt).toBe(T0 + 5000);
      await store.delete('k');
      expect(await store.revision()).toBe(3);
      const [recreated] = await store.set([{ key: 'k', value: 'v3' }]);
      expect(recreated.created).toBe(true);
      expect(recreated.record.createdAt).toBe(T0 + 5000);
      expect(recreated.record.revision).toBe(4);
    });

    it('does not bump the revision for a write that fails its precondition', async () => {
      await store.set([{ key: 'k', value: 1 }]);
      await expect(store.set([{ key: 'k', value: 2 }], { precondition: { exists: false } })).rejects.toThrow(KeyExistsError);
      expect(await store.revision()).toBe(1);
      expect((await store.get('k'))?.value).toBe(1);
    });
  });

  describe('TTL', () => {
    it('hides a key from the instant it expires, before any sweep', async () => {
      await store.set([{ key: 't', value: 'x' }], { ttlSeconds: 10 });
      expect((await store.get('t'))?.expiresAt).toBe(T0 + 10_000);
      jest.setSystemTime(T0 + 9_999);
      expect(await store.get('t')).not.toBeNull();
      jest.setSystemTime(T0 + 10_000);
      expect(await store.get('t')).toBeNull();
      expect((await store.list({ limit: 10 })).items).toEqual([]);
      expect(await store.count()).toBe(0);
    });

    it('sweeps expired keys out of memory on its timer, each expiry bumping the revision once', async () => {
      await store.set([{ key: 'a', value: 1 }], { ttlSeconds: 1 });
      await store.set([{ key: 'b', value: 2 }], { ttlSeconds: 2 });
      await store.set([{ key: 'c', value: 3 }]);
      jest.advanceTimersByTime(1000);
      expect(store.sweep()).toBe(0); // the timer already removed `a`
      expect(await store.revision()).toBe(4);
      jest.advanceTimersByTime(1000);
      expect(await store.revision()).toBe(5);
      expect(await store.count()).toBe(1);
      expect((await store.list({ limit: 10 })).items.map((r) => r.key)).toEqual(['c']);
    });

    it('frees memory for many expired keys, in slices', async () => {
      const entries = Array.from({ length: 2500 }, (_, i) => ({ key: `k${i}`, value: i }));
      await store.set(entries, { ttlSeconds: 1 });
      jest.advanceTimersByTime(1000);
      // The first slice runs on the timer, the rest on setImmediate.
      await jest.runOnlyPendingTimersAsync();
      await jest.runOnlyPendingTimersAsync();
      expect(store.sweep()).toBe(0);
      expect(await store.count()).toBe(0);
      expect(await store.revision()).toBe(5000);
    });

    it('treats re-setting an expired key as a create, and a write without ttl clears the expiry', async () => {
      await store.set([{ key: 'k', value: 1 }], { ttlSeconds: 1 });
      jest.setSystemTime(T0 + 1500);
      const [again] = await store.set([{ key: 'k', value: 2 }], { ttlSeconds: 5 });
      expect(again.created).toBe(true);
      // expire (rev 2) came before the new put (rev 3)
      expect(again.record.revision).toBe(3);
      const [persist] = await store.set([{ key: 'k', value: 3 }]);
      expect(persist.record.expiresAt).toBeNull();
      jest.setSystemTime(T0 + 60_000);
      expect(store.sweep()).toBe(0);
      expect((await store.get('k'))?.value).toBe(3);
    });

    it('an expired key cannot be deleted and fails update-only writes', async () => {
      await store.set([{ key: 'k', value: 1 }], { ttlSeconds: 1 });
      jest.setSystemTime(T0 + 1000);
      await expect(store.delete('k')).rejects.toThrow(KeyNotFoundError);
      await expect(store.set([{ key: 'k', value: 2 }], { precondition: { exists: true } })).rejects.toThrow(KeyNotFoundError);
    });
  });

  describe('preconditions', () => {
    beforeEach(async () => {
      await store.set([
        { key: 'a', value: 1 },
        { key: 'b', value: 2 },
      ]);
    });

    it('nx writes nothing when any key exists, and names the existing keys', async () => {
      const attempt = store.set(
        [
          { key: 'new', value: 0 },
          { key: 'a', value: 9 },
          { key: 'b', value: 9 },
        ],
        { precondition: { exists: false } },
      );
      await expect(attempt).rejects.toMatchObject({ constructor: KeyExistsError, keys: ['a', 'b'] });
      expect(await store.get('new')).toBeNull();
      expect((await store.get('a'))?.value).toBe(1);
    });

    it('xx writes nothing when any key is absent', async () => {
      const attempt = store.set(
        [
          { key: 'a', value: 9 },
          { key: 'missing', value: 9 },
        ],
        { precondition: { exists: true } },
      );
      await expect(attempt).rejects.toMatchObject({ constructor: KeyNotFoundError, keys: ['missing'] });
      expect((await store.get('a'))?.value).toBe(1);
      await store.set([{ key: 'a', value: 10 }], { precondition: { exists: true } });
      expect((await store.get('a'))?.value).toBe(10);
    });

    it('compare-and-set succeeds only at a listed revision', async () => {
      const current = (await store.get('a'))!.revision;
      await expect(store.set([{ key: 'a', value: 'x' }], { precondition: { revisions: [at(current + 1)] } })).rejects.toMatchObject({
        constructor: RevisionMismatchError,
        currentRevision: current,
      });
      const [ok] = await store.set([{ key: 'a', value: 'x' }], { precondition: { revisions: [at(99), { keyspace: 'bbbbbbbbbbbb', revision: current }, at(current)] } });
      expect(ok.record.value).toBe('x');
      await expect(store.set([{ key: 'nope', value: 1 }], { precondition: { revisions: [at(1)] } })).rejects.toMatchObject({
        constructor: RevisionMismatchError,
        currentRevision: null,
      });
      await expect(store.delete('a', { revisions: [at(current)] })).rejects.toThrow(RevisionMismatchError);
      expect((await store.delete('a', { revisions: [at(ok.record.revision)] })).value).toBe('x');
    });
  });

  describe('list', () => {
    it('pages in code-point order with an exclusive cursor', async () => {
      // UTF-16 order would put the emoji (a surrogate pair) before U+FF5E.
      const keys = ['b', 'a', '10', '2', '\uff5e', '😀', 'a/b', 'A'];
      await store.set(keys.map((key) => ({ key, value: key })));
      const seen: string[] = [];
      let after: string | undefined;
      for (;;) {
        const page = await store.list({ limit: 3, after });
        seen.push(...page.items.map((r) => r.key));
        if (page.next === null) break;
        expect(page.items).toHaveLength(3);
        after = page.next;
      }
      expect(seen).toEqual(['10', '2', 'A', 'a', 'a/b', 'b', '\uff5e', '😀']);
    });

    it('continues after a cursor key that no longer exists', async () => {
      await store.set(['a', 'b', 'c', 'd'].map((key) => ({ key, value: 0 })));
      await store.delete('b');
      expect((await store.list({ limit: 10, after: 'b' })).items.map((r) => r.key)).toEqual(['c', 'd']);
    });

    it('reports next only when more keys remain', async () => {
      await store.set(['a', 'b'].map((key) => ({ key, value: 0 })));
      expect((await store.list({ limit: 2 })).next).toBeNull();
      expect((await store.list({ limit: 1 })).next).toBe('a');
    });
  });

  it('stores keys such as __proto__ as plain data', async () => {
    await store.set([{ key: '__proto__', value: { polluted: true } }]);
    expect((await store.get('__proto__'))?.value).toEqual({ polluted: true });
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  });
});

describe('MemoryStore change events', () => {
  const T0 = Date.parse('2026-01-01T00:00:00.000Z');
  let store: MemoryStore;
  let feed: MemoryChangeFeed;
  let batches: ChangeEvent[][];

  beforeEach(() => {
    jest.useFakeTimers({ now: T0 });
    store = new MemoryStore({ sweepIntervalMs: 1000, history: 100 });
    feed = store.feed;
    store.start();
    batches = [];
    feed.watch(null, { events: (b) => batches.push([...b]), reset: () => undefined });
  });

  afterEach(async () => {
    await store.close();
    jest.useRealTimers();
  });

  it('publishes put (with prevValue on replace), delete and expire, each with its own revision', async () => {
    await store.set([{ key: 'a', value: 1 }]);
    await store.set([{ key: 'a', value: 2 }], { ttlSeconds: 1 });
    await store.set([{ key: 'b', value: 'x' }]);
    await store.delete('b');
    jest.advanceTimersByTime(1000);
    const time = (ms: number) => new Date(T0 + ms).toISOString();
    const ks = store.keyspace.id;
    expect(batches).toEqual([
      [{ type: 'put', key: 'a', value: 1, keyspace: ks, revision: 1, time: time(0) }],
      [{ type: 'put', key: 'a', value: 2, prevValue: 1, keyspace: ks, revision: 2, time: time(0) }],
      [{ type: 'put', key: 'b', value: 'x', keyspace: ks, revision: 3, time: time(0) }],
      [{ type: 'delete', key: 'b', prevValue: 'x', keyspace: ks, revision: 4, time: time(0) }],
      [{ type: 'expire', key: 'a', prevValue: 2, keyspace: ks, revision: 5, time: time(1000) }],
    ]);
    expect(feed.position.revision).toBe(await store.revision());
  });

  it('publishes a multi-pair set as one batch of consecutive revisions', async () => {
    await store.set([
      { key: 'x', value: 1 },
      { key: 'y', value: 2 },
      { key: 'z', value: 3 },
    ]);
    expect(batches).toHaveLength(1);
    expect(batches[0].map((e) => [e.key, e.revision])).toEqual([['x', 1], ['y', 2], ['z', 3]]);
  });

  it('expires each key exactly once, whether the sweeper or a write finds it first', async () => {
    await store.set([{ key: 'a', value: 1 }, { key: 'b', value: 2 }], { ttlSeconds: 1 });
    jest.setSystemTime(T0 + 1500); // due, but the sweeper has not run yet
    await store.set([{ key: 'a', value: 'again' }]);
    jest.advanceTimersByTime(1000);
    store.sweep(Date.now() + 10_000);
    const flat = batches.flat().map((e) => `${e.type}:${e.key}`);
    expect(flat).toEqual(['put:a', 'put:b', 'expire:a', 'put:a', 'expire:b']);
  });

  it('publishes the expiries a failed conditional write caused, and nothing for the write', async () => {
    await store.set([{ key: 'a', value: 1 }], { ttlSeconds: 1 });
    await store.set([{ key: 'b', value: 2 }]);
    jest.setSystemTime(T0 + 2000);
    await expect(store.set([{ key: 'a', value: 9 }, { key: 'b', value: 9 }], { precondition: { exists: false } })).rejects.toThrow();
    expect(batches.flat().map((e) => `${e.type}:${e.key}`)).toEqual(['put:a', 'put:b', 'expire:a']);
  });
});
