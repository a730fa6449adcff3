import fc from 'fast-check';
import { compareCodePoints } from './key-order';

/** Reference order: compare the UTF-8 encodings byte by byte (what Redis does). */
const byUtf8 = (a: string, b: string): number => Buffer.compare(Buffer.from(a), Buffer.from(b));

describe('compareCodePoints', () => {
  it('puts astral characters after the top of the BMP, unlike UTF-16 order', () => {
    expect('😀' < '\uffff').toBe(true); // JavaScript's own order
    expect(compareCodePoints('😀', '\uffff')).toBeGreaterThan(0);
    expect(compareCodePoints('a', 'ab')).toBeLessThan(0);
    expect(compareCodePoints('ab', 'ab')).toBe(0);
  });

  it('agrees with UTF-8 byte order for any well-formed strings', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'grapheme' }), fc.string({ unit: 'grapheme' }), (a, b) => {
        expect(Math.sign(compareCodePoints(a, b))).toBe(Math.sign(byUtf8(a, b)));
      }),
      { numRuns: 2000 },
    );
  });
});
