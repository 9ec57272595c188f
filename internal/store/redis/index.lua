-- index.lua: move one record's index entries to those of a given revision.
--
-- KEYS[1]  the membership hash, <prefix>{idx}:m:ev:<id> or <prefix>{idx}:m:cp:<id>:
--          fields rev (last revision applied), key (index key it was applied with) and
--          idx (names of the indexes holding key, one per line)
-- KEYS[2…] the index sorted sets of the new revision, <prefix>{idx}:<index name>
-- ARGV[1]  the new revision
-- ARGV[2]  the record's index key in the new revision (store.EventKey or CampaignKey)
-- ARGV[3]  the prefix of index keys, <prefix>{idx}:, to find the old sets by name
-- ARGV[4…] the index names of KEYS[2…], in the same order
--
-- Returns 1 when applied, 0 when the membership is at this revision or a newer one already.
--
-- The record was written (by create.lua or cas.lua) before this runs, in another Cluster
-- slot, so two index updates of one record can arrive in either order. Applying only a
-- newer revision makes them converge on the newest one whatever the order, and makes a
-- retry of the same revision harmless.
--
-- The old sets are not in KEYS: they are only known once the membership is read. They
-- share the {idx} hash tag with KEYS[1], so they are in the same slot, which Redis
-- (Cluster included) allows a script to access.
local cur = redis.call('HGET', KEYS[1], 'rev')
if cur and tonumber(cur) >= tonumber(ARGV[1]) then
  return 0
end
local old = redis.call('HMGET', KEYS[1], 'key', 'idx')
if old[1] and old[2] then
  for name in string.gmatch(old[2], '[^\n]+') do
    redis.call('ZREM', ARGV[3] .. name, old[1])
  end
end
local names = {}
for i = 2, #KEYS do
  redis.call('ZADD', KEYS[i], 0, ARGV[2])
  names[#names + 1] = ARGV[i + 2]
end
redis.call('HSET', KEYS[1], 'rev', ARGV[1], 'key', ARGV[2], 'idx', table.concat(names, '\n'))
return 1
