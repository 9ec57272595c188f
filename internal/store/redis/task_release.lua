-- task_release.lua: ReleaseClaim. (Prepended with task_lib.lua: KEYS.)
--
-- ARGV[1]  now, ms since 1970
-- ARGV[2]  the claim's ID
--
-- An open claim becomes RELEASED and frees its place. A released claim is returned
-- unchanged; a completed or expired one: 'notopen'.
--
-- Returns reply(): 'ok'; 'nf', 'notopen'.
local now, id = tonumber(ARGV[1]), ARGV[2]

if not load(id) then
  return {'nf'}
end
expire_due(now)
local r = load(id)
if r.state == C_RELEASED then
  return reply('ok', id)
end
if r.state ~= C_CLAIMED then
  sync_claimed()
  return {'notopen'}
end
r.state = C_RELEASED
save(r)
redis.call('ZREM', OPEN, id)
sync_claimed()
return reply('ok', id)
