-- rsvp_update.lua: UpdateRSVP. Changes the personal fields and the number of guests,
-- keeping the counts and the waitlist in step. (Prepended with rsvp_lib.lua: KEYS.)
--
-- ARGV[1]  now, ms since 1970
-- ARGV[2]  retention, ms
-- ARGV[3]  the RSVP's ID
-- ARGV[4]  the new number of guests, or '' to leave it
-- ARGV[5]  the record <rid> as the caller read it, or '' to leave the personal fields
-- ARGV[6]  the new record
--
-- The personal fields live in pb, in the record (rsvp_lib.lua's key table), which Lua
-- does not decode, so Go changes them between its read and this script: compare-and-set
-- on the record's bytes. If the record changed meanwhile (a concurrent update), nothing
-- is written and the caller reads again ('retry'). The guests and everything capacity
-- depends on are decided here, from the current state.
--
-- Returns reply(): 'ok'; 'nf', 'closed' (event cancelled or over, or RSVP cancelled),
-- 'noroom' (a GOING RSVP would grow beyond the free places), 'retry'.
local now, retention, id = tonumber(ARGV[1]), tonumber(ARGV[2]), ARGV[3]

local r = load(id)
if not r then
  return {'nf'}
end
local ev = event()
if not ev then
  return {'nf'}
end
if closed(ev, now) or r.state == S_CANCELLED then
  return {'closed'}
end

-- Every check comes before the first write, so a refusal changes nothing.
local delta = 0
if ARGV[4] ~= '' then
  delta = tonumber(ARGV[4]) - r.guests
  -- Growing takes free places; it never goes beyond capacity, whoever waits.
  if r.state == S_GOING and delta > 0 and not fits(ev, delta) then
    return {'noroom'}
  end
end
if ARGV[5] ~= '' then
  if redis.call('HGET', RECORDS, id) ~= ARGV[5] then
    return {'retry'}
  end
  redis.call('HSET', RECORDS, id, ARGV[6])
end

if delta ~= 0 then
  if r.state == S_GOING then
    redis.call('HINCRBY', EVENT, 'going', delta)
    ev.going = ev.going + delta
  else
    -- A waitlisted RSVP keeps its position (its index key is its arrival) with its new
    -- size; promote below gives it a place if it now fits at the head.
    redis.call('HINCRBY', EVENT, 'waitlisted', delta)
  end
  r.guests = r.guests + delta
end
r.updated = ARGV[1]
save(r)
promote(ev, ARGV[1])
expire(retention)
return reply('ok', id)
