-- rsvp_cancel.lua: CancelRSVP. The RSVP gives its place (or its place in the queue) up
-- and the waitlist moves up. (Prepended with rsvp_lib.lua: KEYS.)
--
-- ARGV[1]  now, ms since 1970
-- ARGV[2]  retention, ms
-- ARGV[3]  the RSVP's ID
--
-- Allowed whatever the event's state, so that a participant can always withdraw.
-- Cancelling a cancelled RSVP changes nothing (not even update_time).
--
-- Returns reply(): 'ok'; 'nf'.
local retention, id = tonumber(ARGV[2]), ARGV[3]

local r = load(id)
if not r then
  return {'nf'}
end
if r.state == S_CANCELLED then
  return reply('ok', id)
end
if not event() then
  return {'nf'}
end
move(r, S_CANCELLED, ARGV[1])
promote(event(), ARGV[1]) -- read again: move changed the counts
expire(retention)
return reply('ok', id)
