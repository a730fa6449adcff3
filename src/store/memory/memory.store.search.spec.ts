import fc from 'fast-check';
import { compareCodePoints } from '../key-order';
import { MemoryStore } from './memory.store';

const UNITS = ['a', 'b', 'ab', '-', '1', 'é', 'e\u0301', '😀', '\uffff', '\ue000'];
const keyArb = fc.array(fc.constantFrom(...UNITS), { minLength: 1, maxLength: 4 }).map((p) => p.join(''));
const filterArb = fc.option(fc.array(fc.constantFrom(...UNITS), { maxLength: 2 }).map((p) => p.join('')), { nil: undefined });

type Op =
  | { kind: 'put'; key: string; ttl?: number }
  | { kind: 'delete'; key: string }
  | { kind: 'advance'; ms: number }
  | { kind: 'sweep' };

const opArb: fc.Arbitrary<Op> = fc.oneof(
  { weight: 4, arbitrary: fc.record({ kind: fc.constant('put' as const), key: keyArb, ttl: fc.option(fc.integer({ min: 1, max: 5 }), { nil: undefined }) }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('delete' as const), key: keyArb }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('advance' as const), ms: fc.integer({ min: 1, max: 3000 }) }) },
  { weight: 1, arbitrary: fc.constant({ kind: 'sweep' as const }) },
);

describe('MemoryStore search (property)', () => {
  beforeEach(() => jest.useFakeTimers({ now: 0 }));
  afterEach(() => jest.useRealTimers());

  it('lists exactly the live keys matching the filters, page after page, with puts, deletes and expiry interleaved', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(opArb, { maxLength: 50 }), filterArb, filterArb, fc.integer({ min: 1, max: 6 }), async (ops, prefix, suffix, limit) => {
        jest.setSystemTime(0);
        const store = new MemoryStore({ sweepIntervalMs: 1000, history: 100 });
        const model = new Map<string, number | null>(); // key -> expiresAt
        for (const op of ops) {
          const now = Date.now();
          if (op.kind === 'put') {
            await store.set([{ key: op.key, value: op.key }], { ttlSeconds: op.ttl });
            model.set(op.key, op.ttl === undefined ? null : now + op.ttl * 1000);
          } else if (op.kind === 'delete') {
            const live = model.has(op.key) && (model.get(op.key) ?? Infinity) > now;
            await (live ? expect(store.delete(op.key)).resolves.toBeTruthy() : expect(store.delete(op.key)).rejects.toThrow());
            model.delete(op.key);
          } else if (op.kind === 'advance') {
            jest.setSystemTime(now + op.ms);
          } else {
            store.sweep();
          }
        }
        const now = Date.now();
        const expected = [...model]
          .filter(([k, exp]) => (exp ?? Infinity) > now && k.startsWith(prefix ?? '') && k.endsWith(suffix ?? ''))
          .map(([k]) => k)
          .sort(compareCodePoints);
        const seen: string[] = [];
        let after: string | undefined;
        for (;;) {
          const page = await store.listKeys({ prefix, suffix, after, limit });
          seen.push(...page.keys);
          if (page.next === null) break;
          after = page.next;
        }
        expect(seen).toEqual(expected);
        expect(await store.count()).toBe([...model.values()].filter((exp) => (exp ?? Infinity) > now).length);
        await store.close();
      }),
      { numRuns: 400 },
    );
  });
});
