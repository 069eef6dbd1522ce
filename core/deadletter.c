/*
 * deadletter.c -- listing, replaying and purging dead-lettered jobs (see
 * deadletter.h).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "db.h"
#include "deadletter.h"
#include "keys.h"
#include "util.h"

PGresult *pmq_dlq_list(PGconn *pg, const char *queue, int limit, pmq_errors *errs)
{
    char lim[16];
    snprintf(lim, sizeof lim, "%d", limit > 0 ? limit : 100);
    const char *params[2] = {queue, lim};
    PGresult *res = PQexecParams(
        pg,
        "SELECT id, queue_name, attempt_count, to_json(failed_at) #>> '{}', last_error_message,"
        " payload"
        " FROM jobs WHERE status = 'failed' AND ($1::text IS NULL OR queue_name = $1)"
        " ORDER BY failed_at DESC NULLS LAST, id LIMIT $2::int",
        2, NULL, params, NULL, NULL, 0);
    if (pmq_db_check(pg, res, PGRES_TUPLES_OK, errs, "could not list dead-lettered jobs") < 0)
        return NULL;
    return res;
}

/* Remove job `id`'s entry from deadletter:queue and its job:<id> hash. */
static int forget_in_redis(pmq_redis *r, const char *id)
{
    char key[PMQ_KEY_MAX], list[PMQ_KEY_MAX], hash[PMQ_KEY_MAX];
    pmq_key_deadletter(key, r->prefix, id);
    pmq_key_deadletter_list(list, r->prefix);
    pmq_key_job(hash, r->prefix, id);
    redisReply *entry = pmq_redis_command(r, "GET %s", key);
    if (!entry)
        return -1;
    if (entry->type == REDIS_REPLY_STRING)
        pmq_redis_do(r, "LREM %s 1 %b", list, entry->str, entry->len);
    freeReplyObject(entry);
    /* The hash remembers which attempt was pushed; a replay starts over. */
    return pmq_redis_do(r, "DEL %s %s", key, hash);
}

static int exec_cmd(PGconn *pg, const char *sql, pmq_errors *errs)
{
    PGresult *res = PQexec(pg, sql);
    int ok = PQresultStatus(res) == PGRES_COMMAND_OK;
    if (!ok)
        pmq_db_error(errs, pg, res, "could not run \"%s\"", sql);
    PQclear(res);
    return ok ? 0 : -1;
}

int pmq_dlq_replay(PGconn *pg, pmq_redis *r, const char *id, pmq_errors *errs)
{
    if (exec_cmd(pg, "BEGIN", errs) < 0)
        return -1;
    const char *params[1] = {id};
    /* The row stays locked until Redis forgot the old attempts. */
    PGresult *res = PQexecParams(
        pg,
        "WITH old AS (SELECT id, attempt_count FROM jobs WHERE id = $1::uuid AND status = 'failed'"
        " FOR UPDATE),"
        " u AS (UPDATE jobs j SET status = 'queued', attempt_count = 0, run_at = now(),"
        "  failed_at = NULL, last_error_message = NULL, worker_id = NULL, updated_at = now()"
        "  FROM old WHERE j.id = old.id RETURNING j.id, old.attempt_count),"
        " l AS (INSERT INTO job_logs (job_id, status, log_message, attempt_number, started_at,"
        "  finished_at, duration) SELECT id, 'replayed', 'replayed from the dead letter with a"
        " fresh attempt budget', attempt_count, now(), now(), interval '0' FROM u)"
        " SELECT count(*) FROM u",
        1, NULL, params, NULL, NULL, 0);
    if (pmq_db_check(pg, res, PGRES_TUPLES_OK, errs, "could not replay job \"%s\"", id) < 0) {
        PQclear(PQexec(pg, "ROLLBACK"));
        return -1;
    }
    int found = atoi(PQgetvalue(res, 0, 0));
    PQclear(res);
    if (found && forget_in_redis(r, id) < 0) {
        pmq_errors_add(errs, "could not replay job \"%s\": Redis is unreachable", id);
        PQclear(PQexec(pg, "ROLLBACK"));
        return -1;
    }
    if (found && exec_cmd(pg, "NOTIFY pmq_jobs", errs) < 0) {
        PQclear(PQexec(pg, "ROLLBACK"));
        return -1;
    }
    if (exec_cmd(pg, "COMMIT", errs) < 0)
        return -1;
    return found;
}

int pmq_dlq_replay_queue(PGconn *pg, pmq_redis *r, const char *queue, pmq_errors *errs)
{
    const char *params[1] = {queue};
    PGresult *res = PQexecParams(pg,
                                 "SELECT id FROM jobs WHERE status = 'failed' AND queue_name = $1"
                                 " ORDER BY failed_at",
                                 1, NULL, params, NULL, NULL, 0);
    if (pmq_db_check(pg, res, PGRES_TUPLES_OK, errs,
                     "could not list dead-lettered jobs of queue \"%s\"", queue) < 0)
        return -1;
    int n = 0;
    for (int i = 0; i < PQntuples(res); i++) {
        int rc = pmq_dlq_replay(pg, r, PQgetvalue(res, i, 0), errs);
        if (rc < 0) {
            PQclear(res);
            return -1;
        }
        n += rc;
    }
    PQclear(res);
    return n;
}

int pmq_dlq_purge(PGconn *pg, pmq_redis *r, int64_t older_than_ms, pmq_errors *errs)
{
    char ms[32];
    snprintf(ms, sizeof ms, "%lld", (long long)older_than_ms);
    const char *params[1] = {ms};
    PGresult *res = PQexecParams(pg,
                                 "DELETE FROM jobs WHERE status = 'failed'"
                                 " AND failed_at < now() - $1::bigint * interval '1 millisecond'"
                                 " RETURNING id",
                                 1, NULL, params, NULL, NULL, 0);
    if (pmq_db_check(pg, res, PGRES_TUPLES_OK, errs, "could not purge dead-lettered jobs") < 0)
        return -1;
    int n = PQntuples(res);
    for (int i = 0; i < n; i++)
        forget_in_redis(r, PQgetvalue(res, i, 0));
    PQclear(res);
    return n;
}
