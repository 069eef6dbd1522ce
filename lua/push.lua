-- push.lua -- the migrator pushes a batch of jobs to their bands (core/migrator.c).
-- KEYS[1]                  pmq:stats:migrator
-- KEYS[3j-1], KEYS[3j], KEYS[3j+1], for the j-th job: job:<id>, its band
--                          queue:<q>[:high|:low], pmq:wake:<q>
-- ARGV[1]                  now (ms); ARGV[2] the lag summed; ARGV[3] the worst lag
-- ARGV[3j+1], ARGV[3j+2], ARGV[3j+3], for the j-th job: its attempt, queue
--                          name and entry (JSON)
-- Returns how many jobs were pushed.
--
-- Idempotent per (job, attempt): a job whose hash says this attempt was
-- pushed already is not pushed again.  Also counts, for /metrics, the
-- batches and jobs moved, the lag (due -> migrated) summed and the worst.
local pushed = 0
local woke, lists, order = {}, {}, {}
for j = 1, (#KEYS - 1) / 3 do
  local h, k, w = KEYS[3 * j - 1], KEYS[3 * j], KEYS[3 * j + 1]
  local attempt, q = ARGV[3 * j + 1], ARGV[3 * j + 2]
  local prev = redis.call('HGET', h, 'pushed_attempt')
  if prev ~= attempt then
    redis.call('HSET', h, 'status', 'migrated', 'queue', q, 'queued_at', ARGV[1],
               'attempt_count', attempt, 'pushed_attempt', attempt)
    -- A retry's hash still has the last attempt's expiry; a new one has none.
    if prev then redis.call('PERSIST', h) end
    if not lists[k] then lists[k] = {}; order[#order + 1] = k end
    lists[k][#lists[k] + 1] = ARGV[3 * j + 3]
    pushed = pushed + 1
    woke[w] = true
  end
end
-- One LPUSH per band for the batch (in chunks: unpack has a stack limit).
for _, k in ipairs(order) do
  local l = lists[k]
  for s = 1, #l, 500 do redis.call('LPUSH', k, unpack(l, s, math.min(s + 499, #l))) end
end
for w in pairs(woke) do
  if redis.call('LLEN', w) == 0 then redis.call('LPUSH', w, '1') end
end
local st = KEYS[1]
redis.call('HINCRBY', st, 'batches', 1)
redis.call('HINCRBY', st, 'jobs', pushed)
redis.call('HINCRBYFLOAT', st, 'lag_sum', ARGV[2])
redis.call('HSET', st, 'last_lag', ARGV[3], 'last_batch', pushed)
return pushed
