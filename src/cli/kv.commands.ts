import { CliError, EXIT_NOT_FOUND, EXIT_OK, HttpError } from './cli.errors';
import type { RawAnswer } from './http.transport';
import { type KeyFilter, type KvRecord, recordOf, SET_ANSWER, SUBSCRIPTION, SUBSCRIPTIONS, type WatchFilter } from './kv-api.shapes';
import { type KvHttpClient, segment } from './kv-http.client';
import { displayValue, type Output } from './kv.output';
import { type ChangeEvent, watchChanges } from './watch.client';

/** What every command runs with: the server, where to print, and the signal that interrupts it (Ctrl-C). */
export interface CommandContext {
  readonly client: KvHttpClient;
  readonly out: Output;
  readonly signal: AbortSignal;
}

export interface SetOptions {
  readonly ttl?: number;
  readonly nx?: boolean;
  readonly xx?: boolean;
}

export interface WatchCommandOptions {
  readonly filter: WatchFilter;
  readonly since?: number;
  /** Stop after this many events. */
  readonly count?: number;
}

export interface SubscribeOptions extends WatchFilter {
  readonly url: string;
  readonly secret?: string;
}

/** Reads of `get` with several keys in flight at once: enough to hide the round trips, few enough to be polite. */
const PARALLEL_READS = 8;

/** The one answer of GET /keys/{key} that says something about the key: it is not there (exit code 1). */
const KEY_NOT_FOUND = [404] as const;

/**
 * `set` and `put`: one pair through `POST /set`, the route the seed services had, whose `nx` and `xx` answer 409 and
 * 404 like their clients expect (the only answers that exit 1).
 */
export async function setPair(ctx: CommandContext, key: string, value: unknown, options: SetOptions): Promise<void> {
  const answer = await aboutKey(
    key,
    ctx.client.json('POST', 'set', SET_ANSWER, {
      query: { ttl: options.ttl, nx: options.nx || undefined, xx: options.xx || undefined },
      body: { key, value },
      signal: ctx.signal,
      answers: [...(options.nx ? [409] : []), ...(options.xx ? [404] : [])],
    }),
  );
  if (ctx.out.json) ctx.out.document(answer);
  else ctx.out.line(ctx.out.style('green', 'OK'));
}

/**
 * `get`: for one key, the value alone for people (strings unquoted, for `$(kv get name)`), the whole record in JSON
 * mode. For several, read one by one (not a snapshot), the records as a table in the order given (JSON: an array
 * with null for a missing key); each missing key is an error line, and exit code 1 once all are printed.
 */
export async function getValues(ctx: CommandContext, keys: readonly string[]): Promise<number> {
  if (keys.length === 1) {
    const record = await readRecord(ctx, keys[0], ctx.signal);
    if (ctx.out.json) ctx.out.document(record);
    else ctx.out.line(displayValue(record.value));
    return EXIT_OK;
  }
  // A failure other than "not found" fails the whole command: the reads still in flight are cancelled.
  const failed = new AbortController();
  const signal = AbortSignal.any([ctx.signal, failed.signal]);
  const records: (KvRecord | null)[] = new Array(keys.length);
  const missing: (HttpError | undefined)[] = new Array(keys.length);
  let next = 0;
  const reader = async (): Promise<void> => {
    while (next < keys.length) {
      const i = next++;
      records[i] = await readRecord(ctx, keys[i], signal).catch((error: unknown) => {
        if (!isNotFound(error)) {
          failed.abort();
          throw error;
        }
        missing[i] = error;
        return null;
      });
    }
  };
  await Promise.all(Array.from({ length: Math.min(PARALLEL_READS, keys.length) }, reader));
  if (ctx.out.json) ctx.out.document(records);
  else {
    const found = records.filter((r) => r !== null);
    if (found.length > 0) printRecords(ctx.out, found);
  }
  return reportMissing(ctx.out, missing);
}

/**
 * `del`: removes a key; several keys one after the other, in the order given (not atomic). A missing key is an error
 * line and exit code 1 once the rest are deleted; any other failure stops at that key.
 */
export async function deleteKeys(ctx: CommandContext, keys: readonly string[]): Promise<number> {
  if (keys.length === 1) {
    await deleteKey(ctx, keys[0]);
    if (ctx.out.json) ctx.out.document({ key: keys[0], deleted: true });
    else ctx.out.line(ctx.out.style('green', 'OK'));
    return EXIT_OK;
  }
  const missing: (HttpError | undefined)[] = [];
  for (const [i, key] of keys.entries()) {
    try {
      await deleteKey(ctx, key);
    } catch (error) {
      if (!isNotFound(error)) {
        reportMissing(ctx.out, missing);
        throw stoppedAt(error, key, i, keys.length);
      }
      missing[i] = error;
    }
  }
  const count = keys.length - missing.filter(Boolean).length;
  if (ctx.out.json) ctx.out.document(keys.map((key, i) => ({ key, deleted: missing[i] === undefined })));
  else ctx.out.line(ctx.out.style(count === keys.length ? 'green' : 'none', `deleted ${count} of ${keys.length} keys`));
  return reportMissing(ctx.out, missing);
}

/**
 * `ttl`: the whole seconds a key has left (0: within the second), by the server's clock (its `Date` header, which has
 * whole seconds) so that a client whose clock is off still gets it right; `none` for a key without expiry (JSON:
 * {"key","ttl","expiresAt"} with nulls); a missing key exits 1.
 */
export async function timeToLive(ctx: CommandContext, key: string): Promise<void> {
  const path = `keys/${segment(key)}`;
  const res = await aboutKey(key, ctx.client.send('GET', path, { signal: ctx.signal, answers: KEY_NOT_FOUND }));
  const record = await ctx.client.read(res, recordOf(key), 'GET', path, ctx.signal);
  const ttl = record.expiresAt === null ? null : Math.max(0, Math.floor((Date.parse(record.expiresAt) - serverNow(res)) / 1000));
  if (ctx.out.json) ctx.out.document({ key, ttl, expiresAt: record.expiresAt });
  else ctx.out.line(ttl === null ? 'none' : String(ttl));
}

/** `getall`: every pair, all pages of them; JSON mode prints them as one object in key order, as `GET /` does. */
export async function listAll(ctx: CommandContext, pageSize: number): Promise<void> {
  const records = await collect(ctx, {}, pageSize);
  // Written by hand: a JS object would move integer-like keys ("2", "10") to the front and treat "__proto__" specially.
  if (ctx.out.json) ctx.out.line(`{${records.map((r) => `${JSON.stringify(r.key)}:${JSON.stringify(r.value)}`).join(',')}}`);
  else printRecords(ctx.out, records);
}

/** `search`: the keys matching a prefix and/or suffix, all pages of them; JSON mode prints the keys, as `GET /search` does. */
export async function search(ctx: CommandContext, filter: KeyFilter, pageSize: number): Promise<void> {
  const records = await collect(ctx, filter, pageSize);
  if (ctx.out.json) ctx.out.document(records.map((r) => r.key));
  else printRecords(ctx.out, records);
}

/**
 * `watch` and `subs`: prints changes as they happen until Ctrl-C (or `count` events), riding out dropped connections
 * and server restarts without missing or repeating an event (see watchChanges).
 */
export async function watch(ctx: CommandContext, options: WatchCommandOptions): Promise<void> {
  const enough = new AbortController();
  let seen = 0;
  await watchChanges(
    ctx.client,
    { filter: options.filter, since: options.since, signal: AbortSignal.any([ctx.signal, enough.signal]) },
    {
      onEvent: (event) => {
        if (ctx.out.json) ctx.out.document(event);
        else ctx.out.line(formatEvent(ctx.out, event));
        if (options.count !== undefined && ++seen >= options.count) enough.abort();
      },
      onReset: (revision) => {
        if (ctx.out.json) ctx.out.document({ type: 'reset', revision });
        else ctx.out.notice(`the server no longer keeps the changes to resume from (reset to revision ${revision}): re-read the keys you follow`);
      },
      onNotice: (message) => ctx.out.notice(message),
      onOpen: () => {
        if (!ctx.out.json) ctx.out.notice(`watching ${describeFilter(options.filter)} at ${ctx.client.displayUrl} (Ctrl-C to stop)`);
      },
    },
  );
}

/** `suball`: the webhook subscriptions with their delivery state. */
export async function listSubscriptions(ctx: CommandContext): Promise<void> {
  const subscriptions = await ctx.client.json('GET', 'subscriptions', SUBSCRIPTIONS, { signal: ctx.signal });
  if (ctx.out.json) return ctx.out.document(subscriptions);
  if (subscriptions.length === 0) return ctx.out.line(ctx.out.style('dim', '(no subscriptions)'));
  ctx.out.table(
    ['ID', 'FILTER', 'DELIVERED', 'PENDING', 'FAILURES', 'DEAD', 'URL'],
    subscriptions.map((s) => [
      s.id,
      describeFilter(s.filter),
      s.lastDeliveredRevision === null ? '-' : String(s.lastDeliveredRevision),
      String(s.pending),
      String(s.consecutiveFailures),
      String(s.deadLettered),
      s.url,
    ]),
    6,
  );
}

/** `subscribe`: registers a webhook; a secret the server generated is shown this once. */
export async function subscribe(ctx: CommandContext, options: SubscribeOptions): Promise<void> {
  const created = await ctx.client.json('POST', 'subscriptions', SUBSCRIPTION, {
    body: { url: options.url, key: options.key, prefix: options.prefix, suffix: options.suffix, secret: options.secret },
    signal: ctx.signal,
  });
  if (ctx.out.json) return ctx.out.document(created);
  ctx.out.line(`subscribed ${ctx.out.style('bold', created.id)}: ${describeFilter(created.filter)} → ${created.url}`);
  if (created.secret !== undefined) ctx.out.line(`secret: ${created.secret}  (shown only now: keep it to verify X-KV-Signature)`);
}

/** `unsubscribe`: removes a webhook; an unknown id exits 1. */
export async function unsubscribe(ctx: CommandContext, id: string): Promise<void> {
  await ctx.client.noContent('DELETE', `subscriptions/${segment(id)}`, { signal: ctx.signal, answers: [404] });
  if (ctx.out.json) ctx.out.document({ id, deleted: true });
  else ctx.out.line(ctx.out.style('green', 'OK'));
}

/** The server says "Key not found" without the key, which a script's log needs when it runs many commands. */
async function aboutKey<T>(key: string, request: Promise<T>): Promise<T> {
  try {
    return await request;
  } catch (error) {
    if (isNotFound(error) && error.status === 404) throw new HttpError(404, `${error.message}: ${key}`, error.exitCode);
    throw error;
  }
}

/** An answer about the data (404 for a key, 409 for `set --nx`), not a failure of the request. */
const isNotFound = (error: unknown): error is HttpError => error instanceof HttpError && error.exitCode === EXIT_NOT_FOUND;

function readRecord(ctx: CommandContext, key: string, signal: AbortSignal): Promise<KvRecord> {
  return aboutKey(key, ctx.client.json('GET', `keys/${segment(key)}`, recordOf(key), { signal, answers: KEY_NOT_FOUND }));
}

function deleteKey(ctx: CommandContext, key: string): Promise<void> {
  return aboutKey(key, ctx.client.noContent('DELETE', `keys/${segment(key)}`, { signal: ctx.signal, answers: KEY_NOT_FOUND }));
}

/** One error line per missing key (the answers were printed already); exit code 1 if there was one. */
function reportMissing(out: Output, missing: readonly (HttpError | undefined)[]): number {
  const errors = missing.filter((e) => e !== undefined);
  for (const error of errors) out.error(error.message);
  return errors.length > 0 ? EXIT_NOT_FOUND : EXIT_OK;
}

/** A failure in the middle of `del k1 k2 …`: which keys it did and did not get to. */
function stoppedAt(error: unknown, key: string, index: number, total: number): unknown {
  if (!(error instanceof CliError)) return error;
  const done = index === 0 ? 'no key before it' : index === 1 ? 'the key before it was done' : `the ${index} keys before it were done`;
  return new CliError(`${error.message} (at key ${key}, ${index + 1} of ${total}: ${done}; the rest were not tried)`, error.exitCode);
}

/** The server's clock from its `Date` header (whole seconds), or this machine's when there is none. */
function serverNow(res: RawAnswer): number {
  const date = Date.parse(res.header('date') ?? '');
  return Number.isNaN(date) ? Date.now() : date;
}

async function collect(ctx: CommandContext, filter: KeyFilter, pageSize: number): Promise<KvRecord[]> {
  const records: KvRecord[] = [];
  for await (const record of ctx.client.records(filter, pageSize, ctx.signal)) records.push(record);
  return records;
}

function printRecords(out: Output, records: readonly KvRecord[]): void {
  if (records.length === 0) return out.line(out.style('dim', '(no keys)'));
  out.table(
    ['KEY', 'VALUE', 'REVISION', 'EXPIRES AT'],
    records.map((r) => [r.key, JSON.stringify(r.value), String(r.revision), r.expiresAt ?? '-']),
    1,
  );
  out.line(out.style('dim', `(${records.length} ${records.length === 1 ? 'key' : 'keys'})`));
}

const EVENT_STYLES = { put: 'green', delete: 'red', expire: 'yellow' } as const;

function formatEvent(out: Output, event: ChangeEvent): string {
  const type = out.style(EVENT_STYLES[event.type] ?? 'none', event.type.padEnd(6));
  const value = event.type === 'put' ? ` ${JSON.stringify(event.value)}` : '';
  return `${out.style('dim', `${event.time} #${event.revision}`)} ${type} ${event.key}${value}`;
}

function describeFilter(filter: WatchFilter): string {
  if (filter.key !== undefined) return `key ${JSON.stringify(filter.key)}`;
  const parts = [
    filter.prefix ? `prefix ${JSON.stringify(filter.prefix)}` : undefined,
    filter.suffix ? `suffix ${JSON.stringify(filter.suffix)}` : undefined,
  ].filter((p) => p !== undefined);
  return parts.length > 0 ? parts.join(' and ') : 'every key';
}
