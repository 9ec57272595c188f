-- task_claim.lua: ClaimTask. Decides against the task's state, deadline and limit and
-- records the claim with its request key and indexes in one step. (Prepended with
-- task_lib.lua: KEYS.)
--
-- ARGV[1]  now, ms since 1970      ARGV[5]  SHA-256 of the claim token
-- ARGV[2]  retention, ms           ARGV[6]  request key, or '' (no idempotency)
-- ARGV[3]  the new claim's ID      ARGV[7]  sealed claim token, kept with the request key
-- ARGV[4]  pb (name, display_name, create_time)
--
-- Returns reply(): 'ok' for a new claim (or a resent call of this one), 'replay' for a
-- claim made earlier with the same request key; 'nf', 'closed', 'noroom', 'exists'.
local now, retention = tonumber(ARGV[1]), tonumber(ARGV[2])
local id, pb, token, request, sealed = ARGV[3], ARGV[4], ARGV[5], ARGV[6], ARGV[7]

-- A request key seen before: the claim made then, as it is now, with the token sealed
-- then, counting nothing, even if the task has closed since. When it names this very ID
-- this is the same call sent again (go-redis resends a command when the connection
-- breaks before the reply): not a replay for the caller, who holds the token.
if request ~= '' then
  local v = redis.call('HGET', REQUESTS, request)
  if v then
    local sep = string.find(v, ':', 1, true)
    local first = string.sub(v, 1, sep - 1)
    local status = 'replay'
    if first == id then
      status = 'ok'
    end
    return reply(status, first, string.sub(v, sep + 1))
  end
end
-- Without a request key a resent call is recognised by its ID and token hash, both
-- random and chosen by the caller; anything else under that ID is a collision that must
-- not overwrite another volunteer's claim.
local t = redis.call('HGET', CLAIMS, id .. ':t')
if t == token then
  return reply('ok', id, sealed)
end
if t then
  return {'exists'}
end

local task = redis.call('HMGET', TASK, 'rev', 'state', 'deadline_ms', 'max_claims', 'ttl_ms')
if not task[1] then
  return {'nf'}
end
if tonumber(task[2] or '0') == TASK_CLOSED or tonumber(task[3] or '0') <= now then
  return {'closed'}
end
expire_due(now)
local limit = tonumber(task[4] or '0')
if limit > 0 and redis.call('ZCARD', OPEN) >= limit then
  sync_claimed()
  return {'noroom'}
end
local ttl = tonumber(task[5] or '0')
if ttl <= 0 then
  ttl = DEFAULT_TTL_MS
end
local seq = redis.call('HINCRBY', TASK, 'claim_seq', 1)
local r = {id = id, state = C_CLAIMED, exp = string.format('%d', now + ttl), seq = string.format('%016x', seq)}
save(r)
redis.call('HSET', CLAIMS, id, pb, id .. ':t', token)
if request ~= '' then
  redis.call('HSET', REQUESTS, request, id .. ':' .. sealed)
end
redis.call('ZADD', OPEN, r.exp, id)
redis.call('ZADD', ALL, 0, r.seq .. '|' .. id)
sync_claimed()
expire_claims(retention)
return reply('ok', id, sealed)
