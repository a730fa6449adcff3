import fc from 'fast-check';
import type { ChangeEvent } from '../change-feed';
import { MemoryEventHistory } from './memory-event.history';

const TIME = new Date(0).toISOString();

/** The four shapes the store publishes: a put with and without a replaced value, a delete, an expiry. */
function eventOf(revision: number): ChangeEvent {
  const key = `k${revision % 7}`;
  switch (revision % 4) {
    case 0:
      return { type: 'put', key, value: { n: revision }, keyspace: 'ks', revision, time: TIME };
    case 1:
      return { type: 'put', key, value: revision, prevValue: [revision - 1], keyspace: 'ks', revision, time: TIME };
    case 2:
      return { type: 'delete', key, prevValue: 'gone', keyspace: 'ks', revision, time: TIME };
    default:
      return { type: 'expire', key, prevValue: null, keyspace: 'ks', revision, time: TIME };
  }
}

/** The model: every event with its size and batch end, trimmed the way the history must be. */
class NaiveHistory {
  entries: { event: ChangeEvent; bytes: number; end: boolean }[] = [];

  constructor(
    private readonly maxEvents: number,
    private readonly maxBytes: number,
  ) {}

  append(batch: ChangeEvent[], sizes: number[]): void {
    batch.forEach((event, i) => this.entries.push({ event, bytes: sizes[i], end: i === batch.length - 1 }));
    const total = () => this.entries.reduce((sum, e) => sum + e.bytes, 0);
    while (this.entries.length > this.maxEvents || (total() > this.maxBytes && this.entries.length > 1)) this.entries.shift();
  }

  slice(revision: number, sliceBytes: number): ChangeEvent[] {
    const out: ChangeEvent[] = [];
    let bytes = 0;
    for (const entry of this.entries.filter((e) => e.event.revision >= revision)) {
      out.push(entry.event);
      bytes += entry.bytes;
      if (bytes >= sliceBytes && entry.end) break;
    }
    return out;
  }
}

describe('MemoryEventHistory', () => {
  it('gives back events equal to the published ones, fields in the same order and absent ones left out', () => {
    const history = new MemoryEventHistory(100, Number.POSITIVE_INFINITY);
    const batch = [1, 2, 3, 4].map(eventOf);
    history.append(batch, [10, 10, 10, 10]);
    const replayed = history.slice(1, Number.POSITIVE_INFINITY);
    expect(replayed.map((e) => JSON.stringify(e))).toEqual(batch.map((e) => JSON.stringify(e)));
    for (const [i, event] of replayed.entries()) expect(Object.keys(event)).toEqual(Object.keys(batch[i]));
    expect(history).toMatchObject({ length: 4, bytes: 40, oldest: 1 });
  });

  it('keeps the newest maxEvents events, growing its slots past the first allocation and wrapping around', () => {
    const history = new MemoryEventHistory(3000, Number.POSITIVE_INFINITY);
    for (let r = 1; r <= 10_000; r++) history.append([eventOf(r)], [1]);
    expect(history).toMatchObject({ length: 3000, bytes: 3000, oldest: 7001 });
    const events = history.slice(7001, Number.POSITIVE_INFINITY);
    expect(events.map((e) => e.revision)).toEqual(Array.from({ length: 3000 }, (_, i) => 7001 + i));
    expect(events[2999]).toEqual(eventOf(10_000));
  });

  it('keeps at most maxBytes, but always the newest event, however large', () => {
    const history = new MemoryEventHistory(100, 250);
    history.append([eventOf(1), eventOf(2), eventOf(3)], [100, 100, 100]);
    expect(history).toMatchObject({ length: 2, bytes: 200, oldest: 2 });
    history.append([eventOf(4)], [1000]);
    expect(history).toMatchObject({ length: 1, bytes: 1000, oldest: 4 });
  });

  it('ends a slice only at the end of a batch, once it holds sliceBytes', () => {
    const history = new MemoryEventHistory(100, Number.POSITIVE_INFINITY);
    history.append([1, 2, 3].map(eventOf), [10, 10, 10]);
    history.append([4, 5].map(eventOf), [10, 10]);
    expect(history.slice(1, 15).map((e) => e.revision)).toEqual([1, 2, 3]);
    expect(history.slice(2, 15).map((e) => e.revision)).toEqual([2, 3]);
    expect(history.slice(4, 1).map((e) => e.revision)).toEqual([4, 5]);
  });

  it('refuses a bound of no events, which could keep not even the newest one', () => {
    expect(() => new MemoryEventHistory(0, 100)).toThrow(RangeError);
  });

  it('is empty with no oldest revision before anything is appended', () => {
    const history = new MemoryEventHistory(10, 100);
    expect(history).toMatchObject({ length: 0, bytes: 0, oldest: undefined });
  });

  it('agrees with a naive history on any sequence of batches, bounds and slices', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 40 }),
        fc.integer({ min: 1, max: 400 }),
        fc.array(fc.array(fc.integer({ min: 1, max: 60 }), { minLength: 1, maxLength: 8 }), { maxLength: 60 }),
        fc.integer({ min: 1, max: 200 }),
        fc.integer({ min: 1, max: 8 }),
        (maxEvents, maxBytes, batches, sliceBytes, initialSlots) => {
          // Few initial slots: the history grows, also after byte trimming has wrapped it around.
          const history = new MemoryEventHistory(maxEvents, maxBytes, initialSlots);
          const naive = new NaiveHistory(maxEvents, maxBytes);
          let revision = 0;
          for (const sizes of batches) {
            const batch = sizes.map(() => eventOf(++revision));
            history.append(batch, sizes);
            naive.append(batch, sizes);
            expect(history.length).toBe(naive.entries.length);
            expect(history.bytes).toBe(naive.entries.reduce((sum, e) => sum + e.bytes, 0));
            expect(history.oldest).toBe(naive.entries[0]?.event.revision);
            for (const { event } of naive.entries) expect(history.slice(event.revision, sliceBytes)).toEqual(naive.slice(event.revision, sliceBytes));
          }
        },
      ),
      { numRuns: 200 },
    );
  });
});
