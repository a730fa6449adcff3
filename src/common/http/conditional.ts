import { InvalidRequestError } from '../errors/domain.errors';
import { formatPosition, type KeyspacePosition, parsePosition } from '../../store/keyspace';

/**
 * The strong entity tag of a record: its position, keyspace and revision, `"5f0c2a9be41d:42"`. Clients treat it
 * as opaque; a tag from another keyspace never matches, even with the same revision.
 */
export const etagOf = (position: KeyspacePosition): string => `"${formatPosition(position)}"`;

/**
 * Parses an If-Match / If-None-Match value (RFC 9110 §13.1): `*` or a list of entity tags. Tags are compared as
 * the exact strings they are (strong comparison): a well-formed tag we never hand out (`"42"`, `"07"`) simply
 * never matches. Weak tags (`W/"1"`) are refused: strong comparison is required for writes, and every tag we hand
 * out is strong anyway.
 */
export function parseEntityTags(header: string, name: string): '*' | KeyspacePosition[] {
  const trimmed = header.trim();
  if (trimmed === '*') return '*';
  const positions: KeyspacePosition[] = [];
  for (const part of trimmed.split(',')) {
    const tag = /^\s*"([\x21\x23-\x7e]*)"\s*$/.exec(part);
    if (!tag) {
      throw new InvalidRequestError(`${name} must be * or a list of quoted entity tags such as "5f0c2a9be41d:42" (an ETag)`);
    }
    const position = parsePosition(tag[1]);
    // Only the exact form etagOf writes can match.
    if (position?.keyspace && etagOf(position as KeyspacePosition) === `"${tag[1]}"`) positions.push(position as KeyspacePosition);
  }
  return positions;
}
