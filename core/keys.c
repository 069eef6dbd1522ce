/*
 * keys.c -- pmq's Redis layout: key names, bands, heartbeats (see keys.h).
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "keys.h"
#include "util.h"

/*--- key names ---*/

static char *key_printf(char *key, const char *prefix, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static char *key_printf(char *key, const char *prefix, const char *fmt, ...)
{
    size_t n = (size_t)snprintf(key, PMQ_KEY_MAX, "%s", prefix);
    if (n >= PMQ_KEY_MAX)
        n = PMQ_KEY_MAX - 1;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(key + n, PMQ_KEY_MAX - n, fmt, ap);
    va_end(ap);
    return key;
}

static const char *const band_suffixes[PMQ_NBANDS] = {":high", "", ":low"};
static const char *const band_names[PMQ_NBANDS] = {"high", "normal", "low"};

char *pmq_key_queue(char *key, const char *prefix, const char *queue, int band)
{
    return key_printf(key, prefix, "queue:%s%s", queue, band_suffixes[band]);
}

char *pmq_key_job(char *key, const char *prefix, const char *id)
{
    return key_printf(key, prefix, "job:%s", id);
}

char *pmq_key_active(char *key, const char *prefix, const char *worker_id)
{
    return key_printf(key, prefix, "pmq:active:%s", worker_id);
}

char *pmq_key_heartbeat(char *key, const char *prefix, const char *worker_id)
{
    return key_printf(key, prefix, "pmq:worker:%s", worker_id);
}

char *pmq_key_workers(char *key, const char *prefix)
{
    return key_printf(key, prefix, "pmq:workers");
}

char *pmq_key_wake(char *key, const char *prefix, const char *queue)
{
    return key_printf(key, prefix, "pmq:wake:%s", queue);
}

char *pmq_key_paused(char *key, const char *prefix)
{
    return key_printf(key, prefix, "pmq:paused");
}

char *pmq_key_stats(char *key, const char *prefix, const char *queue)
{
    return key_printf(key, prefix, "pmq:stats:%s", queue);
}

char *pmq_key_migrator_stats(char *key, const char *prefix)
{
    return key_printf(key, prefix, "pmq:stats:migrator");
}

char *pmq_key_deadletter_list(char *key, const char *prefix)
{
    return key_printf(key, prefix, "deadletter:queue");
}

char *pmq_key_deadletter(char *key, const char *prefix, const char *id)
{
    return key_printf(key, prefix, "deadletter:%s", id);
}

char *pmq_key_alive(char *key, const char *prefix)
{
    return key_printf(key, prefix, "pmq:alive");
}

/*--- bands ---*/

int pmq_band_of(int priority)
{
    if (priority <= 50)
        return PMQ_BAND_HIGH;
    if (priority <= 150)
        return PMQ_BAND_NORMAL;
    return PMQ_BAND_LOW;
}

const char *pmq_band_name(int band)
{
    return band_names[band];
}

/*--- heartbeats ---*/

int pmq_heartbeat_write(pmq_redis *r, const char *worker_id, const pmq_heartbeat *hb, int ttl_ms)
{
    char key[PMQ_KEY_MAX], set[PMQ_KEY_MAX], pid[16], started[32], beat[32];
    pmq_key_heartbeat(key, r->prefix, worker_id);
    pmq_key_workers(set, r->prefix);
    snprintf(pid, sizeof pid, "%d", hb->pid);
    snprintf(started, sizeof started, "%lld", (long long)hb->started_at_ms);
    snprintf(beat, sizeof beat, "%lld", (long long)hb->beat_at_ms);
    redisAppendCommand(r->c,
                       "HSET %s host %s pid %s pool %s queues %s started_at %s beat_at %s current %s",
                       key, hb->host, pid, hb->pool, hb->queues, started, beat, hb->current);
    redisAppendCommand(r->c, "PEXPIRE %s %d", key, ttl_ms);
    redisAppendCommand(r->c, "SADD %s %s", set, worker_id);
    return pmq_redis_replies(r, 3, "record the heartbeat");
}

int pmq_heartbeat_remove(pmq_redis *r, const char *worker_id)
{
    char key[PMQ_KEY_MAX];
    if (pmq_redis_do(r, "DEL %s", pmq_key_heartbeat(key, r->prefix, worker_id)) < 0)
        return -1;
    return pmq_heartbeat_unlist(r, worker_id);
}

int pmq_heartbeat_unlist(pmq_redis *r, const char *worker_id)
{
    char set[PMQ_KEY_MAX];
    return pmq_redis_do(r, "SREM %s %s", pmq_key_workers(set, r->prefix), worker_id);
}

redisReply *pmq_heartbeat_members(pmq_redis *r)
{
    char set[PMQ_KEY_MAX];
    return pmq_redis_command(r, "SMEMBERS %s", pmq_key_workers(set, r->prefix));
}

int pmq_heartbeat_alive(pmq_redis *r, const char *const *ids, size_t n, int *alive)
{
    char key[PMQ_KEY_MAX];
    for (size_t i = 0; i < n; i++)
        redisAppendCommand(r->c, "EXISTS %s", pmq_key_heartbeat(key, r->prefix, ids[i]));
    int rc = 0;
    for (size_t i = 0; i < n; i++) {
        redisReply *rep = NULL;
        if (redisGetReply(r->c, (void **)&rep) != REDIS_OK)
            return -1;
        alive[i] = rep->type == REDIS_REPLY_INTEGER && rep->integer == 1;
        if (rep->type != REDIS_REPLY_INTEGER)
            rc = -1;
        freeReplyObject(rep);
    }
    return rc;
}

int pmq_heartbeat_known(pmq_redis *r, const char *worker_id)
{
    char key[PMQ_KEY_MAX], set[PMQ_KEY_MAX];
    redisAppendCommand(r->c, "EXISTS %s", pmq_key_heartbeat(key, r->prefix, worker_id));
    redisAppendCommand(r->c, "SISMEMBER %s %s", pmq_key_workers(set, r->prefix), worker_id);
    int known = 0;
    for (int i = 0; i < 2; i++) {
        redisReply *rep = NULL;
        if (redisGetReply(r->c, (void **)&rep) != REDIS_OK)
            return -1;
        if (rep->type != REDIS_REPLY_INTEGER)
            known = -1;
        else if (known >= 0 && rep->integer == 1)
            known = 1;
        freeReplyObject(rep);
    }
    return known;
}

int pmq_heartbeat_read(pmq_redis *r, const char *worker_id, pmq_heartbeat *hb)
{
    char key[PMQ_KEY_MAX];
    memset(hb, 0, sizeof *hb);
    redisReply *h = pmq_redis_command(r, "HMGET %s host pid pool queues started_at beat_at current",
                                      pmq_key_heartbeat(key, r->prefix, worker_id));
    if (!h || h->type != REDIS_REPLY_ARRAY || h->elements != 7) {
        if (h)
            freeReplyObject(h);
        return -1;
    }
    int found = h->element[0]->type == REDIS_REPLY_STRING;
    if (found) {
        const char *v[7];
        for (int k = 0; k < 7; k++)
            v[k] = h->element[k]->type == REDIS_REPLY_STRING ? h->element[k]->str : "";
        hb->host = pmq_xstrdup(v[0]);
        hb->pid = atoi(v[1]);
        hb->pool = pmq_xstrdup(v[2]);
        hb->queues = pmq_xstrdup(v[3]);
        hb->started_at_ms = atoll(v[4]);
        hb->beat_at_ms = atoll(v[5]);
        hb->current = pmq_xstrdup(v[6]);
    }
    freeReplyObject(h);
    return found;
}

void pmq_heartbeat_clear(pmq_heartbeat *hb)
{
    free(hb->host);
    free(hb->pool);
    free(hb->queues);
    free(hb->current);
    memset(hb, 0, sizeof *hb);
}
