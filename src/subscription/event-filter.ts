import { InvalidRequestError } from '../common/errors/domain.errors';
import type { ChangeEvent } from '../store/change-feed';

/** Which keys a watch or webhook follows: one key, a prefix, a suffix, or (empty) every key. */
export type EventFilter = { readonly key: string } | { readonly prefix: string } | { readonly suffix: string } | Record<string, never>;

export interface FilterFields {
  readonly key?: string;
  readonly prefix?: string;
  readonly suffix?: string;
}

/** At most one of key, prefix and suffix; none means every key. */
export function toEventFilter({ key, prefix, suffix }: FilterFields): EventFilter {
  const given = [key, prefix, suffix].filter((v) => v !== undefined).length;
  if (given > 1) throw new InvalidRequestError('Give at most one of key, prefix and suffix');
  if (key !== undefined) return { key };
  if (prefix !== undefined) return { prefix };
  if (suffix !== undefined) return { suffix };
  return {};
}

/** True for the empty filter, which follows every key. */
export function followsEveryKey(filter: EventFilter): boolean {
  return !('key' in filter || 'prefix' in filter || 'suffix' in filter);
}

export function matches(filter: EventFilter, event: ChangeEvent): boolean {
  if ('key' in filter) return event.key === filter.key;
  if ('prefix' in filter) return event.key.startsWith(filter.prefix);
  if ('suffix' in filter) return event.key.endsWith(filter.suffix);
  return true;
}
