/*
 * control.c -- pause, resume, cancel (see control.h).
 */
#include <stdio.h>
#include <string.h>

#include "control.h"
#include "db.h"
#include "keys.h"
#include "util.h"

int pmq_queue_set_paused(PGconn *pg, pmq_redis *r, const char *queue, int paused,
                         pmq_errors *errs)
{
    const char *params[2] = {queue, paused ? "true" : "false"};
    PGresult *res = PQexecParams(pg,
                                 "UPDATE job_queues SET is_paused = $2::boolean, updated_at = now()"
                                 " WHERE name = $1 RETURNING name",
                                 2, NULL, params, NULL, NULL, 0);
    if (pmq_db_check(pg, res, PGRES_TUPLES_OK, errs,
                     "could not %s queue \"%s\"", paused ? "pause" : "resume", queue) < 0)
        return -1;
    int found = PQntuples(res);
    PQclear(res);
    if (!found) {
        pmq_error *e = pmq_errors_add(errs, "queue \"%s\" does not exist", queue);
        pmq_error_hint(e, "\"pmqctl queues\" lists the queues.");
        return -1;
    }
    char set[PMQ_KEY_MAX], wake[PMQ_KEY_MAX];
    pmq_key_paused(set, r->prefix);
    if (pmq_redis_do(r, paused ? "SADD %s %s" : "SREM %s %s", set, queue) < 0) {
        pmq_errors_add(errs, "could not %s queue \"%s\" in Redis", paused ? "pause" : "resume",
                       queue);
        return -1;
    }
    if (paused) {
        /* Let the workers' batches claimed before it see it (PMQ_PAUSE_LAG_MS). */
        pmq_sleep_ms(PMQ_PAUSE_LAG_MS);
    } else {
        /* Wake the workers and the migrator: work may have piled up. */
        pmq_redis_do(r, "LPUSH %s 1", pmq_key_wake(wake, r->prefix, queue));
        PQclear(PQexec(pg, "NOTIFY pmq_jobs"));
    }
    return 0;
}

int pmq_job_cancel(PGconn *pg, pmq_redis *r, const char *id, char was[16], pmq_errors *errs)
{
    const char *params[1] = {id};
    PGresult *res = PQexecParams(
        pg,
        "WITH old AS (SELECT id, status, attempt_count FROM jobs WHERE id = $1::uuid FOR UPDATE),"
        " u AS (UPDATE jobs j SET status = 'cancelled', cancelled_at = now(), updated_at = now()"
        "  FROM old WHERE j.id = old.id AND old.status IN ('queued', 'migrated', 'running')"
        "  RETURNING j.id),"
        " l AS (INSERT INTO job_logs (job_id, status, log_message, attempt_number, started_at,"
        "  finished_at, duration) SELECT u.id, 'cancelled', 'cancelled by an operator',"
        "  old.attempt_count, now(), now(), interval '0' FROM u JOIN old ON old.id = u.id)"
        " SELECT old.status, (SELECT count(*) FROM u) FROM old",
        1, NULL, params, NULL, NULL, 0);
    if (pmq_db_check(pg, res, PGRES_TUPLES_OK, errs, "could not cancel job \"%s\"", id) < 0)
        return -1;
    if (PQntuples(res) == 0) {
        pmq_errors_add(errs, "job \"%s\" does not exist", id);
        PQclear(res);
        return -1;
    }
    snprintf(was, 16, "%s", PQgetvalue(res, 0, 0));
    int cancelled = PQgetvalue(res, 0, 1)[0] != '0';
    PQclear(res);
    if (cancelled) {
        /* The claim script drops a cancelled entry; a running handler sees the flag. */
        char key[PMQ_KEY_MAX];
        pmq_key_job(key, r->prefix, id);
        pmq_redis_do(r, "HSET %s cancelled 1 status cancelled", key);
        pmq_redis_do(r, "EXPIRE %s 86400", key);
    }
    return cancelled;
}

int pmq_sync_paused(PGconn *pg, pmq_redis *r)
{
    PGresult *res = PQexec(pg, "SELECT name FROM job_queues WHERE is_paused");
    if (PQresultStatus(res) != PGRES_TUPLES_OK) {
        PQclear(res);
        return -1;
    }
    char set[PMQ_KEY_MAX];
    pmq_key_paused(set, r->prefix);
    redisAppendCommand(r->c, "MULTI");
    redisAppendCommand(r->c, "DEL %s", set);
    for (int i = 0; i < PQntuples(res); i++)
        redisAppendCommand(r->c, "SADD %s %s", set, PQgetvalue(res, i, 0));
    redisAppendCommand(r->c, "EXEC");
    size_t replies = (size_t)PQntuples(res) + 3;
    PQclear(res);
    int errors = pmq_redis_replies(r, replies, "copy the paused queues");
    if (errors < 0)
        pmq_redis_reconnect(r);
    return errors == 0 ? 0 : -1;
}
