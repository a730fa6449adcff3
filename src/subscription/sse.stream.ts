import type { Response } from 'express';
import type { ChangeEvent } from '../store/change-feed';

export interface SseStreamOptions {
  readonly heartbeatMs: number;
  readonly maxBufferBytes: number;
  /** The feed's current revision, sent as a progress id with heartbeats. */
  readonly progress: () => number;
}

/** Why a stream ended. */
export type SseEnd = 'client' | 'overflow' | 'shutdown';

/** How long clients should wait before reconnecting after the server ends a stream. */
const RECONNECT_MS = 1000;

/**
 * Encoded frames per batch. Every stream that takes a whole batch writes the same Buffer, so an event
 * fanned out to 10,000 watchers is serialised and encoded once, not 10,000 times.
 */
const encoded = new WeakMap<readonly ChangeEvent[], Buffer>();

function encode(events: readonly ChangeEvent[]): Buffer {
  let frames = encoded.get(events);
  if (frames === undefined) {
    let text = '';
    for (const event of events) text += `id: ${event.revision}\nevent: ${event.type}\ndata: ${JSON.stringify(event)}\n\n`;
    frames = Buffer.from(text);
    encoded.set(events, frames);
  }
  return frames;
}

/**
 * One Server-Sent Events response. Frames follow the WHATWG event-stream format:
 * `id: <revision>`, `event: <type>`, `data: <json>`, blank line. The `id` is what a browser's EventSource
 * sends back as Last-Event-ID when it reconnects, so resuming needs nothing from the client but that.
 */
export class SseStream {
  private lastId = 0;
  private heartbeat: NodeJS.Timeout | undefined;
  private ended = false;

  constructor(
    private readonly res: Response,
    private readonly options: SseStreamOptions,
    private readonly onEnd: (reason: SseEnd) => void,
  ) {}

  get isEnded(): boolean {
    return this.ended;
  }

  /** Sends the headers and the starting position, and starts the heartbeat. */
  open(lastId: number): void {
    this.lastId = lastId;
    this.res.writeHead(200, {
      'Content-Type': 'text/event-stream; charset=utf-8',
      'Cache-Control': 'no-cache, no-transform',
      Connection: 'keep-alive',
      // nginx (and ingress-nginx) would otherwise buffer the stream.
      'X-Accel-Buffering': 'no',
    });
    // The id tells even a client that sees no event before the connection drops where to resume from.
    this.res.write(`retry: ${RECONNECT_MS}\nid: ${lastId}\n: connected\n\n`);
    this.res.on('close', () => this.finish('client'));
    this.heartbeat = setInterval(() => this.beat(), this.options.heartbeatMs);
  }

  /**
   * Writes a batch in one write, so a client never sees half of it. Ends the stream if the client lags.
   * Pass the feed's own batch array when every event matches, so its encoding is shared (see `encode`).
   */
  send(events: readonly ChangeEvent[]): void {
    if (this.ended || events.length === 0) return;
    // Judged before writing: a client that has not drained what it already has is too slow. One batch
    // always fits into a drained stream, so a single large value cannot trip this.
    if (this.res.writableLength > this.options.maxBufferBytes) {
      this.overflow();
      return;
    }
    this.lastId = events[events.length - 1].revision;
    this.res.write(encode(events));
  }

  /** The requested history is gone: the client must re-read state and continue from `revision`. */
  reset(revision: number): void {
    if (this.ended) return;
    this.lastId = revision;
    this.res.write(`id: ${revision}\nevent: reset\ndata: ${JSON.stringify({ revision })}\n\n`);
  }

  /** Ends the stream from the server side, telling the client when to reconnect. */
  end(reason: Exclude<SseEnd, 'client'>): void {
    if (this.ended) return;
    if (reason === 'shutdown') this.res.write(`retry: ${RECONNECT_MS}\nevent: shutdown\ndata: ${JSON.stringify({ lastRevision: this.lastId })}\n\n`);
    this.res.end();
    this.finish(reason);
  }

  private overflow(): void {
    this.res.write(
      `event: overflow\ndata: ${JSON.stringify({
        lastRevision: this.lastId,
        message: 'The client fell too far behind; reconnect with Last-Event-ID to resume.',
      })}\n\n`,
    );
    this.end('overflow');
  }

  /**
   * A comment keeps proxies from timing the stream out. When the feed has moved on without anything for
   * this stream (a filtered watch), an id-only frame advances the client's Last-Event-ID (it dispatches no
   * event), so a later resume does not start from far back in the history.
   */
  private beat(): void {
    const progress = this.options.progress();
    if (progress > this.lastId) {
      this.lastId = progress;
      this.res.write(`: heartbeat\nid: ${progress}\n\n`);
    } else {
      this.res.write(': heartbeat\n\n');
    }
  }

  private finish(reason: SseEnd): void {
    if (this.ended) return;
    this.ended = true;
    clearInterval(this.heartbeat);
    this.onEnd(reason);
  }
}
