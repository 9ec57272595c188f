-- task_complete.lua: CompleteClaim. (Prepended with task_lib.lua: KEYS.)
--
-- ARGV[1]  now, ms since 1970
-- ARGV[2]  the claim's ID
-- ARGV[3]  proof URL, or ''
-- ARGV[4]  note, or ''
--
-- An open claim becomes COMPLETED and counts once in the task's completed field. A
-- completed claim is returned unchanged (a retry, or this script run again, counts
-- nothing); a released or expired one: 'notopen'. Allowed after the task closed: the
-- work was done while the claim was open.
--
-- Returns reply(): 'ok'; 'nf', 'notopen'.
local now, id, proof, note = tonumber(ARGV[1]), ARGV[2], ARGV[3], ARGV[4]

if not load(id) then
  return {'nf'}
end
expire_due(now)
local r = load(id)
if r.state == C_COMPLETED then
  return reply('ok', id)
end
if r.state ~= C_CLAIMED then
  sync_claimed()
  return {'notopen'}
end
r.state = C_COMPLETED
save(r)
redis.call('HSET', CLAIMS, id .. ':p', proof, id .. ':n', note)
redis.call('ZREM', OPEN, id)
if task_exists() then
  redis.call('HINCRBY', TASK, 'completed', 1)
end
sync_claimed()
return reply('ok', id)
