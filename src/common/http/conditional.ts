import { InvalidRequestError } from '../errors/domain.errors';

/** The strong entity tag of a revision: `"42"`. */
export const etagOf = (revision: number): string => `"${revision}"`;

/**
 * Parses an If-Match / If-None-Match value (RFC 9110 §13.1): `*` or a list of entity tags. Our tags are
 * revisions, so a well-formed tag that is not a revision simply never matches. Weak tags (`W/"1"`) are
 * refused: strong comparison is required for writes, and every tag we hand out is strong anyway.
 */
export function parseEntityTags(header: string, name: string): '*' | number[] {
  const trimmed = header.trim();
  if (trimmed === '*') return '*';
  const revisions: number[] = [];
  for (const part of trimmed.split(',')) {
    const tag = /^\s*"([\x21\x23-\x7e]*)"\s*$/.exec(part);
    if (!tag) {
      throw new InvalidRequestError(`${name} must be * or a list of quoted entity tags such as "42"`);
    }
    if (/^\d{1,16}$/.test(tag[1])) revisions.push(Number(tag[1]));
  }
  return revisions;
}
