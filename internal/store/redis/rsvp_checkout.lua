-- rsvp_checkout.lua: CheckOutRSVP. Records that the holder is home safe; again changes
-- nothing. (Prepended with rsvp_lib.lua: KEYS.)
--
-- ARGV[1]  now, ms since 1970
-- ARGV[2]  retention, ms
-- ARGV[3]  the RSVP's ID
--
-- Allowed from the event's start on, whatever the event's and the RSVP's state: being
-- home safe is worth knowing after a cancellation too. An event stored without start_ms
-- (by an older Rally) counts as started.
--
-- Returns reply(), then 1 for the first check-out (0 for a repeat), then the buddy link
-- as rsvp_buddy.lua returns it: 'ok'; 'nf', 'notstarted'.
local now, retention, id = tonumber(ARGV[1]), tonumber(ARGV[2]), ARGV[3]

local r = load(id)
if not r then
  return {'nf'}
end
local ev = event()
if not ev then
  return {'nf'}
end
local first = 0
if not r.out then
  if ev.start_ms and now < ev.start_ms then
    return {'notstarted'}
  end
  r.out, r.updated = ARGV[1], ARGV[1]
  save(r)
  if r.checked == '1' then
    redis.call('HINCRBY', EVENT, 'checked_out_in', 1)
  end
  expire(retention, true, ev.end_ms)
  first = 1
end
local out = reply('ok', id)
local b = buddy(id)
out[#out + 1] = first
out[#out + 1] = b[1]
out[#out + 1] = b[2]
out[#out + 1] = b[3]
return out
