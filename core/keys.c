/*
 * keys.c -- pmq's Redis layout: key names, bands, heartbeats (see keys.h).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "job.h"
#include "keys.h"

/*--- key names ---*/

_Static_assert(sizeof "pmq:active:" <= PMQ_KEY_HEAD_MAX && sizeof "pmq:worker:" <= PMQ_KEY_HEAD_MAX &&
                   sizeof "deadletter:" <= PMQ_KEY_HEAD_MAX,
               "a key's head is longer than PMQ_KEY_HEAD_MAX");
_Static_assert(PMQ_QUEUE_NAME_MAX_LEN + sizeof ":high" <= PMQ_WORKER_ID_SIZE &&
                   PMQ_JOB_ID_SIZE <= PMQ_WORKER_ID_SIZE,
               "a queue's or a job's key is longer than a worker's");

/* DESIGN.md section 4's names: a head, then the kind's name if it has one. */
static const char *const heads[] = {
    [PMQ_KEY_JOB] = "job:",
    [PMQ_KEY_ACTIVE] = "pmq:active:",
    [PMQ_KEY_HEARTBEAT] = "pmq:worker:",
    [PMQ_KEY_WORKERS] = "pmq:workers",
    [PMQ_KEY_WAKE] = "pmq:wake:",
    [PMQ_KEY_PAUSED] = "pmq:paused",
    [PMQ_KEY_STATS] = "pmq:stats:",
    [PMQ_KEY_MIGRATOR_STATS] = "pmq:stats:migrator",
    [PMQ_KEY_DEADLETTER] = "deadletter:",
    [PMQ_KEY_DEADLETTER_LIST] = "deadletter:queue",
    [PMQ_KEY_ALIVE] = "pmq:alive",
};
static const char *const band_suffixes[PMQ_NBANDS] = {":high", "", ":low"};
static const char *const band_names[PMQ_NBANDS] = {"high", "normal", "low"};

/* Append `s`, at most `max` bytes of it, at `at`; returns the new end. */
static char *put(char *at, const char *s, size_t max)
{
    while (max-- && *s)
        *at++ = *s++;
    return at;
}

/*
 * "<prefix><head><name><suffix>"; every part is bounded (keys.h), none is
 * cut.  Copied, not printf'd: the migrator builds three keys per job.
 */
static char *build(char *key, const char *prefix, const char *head, const char *name,
                   const char *suffix)
{
    char *at = put(key, prefix, PMQ_KEY_PREFIX_MAX);
    at = put(at, head, PMQ_KEY_MAX); /* ours: at most PMQ_KEY_HEAD_MAX before a name */
    at = put(at, name ? name : "", PMQ_WORKER_ID_SIZE - 1);
    at = put(at, suffix, PMQ_KEY_MAX); /* a band's, after a queue name */
    *at = '\0';
    return key;
}

char *pmq_key(char *key, const char *prefix, pmq_key_kind kind, const char *name)
{
    return build(key, prefix, heads[kind], name, "");
}

/* A queue's ready list has its band after its name. */
char *pmq_key_queue(char *key, const char *prefix, const char *queue, int band)
{
    return build(key, prefix, "queue:", queue, band_suffixes[band]);
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
    if (h->element[0]->type != REDIS_REPLY_STRING) {
        freeReplyObject(h);
        return 0;
    }
    const char *v[7];
    for (int k = 0; k < 7; k++)
        v[k] = h->element[k]->type == REDIS_REPLY_STRING ? h->element[k]->str : "";
    hb->host = v[0];
    hb->pid = atoi(v[1]);
    hb->pool = v[2];
    hb->queues = v[3];
    hb->started_at_ms = atoll(v[4]);
    hb->beat_at_ms = atoll(v[5]);
    hb->current = v[6];
    hb->reply = h;
    return 1;
}

void pmq_heartbeat_clear(pmq_heartbeat *hb)
{
    if (hb->reply)
        freeReplyObject(hb->reply);
    memset(hb, 0, sizeof *hb);
}
