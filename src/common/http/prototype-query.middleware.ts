import type { NextFunction, Request, Response } from 'express';
import { InvalidRequestError } from '../errors/domain.errors';

/** Query parameters named like prototype members: the validation pipe would drop them silently, so refuse them. */
const PROTOTYPE_NAMES = ['__proto__', 'constructor', 'prototype'];

/**
 * Whether the query string of `url` may hold a parameter named like a prototype member. Without a `%`, the parser
 * decodes a name only by reading `+` as a space, so such a name is in the text as it is; with one, it may be encoded.
 */
function mayNamePrototypeMember(url: string): boolean {
  const at = url.indexOf('?');
  if (at < 0) return false;
  return url.includes('%', at) || PROTOTYPE_NAMES.some((name) => url.includes(name, at));
}

export function rejectPrototypeQueryNames(req: Request, _res: Response, next: NextFunction): void {
  // Express parses the query string anew on every read of req.query: not at all when no name could be one of those.
  if (!mayNamePrototypeMember(req.originalUrl)) {
    next();
    return;
  }
  const query = req.query as Record<string, unknown>;
  const bad = PROTOTYPE_NAMES.find((name) => Object.prototype.hasOwnProperty.call(query, name));
  next(bad === undefined ? undefined : new InvalidRequestError(`Invalid request: property ${bad} should not exist`, [`property ${bad} should not exist`]));
}

/**
 * A query string must be percent-encoded UTF-8: the query parser would keep an escape it cannot decode (`%FF`, a
 * lone `%`, an encoded surrogate) as literal text, and search or filter for something the client never meant.
 */
export function rejectUndecodableQuery(req: Request, _res: Response, next: NextFunction): void {
  const at = req.originalUrl.indexOf('?');
  if (at >= 0) {
    try {
      decodeURIComponent(req.originalUrl.slice(at + 1));
    } catch {
      next(new InvalidRequestError('Query string is not valid percent-encoded UTF-8 (é is %C3%A9, a literal % is %25)'));
      return;
    }
  }
  next();
}
