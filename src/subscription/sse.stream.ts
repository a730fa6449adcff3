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
 * Encoded frames of the events being fanned out now, each as one HTTP/1.1 chunk (size line, frame, CRLF). A change
 * reaches every stream in the same turn of the event loop, so each event is serialised and encoded once per turn,
 * not once per stream; the cache is dropped right after, so the frames live only as long as some socket still has
 * them to send.
 */
let chunks = new Map<ChangeEvent, Buffer>();

function chunkOf(event: ChangeEvent): Buffer {
  let chunk = chunks.get(event);
  if (chunk === undefined) {
    if (chunks.size === 0) setImmediate(() => (chunks = new Map()));
    const frame = `id: ${event.keyspace}:${event.revision}\nevent: ${event.type}\ndata: ${JSON.stringify(event)}\n\n`;
    const size = Buffer.byteLength(frame);
    const head = `${size.toString(16)}\r\n`;
    chunk = Buffer.allocUnsafe(head.length + size + 2);
    chunk.write(head, 0, 'latin1');
    chunk.write(frame, head.length);
    chunk.write('\r\n', head.length + size, 'latin1');
    chunks.set(event, chunk);
  }
  return chunk;
}

/** The event-stream frame inside a chunk (without its size line and closing CRLF). */
const frameIn = (chunk: Buffer): Buffer => chunk.subarray(chunk.indexOf('\r\n') + 2, chunk.length - 2);

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
    // Also after a response ended by anything but this stream: Node closes a response once it has finished (and
    // stopped() covers the moment in between).
    this.res.on('close', () => this.finish('client'));
    this.heartbeat = setInterval(() => this.beat(), this.options.heartbeatMs);
  }

  /**
   * Writes events (whole batches) together, so a client never sees part of a batch before the rest was sent.
   * Ends the stream if the client lags: judged before writing, so a client that has not drained what it already
   * has is too slow, while one batch always fits into a drained stream and a single large value cannot trip it.
   */
  send(events: readonly ChangeEvent[]): void {
    if (this.stopped() || events.length === 0) return;
    if (this.res.writableLength > this.options.maxBufferBytes) {
      this.overflow();
      return;
    }
    const last = events[events.length - 1];
    this.lastId = `${last.keyspace}:${last.revision}`;
    const socket = this.res.socket;
    if (!this.res.chunkedEncoding || socket === null || !socket.writable) {
      // An HTTP/1.0 client (the body is not chunked), a response still queued behind a pipelined one, or a socket
      // that is ending: the response frames, queues or drops it as it does for any write.
      for (const event of events) this.res.write(frameIn(chunkOf(event)));
      return;
    }
    // An event's chunk is shared by every stream and written to the socket as it is: one write (one syscall) per
    // stream. The response's own write() would cork the socket, frame the chunk in four pieces and uncork it a tick
    // later, which costs several times the syscall on a fan-out to thousands of streams.
    if (events.length === 1) {
      socket.write(chunkOf(events[0]));
      return;
    }
    // A batch is one chunk, written in one writev: a client never sees part of it before the rest.
    const frames = events.map((event) => frameIn(chunkOf(event)));
    socket.cork();
    socket.write(`${frames.reduce((bytes, frame) => bytes + frame.length, 0).toString(16)}\r\n`, 'latin1');
    for (const frame of frames) socket.write(frame);
    socket.write('\r\n', 'latin1');
    socket.uncork();
  }

  /**
   * Whether a replay may hand this stream more history now: not while its socket asks to be drained or holds
   * WATCH_MAX_BUFFER_BYTES already. Together with `whenRoom`, a resuming stream holds no more than a live one.
   */
  wantsMore(): boolean {
    return !this.ended && !this.needsDrain() && this.res.writableLength < this.options.maxBufferBytes;
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
      } else if (this.res.socket?.writableNeedDrain) {
        // Events go to the socket itself (see send), so it is the socket that drains.
        this.res.socket.once('drain', check);
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
    if (this.stopped()) return;
    this.lastId = formatPosition(position);
    this.res.write(`id: ${this.lastId}\nevent: reset\ndata: ${JSON.stringify(position)}\n\n`);
  }

  /** Ends the stream from the server side, telling the client when to reconnect. */
  end(reason: Exclude<SseEnd, 'client'>): void {
    if (this.stopped()) return;
    if (reason === 'shutdown') this.res.write(`retry: ${RECONNECT_MS}\nevent: shutdown\ndata: ${JSON.stringify(this.lastPosition())}\n\n`);
    this.res.end();
    this.finish(reason);
  }

  /** The client fell too far behind (live, or while its history was replayed): it reconnects with Last-Event-ID. */
  overflow(): void {
    if (this.stopped()) return;
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
    if (this.stopped()) return;
    const position = this.options.progress();
    const progress = position === null ? this.lastId : formatPosition(position);
    if (progress !== this.lastId) {
      this.lastId = progress;
      this.res.write(`: heartbeat\nid: ${progress}\n\n`);
    } else {
      this.res.write(': heartbeat\n\n');
    }
  }

  /**
   * Whether this stream can write no more: it ended, or its response was ended by something else (an error answered
   * elsewhere), after which a write would fail, or, straight to the socket, reach the connection's next response.
   */
  private stopped(): boolean {
    if (this.ended) return true;
    if (!this.res.writableEnded) return false;
    this.finish('client');
    return true;
  }

  /** Whether the socket (or, before it has one, the response) holds more than its high-water mark. */
  private needsDrain(): boolean {
    return this.res.writableNeedDrain || (this.res.socket?.writableNeedDrain ?? false);
  }

  private finish(reason: SseEnd): void {
    if (this.ended) return;
    this.ended = true;
    clearInterval(this.heartbeat);
    this.onEnd(reason);
  }
}
