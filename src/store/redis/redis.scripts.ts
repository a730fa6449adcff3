/**
 * Lua scripts of the Redis driver. Each mutation is one script, so the record, both key indexes, the
 * expiry set, the revision counter and the change-feed entry change together or not at all, across every
 * replica. Scripts are loaded once and run by SHA (ioredis `defineCommand` falls back to EVAL after a
 * Redis restart flushed them). Every key a script touches is passed in KEYS (names from redis.keyspace.ts):
 * KEYS[1..7] are the revision counter, the key index, the reversed-key index, the expiry index, the change
 * stream, the keyspace hash and the feed's byte counter; the records follow, one per key the script handles.
 *
 * Every mutation first settles which keyspace it happens in (keyspace.ts): the one Redis holds, unless its data
 * is gone (the keyspace hash is missing: Redis restarted empty or was flushed) or Redis is behind a revision the
 * calling replica has already seen (a failover or restart lost writes). Then a new keyspace begins, with the
 * caller's candidate id, and its revisions continue above both. ARGV[1..6] are always: feed length bound
 * (WATCH_HISTORY), feed byte bound (WATCH_HISTORY_BYTES), the caller's keyspace id ('' when it knows none), the
 * highest revision it has seen in it, a candidate id for a new keyspace, and now (ms). Every reply starts with
 * the status, the keyspace id, its base and the reason it began in this call ('' when it did not).
 *
 * A record's native Redis expiry is set EXPIRY_GRACE_MS after its logical expiresAt: reads treat it as gone
 * from expiresAt on, the sweeper removes it (with its value in the `expire` event) soon after, and the
 * native expiry only frees memory if no replica swept for that long.
 *
 * Feed entry fields: t (type), k (key), v (value JSON, put), p (previous value JSON), m (time ms),
 * n (revision of the last entry of the same atomic batch, so readers never split a batch), ks (keyspace id),
 * s (the entry's size in bytes), c (the feed's byte counter after it).
 */

/** Settles the keyspace (see above); KEYS and ARGV as every store script has them. */
const KEYSPACE = `
local REV, KS = KEYS[1], KEYS[6]
local view, hw, candidate, now = ARGV[3], tonumber(ARGV[4]), ARGV[5], tonumber(ARGV[6])
local ks_id, ks_base, ks_reason = nil, 0, ''
-- feed bytes before the oldest retained entry, as last trimmed (see trim): read with the keyspace, for free
local tb = 0
-- the revision counter as this call last read or set it (REV is read once per call: see bump)
local revision = 0
do
  local f = redis.call('HMGET', KS, 'id', 'base', 'tb')
  tb = tonumber(f[3] or '0') or 0
  local rev = tonumber(redis.call('GET', REV) or '0')
  if not f[1] then
    ks_reason = (view ~= '') and 'data_lost' or 'born'
  elseif f[1] == view and rev < hw then
    ks_reason = 'regressed'
  end
  revision = rev
  if ks_reason ~= '' then
    ks_base = math.max(rev, hw)
    ks_id = candidate
    revision = ks_base
    redis.call('SET', REV, ks_base)
    redis.call('HSET', KS, 'id', ks_id, 'base', ks_base, 'reason', ks_reason, 'at', now)
  else
    ks_id, ks_base = f[1], tonumber(f[2])
  end
end
`;

/** Shared Lua helpers of the store scripts, after the keyspace is settled. */
const COMMON = `${KEYSPACE}
local IDX, RIDX, EXP, FEED, FB = KEYS[2], KEYS[3], KEYS[4], KEYS[5], KEYS[7]
local maxbytes = tonumber(ARGV[2])
-- The next revision. Scripts run alone, so the counter cannot move between commands of one call.
local function bump()
  revision = redis.call('INCR', REV)
  return revision
end
local function reply(status, ...)
  return {status, ks_id, ks_base, ks_reason, ...}
end
local function field(fields, name)
  for i = 1, #fields, 2 do if fields[i] == name then return fields[i + 1] end end
  return nil
end
-- Drops the oldest entries beyond WATCH_HISTORY_BYTES bytes, up to the newest entry (its id), which stays. The
-- WATCH_HISTORY bound is kept by XADD itself, a whole stream node at a time (MAXLEN ~): cutting entries one by one
-- out of the front node walked it on every write, a sixth of a write's cost to Redis. The stream may so hold up to a
-- node of entries beyond WATCH_HISTORY; the feed replays only the newest WATCH_HISTORY (RedisChangeFeed).
-- The keyspace hash keeps tb, the byte counter's value before the oldest entry as the last trim left it. The counter
-- only grows and entries only ever leave from the front (here or by MAXLEN), so the entries held take at most
-- total - tb bytes: while that is within the bound (the default's 10,000 small events are far below 64 MiB) no entry
-- needs reading. A tb above the newest entry's start (total - size) cannot be: the stream and its counter were lost
-- without the keyspace hash, and it is read again from the stream.
local function trim(total, newest, size)
  if total - (tb <= total - size and tb or 0) <= maxbytes then return end
  local cut, first = nil, nil
  while true do
    first = redis.call('XRANGE', FEED, cut and ('(' .. cut) or '-', '+', 'COUNT', 1)[1]
    if first == nil or first[1] == newest then break end
    local held = total - tonumber(field(first[2], 'c') or total) + tonumber(field(first[2], 's') or 0)
    if held <= maxbytes then break end
    cut = first[1]
  end
  -- Entry ids are <revision>-0: everything up to and including cut goes.
  if cut then redis.call('XTRIM', FEED, 'MINID', (tonumber(string.match(cut, '^(%d+)')) + 1) .. '-0') end
  local c, s = first and tonumber(field(first[2], 'c') or ''), first and tonumber(field(first[2], 's') or '')
  if c and s and c - s ~= tb then
    tb = c - s
    redis.call('HSET', KS, 'tb', tb)
  end
end
local function emit(rev, last, t, k, v, p, m)
  local size = 128 + #k + (v and #v or 0) + (p and #p or 0)
  local total = redis.call('INCRBY', FB, size)
  local id = rev .. '-0'
  local args = {FEED, 'MAXLEN', '~', ARGV[1], id, 't', t, 'k', k, 'm', m, 'n', last, 'ks', ks_id, 's', size, 'c', total}
  if v then table.insert(args, 'v'); table.insert(args, v) end
  if p then table.insert(args, 'p'); table.insert(args, p) end
  redis.call('XADD', unpack(args))
  trim(total, id, size)
end
local function unindex(hkey, key, rkey)
  redis.call('DEL', hkey)
  redis.call('ZREM', IDX, key)
  redis.call('ZREM', RIDX, rkey)
  redis.call('ZREM', EXP, key)
end
-- The live record of key, or nil; a logically expired one is removed first and its expiry published. Its e is nil
-- when the hash has no expiry field (only a damaged one).
local function live(hkey, key, rkey, now)
  local f = redis.call('HMGET', hkey, 'v', 'r', 'c', 'e')
  if not f[2] then return nil end
  if f[4] and f[4] ~= '' and tonumber(f[4]) <= now then
    unindex(hkey, key, rkey)
    local rev = bump()
    emit(rev, rev, 'expire', key, nil, f[1], f[4])
    return nil
  end
  return {v = f[1], r = tonumber(f[2]), c = f[3], e = f[4]}
end
-- nil when the precondition holds, else the error reply the driver turns into a domain error. Revisions are
-- "<keyspace>:<revision>" positions: one of another keyspace never matches.
local function check(kind, revisions, keys, current)
  if kind == 'absent' or kind == 'present' then
    local bad = {}
    for i = 1, #keys do
      if (current[i] ~= false) == (kind == 'absent') then table.insert(bad, keys[i]) end
    end
    if #bad > 0 then return reply(kind == 'absent' and 'exists' or 'missing', unpack(bad)) end
  elseif kind == 'revisions' then
    for i = 1, #keys do
      local cur = current[i]
      local ok = false
      if cur then
        for ks, r in string.gmatch(revisions, '([^,:]+):([^,]+)') do
          if ks == ks_id and tonumber(r) == cur.r then ok = true end
        end
      end
      if not ok then return reply('revision', keys[i], cur and tostring(cur.r) or '') end
    end
  end
  return nil
end
`;

/**
 * Writes a batch. KEYS: the seven store keys, then the record of each entry. ARGV: the six common ones, then
 * ttlMs|'', graceMs, kind|'', revisions csv, then per entry key, reversed key, value JSON.
 * Returns reply('ok', rev1, created1, createdAt1, ...) or an error reply.
 */
export const SET_SCRIPT = `${COMMON}
local ttl = ARGV[7]
local grace = tonumber(ARGV[8])
local kind = ARGV[9]
local keys, rkeys, values, current = {}, {}, {}, {}
for i = 11, #ARGV, 3 do
  table.insert(keys, ARGV[i]); table.insert(rkeys, ARGV[i + 1]); table.insert(values, ARGV[i + 2])
end
for i = 1, #keys do current[i] = live(KEYS[7 + i], keys[i], rkeys[i], now) or false end
local failed = check(kind, ARGV[10], keys, current)
if failed then return failed end
local first = revision + 1
local last = first + #keys - 1
local expiresAt = ''
if ttl ~= '' then expiresAt = tostring(now + tonumber(ttl)) end
local out = {}
local written = {}
for i = 1, #keys do
  local key = keys[i]
  local hkey = KEYS[7 + i]
  -- the record live() read (not read again), or, for a key named twice in one batch, its earlier pair; a hash
  -- without a revision (only a damaged one) is a new key here, as it is to check() and to reads
  local prev = written[key] or current[i] or {}
  local rev = bump()
  local createdAt = prev.c or tostring(now)
  redis.call('HSET', hkey, 'v', values[i], 'r', rev, 'c', createdAt, 'u', now, 'e', expiresAt)
  local added = redis.call('ZADD', IDX, 0, key)
  if expiresAt ~= '' then
    redis.call('PEXPIREAT', hkey, tonumber(expiresAt) + grace)
    redis.call('ZADD', EXP, expiresAt, key)
  elseif not written[key] and ((current[i] and current[i].e ~= '') or (not current[i] and added == 0)) then
    -- Only a record that had a TTL (or a damaged one) has an expiry to clear, or, with no live record, a key indexed
    -- before: one whose hash Redis expired natively is still in the expiry index. The expiry index only holds indexed
    -- keys, and a pair earlier in this batch has already cleared both, so a new key or a record without TTL skips two
    -- commands. (The record is what decides when there is one: it still holds the truth if the key index was lost.)
    redis.call('PERSIST', hkey)
    redis.call('ZREM', EXP, key)
  end
  redis.call('ZADD', RIDX, 0, rkeys[i])
  emit(rev, last, 'put', key, values[i], prev.v, tostring(now))
  table.insert(out, rev); table.insert(out, prev.v and 0 or 1); table.insert(out, createdAt)
  written[key] = {v = values[i], c = createdAt}
end
return reply('ok', unpack(out))
`;

/**
 * Deletes a key. KEYS: the seven store keys, then the key's record. ARGV: the six common ones, then kind|'',
 * revisions csv, key, reversed key. Returns reply('ok', value, revision, createdAt, updatedAt, expiresAt, the delete's
 * own revision) or an error reply (reply('missing', key) when absent).
 */
export const DELETE_SCRIPT = `${COMMON}
local hkey, key, rkey = KEYS[8], ARGV[9], ARGV[10]
local cur = live(hkey, key, rkey, now)
local failed = check(ARGV[7], ARGV[8], {key}, {cur or false})
if failed then return failed end
if not cur then return reply('missing', key) end
local f = redis.call('HMGET', hkey, 'u', 'e')
unindex(hkey, key, rkey)
local rev = bump()
emit(rev, rev, 'delete', key, nil, cur.v, tostring(now))
return reply('ok', cur.v, cur.r, cur.c, f[1], f[2], rev)
`;

/**
 * Removes the given keys whose expiresAt has passed, each with one `expire` event. The caller picks candidates
 * from the expiry index (ZRANGEBYSCORE) and names their records as KEYS; the script checks each again, so it is
 * idempotent and safe when several replicas sweep at once: each key is removed (and announced) by whichever
 * script runs first, the others find nothing due. KEYS: the seven store keys, then one record per candidate.
 * ARGV: the six common ones, then per candidate key, reversed key. Returns reply('ok', removed).
 */
export const SWEEP_SCRIPT = `${COMMON}
local removed = 0
for i = 7, #ARGV, 2 do
  local key, rkey, hkey = ARGV[i], ARGV[i + 1], KEYS[7 + (i - 5) / 2]
  local due = redis.call('ZSCORE', EXP, key)
  if due and tonumber(due) <= now then
    local f = redis.call('HMGET', hkey, 'v', 'e')
    redis.call('ZREM', EXP, key)
    if f[2] == false or (f[2] ~= '' and tonumber(f[2]) <= now) then
      -- A record that Redis already expired natively (no replica swept within the grace) has lost its value.
      unindex(hkey, key, rkey)
      local rev = bump()
      emit(rev, rev, 'expire', key, nil, f[1] or nil, f[2] or tostring(now))
      removed = removed + 1
    end
  end
end
return reply('ok', removed)
`;

/**
 * Settles the keyspace without writing anything else: at start, and when a replica's feed reader finds the
 * stream behind what it read, or the keyspace gone. KEYS: the seven store keys. ARGV: the six common ones.
 * Returns reply('ok', revision).
 */
export const KEYSPACE_SCRIPT = `${COMMON}
return reply('ok', revision)
`;
