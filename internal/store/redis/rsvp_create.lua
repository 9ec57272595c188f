-- rsvp_create.lua: CreateRSVP. Decides GOING or WAITLISTED and records the RSVP with all
-- its mappings, indexes and counts in one step, and with it the change for the event's
-- watchers. (A function of the library that rsvp_library.go builds, with rsvp_lib.lua
-- and the broker's publish library: KEYS.)
--
-- ARGV[1]  now, ms since 1970      ARGV[5]  guests
-- ARGV[2]  retention, ms           ARGV[6]  SHA-256 of the manage token
-- ARGV[3]  the new RSVP's ID       ARGV[7]  request key, or '' (no idempotency)
-- ARGV[4]  the record <rid>: the   ARGV[8]  sealed manage token, kept with the request key
--          token's hash and pb (rsvp_lib.lua's key table)
-- KEYS[7], ARGV[OWN_ARGS+1…]  the change to append to the event's organisers' topic
--                    (publish_change, pubsub/redis's InScript), or nothing when the
--                    caller publishes it itself
--
-- Returns {'created', plain record, 0-based waitlist rank or -1} for this call's RSVP,
-- new or written by an earlier run of the same call: the caller holds the rest (the
-- record, the sealed token), which are what it passed. reply() with 'replay' for
-- an RSVP created earlier with the same request key; 'nf', 'closed', 'toolarge', 'exists'.
--
-- This is the hot path of a rush to an event (issue 19: Redis's CPU per create), so it
-- reads with two HMGETs and writes with one command per key, builds no tables it can do
-- without, and answers from what it wrote rather than reading the RSVP back, and with
-- only what the caller cannot know.
local OWN_ARGS = 8 -- ARGV[1] to ARGV[8]: rsvp.go's createArgc
local now, retention = ARGV[1], tonumber(ARGV[2])
local id, rec, guests, token = ARGV[3], ARGV[4], tonumber(ARGV[5]), ARGV[6]
local request, sealed = ARGV[7], ARGV[8]

-- What the records already hold under the token and the ID (its record) and the
-- request key, and the expiry last set on the records and the GOING and WAITLISTED
-- indexes (rsvp_lib.lua's expire). seen[6], the request key's entry, only with a request
-- key: a field that is not there costs a search of the whole hash while it is small (a
-- listpack).
local seen
if request ~= '' then
  seen = redis.call('HMGET', RECORDS, '#' .. token, id, '!2', '!4', '!5', '?' .. request)
else
  seen = redis.call('HMGET', RECORDS, '#' .. token, id, '!2', '!4', '!5')
end

-- A request key seen before: the RSVP created then, as it is now, with the token sealed
-- then, counting nothing. Checked first, so that a retry gets its answer even if the
-- event has closed since. When it names this very ID, this is the same call sent again
-- (go-redis resends a command when the connection breaks before the reply): not a
-- replay for the caller, who holds the token.
if seen[6] then
  local v = seen[6]
  local sep = string.find(v, ':', 1, true)
  local first = string.sub(v, 1, sep - 1)
  if first == id then
    return created(id)
  end
  return reply('replay', first, string.sub(v, sep + 1))
end
-- Without a request key a resent call is recognised by its ID and token hash, both
-- random and chosen by the caller: anything else under that ID or token is a collision
-- of random values that must not overwrite another participant's RSVP.
if seen[2] then
  local _, held = record(id, seen[2])
  if held == token then
    return created(id)
  end
  return {'exists'}
end
if seen[1] then
  return {'exists'}
end

-- The event's fields, as event() reads them but without start_ms, which a create does
-- not need, and without a table: rev (set by every event write: none, no event),
-- state, capacity, end_ms, going, waitlisted, rsvp_seq.
local e = redis.call('HMGET', EVENT, 'rev', 'state', 'capacity', 'end_ms', 'going',
  'waitlisted', 'rsvp_seq')
if not e[1] then
  return {'nf'}
end
local capacity, end_ms = tonumber(e[3] or '0'), tonumber(e[4] or '0')
if tonumber(e[2]) == EVENT_CANCELLED or end_ms <= tonumber(now) then -- closed()
  return {'closed'}
end
local going, waitlisted, seq = tonumber(e[5] or '0'), tonumber(e[6] or '0'), tonumber(e[7] or '0') + 1
local size = 1 + guests -- party()
-- With a first come, first served waitlist a party larger than the whole capacity could
-- never be promoted, and would block everyone behind it.
if capacity > 0 and size > capacity then
  return {'toolarge'}
end

-- A place only if nobody waits: whoever is on the waitlist came first.
local state
if waitlisted == 0 and (capacity == 0 or going + size <= capacity) then -- fits()
  state = S_GOING
  going = going + size
  redis.call('HSET', EVENT, 'rsvp_seq', seq, 'going', going)
else
  state = S_WAITLISTED
  waitlisted = waitlisted + size
  redis.call('HSET', EVENT, 'rsvp_seq', seq, 'waitlisted', waitlisted)
end
-- The plain record, as save() writes it, and the index entry, as member() makes it.
local hex = string.format('%016x', seq)
local plain = state .. ':' .. guests .. ':' .. hex .. ':0:' .. now
local m = hex .. '|' .. id
-- The expiry (rsvp_lib.lua's expire): a PEXPIREAT of the records and of the index only
-- where the field kept with the records does not prove it set already. Both are already
-- right for all but an event's first RSVPs, the first after its end moved, and the first
-- in a state index after something left it.
local at = end_ms + retention
local records_set = tonumber(seen[3]) == at
local index_set = records_set and tonumber(seen[3 + state]) == at -- '!4', '!5'
local f, n = {id, rec, id .. ':s', plain, '#' .. token, id}, 6
if request ~= '' then
  -- <rid>:q so that rsvp_delete.lua finds the request key's entry from the RSVP.
  f[7], f[8], f[9], f[10], n = '?' .. request, id .. ':' .. sealed, id .. ':q', request, 10
end
if not records_set then
  f[n + 1], f[n + 2], n = '!2', at, n + 2
end
if not index_set then
  f[n + 1], f[n + 2] = EXPIRY_OF[state], at
end
redis.call('HSET', RECORDS, unpack(f))
-- No entry in rsvp:all (KEYS[3]): ListRSVPs of every state merges the three state
-- indexes, which saves this hot path a ZADD and a PEXPIREAT.
redis.call('ZADD', index[state], 0, m)
-- Places may be free for the waitlist if capacity grew and Rebalance has not run yet;
-- only a waitlist with a free place can move.
local promoted = false
if state == S_WAITLISTED and (capacity == 0 or going < capacity) then
  promote({capacity = capacity, going = going}, now)
  promoted = true
end
if promoted then
  touch(RECORDS)
  touch(index[state])
  expire(retention, true, end_ms) -- and whatever promote wrote
else
  if not records_set then
    redis.call('PEXPIREAT', RECORDS, at)
  end
  if not index_set then
    redis.call('PEXPIREAT', index[state], at)
  end
end
if KEYS[7] then
  publish_change(KEYS[7], OWN_ARGS + 1)
end
-- The answer is what was written (created() would read it back): a new GOING RSVP has
-- no rank, a new waitlisted one only needs its rank, unless the waitlist moved, which
-- may have promoted it.
if state == S_GOING then
  return {'created', plain, -1}
elseif not promoted then
  return {'created', plain, redis.call('ZRANK', WAITLISTED, m)}
end
return created(id)
