import { HttpError } from './cli.errors';
import { type KeyFilter, type KvHttpClient, type KvRecord, segment } from './kv-http.client';
import { displayValue, type Output } from './kv.output';
import { type ChangeEvent, type WatchFilter, watchChanges } from './watch.client';

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

/** A webhook subscription as the server lists it. */
interface Subscription {
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

/**
 * `set` and `put`: one pair through `POST /set`, the route the seed services had, whose `nx` and `xx` answer 409 and
 * 404 like their clients expect.
 */
export async function setPair(ctx: CommandContext, key: string, value: unknown, options: SetOptions): Promise<void> {
  const answer = await aboutKey(
    key,
    ctx.client.json<unknown>('POST', 'set', {
      query: { ttl: options.ttl, nx: options.nx || undefined, xx: options.xx || undefined },
      body: { key, value },
      signal: ctx.signal,
    }),
  );
  if (ctx.out.json) ctx.out.document(answer);
  else ctx.out.line(ctx.out.style('green', 'OK'));
}

/** `get`: the value alone for people (strings unquoted, for `$(kv get name)`), the whole record in JSON mode. */
export async function getValue(ctx: CommandContext, key: string): Promise<void> {
  const record = await aboutKey(key, ctx.client.json<KvRecord>('GET', `keys/${segment(key)}`, { signal: ctx.signal }));
  if (ctx.out.json) ctx.out.document(record);
  else ctx.out.line(displayValue(record.value));
}

/** `del`: removes a key. */
export async function deleteKey(ctx: CommandContext, key: string): Promise<void> {
  await aboutKey(key, ctx.client.send('DELETE', `keys/${segment(key)}`, { signal: ctx.signal }));
  if (ctx.out.json) ctx.out.document({ key, deleted: true });
  else ctx.out.line(ctx.out.style('green', 'OK'));
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
        if (!ctx.out.json) ctx.out.notice(`watching ${describeFilter(options.filter)} at ${ctx.client.baseUrl.origin} (Ctrl-C to stop)`);
      },
    },
  );
}

/** `suball`: the webhook subscriptions with their delivery state. */
export async function listSubscriptions(ctx: CommandContext): Promise<void> {
  const subscriptions = await ctx.client.json<Subscription[]>('GET', 'subscriptions', { signal: ctx.signal });
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
  const created = await ctx.client.json<Subscription>('POST', 'subscriptions', {
    body: { url: options.url, key: options.key, prefix: options.prefix, suffix: options.suffix, secret: options.secret },
    signal: ctx.signal,
  });
  if (ctx.out.json) return ctx.out.document(created);
  ctx.out.line(`subscribed ${ctx.out.style('bold', created.id)}: ${describeFilter(created.filter)} → ${created.url}`);
  if (created.secret !== undefined) ctx.out.line(`secret: ${created.secret}  (shown only now: keep it to verify X-KV-Signature)`);
}

/** `unsubscribe`: removes a webhook. */
export async function unsubscribe(ctx: CommandContext, id: string): Promise<void> {
  await ctx.client.send('DELETE', `subscriptions/${segment(id)}`, { signal: ctx.signal });
  if (ctx.out.json) ctx.out.document({ id, deleted: true });
  else ctx.out.line(ctx.out.style('green', 'OK'));
}

/** The server says "Key not found" without the key, which a script's log needs when it runs many commands. */
async function aboutKey<T>(key: string, request: Promise<T>): Promise<T> {
  try {
    return await request;
  } catch (error) {
    if (error instanceof HttpError && error.status === 404) throw new HttpError(404, `${error.message}: ${key}`);
    throw error;
  }
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
