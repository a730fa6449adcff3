import iconv from 'iconv-lite';
import { parse as parseQuery } from 'node:querystring';
import { brotliDecompressSync, gunzipSync, inflateSync } from 'node:zlib';
import type { FuzzResponse } from './fuzz-http';
import { bytesOf, plainBytesOf } from './fuzz-payload';
import { API_KEYS, type FuzzRequest, headBytes, nodeHeaderCount } from './fuzz-requests';

/**
 * What the fuzz suite expects of each answer, judged from the request alone: the JSON error shape, no 5xx, the
 * statuses the limits promise, who may do what with which API key, and what an acknowledged write stored. The
 * server side is emulated only as far as that needs (Node's header merging, Express's routing and parameter
 * decoding, body-parser's decoding), and every place that emulation could be wrong surfaces as a finding to look at.
 */

// Limits with their defaults (the suite does not change them).
export const MAX_HEADER_BYTES = 16 * 1024;
export const MAX_URL_BYTES = 8 * 1024;
export const MAX_JSON_DEPTH = 64;
export const MAX_BODY_BYTES = 1024 * 1024 + 1024 + 64 * 1024;

export interface Violation {
  readonly kind: string;
  readonly detail: string;
}

// ---------------------------------------------------------------------------------------------------------------
// The request as the application sees it.

/** Headers Node keeps only the first of (http.IncomingMessage#headers); the rest are joined with ", ". */
const FIRST_ONLY = new Set([
  'age', 'authorization', 'content-length', 'content-type', 'etag', 'expires', 'from', 'host', 'if-modified-since', 'if-unmodified-since',
  'last-modified', 'location', 'max-forwards', 'proxy-authorization', 'referer', 'retry-after', 'server', 'user-agent',
]);

export interface ServerView {
  readonly method: string;
  readonly pathname: string;
  readonly query: string;
  readonly headers: ReadonlyMap<string, string>;
  /** The body after transfer decoding, before Content-Encoding. */
  readonly body?: Buffer;
}

const views = new WeakMap<FuzzRequest, ServerView | undefined>();
const parses = new WeakMap<ServerView, { value: unknown; text: string; depth: number } | null>();
const effects = new WeakMap<FuzzRequest, Effect>();

/** The request as the application sees it (undefined for prepared raw bytes). Computed once per request. */
export function viewOf(r: FuzzRequest): ServerView | undefined {
  if (!views.has(r)) views.set(r, computeView(r));
  return views.get(r);
}

function computeView(r: FuzzRequest): ServerView | undefined {
  if (r.raw) return undefined;
  const headers = new Map<string, string>();
  for (const [name, value] of r.headers) {
    const lower = name.toLowerCase();
    const v = value.replace(/^[ \t]+|[ \t]+$/g, '');
    const had = headers.get(lower);
    if (had === undefined) headers.set(lower, v);
    else if (!FIRST_ONLY.has(lower)) headers.set(lower, `${had}${lower === 'cookie' ? '; ' : ', '}${v}`);
  }
  let target = r.target;
  const absolute = /^https?:\/\/[^/]*/i.exec(target);
  if (absolute) target = target.slice(absolute[0].length) || '/';
  const q = target.indexOf('?');
  return {
    method: r.method,
    pathname: q < 0 ? target : target.slice(0, q),
    query: q < 0 ? '' : target.slice(q + 1),
    headers,
    ...(r.body && { body: bytesOf(r.body) }),
  };
}

/** Express's matching of one route template: case-insensitive, optional trailing slash, `[^/]+` parameters. */
function match(pathname: string, template: RegExp): string[] | null {
  const m = template.exec(pathname);
  return m ? m.slice(1) : null;
}

const ROUTES = {
  set: /^\/set\/?$/i,
  key: /^\/keys\/([^/]+)\/?$/i,
};

/** Express's decoding of a route parameter: undefined when it answers 400 instead. */
function decodeParam(segment: string): string | undefined {
  if (!segment.includes('%')) return segment;
  try {
    return decodeURIComponent(segment);
  } catch {
    return undefined;
  }
}

/** The parsed JSON body, as body-parser produces it (undefined: it would not have parsed), with its depth. */
export function parsedBody(view: ServerView): { value: unknown; text: string; depth: number } | undefined {
  if (!parses.has(view)) {
    const parsed = parseBody(view);
    parses.set(view, parsed ? { ...parsed, depth: depthOf(parsed.value) } : null);
  }
  return parses.get(view) ?? undefined;
}

function parseBody(view: ServerView): { value: unknown; text: string } | undefined {
  if (!view.body) return undefined;
  const coding = (view.headers.get('content-encoding') ?? 'identity').toLowerCase();
  let plain: Buffer;
  try {
    if (coding === 'identity') plain = view.body;
    else if (coding === 'gzip' || coding === 'x-gzip') plain = gunzipSync(view.body);
    else if (coding === 'deflate') plain = inflateSync(view.body);
    else if (coding === 'br') plain = brotliDecompressSync(view.body);
    else return undefined;
  } catch {
    return undefined;
  }
  if (plain.length > MAX_BODY_BYTES) return undefined;
  const type = view.headers.get('content-type') ?? '';
  const charset = (/;\s*charset\s*=\s*"?([^";\s]+)"?/i.exec(type)?.[1] ?? 'utf-8').toLowerCase();
  if (!charset.startsWith('utf-') || !iconv.encodingExists(charset)) return undefined;
  const text = iconv.decode(plain, charset);
  if (text.length === 0) return { value: {}, text };
  try {
    return { value: JSON.parse(text) as unknown, text };
  } catch {
    return undefined;
  }
}

/** Nesting depth as the server counts it (every array and object is one level; iterative). */
export function depthOf(value: unknown): number {
  let max = 0;
  const stack: [unknown, number][] = [[value, 1]];
  while (stack.length > 0) {
    const [node, depth] = stack.pop()!;
    if (node === null || typeof node !== 'object') continue;
    if (depth > max) max = depth;
    for (const child of Object.values(node)) if (child !== null && typeof child === 'object') stack.push([child, depth + 1]);
  }
  return max;
}

function hasNonFinite(value: unknown): boolean {
  const stack: unknown[] = [value];
  while (stack.length > 0) {
    const node = stack.pop();
    if (typeof node === 'number' && !Number.isFinite(node)) return true;
    if (node !== null && typeof node === 'object') stack.push(...Object.values(node));
  }
  return false;
}

// ---------------------------------------------------------------------------------------------------------------
// What a write stores when it is acknowledged.

export interface Write {
  readonly key: string;
  /** The stored value as JSON text (what a read returns), or undefined for a delete. */
  readonly value?: string;
  readonly ttlSeconds?: number;
  /** The expiry the server acknowledged (PUT answers carry it), in ms since the epoch; null: none. */
  readonly expiresAt?: number | null;
}

export type Effect =
  | { readonly kind: 'none' }
  | { readonly kind: 'writes'; readonly writes: readonly Write[]; readonly notes: readonly string[] }
  | { readonly kind: 'unexplained'; readonly why: string };

const NONE: Effect = { kind: 'none' };

/** What the request writes if the server acknowledges it (2xx), emulating the service's rules. */
export function effectOf(r: FuzzRequest): Effect {
  if (!effects.has(r)) effects.set(r, computeEffect(r));
  return effects.get(r)!;
}

function computeEffect(r: FuzzRequest): Effect {
  const view = viewOf(r);
  if (!view) return NONE;
  const method = view.method.toUpperCase();
  if (method === 'POST' && match(view.pathname, ROUTES.set)) return setEffect(view);
  const keyMatch = match(view.pathname, ROUTES.key);
  if (!keyMatch || (method !== 'PUT' && method !== 'DELETE')) return NONE;
  const key = decodeParam(keyMatch[0]);
  if (key === undefined) return { kind: 'unexplained', why: `the key segment ${keyMatch[0]} does not decode` };
  if (method === 'DELETE') return { kind: 'writes', writes: [{ key }], notes: [] };
  const body = parsedBody(view);
  if (!body) return { kind: 'unexplained', why: 'the body does not parse as JSON' };
  const b = body.value as { value?: unknown; ttl?: unknown } | null;
  if (typeof b !== 'object' || b === null || Array.isArray(b) || !Object.hasOwn(b, 'value')) return { kind: 'unexplained', why: 'no value property' };
  // `"ttl": null` is not a number of seconds; if it is acknowledged, what expiry it got shows in the answer.
  if (b.ttl !== undefined && b.ttl !== null && !(Number.isInteger(b.ttl) && (b.ttl as number) >= 1)) return { kind: 'unexplained', why: `ttl ${String(b.ttl)}` };
  const value = serialise(b.value);
  if (value === undefined) return { kind: 'unexplained', why: `the value is nested ${body.depth - 1} deep` };
  return {
    kind: 'writes',
    writes: [{ key, value, ...(typeof b.ttl === 'number' && { ttlSeconds: b.ttl }) }],
    notes: notesOf(b.value, body.text, view),
  };
}

/** JSON text of a value, or undefined when it is nested too deep to serialise. */
function serialise(value: unknown): string | undefined {
  try {
    return JSON.stringify(value);
  } catch {
    return undefined;
  }
}

function setEffect(view: ServerView): Effect {
  const body = parsedBody(view);
  if (!body) return { kind: 'unexplained', why: 'the body does not parse as JSON' };
  const record = body.value as Record<string, unknown>;
  if (typeof record !== 'object' || record === null || Array.isArray(record)) return { kind: 'unexplained', why: 'the body is not an object' };
  const query = parseQuery(view.query);
  const ttlText = query.ttl;
  if (Array.isArray(ttlText) || (ttlText !== undefined && !/^\d{1,16}$/.test(ttlText))) return { kind: 'unexplained', why: `ttl ${String(ttlText)}` };
  const ttlSeconds = ttlText === undefined ? undefined : Number(ttlText);
  const names = Object.keys(record);
  const single = names.length === 2 && typeof record.key === 'string' && Object.hasOwn(record, 'value');
  // A body that names key or value and is not exactly a pair is refused (a typo is never stored as keys).
  if (!single && (names.includes('key') || names.includes('value'))) return { kind: 'unexplained', why: 'names key or value but is not exactly one pair' };
  const pairs: [string, unknown][] = single ? [[record.key as string, record.value]] : names.map((k) => [k, record[k]]);
  const values = pairs.map(([, value]) => serialise(value));
  if (values.includes(undefined)) return { kind: 'unexplained', why: `a value is nested ${body.depth - 1} deep` };
  return {
    kind: 'writes',
    writes: pairs.map(([key], i) => ({ key, value: values[i], ...(ttlSeconds !== undefined && { ttlSeconds }) })),
    notes: pairs.flatMap(([, value]) => notesOf(value, body.text, view)),
  };
}

function notesOf(value: unknown, text: string, view: ServerView): string[] {
  const notes: string[] = [];
  if (hasNonFinite(value)) notes.push('non-finite');
  if (text.includes('\uFFFD') && view.body && !view.body.includes(Buffer.from('\uFFFD'))) notes.push('invalid-utf8');
  const charset = /charset\s*=\s*"?([^";\s]+)/i.exec(view.headers.get('content-type') ?? '')?.[1]?.toLowerCase();
  if (charset && charset !== 'utf-8' && charset !== 'utf8') notes.push(`charset ${charset}`);
  return notes;
}

// ---------------------------------------------------------------------------------------------------------------
// Access control.

export type Role = keyof typeof API_KEYS;
const ROLE_ORDER: readonly Role[] = ['read', 'write', 'admin'];

/** The role the server will find for the request's credentials (null: none, malformed or unknown). */
export function presentedRole(view: ServerView): Role | null {
  const authorization = view.headers.get('authorization');
  let credential: string | undefined;
  if (authorization !== undefined) {
    credential = /^Bearer[ \t]+(\S+)[ \t]*$/i.exec(authorization)?.[1];
  } else {
    const apiKey = view.headers.get('x-api-key');
    credential = apiKey !== undefined && apiKey.trim() !== '' ? apiKey.trim() : undefined;
  }
  if (credential === undefined) return null;
  return (Object.keys(API_KEYS) as Role[]).find((role) => API_KEYS[role] === credential) ?? null;
}

/** What a route needs: nothing for probes, metrics and docs; admin for subscriptions; read for reads, write otherwise. */
export function requiredRole(view: ServerView): Role | 'public' {
  const path = view.pathname;
  if (/^\/(health(\/(live|ready))?|metrics)\/?$/i.test(path) || /^\/docs/i.test(path)) return 'public';
  if (/^\/subscriptions(\/[^/]+)?\/?$/i.test(path)) return 'admin';
  return view.method === 'GET' || view.method === 'HEAD' ? 'read' : 'write';
}

const allows = (role: Role | null, required: Role | 'public'): boolean =>
  required === 'public' || (role !== null && ROLE_ORDER.indexOf(role) >= ROLE_ORDER.indexOf(required));

// ---------------------------------------------------------------------------------------------------------------
// Judging one answer.

/** The status the limits promise for this request, when it is certain. */
export function expectedStatus(r: FuzzRequest): { statuses: number[]; why: string } | undefined {
  if (r.notHttp) return undefined;
  const view = viewOf(r);
  if (view && [...view.headers.entries()].some(([n, v]) => n === 'expect' && v.toLowerCase() !== '100-continue')) return undefined;
  const counted = nodeHeaderCount(r);
  if (counted === undefined || !view) return undefined;
  if (counted > MAX_HEADER_BYTES + 64) return { statuses: [431], why: `URL and headers of ${counted} bytes > HTTP_MAX_HEADER_BYTES` };
  if (counted > MAX_HEADER_BYTES - 64) return undefined;
  const urlBytes = Buffer.byteLength(r.target, 'latin1');
  if (urlBytes > MAX_URL_BYTES && r.target.startsWith('/')) return { statuses: [414], why: `URL of ${urlBytes} bytes > HTTP_MAX_URL_BYTES` };
  if (!view.body || !r.body) return undefined;
  const type = (view.headers.get('content-type') ?? '').toLowerCase();
  if (!/^application\/json\s*(;\s*charset=utf-8\s*)?$/.test(type)) return undefined;
  const coding = view.headers.get('content-encoding');
  if (coding !== undefined && !(coding === 'identity' || coding === r.body.compress)) return undefined;
  const plainLength = plainBytesOf(r.body).length;
  if (plainLength > MAX_BODY_BYTES) return { statuses: [413], why: `body of ${plainLength} bytes > KV_MAX_BODY_BYTES` };
  const body = parsedBody(view);
  if (body && body.depth > MAX_JSON_DEPTH) return { statuses: [400], why: `JSON nested ${body.depth} deep > KV_MAX_JSON_DEPTH` };
  return undefined;
}

/** Routes whose query is a validated DTO (unknown parameters are 400) and the parameters each accepts. */
const QUERY_DTOS: readonly [methods: RegExp, path: RegExp, names: readonly string[]][] = [
  [/^(GET|HEAD)$/, /^\/+$|^\/(keys|search)\/?$/i, ['limit', 'after', 'prefix', 'suffix']],
  [/^POST$/, /^\/set\/?$/i, ['ttl', 'nx', 'xx']],
  [/^(GET|HEAD)$/, /^\/watch\/?$/i, ['key', 'prefix', 'suffix', 'since']],
];

/** Query parameters the route does not know, as Express parses the query (node:querystring). */
function unknownQueryNames(view: ServerView): string[] {
  const dto = QUERY_DTOS.find(([methods, path]) => methods.test(view.method) && path.test(view.pathname));
  if (!dto || view.query === '') return [];
  return Object.keys(parseQuery(view.query)).filter((name) => !dto[2].includes(name));
}

/** Markers of files that must never be served (path traversal through the docs' static files). */
const LEAKS = ['root:x:0:0', '"devDependencies"', '[core]\n', 'PRIVATE KEY'];

export interface Judgement {
  readonly violations: Violation[];
  /** Accepted but worth reporting (Node answering malformed requests itself, lossy decoding). */
  readonly observations: Violation[];
}

/**
 * Judges one answer. `authMode`: API keys are configured (so access rules apply); otherwise every route is open.
 */
export function judge(r: FuzzRequest, res: FuzzResponse, authMode: boolean): Judgement {
  const violations: Violation[] = [];
  const observations: Violation[] = [];
  const v = (kind: string, detail: string) => violations.push({ kind, detail });
  const o = (kind: string, detail: string) => observations.push({ kind, detail });
  const status = res.status;
  const contentType = res.headers['content-type'] ?? '';
  const bodyText = res.body.toString('utf8');

  if (status === 0) {
    // Requests that are not valid HTTP (or CONNECT, a tunnel this server does not offer): Node may close the
    // connection without an answer. For anything else, no answer is a failure.
    if (r.notHttp) o('closed without an answer', `${r.notHttp}: ${res.failure ?? ''}`);
    else if (r.family === 'raw-short-body' && res.failure === 'timeout') v('no answer', 'a body shorter than Content-Length was never answered');
    else v('no answer', res.failure ?? 'no response');
    return { violations, observations };
  }
  if (status >= 500) v('5xx', `${status} ${bodyText.slice(0, 200)}`);
  if (r.method === 'HEAD' && (res.trailing ?? 0) > 0) v('HEAD answer with a body', `${res.trailing} bytes of body after a ${status} answer to HEAD`);

  if (status >= 400) {
    const isJson = /^application\/json\b/i.test(contentType);
    let body: { status?: unknown; statusCode?: unknown; message?: unknown } | undefined;
    try {
      body = JSON.parse(bodyText) as typeof body;
    } catch {
      body = undefined;
    }
    const headOnly = r.method === 'HEAD';
    const shapeOk =
      isJson && (headOnly || (typeof body === 'object' && body !== null && body.status === 'error' && body.statusCode === status && typeof body.message === 'string'));
    if (!shapeOk) {
      const what = `${status} content-type "${contentType}" body ${JSON.stringify(bodyText.slice(0, 160))}`;
      // Node answers some requests that are not valid HTTP itself, before the application exists for them.
      if (r.notHttp) o('Node answered malformed HTTP itself', `${r.notHttp}: ${what}`);
      else if (!isJson) v('error not JSON', what);
      else v('error shape', what);
    }
    if (isJson && body && typeof body === 'object' && typeof body.statusCode === 'number' && body.statusCode !== status) {
      v('error shape', `statusCode ${String(body.statusCode)} in a ${status} answer`);
    }
  }

  if (r.notHttp && status >= 200 && status < 400) o('Node accepted it', `${r.notHttp}: ${status}`);
  const head = headBytes(r);
  if (head > MAX_HEADER_BYTES && status !== 431 && !r.notHttp) {
    o('head over HTTP_MAX_HEADER_BYTES accepted', `a ${head}-byte head got ${status}: Node counts only the URL and header names and values`);
  }

  const expected = expectedStatus(r);
  if (expected && !expected.statuses.includes(status)) v('limit not enforced', `${expected.why}: expected ${expected.statuses.join('/')}, got ${status} ${bodyText.slice(0, 120)}`);

  const ok = status >= 200 && status < 300;
  if (ok && /json/i.test(contentType) && r.method !== 'HEAD' && res.body.length > 0 && !r.stream) {
    try {
      JSON.parse(bodyText);
    } catch {
      v('2xx body not JSON', bodyText.slice(0, 160));
    }
  }
  if (ok) {
    for (const leak of LEAKS) if (bodyText.includes(leak)) v('file disclosure', `${leak} in a ${status} answer`);
  }

  const view = viewOf(r);
  if (view) {
    const method = view.method.toUpperCase();
    const stray = ok || status === 304 ? unknownQueryNames(view) : [];
    if (stray.length > 0) v('unknown query parameter accepted', `${status} with ${stray.map((n) => JSON.stringify(n)).join(', ')} in the query of ${method} ${view.pathname}`);
    if (ok && method === 'POST' && /^\/subscriptions\/?$/i.test(view.pathname)) {
      v('internal webhook accepted', `POST /subscriptions answered ${status}: ${bodyText.slice(0, 160)}`);
    }
    // Access control, when keys are configured (judged only where the server demonstrably routed the request).
    const role = presentedRole(view);
    const required = requiredRole(view);
    if (authMode) {
      if ((ok || status === 304) && !allows(role, required)) {
        v('auth bypass', `${status} for ${method} ${view.pathname} with ${role ?? 'no valid key'} (needs ${required})`);
      }
      if (status === 401 || status === 403) {
        if (allows(role, required)) v('auth wrongly denied', `${status} for ${method} ${view.pathname} with ${role ?? 'no key'} (needs ${required})`);
        else if (status === 401 && role !== null) v('auth status', `401 for a known ${role} key (a weak role is 403)`);
        else if (status === 403 && role === null) v('auth status', '403 without a valid key (should be 401)');
      }
      if (status === 401 && !/^Bearer\b/i.test(res.headers['www-authenticate'] ?? '')) v('auth status', '401 without WWW-Authenticate: Bearer');
    } else if (status === 401 || status === 403) {
      v('auth in open mode', `${status} although no API keys are configured`);
    }

    if (ok && (method === 'PUT' || method === 'POST' || method === 'DELETE')) {
      const effect = effectOf(r);
      if (effect.kind === 'unexplained') v('unexplained acknowledgement', `${status} although ${effect.why}`);
      if (effect.kind === 'writes') {
        for (const note of new Set(effect.notes)) {
          if (note === 'non-finite') v('lossy write accepted', 'a number beyond double range was acknowledged; it is stored and read back as null');
          else o(`accepted with ${note}`, 'the stored text differs from the bytes sent (decoded as the charset / with U+FFFD)');
        }
        if (method === 'PUT' && status !== 204) {
          try {
            const record = JSON.parse(bodyText) as { key?: unknown; value?: unknown; updatedAt?: string; expiresAt?: string | null };
            const w = effect.writes[0];
            if (record.key !== w.key) v('acknowledged other key', `sent ${JSON.stringify(w.key)}, answer says ${JSON.stringify(record.key)}`);
            else if (JSON.stringify(record.value) !== w.value) v('acknowledged other value', `sent ${w.value?.slice(0, 80)}, answer says ${JSON.stringify(record.value)?.slice(0, 80)}`);
            const lifetime = record.expiresAt == null || record.updatedAt === undefined ? null : (Date.parse(record.expiresAt) - Date.parse(record.updatedAt)) / 1000;
            const asked = w.ttlSeconds ?? null;
            if (lifetime !== asked) {
              v('acknowledged other expiry', `asked for ${asked === null ? 'no expiry' : `ttl ${asked}`} (body ${JSON.stringify(parsedBody(view)?.text.slice(0, 60))}), answer says expiresAt ${record.expiresAt} with updatedAt ${record.updatedAt}`);
            }
          } catch {
            v('2xx body not JSON', bodyText.slice(0, 160));
          }
        }
      }
    }
  }
  return { violations, observations };
}
