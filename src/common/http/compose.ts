import type { NextFunction, Request, Response } from 'express';

type Middleware = (req: Request, res: Response, next: NextFunction) => void;

/**
 * Several middleware as one: each runs when the one before calls `next()`, in order; an error (or a throw) skips
 * the rest and goes to `next(error)`, as Express would do. One Express layer instead of one per middleware.
 */
export function compose(stack: readonly Middleware[]): Middleware {
  if (stack.length === 1) return stack[0];
  return (req, res, done) => {
    let i = 0;
    const next = (error?: unknown): void => {
      if (error !== undefined && error !== null) {
        done(error);
        return;
      }
      const middleware = stack[i++];
      if (middleware === undefined) {
        done();
        return;
      }
      try {
        middleware(req, res, next);
      } catch (thrown) {
        done(thrown);
      }
    };
    next();
  };
}
