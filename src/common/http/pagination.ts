import type { Request, Response } from 'express';

/**
 * Sets `Link: <...>; rel="next"` (RFC 8288) to the same request with `after` moved to `next`, keeping
 * every other query parameter. The target is a relative reference, so it stays right behind proxies
 * that rewrite the host.
 */
export function setNextLink(req: Request, res: Response, next: string | null): void {
  if (next === null) return;
  const url = new URL(req.originalUrl, 'http://localhost');
  url.searchParams.set('after', next);
  res.setHeader('Link', `<${url.pathname}${url.search}>; rel="next"`);
}

/** OpenAPI description of the `Link` response header set above. */
export const NEXT_LINK_HEADER = {
  description: 'While more remain: `<same path and query, with after=<last key>>; rel="next"`.',
  schema: { type: 'string', example: '</search?prefix=abc&limit=2&after=abc-2>; rel="next"' },
} as const;
