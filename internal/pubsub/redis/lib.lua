-- lib.lua: what publish.lua and read.lua share; scripts.go prepends it to both.
--
-- A topic's stream numbers its entries 1-0, 2-0, 3-0, …: the first part of an ID is the
-- entry's position in the topic, so "nothing after the cursor was trimmed" is a
-- comparison with the first entry still there (see hub.Continues).

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
      return tonumber(string.match(info[i + 1], '^(%d+)%-'))
    end
  end
  error('XINFO STREAM without last-generated-id')
end
