/*
 * claim.c -- reliable claiming from Redis (see claim.h).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "claim.h"
#include "queue_settings.h"
#include "util.h"

/*
 * ARGV: prefix, active key, max, worker id, now (ms), then the queues.
 * Bands are taken high first across all queues, then normal, then low;
 * paused queues (set pmq:paused) are passed over.  The claimed entries are
 * recorded in the hash pmq:active:<worker> (job id -> entry) in the same
 * script, so an entry is never outside Redis; the ack then releases a job
 * with an HDEL of its id instead of a scan for the whole entry.
 */
static pmq_script claim_script = {
    "local p, active, max, worker, now = ARGV[1], ARGV[2], tonumber(ARGV[3]), ARGV[4], ARGV[5]\n"
    "local bands = {':high', '', ':low'}\n"
    "local queues = {}\n"
    "for i = 6, #ARGV do\n"
    "  if redis.call('SISMEMBER', p .. 'pmq:paused', ARGV[i]) == 0 then queues[#queues + 1] = ARGV[i] end\n"
    "end\n"
    "local keys, total = {}, 0\n"
    "for _, b in ipairs(bands) do\n"
    "  for _, q in ipairs(queues) do\n"
    "    local k = p .. 'queue:' .. q .. b\n"
    "    local len = redis.call('LLEN', k)\n"
    "    if len > 0 then keys[#keys + 1] = {k, len, q}; total = total + len end\n"
    "  end\n"
    "end\n"
    "if total == 0 then return {} end\n"
    /* A short backlog is shared one job at a time; a long one in batches. */
    "local want = math.floor(total / 16)\n"
    "if want < 1 then want = 1 end\n"
    "if want > max then want = max end\n"
    "local out, held, left = {}, {}, {}\n"
    "for _, e in ipairs(keys) do\n"
    /* RPOP with a count: one call for the whole batch from this band. */
    "  local vs = #out < want and redis.call('RPOP', e[1], want - #out) or {}\n"
    "  if e[2] > #vs then left[e[3]] = true end\n"
    "  for _, v in ipairs(vs) do\n"
    "    local id = string.match(v, '^{\"id\"%s*:%s*\"([^\"]+)\"')\n"
    "    if not id then\n"
    /* Not a job pmq wrote: the worker logs and drops it; nothing to release. */
    "      out[#out + 1] = v\n"
    "    else\n"
    "      local h = p .. 'job:' .. id\n"
    /* A job cancelled while it waited is dropped here: it never runs. */
    "      if redis.call('HGET', h, 'cancelled') ~= '1' then\n"
    "        redis.call('HSET', h, 'status', 'running', 'worker_id', worker, 'started_at', now)\n"
    "        out[#out + 1] = v\n"
    "        held[#held + 1] = id\n"
    "        held[#held + 1] = v\n"
    "      end\n"
    "    end\n"
    "  end\n"
    "end\n"
    "if #held > 0 then redis.call('HSET', active, unpack(held)) end\n"
    "for q in pairs(left) do\n"
    "  local w = p .. 'pmq:wake:' .. q\n"
    "  if redis.call('LLEN', w) == 0 then redis.call('LPUSH', w, '1') end\n"
    "end\n"
    "return out\n",
    ""};

/* ARGV: active key, band key, wake key, job id. */
static pmq_script return_script = {
    "local e = redis.call('HGET', ARGV[1], ARGV[4])\n"
    "if not e then return 0 end\n"
    "redis.call('HDEL', ARGV[1], ARGV[4])\n"
    "redis.call('RPUSH', ARGV[2], e)\n"
    "if redis.call('LLEN', ARGV[3]) == 0 then redis.call('LPUSH', ARGV[3], '1') end\n"
    "return 1\n",
    ""};

redisReply *pmq_claim(pmq_redis *r, const char *worker_id, const char *const *queues, int n,
                      int max)
{
    char active[512], maxs[16], now[32];
    pmq_redis_key(r, active, sizeof active, "pmq:active:%s", worker_id);
    snprintf(maxs, sizeof maxs, "%d", max);
    snprintf(now, sizeof now, "%lld", (long long)(pmq_wall_us() / 1000));
    const char *args[5 + 64];
    int nargs = 0;
    args[nargs++] = r->prefix;
    args[nargs++] = active;
    args[nargs++] = maxs;
    args[nargs++] = worker_id;
    args[nargs++] = now;
    for (int i = 0; i < n && i < 64; i++)
        args[nargs++] = queues[i];
    redisReply *rep = pmq_redis_eval(r, &claim_script, 0, NULL, nargs, args, NULL);
    if (rep && rep->type != REDIS_REPLY_ARRAY) {
        freeReplyObject(rep);
        return NULL;
    }
    return rep;
}

int pmq_claim_wait(pmq_redis *r, const char *const *queues, int n, double timeout_s)
{
    const char *argv[2 + 64];
    size_t lens[2 + 64];
    char keys[64][512];
    char tmo[32];
    int argc = 0;
    argv[argc++] = "BLPOP";
    for (int i = 0; i < n && i < 64; i++)
        argv[argc++] = pmq_redis_key(r, keys[i], sizeof keys[i], "pmq:wake:%s", queues[i]);
    snprintf(tmo, sizeof tmo, "%.3f", timeout_s);
    argv[argc++] = tmo;
    for (int i = 0; i < argc; i++)
        lens[i] = strlen(argv[i]);
    /* The socket timeout must outlast the blocking call. */
    struct timeval tv = {(long)timeout_s + 2 + r->cfg->timeout_ms / 1000, 0};
    redisSetTimeout(r->c, tv);
    redisReply *rep = redisCommandArgv(r->c, argc, argv, lens);
    struct timeval normal = {r->cfg->timeout_ms / 1000, (r->cfg->timeout_ms % 1000) * 1000};
    redisSetTimeout(r->c, normal);
    if (!rep)
        return -1;
    int rc = rep->type == REDIS_REPLY_ARRAY ? 1 : rep->type == REDIS_REPLY_ERROR ? -1 : 0;
    freeReplyObject(rep);
    return rc;
}

int pmq_claim_return(pmq_redis *r, const char *worker_id, const char *queue, int priority,
                     const char *id)
{
    char active[512], band[512], wake[512];
    pmq_redis_key(r, active, sizeof active, "pmq:active:%s", worker_id);
    pmq_redis_key(r, band, sizeof band, "queue:%s%s", queue, pmq_band_suffix(priority));
    pmq_redis_key(r, wake, sizeof wake, "pmq:wake:%s", queue);
    const char *args[4] = {active, band, wake, id};
    redisReply *rep = pmq_redis_eval(r, &return_script, 0, NULL, 4, args, NULL);
    if (!rep)
        return -1;
    int rc = rep->type == REDIS_REPLY_INTEGER ? (int)rep->integer : -1;
    freeReplyObject(rep);
    return rc;
}
