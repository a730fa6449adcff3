import type { Server } from 'node:http';
import type { Request, Response } from 'express';
import { errorJson } from './error-body';

const QUEUE = Symbol('kv.deadline.queue');
const PREVIOUS = Symbol('kv.deadline.previous');
const NEXT = Symbol('kv.deadline.next');
const STARTED_AT = Symbol('kv.deadline.startedAt');

/** Methods that change data: one not answered by its deadline may be in the store already. */
const WRITES = new Set(['POST', 'PUT', 'PATCH', 'DELETE']);

/** An open response, linked into the queue of its RequestDeadlines by fields of its own. */
interface Open extends Response {
  /** The deadlines whose queue it is in, or null once out. */
  [QUEUE]?: RequestDeadlines | null;
  [PREVIOUS]: Open | null;
  [NEXT]: Open | null;
  [STARTED_AT]: number;
}

/**
 * 503 for a request not answered within HTTP_REQUEST_TIMEOUT_MS (408 when its body has not even arrived; 504 for a
 * write received in full, which may have reached the store), so a stuck dependency or a stalling client cannot hold
 * sockets forever; `isStreaming` exempts long-lived responses (it
 * is asked when the deadline comes, once the request has been routed).
 *
 * Open requests wait in one queue in arrival order, swept by one timer, rather than each holding a timer and two
 * listeners of its own on the hot path; a sweep stops at the first one still in time. The sweep runs every tenth of
 * the limit (at most once a second), so an answer comes at most that much after the limit.
 *
 * The queue is a list linked through the responses themselves: entering and leaving it allocates nothing. A Map
 * keyed by response did, on every few requests: V8 rebuilds a hash table that has filled with deleted entries, and
 * builds a long-lived table's replacement directly in the old generation, so the requests' churn became old garbage
 * (about 200 bytes per request), and the full collections it brought every few seconds paused every request in
 * flight for over 10 ms (`--trace-gc` under `npm run bench` load).
 */
export class RequestDeadlines {
  private oldest: Open | null = null;
  private newest: Open | null = null;
  private readonly sweeper: NodeJS.Timeout;

  constructor(
    private readonly limitMs: number,
    private readonly isStreaming: (req: Request) => boolean,
  ) {
    this.sweeper = setInterval(() => this.sweep(), Math.min(1000, Math.max(10, Math.floor(limitMs / 10))));
    this.sweeper.unref();
  }

  /** Requests started and neither finished nor expired yet (counted by walking the queue: for tests). */
  get waiting(): number {
    let count = 0;
    for (let open = this.oldest; open !== null; open = open[NEXT]) count++;
    return count;
  }

  /** Stops sweeping when `server` closes. */
  boundTo(server: Server): this {
    server.once('close', () => this.stop());
    return this;
  }

  readonly start = (_req: Request, res: Response, startedAt: number): void => {
    // Whether it streams is only known once it has been routed: asked when its deadline comes.
    const open = res as Open;
    // Started again (it never is today): it leaves its place, here or in another queue, rather than loop a list.
    open[QUEUE]?.unlink(open);
    open[QUEUE] = this;
    open[STARTED_AT] = startedAt;
    open[PREVIOUS] = this.newest;
    open[NEXT] = null;
    if (this.newest === null) this.oldest = open;
    else this.newest[NEXT] = open;
    this.newest = open;
  };

  readonly finish = (_req: Request, res: Response): void => {
    this.unlink(res as Open);
  };

  stop(): void {
    clearInterval(this.sweeper);
    while (this.oldest !== null) this.unlink(this.oldest);
  }

  private unlink(open: Open): void {
    // Not in this queue: never started here, or already out.
    if (open[QUEUE] !== this) return;
    const previous = open[PREVIOUS];
    const next = open[NEXT];
    if (previous === null) this.oldest = next;
    else previous[NEXT] = next;
    if (next === null) this.newest = previous;
    else next[PREVIOUS] = previous;
    // Neither a late 'close' nor another queue's sweep finds it linked again; nothing holds on to its neighbours.
    open[QUEUE] = null;
    open[PREVIOUS] = null;
    open[NEXT] = null;
  }

  private sweep(): void {
    const cutoff = performance.now() - this.limitMs;
    while (this.oldest !== null && this.oldest[STARTED_AT] <= cutoff) {
      const res = this.oldest;
      this.unlink(res);
      if (!this.isStreaming(res.req)) this.expire(res.req, res);
    }
  }

  private expire(req: Request, res: Response): void {
    // Sent in full, its 'close' still to come (the next tick): nothing to cut.
    if (res.writableFinished) return;
    if (res.headersSent) {
      res.destroy();
      return;
    }
    // A request still arriving is the client's delay (408); one received in full is ours (503). A write received in
    // full may be in the store by now: the deadline counts from the request's first byte, so a body that took long to
    // arrive leaves less than the store's own timeouts (which answer 504) to a write that then goes through.
    const late = `Request not answered within HTTP_REQUEST_TIMEOUT_MS=${this.limitMs}`;
    const [status, message] = !req.complete
      ? [408, `Request not received within HTTP_REQUEST_TIMEOUT_MS=${this.limitMs}`]
      : WRITES.has(req.method)
        ? [504, `${late}: it may have been applied; check before retrying`]
        : [503, late];
    res.status(status).setHeader('Connection', 'close');
    res.type('application/json').end(errorJson(status, message));
  }
}
