/*
 * maintenance.c -- recovery of lost workers and reconciliation of Redis with
 * PostgreSQL (see maintenance.h).
 *
 * Claims of a worker that is neither alive nor listed in pmq:workers (it
 * stopped cleanly, or never finished starting) are found by a SCAN of the
 * pmq:active:* hashes at each full pass, never by KEYS, which blocks Redis.
 *
 * Redis is a disposable index: when it loses data (FLUSHALL, a restart
 * without persistence, a failover), the jobs PostgreSQL holds as migrated or
 * running and that Redis no longer knows go back to queued, and the
 * migrator pushes them again.  A sentinel key tells a loss at once; a slower
 * full pass catches anything else.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "control.h"
#include "db.h"
#include "keys.h"
#include "log.h"
#include "maintenance.h"
#include "recovery.h"
#include "served.h"
#include "session.h"
#include "util.h"

#define LEADER_LOCK_KEY 1886220545 /* 0x706d7101: "pmq" + 1 */
#define TICK_MS 1000
#define FULL_PASS_MS 10000
#define FULL_PASS_MIN_AGE_MS 10000

int pmq_recover_lost_workers(const pmq_config *cfg, PGconn *pg, pmq_redis *r)
{
    redisReply *members = pmq_heartbeat_members(r);
    if (!members || members->type != REDIS_REPLY_ARRAY) {
        if (members)
            freeReplyObject(members);
        return -1;
    }
    size_t n = members->elements;
    const char **ids = pmq_xcalloc(n + 1, sizeof *ids);
    int *alive = pmq_xcalloc(n + 1, sizeof *alive);
    for (size_t i = 0; i < n; i++)
        ids[i] = members->element[i]->str ? members->element[i]->str : "";
    int recovered = pmq_heartbeat_alive(r, ids, n, alive) < 0 ? -1 : 0;
    for (size_t i = 0; recovered >= 0 && i < n; i++) {
        if (alive[i])
            continue;
        if (pmq_recover_worker(cfg, pg, r, ids[i], "worker lost: heartbeat expired", NULL, 1) < 0)
            continue;
        pmq_heartbeat_unlist(r, ids[i]);
        recovered++;
    }
    if (recovered < 0 && r->c->err)
        pmq_redis_reconnect(r);
    free(ids);
    free(alive);
    freeReplyObject(members);
    return recovered;
}

/* `s` with the glob characters of SCAN's MATCH escaped, into buf. */
static char *glob_escape(char *buf, size_t size, const char *s)
{
    size_t n = 0;
    for (; *s && n + 3 < size; s++) {
        if (strchr("*?[]\\", *s))
            buf[n++] = '\\';
        buf[n++] = *s;
    }
    buf[n] = '\0';
    return buf;
}

int pmq_recover_unlisted_workers(const pmq_config *cfg, PGconn *pg, pmq_redis *r)
{
    char pattern[2 * PMQ_KEY_MAX + 1], esc[2 * PMQ_KEY_MAX], head[PMQ_KEY_MAX];
    pmq_key_active(head, r->prefix, "");
    snprintf(pattern, sizeof pattern, "%s*", glob_escape(esc, sizeof esc, head));
    size_t skip = strlen(head);
    char cursor[32] = "0";
    int recovered = 0;
    do {
        redisReply *rep = pmq_redis_command(r, "SCAN %s MATCH %s COUNT 1000", cursor, pattern);
        if (!rep || rep->type != REDIS_REPLY_ARRAY || rep->elements != 2 ||
            rep->element[0]->type != REDIS_REPLY_STRING) {
            if (rep)
                freeReplyObject(rep);
            else
                pmq_redis_reconnect(r);
            return -1;
        }
        snprintf(cursor, sizeof cursor, "%s", rep->element[0]->str);
        const redisReply *keys = rep->element[1];
        for (size_t i = 0; keys->type == REDIS_REPLY_ARRAY && i < keys->elements; i++) {
            const char *k = keys->element[i]->str;
            if (!k || strlen(k) <= skip)
                continue;
            const char *id = k + skip;
            /* A worker that beats is alive; a listed one is the other pass's. */
            int known = pmq_heartbeat_known(r, id);
            if (known < 0 && r->c->err) {
                freeReplyObject(rep);
                pmq_redis_reconnect(r);
                return -1;
            }
            if (known != 0)
                continue;
            /* Not alive and not listed: it stopped, so its leftovers never ran. */
            if (pmq_recover_worker(cfg, pg, r, id, "worker stopped", NULL, 0) > 0)
                recovered++;
        }
        freeReplyObject(rep);
    } while (strcmp(cursor, "0") != 0);
    return recovered;
}

int pmq_reconcile(PGconn *pg, pmq_redis *r, int min_age_ms)
{
    char age[16];
    snprintf(age, sizeof age, "%d", min_age_ms);
    const char *params[1] = {age};
    PGresult *res = PQexecParams(pg,
                                 "SELECT id FROM jobs WHERE status IN ('migrated', 'running')"
                                 " AND updated_at <= now() - $1 * interval '1 millisecond'",
                                 1, NULL, params, NULL, NULL, 0);
    if (PQresultStatus(res) != PGRES_TUPLES_OK) {
        log_error("reconcile: %s", PQerrorMessage(pg));
        PQclear(res);
        return -1;
    }
    int n = PQntuples(res);
    char key[PMQ_KEY_MAX];
    /* Which ids does Redis still know?  Pipelined EXISTS, in chunks. */
    char *missing = NULL;
    size_t mlen = 0, mcap = 0;
    int nmissing = 0, rc = 0;
    for (int start = 0; start < n && rc == 0; start += 1000) {
        int end = start + 1000 < n ? start + 1000 : n;
        for (int i = start; i < end; i++) {
            redisAppendCommand(r->c, "EXISTS %s", pmq_key_job(key, r->prefix, PQgetvalue(res, i, 0)));
        }
        for (int i = start; i < end; i++) {
            redisReply *rep = NULL;
            if (redisGetReply(r->c, (void **)&rep) != REDIS_OK) {
                rc = -1;
                pmq_redis_reconnect(r);
                break;
            }
            if (rep->type == REDIS_REPLY_INTEGER && rep->integer == 0) {
                const char *id = PQgetvalue(res, i, 0);
                size_t need = mlen + strlen(id) + 3;
                if (need > mcap) {
                    mcap = need * 2 + 64;
                    missing = pmq_xrealloc(missing, mcap);
                }
                mlen += (size_t)sprintf(missing + mlen, "%s%s", mlen ? "," : "{", id);
                nmissing++;
            }
            freeReplyObject(rep);
        }
    }
    PQclear(res);
    if (rc < 0 || nmissing == 0) {
        free(missing);
        return rc < 0 ? -1 : 0;
    }
    strcpy(missing + mlen, "}");
    const char *p2[1] = {missing};
    res = PQexecParams(pg,
                       "WITH r AS (UPDATE jobs SET status = 'queued', updated_at = now()"
                       " WHERE id = ANY($1::uuid[]) AND status IN ('migrated', 'running')"
                       " RETURNING 1) SELECT count(*), pg_notify('pmq_jobs', '') FROM r",
                       1, NULL, p2, NULL, NULL, 0);
    free(missing);
    if (PQresultStatus(res) != PGRES_TUPLES_OK) {
        log_error("reconcile: %s", PQerrorMessage(pg));
        PQclear(res);
        return -1;
    }
    int requeued = atoi(PQgetvalue(res, 0, 0));
    PQclear(res);
    if (requeued)
        log_warning("Redis lost %d in-flight job%s: requeued them from PostgreSQL", requeued,
                    requeued == 1 ? "" : "s");
    return requeued;
}

/* 1 when the sentinel was missing (Redis lost its data), 0 if present, -1 on error. */
static int sentinel_lost(pmq_redis *r)
{
    char key[PMQ_KEY_MAX];
    pmq_key_alive(key, r->prefix);
    redisReply *rep = pmq_redis_command(r, "SET %s 1 NX", key);
    if (!rep)
        return -1;
    int lost = rep->type == REDIS_REPLY_STATUS; /* "OK": it was not there */
    freeReplyObject(rep);
    return lost;
}

int pmq_maintenance_main(const pmq_config *cfg, volatile int *stopping)
{
    pmq_log_set_ident("pmqd: maintenance");
    pmq_session s = {.cfg = cfg, .want = PMQ_SESSION_PG | PMQ_SESSION_REDIS,
                     .backoff_min_ms = TICK_MS, .backoff_max_ms = TICK_MS};
    int leader = 0;
    int64_t last_full = 0;

    while (!*stopping) {
        int connected = pmq_session_connect(&s);
        if (connected != 0)
            leader = 0; /* a new PostgreSQL session holds no lock */
        if (connected < 0) {
            pmq_session_wait(&s);
            continue;
        }
        if (connected > 0)
            pmq_served();
        PGconn *pg = s.pg;
        pmq_redis *r = s.r;
        if (!leader) {
            PGresult *res = PQexec(pg, "SELECT pg_try_advisory_lock(" PMQ_STR(LEADER_LOCK_KEY) ")");
            leader = PQresultStatus(res) == PGRES_TUPLES_OK && PQgetvalue(res, 0, 0)[0] == 't';
            PQclear(res);
            if (leader)
                log_info("this host now does maintenance");
        }
        if (leader) {
            int lost = sentinel_lost(r);
            if (lost < 0) {
                pmq_redis_reconnect(r);
            } else {
                int64_t now = pmq_now_ms();
                int full = lost || now - last_full >= FULL_PASS_MS;
                if (full) {
                    pmq_reconcile(pg, r, lost ? 0 : FULL_PASS_MIN_AGE_MS);
                    pmq_sync_paused(pg, r);
                }
                pmq_recover_lost_workers(cfg, pg, r);
                if (full) {
                    pmq_recover_unlisted_workers(cfg, pg, r);
                    last_full = now;
                }
            }
        }
        pmq_sleep_ms(TICK_MS);
    }
    pmq_session_close(&s);
    return 0;
}
