-- rsvp_read.lua: reads RSVPs with their waitlist positions, in one consistent step (a
-- position is a rank in the waitlist, which a concurrent write could change between two
-- separate reads). Read-only. (Prepended with rsvp_lib.lua: KEYS.)
--
-- ARGV[1]   a token hash, to find its RSVP; or '' to read the IDs that follow
-- ARGV[2…]  RSVP IDs
--
-- Returns one element per RSVP: view() ({pb, plain record, token hash, rank}), or false
-- (a nil element) for one that does not exist. With a token hash: one element, or none
-- when no RSVP has that token.
local ids = {}
if ARGV[1] ~= '' then
  local id = redis.call('HGET', RECORDS, '#' .. ARGV[1])
  if id then
    ids[1] = id
  end
else
  for i = 2, #ARGV do
    ids[#ids + 1] = ARGV[i]
  end
end
local out = {}
for i, id in ipairs(ids) do
  out[i] = view(id) or false
end
return out
