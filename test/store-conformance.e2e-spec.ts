import fc from 'fast-check';
import { Redis } from 'ioredis';
import { KeyExistsError, KeyNotFoundError, RevisionMismatchError } from '../src/common/errors/domain.errors';
import type { ChangeEvent, ChangeFeed } from '../src/store/change-feed';
import { compareCodePoints } from '../src/store/key-order';
import type { KeyValueStore } from '../src/store/kv.store';
import { MemoryStore } from '../src/store/memory/memory.store';
import { DRIVERS, useDriver } from './helpers/drivers';
import { redisSubject } from './helpers/redis-store';
import { until } from './helpers/until';
import { waiters } from './helpers/waiters';

interface Subject {
  store: KeyValueStore & { sweep(now?: number): number | Promise<number> };
  feed: ChangeFeed;
  close(): Promise<void>;
}

/**
 * One contract, every driver: the same cases run against the memory store and against Redis. Time is faked
 * for Date only (both drivers take "now" from the caller; ioredis needs its real timers).
 */
describe.each(DRIVERS)('KeyValueStore conformance (%s driver)', (driverName) => {
  const driver = useDriver(driverName);
  let s: Subject;
  // The fake clock starts at the real time: Redis's own clock drives the native expiry that backs the
  // logical one (60 s later), so the two must agree as they do in production.
  const T0 = Math.floor(Date.now() / 1000) * 1000;

  async function subject(): Promise<Subject> {
    if (driverName === 'memory') {
      const store = new MemoryStore({ sweepIntervalMs: 3_600_000, history: 100 });
      return { store, feed: store.feed, close: () => store.close() };
    }
    return redisSubject(driver.redis!.url);
  }

  /** A position in the store's keyspace. */
  const at = (revision: number) => ({ keyspace: s.store.keyspace.id, revision });

  /** Records every event the feed delivers from now on (to a sink that reads no values when `readsValues` is false). */
  function record(feed: ChangeFeed, readsValues?: boolean) {
    const events: ChangeEvent[] = [];
    const batches: number[][] = [];
    const w = waiters(events, () => JSON.stringify(events));
    feed.watch(null, {
      events: (b) => {
        events.push(...b);
        batches.push(b.map((e) => e.revision));
        w.notify();
      },
      reset: () => undefined,
      ...(readsValues !== undefined && { readsValues }),
    });
    return { events, batches, waitFor: w.waitFor };
  }

  beforeEach(async () => {
    jest.useFakeTimers({ now: T0, doNotFake: ['setTimeout', 'setInterval', 'setImmediate', 'clearTimeout', 'clearInterval', 'clearImmediate', 'nextTick', 'queueMicrotask', 'hrtime', 'performance'] });
    s = await subject();
  });
  afterEach(async () => {
    await s.close();
    jest.useRealTimers();
  });

  it('gives every changed key its own consecutive revision and keeps createdAt across updates', async () => {
    expect(await s.store.revision()).toBe(0);
    const [a] = await s.store.set([{ key: 'a', value: 1 }]);
    expect(a).toMatchObject({ created: true, record: { key: 'a', value: 1, revision: 1, createdAt: T0, updatedAt: T0, expiresAt: null } });
    jest.setSystemTime(T0 + 5000);
    const batch = await s.store.set([{ key: 'a', value: { v: 2 } }, { key: 'b', value: [true, null] }]);
    expect(batch.map((r) => [r.record.revision, r.created, r.record.createdAt])).toEqual([[2, false, T0], [3, true, T0 + 5000]]);
    expect(await s.store.get('a')).toEqual({ key: 'a', value: { v: 2 }, revision: 2, createdAt: T0, updatedAt: T0 + 5000, expiresAt: null, size: 7 });
    expect((await s.store.delete('a')).value).toEqual({ v: 2 });
    expect(await s.store.revision()).toBe(4);
    expect(await s.store.get('a')).toBeNull();
  });

  it('gives a key named twice in one batch its earlier pair as the previous one', async () => {
    const rec = record(s.feed);
    await s.store.set([{ key: 'a', value: 0 }]);
    jest.setSystemTime(T0 + 5000);
    const batch = await s.store.set([{ key: 'a', value: 1 }, { key: 'n', value: 2 }, { key: 'a', value: 3 }, { key: 'n', value: 4 }]);
    expect(batch.map((r) => [r.record.revision, r.created, r.record.createdAt])).toEqual([
      [2, false, T0],
      [3, true, T0 + 5000],
      [4, false, T0],
      [5, false, T0 + 5000],
    ]);
    await rec.waitFor((e) => e.length === 5);
    expect(rec.events.map((e) => [e.key, e.value, e.prevValue])).toEqual([
      ['a', 0, undefined],
      ['a', 1, 0],
      ['n', 2, undefined],
      ['a', 3, 1],
      ['n', 4, 2],
    ]);
    expect(await s.store.get('a')).toMatchObject({ value: 3, revision: 4, createdAt: T0 });
    expect(await s.store.get('n')).toMatchObject({ value: 4, revision: 5, createdAt: T0 + 5000 });
  });

  it('checks preconditions atomically and writes nothing when one fails', async () => {
    await s.store.set([{ key: 'a', value: 1 }, { key: 'b', value: 2 }]);
    await expect(s.store.set([{ key: 'new', value: 0 }, { key: 'a', value: 9 }], { precondition: { exists: false } })).rejects.toMatchObject({
      constructor: KeyExistsError,
      keys: ['a'],
    });
    await expect(s.store.set([{ key: 'a', value: 9 }, { key: 'gone', value: 9 }], { precondition: { exists: true } })).rejects.toMatchObject({
      constructor: KeyNotFoundError,
      keys: ['gone'],
    });
    await expect(s.store.set([{ key: 'a', value: 9 }], { precondition: { revisions: [at(2)] } })).rejects.toMatchObject({
      constructor: RevisionMismatchError,
      currentRevision: 1,
    });
    await expect(s.store.delete('b', { revisions: [at(1)] })).rejects.toThrow(RevisionMismatchError);
    expect(await s.store.revision()).toBe(2);
    expect(await s.store.get('new')).toBeNull();
    expect((await s.store.get('a'))?.value).toBe(1);
    const [ok] = await s.store.set([{ key: 'a', value: 'cas' }], { precondition: { revisions: [at(7), { keyspace: 'bbbbbbbbbbbb', revision: 1 }, at(1)] } });
    expect(ok.record.revision).toBe(3);
    await expect(s.store.delete('nope')).rejects.toThrow(KeyNotFoundError);
  });

  it('hides a key from the instant it expires, counts it out, and sweeps it with exactly one expire event', async () => {
    const rec = record(s.feed);
    await s.store.set([{ key: 't', value: 'x' }], { ttlSeconds: 10 });
    await s.store.set([{ key: 'keep', value: 1 }]);
    expect((await s.store.get('t'))?.expiresAt).toBe(T0 + 10_000);
    jest.setSystemTime(T0 + 10_000);
    expect(await s.store.get('t')).toBeNull();
    expect(await s.store.count()).toBe(1);
    expect((await s.store.listKeys({ limit: 10 })).keys).toEqual(['keep']);
    expect(await s.store.sweep(Date.now())).toBe(1);
    expect(await s.store.sweep(Date.now())).toBe(0);
    await rec.waitFor((e) => e.length === 3);
    expect(rec.events[2]).toEqual({ type: 'expire', key: 't', prevValue: 'x', keyspace: s.store.keyspace.id, revision: 3, time: new Date(T0 + 10_000).toISOString() });
  });

  it('reads a value alone as get reads it: present, null, absent, expired and deleted', async () => {
    await s.store.set([{ key: 'v', value: { nested: [1, 'two'] } }, { key: 'n', value: null }]);
    await s.store.set([{ key: 't', value: 'soon' }], { ttlSeconds: 10 });
    expect(await s.store.value('v')).toEqual({ nested: [1, 'two'] });
    expect(await s.store.value('n')).toBeNull();
    expect(await s.store.value('t')).toBe('soon');
    expect(await s.store.value('missing')).toBeUndefined();
    jest.setSystemTime(T0 + 10_000);
    expect(await s.store.value('t')).toBeUndefined();
    await s.store.delete('v');
    expect(await s.store.value('v')).toBeUndefined();
  });

  it('publishes the same events as the other driver, a batch delivered together', async () => {
    const rec = record(s.feed);
    await s.store.set([{ key: 'a', value: 1 }]);
    await s.store.set([{ key: 'a', value: 2 }, { key: 'b', value: 3 }, { key: 'c', value: 4 }]);
    await s.store.delete('b');
    await rec.waitFor((e) => e.length === 5);
    const time = new Date(T0).toISOString();
    const keyspace = s.store.keyspace.id;
    expect(rec.events).toEqual([
      { type: 'put', key: 'a', value: 1, keyspace, revision: 1, time },
      { type: 'put', key: 'a', value: 2, prevValue: 1, keyspace, revision: 2, time },
      { type: 'put', key: 'b', value: 3, keyspace, revision: 3, time },
      { type: 'put', key: 'c', value: 4, keyspace, revision: 4, time },
      { type: 'delete', key: 'b', prevValue: 3, keyspace, revision: 5, time },
    ]);
    expect(rec.batches).toEqual([[1], [2, 3, 4], [5]]);
  });

  it('gives values to every sink that reads them, whatever sinks that do not are watching too', async () => {
    const counter = record(s.feed, false);
    const reader = record(s.feed);
    await s.store.set([{ key: 'a', value: { n: 1 } }]);
    await s.store.set([{ key: 'a', value: [2] }, { key: 'b', value: 'three' }]);
    await s.store.delete('b');
    await reader.waitFor((e) => e.length === 4);
    await counter.waitFor((e) => e.length === 4);
    const time = new Date(T0).toISOString();
    const keyspace = s.store.keyspace.id;
    expect(reader.events).toEqual([
      { type: 'put', key: 'a', value: { n: 1 }, keyspace, revision: 1, time },
      { type: 'put', key: 'a', value: [2], prevValue: { n: 1 }, keyspace, revision: 2, time },
      { type: 'put', key: 'b', value: 'three', keyspace, revision: 3, time },
      { type: 'delete', key: 'b', prevValue: 'three', keyspace, revision: 4, time },
    ]);
    expect(counter.batches).toEqual(reader.batches);
    const withoutValues = reader.events.map(({ value: _v, prevValue: _p, ...rest }) => rest);
    expect(counter.events.map(({ value: _v, prevValue: _p, ...rest }) => rest)).toEqual(withoutValues);
    // The Redis driver parses no value while no sink reads them (the memory driver has them at hand).
    if (driverName === 'redis') {
      const only = await subject();
      try {
        const alone = record(only.feed, false);
        await only.store.set([{ key: 'x', value: 1 }]);
        await alone.waitFor((e) => e.length === 1);
        expect(alone.events[0]).not.toHaveProperty('value');
      } finally {
        await only.close();
      }
    }
  });

  it('replays after a revision without gap, and resets when the history no longer has it', async () => {
    for (let i = 0; i < 5; i++) await s.store.set([{ key: `k${i}`, value: i }]);
    const seen: number[] = [];
    const resets: number[] = [];
    const w = waiters(seen, () => JSON.stringify(seen));
    s.feed.watch(at(2), { events: (b) => (seen.push(...b.map((e) => e.revision)), w.notify()), reset: (r) => resets.push(r.revision) });
    await s.store.set([{ key: 'live', value: true }]);
    await w.waitFor((x) => x.includes(6));
    expect(seen).toEqual([3, 4, 5, 6]);
    expect(resets).toEqual([]);
    const ahead: number[] = [];
    const r = waiters(ahead, () => '');
    s.feed.watch(at(999), { events: () => undefined, reset: (position) => (ahead.push(position.revision), r.notify()) });
    await r.waitFor((x) => x.length === 1);
    expect(ahead).toEqual([6]);
  });

  it('tells a paused replay it lagged once the history moved past it, and resets a sink that cannot be told', async () => {
    // Values of 50 KB, so that a replay reads them in more than one slice and pauses in between.
    const large = 'x'.repeat(50_000);
    for (let i = 0; i < 4; i++) await s.store.set([{ key: `k${i}`, value: large }]);
    const paused = (canBeTold: boolean) => {
      const seen: (number | 'reset' | 'lagged')[] = [];
      const w = waiters(seen, () => JSON.stringify(seen));
      let room = true;
      const note = (what: 'reset' | 'lagged') => {
        seen.push(what);
        w.notify();
      };
      const watch = s.feed.watch(at(0), {
        events: (batch) => {
          seen.push(...batch.map((e) => e.revision));
          room = false;
          w.notify();
        },
        reset: () => note('reset'),
        wantsMore: () => room,
        ...(canBeTold && { lagged: () => note('lagged') }),
      });
      return { seen, waitFor: w.waitFor, resume: () => ((room = true), watch.resume()), stop: () => watch.stop() };
    };
    const told = paused(true);
    const reset = paused(false);
    try {
      await told.waitFor((x) => x.length > 0);
      await reset.waitFor((x) => x.length > 0);
      const before = [told.seen.length, reset.seen.length];
      // 150 events: past the history of 100, which the paused replays are still at the start of.
      await s.store.set(Array.from({ length: 150 }, (_, i) => ({ key: `m${i}`, value: i })));
      await until(() => s.feed.position.revision === 154, 5000, 10);
      told.resume();
      reset.resume();
      await told.waitFor((x) => x.length > before[0]);
      await reset.waitFor((x) => x.length > before[1]);
      expect(told.seen.slice(before[0])).toEqual(['lagged']);
      expect(reset.seen.slice(before[1])).toEqual(['reset']);
      // What each had read before it paused: the first events, in order.
      for (const { seen } of [told, reset]) expect(seen.slice(0, -1)).toEqual(Array.from({ length: seen.length - 1 }, (_, i) => i + 1));
    } finally {
      told.stop();
      reset.stop();
    }
  });

  it('stores keys such as __proto__ as plain data', async () => {
    await s.store.set([{ key: '__proto__', value: { polluted: true } }, { key: 'constructor', value: 1 }]);
    expect((await s.store.get('__proto__'))?.value).toEqual({ polluted: true });
    expect((await s.store.listKeys({ limit: 10 })).keys).toEqual(['__proto__', 'constructor']);
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  });

  it('lists and searches exactly like a brute-force filter, in code-point order, page by page', async () => {
    const UNITS = ['a', 'b', 'ab', '-', '1', 'é', 'e\u0301', '😀', '\uffff', '\ue000', '/'];
    const keyArb = fc.array(fc.constantFrom(...UNITS), { minLength: 1, maxLength: 4 }).map((p) => p.join(''));
    const filterArb = fc.option(fc.array(fc.constantFrom(...UNITS), { maxLength: 2 }).map((p) => p.join('')), { nil: undefined });
    await fc.assert(
      fc.asyncProperty(fc.uniqueArray(keyArb, { maxLength: 30 }), fc.array(keyArb, { maxLength: 5 }), filterArb, filterArb, fc.integer({ min: 1, max: 5 }), async (keys, deleted, prefix, suffix, limit) => {
        const run = await subject();
        try {
          if (keys.length > 0) await run.store.set(keys.map((key) => ({ key, value: key })));
          const live = new Set(keys);
          for (const key of deleted) if (live.delete(key)) await run.store.delete(key);
          const expected = [...live].filter((k) => k.startsWith(prefix ?? '') && k.endsWith(suffix ?? '')).sort(compareCodePoints);
          const seen: string[] = [];
          let after: string | undefined;
          for (;;) {
            const page = await run.store.listKeys({ prefix, suffix, after, limit });
            expect(page.keys.length).toBeLessThanOrEqual(limit);
            seen.push(...page.keys);
            if (page.next === null) break;
            after = page.next;
          }
          expect(seen).toEqual(expected);
          expect(await run.store.count()).toBe(live.size);
        } finally {
          await run.close();
        }
      }),
      { numRuns: driverName === 'redis' ? 60 : 300 },
    );
  }, 60_000);
});
