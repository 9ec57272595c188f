-- create.lua: store a new record, unless one exists under its key.
--
-- KEYS[1]  the record hash, <prefix>{ev:<id>} or <prefix>{cp:<id>}
-- ARGV     field, value, field, value, ... (pb and the plain fields), without rev
--
-- Returns 1 when created, 0 when the key is taken. EXISTS and HSET run in one script so
-- that two creates of the same name cannot both succeed.
if redis.call('EXISTS', KEYS[1]) == 1 then
  return 0
end
redis.call('HSET', KEYS[1], 'rev', 1, unpack(ARGV))
return 1
