import { brotliCompressSync, deflateSync, gzipSync } from 'node:zlib';

/**
 * Bytes described compactly: a list of parts, each a byte string (one char per byte, latin1) repeated `n` times,
 * optionally compressed. Huge bodies (1 MiB strings, 100,000-deep nesting, 20 KiB heads) stay a few bytes long
 * until they are sent, print readably in fast-check counterexamples, and render as a one-line shell repro.
 */
export interface Payload {
  readonly parts: readonly (readonly [bytes: string, n: number])[];
  readonly compress?: 'gzip' | 'deflate' | 'br';
}

/** A byte string (latin1, one char per byte) of `text` in `encoding`. */
export function byteString(text: string, encoding: BufferEncoding = 'utf8'): string {
  return Buffer.from(text, encoding).toString('latin1');
}

export const payload = (...parts: (string | readonly [string, number])[]): Payload => ({
  parts: parts.map((p) => (typeof p === 'string' ? ([p, 1] as const) : p)),
});

/** UTF-8 text as a payload. */
export const textPayload = (text: string): Payload => payload(byteString(text));

export function payloadLength(p: Payload): number {
  return p.parts.reduce((sum, [s, n]) => sum + s.length * n, 0);
}

const materialised = new WeakMap<Payload, Buffer>();
/** Big payloads recur (the same bomb, the same nesting): built and compressed once per content. */
const bigOnes = new Map<string, Buffer>();

/** The bytes as sent (compressed when asked). */
export function bytesOf(p: Payload): Buffer {
  let bytes = materialised.get(p);
  if (!bytes) {
    const big = payloadLength(p) > 50_000;
    const key = big ? `${p.compress ?? ''}${JSON.stringify(p.parts)}` : '';
    bytes = big ? bigOnes.get(key) : undefined;
    if (!bytes) {
      const plain = Buffer.from(p.parts.map(([s, n]) => s.repeat(n)).join(''), 'latin1');
      bytes = p.compress === 'gzip' ? gzipSync(plain) : p.compress === 'deflate' ? deflateSync(plain) : p.compress === 'br' ? brotliCompressSync(plain) : plain;
      if (big && key.length < 100_000) bigOnes.set(key, bytes);
    }
    materialised.set(p, bytes);
  }
  return bytes;
}

/** The bytes before compression (what the server sees after decoding Content-Encoding). */
export function plainBytesOf(p: Payload): Buffer {
  return p.compress ? bytesOf({ parts: p.parts }) : bytesOf(p);
}

/** A Python bytes literal of a byte string, safe inside a single-quoted shell word. */
function pyBytes(s: string): string {
  let out = 'b"';
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c >= 0x20 && c < 0x7f && c !== 0x22 && c !== 0x27 && c !== 0x5c) out += s[i];
    else out += `\\x${c.toString(16).padStart(2, '0')}`;
  }
  return `${out}"`;
}

/** A shell command writing the payload's bytes to stdout (printf for short ones, python3 for the rest). */
export function shellWriter(p: Payload): string {
  const short = p.parts.every(([, n]) => n === 1) && payloadLength(p) <= 400 && !p.compress;
  if (short) {
    let fmt = '';
    for (const [s] of p.parts) {
      for (let i = 0; i < s.length; i++) {
        const c = s.charCodeAt(i);
        fmt += c >= 0x20 && c < 0x7f && c !== 0x27 && c !== 0x5c && c !== 0x25 ? s[i] : `\\x${c.toString(16).padStart(2, '0')}`;
      }
    }
    return `printf '${fmt}'`;
  }
  const expr = p.parts.map(([s, n]) => (n === 1 ? pyBytes(s) : `${pyBytes(s)}*${n}`)).join('+');
  const wrapped = p.compress === 'gzip' ? `gzip.compress(${expr})` : p.compress === 'deflate' ? `zlib.compress(${expr})` : p.compress === 'br' ? `brotli.compress(${expr})` : expr;
  const imports = p.compress === 'gzip' ? 'sys,gzip' : p.compress === 'deflate' ? 'sys,zlib' : p.compress === 'br' ? 'sys,brotli' : 'sys';
  return `python3 -c '${'import ' + imports};sys.stdout.buffer.write(${wrapped})'`;
}
