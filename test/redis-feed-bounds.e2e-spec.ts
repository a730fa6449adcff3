import fc from 'fast-check';
import { commandStats, startRedisServer, type RedisServer } from './helpers/redis-server';
import { redisSubject, type RedisSubject } from './helpers/redis-store';
import { until } from './helpers/until';

/**
 * The Redis driver's change history is the newest events within WATCH_HISTORY entries and WATCH_HISTORY_BYTES
 * bytes, whichever is reached first, and always the newest one. The write scripts trim the stream as they append:
 * exactly to the byte bound, and to the count a whole stream node at a time (`XADD MAXLEN ~`, which spares Redis
 * most of the cost of trimming), so the stream may hold older entries too; a watch resumes only from the history
 * itself. Checked against a model of that rule over generated batches (a key may be named twice) and deletes, on a
 * real redis-server.
 */
describe('the Redis change stream bounds', () => {
  let redis: RedisServer;

  beforeAll(async () => {
    redis = await startRedisServer();
  });
  afterAll(() => redis.stop());

  /** What an event costs in the history (the scripts' `emit`): 128 bytes beyond its key, value and previous value. */
  const sizeOf = (key: string, value: string, prev: string | undefined) => 128 + Buffer.byteLength(key) + Buffer.byteLength(value) + (prev === undefined ? 0 : Buffer.byteLength(prev));

  /** The stream's entries as they are now: id and fields. */
  const streamOf = async (s: RedisSubject) => (await s.clients[0].xrange(s.names.feed, '-', '+')) as [id: string, fields: string[]][];

  /**
   * A stream node's most entries (Redis's stream-node-max-entries, 100 by default): how far beyond WATCH_HISTORY whole
   * node trimming may leave the stream.
   */
  const NODE_ENTRIES = 100;

  /** The revisions the rule keeps: the longest run of newest events within both bounds, at least the newest. */
  function retained(sizes: readonly number[], history: number, historyBytes: number): number[] {
    const kept: number[] = [];
    let bytes = 0;
    for (let revision = sizes.length; revision >= 1; revision--) {
      bytes += sizes[revision - 1];
      if (kept.length > 0 && (kept.length + 1 > history || bytes > historyBytes)) break;
      kept.unshift(revision);
    }
    return kept;
  }

  /** What a watch resuming after `revision` gets: the revisions replayed up to `newest`, or 'reset'. */
  function resumeAfter(s: RedisSubject, revision: number, newest: number): Promise<number[] | 'reset'> {
    return new Promise((resolve) => {
      const seen: number[] = [];
      const watch = s.feed.watch(
        { keyspace: s.store.keyspace.id, revision },
        {
          events: (batch) => {
            seen.push(...batch.map((e) => e.revision));
            if (seen[seen.length - 1] >= newest) resolve(seen);
          },
          reset: () => resolve('reset'),
        },
      );
      afterResolve.push(() => watch.stop());
    });
  }
  const afterResolve: (() => void)[] = [];
  afterEach(() => afterResolve.splice(0).forEach((stop) => stop()));

  it('keeps the newest events within both bounds as its history, whatever the writes and deletes', async () => {
    const KEYS = ['a', 'b', 'c', 'dd', 'eee'];
    // A batch may name a key twice (it then carries its own earlier value as the previous one); a delete carries
    // the value it removed.
    const operation = fc.oneof(
      fc.record({ keys: fc.array(fc.constantFrom(...KEYS), { minLength: 1, maxLength: 4 }), valueBytes: fc.integer({ min: 0, max: 700 }) }),
      fc.record({ deleted: fc.constantFrom(...KEYS) }),
    );
    await fc.assert(
      fc.asyncProperty(fc.array(operation, { minLength: 1, maxLength: 14 }), fc.integer({ min: 1, max: 8 }), fc.integer({ min: 1024, max: 4096 }), async (operations, history, historyBytes) => {
        const s = await redisSubject(redis.url, { history, historyBytes });
        try {
          const current = new Map<string, string>();
          const sizes: number[] = [];
          for (const [i, op] of operations.entries()) {
            if ('deleted' in op) {
              const prev = current.get(op.deleted);
              if (prev === undefined) continue;
              await s.store.delete(op.deleted);
              sizes.push(sizeOf(op.deleted, '', prev));
              current.delete(op.deleted);
              continue;
            }
            const entries = op.keys.map((key, j) => ({ key, value: `${i}.${j}`.padEnd(op.valueBytes, 'x') }));
            await s.store.set(entries);
            for (const { key, value } of entries) {
              const json = JSON.stringify(value);
              sizes.push(sizeOf(key, json, current.get(key)));
              current.set(key, json);
            }
          }
          const entries = await streamOf(s);
          const ids = entries.map(([id]) => Number(id.split('-')[0]));
          const kept = retained(sizes, history, historyBytes);
          // The stream: a run of the newest events that holds the history, within the byte bound exactly (how far
          // beyond the count it may go is checked below, with enough events to pass a stream node).
          expect(ids).toEqual(retained(sizes, Math.max(kept.length, ids.length), historyBytes));
          expect(ids.slice(-kept.length)).toEqual(kept);
          // Every entry carries the size the model gave its event (so previous values are the right ones).
          expect(entries.map(([id, fields]) => [id, Number(fields[fields.indexOf('s') + 1])])).toEqual(entries.map(([id]) => [id, sizes[Number(id.split('-')[0]) - 1]]));
          // The history, as watches see it: resuming just before its oldest event replays all of it; one further back is a reset.
          const newest = sizes.length;
          if (newest > 0) {
            expect(await resumeAfter(s, kept[0] - 1, newest)).toEqual(kept);
            if (kept[0] > 1) expect(await resumeAfter(s, kept[0] - 2, newest)).toBe('reset');
          }
        } finally {
          await s.close();
        }
      }),
      { numRuns: 60 },
    );
  });

  it('holds at most a stream node of entries beyond WATCH_HISTORY', async () => {
    const s = await redisSubject(redis.url, { history: 5, historyBytes: 1 << 20 }, false);
    try {
      for (let i = 0; i < 5; i++) await s.store.set(Array.from({ length: 50 }, (_, j) => ({ key: `k${i}.${j}`, value: j })));
      const ids = (await streamOf(s)).map(([id]) => Number(id.split('-')[0]));
      expect(ids.length).toBeGreaterThanOrEqual(5);
      expect(ids.length).toBeLessThan(5 + NODE_ENTRIES);
      expect(ids).toEqual(Array.from({ length: ids.length }, (_, i) => 250 - ids.length + 1 + i));
    } finally {
      await s.close();
    }
  });

  it('tells a paused replay it lagged once the history moved past it, although the stream still holds what it missed', async () => {
    const s = await redisSubject(redis.url, { history: 5, historyBytes: 1 << 20 });
    try {
      for (let i = 0; i < 3; i++) await s.store.set([{ key: `k${i}`, value: i }]);
      const seen: number[] = [];
      let room = true;
      let lagged = false;
      const watch = s.feed.watch(
        { keyspace: s.store.keyspace.id, revision: 0 },
        {
          events: (batch) => {
            seen.push(...batch.map((e) => e.revision));
            room = false;
          },
          reset: () => seen.push(-1),
          wantsMore: () => room,
          lagged: () => (lagged = true),
        },
      );
      try {
        await until(() => seen.length > 0, 5000, 10);
        for (let i = 3; i < 13; i++) await s.store.set([{ key: `k${i}`, value: i }]);
        await until(() => s.feed.position.revision === 13, 5000, 10);
        expect((await streamOf(s))[0][0]).toBe('1-0');
        room = true;
        watch.resume();
        await until(() => lagged, 5000, 10);
        expect(lagged).toBe(true);
        expect(seen).toEqual([1]);
      } finally {
        watch.stop();
      }
    } finally {
      await s.close();
    }
  });

  it.each([
    ['exactly fills', 0, ['2-0', '3-0']],
    ['is one byte short of', -1, ['3-0']],
  ])('keeps two events when WATCH_HISTORY_BYTES %s them', async (_name, delta, kept) => {
    // Three events of 128 + 1 + 12 bytes each (a one-letter key, the value "0123456789" as JSON).
    const s = await redisSubject(redis.url, { history: 100, historyBytes: 2 * sizeOf('k', '"0123456789"', undefined) + delta }, false);
    try {
      for (const key of ['j', 'k', 'l']) await s.store.set([{ key, value: '0123456789' }]);
      const entries = await streamOf(s);
      expect(entries.map(([id]) => id)).toEqual(kept);
    } finally {
      await s.close();
    }
  });

  it('reads no entry of the stream while the events held are within WATCH_HISTORY_BYTES', async () => {
    // Each write appends and, past WATCH_HISTORY, drops the oldest by count; the byte bound needs no look at the
    // stream until the bytes ever appended since the last trim's front exceed it.
    const s = await redisSubject(redis.url, { history: 5, historyBytes: 100_000 }, false);
    const xrange = async () => commandStats((await s.clients[0].info('commandstats')) as string).get('xrange')?.calls ?? 0;
    try {
      const before = await xrange();
      for (let i = 0; i < 40; i++) await s.store.set([{ key: `k${i % 7}`, value: i }]);
      expect(await xrange()).toBe(before);
      expect((await streamOf(s)).map(([id]) => id).slice(-5)).toEqual(['36-0', '37-0', '38-0', '39-0', '40-0']);
      // Once the bytes appended pass the bound, the write that passed it reads the front and trims by bytes; the
      // next one fits behind the new front and reads nothing. The large event is 2 bytes too many for one more
      // event of 134 bytes (`k4` replacing 32 by 39) and 2 bytes short of the bound with one of 130 (`s`, 1).
      const large = 'x'.repeat(100_000 - 132 - sizeOf('large', '""', undefined));
      expect(sizeOf('k4', '39', '32') + sizeOf('large', JSON.stringify(large), undefined)).toBe(100_002);
      await s.store.set([{ key: 'large', value: large }]);
      expect((await streamOf(s)).map(([id]) => id)).toEqual(['41-0']);
      // (streamOf reads with XRANGE too)
      const afterTrim = await xrange();
      expect(afterTrim).toBeGreaterThan(before + 2);
      await s.store.set([{ key: 's', value: 1 }]);
      expect(await xrange()).toBe(afterTrim);
      expect((await streamOf(s)).map(([id]) => id)).toEqual(['41-0', '42-0']);
    } finally {
      await s.close();
    }
  });

  it('keeps the byte bound when the stream and its byte counter are lost but the keyspace is not', async () => {
    // The keyspace hash remembers where the last byte trim left the counter; a counter begun again below that
    // (only damage or an eviction does it) must not switch the byte bound off.
    const historyBytes = 3 * sizeOf('k', '"0123456789"', '"0123456789"');
    const s = await redisSubject(redis.url, { history: 100, historyBytes }, false);
    try {
      for (let i = 0; i < 10; i++) await s.store.set([{ key: 'k', value: '0123456789' }]);
      expect(await streamOf(s)).toHaveLength(3);
      await s.clients[0].del(s.names.feed, s.names.feedBytes);
      for (let i = 0; i < 6; i++) await s.store.set([{ key: 'k', value: '0123456789' }]);
      expect((await streamOf(s)).map(([id]) => id)).toEqual(['14-0', '15-0', '16-0']);
    } finally {
      await s.close();
    }
  });

  it('keeps the newest event alone when it is larger than WATCH_HISTORY_BYTES', async () => {
    const s = await redisSubject(redis.url, { history: 100, historyBytes: 1024 }, false);
    try {
      await s.store.set([{ key: 'small', value: 1 }]);
      await s.store.set([{ key: 'large', value: 'x'.repeat(4096) }]);
      const entries = await streamOf(s);
      expect(entries.map(([id]) => id)).toEqual(['2-0']);
    } finally {
      await s.close();
    }
  });
});
