-- task_end.lua: CompleteClaim and ReleaseClaim. (Prepended with task_lib.lua: KEYS.)
--
-- ARGV[1]  now, ms since 1970
-- ARGV[2]  retention, ms
-- ARGV[3]  the claim's ID
-- ARGV[4]  the state to end the claim in: C_COMPLETED or C_RELEASED
-- ARGV[5]  proof URL, or '' (completion only)
-- ARGV[6]  note, or '' (completion only)
-- ARGV[7]  completion envelope (pb), or '' (completion only)
--
-- An open claim takes the new state and frees its place; a completion also counts once
-- in the task's completed field. A claim already in that state is returned unchanged (a
-- retry, or this script run again, counts nothing); any other closed claim: 'notopen'.
-- Completing is allowed after the task closed: the work was done while the claim was open.
--
-- Returns reply(): 'ok'; 'nf', 'notopen'.
local now, retention = tonumber(ARGV[1]), tonumber(ARGV[2])
local id, target, proof, note, sealed = ARGV[3], tonumber(ARGV[4]), ARGV[5], ARGV[6], ARGV[7]

if not load(id) then
  return {'nf'}
end
expire_due(now)
local r = load(id)
if r.state == target then
  return reply('ok', id)
end
if r.state ~= C_CLAIMED then
  sync_claimed()
  return {'notopen'}
end
r.state = target
save(r)
redis.call('ZREM', OPEN, id)
if target == C_COMPLETED then
  redis.call('HSET', CLAIMS, id .. ':p', proof, id .. ':n', note, id .. ':e', sealed)
  if task_exists() then
    redis.call('HINCRBY', TASK, 'completed', 1)
  end
end
sync_claimed()
expire_claims(retention)
return reply('ok', id)
