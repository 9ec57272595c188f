-- cas.lua: compare-and-set of a record on its revision.
--
-- KEYS[1]  the record hash
-- ARGV[1]  the revision that the caller read and changed
-- ARGV[2…] field, value, field, value, ... (pb and the plain fields), without rev
--
-- Returns the new revision (ARGV[1] + 1) when written, 0 when someone wrote the record
-- since the caller read it (the caller reads again and retries), -1 when it is gone.
local rev = redis.call('HGET', KEYS[1], 'rev')
if not rev then
  return -1
end
if rev ~= ARGV[1] then
  return 0
end
local new = tonumber(rev) + 1
redis.call('HSET', KEYS[1], 'rev', new, unpack(ARGV, 2))
return new
