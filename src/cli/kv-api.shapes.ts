/**
 * The answers of the kv-store API as the CLI reads them, with checks that an answer has the shape: a body that fails
 * them did not come from kv-store (a wrong URL, another service, a proxy's page), which the client reports as such
 * instead of reading it as data.
 */

/** One record of the REST API (`/keys/{key}`). */
export interface KvRecord {
  readonly key: string;
  readonly value: unknown;
  readonly revision: number;
  readonly createdAt: string;
  readonly updatedAt: string;
  readonly expiresAt: string | null;
}

/** One page of `GET /keys`. */
export interface RecordPage {
  readonly items: KvRecord[];
  readonly next: string | null;
}

/** Prefix and suffix filters of /keys, /search and /watch; undefined or empty is no filter. */
export interface KeyFilter {
  readonly prefix?: string;
  readonly suffix?: string;
}

/** Which keys a watch or webhook follows: at most one of key, prefix and suffix; none follows every key. */
export interface WatchFilter extends KeyFilter {
  readonly key?: string;
}

/** A webhook subscription as the server lists it. */
export interface Subscription {
  readonly id: string;
  readonly url: string;
  readonly filter: WatchFilter;
  readonly lastDeliveredRevision: number | null;
  readonly pending: number;
  readonly consecutiveFailures: number;
  readonly lastError: string | null;
  readonly deadLettered: number;
  /** Only in the answer to a registration, when the server generated it. */
  readonly secret?: string;
}

/** The answer of `POST /set`. */
export interface SetAnswer {
  readonly status: 'success';
  readonly message: string;
}

/** The body of every error answer (ErrorResponseDto on the server). */
export interface ErrorAnswer {
  readonly status: 'error';
  readonly statusCode: number;
  readonly message: string;
  readonly details?: unknown[];
}

/** A check that a parsed JSON body is a given answer, and what to call that answer in a message. */
export interface Shape<T> {
  readonly name: string;
  is(value: unknown): value is T;
}

type Fields = Record<string, unknown>;

const isObject = (value: unknown): value is Fields => typeof value === 'object' && value !== null && !Array.isArray(value);
const isTime = (value: unknown): value is string => typeof value === 'string' && !Number.isNaN(Date.parse(value));

function isRecord(value: unknown): value is KvRecord {
  return (
    isObject(value) &&
    typeof value.key === 'string' &&
    'value' in value &&
    Number.isSafeInteger(value.revision) &&
    isTime(value.createdAt) &&
    isTime(value.updatedAt) &&
    (value.expiresAt === null || isTime(value.expiresAt))
  );
}

function isSubscription(value: unknown): value is Subscription {
  return isObject(value) && typeof value.id === 'string' && typeof value.url === 'string' && isObject(value.filter);
}

/** The record of `key`, and no other. */
export const recordOf = (key: string): Shape<KvRecord> => ({ name: 'a record', is: (value): value is KvRecord => isRecord(value) && value.key === key });

export const RECORD_PAGE: Shape<RecordPage> = {
  name: 'a page of records',
  is: (value): value is RecordPage =>
    isObject(value) && Array.isArray(value.items) && value.items.every(isRecord) && (value.next === null || typeof value.next === 'string'),
};

export const SET_ANSWER: Shape<SetAnswer> = {
  name: "a write's confirmation",
  is: (value): value is SetAnswer => isObject(value) && value.status === 'success' && typeof value.message === 'string',
};

export const SUBSCRIPTION: Shape<Subscription> = { name: 'a subscription', is: isSubscription };

export const SUBSCRIPTIONS: Shape<Subscription[]> = {
  name: 'a list of subscriptions',
  is: (value): value is Subscription[] => Array.isArray(value) && value.every(isSubscription),
};

/** kv-store's error body for an answer with `status`. */
export function isErrorAnswer(value: unknown, status: number): value is ErrorAnswer {
  return (
    isObject(value) &&
    value.status === 'error' &&
    value.statusCode === status &&
    typeof value.message === 'string' &&
    (value.details === undefined || Array.isArray(value.details))
  );
}
