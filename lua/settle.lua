-- settle.lua -- settle job:<id> after the ack's commit (core/ack.c).
-- KEYS[i]                 job:<id> of the i-th job
-- ARGV[1]                 finished at (ms); ARGV[2] [redis] finished_ttl (s)
-- ARGV[2i+1], ARGV[2i+2]  the i-th job's attempt and status
-- Returns the number of hashes looked at.
--
-- Only a hash that still describes the attempt that ended is touched (its
-- pushed_attempt, or none): a retry the migrator pushed meanwhile keeps its
-- hash, which the reconciler and the idempotent push rely on.  A finished
-- job's hash is deleted, or kept for the window; a retried one waits in
-- PostgreSQL and keeps its hash until its last attempt.
local fin, ttl = ARGV[1], tonumber(ARGV[2])
for i, h in ipairs(KEYS) do
  local att, st = ARGV[2 * i + 1], ARGV[2 * i + 2]
  local pa = redis.call('HGET', h, 'pushed_attempt')
  if st == 'queued' then
    if pa == att then redis.call('HSET', h, 'status', st, 'finished_at', fin) end
  elseif not pa or pa == att then
    if ttl == 0 then redis.call('DEL', h)
    else
      redis.call('HSET', h, 'status', st, 'finished_at', fin)
      redis.call('EXPIRE', h, ttl)
    end
  end
end
return #KEYS
