-- rsvp_checkin.lua: CheckInRSVP. Marks a GOING RSVP as arrived; again is a no-op.
-- (Prepended with rsvp_lib.lua: KEYS.)
--
-- ARGV[1]  now, ms since 1970
-- ARGV[2]  retention, ms
-- ARGV[3]  the RSVP's ID
--
-- An event that has ended still takes check-ins (organisers may catch up afterwards);
-- a cancelled one does not.
--
-- Returns reply(): 'ok'; 'nf', 'closed', 'notgoing'.
local retention, id = tonumber(ARGV[2]), ARGV[3]

local r = load(id)
if not r then
  return {'nf'}
end
local ev = event()
if not ev then
  return {'nf'}
end
if ev.state == EVENT_CANCELLED then
  return {'closed'}
end
if r.state ~= S_GOING then
  return {'notgoing'}
end
if r.checked == '0' then
  r.checked, r.updated = '1', ARGV[1]
  save(r)
  -- The safety counts (rsvp_lib.lua's KEYS[1]): an RSVP that checked out before it was
  -- checked in counts as checked out at once.
  redis.call('HINCRBY', EVENT, 'checked_in', 1)
  if r.out then
    redis.call('HINCRBY', EVENT, 'checked_out_in', 1)
  end
  expire(retention)
end
return reply('ok', id)
