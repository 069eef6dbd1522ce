-- deadletter.lua -- mirror a dead letter in Redis, in the guide's shape (core/ack.c).
-- KEYS[1]  deadletter:<id>: the entry, kept for a replay
-- KEYS[2]  deadletter:queue: the newest dead letters
-- KEYS[3]  "deadletter:", the head of deadletter:<id>: the ids of the
--          entries trimmed off the list are read from them
-- ARGV[1]  the entry (JSON); ARGV[2] how many entries the list keeps
-- Returns 1.  The oldest entries beyond the mirror's size go, with their
-- deadletter:<id> (PostgreSQL keeps every dead letter).
redis.call('SET', KEYS[1], ARGV[1])
redis.call('LPUSH', KEYS[2], ARGV[1])
while redis.call('LLEN', KEYS[2]) > tonumber(ARGV[2]) do
  local old = redis.call('RPOP', KEYS[2])
  local id = string.match(old, '"id"%s*:%s*"([^"]+)"')
  if id then redis.call('DEL', KEYS[3] .. id) end
end
return 1
