import type { Response } from 'express';
import { releaseInFlight } from '../common/http/requests-in-flight.middleware';
import type { ChangeEvent } from '../store/change-feed';
import { formatPosition, type KeyspacePosition } from '../store/keyspace';

export interface SseStreamOptions {
  readonly heartbeatMs: number;
  readonly maxBufferBytes: number;
  /** The feed's newest position, sent as a progress id with heartbeats; null while this stream is still behind it. */
  readonly progress: () => KeyspacePosition | null;
}

/** Why a stream ended. */
export type SseEnd = 'client' | 'overflow' | 'shutdown';

/** How long clients should wait before reconnecting after the server ends a stream. */
const RECONNECT_MS = 1000;

/**
 * Encoded frames of the events being fanned out now. A change reaches every stream in the same turn of the event
 * loop, so each event is serialised and encoded once per turn, not once per stream; the cache is dropped right
 * after, so the frames live only as long as some socket still has them to send.
 */
let frames = new Map<ChangeEvent, Buffer>();

function frameOf(event: ChangeEvent): Buffer {
  let frame = frames.get(event);
  if (frame === undefined) {
    if (frames.size === 0) setImmediate(() => (frames = new Map()));
    frame = Buffer.from(`id: ${event.keyspace}:${event.revision}\nevent: ${event.type}\ndata: ${JSON.stringify(event)}\n\n`);
    frames.set(event, frame);
  }
  return frame;
}

/**
 * One Server-Sent Events response. Frames follow the WHATWG event-stream format: `id: <keyspace>:<revision>`,
 * `event: <type>`, `data: <json>`, blank line. The `id` is what a browser's EventSource sends back as Last-Event-ID
 * when it reconnects, so resuming needs nothing from the client but that.
 */
export class SseStream {
  private lastId = '';
  private heartbeat: NodeJS.Timeout | undefined;
  private ended = false;
  private waitingForRoom = false;

  constructor(
    private readonly res: Response,
    private readonly options: SseStreamOptions,
    private readonly onEnd: (reason: SseEnd) => void,
  ) {}

  get isEnded(): boolean {
    return this.ended;
  }

  /** Sends the headers and the starting position, and starts the heartbeat. */
  open(position: KeyspacePosition): void {
    this.lastId = formatPosition(position);
    // An open stream is bounded by WATCH_MAX_STREAMS, not by HTTP_MAX_REQUESTS_IN_FLIGHT.
    releaseInFlight(this.res);
    this.res.writeHead(200, {
      'Content-Type': 'text/event-stream; charset=utf-8',
      'Cache-Control': 'no-cache, no-transform',
      Connection: 'keep-alive',
      // nginx (and ingress-nginx) would otherwise buffer the stream.
      'X-Accel-Buffering': 'no',
    });
    // The id tells even a client that sees no event before the connection drops where to resume from.
    this.res.write(`retry: ${RECONNECT_MS}\nid: ${this.lastId}\n: connected\n\n`);
    this.res.on('close', () => this.finish('client'));
    this.heartbeat = setInterval(() => this.beat(), this.options.heartbeatMs);
  }

  /**
   * Writes events (whole batches) together, so a client never sees part of a batch before the rest was sent.
   * Ends the stream if the client lags: judged before writing, so a client that has not drained what it already
   * has is too slow, while one batch always fits into a drained stream and a single large value cannot trip it.
   */
  send(events: readonly ChangeEvent[]): void {
    if (this.ended || events.length === 0) return;
    if (this.res.writableLength > this.options.maxBufferBytes) {
      this.overflow();
      return;
    }
    const last = events[events.length - 1];
    this.lastId = `${last.keyspace}:${last.revision}`;
    // One frame per event (each shared with every other stream), written as one: a batch of large values
    // never has to fit into one string.
    this.res.cork();
    for (const event of events) this.res.write(frameOf(event));
    process.nextTick(() => this.res.uncork());
  }

  /**
   * Whether a replay may hand this stream more history now: not while its socket asks to be drained or holds
   * WATCH_MAX_BUFFER_BYTES already. Together with `whenRoom`, a resuming stream holds no more than a live one.
   */
  wantsMore(): boolean {
    return !this.ended && !this.res.writableNeedDrain && this.res.writableLength < this.options.maxBufferBytes;
  }

  /** Calls `resume` once the stream wants more again (after a `wantsMore()` of false). */
  whenRoom(resume: () => void): void {
    if (this.waitingForRoom || this.ended) return;
    this.waitingForRoom = true;
    const check = (): void => {
      if (this.ended) return;
      if (this.wantsMore()) {
        this.waitingForRoom = false;
        resume();
      } else if (this.res.writableNeedDrain) {
        this.res.once('drain', check);
      } else {
        // Below the socket's own mark but above our bound (a bound smaller than the mark): no drain will come.
        setTimeout(check, 20).unref();
      }
    };
    check();
  }

  /** The requested history is gone, or the keyspace changed: the client must re-read state and continue from `position`. */
  reset(position: KeyspacePosition): void {
    if (this.ended) return;
    this.lastId = formatPosition(position);
    this.res.write(`id: ${this.lastId}\nevent: reset\ndata: ${JSON.stringify(position)}\n\n`);
  }

  /** Ends the stream from the server side, telling the client when to reconnect. */
  end(reason: Exclude<SseEnd, 'client'>): void {
    if (this.ended) return;
    if (reason === 'shutdown') this.res.write(`retry: ${RECONNECT_MS}\nevent: shutdown\ndata: ${JSON.stringify(this.lastPosition())}\n\n`);
    this.res.end();
    this.finish(reason);
  }

  /** The client fell too far behind (live, or while its history was replayed): it reconnects with Last-Event-ID. */
  overflow(): void {
    if (this.ended) return;
    this.res.write(
      `event: overflow\ndata: ${JSON.stringify({
        ...this.lastPosition(),
        message: 'The client fell too far behind; reconnect with Last-Event-ID to resume.',
      })}\n\n`,
    );
    this.end('overflow');
  }

  /** Where the client got to: `lastEventId` as the stream sent it, `lastRevision` its revision. */
  private lastPosition(): { lastEventId: string; lastRevision: number } {
    return { lastEventId: this.lastId, lastRevision: Number(this.lastId.slice(this.lastId.indexOf(':') + 1)) };
  }

  /**
   * A comment keeps proxies from timing the stream out. When the feed has moved on without anything for
   * this stream (a filtered watch), an id-only frame advances the client's Last-Event-ID (it dispatches no
   * event), so a later resume does not start from far back in the history.
   */
  private beat(): void {
    const position = this.options.progress();
    const progress = position === null ? this.lastId : formatPosition(position);
    if (progress !== this.lastId) {
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
