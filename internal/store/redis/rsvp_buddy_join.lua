-- rsvp_buddy_join.lua: JoinBuddy. Pairs an RSVP with the holder of a buddy code and uses
-- the code up, in one step: of two replicas racing with one code, one finds it and the
-- other finds it gone. (Prepended with rsvp_lib.lua: KEYS.)
--
-- ARGV[1]  now, ms since 1970      ARGV[4]  SHA-256 of the code
-- ARGV[2]  retention, ms           ARGV[5]  the joining RSVP's nickname, sealed: what
-- ARGV[3]  the joining RSVP's ID            the code's holder will see
--
-- Every check comes before the first write, so a refusal changes nothing (an expired
-- code stays until replaced or deleted with its RSVP's data).
--
-- Returns {'ok', buddy's ID, buddy's nickname as the joiner sees it, buddy's check-out
-- ms or ''}; or {status}: 'nf', 'closed', 'cancelled', 'hasbuddy', 'code' (unknown,
-- expired or used code, or one whose RSVP was cancelled or deleted), 'self'.
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
local c = code(h)
if not c or c.expire <= now then
  return {'code'}
end
if c.id == id then
  return {'self'}
end
local other = load(c.id)
if not other or other.state == S_CANCELLED then
  -- The code's holder withdrew: the code is dead. Saying so would tell the joiner
  -- about someone else's RSVP.
  return {'code'}
end
if redis.call('HEXISTS', RECORDS, c.id .. ':b') == 1 then
  return {'hasbuddy'}
end
-- Used up; and the joiner's own code, if any, goes too: each has its buddy now.
drop_code(c.id)
drop_code(id)
redis.call('HSET', RECORDS, c.id .. ':b', id .. ':' .. ARGV[5], id .. ':b', c.id .. ':' .. c.nickname)
touch(RECORDS)
expire(retention, true, ev.end_ms)
return {'ok', c.id, c.nickname, other.out or ''}
