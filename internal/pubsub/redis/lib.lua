-- lib.lua: what publish.lua and read.lua share; scripts.go prepends it to both, and
-- other packages' scripts that publish in the same step as their write (PublishLua).
--
-- A topic's stream numbers its entries 0-1, 0-2, 0-3, …: the second part of an ID is the
-- entry's position in the topic, so "nothing after the cursor was trimmed" is a
-- comparison with the first entry still there (see hub.Continues). XADD with the ID
-- '0-*' (Redis 7) numbers them without a read.

-- last_position returns the position of the newest entry ever added to the stream at key,
-- 0 if there is no stream. It is the stream's last generated ID rather than its last
-- entry, so that numbering carries on even if someone trimmed the stream to nothing.
local function last_position(key)
  if redis.call('EXISTS', key) == 0 then
    return 0
  end
  local info = redis.call('XINFO', 'STREAM', key)
  for i = 1, #info, 2 do
    if info[i] == 'last-generated-id' then
      return tonumber(string.match(info[i + 1], '^0%-(%d+)$') or '0')
    end
  end
  error('XINFO STREAM without last-generated-id')
end

-- publish_change appends one message to the stream at key, then tells every replica,
-- and returns the message's position. Its arguments are ARGV[first…first+3]: how many
-- entries to keep at least (MAXLEN ~), the payload, the channel every replica listens to
-- and the topic, which is what the channel carries. PUBLISH comes after XADD, so a
-- replica that hears of the message always finds it; in Redis Cluster the channel is in
-- no slot, so this may run on whichever node holds the stream.
local function publish_change(key, first)
  local history, payload, channel, topic = ARGV[first], ARGV[first + 1], ARGV[first + 2], ARGV[first + 3]
  local id = redis.pcall('XADD', key, 'MAXLEN', '~', history, '0-*', 'p', payload)
  if type(id) == 'table' and id.err then
    if not string.find(id.err, 'equal or smaller', 1, true) then
      error(id) -- out of memory, a wrong type: raised as redis.call would, nothing to repair
    end
    -- A stream numbered otherwise (an older Rally) cannot take 0-* IDs: start it again.
    -- Cursors into it are beyond the new end, so their watchers get a fresh snapshot.
    redis.call('DEL', key)
    id = redis.call('XADD', key, 'MAXLEN', '~', history, '0-*', 'p', payload)
  end
  redis.call('PUBLISH', channel, topic)
  return tonumber(string.sub(id, 3))
end
