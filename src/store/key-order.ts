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
