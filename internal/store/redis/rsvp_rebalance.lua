-- rsvp_rebalance.lua: Rebalance, run after every event update. Promotes the waitlist
-- (the capacity may have grown) and moves the deletion time of the event's RSVPs to its
-- (possibly moved) end plus the retention. (Prepended with rsvp_lib.lua: KEYS.)
--
-- ARGV[1]  now, ms since 1970
-- ARGV[2]  retention, ms
--
-- Returns {'ok'} or {'nf'}.
local ev = event()
if not ev then
  return {'nf'}
end
promote(ev, ARGV[1])
expire(tonumber(ARGV[2]))
return {'ok'}
