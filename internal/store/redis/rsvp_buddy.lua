-- rsvp_buddy.lua: GetBuddy. Reads an RSVP's buddy link with the buddy's check-out time,
-- in one consistent step. Read-only. (Prepended with rsvp_lib.lua: KEYS.)
--
-- ARGV[1]  the RSVP's ID
--
-- Returns {'ok', buddy's ID, nickname, buddy's check-out ms} (each '' without a buddy),
-- or {'nf'}.
local id = ARGV[1]
if redis.call('HEXISTS', RECORDS, id .. ':s') == 0 then
  return {'nf'}
end
local b = buddy(id)
return {'ok', b[1], b[2], b[3]}
