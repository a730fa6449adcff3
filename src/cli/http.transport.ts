import http, { type IncomingMessage } from 'node:http';
import https from 'node:https';

/** One request as the client sends it. */
export interface RawRequest {
  readonly method: string;
  /** Scheme, host and port: the rest of the URL is `target`. */
  readonly origin: URL;
  /**
   * Path and query exactly as they go on the request line. Never parsed as a URL, which would drop the path segments
   * `%2E` and `%2E%2E` (the keys `.` and `..`) as it does `.` and `..` (WHATWG URL, "single-dot segment").
   */
  readonly target: string;
  readonly headers: Readonly<Record<string, string>>;
  readonly body?: string;
  /** Aborts the request, also while its answer is being read. */
  readonly signal?: AbortSignal;
}

/** The answer, its body still to be read (once): as text, or chunk by chunk (an event stream). */
export interface RawAnswer {
  readonly status: number;
  readonly statusText: string;
  /** A header's value (several joined with ", "), or undefined. */
  header(name: string): string | undefined;
  text(): Promise<string>;
  readonly body: AsyncIterable<Buffer>;
}

const SENT = Symbol('kv.requestSent');

/**
 * Whether a request that failed had been handed to the network in full first: then the server may have received it
 * and acted on it. A request whose connection (or TLS handshake) never completed, or that could not even be built, was
 * not: nothing reached the server.
 */
export function wasSent(error: unknown): boolean {
  return typeof error === 'object' && error !== null && (error as { [SENT]?: boolean })[SENT] === true;
}

/**
 * Sends one request with node:http(s). Not fetch: fetch takes a URL, and URL parsing resolves a key `.` or `..` away
 * however it is encoded. Redirects are not followed (kv-store never sends one; the caller reports it). A failure says
 * whether the request had left (`wasSent`).
 */
export function sendRaw(request: RawRequest): Promise<RawAnswer> {
  const { origin } = request;
  const headers: Record<string, string> = { ...request.headers };
  if (request.body !== undefined) headers['Content-Length'] = String(Buffer.byteLength(request.body));
  return new Promise((resolve, reject) => {
    let sent = false;
    const fail = (error: unknown) => {
      if (sent && typeof error === 'object' && error !== null) (error as { [SENT]?: boolean })[SENT] = true;
      reject(error);
    };
    const req = (origin.protocol === 'https:' ? https : http).request(
      {
        protocol: origin.protocol,
        // URL keeps an IPv6 address in brackets; the socket wants it bare.
        hostname: origin.hostname.replace(/^\[(.*)\]$/, '$1'),
        port: origin.port,
        method: request.method,
        path: request.target,
        headers,
        signal: request.signal,
      },
      (res) => resolve(answerOf(res)),
    );
    // Emitted once the whole request is handed to the operating system: only after the connection is made.
    req.on('finish', () => (sent = true));
    req.on('error', fail);
    req.end(request.body);
  });
}

function answerOf(res: IncomingMessage): RawAnswer {
  return {
    status: res.statusCode ?? 0,
    statusText: res.statusMessage ?? '',
    header: (name) => {
      const value = res.headers[name.toLowerCase()];
      return Array.isArray(value) ? value.join(', ') : value;
    },
    text: async () => {
      const chunks: Buffer[] = [];
      for await (const chunk of res) chunks.push(chunk as Buffer);
      return Buffer.concat(chunks).toString('utf8');
    },
    body: res,
  };
}
