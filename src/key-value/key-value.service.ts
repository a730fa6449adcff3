import { Injectable } from '@nestjs/common';
import { AppConfig } from '../config/app-config';
import {
  InvalidRequestError,
  KeyExistsError,
  KeyNotFoundError,
  PreconditionFailedError,
  RevisionMismatchError,
  ValueTooLargeError,
} from '../common/errors/domain.errors';
import {
  KeyValueStore,
  type JsonValue,
  type KvEntry,
  type KvRecord,
  type ListQuery,
  type Page,
  type Precondition,
  type WriteResult,
} from '../store/kv.store';
import type { Keyspace, KeyspacePosition } from '../store/keyspace';

/** Conditions of a REST write, from If-Match / If-None-Match. */
export interface HttpConditions {
  readonly ifMatch?: '*' | readonly KeyspacePosition[];
  readonly ifNoneMatch?: '*';
}

export interface SetPairsOptions {
  readonly ttl?: number;
  readonly nx?: boolean;
  readonly xx?: boolean;
}

export interface SetPairsResult {
  /** True when the body was a single `{"key","value"}` pair rather than a map of pairs. */
  readonly single: boolean;
  readonly count: number;
}

// C0 and C1 control characters (Unicode general category Cc).
const CONTROL_CHARACTERS = /[\u0000-\u001f\u007f-\u009f]/;

/**
 * The rules of the API on top of the store: key and value limits, the seed body format, TTL bounds,
 * and HTTP conditional requests turned into store preconditions.
 */
@Injectable()
export class KeyValueService {
  private readonly maxKeyBytes: number;
  private readonly maxValueBytes: number;
  private readonly maxBatchKeys: number;
  private readonly maxTtlSeconds: number;
  private readonly maxPageBytes: number;

  constructor(
    private readonly store: KeyValueStore,
    config: AppConfig,
  ) {
    this.maxKeyBytes = config.getOrThrow('KV_MAX_KEY_BYTES', { infer: true });
    this.maxValueBytes = config.getOrThrow('KV_MAX_VALUE_BYTES', { infer: true });
    this.maxBatchKeys = config.getOrThrow('KV_MAX_BATCH_KEYS', { infer: true });
    this.maxTtlSeconds = config.getOrThrow('KV_MAX_TTL_SECONDS', { infer: true });
    this.maxPageBytes = config.getOrThrow('KV_MAX_PAGE_BYTES', { infer: true });
  }

  /** The keyspace the store's revisions are in now (ETags carry it). */
  get keyspace(): Keyspace {
    return this.store.keyspace;
  }

  async get(key: string): Promise<KvRecord> {
    this.assertKey(key);
    const record = await this.store.get(key);
    if (!record) throw new KeyNotFoundError([key]);
    return record;
  }

  /** The value alone (the seed `GET /get/:key`, which answers no revision). */
  async value(key: string): Promise<JsonValue> {
    this.assertKey(key);
    const value = await this.store.value(key);
    if (value === undefined) throw new KeyNotFoundError([key]);
    return value;
  }

  /**
   * The seed `POST /set`: an object whose properties are exactly `key` (a string) and `value` is one
   * pair; any other non-empty object without `key` or `value` among its names is a map of pairs, applied
   * atomically (see isPairAttempt).
   */
  async setPairs(body: unknown, options: SetPairsOptions): Promise<SetPairsResult> {
    if (options.nx && options.xx) throw new InvalidRequestError('nx and xx cannot both be true');
    if (typeof body !== 'object' || body === null || Array.isArray(body)) {
      throw new InvalidRequestError('Body must be a JSON object: {"key": ..., "value": ...} or a map of key-value pairs');
    }
    const names = Object.keys(body);
    const record = body as Record<string, JsonValue>;
    const single = isPairAttempt(names, record);
    const pairs: KvEntry[] = single
      ? [{ key: record.key as string, value: record.value }]
      : names.map((key) => ({ key, value: record[key] }));
    if (pairs.length === 0) throw new InvalidRequestError('Body must contain at least one key-value pair');
    if (pairs.length > this.maxBatchKeys) {
      throw new InvalidRequestError(`Body has ${pairs.length} pairs; the limit is KV_MAX_BATCH_KEYS=${this.maxBatchKeys}`);
    }
    const entries = pairs.map((pair) => this.checkedEntry(pair));
    const precondition: Precondition | undefined = options.nx ? { exists: false } : options.xx ? { exists: true } : undefined;
    await this.store.set(entries, { ttlSeconds: this.checkTtl(options.ttl), precondition });
    return { single, count: entries.length };
  }

  /** `PUT /keys/:key`. */
  async put(key: string, value: JsonValue, ttl: number | undefined, conditions: HttpConditions): Promise<WriteResult> {
    const entry = this.checkedEntry({ key, value });
    const precondition = toPrecondition(conditions);
    const [result] = await withHttpPreconditions(conditions, () =>
      this.store.set([entry], { ttlSeconds: this.checkTtl(ttl), precondition }),
    );
    return result;
  }

  /** `DELETE /keys/:key`. */
  async delete(key: string, conditions: HttpConditions): Promise<KvRecord> {
    this.assertKey(key);
    return withHttpPreconditions(conditions, () => this.store.delete(key, toPrecondition(conditions)));
  }

  /** A page of records, at most KV_MAX_PAGE_BYTES of keys and values (see ListQuery.maxBytes). */
  async list(query: ListQuery): Promise<Page> {
    return this.store.list({ ...query, maxBytes: this.maxPageBytes });
  }

  /** The entry with its value's size, once its key and size are within the limits. */
  private checkedEntry({ key, value }: KvEntry): KvEntry {
    this.assertKey(key);
    const json = JSON.stringify(value);
    const size = Buffer.byteLength(json);
    if (size > this.maxValueBytes) throw new ValueTooLargeError(key, size, this.maxValueBytes);
    return { key, value, size, json };
  }

  private assertKey(key: string): void {
    if (key.length === 0) throw new InvalidRequestError('Key must not be empty');
    if (!key.isWellFormed()) throw new InvalidRequestError('Key must be valid Unicode (it contains a lone surrogate)');
    if (CONTROL_CHARACTERS.test(key)) throw new InvalidRequestError('Key must not contain control characters');
    const bytes = Buffer.byteLength(key);
    if (bytes > this.maxKeyBytes) {
      throw new InvalidRequestError(`Key is ${bytes} bytes of UTF-8; the limit is KV_MAX_KEY_BYTES=${this.maxKeyBytes}`);
    }
  }

  private checkTtl(ttl: number | undefined): number | undefined {
    if (ttl !== undefined && ttl > this.maxTtlSeconds) {
      throw new InvalidRequestError(`ttl must not be greater than KV_MAX_TTL_SECONDS=${this.maxTtlSeconds}`);
    }
    return ttl;
  }
}

/** Query options that someone may put in the body of a `{"key","value"}` pair by mistake. */
const QUERY_OPTIONS = ['ttl', 'nx', 'xx'];

/**
 * Whether a `POST /set` body is the single-pair form: exactly `{"key": "<string>", "value": ...}`. A body that
 * names `key` or `value` and is not exactly that is a mistake (a missing field, a misplaced option), not a map
 * of pairs that happens to have keys named "key", "value" or "ttl": it is refused with what is wrong, never
 * stored as keys. A map that must hold keys with those names is written with `PUT /keys/{key}`.
 */
function isPairAttempt(names: readonly string[], body: Record<string, JsonValue>): boolean {
  if (!names.includes('key') && !names.includes('value')) return false;
  const example = '{"key": "<key>", "value": <any JSON>}';
  const misplaced = names.filter((name) => QUERY_OPTIONS.includes(name));
  if (misplaced.length > 0) {
    throw new InvalidRequestError(
      `${misplaced.map((name) => `\`${name}\``).join(' and ')} go${misplaced.length === 1 ? 'es' : ''} in the query string (/set?${misplaced.map((name) => `${name}=...`).join('&')}), not in the body: a pair is ${example}`,
    );
  }
  if (!names.includes('value')) throw new InvalidRequestError(`A pair needs \`value\`: ${example}`);
  if (!names.includes('key')) throw new InvalidRequestError(`A pair needs \`key\`: ${example}`);
  if (typeof body.key !== 'string') throw new InvalidRequestError(`A pair's \`key\` must be a string: ${example}`);
  const extra = names.filter((name) => name !== 'key' && name !== 'value');
  if (extra.length > 0) {
    throw new InvalidRequestError(
      `A pair has exactly \`key\` and \`value\`, not ${extra.map((name) => JSON.stringify(name)).join(', ')}: ${example}; to store keys named "key" or "value", use PUT /keys/{key}`,
    );
  }
  return true;
}

function toPrecondition({ ifMatch, ifNoneMatch }: HttpConditions): Precondition | undefined {
  if (ifMatch !== undefined && ifNoneMatch !== undefined) {
    throw new InvalidRequestError('If-Match and If-None-Match cannot be combined');
  }
  if (ifNoneMatch === '*') return { exists: false };
  if (ifMatch === '*') return { exists: true };
  if (ifMatch !== undefined) return { revisions: ifMatch };
  return undefined;
}

/**
 * A failed HTTP precondition is 412 whatever the reason (RFC 9110 §13.1): the store's "exists",
 * "not found" and "other revision" outcomes all become PreconditionFailedError. Without conditions a
 * missing key stays a 404.
 */
async function withHttpPreconditions<T>(conditions: HttpConditions, write: () => Promise<T>): Promise<T> {
  try {
    return await write();
  } catch (error) {
    const conditional = conditions.ifMatch !== undefined || conditions.ifNoneMatch !== undefined;
    if (!conditional) throw error;
    if (error instanceof RevisionMismatchError) throw new PreconditionFailedError(error.message);
    if (error instanceof KeyExistsError) throw new PreconditionFailedError('Precondition failed: the key exists (If-None-Match: *)');
    if (error instanceof KeyNotFoundError) throw new PreconditionFailedError('Precondition failed: the key does not exist');
    throw error;
  }
}
