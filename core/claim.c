/*
 * claim.c -- reliable claiming from Redis (see claim.h).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "claim.h"
#include "keys.h"
#include "util.h"

/* lua/claim.lua and lua/return.lua say what they take and do. */
static pmq_script claim_script = {pmq_lua_claim, ""};
static pmq_script return_script = {pmq_lua_return, ""};

/* Keys per queue in the claim: its three bands, then its wake-up list. */
#define CLAIM_KEYS_PER_QUEUE (PMQ_NBANDS + 1)

redisReply *pmq_claim(pmq_redis *r, const char *worker_id, const char *const *queues, int n,
                      int max)
{
    int nkeys = 3 + CLAIM_KEYS_PER_QUEUE * n, nargs = 3 + n;
    char(*keys)[PMQ_KEY_MAX] = pmq_xmalloc((size_t)nkeys * sizeof *keys);
    const char **kv = pmq_xmalloc((size_t)nkeys * sizeof *kv);
    const char **args = pmq_xmalloc((size_t)nargs * sizeof *args);
    char maxs[16], now[32];
    kv[0] = pmq_key_active(keys[0], r->prefix, worker_id);
    kv[1] = pmq_key_paused(keys[1], r->prefix);
    kv[2] = pmq_key_job(keys[2], r->prefix, "");
    for (int i = 0; i < n; i++) {
        int k = 3 + CLAIM_KEYS_PER_QUEUE * i;
        for (int b = 0; b < PMQ_NBANDS; b++)
            kv[k + b] = pmq_key_queue(keys[k + b], r->prefix, queues[i], b);
        kv[k + PMQ_NBANDS] = pmq_key_wake(keys[k + PMQ_NBANDS], r->prefix, queues[i]);
        args[3 + i] = queues[i];
    }
    snprintf(maxs, sizeof maxs, "%d", max);
    snprintf(now, sizeof now, "%lld", (long long)(pmq_wall_us() / 1000));
    args[0] = maxs;
    args[1] = worker_id;
    args[2] = now;
    redisReply *rep = pmq_redis_eval(r, &claim_script, nkeys, kv, nargs, args, NULL);
    free(keys);
    free(kv);
    free(args);
    if (rep && rep->type != REDIS_REPLY_ARRAY) {
        freeReplyObject(rep);
        return NULL;
    }
    return rep;
}

int pmq_claim_wait(pmq_redis *r, const char *const *queues, int n, double timeout_s)
{
    const char **argv = pmq_xmalloc((size_t)(n + 2) * sizeof *argv);
    size_t *lens = pmq_xmalloc((size_t)(n + 2) * sizeof *lens);
    char(*keys)[PMQ_KEY_MAX] = pmq_xmalloc((size_t)(n ? n : 1) * sizeof *keys);
    char tmo[32];
    int argc = 0;
    argv[argc++] = "BLPOP";
    for (int i = 0; i < n; i++)
        argv[argc++] = pmq_key_wake(keys[i], r->prefix, queues[i]);
    snprintf(tmo, sizeof tmo, "%.3f", timeout_s);
    argv[argc++] = tmo;
    for (int i = 0; i < argc; i++)
        lens[i] = strlen(argv[i]);
    /* The socket timeout must outlast the blocking call. */
    struct timeval tv = {(long)timeout_s + 2 + r->cfg->timeout_ms / 1000, 0};
    redisSetTimeout(r->c, tv);
    redisReply *rep = redisCommandArgv(r->c, argc, argv, lens);
    free(argv);
    free(lens);
    free(keys);
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
    char active[PMQ_KEY_MAX], band[PMQ_KEY_MAX], wake[PMQ_KEY_MAX];
    const char *keys[3] = {pmq_key_active(active, r->prefix, worker_id),
                           pmq_key_queue(band, r->prefix, queue, pmq_band_of(priority)),
                           pmq_key_wake(wake, r->prefix, queue)};
    const char *args[1] = {id};
    redisReply *rep = pmq_redis_eval(r, &return_script, 3, keys, 1, args, NULL);
    if (!rep)
        return -1;
    int rc = rep->type == REDIS_REPLY_INTEGER ? (int)rep->integer : -1;
    freeReplyObject(rep);
    return rc;
}
