/**
 * Lua scripts of webhook subscriptions on the Redis driver, beside the store's keys (key names and layout in
 * redis.keyspace.ts). Every key a script touches is passed in KEYS.
 */

/**
 * Creates a subscription starting after the current revision, unless ARGV[3] exist already.
 * KEYS: subscriptions set, the subscription's hash, revision counter, feed. ARGV: id, json, max, group.
 * Returns the start revision, or -1 when the limit is reached.
 */
export const CREATE_SUBSCRIPTION = `
if redis.call('SCARD', KEYS[1]) >= tonumber(ARGV[3]) then return -1 end
local rev = tonumber(redis.call('GET', KEYS[3]) or '0')
redis.call('XGROUP', 'CREATE', KEYS[4], ARGV[4], rev .. '-0', 'MKSTREAM')
redis.call('HSET', KEYS[2], 'json', ARGV[2], 'start', rev)
redis.call('SADD', KEYS[1], ARGV[1])
return rev
`;

/**
 * Deletes a subscription with its group, lease and state.
 * KEYS: subscriptions set, the subscription's hash, lease, state, dead letters, feed. ARGV: id, group.
 * Returns 1 when it existed.
 */
export const DELETE_SUBSCRIPTION = `
if redis.call('SREM', KEYS[1], ARGV[1]) == 0 then return 0 end
redis.call('DEL', KEYS[2], KEYS[3], KEYS[4], KEYS[5])
redis.pcall('XGROUP', 'DESTROY', KEYS[6], ARGV[2])
return 1
`;

/**
 * Takes or renews the lease of a subscription. KEYS: subscriptions set, lease. ARGV: id, owner, ttl ms.
 * Returns 1 when the caller holds it now, 0 when another replica does, -1 when the subscription is gone.
 */
export const ACQUIRE_LEASE = `
if redis.call('SISMEMBER', KEYS[1], ARGV[1]) == 0 then return -1 end
local holder = redis.call('GET', KEYS[2])
if holder and holder ~= ARGV[2] then return 0 end
redis.call('SET', KEYS[2], ARGV[2], 'PX', ARGV[3])
return 1
`;

/** Gives a lease up at shutdown so another replica takes over at once. KEYS: lease. ARGV: owner. */
export const RELEASE_LEASE = `
if redis.call('GET', KEYS[1]) == ARGV[1] then redis.call('DEL', KEYS[1]) end
return 1
`;

/**
 * Records the outcome of the head of a subscription's queue, only while the caller holds the lease (so a
 * replica that lost it cannot overwrite its successor's state). KEYS: lease, state, dead letters, feed.
 * ARGV: owner, group, outcome, entry id ('' for none), revision, error, attempts, dead letter JSON, dead letters
 * counted, dead letters kept.
 * Outcomes: delivered (ack), failed (the head stays), dead (ack when there is an entry; a failure counted), gap
 * (events that left the feed unread) and unread (an entry that cannot be read): ack when there is an entry, a dead
 * letter, no failure.
 * Returns 1, or 0 when the lease is not the caller's.
 */
export const SETTLE = `
local lease, state, dead, feed = KEYS[1], KEYS[2], KEYS[3], KEYS[4]
if redis.call('GET', lease) ~= ARGV[1] then return 0 end
local group, outcome, entry = ARGV[2], ARGV[3], ARGV[4]
-- Already acknowledged: this settling was applied before (its reply was lost, and the holder settles again).
if entry ~= '' and outcome ~= 'failed' and redis.call('XACK', feed, group, entry) == 0 then return 1 end
if outcome == 'delivered' then
  redis.call('HSET', state, 'delivered', ARGV[5], 'failures', 0, 'head', '', 'attempts', 0)
elseif outcome == 'failed' then
  redis.call('HINCRBY', state, 'failures', 1)
  redis.call('HSET', state, 'error', ARGV[6], 'head', entry, 'attempts', ARGV[7])
else
  if outcome == 'dead' then
    redis.call('HINCRBY', state, 'failures', 1)
    redis.call('HSET', state, 'error', ARGV[6], 'head', '', 'attempts', 0)
  end
  redis.call('HINCRBY', state, 'dead', ARGV[9])
  redis.call('RPUSH', dead, ARGV[8])
  redis.call('LTRIM', dead, -tonumber(ARGV[10]), -1)
end
return 1
`;
