/*
 * recovery.c -- releasing a stopped worker's claims (see recovery.h).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ack.h"
#include "backoff.h"
#include "claim.h"
#include "entry.h"
#include "keys.h"
#include "log.h"
#include "queue_settings.h"
#include "recovery.h"
#include "util.h"

static const char *running_reason(const pmq_death_note *note, const char *id)
{
    for (int i = 0; note && i < note->nrunning; i++)
        if (!strcmp(note->running[i], id))
            return note->running_reason[i][0] ? note->running_reason[i] : note->reason;
    return NULL;
}

/* The attempt a claimed entry is for (its attempt_count + 1), or 0 when malformed. */
static int entry_attempt(const char *text, char id[PMQ_JOB_ID_SIZE])
{
    pmq_entry e;
    if (pmq_entry_read(text, &e) < 0)
        return 0;
    memcpy(id, e.id, PMQ_JOB_ID_SIZE);
    pmq_entry_clear(&e);
    return e.attempt_count + 1;
}

/*
 * Which claimed entries PostgreSQL has already settled: the job is terminal,
 * or the entry's attempt was recorded (the worker died after its outcome was
 * committed, before it was removed from Redis).  Running one again would
 * break I3.  `rep` is HGETALL's (id, entry) pairs.  Returns per pair 0 (not
 * settled), 'c' or 'f' (the job completed or failed), or 's' (settled
 * otherwise); caller frees; NULL on a server error.
 */
static char *settled_entries(PGconn *pg, const redisReply *rep)
{
    size_t n = rep->elements / 2;
    char(*ids)[PMQ_JOB_ID_SIZE] = pmq_xcalloc(n ? n : 1, sizeof *ids);
    int *attempts = pmq_xcalloc(n ? n : 1, sizeof *attempts);
    char *id_arr = pmq_xmalloc(n * (PMQ_JOB_ID_SIZE + 1) + 3), *att_arr = pmq_xmalloc(n * 12 + 3);
    size_t li = 0, la = 0;
    id_arr[li++] = '{';
    att_arr[la++] = '{';
    for (size_t i = 0; i < n; i++) {
        attempts[i] = entry_attempt(rep->element[2 * i + 1]->str, ids[i]);
        if (attempts[i] > 0) {
            li += (size_t)sprintf(id_arr + li, "%s%s", li > 1 ? "," : "", ids[i]);
            la += (size_t)sprintf(att_arr + la, "%s%d", la > 1 ? "," : "", attempts[i]);
        }
    }
    strcpy(id_arr + li, "}");
    strcpy(att_arr + la, "}");
    const char *params[2] = {id_arr, att_arr};
    PGresult *res = PQexecParams(pg,
                                 "SELECT e.id::text, e.attempt, j.status FROM unnest($1::uuid[], $2::int[])"
                                 " AS e(id, attempt) JOIN jobs j ON j.id = e.id"
                                 " WHERE j.status IN ('completed', 'failed', 'cancelled')"
                                 " OR j.attempt_count >= e.attempt",
                                 2, NULL, params, NULL, NULL, 0);
    char *settled = NULL;
    if (PQresultStatus(res) == PGRES_TUPLES_OK) {
        settled = pmq_xcalloc(n ? n : 1, 1);
        for (int k = 0; k < PQntuples(res); k++) {
            const char *status = PQgetvalue(res, k, 2);
            char code = !strcmp(status, "completed") ? 'c' : !strcmp(status, "failed") ? 'f' : 's';
            for (size_t i = 0; i < n; i++)
                if (attempts[i] == atoi(PQgetvalue(res, k, 1)) &&
                    !strcmp(ids[i], PQgetvalue(res, k, 0)))
                    settled[i] = code;
        }
    } else {
        log_error("recovery: could not read the claimed jobs' state: %s", PQerrorMessage(pg));
    }
    PQclear(res);
    free(ids);
    free(attempts);
    free(id_arr);
    free(att_arr);
    return settled;
}

/*
 * Recover `worker_id`'s claims as pmq_recover_worker() says, passing over
 * the entries `held` says a live process still holds (when not NULL).
 */
static int recover(const pmq_config *cfg, PGconn *pg, pmq_redis *r, const char *worker_id,
                   const char *reason, const pmq_death_note *note, int charge,
                   int (*held)(void *arg, const char *id), void *held_arg)
{
    char active[PMQ_KEY_MAX];
    pmq_key_active(active, r->prefix, worker_id);
    redisReply *rep = pmq_redis_command(r, "HGETALL %s", active);
    if (!rep || rep->type != REDIS_REPLY_ARRAY) {
        if (rep)
            freeReplyObject(rep);
        return -1;
    }
    size_t n = rep->elements / 2;
    char *settled = settled_entries(pg, rep);
    if (!settled) {
        freeReplyObject(rep);
        return -1;
    }
    pmq_outcome *charged = pmq_xcalloc(n ? n : 1, sizeof *charged);
    size_t ncharged = 0, nreturned = 0;
    unsigned seed = (unsigned)pmq_wall_us();
    int rc = 0;

    for (size_t i = 0; i < n; i++) {
        const char *field = rep->element[2 * i]->str, *entry = rep->element[2 * i + 1]->str;
        if (held && held(held_arg, field))
            continue;
        pmq_entry e;
        if (pmq_entry_read(entry, &e) < 0) {
            log_warning("dropping a malformed claimed entry of worker \"%s\"", worker_id);
            pmq_redis_do(r, "HDEL %s %s", active, field);
            continue;
        }
        const char *id = e.id, *queue = e.queue;
        int priority = e.priority, attempt = e.attempt_count + 1;
        if (settled[i]) {
            /* PostgreSQL already has this attempt's outcome: only Redis lagged. */
            pmq_redis_do(r, "HDEL %s %s", active, field);
            if (settled[i] != 's')
                pmq_ack_settle_hash(r, id, attempt, settled[i] == 'c' ? "completed" : "failed");
            pmq_entry_clear(&e);
            continue;
        }
        const char *why = running_reason(note, id);
        if (charge && (why || !note)) {
            pmq_outcome *o = &charged[ncharged++];
            memcpy(o->id, id, PMQ_JOB_ID_SIZE);
            o->attempt = attempt;
            o->status = PMQ_RETRY; /* failed if it was the last attempt */
            o->error = pmq_xstrdup(why ? why : reason);
            o->started_us = o->finished_us = pmq_wall_us();
            const pmq_queue_config *qs = pmq_queue_settings(cfg, queue);
            o->delay_ms = pmq_backoff_ms(attempt, qs->backoff_base_ms, qs->backoff_max_ms, &seed);
            o->claimed = 1;
            o->queue = pmq_xstrdup(queue);
            o->progress = -1;
        } else if (pmq_claim_return(r, worker_id, queue, priority, id) >= 0) {
            nreturned++;
        } else {
            rc = -1;
        }
        pmq_entry_clear(&e);
    }
    freeReplyObject(rep);
    free(settled);

    if (ncharged && pmq_ack_apply(pg, r, worker_id, charged, ncharged) < 0)
        rc = -1;
    for (size_t i = 0; i < ncharged; i++)
        pmq_outcome_clear(&charged[i]);
    free(charged);
    if (ncharged || nreturned)
        log_info("recovered worker \"%s\": %zu attempt%s charged (%s), %zu returned to the queue",
                 worker_id, ncharged, ncharged == 1 ? "" : "s", reason, nreturned);
    return rc < 0 ? -1 : (int)(ncharged + nreturned);
}

int pmq_recover_worker(const pmq_config *cfg, PGconn *pg, pmq_redis *r, const char *worker_id,
                       const char *reason, const pmq_death_note *note, int charge)
{
    return recover(cfg, pg, r, worker_id, reason, note, charge, NULL, NULL);
}

int pmq_recover_strays(const pmq_config *cfg, PGconn *pg, pmq_redis *r, const char *worker_id,
                       const char *reason, int (*held)(void *arg, const char *id), void *held_arg)
{
    return recover(cfg, pg, r, worker_id, reason, NULL, 0, held, held_arg);
}
