import fc from 'fast-check';
import { compareCodePoints, reverseCodePoints } from '../key-order';
import { type KeyQuery, MemoryKeyIndex } from './memory-key.index';

// Units chosen to hit the hard cases: keys that are prefixes of others, astral characters (surrogate
// pairs), combining marks, the top of the BMP (which UTF-16 order puts after emoji), separators.
const UNITS = ['a', 'b', 'ab', '-', '1', 'é', 'e\u0301', '\u0301', '😀', '😁', '\uffff', '\ue000', '/'];
const keyArb = fc.array(fc.constantFrom(...UNITS), { minLength: 1, maxLength: 4 }).map((parts) => parts.join(''));
const filterArb = fc.option(
  fc.array(fc.constantFrom(...UNITS), { minLength: 0, maxLength: 3 }).map((parts) => parts.join('')),
  { nil: undefined },
);

type Op = { kind: 'set'; key: string } | { kind: 'delete'; key: string } | { kind: 'query'; prefix?: string; suffix?: string };
const opArb: fc.Arbitrary<Op> = fc.oneof(
  { weight: 6, arbitrary: keyArb.map((key) => ({ kind: 'set' as const, key })) },
  { weight: 2, arbitrary: keyArb.map((key) => ({ kind: 'delete' as const, key })) },
  // Queries between the writes: a suffix query places the keys still waiting for the reversed tree, so later
  // deletes meet some keys placed and some waiting.
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('query' as const), prefix: filterArb, suffix: filterArb }) },
);

/** The brute-force answer: filter every key, sort by code point. */
function bruteForce(keys: Iterable<string>, { prefix = '', suffix = '' }: Pick<KeyQuery, 'prefix' | 'suffix'>): string[] {
  return [...keys].filter((k) => k.startsWith(prefix) && k.endsWith(suffix)).sort(compareCodePoints);
}

/** Follows the cursor to the end, checking every page's size and `more` flag on the way. */
function allPages(index: MemoryKeyIndex<string>, filter: Pick<KeyQuery, 'prefix' | 'suffix'>, limit: number, accept?: (v: string) => boolean): string[] {
  const seen: string[] = [];
  let after: string | undefined;
  for (let guard = 0; guard < 1000; guard++) {
    const { values, more } = index.query({ ...filter, after, limit }, accept);
    expect(values.length).toBeLessThanOrEqual(limit);
    if (more) expect(values).toHaveLength(limit);
    seen.push(...values);
    if (!more) return seen;
    after = values[values.length - 1];
  }
  throw new Error('pagination did not terminate');
}

// sorted-btree's smallest node: a few dozen keys then span several leaves and levels, so pages and the lockstep walk
// cross node boundaries (the service's nodes hold 64).
const SMALL_NODES = 4;

describe('MemoryKeyIndex', () => {
  it('answers every prefix/suffix query like a brute-force filter, across pages, after random puts and deletes', () => {
    fc.assert(
      fc.property(fc.array(opArb, { maxLength: 60 }), filterArb, filterArb, fc.integer({ min: 1, max: 7 }), fc.integer({ min: 1, max: 6 }), (ops, prefix, suffix, limit, batch) => {
        const index = new MemoryKeyIndex<string>(SMALL_NODES, batch);
        const model = new Set<string>();
        for (const op of ops) {
          if (op.kind === 'set') {
            index.set(op.key, op.key);
            model.add(op.key);
          } else if (op.kind === 'delete') {
            expect(index.delete(op.key)).toBe(model.delete(op.key));
          } else {
            expect(index.query({ prefix: op.prefix, suffix: op.suffix, limit: 100 }).values).toEqual(bruteForce(model, op));
          }
        }
        expect(index.size).toBe(model.size);
        expect(allPages(index, { prefix, suffix }, limit)).toEqual(bruteForce(model, { prefix, suffix }));
      }),
      { numRuns: 1500 },
    );
  });

  it('skips refused values without counting them towards a page', () => {
    fc.assert(
      fc.property(fc.uniqueArray(keyArb, { maxLength: 40 }), filterArb, filterArb, fc.integer({ min: 1, max: 5 }), (keys, prefix, suffix, limit) => {
        const index = new MemoryKeyIndex<string>(SMALL_NODES);
        keys.forEach((k) => index.set(k, k));
        const live = (k: string) => k.length % 2 === 0;
        expect(allPages(index, { prefix, suffix }, limit, live)).toEqual(bruteForce(keys.filter(live), { prefix, suffix }));
      }),
      { numRuns: 800 },
    );
  });

  it('finds by suffix a key written just before, and never one deleted while it waited for the reversed order', () => {
    const index = new MemoryKeyIndex<string>(SMALL_NODES, 3);
    // 51 keys without the suffix (they entered the reversed tree 3 at a time), so the suffix side of a query
    // answers first: the forward side would have to walk all of them.
    for (let i = 0; i < 51; i++) index.set(`k${i}.txt`, `k${i}.txt`);
    index.set('a.json', 'a.json');
    index.set('b.json', 'b.json');
    // Both still wait for the reversed tree; b.json is deleted while it waits.
    expect(index.delete('b.json')).toBe(true);
    index.set('c.json', 'c.json');
    const page = index.query({ suffix: '.json', limit: 10 });
    expect(page.values).toEqual(['a.json', 'c.json']);
    expect(page.visited).toBeLessThan(10);
    index.set('b.json', 'b.json');
    expect(index.query({ suffix: 'json', limit: 10 }).values).toEqual(['a.json', 'b.json', 'c.json']);
    expect(index.delete('a.json')).toBe(true);
    expect(index.query({ suffix: '.json', limit: 10 }).values).toEqual(['b.json', 'c.json']);
    expect(index.size).toBe(53);
  });

  it('matches a prefix equal to a whole key, and a suffix equal to a whole key', () => {
    const index = new MemoryKeyIndex<string>();
    for (const k of ['ab', 'abc', 'xab', 'b']) index.set(k, k);
    expect(index.query({ prefix: 'ab', limit: 10 }).values).toEqual(['ab', 'abc']);
    expect(index.query({ suffix: 'ab', limit: 10 }).values).toEqual(['ab', 'xab']);
    expect(index.query({ prefix: 'ab', suffix: 'ab', limit: 10 }).values).toEqual(['ab']);
  });

  it('walks the narrow side when one filter is selective', () => {
    // 20k keys share the prefix; 3 share the suffix: the answer must not require walking the prefix range.
    const index = new MemoryKeyIndex<string>();
    for (let i = 0; i < 20_000; i++) index.set(`user:${i}:profile`, `user:${i}:profile`);
    for (const k of ['user:1:avatar', 'user:2:avatar', 'user:3:avatar']) index.set(k, k);
    const narrowSuffix = index.query({ prefix: 'user:', suffix: ':avatar', limit: 10 });
    expect(narrowSuffix.values).toEqual(['user:1:avatar', 'user:2:avatar', 'user:3:avatar']);
    expect(narrowSuffix.visited).toBeLessThan(20);
    // and the other way round: a broad suffix with a narrow prefix
    const narrowPrefix = index.query({ prefix: 'user:1999', suffix: ':profile', limit: 10 });
    expect(narrowPrefix.values).toHaveLength(10);
    expect(narrowPrefix.visited).toBeLessThan(40);
    // a plain prefix page reads one entry past the page, no more
    expect(index.query({ prefix: 'user:1', limit: 100 }).visited).toBe(101);
    // and a prefix with fewer matches than the page stops at the first key past them (user:1999 and user:19990-9)
    expect(index.query({ prefix: 'user:1999', limit: 100 })).toMatchObject({ more: false, visited: 12 });
    // while a filter that is broad on both sides pays for what it walks: the cheaper side, twice at most
    expect(index.query({ suffix: ':profile', limit: 10 }).visited).toBeLessThanOrEqual(2 * 11 + 1);
  });
});

describe('reverseCodePoints', () => {
  it('keeps surrogate pairs whole and is its own inverse', () => {
    expect(reverseCodePoints('a😀b')).toBe('b😀a');
    fc.assert(
      fc.property(fc.string({ unit: 'grapheme' }), (s) => {
        expect(reverseCodePoints(reverseCodePoints(s))).toBe(s);
        expect(reverseCodePoints(s).isWellFormed()).toBe(true);
        expect(Array.from(reverseCodePoints(s))).toEqual(Array.from(s).reverse());
      }),
    );
  });
});
