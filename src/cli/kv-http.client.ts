import { CliError, HttpError } from './cli.errors';

/** Where the client looks for the server when neither --url nor KV_URL says otherwise. */
export const DEFAULT_SERVER_URL = 'http://localhost:8080';

/**
 * How long a request may take before the client gives up. The server answers every non-streaming request within
 * HTTP_REQUEST_TIMEOUT_MS (30 s by default), so waiting longer would only hide a hung connection.
 */
const REQUEST_TIMEOUT_MS = 35_000;

/** The largest page the server hands out (`limit` on /keys). */
export const MAX_PAGE_SIZE = 10_000;

/** One record of the REST API (`/keys/{key}`). */
export interface KvRecord {
  readonly key: string;
  readonly value: unknown;
  readonly revision: number;
  readonly createdAt: string;
  readonly updatedAt: string;
  readonly expiresAt: string | null;
}

/** Prefix and suffix filters of /keys, /search and /watch; undefined or empty is no filter. */
export interface KeyFilter {
  readonly prefix?: string;
  readonly suffix?: string;
}

export type Query = Readonly<Record<string, string | number | boolean | undefined>>;

export interface RequestOptions {
  readonly query?: Query;
  /** Sent as JSON. */
  readonly body?: unknown;
  readonly headers?: Readonly<Record<string, string>>;
  /** Cancels the request; the fetch's own AbortError is then rethrown unchanged. */
  readonly signal?: AbortSignal;
  /** False for streams, which stay open as long as they deliver. */
  readonly timeout?: boolean;
}

/** The kv-store HTTP API as the CLI uses it: base URL, credentials, and the server's errors as CliErrors. */
export class KvHttpClient {
  readonly baseUrl: URL;

  constructor(
    serverUrl: string,
    private readonly token?: string,
  ) {
    this.baseUrl = parseServerUrl(serverUrl);
  }

  /** A URL under the base URL, which may carry a path of its own (a server behind a path-routing proxy). */
  urlFor(path: string, query: Query = {}): URL {
    const url = new URL(path, this.baseUrl);
    for (const [name, value] of Object.entries(query)) {
      if (value !== undefined && value !== '') url.searchParams.set(name, String(value));
    }
    return url;
  }

  /**
   * Sends one request. Resolves with the response when its status is 2xx; otherwise throws an HttpError with
   * the server's message, or a CliError when the server cannot be reached or does not answer in time.
   */
  async send(method: string, path: string, options: RequestOptions = {}): Promise<Response> {
    const url = this.urlFor(path, options.query);
    const headers: Record<string, string> = { Accept: 'application/json', ...options.headers };
    if (this.token) headers.Authorization = `Bearer ${this.token}`;
    if (options.body !== undefined) headers['Content-Type'] = 'application/json';
    const signals = [options.signal, options.timeout === false ? undefined : AbortSignal.timeout(REQUEST_TIMEOUT_MS)].filter(
      (s): s is AbortSignal => s !== undefined,
    );
    let res: Response;
    try {
      res = await fetch(url, {
        method,
        headers,
        body: options.body === undefined ? undefined : JSON.stringify(options.body),
        signal: signals.length > 0 ? AbortSignal.any(signals) : undefined,
      });
    } catch (error) {
      if (options.signal?.aborted) throw error;
      throw networkError(error, url);
    }
    if (!res.ok) throw await httpErrorOf(res);
    return res;
  }

  /** Sends one request and parses the JSON answer (undefined for 204 No Content). */
  async json<T>(method: string, path: string, options: RequestOptions = {}): Promise<T> {
    const res = await this.send(method, path, options);
    if (res.status === 204) return undefined as T;
    try {
      return (await res.json()) as T;
    } catch (error) {
      if (options.signal?.aborted) throw error;
      throw new CliError(`the server at ${this.baseUrl.origin} did not answer with JSON (${res.status} from ${method} ${path})`);
    }
  }

  /**
   * Every record matching `filter`, in key order, following the server's cursor (`next`, sent back as `after`) page by
   * page, so a listing of any size completes without holding more than one page of the server's answer at a time.
   */
  async *records(filter: KeyFilter, pageSize: number, signal?: AbortSignal): AsyncGenerator<KvRecord> {
    let after: string | undefined;
    do {
      const page = await this.json<{ items: KvRecord[]; next: string | null }>('GET', 'keys', {
        query: { prefix: filter.prefix, suffix: filter.suffix, limit: pageSize, after },
        signal,
      });
      yield* page.items;
      after = page.next ?? undefined;
    } while (after !== undefined);
  }
}

/**
 * Path segment for a key or id: percent-encoded, so `/`, `?`, `#`, `%`, spaces and emoji reach the server intact.
 *
 * @throws CliError for `.` and `..`, which URL parsing resolves away (also percent-encoded) before a request is sent.
 */
export function segment(text: string): string {
  if (text === '.' || text === '..') throw new CliError(`"${text}" cannot be sent as part of a URL path (it would be resolved away)`);
  return encodeURIComponent(text);
}

function parseServerUrl(text: string): URL {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw new CliError(`invalid server URL "${text}" (--url or KV_URL): expected e.g. ${DEFAULT_SERVER_URL}`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw new CliError(`invalid server URL "${text}" (--url or KV_URL): only http and https are supported`);
  }
  // Relative paths resolve against the last "directory", so /kv must become /kv/ to keep the prefix.
  if (!url.pathname.endsWith('/')) url.pathname += '/';
  url.search = '';
  url.hash = '';
  return url;
}

function networkError(error: unknown, url: URL): CliError {
  if (error instanceof Error && error.name === 'TimeoutError') {
    return new CliError(`no answer from ${url.origin} within ${REQUEST_TIMEOUT_MS / 1000} s`);
  }
  // undici reports "fetch failed" and puts the useful part (ECONNREFUSED, ENOTFOUND, a TLS error) in `cause`.
  const cause = (error as { cause?: { code?: string; message?: string } } | undefined)?.cause;
  const reason = cause?.code ?? cause?.message ?? (error instanceof Error ? error.message : String(error));
  return new CliError(`cannot reach the server at ${url.origin}: ${reason}`);
}

async function httpErrorOf(res: Response): Promise<HttpError> {
  const text = await res.text().catch(() => '');
  let message = `HTTP ${res.status} ${res.statusText}`.trim();
  try {
    const body = JSON.parse(text) as { message?: unknown; details?: unknown };
    if (Array.isArray(body.message)) message = body.message.join('; ');
    else if (body.message !== undefined) message = String(body.message);
    if (Array.isArray(body.details) && body.details.length > 0) {
      message += `: ${body.details.map((d) => (typeof d === 'string' ? d : JSON.stringify(d))).join(', ')}`;
    }
  } catch {
    // Not the server's JSON error (a proxy's HTML page, say): the status line is all there is to say.
  }
  const retryAfter = Number(res.headers.get('retry-after'));
  return new HttpError(res.status, message, Number.isFinite(retryAfter) && retryAfter > 0 ? retryAfter * 1000 : undefined);
}
