/*
 * migrator.c -- PostgreSQL -> Redis (see migrator.h).
 *
 * The claim is one UPDATE over a FOR UPDATE SKIP LOCKED sub-select, so any
 * number of migrators never claim the same row.  The push happens inside the
 * claiming transaction: a failed push rolls the claim back, and a commit
 * that fails after a push leaves the job queued in PostgreSQL but already in
 * Redis; the push script is idempotent per (job, attempt), so the next claim
 * does not queue it twice.
 */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "db.h"
#include "entry.h"
#include "keys.h"
#include "log.h"
#include "migrator.h"
#include "served.h"
#include "session.h"
#include "util.h"

/* lua/push.lua says what it takes and does. */
static pmq_script push_script = {pmq_lua_push, ""};

/* Append `key` with its NUL to `keys`, remembering where key number `k` starts. */
static void add_key(pmq_buf *keys, size_t *key_at, int k, const char *key)
{
    key_at[k] = keys->len;
    pmq_buf_put(keys, key, strlen(key) + 1);
}

/*
 * The claim returns the columns of the guide's RedisJobPayload, which the
 * migrator writes as JSON itself (entry.c): building it in PostgreSQL cost
 * more than the UPDATE's index work.  Rows are reached by the ctid that
 * FOR UPDATE locked: no second descent of jobs_pkey per row, and no plan
 * that a table without statistics could turn into a sequential scan.
 *
 * The row is the producer's: pmq_enqueue() refuses an infinite run_at, but a
 * row written around it (or before sql/005) may hold one, and one such row
 * failed every claim and every next-due query, for every queue.  So the lag
 * of an infinite run_at counts as 0, and the next-due time ignores it (an
 * 'infinity' row never becomes due; a '-infinity' one is due at once).
 */
static const pmq_stmt claim_stmt = {
    "pmq_migrator_claim",
    "WITH u AS (UPDATE jobs j SET status = 'migrated', updated_at = now()"
    " WHERE j.ctid = ANY (ARRAY("
    "  SELECT ctid FROM jobs"
    "  WHERE status = 'queued' AND run_at <= now()"
    "    AND queue_name NOT IN (SELECT name FROM job_queues WHERE is_paused)"
    "  ORDER BY priority, created_at LIMIT $1 FOR UPDATE SKIP LOCKED))"
    " RETURNING j.id, j.attempt_count, j.queue_name, j.priority, j.payload, j.created_at,"
    "  j.max_attempts, j.tenant_id, j.run_at)"
    " SELECT id, attempt_count, queue_name, priority, payload::text,"
    "  CASE WHEN isfinite(created_at) THEN (date_part('epoch', created_at) * 1000000)::bigint"
    "   ELSE 0 END, max_attempts, tenant_id,"
    "  CASE WHEN isfinite(run_at) THEN date_part('epoch', now() - run_at) ELSE 0 END FROM u"
    " ORDER BY priority, created_at", 1};

/* Milliseconds until the next delayed job is due; -1 when none is waiting. */
static const pmq_stmt next_stmt = {
    "pmq_migrator_next_due",
    "SELECT ceil(extract(epoch FROM min(run_at) - now()) * 1000)::bigint FROM jobs"
    " WHERE status = 'queued' AND isfinite(run_at)"
    "  AND queue_name NOT IN (SELECT name FROM job_queues WHERE is_paused)",
    0};

static int exec_ok(PGconn *pg, const char *sql)
{
    PGresult *res = PQexec(pg, sql);
    int ok = PQresultStatus(res) == PGRES_COMMAND_OK || PQresultStatus(res) == PGRES_TUPLES_OK;
    if (!ok)
        log_error("migrator: %s failed: %s", sql, PQerrorMessage(pg));
    PQclear(res);
    return ok ? 0 : -1;
}

/*
 * `first` (BEGIN or COMMIT), then the prepared `st`, in one round trip
 * (libpq pipeline mode): on a quiet queue a batch is one job, so each round
 * trip is a visible share of its latency.  Returns `st`'s result when it
 * has rows; NULL after logging "could not <what>" and why (`st` does not
 * run if `first` fails).  `*first_ok` (when not NULL) says whether `first`
 * succeeded, whatever became of `st`.
 */
static PGresult *pair(PGconn *pg, const char *first, const pmq_stmt *st, const char *const *params,
                      const char *what, int *first_ok)
{
    if (first_ok)
        *first_ok = 0;
    pmq_errors errs = PMQ_ERRORS_INIT;
    if (pmq_db_prepare(pg, st, &errs) < 0) {
        log_error("migrator: could not %s: %s", what, errs.items[0].message);
        pmq_errors_clear(&errs);
        return NULL;
    }
    if (!PQenterPipelineMode(pg)) {
        log_error("migrator: could not %s: %s", what, PQerrorMessage(pg));
        return NULL;
    }
    int sent = PQsendQueryParams(pg, first, 0, NULL, NULL, NULL, NULL, 0) &&
               PQsendQueryPrepared(pg, st->name, st->nparams, params, NULL, NULL, 0) &&
               PQpipelineSync(pg);
    if (!sent)
        log_error("migrator: could not %s: %s", what, PQerrorMessage(pg));
    PGresult *out = NULL, *res;
    int results = 0;
    /* first's result, NULL, st's, NULL, then the sync point. */
    while (sent) {
        res = PQgetResult(pg);
        if (!res) {
            if (PQstatus(pg) != CONNECTION_OK)
                break;
            continue;
        }
        ExecStatusType status = PQresultStatus(res);
        if (status == PGRES_PIPELINE_SYNC) {
            PQclear(res);
            break;
        }
        if (++results == 1 && status == PGRES_COMMAND_OK && first_ok)
            *first_ok = 1;
        if ((results == 1 && status != PGRES_COMMAND_OK) ||
            (results == 2 && status != PGRES_TUPLES_OK && status != PGRES_PIPELINE_ABORTED)) {
            log_error("migrator: could not %s: %s", what, PQresultErrorMessage(res));
        } else if (results == 2 && status == PGRES_TUPLES_OK) {
            out = res;
            res = NULL;
        }
        PQclear(res);
    }
    PQexitPipelineMode(pg);
    return out;
}

/*
 * COMMIT, and with `next_due_ms` the next delayed job's due time, in one
 * round trip.  A claim that committed succeeded even when the next-due query
 * failed: the next due time is then unknown (-1: poll_interval, the safety
 * net), and the batch is not retried after a back-off.
 */
static int commit(PGconn *pg, int64_t *next_due_ms)
{
    if (!next_due_ms)
        return exec_ok(pg, "COMMIT");
    int committed;
    PGresult *res = pair(pg, "COMMIT", &next_stmt, NULL, "commit the claim", &committed);
    if (!res)
        return committed ? 0 : -1;
    *next_due_ms = PQgetisnull(res, 0, 0) ? -1 : atoll(PQgetvalue(res, 0, 0));
    PQclear(res);
    return 0;
}

int pmq_migrate_batch(PGconn *pg, pmq_redis *r, int batch, int64_t *next_due_ms)
{
    char limit[16];
    snprintf(limit, sizeof limit, "%d", batch);
    const char *params[1] = {limit};
    PGresult *res = pair(pg, "BEGIN", &claim_stmt, params, "claim jobs", NULL);
    if (!res) {
        if (PQtransactionStatus(pg) != PQTRANS_IDLE)
            exec_ok(pg, "ROLLBACK");
        return -1;
    }
    int n = PQntuples(res);
    if (n < batch && next_due_ms)
        *next_due_ms = -1;
    else
        next_due_ms = NULL;
    if (n == 0) {
        PQclear(res);
        return commit(pg, next_due_ms) < 0 ? -1 : 0;
    }

    /* Per job: three keys (its hash, band and wake-up list) and three args. */
    int nkeys = 1 + 3 * n, nargs = 3 + 3 * n;
    pmq_buf keys = {0}; /* the keys end to end: PMQ_KEY_MAX slots would spread them over MBs */
    size_t *key_at = pmq_xmalloc((size_t)nkeys * sizeof *key_at);
    const char **kv = pmq_xmalloc((size_t)nkeys * sizeof *kv);
    const char **args = pmq_xmalloc((size_t)nargs * sizeof *args);
    size_t *lens = pmq_xmalloc((size_t)nargs * sizeof *lens);
    char(*attempts)[12] = pmq_xmalloc((size_t)n * sizeof *attempts);
    char **entries = pmq_xcalloc((size_t)n, sizeof *entries);
    double lag_sum = 0, lag_max = 0;
    char now[32], sum[32], max[32];
    char key[PMQ_KEY_MAX];
    add_key(&keys, key_at, 0, pmq_key_migrator_stats(key, r->prefix));
    args[0] = now;
    args[1] = sum;
    args[2] = max;
    for (int i = 0; i < n; i++) {
        double l = atof(PQgetvalue(res, i, 8));
        l = l < 0 ? 0 : l;
        lag_sum += l;
        lag_max = l > lag_max ? l : lag_max;
        pmq_entry_job job = {
            .id = PQgetvalue(res, i, 0),
            .attempt_count = atoi(PQgetvalue(res, i, 1)),
            .queue = PQgetvalue(res, i, 2),
            .priority = atoi(PQgetvalue(res, i, 3)),
            .payload = PQgetvalue(res, i, 4),
            .created_us = atoll(PQgetvalue(res, i, 5)),
            .max_attempts = atoi(PQgetvalue(res, i, 6)),
            .tenant = PQgetisnull(res, i, 7) ? NULL : PQgetvalue(res, i, 7),
        };
        size_t cap = 0;
        int k = 1 + 3 * i, a = 3 + 3 * i;
        add_key(&keys, key_at, k, pmq_key_job(key, r->prefix, job.id));
        add_key(&keys, key_at, k + 1,
                pmq_key_queue(key, r->prefix, job.queue, pmq_band_of(job.priority)));
        add_key(&keys, key_at, k + 2, pmq_key_wake(key, r->prefix, job.queue));
        snprintf(attempts[i], sizeof attempts[i], "%d", job.attempt_count + 1);
        args[a] = attempts[i];
        args[a + 1] = job.queue;
        lens[a + 2] = pmq_entry_write(&entries[i], &cap, &job);
        args[a + 2] = entries[i];
    }
    for (int k = 0; k < nkeys; k++)
        kv[k] = keys.s + key_at[k];
    snprintf(now, sizeof now, "%lld", (long long)(pmq_wall_us() / 1000));
    snprintf(sum, sizeof sum, "%.6f", lag_sum);
    snprintf(max, sizeof max, "%.6f", lag_max);
    for (int i = 0; i < nargs; i++)
        if (i < 3 || (i - 3) % 3 != 2)
            lens[i] = strlen(args[i]);

    redisReply *rep = pmq_redis_eval(r, &push_script, nkeys, kv, nargs, args, lens);
    int rc = n;
    if (!rep || rep->type == REDIS_REPLY_ERROR) {
        log_error("migrator: could not push %d jobs to Redis: %s", n,
                  rep ? rep->str : r->c->errstr);
        exec_ok(pg, "ROLLBACK");
        rc = -1;
        if (!rep)
            pmq_redis_reconnect(r);
    } else if (commit(pg, next_due_ms) < 0) {
        rc = -1;
    }
    if (rep)
        freeReplyObject(rep);
    pmq_free_strings(entries, (size_t)n);
    free(attempts);
    pmq_buf_free(&keys);
    free(key_at);
    free(kv);
    free(args);
    free(lens);
    PQclear(res);
    return rc;
}

/* Consume the notifications libpq holds; 1 when there were any. */
static int drain_notifies(PGconn *pg)
{
    int any = 0;
    PGnotify *n;
    while ((n = PQnotifies(pg)) != NULL) {
        PQfreemem(n);
        any = 1;
    }
    return any;
}

/* Wait for a NOTIFY or `timeout_ms`; -1 when the connection broke. */
static int wait_notify(PGconn *pg, int64_t timeout_ms)
{
    /*
     * A NOTIFY that came in with the last query's results is already in
     * libpq's buffer, and the socket will not wake poll() for it: look first.
     */
    if (drain_notifies(pg))
        return 0;
    struct pollfd pfd = {PQsocket(pg), POLLIN, 0};
    int rc = poll(&pfd, 1, (int)timeout_ms);
    if (rc < 0 && errno != EINTR)
        return -1;
    if (rc > 0 && !PQconsumeInput(pg))
        return -1;
    drain_notifies(pg);
    return 0;
}

/*
 * Awake and asleep (sql/004_quiet_notify.sql): a migrator that has just
 * found work holds the "awake" lock and polls every AWAKE_POLL_MS, so that
 * producers can skip the NOTIFY that serialises their commits; after
 * AWAKE_LINGER_MS without work it lets go and goes back to LISTEN.
 */
#define LOCK_CLASS "1886220544"
#define AWAKE_POLL_MS 1
#define AWAKE_LINGER_MS 10
#define UNSURE_POLL_MAX_MS 50

/* Take advisory lock `key` if free; with `release`, only test it (take and let go). */
static int try_lock(PGconn *pg, int key, int release)
{
    char sql[200];
    if (release)
        snprintf(sql, sizeof sql,
                 "SELECT l AND pg_advisory_unlock(" LOCK_CLASS ", %d)"
                 " FROM pg_try_advisory_lock(" LOCK_CLASS ", %d) l",
                 key, key);
    else
        snprintf(sql, sizeof sql, "SELECT pg_try_advisory_lock(" LOCK_CLASS ", %d)", key);
    PGresult *res = PQexec(pg, sql);
    int ok = PQresultStatus(res) == PGRES_TUPLES_OK;
    if (!ok)
        log_error("migrator: %s failed: %s", sql, PQerrorMessage(pg));
    int got = ok && PQgetvalue(res, 0, 0)[0] == 't';
    PQclear(res);
    return got;
}

/* A new session listens and prepares what every batch runs. */
static int setup_session(PGconn *pg, pmq_errors *errs)
{
    return exec_ok(pg, "LISTEN pmq_jobs") < 0 || pmq_db_prepare(pg, &claim_stmt, errs) < 0 ||
                   pmq_db_prepare(pg, &next_stmt, errs) < 0
               ? -1
               : 0;
}

int pmq_migrator_main(const pmq_config *cfg, volatile int *stopping)
{
    pmq_log_set_ident("pmqd: migrator");
    pmq_session s = {.cfg = cfg, .want = PMQ_SESSION_PG | PMQ_SESSION_REDIS, .who = "migrator: ",
                     .backoff_min_ms = 100, .backoff_max_ms = 5000, .setup_pg = setup_session};
    /*
     * awake: this session holds lock 1 and polls.  unsure: a producer may
     * have skipped its NOTIFY while some migrator was awake and still be
     * committing; poll until lock 2 shows none is left, then look once more.
     */
    int awake = 0, unsure = 0;
    int64_t last_work = 0, unsure_wait = AWAKE_POLL_MS;

    while (!*stopping) {
        int connected = pmq_session_connect(&s);
        if (connected < 0) {
            pmq_session_wait(&s);
            continue;
        }
        if (connected > 0) {
            pmq_session_ok(&s);
            pmq_served();
            /* A lost session lost its lock: its skipped producers are ours. */
            awake = 0;
            unsure = 1;
        }
        PGconn *pg = s.pg;
        pmq_redis *r = s.r;

        int64_t due = -1;
        int n = pmq_migrate_batch(pg, r, cfg->migrator.batch_size, &due);
        if (n < 0) {
            /* A broken PostgreSQL session is opened anew above, LISTEN included. */
            if (r->c->err)
                pmq_redis_reconnect(r);
            pmq_session_wait(&s);
            continue;
        }
        pmq_session_ok(&s);
        int64_t now = pmq_now_ms();
        if (n > 0) {
            log_debug("migrated %d jobs", n);
            last_work = now;
            if (!awake && (awake = try_lock(pg, 1, 0)))
                unsure = 0; /* polling again: nothing can slip past */
        }
        if (n >= cfg->migrator.batch_size)
            continue; /* more may be ready: no wait */

        if (awake && now - last_work >= AWAKE_LINGER_MS) {
            PQclear(PQexec(pg, "SELECT pg_advisory_unlock(" LOCK_CLASS ", 1)"));
            awake = 0;
            unsure = 1;
        }
        if (unsure && try_lock(pg, 2, 1)) {
            unsure = 0;
            unsure_wait = AWAKE_POLL_MS;
            continue; /* every skipped producer has ended: one last look */
        }
        int64_t wait = cfg->migrator.poll_interval_ms;
        if (awake) {
            wait = AWAKE_POLL_MS;
        } else if (unsure) {
            /* A long transaction is still enqueueing: look less often. */
            wait = unsure_wait;
            unsure_wait = unsure_wait * 2 > UNSURE_POLL_MAX_MS ? UNSURE_POLL_MAX_MS : unsure_wait * 2;
        }
        if (due >= 0 && due < wait)
            wait = due < 1 ? 1 : due; /* ready rows locked by another migrator: retry soon */
        if (wait_notify(pg, wait) < 0)
            pmq_session_drop(&s, PMQ_SESSION_PG);
    }
    pmq_session_close(&s);
    return 0;
}
