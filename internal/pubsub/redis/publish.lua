-- publish.lua: append one message to a topic's history, then tell every replica.
--
-- KEYS[1]  <prefix>{<topic>}:changes  the topic's STREAM
-- ARGV[1]  how many entries to keep, at least (MAXLEN ~)
-- ARGV[2]  the payload
-- ARGV[3]  <prefix>changes            the channel every replica listens to
-- ARGV[4]  the topic, which is what the channel carries
--
-- Returns the message's position. PUBLISH comes after XADD in the same script, so a
-- replica that hears of the message always finds it; in Redis Cluster the channel is not
-- in any slot, so this script may run on whichever node holds the topic's stream.
local pos = last_position(KEYS[1]) + 1
redis.call('XADD', KEYS[1], 'MAXLEN', '~', ARGV[1], string.format('%.0f-0', pos), 'p', ARGV[2])
redis.call('PUBLISH', ARGV[3], ARGV[4])
return pos
