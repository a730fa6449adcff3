/**
 * The requests of the HTTP benchmarks, shared by the load generator (bench/lib/load-worker.ts) and the scripts
 * that preload the servers, so both agree on the key names.
 */
import type autocannon from 'autocannon';

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

/**
 * autocannon's request for a scenario: GET spreads over the `keys` preloaded keys; POST writes one pair per
 * request, to keys unique to this process and request (`insert`) or to the preloaded keys in turn (`overwrite`);
 * search cycles through 900 prefixes.
 */
export function requestsFor(scenario: Scenario, keys: number, writes: WriteMode = 'insert'): autocannon.Request {
  let n = 0;
  switch (scenario) {
    case 'GET /get/:key':
      return { method: 'GET', setupRequest: (req) => ({ ...req, path: `/get/${keyName(n++ % keys)}` }) };
    case 'POST /set': {
      const prefix = `set-${process.pid}-`;
      const key = writes === 'insert' ? (i: number) => `${prefix}${i}` : (i: number) => keyName(i % keys);
      return {
        method: 'POST',
        path: '/set',
        headers: { 'content-type': 'application/json' },
        setupRequest: (req) => ({ ...req, body: JSON.stringify({ key: key(n), value: valueOf(n++) }) }),
      };
    }
    case 'GET /search?prefix=':
      return { method: 'GET', setupRequest: (req) => ({ ...req, path: `/search?prefix=${searchPrefix(n++)}` }) };
  }
}
