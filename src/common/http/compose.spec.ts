import type { NextFunction, Request, Response } from 'express';
import { compose } from './compose';

type Middleware = (req: Request, res: Response, next: NextFunction) => void;

describe('compose', () => {
  const req = {} as Request;
  const res = {} as Response;
  const run = (stack: Middleware[]) =>
    new Promise<unknown>((resolve) => compose(stack)(req, res, ((error?: unknown) => resolve(error ?? 'done')) as NextFunction));

  it('runs the middleware in order, each when the one before calls next, asynchronously too', async () => {
    const seen: string[] = [];
    const result = await run([
      (_q, _s, next) => (seen.push('a'), next()),
      (_q, _s, next) => void setTimeout(() => (seen.push('b'), next()), 5),
      (_q, _s, next) => (seen.push('c'), next()),
    ]);
    expect(seen).toEqual(['a', 'b', 'c']);
    expect(result).toBe('done');
  });

  it('stops at an error, passed on or thrown, and skips the rest', async () => {
    const after = jest.fn();
    const passed = new Error('passed');
    expect(await run([(_q, _s, next) => next(passed), (_q, _s, next) => (after(), next())])).toBe(passed);
    const thrown = new Error('thrown');
    expect(
      await run([
        () => {
          throw thrown;
        },
        (_q, _s, next) => (after(), next()),
      ]),
    ).toBe(thrown);
    expect(after).not.toHaveBeenCalled();
  });

  it('leaves the answer to a middleware that does not call next', async () => {
    const after = jest.fn();
    const done = jest.fn();
    compose([() => undefined, (_q, _s, next) => (after(), next())])(req, res, done);
    await new Promise((r) => setTimeout(r, 5));
    expect(after).not.toHaveBeenCalled();
    expect(done).not.toHaveBeenCalled();
  });
});
