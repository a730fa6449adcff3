import { CliError, EXIT_ERROR, EXIT_NOT_FOUND, EXIT_UNKNOWN, HttpError, NotKvStoreError } from './cli.errors';
import { type RawAnswer, sendRaw, wasSent } from './http.transport';
import { isErrorAnswer, type KeyFilter, type KvRecord, RECORD_PAGE, type Shape } from './kv-api.shapes';

/** Where the client looks for the server when neither --url nor KV_URL says otherwise. */
export const DEFAULT_SERVER_URL = 'http://localhost:8080';

/**
 * How long a request may take before the client gives up. The server answers every non-streaming request within
 * HTTP_REQUEST_TIMEOUT_MS (30 s by default), so waiting longer would only hide a hung connection.
 */
const REQUEST_TIMEOUT_MS = 35_000;

/** The largest page the server hands out (`limit` on /keys). */
export const MAX_PAGE_SIZE = 10_000;

/** Methods that change data: when such a request may have reached the server, its outcome is unknown until read. */
const WRITES = new Set(['POST', 'PUT', 'PATCH', 'DELETE']);

/** What a write whose outcome is unknown tells the user (exit code 3, as kv-store's own 504), and how to find out. */
function mayHaveBeenApplied(path: string): string {
  return `the write may have been applied: ${path.startsWith('subscriptions') ? 'list the subscriptions (kv suball)' : 'read the key'} before trying again`;
}

/** The message of kv-store's 404 for a path it has no route for (Nest's router), as opposed to a missing key. */
const NO_ROUTE = /^Cannot [A-Z]+ \//;

export type Query = Readonly<Record<string, string | number | boolean | undefined>>;

export interface RequestOptions {
  readonly query?: Query;
  /** Sent as JSON. */
  readonly body?: unknown;
  readonly headers?: Readonly<Record<string, string>>;
  /** Cancels the request; the transport's own AbortError is then rethrown unchanged. */
  readonly signal?: AbortSignal;
  /** False for streams, which stay open as long as they deliver. */
  readonly timeout?: boolean;
  /**
   * The error statuses that answer this request's question ("no such key" 404, "already exists" 409) and so exit
   * with code 1. Any other error status exits 2.
   */
  readonly answers?: readonly number[];
}

/** The API key and where it came from, so a refusal can name what to fix. */
export interface Credentials {
  readonly token: string;
  /** `--token` or `KV_TOKEN`. */
  readonly from: string;
}

/**
 * The kv-store HTTP API as the CLI uses it: base URL, credentials, and the server's errors as CliErrors. Every answer
 * is checked to be kv-store's (its error shape, the shape of the data asked for): anything else is a NotKvStoreError.
 */
export class KvHttpClient {
  readonly baseUrl: URL;

  constructor(
    serverUrl: string,
    private readonly credentials?: Credentials,
  ) {
    this.baseUrl = parseServerUrl(serverUrl);
  }

  /** The server's URL as the user would write it (without the trailing slash the client adds). */
  get displayUrl(): string {
    return this.baseUrl.href.replace(/\/$/, '');
  }

  /**
   * Sends one request. Resolves with the answer when its status is 2xx; otherwise throws an HttpError with the
   * server's message, a NotKvStoreError when the answer is not kv-store's, or a CliError when the server cannot be
   * reached or does not answer in time.
   *
   * @param path relative to the base URL, its segments already encoded (see `segment`).
   */
  async send(method: string, path: string, options: RequestOptions = {}): Promise<RawAnswer> {
    const headers: Record<string, string> = { Accept: 'application/json', ...options.headers };
    if (this.credentials) headers.Authorization = `Bearer ${this.credentials.token}`;
    if (options.body !== undefined) headers['Content-Type'] = 'application/json';
    const signals = [options.signal, options.timeout === false ? undefined : AbortSignal.timeout(REQUEST_TIMEOUT_MS)].filter(
      (s): s is AbortSignal => s !== undefined,
    );
    let res: RawAnswer;
    try {
      res = await sendRaw({
        method,
        origin: this.baseUrl,
        target: this.target(path, options.query),
        headers,
        body: options.body === undefined ? undefined : JSON.stringify(options.body),
        signal: signals.length > 0 ? AbortSignal.any(signals) : undefined,
      });
    } catch (error) {
      if (options.signal?.aborted) throw error;
      throw this.networkError(error, method, path);
    }
    if (res.status < 200 || res.status > 299) throw await this.failure(res, method, path, options);
    return res;
  }

  /** Sends one request and reads its JSON answer, which must have `shape`. */
  async json<T>(method: string, path: string, shape: Shape<T>, options: RequestOptions = {}): Promise<T> {
    return this.read(await this.send(method, path, options), shape, method, path, options.signal);
  }

  /** Reads a 2xx answer's JSON body, which must have `shape`. */
  async read<T>(res: RawAnswer, shape: Shape<T>, method: string, path: string, signal?: AbortSignal): Promise<T> {
    const text = await this.bodyOf(res, method, path, signal);
    const body = parseJson(text);
    if (body !== undefined && shape.is(body)) return body;
    throw new NotKvStoreError(res.status, this.notKvStore(`${method} ${this.pathOf(path)} answered ${statusLine(res)} ${describeBody(res, text, body, shape.name)}`));
  }

  /** Sends a request whose answer is 204 No Content (a DELETE). */
  async noContent(method: string, path: string, options: RequestOptions = {}): Promise<void> {
    const res = await this.send(method, path, options);
    const text = await this.bodyOf(res, method, path, options.signal);
    if (res.status !== 204) {
      throw new NotKvStoreError(res.status, this.notKvStore(`${method} ${this.pathOf(path)} answered ${statusLine(res)} where kv-store answers 204 No Content`));
    }
  }

  /** Opens an event stream; the answer must be one (`text/event-stream`). */
  async stream(path: string, options: RequestOptions): Promise<RawAnswer> {
    const res = await this.send('GET', path, { ...options, headers: { ...options.headers, Accept: 'text/event-stream' }, timeout: false });
    if (/^text\/event-stream\b/i.test(res.header('content-type') ?? '')) return res;
    await this.bodyOf(res, 'GET', path, options.signal);
    const type = res.header('content-type') || 'no Content-Type';
    throw new NotKvStoreError(res.status, this.notKvStore(`GET ${this.pathOf(path)} answered ${statusLine(res)} with ${type} where kv-store answers an event stream`));
  }

  /**
   * Every record matching `filter`, in key order, following the server's cursor (`next`, sent back as `after`) page by
   * page, so a listing of any size completes without holding more than one page of the server's answer at a time.
   */
  async *records(filter: KeyFilter, pageSize: number, signal?: AbortSignal): AsyncGenerator<KvRecord> {
    let after: string | undefined;
    do {
      const page = await this.json('GET', 'keys', RECORD_PAGE, {
        query: { prefix: filter.prefix, suffix: filter.suffix, limit: pageSize, after },
        signal,
      });
      yield* page.items;
      after = page.next ?? undefined;
    } while (after !== undefined);
  }

  /** Path and query as they go on the request line: built as text, never resolved as a URL (see sendRaw). */
  private target(path: string, query: Query = {}): string {
    const params = new URLSearchParams();
    for (const [name, value] of Object.entries(query)) {
      if (value !== undefined && value !== '') params.set(name, String(value));
    }
    const search = params.toString();
    return `${this.pathOf(path)}${search && `?${search}`}`;
  }

  /** The path on the server: the base URL's own path (a server behind a path-routing proxy), then `path`. */
  private pathOf(path: string): string {
    return `${this.baseUrl.pathname}${path}`;
  }

  /** What a request that timed out (before its answer, or in its body) is told. */
  private noAnswer(): string {
    return `no answer from ${this.baseUrl.origin} within ${REQUEST_TIMEOUT_MS / 1000} s`;
  }

  private notKvStore(reason: string): string {
    return `no kv-store at ${this.displayUrl}: ${reason}; check --url or KV_URL`;
  }

  private async bodyOf(res: RawAnswer, method: string, path: string, signal?: AbortSignal): Promise<string> {
    try {
      return await res.text();
    } catch (error) {
      if (signal?.aborted) throw error;
      const broke = isTimeout(error)
        ? this.noAnswer()
        : `the connection to ${this.baseUrl.origin} broke while reading the answer to ${method} ${this.pathOf(path)}`;
      // The status came: it says whether a write was applied (2xx), refused (4xx, 503), or not known (the rest).
      const { status } = res;
      if (!WRITES.has(method)) throw new CliError(broke);
      if (status >= 200 && status < 300) throw new CliError(`${broke} (${status}: the write was applied)`);
      if ((status >= 400 && status < 500) || status === 503) throw new CliError(`${broke} (${status}: the write was not applied)`);
      throw new CliError(`${broke} (${status}); ${mayHaveBeenApplied(path)}`, EXIT_UNKNOWN);
    }
  }

  /**
   * A request that got no answer. A write that had left in full may have reached the server all the same (a timeout,
   * a connection reset or closed mid-way): its outcome is then unknown, not a failure. One that never left (refused,
   * no such host, a TLS handshake that failed) changed nothing.
   */
  private networkError(error: unknown, method: string, path: string): CliError {
    const { code, message } = error as { code?: unknown; message?: unknown };
    const what = isTimeout(error)
      ? this.noAnswer()
      : `cannot reach the server at ${this.baseUrl.origin}: ${typeof code === 'string' ? code : String(message ?? error)}`;
    if (WRITES.has(method) && wasSent(error)) return new CliError(`${what}; ${mayHaveBeenApplied(path)}`, EXIT_UNKNOWN);
    return new CliError(what);
  }

  private async failure(res: RawAnswer, method: string, path: string, options: RequestOptions): Promise<HttpError> {
    const request = `${method} ${this.pathOf(path)}`;
    const text = await this.bodyOf(res, method, path, options.signal);
    if (res.status >= 300 && res.status < 400) {
      const location = res.header('location');
      return new NotKvStoreError(res.status, this.notKvStore(`${request} was redirected${location ? ` to ${location}` : ''} (${statusLine(res)})`));
    }
    const body = parseJson(text);
    // A gateway in front of kv-store stopped waiting for it (its own page, not kv-store's answer): the write may have
    // gone on without it. (A 502 says the gateway got no usable answer: most often no kv-store there at all.)
    if (!isErrorAnswer(body, res.status) && res.status === 504 && WRITES.has(method)) {
      return new HttpError(res.status, `${request} answered ${statusLine(res)} from a gateway, not from kv-store; ${mayHaveBeenApplied(path)}`, EXIT_UNKNOWN);
    }
    if (!isErrorAnswer(body, res.status)) {
      return new NotKvStoreError(res.status, this.notKvStore(`${request} answered ${statusLine(res)} ${describeBody(res, text, body)}`));
    }
    if (res.status === 404 && NO_ROUTE.test(body.message)) {
      return new NotKvStoreError(res.status, this.notKvStore(`the server there has no route ${request}`));
    }
    let message = body.message;
    if (body.details && body.details.length > 0) message += `: ${body.details.map((d) => (typeof d === 'string' ? d : JSON.stringify(d))).join(', ')}`;
    if (res.status === 401 || res.status === 403) message = this.refusal(res.status, message);
    const retryAfter = Number(res.header('retry-after'));
    return new HttpError(
      res.status,
      message,
      options.answers?.includes(res.status) ? EXIT_NOT_FOUND : res.status === 504 ? EXIT_UNKNOWN : EXIT_ERROR,
      Number.isFinite(retryAfter) && retryAfter > 0 ? retryAfter * 1000 : undefined,
    );
  }

  /** The server's words are about HTTP headers; a CLI user needs to know which option to fix. */
  private refusal(status: number, message: string): string {
    if (!this.credentials) return 'the server requires an API key: give one in --token <key> or KV_TOKEN';
    const wanted = status === 401 ? 'a valid one' : 'one with that role';
    return `${message} (the key from ${this.credentials.from}): give ${wanted} in --token <key> or KV_TOKEN`;
  }
}

/**
 * Path segment for a key or id: percent-encoded, so `/`, `?`, `#`, `%`, spaces and emoji reach the server intact. The
 * keys `.` and `..` are sent as `%2E` and `%2E%2E`, which no proxy or server takes for a step in the path.
 */
export function segment(text: string): string {
  return text === '.' || text === '..' ? text.replaceAll('.', '%2E') : encodeURIComponent(text);
}

function parseServerUrl(text: string): URL {
  // `localhost:8080` would parse as a URL of scheme "localhost": without `scheme://`, the address is http's.
  const withScheme = /^[a-z][a-z\d+.-]*:\/\//i.test(text) ? text : `http://${text}`;
  let url: URL;
  try {
    url = new URL(withScheme);
  } catch {
    throw new CliError(`invalid server URL "${text}" (--url or KV_URL): expected e.g. ${DEFAULT_SERVER_URL}`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw new CliError(`invalid server URL "${text}" (--url or KV_URL): only http and https are supported`);
  }
  if (!url.pathname.endsWith('/')) url.pathname += '/';
  url.search = '';
  url.hash = '';
  return url;
}

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return undefined;
  }
}

const statusLine = (res: RawAnswer): string => `${res.status}${res.statusText && ` ${res.statusText}`}`;

/** What came instead of kv-store's JSON (`expected`: its error, or the data asked for), in a few words. */
function describeBody(res: RawAnswer, text: string, parsed: unknown, expected = "kv-store's error"): string {
  if (text.trim() === '') return 'with an empty body';
  if (parsed !== undefined) return `with JSON that is not ${expected}: ${ellipsis(text.trim(), 80)}`;
  const type = res.header('content-type')?.split(';')[0].trim().toLowerCase();
  if (type === 'text/html' || /^\s*</.test(text)) return 'with an HTML page';
  return `with ${type ? `a ${type} body` : 'a body'} that is not JSON`;
}

const ellipsis = (text: string, max: number): string => (text.length > max ? `${text.slice(0, max - 1)}…` : text);

/** AbortSignal.timeout's reason, as the transport reports it (the AbortError's cause) or as is. */
function isTimeout(error: unknown): boolean {
  const { name, cause } = error as { name?: unknown; cause?: { name?: unknown } };
  return name === 'TimeoutError' || cause?.name === 'TimeoutError';
}
