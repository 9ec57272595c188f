-- rsvp_lib.lua: what the RSVP scripts share. rsvp_library.go builds one Redis Functions
-- library (FUNCTION LOAD, run with FCALL) of this file, the change broker's publish library and
-- every RSVP script (rsvp_create, rsvp_update, rsvp_cancel, rsvp_checkin, rsvp_rebalance,
-- rsvp_read, and issue 17's rsvp_buddy_code, rsvp_buddy_join, rsvp_buddy, rsvp_checkout,
-- rsvp_delete), each script the body of one function, so that the waitlist rule, the
-- record format and the deletion time are written once, and the helpers below are
-- defined once when the library loads rather than again on every call, as EVALSHA of a
-- script with this file prepended did (issue 19: that, and the garbage it left for
-- Lua's collector, cost about 3 µs of Redis CPU per call; docs/performance.md).
--
-- Every RSVP script gets the same KEYS, in this order (rsvpKeys in rsvp.go). They all
-- carry the event's hash tag {ev:<id>}, so a script touches one Cluster slot:
--
-- KEYS[1]  <prefix>{ev:<id>}                 the event HASH: state, capacity, start_ms,
--                                            end_ms, campaign (written by
--                                            create.lua/cas.lua); rsvp_seq, going,
--                                            waitlisted, checked_in (RSVPs checked in),
--                                            checked_out_in (of those, the ones checked
--                                            out) (written here)
-- KEYS[2]  <prefix>{ev:<id>}:rsvp            HASH, per RSVP: <rid> = the record: a zero
--                                            byte, the SHA-256 of the manage token (32
--                                            bytes), pb (name, display_name, contact,
--                                            create_time); <rid>:s = plain record;
--                                            <rid>:t = the token's SHA-256 in RSVPs
--                                            stored before the record held it (issue
--                                            19: a field less per RSVP), whose <rid> is
--                                            pb alone (record() reads both);
--                                            <rid>:q = its create's request key (for
--                                            rsvp_delete; absent without one, and in
--                                            RSVPs stored before issue 17),
--                                            <rid>:c = SHA-256 of its unused buddy code,
--                                            <rid>:b = <buddy's rid>:<buddy's nickname,
--                                            sealed by the server, as <rid>'s holder
--                                            sees it>;
--                                            #<token hash> = <rid>; ?<request key> =
--                                            <rid>:<sealed token>; %<code hash> =
--                                            <rid>:<expiry ms>:<sealed nickname of <rid>>;
--                                            !2, !4, !5, !6 = the expiry (ms) last set
--                                            on KEYS[2], [4], [5], [6], or '' (expire)
-- KEYS[3]  <prefix>{ev:<id>}:rsvp:all        ZSET, score 0: every RSVP, by index key, as
--                                            Rally wrote it until issue 19: no longer
--                                            written (a ZADD and a PEXPIREAT less per
--                                            create; ListRSVPs of all states merges the
--                                            three below), only cleaned by rsvp_delete
--                                            and expired with the rest
-- KEYS[4]  <prefix>{ev:<id>}:rsvp:going      ZSET, score 0: the GOING ones
-- KEYS[5]  <prefix>{ev:<id>}:rsvp:waitlisted ZSET, score 0: the waitlist, in order
-- KEYS[6]  <prefix>{ev:<id>}:rsvp:cancelled  ZSET, score 0: the CANCELLED ones
--
-- RSVP IDs are [a-z0-9], so the '#', '?', '%' and '!' fields never meet a record's. A buddy
-- code lives in its event's hash, so a code of another event is simply not found; only
-- its hash is stored, never the code, and nicknames arrive sealed (opaque bytes here). Keeping the
-- token and request maps in the records' hash lets a create check the request key, the
-- token and the ID with one HMGET and write them all with one HSET.
--
-- An index key is store.RSVPKey: the arrival number in 16 hex digits, '|', the ID, so
-- that byte order (ZRANGE BYLEX, and rank, as every score is 0) is arrival order.
--
-- The plain record <rid>:s is "state:guests:seq:checked_in:update_ms", followed by
-- ":check_out_ms" once the RSVP checked out (CheckOutRSVP), with state the RsvpState
-- number and seq the 16 hex digits of the index key: what the scripts decide on, so
-- that they never decode protobuf. pb holds the personal fields, which no script reads.
--
-- Keys 2 to 6 hold participants' data and expire together at the event's end_ms plus
-- the retention (PEXPIREAT by every write on the keys it writes, and on all of them by
-- Rebalance, which runs after every event update). Sharing one expiry time matters: a
-- script sees time frozen at its start, so it finds either all of them or none, never
-- half an event's RSVPs. The counts in KEYS[1] stay: attendance outlives the RSVPs.

-- RsvpState and EventState numbers (proto/rally/v1).
local S_GOING, S_WAITLISTED, S_CANCELLED = 1, 2, 3
local EVENT_CANCELLED = 2

-- The call's KEYS and ARGV and the names above, set by begin, which every function
-- runs first. Redis runs one function at a time, so library-wide variables are the
-- call's own from begin to the end of the call.
local KEYS, ARGV
local EVENT, RECORDS, ALL, GOING, WAITLISTED, CANCELLED
-- index[state] is the index sorted set of the RSVPs in that state.
local index = {}
-- touched holds the data keys this call wrote, for expire.
local touched = {}

local function begin(keys, argv)
  KEYS, ARGV = keys, argv
  EVENT, RECORDS, ALL = keys[1], keys[2], keys[3]
  GOING, WAITLISTED, CANCELLED = keys[4], keys[5], keys[6]
  index[S_GOING], index[S_WAITLISTED], index[S_CANCELLED] = GOING, WAITLISTED, CANCELLED
  touched = {}
end

local function touch(key)
  touched[key] = true
end

-- event returns the plain fields of the event, or nil when it does not exist. rev is
-- set by every event write, so a missing rev means no event.
local function event()
  local v = redis.call('HMGET', EVENT, 'rev', 'state', 'capacity', 'end_ms', 'going',
    'waitlisted', 'rsvp_seq', 'start_ms')
  if not v[1] then
    return nil
  end
  return {
    state = tonumber(v[2]),
    capacity = tonumber(v[3] or '0'),
    end_ms = tonumber(v[4] or '0'),
    going = tonumber(v[5] or '0'),
    waitlisted = tonumber(v[6] or '0'),
    seq = tonumber(v[7] or '0'),
    start_ms = tonumber(v[8]), -- nil in an event stored before the field was: started
  }
end

-- closed: the event takes no RSVP changes, being cancelled or over.
local function closed(ev, now)
  return ev.state == EVENT_CANCELLED or ev.end_ms <= now
end

-- parse decodes a plain record.
local function parse(id, v)
  local state, guests, seq, checked, updated, out =
    string.match(v, '^(%d+):(%d+):(%x+):([01]):(%-?%d+):(%-?%d+)$')
  if not state then
    state, guests, seq, checked, updated =
      string.match(v, '^(%d+):(%d+):(%x+):([01]):(%-?%d+)$')
  end
  if not state then
    error('rally: malformed RSVP record ' .. id)
  end
  return {
    id = id,
    state = tonumber(state),
    guests = tonumber(guests),
    seq = seq,
    checked = checked,
    updated = updated, -- kept as the string it came as: no arithmetic, no rounding
    out = out, -- check-out time, a string like updated; nil until checked out
  }
end

-- load returns the plain record of RSVP id, or nil.
local function load(id)
  local v = redis.call('HGET', RECORDS, id .. ':s')
  if not v then
    return nil
  end
  return parse(id, v)
end

-- EXPIRY[i] is the field of the records' hash that holds the expiry time (ms) last set
-- on KEYS[i], while it holds, and EXPIRY_OF[state] that of the state's index: see
-- expire.
local EXPIRY = {[2] = '!2', [4] = '!4', [5] = '!5', [6] = '!6'}
local EXPIRY_OF = {[S_GOING] = '!4', [S_WAITLISTED] = '!5', [S_CANCELLED] = '!6'}

-- save writes the plain record of r, and with stale, the field EXPIRY_OF an index that
-- may have just lost its last entry, as unknown (in the same command).
local function save(r, stale)
  touch(RECORDS)
  local v = string.format('%d:%d:%s:%s:%s', r.state, r.guests, r.seq, r.checked, r.updated)
  if r.out then
    v = v .. ':' .. r.out
  end
  if stale then
    redis.call('HSET', RECORDS, r.id .. ':s', v, stale, '')
  else
    redis.call('HSET', RECORDS, r.id .. ':s', v)
  end
end

-- member is r's entry in the indexes.
local function member(r)
  return r.seq .. '|' .. r.id
end

-- party is the number of people an RSVP counts for.
local function party(r)
  return 1 + r.guests
end

-- move changes r's state, its index entry and the event's counts together, so that the
-- counts always equal the sums over the records.
local function move(r, state, now)
  local m, size = member(r), party(r)
  if r.state == S_GOING then
    redis.call('HINCRBY', EVENT, 'going', -size)
  elseif r.state == S_WAITLISTED then
    redis.call('HINCRBY', EVENT, 'waitlisted', -size)
  end
  redis.call('ZREM', index[r.state], m)
  touch(index[state])
  if state == S_GOING then
    redis.call('HINCRBY', EVENT, 'going', size)
  elseif state == S_WAITLISTED then
    redis.call('HINCRBY', EVENT, 'waitlisted', size)
  end
  redis.call('ZADD', index[state], 0, m)
  local from = r.state
  r.state, r.updated = state, now
  save(r, EXPIRY_OF[from]) -- the ZREM may have emptied, so deleted, from's index
end

-- fits: a party of size people fits in the free places of ev (capacity 0: no limit).
local function fits(ev, size)
  return ev.capacity == 0 or ev.going + size <= ev.capacity
end

-- promote gives places to the waitlist, strictly first come, first served: while the
-- first waitlisted RSVP fits in the free places, it becomes GOING. It stops at the first
-- that does not fit, so that a smaller party that came later never passes a larger one
-- that came earlier (store.RSVPStore). Every write runs it last, so after every write
-- the head of the waitlist does not fit.
local function promote(ev, now)
  while true do
    local head = redis.call('ZRANGE', WAITLISTED, 0, 0)[1]
    if not head then
      return
    end
    local id = string.sub(head, 18) -- after the 16 hex digits and '|'
    local r = load(id)
    if not r or r.state ~= S_WAITLISTED then
      -- Cannot happen (records and indexes change in the same scripts); if it did,
      -- dropping the entry beats blocking the waitlist for good.
      redis.call('ZREM', WAITLISTED, head)
      redis.call('HDEL', RECORDS, EXPIRY_OF[S_WAITLISTED]) -- see save
    else
      if not fits(ev, party(r)) then
        return
      end
      move(r, S_GOING, now)
      ev.going = ev.going + party(r)
    end
  end
end

-- expire makes the data keys (keys 2 to 6; with only_touched, those this script wrote)
-- expire at the event's end plus the retention (ms). Keys that do not exist yet are
-- skipped by PEXPIREAT; whichever script creates one sets its expiry, as every write
-- script calls this last. A time in the past (the end moved back more than the
-- retention) deletes them now, as it should. end_ms saves a read when the caller has it.
--
-- So that rsvp_create.lua, the hot path, can leave out the PEXPIREATs of keys whose
-- expiry is already right, the records' hash keeps the expiry last set on it and on
-- each state index (fields EXPIRY[i]). The rule, which makes a field equal to the
-- current end plus retention prove the key exists with that expiry:
--   * a field is only ever set to t in the script that sets the key's expiry to t, the
--     key existing then (PEXPIREAT answered 1; a create's own HSET and ZADD);
--   * every other PEXPIREAT of a data key (this function, the only other place) sets
--     its field or clears it, in the same script;
--   * every ZREM from a state index (move, promote, rsvp_delete.lua) clears the index's
--     field in the same script, as it may have emptied, so deleted, the index; and
--     nothing else deletes or re-expires the keys (rsvp:all, never skipped, excepted);
--   * rsvp_create.lua skips only when both the records' field and the index's equal
--     the time it would set: the records' hash, which it has just read, exists, so that
--     time has not passed on Redis's clock, and neither has the index expired.
-- A field that is absent or '' (data of an older Rally, a moved end, a retention that
-- differs between replicas) costs the next create its PEXPIREAT, nothing else.
local function expire(retention, only_touched, end_ms)
  end_ms = end_ms or tonumber(redis.call('HGET', EVENT, 'end_ms'))
  if not end_ms then
    return
  end
  local at = end_ms + retention
  local marks = {}
  for i = 3, 6 do -- the indexes, rsvp:all included
    local key = KEYS[i]
    if not only_touched or touched[key] then
      local set = redis.call('PEXPIREAT', key, at)
      if i > 3 then
        marks[#marks + 1] = EXPIRY[i]
        marks[#marks + 1] = (set == 1 and at) or ''
      end
    end
  end
  marks[#marks + 1] = EXPIRY[2]
  marks[#marks + 1] = at
  if touched[RECORDS] then
    -- It exists (or the script emptied it: then it holds these fields, and expires).
    redis.call('HSET', RECORDS, unpack(marks))
  else
    -- Not written by this script: it may not exist, and HDEL creates nothing.
    local fields = {}
    for i = 1, #marks, 2 do
      fields[#fields + 1] = marks[i]
    end
    redis.call('HDEL', RECORDS, unpack(fields))
  end
  redis.call('PEXPIREAT', RECORDS, at)
end

-- TOKEN_LEN is the size of a token's hash (SHA-256) in a record <rid>: rsvp.go's
-- tokenHashLen, which CreateRSVP checks before it builds the record (storedRecord).
local TOKEN_LEN = 32

-- record splits the record <rid> of RSVP id, v, into pb and its token's hash. A record
-- starts with a zero byte, which no protobuf encoding does; one stored before records
-- held the hash is pb alone, its hash in <rid>:t ('' if missing).
local function record(id, v)
  if string.byte(v, 1) == 0 then
    return string.sub(v, TOKEN_LEN + 2), string.sub(v, 2, TOKEN_LEN + 1)
  end
  return v, redis.call('HGET', RECORDS, id .. ':t') or ''
end

-- view returns what Go needs to build RSVP id: {pb, plain record, token hash, 0-based
-- rank in the waitlist or -1}, or nil when it does not exist.
local function view(id)
  local v = redis.call('HMGET', RECORDS, id, id .. ':s')
  if not v[1] or not v[2] then
    return nil
  end
  local pb, token = record(id, v[1])
  local r = parse(id, v[2])
  local rank = -1
  if r.state == S_WAITLISTED then
    rank = redis.call('ZRANK', WAITLISTED, member(r)) or -1
  end
  return {pb, v[2], token, rank}
end

-- reply is the answer of every write script but a create of its own RSVP (created):
-- {status, pb, plain record, token hash, rank, sealed token}. status is 'ok', or
-- 'replay' (CreateRSVP of a used request key),
-- or an error code that rsvp.go maps to a store error: 'nf' (no such event or RSVP),
-- 'closed', 'noroom', 'notgoing', 'exists', 'retry' (the record changed since read); and, of
-- the safety scripts (which start their own replies with a status too), 'cancelled',
-- 'hasbuddy', 'code', 'self', 'notstarted'.
local function reply(status, id, sealed)
  local v = id and view(id)
  if not v then
    return {status}
  end
  return {status, v[1], v[2], v[3], v[4], sealed or ''}
end

-- created is rsvp_create.lua's answer about the call's own RSVP id as it now stands:
-- {'created', plain record, rank}, the parts of view() that the caller, who passed the
-- rest, cannot know. 'nf' if it is gone.
local function created(id)
  local v = view(id)
  if not v then
    return {'nf'}
  end
  return {'created', v[2], v[4]}
end

-- cut splits v at its first ':' (nil, nil without one).
local function cut(v)
  local sep = string.find(v, ':', 1, true)
  if not sep then
    return nil, nil
  end
  return string.sub(v, 1, sep - 1), string.sub(v, sep + 1)
end

-- buddy returns RSVP id's buddy link as {buddy's ID, nickname as id's holder sees it,
-- buddy's check-out ms}, each '' when absent: {'', '', ''} without a buddy.
local function buddy(id)
  local v = redis.call('HGET', RECORDS, id .. ':b')
  if not v then
    return {'', '', ''}
  end
  local bid, nick = cut(v)
  local b = load(bid)
  return {bid, nick, (b and b.out) or ''}
end

-- code returns the buddy code with hash h as {id, expiry ms, nickname}, or nil.
local function code(h)
  local v = redis.call('HGET', RECORDS, '%' .. h)
  if not v then
    return nil
  end
  local id, rest = cut(v)
  local exp, nick = cut(rest)
  return {id = id, expire = tonumber(exp), nickname = nick}
end

-- drop_code deletes RSVP id's unused buddy code, if any. The code's entry goes only if
-- it is still id's (a hash is only ever reused by a code of another RSVP once expired).
local function drop_code(id)
  local h = redis.call('HGET', RECORDS, id .. ':c')
  if not h then
    return
  end
  local c = code(h)
  if c and c.id == id then
    redis.call('HDEL', RECORDS, '%' .. h)
  end
  redis.call('HDEL', RECORDS, id .. ':c')
  touch(RECORDS)
end

-- can_pair returns the error status of pairing RSVP r (a code or a join), or nil.
local function can_pair(ev, r, now)
  if closed(ev, now) then
    return 'closed'
  end
  if r.state == S_CANCELLED then
    return 'cancelled'
  end
  if redis.call('HEXISTS', RECORDS, r.id .. ':b') == 1 then
    return 'hasbuddy'
  end
  return nil
end
