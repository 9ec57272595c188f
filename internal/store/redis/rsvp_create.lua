-- rsvp_create.lua: CreateRSVP. Decides GOING or WAITLISTED and records the RSVP with all
-- its mappings, indexes and counts in one step, and with it the change for the event's
-- watchers. (A function of the library that rsvp_library.go builds, with rsvp_lib.lua
-- and the broker's publish library: KEYS.)
--
-- ARGV[1]  now, ms since 1970      ARGV[5]  guests
-- ARGV[2]  retention, ms           ARGV[6]  SHA-256 of the manage token
-- ARGV[3]  the new RSVP's ID       ARGV[7]  request key, or '' (no idempotency)
-- ARGV[4]  pb (personal fields)    ARGV[8]  sealed manage token, kept with the request key
-- KEYS[7], ARGV[OWN_ARGS+1…]  the change to append to the event's organisers' topic
--                    (publish_change, pubsub/redis's InScript), or nothing when the
--                    caller publishes it itself
--
-- Returns reply() and the event's campaign: 'ok' for a new RSVP (or a resent call of
-- this one), 'replay' for an RSVP created earlier with the same request key; 'nf',
-- 'closed', 'toolarge', 'exists'.
--
-- This is the hot path of a rush to an event, so it reads with two HMGETs and writes
-- with one command per key.
local OWN_ARGS = 8 -- ARGV[1] to ARGV[8]: rsvp.go's createArgc
local now, retention = tonumber(ARGV[1]), tonumber(ARGV[2])
local id, pb, guests, token = ARGV[3], ARGV[4], tonumber(ARGV[5]), ARGV[6]
local request, sealed = ARGV[7], ARGV[8]

-- with_campaign adds the event's campaign to a reply, for the caller's change to it:
-- false when the event was stored without the field (by an older Rally), and rsvp.go
-- reads the event instead.
local function with_campaign(out, campaign)
  out[#out + 1] = campaign or redis.call('HGET', EVENT, 'campaign') or false
  return out
end

-- What the records already hold under the request key, the token and the ID.
-- seen[3], the request key's entry, only with a request key: a field that is not there
-- costs a search of the whole hash while it is small (a listpack).
local seen
if request ~= '' then
  seen = redis.call('HMGET', RECORDS, '#' .. token, id .. ':t', '?' .. request)
else
  seen = redis.call('HMGET', RECORDS, '#' .. token, id .. ':t')
end

-- A request key seen before: the RSVP created then, as it is now, with the token sealed
-- then, counting nothing. Checked first, so that a retry gets its answer even if the
-- event has closed since. When it names this very ID, this is the same call sent again
-- (go-redis resends a command when the connection breaks before the reply): not a
-- replay for the caller, who holds the token.
if seen[3] then
  local v = seen[3]
  local sep = string.find(v, ':', 1, true)
  local first = string.sub(v, 1, sep - 1)
  local status = 'replay'
  if first == id then
    status = 'ok'
  end
  return with_campaign(reply(status, first, string.sub(v, sep + 1)))
end
-- Without a request key a resent call is recognised by its ID and token hash, both
-- random and chosen by the caller: anything else under that ID or token is a collision
-- of random values that must not overwrite another participant's RSVP.
if seen[2] == token then
  return with_campaign(reply('ok', id, sealed))
end
if seen[1] or seen[2] then
  return {'exists'}
end

local ev = event()
if not ev then
  return {'nf'}
end
if closed(ev, now) then
  return {'closed'}
end
local r = {id = id, guests = guests, seq = string.format('%016x', ev.seq + 1), checked = '0', updated = ARGV[1]}
local size = party(r)
-- With a first come, first served waitlist a party larger than the whole capacity could
-- never be promoted, and would block everyone behind it.
if ev.capacity > 0 and size > ev.capacity then
  return {'toolarge'}
end

-- A place only if nobody waits: whoever is on the waitlist came first.
if ev.waitlisted == 0 and fits(ev, size) then
  r.state = S_GOING
  ev.going = ev.going + size
  redis.call('HSET', EVENT, 'rsvp_seq', ev.seq + 1, 'going', ev.going)
else
  r.state = S_WAITLISTED
  ev.waitlisted = ev.waitlisted + size
  redis.call('HSET', EVENT, 'rsvp_seq', ev.seq + 1, 'waitlisted', ev.waitlisted)
end
local fields = {
  id, pb,
  id .. ':s', string.format('%d:%d:%s:%s:%s', r.state, r.guests, r.seq, r.checked, r.updated),
  id .. ':t', token,
  '#' .. token, id,
}
if request ~= '' then
  fields[#fields + 1] = '?' .. request
  fields[#fields + 1] = id .. ':' .. sealed
  -- So that rsvp_delete.lua finds the request key's entry from the RSVP.
  fields[#fields + 1] = id .. ':q'
  fields[#fields + 1] = request
end
redis.call('HSET', RECORDS, unpack(fields))
redis.call('ZADD', ALL, 0, member(r))
redis.call('ZADD', index[r.state], 0, member(r))
touch(RECORDS)
touch(ALL)
touch(index[r.state])
-- Places may be free for the waitlist if capacity grew and Rebalance has not run yet;
-- only a waitlist with a free place can move.
if r.state == S_WAITLISTED and (ev.capacity == 0 or ev.going < ev.capacity) then
  promote(ev, ARGV[1])
end
expire(retention, true, ev.end_ms)
if KEYS[7] then
  publish_change(KEYS[7], OWN_ARGS + 1)
end
-- A new GOING RSVP is exactly what was written; a waitlisted one needs its rank.
local out
if r.state == S_GOING then
  out = {'ok', pb, fields[4], token, -1, sealed}
else
  out = reply('ok', id, sealed)
end
return with_campaign(out, ev.campaign)
