-- publish.lua: append one message to a topic's history, then tell every replica
-- (publish_change in lib.lua).
--
-- KEYS[1]  <prefix>{<topic>}:changes  the topic's STREAM
-- ARGV     Broker.PublishArgs: history, payload, channel, topic, lifetime (ms)
--
-- Returns the message's position.
return publish_change(KEYS[1], 1)
