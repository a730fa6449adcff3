import type { NextFunction, Request, Response } from 'express';

/**
 * Runs when a request arrives, before any other middleware (it may set response headers). `startedAt` is the
 * request's start on the `performance.now()` clock, the same reading its observers' duration is measured from.
 */
export type RequestStarter = (req: Request, res: Response, startedAt: number) => void;

/** Runs once when a request's response is done: sent, or abandoned because the connection closed first. */
export type RequestObserver = (req: Request, res: Response, seconds: number) => void;

const STARTED = Symbol('kv.request.started');
type TrackedResponse = Response & { [STARTED]: number };

/**
 * One middleware and one 'close' listener per request for everything that must see each request begin and end:
 * the request id, the access log, the request metrics and the request deadline. Each of those used to be a
 * middleware of its own, with its own closures, listener and clock readings; here the listener is one function
 * shared by every request, the clock is read once at each end, and the order they run in is stated in one place.
 *
 * Mounted first, so every answer (errors included) has run the starters, and the time observed includes every
 * other layer. Starters and observers must not throw.
 */
export function requestLifecycle(starters: readonly RequestStarter[], observers: readonly RequestObserver[]) {
  function finished(this: TrackedResponse): void {
    const seconds = (performance.now() - this[STARTED]) / 1000;
    for (const observe of observers) observe(this.req, this, seconds);
  }
  return (req: Request, res: Response, next: NextFunction): void => {
    const startedAt = performance.now();
    (res as TrackedResponse)[STARTED] = startedAt;
    for (const start of starters) start(req, res, startedAt);
    // 'close' comes once, whether the answer was sent or the client went away first.
    res.on('close', finished);
    next();
  };
}
