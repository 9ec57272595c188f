-- task_lib.lua: what the claim scripts share. task.go prepends it to each of them
-- (task_claim, task_end), so that the record format and the expiry
-- rule are written once.
--
-- Every claim script gets the same KEYS, in this order (taskKeys in task.go). They all
-- carry the task's hash tag {tk:<id>}, so a script touches one Cluster slot:
--
-- KEYS[1]  <prefix>{tk:<id>}             the task HASH: state, deadline_ms, max_claims,
--                                        ttl_ms (written by create.lua/cas.lua from
--                                        taskKind.fields); claim_seq, claimed, completed
--                                        (written here)
-- KEYS[2]  <prefix>{tk:<id>}:claim       HASH, per claim: <cid> = pb (name, display_name,
--                                        create_time), <cid>:s = plain record, <cid>:t =
--                                        SHA-256 of the claim token, <cid>:p = proof URL,
--                                        <cid>:n = note, <cid>:e = completion envelope
--                                        (pb of an Envelope sealing the proof and note)
-- KEYS[3]  <prefix>{tk:<id>}:claim:req   HASH request key -> <cid>:<sealed token>
-- KEYS[4]  <prefix>{tk:<id>}:claim:open  ZSET the CLAIMED claims (member <cid>), scored
--                                        by expire time in ms
-- KEYS[5]  <prefix>{tk:<id>}:claim:all   ZSET, score 0: every claim by store.ClaimKey
--                                        (arrival number in 16 hex digits, '|', ID)
--
-- The plain record <cid>:s is "state:expire_ms:seq", with state the ClaimState number
-- and seq the 16 hex digits of the index key: what the scripts decide on, so that they
-- never decode protobuf.
--
-- Keys 2 to 5 hold participants' data (pseudonyms, proofs, notes, token hashes) and
-- expire together at store.ClaimsDeleteAt: the deadline plus the claim TTL plus the
-- retention (ARGV[2] of every claim script; PEXPIREAT by every write, and by
-- task_expire.lua after every task update, which may move the deadline). The counts in
-- KEYS[1] stay.
--
-- Expiry is lazy: a claim whose expire time is at or before now is due. Every write
-- first marks the due claims EXPIRED and takes them out of KEYS[4], so that afterwards
-- ZCARD of KEYS[4] is the number of claims open at now. The task's claimed field is that
-- number as of the last write (reads at a given time count ZCOUNT (now, +inf) instead).

local TASK, CLAIMS, REQUESTS, OPEN, ALL = KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5]

-- ClaimState and TaskState numbers (proto/rally/v1).
local C_CLAIMED, C_COMPLETED, C_RELEASED, C_EXPIRED = 1, 2, 3, 4
local TASK_CLOSED = 2
-- store.DefaultClaimTTL, for a task written without ttl_ms.
local DEFAULT_TTL_MS = 48 * 3600 * 1000

-- parse decodes a plain record.
local function parse(id, v)
  local state, exp, seq = string.match(v, '^(%d+):(%-?%d+):(%x+)$')
  if not state then
    error('rally: malformed claim record ' .. id)
  end
  return {id = id, state = tonumber(state), exp = exp, seq = seq}
end

-- load returns the plain record of claim id, or nil.
local function load(id)
  local v = redis.call('HGET', CLAIMS, id .. ':s')
  if not v then
    return nil
  end
  return parse(id, v)
end

-- save writes the plain record of r.
local function save(r)
  redis.call('HSET', CLAIMS, r.id .. ':s', string.format('%d:%s:%s', r.state, r.exp, r.seq))
end

-- expire_claims makes keys 2 to 5 expire at the deadline plus the claim TTL plus the
-- retention (ms). A time in the past deletes them now.
local function expire_claims(retention)
  local v = redis.call('HMGET', TASK, 'deadline_ms', 'ttl_ms')
  if not v[1] then
    return
  end
  local at = tonumber(v[1]) + tonumber(v[2] or DEFAULT_TTL_MS) + retention
  for i = 2, 5 do
    redis.call('PEXPIREAT', KEYS[i], at)
  end
end

-- task_exists: the task record is there (rev is set by every task write). Claim
-- scripts never create it: a hash without rev would make the name look taken.
local function task_exists()
  return redis.call('HEXISTS', TASK, 'rev') == 1
end

-- expire_due marks the claims due at now EXPIRED and drops them from the open set.
local function expire_due(now)
  local due = redis.call('ZRANGEBYSCORE', OPEN, '-inf', now)
  for _, id in ipairs(due) do
    local r = load(id)
    if r and r.state == C_CLAIMED then
      r.state = C_EXPIRED
      save(r)
    end
  end
  if #due > 0 then
    redis.call('ZREMRANGEBYSCORE', OPEN, '-inf', now)
  end
end

-- sync_claimed copies the number of open claims into the task, for UpdateTask's reads.
local function sync_claimed()
  if task_exists() then
    redis.call('HSET', TASK, 'claimed', redis.call('ZCARD', OPEN))
  end
end

-- view returns what Go needs to build claim id: {pb, plain record, token hash, proof
-- URL, note}, or nil when it does not exist.
local function view(id)
  local v = redis.call('HMGET', CLAIMS, id, id .. ':s', id .. ':t', id .. ':p', id .. ':n', id .. ':e')
  if not v[1] or not v[2] then
    return nil
  end
  return {v[1], v[2], v[3] or '', v[4] or '', v[5] or '', v[6] or ''}
end

-- reply is the answer of every write script: {status, pb, plain record, token hash,
-- proof URL, note, completion envelope, sealed token}. status is 'ok', or 'replay' (ClaimTask of a used
-- request key), or an error code that task.go maps to a store error: 'nf' (no such task
-- or claim), 'closed', 'noroom', 'notopen', 'exists'.
local function reply(status, id, sealed)
  local v = id and view(id)
  if not v then
    return {status}
  end
  return {status, v[1], v[2], v[3], v[4], v[5], v[6], sealed or ''}
end
