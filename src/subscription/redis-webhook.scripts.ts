/**
 * Lua scripts of webhook subscriptions on the Redis driver, beside the store's keys (redis.scripts.ts).
 *
 * Layout under the deployment's prefix P:
 *   P subs             set      subscription ids
 *   P sub:<id>         hash     json (the subscription without its start), start (revision it starts after)
 *   P feed             stream   the store's change feed; each subscription is a consumer group `wh:<id>` on it,
 *                               created at its start revision
 *   P wh:<id>:lease    string   the replica delivering this subscription (its consumer name), with a TTL
 *   P wh:<id>:state    hash     delivered (last revision), failures, error, dead (count), head + attempts (the
 *                               entry being retried and how often), so any replica can show it and a new
 *                               lease holder resumes the count
 *   P wh:<id>:dead     list     the latest dead letters (JSON), oldest first
 *
 * ARGV[1] is always P and ARGV[2] the subscription id.
 */
const KEYS_OF = `
local P, id = ARGV[1], ARGV[2]
local feed, group = P .. 'feed', 'wh:' .. id
local lease, state, dead = P .. 'wh:' .. id .. ':lease', P .. 'wh:' .. id .. ':state', P .. 'wh:' .. id .. ':dead'
`;

/**
 * Creates a subscription starting after the current revision, unless ARGV[4] exist already.
 * ARGV: P, id, json, max. Returns the start revision, or -1 when the limit is reached.
 */
export const CREATE_SUBSCRIPTION = `${KEYS_OF}
if redis.call('SCARD', P .. 'subs') >= tonumber(ARGV[4]) then return -1 end
local rev = tonumber(redis.call('GET', P .. 'rev') or '0')
redis.call('XGROUP', 'CREATE', feed, group, rev .. '-0', 'MKSTREAM')
redis.call('HSET', P .. 'sub:' .. id, 'json', ARGV[3], 'start', rev)
redis.call('SADD', P .. 'subs', id)
return rev
`;

/** Deletes a subscription with its group, lease and state. ARGV: P, id. Returns 1 when it existed. */
export const DELETE_SUBSCRIPTION = `${KEYS_OF}
if redis.call('SREM', P .. 'subs', id) == 0 then return 0 end
redis.call('DEL', P .. 'sub:' .. id, lease, state, dead)
redis.pcall('XGROUP', 'DESTROY', feed, group)
return 1
`;

/**
 * Takes or renews the lease of a subscription. ARGV: P, id, owner, ttl ms.
 * Returns 1 when the caller holds it now, 0 when another replica does, -1 when the subscription is gone.
 */
export const ACQUIRE_LEASE = `${KEYS_OF}
if redis.call('SISMEMBER', P .. 'subs', id) == 0 then return -1 end
local holder = redis.call('GET', lease)
if holder and holder ~= ARGV[3] then return 0 end
redis.call('SET', lease, ARGV[3], 'PX', ARGV[4])
return 1
`;

/** Gives a lease up at shutdown so another replica takes over at once. ARGV: P, id, owner. */
export const RELEASE_LEASE = `${KEYS_OF}
if redis.call('GET', lease) == ARGV[3] then redis.call('DEL', lease) end
return 1
`;

/**
 * Records the outcome of the head of a subscription's queue, only while the caller holds the lease (so a
 * replica that lost it cannot overwrite its successor's state). ARGV: P, id, owner, outcome, entry id ('' for
 * none), revision, error, attempts, dead letter JSON, dead letters counted, dead letters kept.
 * Outcomes: delivered (ack), failed (the head stays), dead (ack when there is an entry; failure counted
 * when there is an error of an attempt), gap (events that left the feed unread: a dead letter, no failure).
 * Returns 1, or 0 when the lease is not the caller's.
 */
export const SETTLE = `${KEYS_OF}
if redis.call('GET', lease) ~= ARGV[3] then return 0 end
local outcome, entry = ARGV[4], ARGV[5]
if entry ~= '' and outcome ~= 'failed' then redis.call('XACK', feed, group, entry) end
if outcome == 'delivered' then
  redis.call('HSET', state, 'delivered', ARGV[6], 'failures', 0, 'head', '', 'attempts', 0)
elseif outcome == 'failed' then
  redis.call('HINCRBY', state, 'failures', 1)
  redis.call('HSET', state, 'error', ARGV[7], 'head', entry, 'attempts', ARGV[8])
else
  if outcome == 'dead' then
    redis.call('HINCRBY', state, 'failures', 1)
    redis.call('HSET', state, 'error', ARGV[7], 'head', '', 'attempts', 0)
  end
  redis.call('HINCRBY', state, 'dead', ARGV[10])
  redis.call('RPUSH', dead, ARGV[9])
  redis.call('LTRIM', dead, -tonumber(ARGV[11]), -1)
end
return 1
`;
