import fc from 'fast-check';
import { codePointOrderKey, compareCodePoints, compareUnits } from './key-order';

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

describe('codePointOrderKey', () => {
  it('returns keys without units from U+D800 up as they are', () => {
    const key = ['key', String(42)].join('-');
    expect(codePointOrderKey(key)).toBe(key);
    expect(codePointOrderKey('é/ü')).toBe('é/ü');
  });

  it('orders natively as compareCodePoints orders the originals, and keeps prefixes, suffixes and equality', () => {
    // Lone surrogates too: query filters are not required to be well-formed.
    const text = fc.string({ unit: fc.oneof(fc.constantFrom('a', '\ud7ff', '\ud800', '\udbff', '\udc00', '\udfff', '\ue000', '\uffff'), fc.constantFrom('😀', 'b')) });
    fc.assert(
      fc.property(text, text, (a, b) => {
        const [ka, kb] = [codePointOrderKey(a), codePointOrderKey(b)];
        if (a.isWellFormed() && b.isWellFormed()) expect(Math.sign(compareUnits(ka, kb))).toBe(Math.sign(byUtf8(a, b)));
        expect(ka.length).toBe(a.length);
        expect(ka === kb).toBe(a === b);
        expect(ka.startsWith(kb)).toBe(a.startsWith(b));
        expect(ka.endsWith(kb)).toBe(a.endsWith(b));
      }),
      { numRuns: 2000 },
    );
  });
});
