import type { Response } from 'supertest';

/** The target of a response's `Link: <...>; rel="next"` header, or null on the last page. */
export function nextLinkOf(res: Response): string | null {
  const link = res.headers.link as string | undefined;
  if (link === undefined) return null;
  const match = /^<([^>]+)>; rel="next"$/.exec(link);
  if (!match) throw new Error(`malformed Link header: ${link}`);
  return match[1];
}
