import type { NextFunction, Request, Response } from 'express';
import { errorJson } from './error-body';

const COUNTED = Symbol('kv.inFlight.counted');
type Counted = Response & { [COUNTED]?: RequestsInFlight };

/**
 * HTTP_MAX_REQUESTS_IN_FLIGHT: requests being received, handled or answered at once. Beyond it a request is answered
 * 503 with Retry-After at once, before its body is read: the memory that request bodies and page answers take is
 * bounded by this count times their own bounds, however many clients connect. A watch stream counts only until it
 * has begun (`release`): open streams have their own bound, WATCH_MAX_STREAMS. `finish` must run when each response
 * is done (it is a `requestLifecycle` observer).
 */
export class RequestsInFlight {
  private count = 0;

  constructor(private readonly max: number) {}

  get inFlight(): number {
    return this.count;
  }

  readonly middleware = (_req: Request, res: Response, next: NextFunction): void => {
    if (this.count >= this.max) {
      res.status(503).setHeader('Retry-After', '1');
      // The body, if any, is not read: the connection goes with the answer.
      res.setHeader('Connection', 'close');
      res.type('application/json').end(errorJson(503, `Too many requests in flight (HTTP_MAX_REQUESTS_IN_FLIGHT=${this.max}); retry shortly`));
      return;
    }
    this.count++;
    (res as Counted)[COUNTED] = this;
    next();
  };

  /** The request's response is done (a `requestLifecycle` observer, which listens for its 'close' already). */
  readonly finish = (_req: Request, res: Response): void => this.release(res);

  /** The request no longer counts (its response closed, or it became a long-lived stream). */
  release(res: Response): void {
    const counted = res as Counted;
    if (counted[COUNTED] !== this) return;
    counted[COUNTED] = undefined;
    this.count--;
  }
}

/** A response that has become a long-lived stream stops counting as a request in flight. */
export function releaseInFlight(res: Response): void {
  (res as Counted)[COUNTED]?.release(res);
}
