-- return.lua -- put a claimed job that never started back at the head of its band (core/claim.c).
-- KEYS[1]  pmq:active:<worker>: the hash that holds the claim
-- KEYS[2]  queue:<q>[:high|:low]: the job's band
-- KEYS[3]  pmq:wake:<q>: signalled so that a worker takes it
-- ARGV[1]  the job id
-- Returns 1 when the job was still claimed, 0 when not (nothing done).
local e = redis.call('HGET', KEYS[1], ARGV[1])
if not e then return 0 end
redis.call('HDEL', KEYS[1], ARGV[1])
redis.call('RPUSH', KEYS[2], e)
if redis.call('LLEN', KEYS[3]) == 0 then redis.call('LPUSH', KEYS[3], '1') end
return 1
