import fc from 'fast-check';
import { METHODS } from 'node:http';
import { type Payload, byteString, bytesOf, payload, payloadLength, shellWriter, textPayload } from './fuzz-payload';

/**
 * Generators of hostile requests for the bad-input fuzz suite (test/fuzz.e2e-spec.ts). A FuzzRequest is plain
 * data (method, request-target, header lines, body as a compact Payload), so fast-check can print and shrink it,
 * and renders as a one-line curl or raw-bytes repro. Header values and targets are byte strings (latin1).
 */

export type Header = readonly [name: string, value: string];

export interface FuzzRequest {
  /** Generator family (set, put, raw-head, ...) and branch: findings are grouped by them. */
  readonly family: string;
  readonly variant: string;
  readonly method: string;
  /** The request-target, as bytes (latin1). */
  readonly target: string;
  /** Raw only: the protocol token of the request line (default HTTP/1.1). */
  readonly version?: string;
  readonly headers: readonly Header[];
  readonly body?: Payload;
  /** Raw only: frame the body with Transfer-Encoding: chunked. */
  readonly chunked?: boolean;
  /** Raw only: leave out the Host header that is otherwise added. */
  readonly noHost?: boolean;
  /** Exact bytes to write on a fresh connection instead of assembling them from the fields above. */
  readonly raw?: Payload;
  /** Set when the request is not valid HTTP/1.1 (or not for this server): why Node may answer it itself or close. */
  readonly notHttp?: string;
  /** A watch stream: the head is the answer. */
  readonly stream?: boolean;
  /** Milliseconds to wait for the answer (default 10 s). */
  readonly timeoutMs?: number;
}

// ---------------------------------------------------------------------------------------------------------------
// API keys (the auth-mode run configures exactly these).

export const API_KEYS = {
  read: 'readkey-0123456789abcdef',
  write: 'writekey-0123456789abcdef',
  admin: 'adminkey-0123456789abcdef',
} as const;
export const API_KEYS_ENV = `read:${API_KEYS.read},write:${API_KEYS.write},admin:${API_KEYS.admin}`;

const ROLES = ['read', 'write', 'admin'] as const;

const validAuth: fc.Arbitrary<Header[]> = fc.oneof(
  fc
    .tuple(fc.constantFrom(...ROLES), fc.constantFrom('Bearer ', 'bearer ', 'BEARER ', 'Bearer   ', 'Bearer\t'), fc.constantFrom('', ' ', '\t'))
    .map(([role, scheme, trail]): Header[] => [['Authorization', `${scheme}${API_KEYS[role]}${trail}`]]),
  fc.tuple(fc.constantFrom(...ROLES), fc.constantFrom('', ' ', '  ')).map(([role, pad]): Header[] => [['X-API-Key', `${pad}${API_KEYS[role]}${pad}`]]),
);

const garbageAuth: fc.Arbitrary<Header[]> = fc.oneof(
  fc.constantFrom<Header[]>(
    [['Authorization', 'Bearer']],
    [['Authorization', 'Bearer ']],
    [['Authorization', 'Basic YWRtaW46YWRtaW4=']],
    [['Authorization', `Token ${API_KEYS.admin}`]],
    [['Authorization', API_KEYS.admin]],
    [['Authorization', `Bearer ${API_KEYS.admin} extra`]],
    [['Authorization', `Bearer ${API_KEYS.admin}x`]],
    [['Authorization', `Bearer ${API_KEYS.admin.slice(0, -1)}`]],
    [['Authorization', `Bearer ${API_KEYS.admin.toUpperCase()}`]],
    [['Authorization', `Bearer ${API_KEYS.read},${API_KEYS.admin}`]],
    [['Authorization', `Bearer ${'A'.repeat(10_000)}`]],
    [['Authorization', 'Bearer \xff\xfe\xc0\xaf']],
    [['Authorization', 'Bearer __proto__']],
    [['Authorization', 'Bearer constructor']],
    [['Authorization', 'Bearer null']],
    [['Authorization', '']],
    [['Authorization', 'Bearer garbage'], ['X-API-Key', API_KEYS.admin]],
    [['Authorization', `Bearer ${API_KEYS.read}`], ['Authorization', `Bearer ${API_KEYS.admin}`]],
    [['Authorization', `Bearer ${API_KEYS.admin}`], ['Authorization', 'Bearer garbage']],
    [['X-API-Key', '']],
    [['X-API-Key', '   ']],
    [['X-API-Key', `${API_KEYS.admin}`], ['X-API-Key', `${API_KEYS.admin}`]],
    [['X-API-Key', `Bearer ${API_KEYS.admin}`]],
    [['X-API-Key', '\xc0\xaf\xff']],
  ),
  fc.tuple(fc.constantFrom('Authorization', 'X-API-Key'), fc.string({ unit: 'grapheme-ascii', maxLength: 40 })).map(([n, v]) => [[n, v] as Header]),
  fc.string({ unit: 'grapheme-ascii', minLength: 1, maxLength: 30 }).map((v) => [['Authorization', `Bearer ${v}`] as Header]),
);

export const authArb: fc.Arbitrary<Header[]> = fc.oneof(
  { weight: 7, arbitrary: fc.constant<Header[]>([]) },
  { weight: 7, arbitrary: validAuth },
  { weight: 4, arbitrary: garbageAuth },
);

// ---------------------------------------------------------------------------------------------------------------
// Other headers a client may send, hostile or just unusual.

const extraHeaderArb: fc.Arbitrary<Header> = fc.oneof(
  fc.constantFrom<Header>(
    ['X-Request-Id', 'trace-abc.123'],
    ['X-Request-Id', 'a'.repeat(500)],
    ['X-Request-Id', '\xff\xfe<script>'],
    ['X-Request-Id', ''],
    ['X-Request-Id', '../../etc/passwd'],
    ['Range', 'bytes=99999999-'],
    ['Range', 'bytes=5-2'],
    ['Range', 'bytes=0-0,1-1,2-2,3-3'],
    ['Range', 'garbage'],
    ['Expect', '100-continue'],
    ['Expect', 'foo'],
    ['Accept', 'text/html'],
    ['Accept', 'application/xml;q=1, */*;q=0'],
    ['Accept-Encoding', 'gzip, deflate, br'],
    ['Accept-Charset', 'latin1'],
    ['X-HTTP-Method-Override', 'DELETE'],
    ['X-Method-Override', 'PUT'],
    ['X-Forwarded-For', '1.2.3.4, <garbage>, ::1'],
    ['X-Forwarded-Host', 'evil.example'],
    ['X-Forwarded-Proto', 'gopher'],
    ['Forwarded', 'for="[::1'],
    ['Origin', 'http://evil.example'],
    ['Access-Control-Request-Method', 'DELETE'],
    ['Cookie', '__proto__=1; constructor=2; prototype=3'],
    ['If-Modified-Since', 'garbage'],
    ['If-Unmodified-Since', 'Thu, 01 Jan 1970 00:00:00 GMT'],
    ['Last-Event-ID', '99999999999999999999'],
    ['Host', 'evil.example'],
    ['Host', ''],
    ['Connection', 'close'],
    ['__proto__', 'x'],
    ['Constructor', 'x'],
  ),
  fc.tuple(fc.stringMatching(/^[A-Za-z][A-Za-z0-9-]{0,20}$/), fc.string({ unit: 'grapheme-ascii', maxLength: 40 })).map(([n, v]) => [`X-${n}`, v] as Header),
);

const extrasArb = fc.oneof({ weight: 5, arbitrary: fc.constant([] as Header[]) }, { weight: 2, arbitrary: fc.array(extraHeaderArb, { minLength: 1, maxLength: 3 }) });

// ---------------------------------------------------------------------------------------------------------------
// Keys, and how they are put in a path.

export const PROTO_KEYS = ['__proto__', 'constructor', 'prototype', 'hasOwnProperty', 'toString', 'valueOf', '__defineGetter__', 'isPrototypeOf'];

const NICE_KEYS = [
  'a', 'b', 'key_1', 'user:42', 'team/a b?', 'a/b', '/', '%', '%25', '%2F', '?', '#', ' ', ' lead', 'trail ', '..', '.', '\\', '😀', 'é',
  'e\u0301', '\u{10FFFF}', '\uFEFF', '\u200B', 'key', 'value', 'ttl', 'nx', '0', '1', '10', '-1', '1e3', 'null', 'true', '[]', '{}', '"', "'",
  '<script>', '*', 'a,b', 'a;b', 'a=b', 'a&b', 'a+b', '~', '@', ...PROTO_KEYS, 'k'.repeat(1024), '😀'.repeat(256), 'é'.repeat(512),
];

/** Keys a correct server refuses (400): empty, control characters, lone surrogates, over KV_MAX_KEY_BYTES. */
const BAD_KEYS = [
  '', '\u0000', 'a\u0000b', '\n', 'a\r\nb', '\t', '\u001f', '\u007f', '\u0085', '\u009f', '\ud800', 'a\udc00', '\udfff\ud800',
  'k'.repeat(1025), '😀'.repeat(257), 'x'.repeat(20_000),
];

export const keyArb: fc.Arbitrary<string> = fc.oneof(
  { weight: 8, arbitrary: fc.constantFrom(...NICE_KEYS) },
  { weight: 3, arbitrary: fc.string({ unit: 'grapheme', minLength: 1, maxLength: 12 }) },
  { weight: 1, arbitrary: fc.string({ unit: 'binary', minLength: 1, maxLength: 8 }) },
  { weight: 1, arbitrary: fc.string({ unit: 'binary-ascii', minLength: 1, maxLength: 8 }) },
  { weight: 2, arbitrary: fc.constantFrom(...BAD_KEYS) },
);

/** encodeURIComponent that also accepts lone surrogates (written as their CESU-8 bytes, which must not decode). */
export function encodeKey(key: string): string {
  let out = '';
  for (const ch of key) {
    const cp = ch.codePointAt(0)!;
    if (cp >= 0xd800 && cp <= 0xdfff) {
      out += [0xe0 | (cp >> 12), 0x80 | ((cp >> 6) & 0x3f), 0x80 | (cp & 0x3f)].map((b) => `%${b.toString(16).toUpperCase()}`).join('');
    } else {
      out += encodeURIComponent(ch);
    }
  }
  return out;
}

/** Only what the path structure and node:http require is encoded: sub-delims, `:`, `@`, `'` and so on stay raw. */
function encodeMinimal(key: string): string {
  let out = '';
  for (const b of Buffer.from(key, 'utf8')) {
    const c = String.fromCharCode(b);
    out += b > 0x20 && b < 0x7f && !'%/?#'.includes(c) ? c : `%${b.toString(16).toUpperCase().padStart(2, '0')}`;
  }
  return out;
}

const BAD_PERCENT = [
  '%C0%AF', '%E0%80%AF', '%C0%80', '%', '%Z', '%ZZ', '%ED%A0%80', '%ED%BF%BF', '%F4%90%80%80', '%FF', '%FE%FF', '%80', '%C3',
  '%F0%9F%98', '%%', '%u0041', '%%32%35', '%2', '%G0',
];
const CONTROL_PERCENT = ['%00', '%0A', '%0D%0A', '%1F', '%7F', '%C2%85', '%C2%9F', '%09'];

type Encoded = { readonly path: string; readonly how: string };

/** A key put in a path segment: properly, minimally, twice, or mangled with invalid or control escapes. */
const encodedKeyArb: fc.Arbitrary<Encoded> = fc.oneof(
  { weight: 10, arbitrary: keyArb.map((k) => ({ path: encodeKey(k), how: 'std' })) },
  { weight: 3, arbitrary: keyArb.map((k) => ({ path: encodeMinimal(k), how: 'minimal' })) },
  { weight: 1, arbitrary: keyArb.map((k) => ({ path: encodeKey(encodeKey(k)), how: 'double' })) },
  {
    weight: 3,
    arbitrary: fc.tuple(keyArb, fc.constantFrom(...BAD_PERCENT, ...CONTROL_PERCENT), fc.nat()).map(([k, bad, at]) => {
      const enc = encodeKey(k);
      // Insert between escapes, never inside one.
      const cuts = [0, ...[...enc.matchAll(/%[0-9A-F]{2}|[^%]/g)].map((m) => m.index + m[0].length)];
      const cut = cuts[at % cuts.length];
      return { path: enc.slice(0, cut) + bad + enc.slice(cut), how: `mangled ${bad}` };
    }),
  },
);

/** A route prefix as a client might spell it: the canonical one, other cases, a doubled slash. */
const prefixArb = (prefix: string): fc.Arbitrary<string> =>
  fc.oneof({ weight: 12, arbitrary: fc.constant(prefix) }, { weight: 1, arbitrary: fc.constantFrom(prefix.toUpperCase(), `/${prefix}`, `${prefix.slice(0, 2).toUpperCase()}${prefix.slice(2)}`) });
const trailArb = fc.oneof({ weight: 12, arbitrary: fc.constant('') }, { weight: 1, arbitrary: fc.constantFrom('/', '//', '/.', '/..', '/x') });

// ---------------------------------------------------------------------------------------------------------------
// Query strings.

const QUERY_VALUES = [
  '1', '2', '0', '-1', '10000', '10001', '1e3', '0x10', '99999999999999999999', '', '%20', '%205', '5%20', '1.5', 'NaN', 'Infinity', 'true',
  'false', 'TRUE', 'yes', '%ZZ', '%C0%AF', '%E0%80%AF', '%', '%00', '%0A', 'abc', 'a%2Fb', '%F0%9F%98%80', '%ED%A0%80', '__proto__', 'k'.repeat(300),
];

const queryValueArb: fc.Arbitrary<string> = fc.oneof(
  { weight: 3, arbitrary: fc.constantFrom(...QUERY_VALUES) },
  { weight: 2, arbitrary: keyArb.map(encodeKey) },
  { weight: 1, arbitrary: fc.string({ unit: 'grapheme-ascii', maxLength: 8 }).map((s) => s.replace(/[#\s]/g, '')) },
);

const queryArb = (names: readonly string[]): fc.Arbitrary<string> => {
  const name = fc.oneof(
    { weight: 10, arbitrary: fc.constantFrom(...names) },
    {
      weight: 2,
      arbitrary: fc.constantFrom(
        'foo', 'LIMIT', '__proto__', 'constructor', 'prototype', '__proto__[value]', 'constructor[prototype][value]', 'limit[]', 'limit[0]',
        'prefix[a]', '', '%5F%5Fproto%5F%5F', 'a%00b',
      ),
    },
  );
  const param = fc.oneof(
    { weight: 8, arbitrary: fc.tuple(name, queryValueArb).map(([n, v]) => `${n}=${v}`) },
    { weight: 1, arbitrary: fc.constantFrom('limit', '=', '&', '==', 'a=b=c', '&&', '?') },
  );
  return fc.oneof(
    { weight: 2, arbitrary: fc.constant('') },
    { weight: 5, arbitrary: fc.array(param, { minLength: 1, maxLength: 4 }).map((ps) => `?${ps.join('&')}`) },
  );
};

const LIST_PARAMS = ['limit', 'after', 'prefix', 'suffix'];
const SET_PARAMS = ['ttl', 'nx', 'xx'];
const WATCH_PARAMS = ['key', 'prefix', 'suffix', 'since'];

// ---------------------------------------------------------------------------------------------------------------
// JSON text, valid and not.

const NUMBER_TOKENS = [
  '1e999', '-1e999', '1E+400', '123456789012345678901234567890', '-0', '0.1e-99999', '4.9e-325', '9007199254740993', `1${'0'.repeat(400)}`,
  `-${'9'.repeat(300)}`, '0e0', '1.0', '1E2', '-0.0',
];
const numberTokenArb = fc.oneof(
  { weight: 3, arbitrary: fc.integer().map(String) },
  { weight: 2, arbitrary: fc.double({ noNaN: true, noDefaultInfinity: true }).map((d) => JSON.stringify(d)) },
  { weight: 2, arbitrary: fc.constantFrom(...NUMBER_TOKENS) },
);
const stringTokenArb = fc.oneof(
  { weight: 4, arbitrary: fc.string({ unit: 'grapheme', maxLength: 10 }).map((s) => JSON.stringify(s)) },
  { weight: 1, arbitrary: fc.string({ unit: 'binary', maxLength: 6 }).map((s) => JSON.stringify(s)) },
  {
    weight: 1,
    arbitrary: fc.constantFrom('"\\ud800"', '"\\udfff\\ud800"', '"\\u0000"', '"a\\u0000b"', '"\\u001f"', '"\\""', '"\\\\"', '"\\/"', '"__proto__"', '"\\u005f_proto__"'),
  },
);
const objectKeyTokenArb = fc.oneof(
  { weight: 4, arbitrary: stringTokenArb },
  { weight: 1, arbitrary: fc.constantFrom(...PROTO_KEYS, 'key', 'value', 'ttl').map((k) => JSON.stringify(k)) },
);
const scalarTokenArb = fc.oneof(
  { weight: 3, arbitrary: numberTokenArb },
  { weight: 3, arbitrary: stringTokenArb },
  { weight: 1, arbitrary: fc.constantFrom('true', 'false', 'null') },
);

const jsonText = fc.letrec<{ value: string; array: string; object: string }>((tie) => ({
  value: fc.oneof({ depthSize: 'small', withCrossShrink: true }, scalarTokenArb, tie('array'), tie('object')),
  array: fc.array(tie('value'), { maxLength: 4 }).map((xs) => `[${xs.join(',')}]`),
  object: fc.array(fc.tuple(objectKeyTokenArb, tie('value')), { maxLength: 4 }).map((kvs) => `{${kvs.map(([k, v]) => `${k}:${v}`).join(',')}}`),
}));
export const jsonValueTextArb: fc.Arbitrary<string> = jsonText.value;

/** Invalid byte sequences: overlong forms, surrogates, out of range, truncated, stray continuation bytes. */
const INVALID_UTF8 = ['\xc0\xaf', '\xe0\x80\xaf', '\xed\xa0\x80', '\xf4\x90\x80\x80', '\xff', '\xfe', '\x80', '\xc3', '\xf0\x9f\x98', '\xc1\xbf'];
const RAW_CONTROL = ['\x00', '\x01', '\x1f', '\x7f', '\n', '\t'];

/** Damage a valid JSON text the way broken clients and attackers do. */
const malformedArb: fc.Arbitrary<{ text: string; how: string }> = fc
  .tuple(
    jsonValueTextArb.map((v) => `{"key":"m","value":${v}}`),
    fc.constantFrom('truncate', 'insert', 'delete', 'append', 'quotes', 'trailing-comma', 'nan', 'comment', 'undefined', 'prefix'),
    fc.nat(),
    fc.constantFrom('{', '}', '[', ']', ',', ':', '"', 'x', '\\', '\u2028', '\u0000', ' '),
  )
  .map(([t, how, at, c]) => {
    const k = at % (t.length + 1);
    switch (how) {
      case 'truncate':
        return { text: t.slice(0, Math.max(0, Math.min(k, t.length - 1))), how };
      case 'insert':
        return { text: t.slice(0, k) + c + t.slice(k), how: `insert ${JSON.stringify(c)}` };
      case 'delete':
        return { text: t.slice(0, k) + t.slice(k + 1), how };
      case 'append':
        return { text: t + c, how: `append ${JSON.stringify(c)}` };
      case 'quotes':
        return { text: t.replaceAll('"', "'"), how };
      case 'trailing-comma':
        return { text: `${t.slice(0, -1)},}`, how };
      case 'nan':
        return { text: '{"key":"m","value":NaN}', how };
      case 'comment':
        return { text: `/* c */${t}`, how };
      case 'undefined':
        return { text: '{"key":"m","value":undefined}', how };
      default:
        return { text: `${c}${t}`, how: `prefix ${JSON.stringify(c)}` };
    }
  });

/** Nested arrays or objects `depth` levels deep (inside the given wrapper, which adds `extra` levels). */
function deepPayload(depth: number, shape: 'array' | 'object' | 'mixed', wrap: 'bare' | 'pair' | 'put' | 'map'): { body: Payload; depth: number } {
  const [open, close, leaf] =
    shape === 'array' ? ['[', ']', ''] : shape === 'object' ? ['{"a":', '}', '1'] : ['[{"a":', '}]', '1'];
  const per = shape === 'mixed' ? 2 : 1;
  const n = Math.max(1, Math.ceil(depth / per));
  const inner: [string, number][] = [[open, n], [leaf, 1], [close, n]];
  const levels = n * per;
  switch (wrap) {
    case 'bare':
      return { body: { parts: inner }, depth: levels };
    case 'pair':
      return { body: { parts: [['{"key":"deep","value":', 1], ...inner, ['}', 1]] }, depth: levels + 1 };
    case 'put':
      return { body: { parts: [['{"value":', 1], ...inner, ['}', 1]] }, depth: levels + 1 };
    default:
      return { body: { parts: [['{"deep-map":', 1], ...inner, ['}', 1]] }, depth: levels + 1 };
  }
}

/** Depths around KV_MAX_JSON_DEPTH (64) and far beyond it (the deepest over KV_MAX_BODY_BYTES as well). */
const depthArb = fc.oneof(
  { weight: 6, arbitrary: fc.constantFrom(2, 32, 63, 64, 65, 66, 100, 1000) },
  { weight: 1, arbitrary: fc.constantFrom(10_000, 100_000, 600_000) },
);
const deepArb = (wrap: 'bare' | 'pair' | 'put' | 'map') =>
  fc.tuple(depthArb, fc.constantFrom('array' as const, 'object' as const, 'mixed' as const)).map(([d, shape]) => {
    const { body } = deepPayload(d, shape, wrap);
    return { body, how: `deep ${shape} ${d}` };
  });

const MAX_VALUE = 1024 * 1024;
/** Value sizes around KV_MAX_VALUE_BYTES (1 MiB, measured as JSON: the quotes count) and the body limit. */
const HUGE_STRING_LENGTHS = [MAX_VALUE - 2, MAX_VALUE - 1, 2 * MAX_VALUE, 100_000];

const hugeValueArb = fc.tuple(fc.constantFrom(...HUGE_STRING_LENGTHS), fc.constantFrom('x', 'é', '\\u0000', '😀')).map(([n, unit]) => {
  // A unit may be several bytes; keep the byte count near n.
  const bytes = byteString(unit);
  const count = Math.max(1, Math.floor(n / bytes.length));
  return { parts: [['"', 1], [bytes, count], ['"', 1]] as [string, number][], how: `huge string ${count}x${JSON.stringify(unit)}` };
});

// ---------------------------------------------------------------------------------------------------------------
// Bodies.

interface BodyChoice {
  readonly body?: Payload;
  /** The JSON text, when the body is text (so it can be re-encoded for another charset). */
  readonly text?: string;
  readonly how: string;
}

const text = (t: string, how: string): BodyChoice => ({ body: textPayload(t), text: t, how });

const PROTO_BODIES = [
  '{"__proto__":{"value":"polluted","key":"polluted"}}',
  '{"constructor":{"prototype":{"value":"polluted","key":"polluted"}}}',
  '{"key":"__proto__","value":{"__proto__":{"value":"polluted"}}}',
  '{"__proto__":1}',
  '{"__proto__":null}',
  '{"__proto__":[]}',
  '{"prototype":{"value":"polluted"}}',
  '{"key":"constructor","value":{"prototype":{"polluted":true}}}',
  '{"__proto__":{"polluted":true},"a":1}',
  '{"key":"k","__proto__":{"value":"polluted"}}',
  '{"toString":"x","valueOf":1,"hasOwnProperty":null}',
];

const SHAPE_BODIES = ['[]', '[1,2]', '[{"key":"a","value":1}]', '"a string"', '42', 'true', 'false', 'null', '{}', '""', '0', '-1e999', '[[]]', '{"":1}'];

/** Bodies for the seed `POST /set` (a pair or a map of pairs) and their hostile variants. */
const setBodyArb: fc.Arbitrary<BodyChoice> = fc.oneof(
  { weight: 10, arbitrary: fc.tuple(keyArb, jsonValueTextArb).map(([k, v]) => text(`{"key":${JSON.stringify(k)},"value":${v}}`, 'pair')) },
  { weight: 2, arbitrary: fc.tuple(keyArb, jsonValueTextArb).map(([k, v]) => text(`{"value":${v},"key":${JSON.stringify(k)}}`, 'pair reordered')) },
  {
    weight: 6,
    arbitrary: fc
      .array(fc.tuple(keyArb, jsonValueTextArb), { minLength: 1, maxLength: 5 })
      .map((kvs) => text(`{${kvs.map(([k, v]) => `${JSON.stringify(k)}:${v}`).join(',')}}`, 'map')),
  },
  {
    weight: 2,
    arbitrary: fc
      .tuple(fc.oneof(numberTokenArb, fc.constantFrom('null', 'true', '{}', '[]')), jsonValueTextArb, fc.constantFrom('', ',"extra":2'))
      .map(([k, v, extra]) => text(`{"key":${k},"value":${v}${extra}}`, 'pseudo-pair')),
  },
  { weight: 1, arbitrary: fc.tuple(keyArb).map(([k]) => text(`{"key":${JSON.stringify(k)}}`, 'key only')) },
  { weight: 2, arbitrary: fc.constantFrom(...PROTO_BODIES).map((t) => text(t, 'prototype keys')) },
  { weight: 2, arbitrary: fc.constantFrom(...SHAPE_BODIES).map((t) => text(t, 'not an object')) },
  { weight: 2, arbitrary: jsonValueTextArb.map((v) => text(v, 'random json')) },
  { weight: 1, arbitrary: fc.constantFrom(...NUMBER_TOKENS).map((n) => text(`{"key":"num","value":${n}}`, `number ${n.slice(0, 12)}`)) },
  { weight: 1, arbitrary: fc.constant({ body: payload('{"key":"bignum","value":', ['9', 100_000], '}'), how: 'number 100000 digits' }) },
  { weight: 3, arbitrary: deepArb('pair') },
  { weight: 1, arbitrary: deepArb('bare') },
  { weight: 1, arbitrary: deepArb('map') },
  {
    weight: 1,
    arbitrary: hugeValueArb.map(({ parts, how }): BodyChoice => ({ body: { parts: [['{"key":"huge","value":', 1], ...parts, ['}', 1]] }, how })),
  },
  {
    weight: 1,
    arbitrary: fc.constantFrom(1025, 20_000, 600_000).map((n) => ({ body: payload('{"key":"', ['k', n], '","value":1}'), how: `key of ${n} bytes` })),
  },
  {
    weight: 1,
    arbitrary: fc.constantFrom(999, 1000, 1001).map((n) => ({
      body: textPayload(`{${Array.from({ length: n }, (_, i) => `"batch-${n}-${i}":${i}`).join(',')}}`),
      how: `${n} pairs`,
    })),
  },
  { weight: 5, arbitrary: malformedArb.map(({ text: t, how }) => text(t, `malformed: ${how}`)) },
  {
    weight: 3,
    arbitrary: fc.tuple(fc.constantFrom(...INVALID_UTF8, ...RAW_CONTROL), fc.constantFrom('key', 'value', 'name')).map(([bad, where]) => ({
      body:
        where === 'key'
          ? payload('{"key":"k', bad, 'x","value":1}')
          : where === 'value'
            ? payload('{"key":"bytes","value":"v', bad, 'x"}')
            : payload('{"n', bad, 'm":1}'),
      how: `bytes ${[...bad].map((c) => c.charCodeAt(0).toString(16)).join(' ')} in ${where}`,
    })),
  },
  { weight: 1, arbitrary: jsonValueTextArb.map((v) => text(`\uFEFF{"key":"bom","value":${v}}`, 'BOM')) },
  { weight: 1, arbitrary: jsonValueTextArb.map((v) => text(` \r\n\t{"key":"ws","value":${v}}\n `, 'whitespace')) },
  { weight: 1, arbitrary: fc.constantFrom('', ' ', '\n').map((t) => text(t, 'empty')) },
  { weight: 1, arbitrary: fc.uint8Array({ maxLength: 64 }).map((b) => ({ body: payload(Buffer.from(b).toString('latin1')), how: 'random bytes' })) },
  { weight: 1, arbitrary: fc.constant({ body: payload('{"key":"bomb","value":"', ['A', 3_000_000], '"}'), how: 'gzip bomb', bomb: true }) },
);

/** Bodies for `PUT /keys/:key`: `{"value": ..., "ttl"?: seconds}` and everything else. */
const TTL_TOKENS = ['1', '2', '60', '3600', '2147483647', '2147483648', '0', '-1', '1.5', '"5"', 'null', 'true', '1e308', '1e999', '[]', '{}', '1e1'];
const putBodyArb: fc.Arbitrary<BodyChoice> = fc.oneof(
  { weight: 10, arbitrary: jsonValueTextArb.map((v) => text(`{"value":${v}}`, 'value')) },
  { weight: 4, arbitrary: fc.tuple(jsonValueTextArb, fc.constantFrom(...TTL_TOKENS)).map(([v, t]) => text(`{"value":${v},"ttl":${t}}`, `ttl ${t}`)) },
  {
    weight: 2,
    arbitrary: fc
      .tuple(jsonValueTextArb, fc.constantFrom('"extra":1', '"key":"other"', '"__proto__":{"value":"polluted"}', '"constructor":{"prototype":{}}', '"prototype":1', '"value":2'))
      .map(([v, extra]) => text(`{"value":${v},${extra}}`, `extra ${extra.slice(0, 16)}`)),
  },
  { weight: 1, arbitrary: fc.constantFrom('{}', '{"ttl":5}', '{"Value":1}', '{"value":}', '{"value"}').map((t) => text(t, 'missing value')) },
  { weight: 2, arbitrary: fc.constantFrom(...SHAPE_BODIES, ...PROTO_BODIES).map((t) => text(t, 'odd shape')) },
  { weight: 1, arbitrary: fc.constantFrom(...NUMBER_TOKENS).map((n) => text(`{"value":${n}}`, `number ${n.slice(0, 12)}`)) },
  { weight: 3, arbitrary: deepArb('put') },
  { weight: 1, arbitrary: hugeValueArb.map(({ parts, how }): BodyChoice => ({ body: { parts: [['{"value":', 1], ...parts, ['}', 1]] }, how })) },
  { weight: 3, arbitrary: malformedArb.map(({ text: t, how }) => text(t.replace('"key":"m",', ''), `malformed: ${how}`)) },
  {
    weight: 2,
    arbitrary: fc.constantFrom(...INVALID_UTF8, ...RAW_CONTROL).map((bad) => ({
      body: payload('{"value":"v', bad, 'x"}'),
      how: `bytes ${[...bad].map((c) => c.charCodeAt(0).toString(16)).join(' ')} in value`,
    })),
  },
);

// ---------------------------------------------------------------------------------------------------------------
// Content types and encodings of bodies.

interface Framing {
  readonly contentType?: string;
  /** Re-encode the text body in this charset. */
  readonly charset?: BufferEncoding;
  readonly encoding?: { readonly header: string; readonly compress?: 'gzip' | 'deflate' | 'br' };
}

const framingArb: fc.Arbitrary<Framing> = fc.oneof(
  { weight: 30, arbitrary: fc.constant({ contentType: 'application/json' }) },
  {
    weight: 6,
    arbitrary: fc.constantFrom<Framing>(
      { contentType: 'application/json; charset=utf-8' },
      { contentType: 'APPLICATION/JSON' },
      { contentType: 'application/json;charset=UTF-8' },
      { contentType: 'application/vnd.api+json' },
      { contentType: 'application/merge-patch+json' },
      { contentType: 'application/json; charset=utf-16le', charset: 'utf16le' },
      { contentType: 'application/json; charset=latin1' },
      { contentType: 'application/json; charset=utf-7' },
      { contentType: 'application/json; charset="utf-8"' },
      { contentType: 'application/json; boundary=x; charset=utf-8; charset=latin1' },
      { contentType: 'text/plain' },
      { contentType: 'text/json' },
      { contentType: 'application/x-www-form-urlencoded' },
      { contentType: 'multipart/form-data; boundary=x' },
      { contentType: '' },
      { contentType: '*/*' },
      { contentType: 'application/*' },
      { contentType: 'json' },
      { contentType: ';;;' },
      { contentType: 'application/json, text/plain' },
      { contentType: 'application/json\xff' },
      {},
    ),
  },
  {
    weight: 3,
    arbitrary: fc.constantFrom<Framing>(
      { contentType: 'application/json', encoding: { header: 'gzip', compress: 'gzip' } },
      { contentType: 'application/json', encoding: { header: 'deflate', compress: 'deflate' } },
      { contentType: 'application/json', encoding: { header: 'br', compress: 'br' } },
      { contentType: 'application/json', encoding: { header: 'gzip' } },
      { contentType: 'application/json', encoding: { header: 'identity' } },
      { contentType: 'application/json', encoding: { header: 'bogus' } },
      { contentType: 'application/json', encoding: { header: 'gzip, gzip', compress: 'gzip' } },
      { contentType: 'application/json', encoding: { header: 'GZIP', compress: 'gzip' } },
    ),
  },
);

function applyFraming(choice: BodyChoice & { bomb?: boolean }, framing: Framing): { headers: Header[]; body?: Payload } {
  if (choice.body === undefined) return { headers: [] };
  let body: Payload = choice.body;
  if (framing.charset && choice.text !== undefined) body = payload(byteString(choice.text, framing.charset));
  const headers: Header[] = [];
  if (framing.contentType !== undefined) headers.push(['Content-Type', framing.contentType]);
  if (choice.bomb) {
    headers.push(['Content-Encoding', 'gzip']);
    return { headers, body: { ...body, compress: 'gzip' } };
  }
  if (framing.encoding) {
    headers.push(['Content-Encoding', framing.encoding.header]);
    if (framing.encoding.compress) body = { ...body, compress: framing.encoding.compress };
  }
  return { headers, body };
}

// ---------------------------------------------------------------------------------------------------------------
// Conditional headers.

const ENTITY_TAGS = ['*', '"1"', '"2"', '"3"', '"1", "2", "3"', 'W/"1"', '1', '""', '"abc"', '"99999999999999999999"', '*, "1"', '"1",,"2"', ' "1" ', '"', '\xff'];
const conditionalArb = (names: readonly string[]): fc.Arbitrary<Header[]> =>
  fc.oneof(
    { weight: 5, arbitrary: fc.constant<Header[]>([]) },
    { weight: 2, arbitrary: fc.tuple(fc.constantFrom(...names), fc.constantFrom(...ENTITY_TAGS)).map(([n, v]) => [[n, v] as Header]) },
    { weight: 1, arbitrary: fc.constant([['If-Match', '"1"'], ['If-None-Match', '*']] as Header[]) },
    { weight: 1, arbitrary: fc.constant([['If-Match', '"1"'], ['If-Match', '"2"']] as Header[]) },
  );

// ---------------------------------------------------------------------------------------------------------------
// Families.

const req = (r: FuzzRequest): FuzzRequest => r;

const setArb = fc
  .record({ prefix: prefixArb('/set'), trail: fc.constantFrom('', '', '', '', '/'), query: queryArb(SET_PARAMS), body: setBodyArb, framing: framingArb, auth: authArb, extra: extrasArb })
  .map(({ prefix, trail, query, body, framing, auth, extra }) => {
    const framed = applyFraming(body, framing);
    return req({
      family: 'set',
      variant: body.how,
      method: 'POST',
      target: `${prefix}${trail}${query}`,
      headers: [...framed.headers, ...auth, ...extra],
      body: framed.body,
    });
  });

const putArb = fc
  .record({ prefix: prefixArb('/keys/'), key: encodedKeyArb, trail: trailArb, body: putBodyArb, framing: framingArb, cond: conditionalArb(['If-Match', 'If-None-Match']), auth: authArb, extra: extrasArb })
  .map(({ prefix, key, trail, body, framing, cond, auth, extra }) => {
    const framed = applyFraming(body, framing);
    // Values of a megabyte all go to one key: kept, a thousand of them would make every listing huge.
    const huge = body.how.startsWith('huge string');
    return req({
      family: 'put',
      variant: `${body.how} (key ${huge ? 'huge-put' : key.how})`,
      method: 'PUT',
      target: huge ? '/keys/huge-put' : `${prefix}${key.path}${trail}`,
      headers: [...framed.headers, ...cond, ...auth, ...extra],
      body: framed.body,
    });
  });

const deleteArb = fc
  .record({ prefix: prefixArb('/keys/'), key: encodedKeyArb, trail: trailArb, cond: conditionalArb(['If-Match', 'If-None-Match']), auth: authArb, extra: extrasArb })
  .map(({ prefix, key, trail, cond, auth, extra }) =>
    req({ family: 'delete', variant: `key ${key.how}`, method: 'DELETE', target: `${prefix}${key.path}${trail}`, headers: [...cond, ...auth, ...extra] }),
  );

const getArb = fc
  .record({
    method: fc.constantFrom('GET', 'GET', 'GET', 'HEAD'),
    route: fc.constantFrom('/get/', '/keys/'),
    key: encodedKeyArb,
    trail: trailArb,
    query: fc.oneof({ weight: 6, arbitrary: fc.constant('') }, { weight: 1, arbitrary: queryArb(['value', 'limit']) }),
    cond: conditionalArb(['If-None-Match', 'If-Match']),
    auth: authArb,
    extra: extrasArb,
  })
  .chain((r) => prefixArb(r.route).map((prefix) => ({ ...r, prefix })))
  .map(({ method, prefix, key, trail, query, cond, auth, extra }) =>
    req({ family: 'get', variant: `key ${key.how}`, method, target: `${prefix}${key.path}${trail}${query}`, headers: [...cond, ...auth, ...extra] }),
  );

const listArb = fc
  .record({ method: fc.constantFrom('GET', 'GET', 'GET', 'HEAD'), route: fc.constantFrom('/', '/keys', '/search'), query: queryArb(LIST_PARAMS), auth: authArb, extra: extrasArb })
  .map(({ method, route, query, auth, extra }) => req({ family: 'list', variant: route, method, target: `${route}${query}`, headers: [...auth, ...extra] }));

const watchArb = fc
  .record({
    query: queryArb(WATCH_PARAMS),
    lastEventId: fc.oneof({ weight: 4, arbitrary: fc.constant(undefined) }, { weight: 1, arbitrary: fc.constantFrom('0', '1', '-1', 'abc', '', ' 5 ', '99999999999999999999', '1.5', '\xff') }),
    auth: authArb,
  })
  .map(({ query, lastEventId, auth }) =>
    req({
      family: 'watch',
      variant: lastEventId === undefined ? 'query' : 'last-event-id',
      method: 'GET',
      target: `/watch${query}`,
      headers: [...(lastEventId === undefined ? [] : [['Last-Event-ID', lastEventId] as Header]), ...auth],
      stream: true,
    }),
  );

/**
 * Webhook URLs: only ones that must be refused, and only ones that lead back to this machine if they were not
 * (loopback in every spelling, other schemes, garbage): never a name that would need DNS nor a private or
 * link-local address, so even a regression sends nothing beyond 127.0.0.1. A 201 is a finding.
 */
const REFUSED_URLS = [
  'http://127.0.0.1:9/hook', 'http://[::1]:9/', 'http://0.0.0.0:9/', 'http://[::]:9/', 'http://0x7f.1:9/', 'http://2130706433:9/', 'http://127.1:9/',
  'http://017700000001:9/', 'http://[::ffff:127.0.0.1]:9/', 'http://127.0.0.1.:9/', 'http://①②⑦.0.0.1:9/', 'http://user:pass@127.0.0.1:9/',
  `http://127.0.0.1:9/${'a'.repeat(3000)}`, 'file:///etc/passwd', 'gopher://127.0.0.1:9/', 'ftp://127.0.0.1:9/', 'javascript:alert(1)',
  'data:text/plain,x', 'http://', 'http:///x', '', ' ', '//127.0.0.1/', '/relative', 'not a url',
];
const subscriptionBodyArb: fc.Arbitrary<BodyChoice> = fc.oneof(
  {
    weight: 5,
    arbitrary: fc
      .record(
        {
          url: fc.constantFrom(...REFUSED_URLS),
          prefix: fc.oneof(keyArb, fc.constantFrom(1, null, [], {})),
          key: keyArb,
          suffix: keyArb,
          secret: fc.oneof(fc.string({ maxLength: 20 }), fc.constantFrom('a'.repeat(300), 'short', null, 5)),
          extra: fc.constantFrom(1, 'x'),
        },
        { requiredKeys: ['url'] },
      )
      .map((o) => text(JSON.stringify(o), 'subscription')),
  },
  { weight: 1, arbitrary: fc.constantFrom(...SHAPE_BODIES, ...PROTO_BODIES, '{"url":5}', '{"url":["http://127.0.0.1/"]}').map((t) => text(t, 'odd shape')) },
  { weight: 1, arbitrary: malformedArb.map(({ text: t, how }) => text(t, `malformed: ${how}`)) },
  { weight: 1, arbitrary: deepArb('bare') },
);

const ID_SEGMENTS = ['x', '00000000-0000-0000-0000-000000000000', '%ZZ', '%C0%AF', '__proto__', 'constructor', '%00', '..', 'a'.repeat(300), '%F0%9F%98%80'];
const subscriptionsArb = fc.oneof(
  fc.record({ body: subscriptionBodyArb, framing: framingArb, auth: authArb }).map(({ body, framing, auth }) => {
    const framed = applyFraming(body, framing);
    return req({ family: 'subscriptions', variant: `create: ${body.how}`, method: 'POST', target: '/subscriptions', headers: [...framed.headers, ...auth], body: framed.body });
  }),
  fc
    .record({ method: fc.constantFrom('GET', 'DELETE', 'HEAD'), id: fc.oneof(fc.constantFrom(...ID_SEGMENTS), keyArb.map(encodeKey)), auth: authArb })
    .map(({ method, id, auth }) => req({ family: 'subscriptions', variant: `${method} one`, method, target: `/subscriptions/${id}`, headers: auth })),
  authArb.map((auth) => req({ family: 'subscriptions', variant: 'list', method: 'GET', target: '/subscriptions', headers: auth })),
);

const MISC_TARGETS = [
  '/health', '/health/live', '/health/ready', '/metrics', '/docs', '/docs/', '/docs-json', '/docs/swagger-ui.css', '/docs/swagger-ui-init.js',
  '/docs/favicon-32x32.png', '/docs/%2e%2e/%2e%2e/package.json', '/docs/..%2f..%2fpackage.json', '/docs/%ZZ', '/docs/%00', '/docs-json/%C0%AF',
  '/..%2f..%2fetc%2fpasswd', '/%2e%2e/%2e%2e/etc/passwd', '/.env', '/.git/config', '/admin', '/favicon.ico', '/index.html', '/get', '/get/',
  '/keys/', '//', '/health/live/extra', '/metrics?format=json', '/health?full=1', '/%', '/%ZZ', '/%C0%AF', '/;', '/keys/a/b', '/set/x',
  '/subscriptions/', '/watch/', '/search/', '/search/x', '/__proto__', '/constructor', '/keys/__proto__/x', '*',
  // Paginated routes with an empty first segment: the Link header is built from the URL.
  '//?limit=1', '//keys?limit=1', '//search?limit=1', '/?limit=1&after=%2F%2F', '//evil.example/?limit=1',
];
const miscArb = fc
  .record({ method: fc.constantFrom('GET', 'GET', 'HEAD', 'POST', 'OPTIONS'), target: fc.constantFrom(...MISC_TARGETS), auth: authArb, extra: extrasArb })
  .map(({ method, target, auth, extra }) => req({ family: 'misc', variant: target, method, target, headers: [...auth, ...extra], stream: isWatch(target) }));

const ROUTE_TARGETS = [
  '/', '/set', '/get/a', '/keys', '/keys/a', '/search', '/watch', '/subscriptions', '/subscriptions/x', '/health', '/health/live',
  '/health/ready', '/metrics', '/docs', '/docs-json', '/keys/%ZZ', '/get/%C0%AF', '/nope',
];
/** Every method Node's parser accepts (CONNECT aside: it is a tunnel, sent raw). */
const HTTP_METHODS = METHODS.filter((m) => m !== 'CONNECT');
const anyMethodArb = fc
  .record({
    method: fc.constantFrom(...HTTP_METHODS),
    target: fc.constantFrom(...ROUTE_TARGETS),
    body: fc.oneof({ weight: 2, arbitrary: fc.constant<BodyChoice>({ how: 'no body' }) }, { weight: 1, arbitrary: setBodyArb }),
    framing: framingArb,
    auth: authArb,
    extra: extrasArb,
  })
  .map(({ method, target, body, framing, auth, extra }) => {
    const framed = method === 'HEAD' ? { headers: [] as Header[] } : applyFraming(body, framing);
    // Watch streams answer 200 and stay open: take the head and go, whatever the method.
    return req({ family: 'any-method', variant: `${method} ${target}`, method, target, headers: [...framed.headers, ...auth, ...extra], body: framed.body, stream: isWatch(target) });
  });

// ---------------------------------------------------------------------------------------------------------------
// Raw requests: what node:http would refuse to send or would normalise.

/** Targets the watch route answers (Express routes ignore case and a trailing slash): an open stream, not a body. */
export const isWatch = (target: string): boolean => /^\/watch\/?(\?|$)/i.test(target);

const rawBytes = (bytes: string, variant: string, notHttp?: string, family = 'raw'): FuzzRequest => ({
  family,
  variant,
  method: '',
  target: '',
  headers: [],
  raw: payload(bytes),
  ...(notHttp !== undefined && { notHttp }),
});

const H = 'Host: 127.0.0.1\r\n';
const CLOSE = 'Connection: close\r\n';

const RAW_MALFORMED: [string, string][] = [
  ['GARBAGE\r\n\r\n', 'not a request line'],
  [`GET / HTTP/9.9\r\n${H}\r\n`, 'unknown version'],
  [`GET / HTTP/1.1 extra\r\n${H}\r\n`, 'extra token'],
  ['GET /\r\n\r\n', 'HTTP/0.9'],
  [`GET  /  HTTP/1.1\r\n${H}\r\n`, 'double spaces'],
  [`GET\t/\tHTTP/1.1\r\n${H}\r\n`, 'tabs'],
  ['get / HTTP/1.1\r\nHost: x\r\n\r\n', 'lower-case method'],
  ['FOO / HTTP/1.1\r\nHost: x\r\n\r\n', 'unknown method'],
  [`${'A'.repeat(1000)} / HTTP/1.1\r\n${H}\r\n`, 'long method'],
  [`G@T / HTTP/1.1\r\n${H}\r\n`, 'method with @'],
  ['PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n', 'HTTP/2 preface'],
  ['\x16\x03\x01\x00\xa5\x01\x00\x00\xa1\x03\x03', 'TLS ClientHello'],

  ['GET / HTTP/1.1\nHost: x\n\n', 'bare LF'],
  [`GET /health/live HTTP/1.1\r\n${H}X-Foo: a\rb\r\n\r\n`, 'bare CR in a header value'],
  ['GET / HTTP/1.1\rHost: x\r\r', 'bare CR'],
  [`GET / HTTP/1.1\r\n${H}X-Foo: a\x01b\r\n\r\n`, 'control character in a header value'],
  [`GET / HTTP/1.1\r\n${H}X-Foo: a\x00b\r\n\r\n`, 'NUL in a header value'],
  [`GET / HTTP/1.1\r\n${H}X Foo: a\r\n\r\n`, 'space in a header name'],
  [`GET / HTTP/1.1\r\n${H}Host : x\r\n\r\n`, 'space before colon'],
  [`GET / HTTP/1.1\r\n${H}NoColon\r\n\r\n`, 'header without colon'],
  [`GET / HTTP/1.1\r\n${H}X-Foo: a\r\n b\r\n\r\n`, 'obs-fold'],
  [`GET / HTTP/1.1\r\n${H}: empty-name\r\n\r\n`, 'empty header name'],
  [`GET / HTTP/1.1\r\n${H}X-\xff: a\r\n\r\n`, 'non-ASCII header name'],
  ['GET /health/live HTTP/1.1\r\n\r\n', 'HTTP/1.1 without Host'],
  [`GET / HTTP/1.1\r\n${H}${H}\r\n`, 'two Host headers'],
  [`POST /set HTTP/1.1\r\n${H}Content-Type: application/json\r\nContent-Length: 7\r\nContent-Length: 8\r\n\r\n{"a":1}`, 'two different Content-Lengths'],
  [`POST /set HTTP/1.1\r\n${H}Content-Type: application/json\r\nContent-Length: 7\r\nContent-Length: 7\r\n\r\n{"zz-dup-cl":1}`, 'two equal Content-Lengths'],
  [`POST /set HTTP/1.1\r\n${H}Content-Type: application/json\r\nContent-Length: -1\r\n\r\n`, 'negative Content-Length'],
  [`POST /set HTTP/1.1\r\n${H}Content-Type: application/json\r\nContent-Length: 1e2\r\n\r\n`, 'Content-Length 1e2'],
  [`POST /set HTTP/1.1\r\n${H}Content-Type: application/json\r\nContent-Length: 99999999999999999999999\r\n\r\n`, 'Content-Length overflow'],
  [`POST /set HTTP/1.1\r\n${H}Content-Type: application/json\r\nContent-Length: +7\r\n\r\n{"a":1}`, 'Content-Length +7'],
  [`POST /set HTTP/1.1\r\n${H}Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\nZZ\r\n{"a":1}\r\n0\r\n\r\n`, 'bad chunk size'],
  [`POST /set HTTP/1.1\r\n${H}Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\nFFFFFFFFFFFFFFFFFFFF\r\n{"a":1}\r\n0\r\n\r\n`, 'chunk size overflow'],
  [`POST /set HTTP/1.1\r\n${H}Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n7\r\n{"a":1}XX0\r\n\r\n`, 'chunk without CRLF'],
  [`POST /set HTTP/1.1\r\n${H}Content-Type: application/json\r\nTransfer-Encoding: gzip\r\n\r\n`, 'Transfer-Encoding gzip only'],
  [`GET /health/live HTTP/1.1\r\n${H}Transfer-Encoding: chunked\r\n\r\n0\r\n\r\nGARBAGE\r\n\r\n`, 'garbage after a chunked GET'],
  ['CONNECT 127.0.0.1:1 HTTP/1.1\r\nHost: 127.0.0.1:1\r\n\r\n', 'CONNECT'],
];

/** Attempts to hide a second request in a first one's body; the hidden one writes a key the model never expects. */
const smuggleArb = fc.nat({ max: 9999 }).chain((n) => {
  const hidden = `PUT /keys/smuggled-${n} HTTP/1.1\r\n${H}Content-Type: application/json\r\nContent-Length: 11\r\n\r\n{"value":1}`;
  const chunkedHidden = `0\r\n\r\n${hidden}`;
  return fc.constantFrom(
    rawBytes(`POST /set HTTP/1.1\r\n${H}Content-Type: application/json\r\nContent-Length: ${chunkedHidden.length}\r\nTransfer-Encoding: chunked\r\n\r\n${chunkedHidden}`, 'CL.TE', 'Content-Length with Transfer-Encoding', 'raw-smuggle'),
    rawBytes(`POST /set HTTP/1.1\r\n${H}Content-Type: application/json\r\nTransfer-Encoding: chunked\r\nContent-Length: 4\r\n\r\n${chunkedHidden}`, 'TE.CL', 'Transfer-Encoding with Content-Length', 'raw-smuggle'),
    rawBytes(`POST /set HTTP/1.1\r\n${H}Content-Type: application/json\r\nTransfer-Encoding: xchunked\r\nContent-Length: ${chunkedHidden.length}\r\n\r\n${chunkedHidden}`, 'TE xchunked', 'obfuscated Transfer-Encoding', 'raw-smuggle'),
    rawBytes(`POST /set HTTP/1.1\r\n${H}Content-Type: application/json\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: identity\r\n\r\n${chunkedHidden}`, 'two TEs', 'two Transfer-Encodings', 'raw-smuggle'),
    rawBytes(`POST /set HTTP/1.1\r\n${H}Content-Type: application/json\r\nTransfer-Encoding:\tchunked\r\nContent-Length: 0\r\n\r\n${chunkedHidden}`, 'TE tab', 'Transfer-Encoding with Content-Length', 'raw-smuggle'),
    rawBytes(`POST /set HTTP/1.1\r\n${H}Content-Type: application/json\r\nTransfer-Encoding: chunked, identity\r\n\r\n${chunkedHidden}`, 'TE chunked,identity', 'chunked not last', 'raw-smuggle'),
    rawBytes(`POST /set HTTP/1.1\r\n${H}Content-Type: application/json\r\nContent-Length : 0\r\n\r\n${hidden}`, 'CL with space', 'space before colon', 'raw-smuggle'),
    rawBytes(`POST /set HTTP/1.1\r\n${H}Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n1;ext="\r\n0\r\n\r\n${hidden}"\r\nx\r\n0\r\n\r\n`, 'chunk extension quote', 'quoted chunk extension with CRLF', 'raw-smuggle'),
  );
});

/** Requests node:http would not send: non-ASCII or control bytes in the target, huge heads, duplicate headers. */
const rawAssembledArb: fc.Arbitrary<FuzzRequest> = fc.oneof(
  {
    weight: 3,
    arbitrary: fc
      .tuple(fc.constantFrom('/get/', '/keys/', '/search?prefix=', '/?after=', '/watch?key='), fc.constantFrom(...INVALID_UTF8, ...RAW_CONTROL, ' ', '"', '<', '\\', '^', '`', '{', '|', '}', '\xe9', '\xf0\x9f\x98\x80'))
      .map(([route, bad]) => ({
        family: 'raw-target',
        variant: `${route} + ${[...bad].map((c) => c.charCodeAt(0).toString(16)).join(' ')}`,
        method: 'GET',
        target: `${route}a${bad}b`,
        headers: [],
        // Printable ASCII the parser tolerates (", <, \, ^, `, {, |, }) still makes a valid request for the app.
        ...(/[^\x21-\x7e]/.test(bad) ? { notHttp: 'raw byte outside visible ASCII in the request-target' } : {}),
        stream: route.startsWith('/watch'),
      })),
  },
  {
    weight: 3,
    arbitrary: fc
      .tuple(
        fc.constantFrom('GET /', 'GET /keys/a', 'PUT /keys/raw-hdr', 'POST /set', 'DELETE /keys/raw-hdr'),
        fc.constantFrom<Header[]>(
          [['Content-Type', 'application/json'], ['Content-Type', 'text/plain']],
          [['Content-Type', 'text/plain'], ['Content-Type', 'application/json']],
          [['Authorization', `Bearer ${API_KEYS.read}`], ['Authorization', `Bearer ${API_KEYS.admin}`]],
          [['Authorization', 'Bearer garbage'], ['Authorization', `Bearer ${API_KEYS.admin}`]],
          [['X-API-Key', API_KEYS.admin], ['X-API-Key', API_KEYS.admin]],
          [['X-API-Key', API_KEYS.admin], ['Authorization', 'Bearer garbage']],
          [['If-Match', '"1"'], ['If-Match', '"2"']],
          [['If-None-Match', '*'], ['If-None-Match', '"1"']],
          [['X-Request-Id', 'a'], ['X-Request-Id', 'b']],
          [['X-Request-Id', '\xc0\xaf\xff']],
          [['X-API-Key', '\xc0\xaf\xff']],
          [['Authorization', 'Bearer \xc0\xaf\xff']],
          [['If-Match', '"\xff"']],
          [['Content-Type', 'application/json; charset=\xff']],
          [['Content-Type', 'application/json'], ['Content-Encoding', 'gzip'], ['Content-Encoding', 'identity']],
          [['Last-Event-ID', '\xff']],
          [['Expect', '100-continue']],
          [['Expect', 'foo']],
          [['Upgrade', 'websocket'], ['Connection', 'Upgrade']],
          [['Upgrade', 'h2c'], ['Connection', 'Upgrade, HTTP2-Settings'], ['HTTP2-Settings', 'AAMAAABkAARAAAAAAAIAAAAA']],
        ),
        authArb,
      )
      .map(([line, dup, auth]) => {
        const [method, target] = line.split(' ');
        const hasBody = method === 'PUT' || method === 'POST';
        const hasType = dup.some(([n]) => n === 'Content-Type');
        return {
          family: 'raw-headers',
          variant: dup.map(([n, v]) => `${n}: ${v}`).join(' | '),
          method,
          target,
          headers: [...(hasBody && !hasType ? [['Content-Type', 'application/json'] as Header] : []), ...dup, ...auth],
          ...(hasBody && { body: textPayload(method === 'PUT' ? '{"value":"raw"}' : '{"raw-hdr":1}') }),
        };
      }),
  },
  {
    weight: 2,
    arbitrary: fc.tuple(fc.constantFrom(15_000, 16_300, 16_500, 17_000, 64_000, 200_000), fc.constantFrom('one', 'many', 'url'), authArb).map(([size, how, auth]) => {
      if (how === 'url') {
        return { family: 'raw-huge', variant: `url ${size}`, method: 'GET', target: `/get/${'u'.repeat(size)}`, headers: auth };
      }
      const headers: Header[] = how === 'one' ? [['X-Big', 'b'.repeat(size)]] : Array.from({ length: Math.ceil(size / 100) }, (_, i) => [`X-H${i}`, 'h'.repeat(90)] as Header);
      return { family: 'raw-huge', variant: `head ${how} ${size}`, method: 'GET', target: '/health/live', headers: [...headers, ...auth] };
    }),
  },
  {
    weight: 1,
    arbitrary: fc.constantFrom(8_000, 8_193, 9_000, 12_000).map((size) => ({
      family: 'raw-huge',
      variant: `url ${size}`,
      method: 'GET',
      target: `/search?prefix=${'p'.repeat(size)}`,
      headers: [],
    })),
  },
  {
    weight: 1,
    arbitrary: fc.tuple(setBodyArb, fc.constantFrom('/set', '/keys/chunked')).map(([body, target]) => ({
      family: 'raw-chunked',
      variant: body.how,
      method: target === '/set' ? 'POST' : 'PUT',
      target,
      headers: [['Content-Type', 'application/json']] as Header[],
      body: target === '/set' ? body.body : body.text !== undefined ? textPayload(`{"value":${body.text || 'null'}}`) : body.body,
      chunked: true,
    })),
  },
  {
    weight: 1,
    arbitrary: fc.constantFrom('/health/live', '/get/a', '/keys?limit=1').map((target) => ({
      family: 'raw-version',
      variant: 'HTTP/1.0 without Host',
      method: 'GET',
      target,
      version: 'HTTP/1.0',
      headers: [],
      noHost: true,
    })),
  },
  {
    weight: 1,
    arbitrary: fc.constantFrom('http://evil.example/get/a', 'http://127.0.0.1/keys?limit=1', 'https://x/health/live', 'http://[::1/search').map((target) => ({
      family: 'raw-absolute',
      variant: target,
      method: 'GET',
      target,
      headers: [],
    })),
  },
);

const rawArb: fc.Arbitrary<FuzzRequest> = fc.oneof(
  { weight: 30, arbitrary: fc.constantFrom(...RAW_MALFORMED).map(([bytes, how]) => rawBytes(bytes, how, how)) },
  // Node skips empty lines before a request line and waits for one: no answer is due; do not wait long.
  { weight: 1, arbitrary: fc.constant({ ...rawBytes('\r\n\r\n\r\n', 'only CRLFs', 'no request line yet'), timeoutMs: 1000 }) },
  { weight: 10, arbitrary: smuggleArb },
  { weight: 60, arbitrary: rawAssembledArb },
  {
    weight: 10,
    arbitrary: fc.constantFrom(
      rawBytes(`GET /health/live HTTP/1.1\r\n${H}\r\nGET /get/a HTTP/1.1\r\n${H}${CLOSE}\r\n`, 'two pipelined reads', undefined, 'raw-pipeline'),
      rawBytes(`GET /get/a HTTP/1.1\r\n${H}\r\nGARBAGE\r\n\r\n`, 'read then garbage', undefined, 'raw-pipeline'),
    ),
  },
);

/**
 * A body shorter than its Content-Length: the server can only wait. Sent rarely (it holds a worker until the
 * server's HTTP_REQUEST_TIMEOUT_MS, which the suite lowers).
 */
const shortBodyArb: fc.Arbitrary<FuzzRequest> = fc.constantFrom('/set', '/keys/short').map((target) =>
  rawBytes(
    `${target === '/set' ? 'POST' : 'PUT'} ${target} HTTP/1.1\r\n${H}Content-Type: application/json\r\nContent-Length: 100\r\n${CLOSE}\r\n{"value":1`,
    `body shorter than Content-Length (${target})`,
    undefined,
    'raw-short-body',
  ),
).map((r) => ({ ...r, timeoutMs: 12_000 }));

/** One hostile request, from any family (the weights are the share of each). */
export const fuzzRequestArb: fc.Arbitrary<FuzzRequest> = fc.oneof(
  { weight: 400, arbitrary: setArb },
  { weight: 320, arbitrary: putArb },
  { weight: 140, arbitrary: deleteArb },
  { weight: 220, arbitrary: getArb },
  { weight: 180, arbitrary: listArb },
  { weight: 40, arbitrary: watchArb },
  { weight: 80, arbitrary: subscriptionsArb },
  { weight: 80, arbitrary: miscArb },
  { weight: 180, arbitrary: anyMethodArb },
  { weight: 240, arbitrary: rawArb },
  { weight: 2, arbitrary: shortBodyArb },
);

// ---------------------------------------------------------------------------------------------------------------
// Putting a request on the wire.

/** True when node:http can send the request unchanged (method token, target bytes, header names and values). */
export function httpExpressible(r: FuzzRequest): boolean {
  if (r.raw || r.version || r.chunked || r.noHost) return false;
  if (!/^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/.test(r.method)) return false;
  if (/[^\u0021-\u007e]/.test(r.target) || !r.target.startsWith('/')) return false;
  for (const [name, value] of r.headers) {
    if (!/^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/.test(name) || /[^\t\x20-\x7e\x80-\xff]/.test(value)) return false;
    // Bytes above 0x7f in a value: node:http would send them as UTF-8, not as the byte we mean.
    if (/[\x80-\xff]/.test(value)) return false;
    const lower = name.toLowerCase();
    // Node's client decides these itself; upgrades are taken over by its 'upgrade' machinery. An Expect the server
    // refuses (417) leaves the body unread on a kept-alive connection, to be parsed as the next request: send raw.
    if (['content-length', 'transfer-encoding', 'upgrade', 'connection', 'expect'].includes(lower)) return false;
  }
  // HEAD goes raw, where an answer that wrongly carries a body shows (node:http would report a parse error).
  return r.method !== 'HEAD';
}

/** A byte string as parts, with runs of one character (32 or more) as repeats, so repros stay short. */
function runLengthParts(s: string): [string, number][] {
  const parts: [string, number][] = [];
  let plain = '';
  for (let i = 0; i < s.length; ) {
    let j = i + 1;
    while (j < s.length && s[j] === s[i]) j++;
    if (j - i >= 32) {
      if (plain) parts.push([plain, 1]);
      plain = '';
      parts.push([s[i], j - i]);
    } else {
      plain += s.slice(i, j);
    }
    i = j;
  }
  if (plain) parts.push([plain, 1]);
  return parts;
}

/** The head and body bytes of a request sent raw (a fresh connection, closed after one answer). */
export function assembleRaw(r: FuzzRequest): Payload {
  if (r.raw) return r.raw;
  const lines: string[] = [`${r.method} ${r.target} ${r.version ?? 'HTTP/1.1'}`];
  const names = new Set(r.headers.map(([n]) => n.toLowerCase()));
  if (!r.noHost && !names.has('host')) lines.push('Host: 127.0.0.1');
  for (const [n, v] of r.headers) lines.push(`${n}: ${v}`);
  if (!names.has('connection')) lines.push('Connection: close');
  const parts: [string, number][] = [];
  if (r.body) {
    const bytes = bytesOf(r.body).toString('latin1');
    if (r.chunked) {
      lines.push('Transfer-Encoding: chunked');
      parts.push([`${lines.join('\r\n')}\r\n\r\n`, 1], [`${bytes.length.toString(16)}\r\n`, 1], [bytes, 1], ['\r\n0\r\n\r\n', 1]);
      return { parts };
    }
    lines.push(`Content-Length: ${bytes.length}`);
    // Keep repeated runs compact (so a repro stays one line).
    return { parts: [[`${lines.join('\r\n')}\r\n\r\n`, 1], ...(r.body.compress ? [[bytes, 1] as [string, number]] : r.body.parts)] };
  }
  return { parts: [[`${lines.join('\r\n')}\r\n\r\n`, 1], ...parts] };
}

/**
 * What Node counts against maxHeaderSize (HTTP_MAX_HEADER_BYTES): the URL and every header name and value, not
 * the method, version, separators or line ends. Undefined for prepared raw bytes.
 */
export function nodeHeaderCount(r: FuzzRequest): number | undefined {
  if (r.raw) return undefined;
  // node:http adds Host (we add it ourselves), Connection and Content-Length; raw assembly adds the same.
  const added = 'Host127.0.0.1:65535ConnectionkeepaliveContent-Length1234567'.length;
  return r.target.length + r.headers.reduce((n, [name, value]) => n + name.length + value.length, 0) + added;
}

/** Bytes of the request head on the wire (approximately, for node:http requests). */
export function headBytes(r: FuzzRequest): number {
  const wire = assembleRaw({ ...r, body: undefined, raw: r.raw });
  if (r.raw) {
    const all = bytesOf(r.raw);
    const end = all.indexOf('\r\n\r\n');
    return end < 0 ? all.length : end + 4;
  }
  return payloadLength(wire) + (r.body ? 25 : 0);
}

function shellQuote(s: string): string {
  // ANSI-C quoting: every byte outside printable ASCII as \xNN.
  let out = "$'";
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    out += c >= 0x20 && c < 0x7f && c !== 0x27 && c !== 0x5c ? s[i] : `\\x${c.toString(16).padStart(2, '0')}`;
  }
  return `${out}'`;
}

/** A one-line shell command that sends the same bytes to a server on `host:port`. */
export function reproOf(r: FuzzRequest, port = 8080): string {
  const long = r.target.length + r.headers.reduce((n, [a, b]) => n + a.length + b.length, 0) > 300;
  if (!httpExpressible(r) || long) {
    const wire = assembleRaw(r);
    const compact = wire.compress ? wire : { parts: wire.parts.flatMap(([s, n]): [string, number][] => (n === 1 ? runLengthParts(s) : [[s, n]])) };
    return `${shellWriter(compact)} | nc -q 2 127.0.0.1 ${port}`;
  }
  const parts = ['curl -s -i --path-as-is'];
  if (r.method === 'HEAD') parts.push('-I');
  else if (r.method !== 'GET' || r.body) parts.push(`-X ${r.method}`);
  parts.push(shellQuote(`http://127.0.0.1:${port}${r.target}`));
  for (const [n, v] of r.headers) parts.push(`-H ${shellQuote(v === '' ? `${n};` : `${n}: ${v}`)}`);
  if (!r.body) return parts.join(' ');
  if (!r.headers.some(([n]) => n.toLowerCase() === 'content-type')) parts.push("-H 'Content-Type:'");
  parts.push('--data-binary @-');
  return `${shellWriter(r.body)} | ${parts.join(' ')}`;
}
