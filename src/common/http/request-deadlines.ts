import type { Server } from 'node:http';
import type { Request, Response } from 'express';
import { errorJson } from './error-body';

/**
 * 503 for a request not answered within HTTP_REQUEST_TIMEOUT_MS (408 when its body has not even arrived), so a
 * stuck dependency or a stalling client cannot hold sockets forever; `isStreaming` exempts long-lived responses (it
 * is asked when the deadline comes, once the request has been routed).
 *
 * Open requests wait in one insertion-ordered map, swept by one timer, rather than each holding a timer and two
 * listeners of its own on the hot path. Requests enter in arrival order, so a sweep stops at the first one still
 * in time. The sweep runs every tenth of the limit (at most once a second), so an answer comes at most that much
 * after the limit.
 */
export class RequestDeadlines {
  private readonly open = new Map<Response, number>();
  private readonly sweeper: NodeJS.Timeout;

  constructor(
    private readonly limitMs: number,
    private readonly isStreaming: (req: Request) => boolean,
  ) {
    this.sweeper = setInterval(() => this.sweep(), Math.min(1000, Math.max(10, Math.floor(limitMs / 10))));
    this.sweeper.unref();
  }

  /** Stops sweeping when `server` closes. */
  boundTo(server: Server): this {
    server.once('close', () => this.stop());
    return this;
  }

  readonly start = (_req: Request, res: Response, startedAt: number): void => {
    // Whether it streams is only known once it has been routed: asked when its deadline comes.
    this.open.set(res, startedAt);
  };

  readonly finish = (_req: Request, res: Response): void => {
    this.open.delete(res);
  };

  stop(): void {
    clearInterval(this.sweeper);
    this.open.clear();
  }

  private sweep(): void {
    const cutoff = performance.now() - this.limitMs;
    for (const [res, startedAt] of this.open) {
      if (startedAt > cutoff) return;
      this.open.delete(res);
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
    // A request still arriving is the client's delay (408); one received in full is ours (503).
    const [status, message] = req.complete
      ? [503, `Request not answered within HTTP_REQUEST_TIMEOUT_MS=${this.limitMs}`]
      : [408, `Request not received within HTTP_REQUEST_TIMEOUT_MS=${this.limitMs}`];
    res.status(status).setHeader('Connection', 'close');
    res.type('application/json').end(errorJson(status, message));
  }
}
