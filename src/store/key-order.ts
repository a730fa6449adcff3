/**
 * Orders strings by Unicode code point, which is also the byte order of their UTF-8 encodings (the
 * order Redis ZRANGEBYLEX uses). JavaScript's `<` compares UTF-16 code units instead, which puts
 * astral characters (U+10000 and up, stored as surrogate pairs D800-DFFF) *before* U+E000-U+FFFF.
 * At the first differing unit, lifting surrogates above the rest of the BMP restores code-point order.
 */
export function compareCodePoints(a: string, b: string): number {
  if (a === b) return 0;
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) {
    let x = a.charCodeAt(i);
    let y = b.charCodeAt(i);
    if (x !== y) {
      if (x >= 0xd800 && y >= 0xd800) {
        x = x >= 0xe000 ? x - 0x800 : x + 0x2000;
        y = y >= 0xe000 ? y - 0x800 : y + 0x2000;
      }
      return x - y;
    }
  }
  return a.length - b.length;
}

// UTF-16 order and code-point order disagree only where surrogates meet U+E000..U+FFFF.
const HIGH_UNITS = /[\ud800-\uffff]/;
const HIGH_UNITS_ALL = /[\ud800-\uffff]/g;
const liftUnit = (unit: string): string => {
  const code = unit.charCodeAt(0);
  return String.fromCharCode(code >= 0xe000 ? code - 0x800 : code + 0x2000);
};

/**
 * A string whose UTF-16 order (JavaScript's `<`, a native comparison) is the code-point order of `s`: every
 * surrogate unit is lifted above U+E000..U+FFFF, which move down to make room, as compareCodePoints does at the
 * first differing unit. The mapping is unit by unit and one-to-one, so it also keeps prefixes, suffixes and
 * equality. Almost every key has no unit from U+D800 up and is returned as it is, without a copy.
 */
export function codePointOrderKey(s: string): string {
  return HIGH_UNITS.test(s) ? s.replace(HIGH_UNITS_ALL, liftUnit) : s;
}

/** True when some string holds a unit where UTF-16 order and code-point order could disagree. */
export const hasHighUnits = (s: string): boolean => HIGH_UNITS.test(s);

/** Orders strings by UTF-16 code unit, natively (for keys made by codePointOrderKey). */
export const compareUnits = (a: string, b: string): number => (a < b ? -1 : a > b ? 1 : 0);

/**
 * Reverses a string by code point, so a surrogate pair (an emoji, say) stays one character. Suffix queries
 * become prefix queries on reversed keys: `s` ends with `x` exactly when reverse(s) starts with reverse(x).
 */
export function reverseCodePoints(s: string): string {
  let out = '';
  for (let i = s.length - 1; i >= 0; i--) {
    const unit = s.charCodeAt(i);
    if (unit >= 0xdc00 && unit <= 0xdfff && i > 0) {
      const high = s.charCodeAt(i - 1);
      if (high >= 0xd800 && high <= 0xdbff) {
        out += s[i - 1] + s[i];
        i--;
        continue;
      }
    }
    out += s[i];
  }
  return out;
}

/**
 * Orders strings as if each were reversed, unit by unit, without building the reversed copies: the
 * comparison walks both from their last unit. Every string ending with `s` then sorts at or after `s`,
 * in one contiguous run, so a suffix query is a range walk, like a prefix query in key order. (The run's
 * internal order is UTF-16 order read backwards, not code-point order; callers re-sort what they return.)
 */
export function compareFromEnd(a: string, b: string): number {
  if (a === b) return 0;
  let i = a.length - 1;
  let j = b.length - 1;
  for (; i >= 0 && j >= 0; i--, j--) {
    const x = a.charCodeAt(i);
    const y = b.charCodeAt(j);
    if (x !== y) return x - y;
  }
  return a.length - b.length;
}
