-- lib.lua: what publish.lua and read.lua share; scripts.go prepends it to both, and
-- other packages' scripts that publish in the same step as their write (PublishLua).
--
-- A topic's stream numbers its entries 0-<position>: the second part of an ID is the
-- entry's position in the topic, so "nothing after the cursor was trimmed" is a
-- comparison with the first entry still there (see hub.Continues). XADD with the ID
-- '0-*' (Redis 7) numbers them without a read. The stream expires a lifetime after its
-- newest entry; the next entry starts a new life, numbered from now_ms() * 1024 (hub's
-- Lives: hub.PerMilli), so that no position of an old life means anything in the new
-- one.

-- now_ms is the time on this node in ms, at least 1 (life 0 is an older Rally's).
local function now_ms()
  local t = redis.call('TIME')
  return math.max(tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000), 1)
end

-- span returns the position of the first entry of the stream's life and of its newest
-- entry ever added, both 0 if there is no stream. The newest is the stream's last
-- generated ID rather than its last entry, so that numbering carries on even if someone
-- trimmed the stream to nothing; the first follows from how many entries were ever added
-- (every life starts with a new stream).
local function span(key)
  if redis.call('EXISTS', key) == 0 then
    return 0, 0
  end
  local info = redis.call('XINFO', 'STREAM', key)
  local last, added
  for i = 1, #info, 2 do
    if info[i] == 'last-generated-id' then
      last = tonumber(string.match(info[i + 1], '^0%-(%d+)$') or '0')
    elseif info[i] == 'entries-added' then
      added = info[i + 1]
    end
  end
  if not last or not added then
    error('XINFO STREAM without last-generated-id or entries-added')
  end
  return last - added + 1, last
end

-- publish_change appends one message to the stream at key, then tells every replica,
-- and returns the message's position. Its arguments are ARGV[first…first+4]: how many
-- entries to keep at least (MAXLEN ~), the payload, the channel every replica listens to,
-- the topic, which is what the channel carries, and the history's lifetime in ms.
--
-- On the hot path (the stream exists) it costs XADD, PEXPIRE and PUBLISH. Without a
-- stream (NOMKSTREAM adds nothing) the message starts a new life, numbered from the time.
-- PUBLISH comes after XADD, so a replica that hears of the message always finds it; in
-- Redis Cluster the channel is in no slot, so this may run on whichever node holds the
-- stream.
local function publish_change(key, first)
  local history, payload, channel, topic, lifetime =
    ARGV[first], ARGV[first + 1], ARGV[first + 2], ARGV[first + 3], ARGV[first + 4]
  local id = redis.pcall('XADD', key, 'NOMKSTREAM', 'MAXLEN', '~', history, '0-*', 'p', payload)
  if type(id) == 'table' and id.err then
    if not string.find(id.err, 'equal or smaller', 1, true) then
      error(id) -- out of memory, a wrong type: raised as redis.call would, nothing to repair
    end
    -- A stream numbered otherwise (an older Rally) cannot take 0-* IDs: start it again.
    -- Cursors into it are of another life, so their watchers get a fresh snapshot.
    redis.call('DEL', key)
    id = false
  end
  if not id then
    -- %.0f: the position passes 2^31, where Lua's default formatting turns to 1.8e+15.
    id = redis.call('XADD', key, 'MAXLEN', '~', history, '0-' .. string.format('%.0f', now_ms() * 1024), 'p', payload)
  end
  redis.call('PEXPIRE', key, lifetime)
  redis.call('PUBLISH', channel, topic)
  return tonumber(string.sub(id, 3))
end
