-- read.lua: read a topic's history after a position, as a hub.Reader does.
--
-- KEYS[1]  <prefix>{<topic>}:changes  the topic's STREAM
-- ARGV[1]  the position to read after
-- ARGV[2]  how many entries at most (0: none, only the span)
--
-- Returns {newest position, entries, position of the life's first entry, now in ms},
-- entries as XRANGE gives them: {{'0-<pos>', {'p', payload}}, …}; both positions are 0
-- without a stream. All come from one moment, so the caller can tell a trimmed history
-- from one that simply has nothing new, and an expired one from one that started again.
local first, last = span(KEYS[1])
local entries = {}
if tonumber(ARGV[2]) > 0 and tonumber(ARGV[1]) < last then
  entries = redis.call('XRANGE', KEYS[1], '(0-' .. ARGV[1], '+', 'COUNT', ARGV[2])
end
return {last, entries, first, now_ms()}
