import http from 'node:http';
import net from 'node:net';

/**
 * Low-level HTTP for the bad-input fuzz suite (test/fuzz.e2e-spec.ts): node:http for requests it can express,
 * raw bytes over `net` for the ones it would normalise or refuse (invalid UTF-8, bare control characters,
 * malformed request lines, duplicate headers, huge heads). Neither ever throws: every outcome, including "no
 * answer", comes back as a FuzzResponse so the caller can judge it.
 */

export interface FuzzResponse {
  /** HTTP status, or 0 when no response head arrived. */
  readonly status: number;
  /** Lower-cased header names; repeated headers joined with ", " (set-cookie aside, which we never get). */
  readonly headers: Record<string, string>;
  readonly body: Buffer;
  /** Why no (complete) response arrived: a socket error code, "timeout", "closed", "unparseable". */
  readonly failure?: string;
  readonly ms: number;
  /** Raw only: bytes that arrived after the (first) response, e.g. a body sent with an answer to HEAD. */
  readonly trailing?: number;
}

export interface HttpSpec {
  readonly method: string;
  /** The request-target exactly as sent. */
  readonly path: string;
  readonly headers: readonly (readonly [string, string])[];
  readonly body?: Buffer;
  /** An event stream: resolve as soon as the head has arrived, then drop the connection. */
  readonly stream?: boolean;
}

/** A keep-alive pool for one server (destroy it when the suite ends). */
export function createAgent(): http.Agent {
  return new http.Agent({ keepAlive: true, maxSockets: 16 });
}

/** One request through node:http (keep-alive pool). */
export function sendHttp(port: number, spec: HttpSpec, timeoutMs: number, agent: http.Agent): Promise<FuzzResponse> {
  const started = Date.now();
  return new Promise((resolve) => {
    let settled = false;
    const done = (r: Omit<FuzzResponse, 'ms'>) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      resolve({ ...r, ms: Date.now() - started });
    };
    let req: http.ClientRequest;
    try {
      const headers: [string, string][] = spec.headers.map(([k, v]) => [k, v]);
      // With headers given as raw pairs node:http adds no Host of its own.
      if (!headers.some(([k]) => k.toLowerCase() === 'host')) headers.unshift(['Host', `127.0.0.1:${port}`]);
      // Nor a Content-Length: without one a GET, DELETE, OPTIONS or TRACE body goes out unframed, and the server
      // reads it as the next request on the connection.
      if (spec.body !== undefined && !headers.some(([k]) => /^(content-length|transfer-encoding)$/i.test(k))) {
        headers.push(['Content-Length', String(spec.body.length)]);
      }
      req = http.request({
        host: '127.0.0.1',
        port,
        method: spec.method,
        path: spec.path,
        // An array of pairs sends repeated names as repeated lines, in order, unchanged.
        headers: headers.flat(),
        agent: spec.stream ? false : agent,
      });
    } catch (e) {
      resolve({ status: 0, headers: {}, body: Buffer.alloc(0), failure: `client refused: ${(e as Error).message}`, ms: 0 });
      return;
    }
    const timer = setTimeout(() => {
      req.destroy();
      done({ status: 0, headers: {}, body: Buffer.alloc(0), failure: 'timeout' });
    }, timeoutMs);
    req.on('error', (e: NodeJS.ErrnoException) => done({ status: 0, headers: {}, body: Buffer.alloc(0), failure: e.code ?? e.message }));
    req.on('response', (res) => {
      const headers = flattenHeaders(res.rawHeaders);
      if (spec.stream && res.statusCode === 200) {
        // A watch stream never ends by itself: the head is the answer.
        res.destroy();
        req.destroy();
        done({ status: 200, headers, body: Buffer.alloc(0) });
        return;
      }
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => done({ status: res.statusCode ?? 0, headers, body: Buffer.concat(chunks) }));
      res.on('error', (e: NodeJS.ErrnoException) =>
        done({ status: res.statusCode ?? 0, headers, body: Buffer.concat(chunks), failure: `body: ${e.code ?? e.message}` }),
      );
      res.on('aborted', () => done({ status: res.statusCode ?? 0, headers, body: Buffer.concat(chunks), failure: 'body aborted' }));
    });
    if (spec.body !== undefined) req.end(spec.body);
    else req.end();
  });
}

function flattenHeaders(raw: readonly string[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (let i = 0; i + 1 < raw.length; i += 2) {
    const name = raw[i].toLowerCase();
    out[name] = name in out ? `${out[name]}, ${raw[i + 1]}` : raw[i + 1];
  }
  return out;
}

/**
 * Writes `bytes` on a fresh connection and reads one response (Content-Length, chunked, or until close).
 * The connection is dropped afterwards whatever the server wanted.
 */
export function sendRaw(port: number, bytes: Buffer, timeoutMs: number, head = false): Promise<FuzzResponse> {
  const started = Date.now();
  return new Promise((resolve) => {
    let settled = false;
    let received = Buffer.alloc(0);
    const socket = net.connect({ host: '127.0.0.1', port });
    const finish = (failure?: string) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      socket.destroy();
      const parsed = parseResponse(received, true, head);
      if (parsed.complete) resolve({ ...parsed.response, ms: Date.now() - started, trailing: parsed.rest });
      else if (parsed.response.status !== 0) resolve({ ...parsed.response, failure: failure ?? 'truncated', ms: Date.now() - started });
      else resolve({ status: 0, headers: {}, body: received, failure: failure ?? (received.length > 0 ? 'unparseable' : 'closed'), ms: Date.now() - started });
    };
    const timer = setTimeout(() => finish('timeout'), timeoutMs);
    socket.on('connect', () => socket.write(bytes, () => undefined));
    socket.on('data', (chunk: Buffer) => {
      received = Buffer.concat([received, chunk]);
      // An answer to HEAD has no body: wait a moment for bytes that should not come.
      if (parseResponse(received, false, head).complete) {
        if (head) setTimeout(() => finish(), 40);
        else finish();
      }
    });
    // A reset after the server answered (it closes while we still write a huge head) keeps what arrived.
    socket.on('error', (e: NodeJS.ErrnoException) => finish(e.code ?? e.message));
    socket.on('end', () => finish());
    socket.on('close', () => finish());
  });
}

interface Parsed {
  readonly complete: boolean;
  readonly response: Omit<FuzzResponse, 'ms'>;
  /** Bytes after the response, when it is complete. */
  readonly rest?: number;
}

/** A minimal HTTP/1.x response parser: enough to judge status, headers and body of one response. */
export function parseResponse(buf: Buffer, atEof: boolean, head = false): Parsed {
  const empty: Parsed = { complete: false, response: { status: 0, headers: {}, body: Buffer.alloc(0) } };
  const headEnd = buf.indexOf('\r\n\r\n');
  if (headEnd < 0) return empty;
  const lines = buf.subarray(0, headEnd).toString('latin1').split('\r\n');
  const statusLine = /^HTTP\/1\.[01] (\d{3})/.exec(lines[0]);
  if (!statusLine) return empty;
  const status = Number(statusLine[1]);
  const raw: string[] = [];
  for (const line of lines.slice(1)) {
    const colon = line.indexOf(':');
    if (colon > 0) raw.push(line.slice(0, colon).trim(), line.slice(colon + 1).trim());
  }
  const headers = flattenHeaders(raw);
  const rest = buf.subarray(headEnd + 4);
  // An interim answer (100 Continue) comes before the real one.
  if (status >= 100 && status < 200 && status !== 101) return parseResponse(rest, atEof, head);
  if (head || status === 304 || status === 204 || status === 101) {
    return { complete: true, response: { status, headers, body: Buffer.alloc(0) }, rest: rest.length };
  }
  if (headers['content-length'] !== undefined) {
    const length = Number(headers['content-length']);
    const complete = rest.length >= length;
    return { complete, response: { status, headers, body: rest.subarray(0, Math.min(length, rest.length)) }, rest: Math.max(0, rest.length - length) };
  }
  if (/chunked/i.test(headers['transfer-encoding'] ?? '')) {
    const chunks: Buffer[] = [];
    let at = 0;
    for (;;) {
      const lineEnd = rest.indexOf('\r\n', at);
      if (lineEnd < 0) break;
      const size = parseInt(rest.subarray(at, lineEnd).toString('latin1'), 16);
      if (Number.isNaN(size)) break;
      if (size === 0) return { complete: true, response: { status, headers, body: Buffer.concat(chunks) } };
      if (rest.length < lineEnd + 2 + size + 2) break;
      chunks.push(rest.subarray(lineEnd + 2, lineEnd + 2 + size));
      at = lineEnd + 2 + size + 2;
    }
    return { complete: false, response: { status, headers, body: Buffer.concat(chunks) } };
  }
  // Neither: the body runs until the connection closes (an event stream, or a bare answer).
  if (/text\/event-stream/i.test(headers['content-type'] ?? '')) return { complete: true, response: { status, headers, body: rest } };
  return { complete: atEof, response: { status, headers, body: rest } };
}

/** Bytes as a bash-safe printf format string ('\xNN' for everything outside plain printable ASCII). */
export function printfEscape(bytes: Buffer): string {
  let out = '';
  for (const b of bytes) {
    if (b >= 0x20 && b < 0x7f && b !== 0x27 && b !== 0x5c && b !== 0x25) out += String.fromCharCode(b);
    else out += `\\x${b.toString(16).padStart(2, '0')}`;
  }
  return out;
}
