import BTree from 'sorted-btree';
import { codePointOrderKey, compareCodePoints, compareFromEnd, compareUnits, hasHighUnits } from '../key-order';

/** Sorts keys by code point, natively when no key holds a unit where the two orders could disagree. */
function sortByCodePoint(keys: string[]): string[] {
  return keys.some(hasHighUnits) ? keys.sort(compareCodePoints) : keys.sort();
}

/**
 * Entries per tree node: twice sorted-btree's default. The nodes' arrays then carry less unused room (about 9 bytes per
 * key fewer for the two trees, measured at 400,000 keys) and a key is one level nearer the root, for inserts that
 * cost the same (their binary searches take one more step per level, their splices move longer runs).
 */
const NODE_SIZE = 64;

/**
 * New keys that wait, at most this many, to enter the reversed tree together (see `unplaced`). A suffix query first
 * places those waiting, so it pays for at most this many inserts: 3 ms more than a query that found none waiting,
 * measured at 300,000 keys (docs/benchmarks.md).
 */
const REVERSED_BATCH = 1024;

/** What a `forRange` callback returns to end the walk. */
const STOP = { break: true } as const;

/** A filtered, paginated key query. Empty or absent filters match every key. */
export interface KeyQuery {
  readonly prefix?: string;
  readonly suffix?: string;
  /** Exclusive cursor: only keys after this one. */
  readonly after?: string;
  readonly limit: number;
}

export interface KeyMatches<V> {
  /** Up to `limit` values whose keys match, in ascending key order. */
  readonly values: V[];
  /** True when more matches follow the last one returned. */
  readonly more: boolean;
  /** Index entries the query stepped over (both trees): its cost, for tests and benchmarks. */
  readonly visited: number;
}

/**
 * An ordered map from key to value, answering prefix and suffix queries in O(log n + k).
 *
 * Keys live in a B+ tree in code-point order (a prefix is a contiguous range of it) and in a second tree
 * ordered as if the keys were reversed (a suffix is a contiguous range there), beside a hash map that answers
 * single-key reads. The first tree is keyed by codePointOrderKey, so it compares natively (the key itself
 * for all but keys with units from U+D800 up). The second holds the same string objects, compared from their
 * ends (compareFromEnd), so it costs a pointer per key rather than a reversed copy of every key; it holds
 * no values, so overwriting a key leaves it alone. Results are always in ascending key order.
 *
 * - prefix only: walk the prefix range from the cursor, stopping after limit + 1 matches.
 * - suffix given: the two sides are walked in lockstep, one step each: the prefix range from the cursor
 *   (the whole key space when there is no prefix), testing the suffix; and the suffix range, collecting
 *   candidates. Whichever completes first answers: the forward side once it has limit + 1 matches or leaves
 *   its range, the suffix side once its range is exhausted (its candidates are then filtered, sorted and
 *   cut to the page). So a query costs about twice its cheaper side, whichever filter is the selective one,
 *   and never degrades to a full scan when either filter is narrow.
 *
 * Suffix-side pages sort their candidates, so paging through a suffix shared by K keys costs O(K log K) per
 * page; when the forward side is cheaper (a broad suffix) it wins the race instead.
 */
export class MemoryKeyIndex<V> {
  /**
   * Values by codePointOrderKey(key). It holds the values too (not only `byKey`) so that a clone of it is a
   * point-in-time view of the records, for snapshots.
   */
  private readonly forward: BTree<string, V>;
  /**
   * The keys alone, in reversed order: inserting here is the costliest part of a write (each new key lands at
   * an unrelated place in the tree), and an overwrite need not touch it at all.
   */
  private readonly reversed: BTree<string, undefined>;
  /**
   * New keys not yet in `reversed`: they enter it together, sorted, once `reversedBatch` of them wait or before a
   * suffix query reads it. One at a time, each new key walked a cold path through that tree, as its place there is
   * unrelated to the last key's (`npm run bench` writes keys in order, which the forward tree takes at nearly the same
   * place each time). Sorted, consecutive inserts share their path down the tree: in `POST /set` under load the
   * reversed tree cost about 8 us per new key inserted one by one, and about 4 in batches (docs/benchmarks.md).
   * A key deleted while it waits stays here and is skipped when the batch is placed (it is no longer in `byKey`);
   * one deleted and written again waits twice and is placed once.
   */
  private unplaced: string[] = [];
  /**
   * The same again, hashed: reads of one key (GET, and the look-ups every write makes first) take O(1) instead of
   * a tree walk of ~log2(n) code-point comparisons each, for about 40 bytes per key.
   */
  private readonly byKey = new Map<string, V>();

  /**
   * @param nodeSize entries per tree node (tests make it small, so that a few keys already fill several levels).
   * @param reversedBatch new keys that wait to enter the reversed tree together (tests make it small too).
   */
  constructor(
    nodeSize = NODE_SIZE,
    private readonly reversedBatch = REVERSED_BATCH,
  ) {
    this.forward = new BTree<string, V>(undefined, compareUnits, nodeSize);
    this.reversed = new BTree<string, undefined>(undefined, compareFromEnd, nodeSize);
  }

  get size(): number {
    return this.byKey.size;
  }

  get(key: string): V | undefined {
    return this.byKey.get(key);
  }

  set(key: string, value: V): void {
    const size = this.byKey.size;
    this.byKey.set(key, value);
    this.forward.set(codePointOrderKey(key), value, true);
    // Only a new key (the map grew) needs a place in the reversed order.
    if (this.byKey.size !== size && this.unplaced.push(key) >= this.reversedBatch) this.placeReversed();
  }

  delete(key: string): boolean {
    if (!this.byKey.delete(key)) return false;
    this.forward.delete(codePointOrderKey(key));
    // A key still waiting is not in the tree (this finds nothing); placing its batch skips it.
    this.reversed.delete(key);
    return true;
  }

  /**
   * Every value in key order as of this call, unaffected by later writes: the tree is cloned copy-on-write
   * (O(1) now, each later write then copies the few nodes it touches), so a snapshot can walk it across
   * awaits while writes go on.
   */
  frozenValues(): IterableIterator<V> {
    return this.forward.clone().values();
  }

  /**
   * Values whose keys match `query`, skipping any value `accept` refuses (expired records, for instance)
   * without counting it towards the page.
   */
  query(query: KeyQuery, accept: (value: V) => boolean = () => true): KeyMatches<V> {
    const prefix = query.prefix ?? '';
    const suffix = query.suffix ?? '';
    const { after, limit } = query;
    const wanted = limit + 1;
    let visited = 0;
    const page = (values: V[]): KeyMatches<V> => ({ values: values.slice(0, limit), more: values.length > limit, visited });

    // The forward side walks order keys: the filters and cursor are mapped the same way (unit by unit, so
    // prefixes, suffixes and equality carry over).
    const [orderPrefix, orderSuffix] = [codePointOrderKey(prefix), codePointOrderKey(suffix)];
    const orderAfter = after === undefined ? undefined : codePointOrderKey(after);
    const start = orderAfter !== undefined && orderAfter > orderPrefix ? orderAfter : orderPrefix;
    const found: V[] = [];
    if (suffix === '') {
      // The prefix range alone, walked by the tree's own loop over its leaves: the lockstep below steps an iterator,
      // whose every step makes a result object (`GET /search` in docs/benchmarks.md).
      const last = this.forward.maxKey();
      if (last !== undefined) {
        this.forward.forRange(start, last, true, (orderKey, value) => {
          visited++;
          if (!orderKey.startsWith(orderPrefix)) return STOP;
          if (orderKey !== orderAfter && accept(value)) found.push(value);
          return found.length === wanted ? STOP : undefined;
        });
      }
      return page(found);
    }

    const forward = this.forward.entries(start, [] as unknown as (string | V)[]);
    /** One forward step; true once the forward side has the whole answer. */
    const stepForward = (): boolean => {
      const next = forward.next();
      if (next.done) return true;
      visited++;
      const [orderKey, value] = next.value;
      if (!orderKey.startsWith(orderPrefix)) return true;
      if (orderKey !== orderAfter && orderKey.endsWith(orderSuffix) && accept(value)) found.push(value);
      return found.length === wanted;
    };

    // The suffix itself is the first key (in reversed order) of the run of keys that end with it.
    this.placeReversed();
    const backward = this.reversed.keys(suffix);
    const candidates = new Map<string, V>();
    for (;;) {
      if (stepForward()) return page(found);
      const next = backward.next();
      if (next.done || !next.value.endsWith(suffix)) break;
      visited++;
      const key = next.value;
      if (!key.startsWith(prefix) || (after !== undefined && compareCodePoints(key, after) <= 0)) continue;
      const value = this.byKey.get(key) as V;
      if (accept(value)) candidates.set(key, value);
    }
    // The suffix side finished first: every match is among its candidates.
    const keys = sortByCodePoint([...candidates.keys()]);
    return page(keys.slice(0, wanted).map((key) => candidates.get(key) as V));
  }

  /** Inserts the keys waiting in `unplaced` that are still held into the reversed tree, in that tree's order. */
  private placeReversed(): void {
    if (this.unplaced.length === 0) return;
    // Emptied only once every key is in: inserting one again is harmless, losing one is not.
    for (const key of this.unplaced.sort(compareFromEnd)) if (this.byKey.has(key)) this.reversed.set(key, undefined);
    this.unplaced = [];
  }
}
