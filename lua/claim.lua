-- claim.lua -- a worker takes up to ARGV[1] ready jobs (core/claim.c).
-- KEYS[1]   pmq:active:<worker>: where the claimed entries go (job id -> entry)
-- KEYS[2]   pmq:paused: the set of paused queue names
-- KEYS[3]   "job:", the head of job:<id>: the id is read from each popped entry
-- KEYS[4q .. 4q+3], for the q-th queue: queue:<q>:high, queue:<q>, queue:<q>:low, pmq:wake:<q>
-- ARGV[1]   the most jobs to take; ARGV[2] the worker id; ARGV[3] now (ms)
-- ARGV[3+q] the q-th queue's name (as pmq:paused holds it)
-- Returns the claimed entries (JSON), possibly none.
--
-- Bands are taken high first across all queues, then normal, then low; a
-- paused queue is passed over.  The claimed entries are recorded in
-- pmq:active:<worker> in the same script, so an entry is never outside
-- Redis; the ack then releases a job with an HDEL of its id.
local active, paused, jobhead = KEYS[1], KEYS[2], KEYS[3]
local max, worker, now = tonumber(ARGV[1]), ARGV[2], ARGV[3]
local queues = {}
for q = 1, #ARGV - 3 do
  if redis.call('SISMEMBER', paused, ARGV[3 + q]) == 0 then queues[#queues + 1] = q end
end
local lists, total = {}, 0
for b = 0, 2 do
  for _, q in ipairs(queues) do
    local k = KEYS[4 * q + b]
    local len = redis.call('LLEN', k)
    if len > 0 then lists[#lists + 1] = {k, len, q}; total = total + len end
  end
end
if total == 0 then return {} end
-- A short backlog is shared one job at a time; a long one in batches.
local want = math.floor(total / 16)
if want < 1 then want = 1 end
if want > max then want = max end
local out, held, left = {}, {}, {}
for _, e in ipairs(lists) do
  -- RPOP with a count: one call for the whole batch from this band.
  local vs = #out < want and redis.call('RPOP', e[1], want - #out) or {}
  if e[2] > #vs then left[e[3]] = true end
  for _, v in ipairs(vs) do
    local id = string.match(v, '^{"id"%s*:%s*"([^"]+)"')
    if not id then
      -- Not a job pmq wrote: the worker logs and drops it; nothing to release.
      out[#out + 1] = v
    else
      local h = jobhead .. id
      -- A job cancelled while it waited is dropped here: it never runs.
      if redis.call('HGET', h, 'cancelled') ~= '1' then
        redis.call('HSET', h, 'status', 'running', 'worker_id', worker, 'started_at', now)
        out[#out + 1] = v
        held[#held + 1] = id
        held[#held + 1] = v
      end
    end
  end
end
if #held > 0 then redis.call('HSET', active, unpack(held)) end
for q in pairs(left) do
  local w = KEYS[4 * q + 3]
  if redis.call('LLEN', w) == 0 then redis.call('LPUSH', w, '1') end
end
return out
