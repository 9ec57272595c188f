-- rsvp_create.lua: CreateRSVP. Decides GOING or WAITLISTED and records the RSVP with all
-- its mappings, indexes and counts in one step. (Prepended with rsvp_lib.lua: KEYS.)
--
-- ARGV[1]  now, ms since 1970      ARGV[5]  guests
-- ARGV[2]  retention, ms           ARGV[6]  SHA-256 of the manage token
-- ARGV[3]  the new RSVP's ID       ARGV[7]  request key, or '' (no idempotency)
-- ARGV[4]  pb (personal fields)    ARGV[8]  sealed manage token, kept with the request key
--
-- Returns reply(): 'ok' for a new RSVP (or a resent call of this one), 'replay' for an
-- RSVP created earlier with the same request key; 'nf', 'closed', 'exists'.
local now, retention = tonumber(ARGV[1]), tonumber(ARGV[2])
local id, pb, guests, token = ARGV[3], ARGV[4], tonumber(ARGV[5]), ARGV[6]
local request, sealed = ARGV[7], ARGV[8]

-- A request key seen before: the RSVP created then, as it is now, with the token sealed
-- then, counting nothing. Checked first, so that a retry gets its answer even if the
-- event has closed since. When it names this very ID, this is the same call sent again
-- (go-redis resends a command when the connection breaks before the reply): not a
-- replay for the caller, who holds the token.
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
-- random and chosen by the caller: anything else under that ID or token is a collision
-- of random values that must not overwrite another participant's RSVP.
local t = redis.call('HGET', RECORDS, id .. ':t')
if t == token then
  return reply('ok', id, sealed)
end
if t or redis.call('HEXISTS', TOKENS, token) == 1 then
  return {'exists'}
end

local ev = event()
if not ev then
  return {'nf'}
end
if closed(ev, now) then
  return {'closed'}
end

local seq = redis.call('HINCRBY', EVENT, 'rsvp_seq', 1)
local r = {id = id, guests = guests, seq = string.format('%016x', seq), checked = '0', updated = ARGV[1]}
-- A place only if nobody waits: whoever is on the waitlist came first.
if redis.call('EXISTS', WAITLISTED) == 0 and fits(ev, party(r)) then
  r.state = S_GOING
  ev.going = ev.going + party(r)
  redis.call('HINCRBY', EVENT, 'going', party(r))
else
  r.state = S_WAITLISTED
  redis.call('HINCRBY', EVENT, 'waitlisted', party(r))
end
save(r)
redis.call('HSET', RECORDS, id, pb, id .. ':t', token)
redis.call('HSET', TOKENS, token, id)
if request ~= '' then
  redis.call('HSET', REQUESTS, request, id .. ':' .. sealed)
end
redis.call('ZADD', ALL, 0, member(r))
redis.call('ZADD', index[r.state], 0, member(r))
-- Places may be free for the waitlist if capacity grew and Rebalance has not run yet.
promote(ev, ARGV[1])
expire(retention)
return reply('ok', id, sealed)
