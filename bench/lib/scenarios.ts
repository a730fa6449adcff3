/**
 * The requests of the HTTP benchmarks, shared by the load generator (bench/lib/load-worker.ts) and the scripts
 * that preload the servers, so both agree on the key names.
 */
export const SCENARIOS = ['GET /get/:key', 'POST /set', 'GET /search?prefix='] as const;
export type Scenario = (typeof SCENARIOS)[number];

/** The n-th preloaded key: `key-0` ... `key-<keys - 1>`. */
export const keyName = (n: number): string => `key-${n}`;

/** A small JSON value, as a client would store (about 50 bytes). */
export const valueOf = (n: number) => ({ n, payload: 'x'.repeat(32) });

/** Preloaded keys per `POST /set` (the service's KV_MAX_BATCH_KEYS default). */
const PRELOAD_BATCH = 1000;

/** Writes keys `key-0` ... `key-<count - 1>` through the seed `POST /set`, as maps of pairs. */
export async function preload(url: string, count: number): Promise<void> {
  for (let i = 0; i < count; i += PRELOAD_BATCH) {
    const pairs = Array.from({ length: Math.min(PRELOAD_BATCH, count - i) }, (_, j) => [keyName(i + j), valueOf(i + j)]);
    const response = await fetch(`${url}/set`, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify(Object.fromEntries(pairs)) });
    if (!response.ok) throw new Error(`preloading ${url}: POST /set answered ${response.status} ${await response.text()}`);
  }
}

/**
 * A search prefix that matches 111 of the preloaded keys when there are at least 100,000 (`key-123` matches
 * key-123, key-1230..1239 and key-12300..12399): a typical page, well under the default limit of 1,000.
 */
export const searchPrefix = (n: number): string => keyName(100 + (n % 900));

/** What `POST /set` writes: a new key per request (`insert`), or the preloaded keys again (`overwrite`). */
export type WriteMode = 'insert' | 'overwrite';

/** JSON text of valueOf(n), built in Lua the same way. */
const LUA_VALUE = `'{"n":' .. n .. ',"payload":"${'x'.repeat(32)}"}'`;

/**
 * The wrk script (Lua) of a scenario: GET spreads over the `keys` preloaded keys; POST writes one pair per request,
 * to keys unique to this run (`insert`, named with `tag`) or to the preloaded keys in turn (`overwrite`); search
 * cycles through 900 prefixes. Its `done` prints one line of JSON: requests, duration, errors (connection, read,
 * write, timeout), answers over 399, and latency percentiles in milliseconds.
 */
export function wrkScript(scenario: Scenario, keys: number, writes: WriteMode, tag: string): string {
  const request = {
    'GET /get/:key': 'return wrk.format("GET", "/get/key-" .. (n % keys))',
    'POST /set': `local key = ${writes === 'insert' ? `"set-${tag}-" .. n` : '"key-" .. (n % keys)'}
  return wrk.format("POST", "/set", headers, '{"key":"' .. key .. '","value":' .. ${LUA_VALUE} .. '}')`,
    'GET /search?prefix=': 'return wrk.format("GET", "/search?prefix=key-" .. (100 + n % 900))',
  }[scenario];
  return `local keys = ${keys}
local n = -1
local headers = { ["Content-Type"] = "application/json" }
request = function()
  n = n + 1
  ${request}
end
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format('{"requests":%d,"durationUs":%d,"errors":%d,"non2xx":%d,"p50":%.3f,"p90":%.3f,"p99":%.3f,"max":%.3f}\\n',
    summary.requests, summary.duration, e.connect + e.read + e.write + e.timeout, e.status,
    latency:percentile(50) / 1000, latency:percentile(90) / 1000, latency:percentile(99) / 1000, latency.max / 1000))
end
`;
}
