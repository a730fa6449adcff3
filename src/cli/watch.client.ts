import { setTimeout as sleep } from 'node:timers/promises';
import { CliError, HttpError } from './cli.errors';
import type { WatchFilter } from './kv-api.shapes';
import type { KvHttpClient } from './kv-http.client';
import type { RawAnswer } from './http.transport';
import { type SseFrame, SseParser } from './sse.parser';

/** A change as /watch streams it (and webhooks deliver it). */
export interface ChangeEvent {
  readonly type: 'put' | 'delete' | 'expire';
  readonly key: string;
  readonly value?: unknown;
  readonly prevValue?: unknown;
  readonly revision: number;
  readonly time: string;
}

export interface WatchOptions {
  readonly filter: WatchFilter;
  /** Replay retained events after this revision first; undefined starts with what happens from now on. */
  readonly since?: number;
  /** Ends the watch (the promise then resolves). */
  readonly signal: AbortSignal;
  /** How long a stream may deliver nothing at all before it is replaced (default IDLE_TIMEOUT_MS). */
  readonly idleTimeoutMs?: number;
}

export interface WatchHandlers {
  /** A change, delivered once, in revision order. */
  onEvent(event: ChangeEvent): void;
  /** The server no longer has the history to resume from: events before `revision` were missed. */
  onReset(revision: number): void;
  /** Connection news for a human (lost, reconnecting, reconnected). */
  onNotice(message: string): void;
  /** The first connection is open: changes from now on will arrive. */
  onOpen?(): void;
}

/** The server's `retry:` is the first delay; consecutive failures double it up to this. */
const MAX_RECONNECT_DELAY_MS = 5000;
const DEFAULT_RECONNECT_DELAY_MS = 1000;
/** A `retry: 0` must not turn an outage into a busy loop of connection attempts. */
const MIN_RECONNECT_DELAY_MS = 100;
/**
 * A stream that delivers nothing at all (not even the heartbeat the server sends every WATCH_HEARTBEAT_MS, 15 s by
 * default) for this long is presumed dead (a silently dropped connection never errors) and is replaced.
 */
const IDLE_TIMEOUT_MS = 60_000;

/**
 * A position the server sends as an event id: `<keyspace>:<revision>`, or a bare revision; the server refuses any
 * other form of Last-Event-ID (leading zeros, more than 16 digits), which would end the watch, so none is kept.
 */
const POSITION = /^(?:[0-9a-f]{12}:)?(?:0|[1-9]\d{0,15})$/;

/** The revision of a position, for messages. */
const revisionOf = (position: string): string => position.slice(position.indexOf(':') + 1);

/**
 * Follows /watch until `signal` aborts: prints each change once, and when the stream drops (network, server restart,
 * `event: shutdown`, `event: overflow`) reconnects with `Last-Event-ID`, so the server replays exactly what was missed.
 * Rejects only when the first connection fails, or when the server refuses the stream for good (401, 403, 400).
 */
export async function watchChanges(client: KvHttpClient, options: WatchOptions, handlers: WatchHandlers): Promise<void> {
  await new WatchSession(client, options, handlers).run();
}

type Attempt = { readonly kind: 'ended' } | { readonly kind: 'failed'; readonly reason: string; readonly retryAfterMs?: number };

class WatchSession {
  /**
   * The resume position: the last `id:` the server sent (events, heartbeats, resets), as it sent it
   * (`<keyspace>:<revision>`), so that a server whose keyspace changed meanwhile (data lost, a restart that was no
   * clean stop) answers with a reset instead of replaying revisions of another history under the same numbers.
   */
  private lastId: string | undefined;
  /** The highest revision handed to onEvent, so an overlapping replay never shows an event twice. */
  private lastRevision: number;
  private reconnectDelayMs = DEFAULT_RECONNECT_DELAY_MS;
  private connectedOnce = false;
  private failures = 0;
  /** Whether the current outage was reported already: once per outage, so a long one does not flood the terminal. */
  private announced = false;
  private readonly idleTimeoutMs: number;

  constructor(
    private readonly client: KvHttpClient,
    private readonly options: WatchOptions,
    private readonly handlers: WatchHandlers,
  ) {
    this.lastId = options.since === undefined ? undefined : String(options.since);
    this.lastRevision = options.since ?? 0;
    this.idleTimeoutMs = options.idleTimeoutMs ?? IDLE_TIMEOUT_MS;
  }

  async run(): Promise<void> {
    const { signal } = this.options;
    while (!signal.aborted) {
      const attempt = await this.connectAndRead();
      if (signal.aborted) return;
      const delay =
        attempt.kind === 'failed' && attempt.retryAfterMs !== undefined
          ? attempt.retryAfterMs
          : Math.min(this.reconnectDelayMs * 2 ** Math.min(this.failures, 10), MAX_RECONNECT_DELAY_MS);
      const from = this.lastId === undefined ? '' : ` after revision ${revisionOf(this.lastId)}`;
      const why = attempt.kind === 'ended' ? 'the server ended the stream' : attempt.reason;
      if (!this.announced) this.handlers.onNotice(`${why}; reconnecting${from}…`);
      this.announced = true;
      await sleep(delay, undefined, { signal }).catch(() => undefined);
    }
  }

  private async connectAndRead(): Promise<Attempt> {
    const { signal } = this.options;
    const idle = new AbortController();
    const timer = setTimeout(() => idle.abort(), this.idleTimeoutMs);
    const streamSignal = AbortSignal.any([signal, idle.signal]);
    try {
      let res: RawAnswer;
      try {
        res = await this.client.stream('watch', {
          query: { key: this.options.filter.key, prefix: this.options.filter.prefix, suffix: this.options.filter.suffix },
          headers: this.lastId === undefined ? {} : { 'Last-Event-ID': this.lastId },
          signal: streamSignal,
        });
      } catch (error) {
        if (signal.aborted) return { kind: 'ended' };
        return this.refused(error, idle.signal.aborted);
      }
      if (this.announced) this.handlers.onNotice(`reconnected${this.lastId === undefined ? '' : `, resuming after revision ${revisionOf(this.lastId)}`}`);
      if (!this.connectedOnce) this.handlers.onOpen?.();
      this.connectedOnce = true;
      this.announced = false;
      this.failures = 0;
      const parser = new SseParser();
      const decoder = new TextDecoder();
      try {
        for await (const chunk of res.body) {
          timer.refresh();
          for (const frame of parser.push(decoder.decode(chunk, { stream: true }))) {
            // One chunk can carry many events (a replay); none may follow the one that ended the watch (--count).
            if (signal.aborted) return { kind: 'ended' };
            this.handle(frame);
          }
        }
        return { kind: 'ended' };
      } catch (error) {
        if (signal.aborted) return { kind: 'ended' };
        if (error instanceof CliError) throw error;
        this.failures++;
        return { kind: 'failed', reason: idle.signal.aborted ? 'the stream went silent' : 'the connection was lost' };
      }
    } finally {
      clearTimeout(timer);
    }
  }

  /** Decides whether a failed connection attempt is worth retrying. */
  private refused(error: unknown, idle: boolean): Attempt {
    this.failures++;
    if (error instanceof HttpError) {
      // Too many streams (503) or too many requests (429) pass; so do a proxy's 502/504 while a server restarts.
      if (error.status === 429 || error.status === 503 || (this.connectedOnce && error.status >= 500)) {
        return { kind: 'failed', reason: `the server answered ${error.status} (${error.message})`, retryAfterMs: error.retryAfterMs };
      }
      throw error;
    }
    const cliError = idle ? new CliError(`no answer from ${this.client.baseUrl.origin} within ${this.idleTimeoutMs / 1000} s`) : error;
    // At the start an unreachable server is an error the user should see at once; later it is an outage to ride out.
    if (!this.connectedOnce) throw cliError;
    return { kind: 'failed', reason: cliError instanceof Error ? cliError.message : String(cliError) };
  }

  private handle(frame: SseFrame): void {
    if (frame.retry !== undefined) this.reconnectDelayMs = Math.max(frame.retry, MIN_RECONNECT_DELAY_MS);
    if (frame.id !== undefined && POSITION.test(frame.id)) this.lastId = frame.id;
    if (frame.data === undefined) return;
    let data: Record<string, unknown>;
    try {
      data = JSON.parse(frame.data) as Record<string, unknown>;
    } catch {
      this.handlers.onNotice(`ignored an unreadable ${frame.event ?? 'message'} event`);
      return;
    }
    switch (frame.event) {
      case 'put':
      case 'delete':
      case 'expire': {
        const event = data as unknown as ChangeEvent;
        if (event.revision <= this.lastRevision) return;
        this.lastRevision = event.revision;
        this.handlers.onEvent(event);
        return;
      }
      case 'reset': {
        // Taken as is, not as a maximum: a server that lost its data (memory driver restarted) counts from 0 again.
        const revision = Number(data.revision);
        this.lastRevision = revision;
        this.handlers.onReset(revision);
        return;
      }
      case 'shutdown':
      case 'overflow': {
        // The stream's own position: it covers a stream that has not seen an event or heartbeat yet.
        if (typeof data.lastEventId === 'string' && POSITION.test(data.lastEventId)) this.lastId = data.lastEventId;
        if (frame.event === 'shutdown') this.handlers.onNotice('the server is shutting down');
        else this.handlers.onNotice('fell too far behind the server; the stream was cut');
        return;
      }
      default:
        return;
    }
  }
}
