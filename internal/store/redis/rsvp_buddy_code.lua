-- rsvp_buddy_code.lua: CreateBuddyCode. Records a buddy code's hash for an RSVP,
-- replacing the RSVP's unused code. (Prepended with rsvp_lib.lua: KEYS.)
--
-- ARGV[1]  now, ms since 1970      ARGV[4]  SHA-256 of the code
-- ARGV[2]  retention, ms           ARGV[5]  the RSVP's nickname, sealed (opaque)
-- ARGV[3]  the RSVP's ID           ARGV[6]  when the code expires, ms since 1970
--
-- The code is the field %<hash> of the event's records (rsvp_lib.lua), expiring with
-- them; its own expiry is checked by rsvp_buddy_join.lua against the caller's now.
--
-- Returns {'ok'}; or {status}: 'nf', 'closed', 'cancelled', 'hasbuddy', 'exists' (a
-- live code of another RSVP has this hash: the caller draws another code).
local now, retention, id, h = tonumber(ARGV[1]), tonumber(ARGV[2]), ARGV[3], ARGV[4]

local r = load(id)
if not r then
  return {'nf'}
end
local ev = event()
if not ev then
  return {'nf'}
end
local refused = can_pair(ev, r, now)
if refused then
  return {refused}
end
local cur = code(h)
if cur and cur.id ~= id and cur.expire > now then
  return {'exists'}
end
drop_code(id)
redis.call('HSET', RECORDS, '%' .. h, id .. ':' .. ARGV[6] .. ':' .. ARGV[5], id .. ':c', h)
touch(RECORDS)
expire(retention, true, ev.end_ms)
return {'ok'}
