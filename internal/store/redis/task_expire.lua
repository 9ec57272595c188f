-- task_expire.lua: after a task update, which may have moved the deadline or the claim
-- TTL, moves the deletion time of the task's claims (expire_claims). (Prepended with
-- task_lib.lua: KEYS.)
--
-- ARGV[1]  retention, ms
expire_claims(tonumber(ARGV[1]))
return 1
