import type { Request, Response } from 'express';

/**
 * Sets `Link: <...>; rel="next"` (RFC 8288) to the same request with `after` moved to `next`, keeping
 * every other query parameter. The target is a relative reference, so it stays right behind proxies
 * that rewrite the host.
 */
export function setNextLink(req: Request, res: Response, next: string | null): void {
  if (next === null) return;
  // Split by hand: URL parsing would read a path starting with // as a host.
  const at = req.originalUrl.indexOf('?');
  const path = at < 0 ? req.originalUrl : req.originalUrl.slice(0, at);
  const query = new URLSearchParams(at < 0 ? '' : req.originalUrl.slice(at + 1));
  query.set('after', next);
  res.setHeader('Link', `<${path}?${query.toString()}>; rel="next"`);
}

/** OpenAPI description of the `Link` response header set above. */
export const NEXT_LINK_HEADER = {
  description: 'While more remain: `<same path and query, with after=<last key>>; rel="next"`.',
  schema: { type: 'string', example: '</search?prefix=abc&limit=2&after=abc-2>; rel="next"' },
} as const;
