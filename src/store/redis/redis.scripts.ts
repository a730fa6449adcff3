/**
 * Lua scripts of the Redis driver. Each mutation is one script, so the record, both key indexes, the
 * expiry set, the revision counter and the change-feed entry change together or not at all, across every
 * replica. Scripts are loaded once and run by SHA (ioredis `defineCommand` falls back to EVAL after a
 * Redis restart flushed them). Every key a script touches is passed in KEYS (names from redis.keyspace.ts):
 * KEYS[1..5] are the revision counter, the key index, the reversed-key index, the expiry index and the change
 * stream; the records follow, one per key the script handles.
 *
 * A record's native Redis expiry is set EXPIRY_GRACE_MS after its logical expiresAt: reads treat it as gone
 * from expiresAt on, the sweeper removes it (with its value in the `expire` event) soon after, and the
 * native expiry only frees memory if no replica swept for that long.
 *
 * Feed entry fields: t (type), k (key), v (value JSON, put), p (previous value JSON), m (time ms),
 * n (revision of the last entry of the same atomic batch, so readers never split a batch).
 */

/** Shared Lua helpers, prepended to each script. */
const COMMON = `
local REV, IDX, RIDX, EXP, FEED = KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5]
local maxlen = ARGV[1]
local function emit(rev, last, t, k, v, p, m)
  local args = {FEED, 'MAXLEN', '~', maxlen, rev .. '-0', 't', t, 'k', k, 'm', m, 'n', last}
  if v then table.insert(args, 'v'); table.insert(args, v) end
  if p then table.insert(args, 'p'); table.insert(args, p) end
  redis.call('XADD', unpack(args))
end
local function unindex(hkey, key, rkey)
  redis.call('DEL', hkey)
  redis.call('ZREM', IDX, key)
  redis.call('ZREM', RIDX, rkey)
  redis.call('ZREM', EXP, key)
end
-- The live record of key, or nil; a logically expired one is removed first and its expiry published.
local function live(hkey, key, rkey, now)
  local f = redis.call('HMGET', hkey, 'v', 'r', 'c', 'e')
  if not f[2] then return nil end
  if f[4] and f[4] ~= '' and tonumber(f[4]) <= now then
    unindex(hkey, key, rkey)
    local rev = redis.call('INCR', REV)
    emit(rev, rev, 'expire', key, nil, f[1], f[4])
    return nil
  end
  return {v = f[1], r = tonumber(f[2]), c = f[3]}
end
-- nil when the precondition holds, else the error reply the driver turns into a domain error.
local function check(kind, revisions, keys, current)
  if kind == 'absent' or kind == 'present' then
    local bad = {}
    for i = 1, #keys do
      if (current[i] ~= false) == (kind == 'absent') then table.insert(bad, keys[i]) end
    end
    if #bad > 0 then return {kind == 'absent' and 'exists' or 'missing', unpack(bad)} end
  elseif kind == 'revisions' then
    for i = 1, #keys do
      local cur = current[i]
      local ok = false
      if cur then
        for r in string.gmatch(revisions, '[^,]+') do
          if tonumber(r) == cur.r then ok = true end
        end
      end
      if not ok then return {'revision', keys[i], cur and tostring(cur.r) or ''} end
    end
  end
  return nil
end
`;

/**
 * Writes a batch. KEYS: the five store keys, then the record of each entry. ARGV: maxlen, now, ttlMs|'', graceMs,
 * kind|'', revisions csv, then per entry key, reversed key, value JSON.
 * Returns {'ok', rev1, created1, createdAt1, ...} or an error reply.
 */
export const SET_SCRIPT = `${COMMON}
local now = tonumber(ARGV[2])
local ttl = ARGV[3]
local grace = tonumber(ARGV[4])
local kind = ARGV[5]
local keys, rkeys, values, current = {}, {}, {}, {}
for i = 7, #ARGV, 3 do
  table.insert(keys, ARGV[i]); table.insert(rkeys, ARGV[i + 1]); table.insert(values, ARGV[i + 2])
end
for i = 1, #keys do current[i] = live(KEYS[5 + i], keys[i], rkeys[i], now) or false end
local failed = check(kind, ARGV[6], keys, current)
if failed then return failed end
local first = tonumber(redis.call('GET', REV) or '0') + 1
local last = first + #keys - 1
local expiresAt = ''
if ttl ~= '' then expiresAt = tostring(now + tonumber(ttl)) end
local out = {'ok'}
for i = 1, #keys do
  local key = keys[i]
  local hkey = KEYS[5 + i]
  -- a key named twice in one batch sees its earlier pair
  local prev = redis.call('HMGET', hkey, 'v', 'c')
  local rev = redis.call('INCR', REV)
  local createdAt = prev[2] or tostring(now)
  redis.call('HSET', hkey, 'v', values[i], 'r', rev, 'c', createdAt, 'u', now, 'e', expiresAt)
  if expiresAt ~= '' then
    redis.call('PEXPIREAT', hkey, tonumber(expiresAt) + grace)
    redis.call('ZADD', EXP, expiresAt, key)
  else
    redis.call('PERSIST', hkey)
    redis.call('ZREM', EXP, key)
  end
  redis.call('ZADD', IDX, 0, key)
  redis.call('ZADD', RIDX, 0, rkeys[i])
  emit(rev, last, 'put', key, values[i], prev[1], tostring(now))
  table.insert(out, rev); table.insert(out, prev[1] and 0 or 1); table.insert(out, createdAt)
end
return out
`;

/**
 * Deletes a key. KEYS: the five store keys, then the key's record. ARGV: maxlen, now, kind|'', revisions csv, key,
 * reversed key. Returns {'ok', value, revision, createdAt, updatedAt, expiresAt} or an error reply ({'missing', key}
 * when absent).
 */
export const DELETE_SCRIPT = `${COMMON}
local now = tonumber(ARGV[2])
local hkey, key, rkey = KEYS[6], ARGV[5], ARGV[6]
local cur = live(hkey, key, rkey, now)
local failed = check(ARGV[3], ARGV[4], {key}, {cur or false})
if failed then return failed end
if not cur then return {'missing', key} end
local f = redis.call('HMGET', hkey, 'u', 'e')
unindex(hkey, key, rkey)
local rev = redis.call('INCR', REV)
emit(rev, rev, 'delete', key, nil, cur.v, tostring(now))
return {'ok', cur.v, cur.r, cur.c, f[1], f[2]}
`;

/**
 * Removes the given keys whose expiresAt has passed, each with one `expire` event. The caller picks candidates
 * from the expiry index (ZRANGEBYSCORE) and names their records as KEYS; the script checks each again, so it is
 * idempotent and safe when several replicas sweep at once: each key is removed (and announced) by whichever
 * script runs first, the others find nothing due. KEYS: the five store keys, then one record per candidate.
 * ARGV: maxlen, now, then per candidate key, reversed key. Returns the number removed.
 */
export const SWEEP_SCRIPT = `${COMMON}
local now = tonumber(ARGV[2])
local removed = 0
for i = 3, #ARGV, 2 do
  local key, rkey, hkey = ARGV[i], ARGV[i + 1], KEYS[5 + (i - 1) / 2]
  local due = redis.call('ZSCORE', EXP, key)
  if due and tonumber(due) <= now then
    local f = redis.call('HMGET', hkey, 'v', 'e')
    redis.call('ZREM', EXP, key)
    if f[2] == false or (f[2] ~= '' and tonumber(f[2]) <= now) then
      -- A record that Redis already expired natively (no replica swept within the grace) has lost its value.
      unindex(hkey, key, rkey)
      local rev = redis.call('INCR', REV)
      emit(rev, rev, 'expire', key, nil, f[1] or nil, f[2] or tostring(now))
      removed = removed + 1
    end
  end
end
return removed
`;
