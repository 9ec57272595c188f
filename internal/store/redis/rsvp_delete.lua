-- rsvp_delete.lua: DeleteRSVP ("forget me"). Deletes an RSVP and everything kept for it
-- (rsvp_lib.lua's fields <rid>, <rid>:s, :t, :q, :c, :b, its #<token hash>, ?<request
-- key> and %<code hash> entries, its index entries, and its buddy's link to it), moves
-- the waitlist up as a cancel does and leaves the counts as if it had never been. One
-- step: nobody ever sees it half deleted. (Prepended with rsvp_lib.lua: KEYS.)
--
-- ARGV[1]  now, ms since 1970
-- ARGV[2]  retention, ms
-- ARGV[3]  the RSVP's ID
--
-- Allowed whatever the event's and the RSVP's state. An RSVP stored before issue 17
-- lacks <rid>:q: its ?<request key> entry (which holds its ID and the manage token
-- sealed with a key that only the client's request_id yields) stays until the event's
-- data expires.
--
-- Returns {'ok', the buddy's ID or '', 1 when the waitlist moved up (else 0)}; or {'nf'}.
local retention, id = tonumber(ARGV[2]), ARGV[3]

local r = load(id)
if not r then
  return {'nf'}
end
local ev = event()
local v = redis.call('HMGET', RECORDS, id, id .. ':q', id .. ':b')
local token, request, link = nil, v[2], v[3]
if v[1] then
  local _, held = record(id, v[1])
  if held ~= '' then
    token = held
  end
end

-- The counts, as if it had never been: its place and its check-in. Without the event
-- hash (which cannot happen: events are never deleted) there is nothing to count in,
-- and writing counts would make a hash that is no event.
if ev then
  local size = party(r)
  if r.state == S_GOING then
    redis.call('HINCRBY', EVENT, 'going', -size)
  elseif r.state == S_WAITLISTED then
    redis.call('HINCRBY', EVENT, 'waitlisted', -size)
  end
  if r.checked == '1' then
    redis.call('HINCRBY', EVENT, 'checked_in', -1)
    if r.out then
      redis.call('HINCRBY', EVENT, 'checked_out_in', -1)
    end
  end
end
local m = member(r)
redis.call('ZREM', index[r.state], m)
redis.call('ZREM', ALL, m) -- an RSVP stored before issue 19 stopped writing rsvp:all

drop_code(id)
-- With EXPIRY_OF its index: the ZREM may have emptied it (rsvp_lib.lua's expire).
local fields = {id, id .. ':s', id .. ':t', id .. ':q', id .. ':b', EXPIRY_OF[r.state]}
-- The maps' entries go only while they still name this RSVP.
if token and redis.call('HGET', RECORDS, '#' .. token) == id then
  fields[#fields + 1] = '#' .. token
end
if request then
  local seen = redis.call('HGET', RECORDS, '?' .. request)
  if seen and cut(seen) == id then
    fields[#fields + 1] = '?' .. request
  end
end
local bid = ''
if link then
  bid = cut(link)
  local back = redis.call('HGET', RECORDS, bid .. ':b')
  if back and cut(back) == id then
    fields[#fields + 1] = bid .. ':b'
  end
end
redis.call('HDEL', RECORDS, unpack(fields))
touch(RECORDS)

local promoted = 0
if ev then
  ev = event() -- read again: the counts changed
  local before = ev.going
  promote(ev, ARGV[1])
  if ev.going ~= before then
    promoted = 1
  end
end
expire(retention, true)
return {'ok', bid, promoted}
