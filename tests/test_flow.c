/*
 * test_flow.c -- the queue contract's normal flow, end to end: the real pmqd
 * (migrator, workers, acks, maintenance) with the "behave" test plugin
 * (tests/plugins/behave.c) and pmqctl, against the private PostgreSQL and
 * Redis of tests/harness.c.
 *
 * Covered: priority bands under load, delayed jobs, retries with back-off
 * and one job_logs row per attempt, dead letters (Redis entry, dlq list,
 * replay, replay --all, purge), pmqctl enqueue, what the migrator leaves
 * in Redis (bands, RedisJobPayload JSON, job hashes, idempotent pushes), and
 * a job whose producer skipped its NOTIFY while the migrator polled.
 *
 * Each test resets both servers, writes its own configuration, declares the
 * queues with `pmqctl migrate`, and stops pmqd with SIGTERM, which must end
 * it with status 0.  Waits poll with generous timeouts; no test asserts a
 * duration except the delayed-job latency bound the contract states.
 */

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <check.h>
#include <hiredis/hiredis.h>
#include <json-c/json.h>
#include <libpq-fe.h>

#include "daemon.h"
#include "harness.h"
#include "util.h"

#define TEST_TIMEOUT_S 180 /* per test (sanitizer builds are slow) */

/*--- running things ---*/

static void sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

static double sql_double(PGconn *pg, const char *sql)
{
    char *v = pmq_test_query1(pg, sql);
    ck_assert_msg(v != NULL, "%s returned no value", sql);
    double d = strtod(v, NULL);
    free(v);
    return d;
}

/* Enqueue one job with SQL; returns its id (caller frees). */
static char *enqueue_sql(PGconn *pg, const char *args)
{
    char *id = pmq_test_sqlf(pg, "SELECT pmq_enqueue(%s)", args);
    ck_assert_msg(id != NULL, "pmq_enqueue(%s) returned no id", args);
    return id;
}

/*--- Redis ---*/

static redisReply *rcmd(redisContext *r, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    redisReply *rep = redisvCommand(r, fmt, ap);
    va_end(ap);
    ck_assert_msg(rep != NULL, "Redis command %s failed: %s", fmt, r->errstr);
    ck_assert_msg(rep->type != REDIS_REPLY_ERROR, "Redis command %s: %s", fmt, rep->str);
    return rep;
}

static long long rllen(redisContext *r, const char *key)
{
    redisReply *rep = rcmd(r, "LLEN %s", key);
    long long n = rep->integer;
    freeReplyObject(rep);
    return n;
}

/* HGET, or NULL (caller frees). */
static char *rhget(redisContext *r, const char *key, const char *field)
{
    redisReply *rep = rcmd(r, "HGET %s %s", key, field);
    char *v = rep->type == REDIS_REPLY_STRING ? pmq_xstrdup(rep->str) : NULL;
    freeReplyObject(rep);
    return v;
}

/* Poll until HGET key field equals `want`. */
static void wait_hash(redisContext *r, const char *key, const char *field, const char *want)
{
    char *v = NULL;
    for (long waited = 0; waited < PMQ_TEST_WAIT_MS; waited += 20) {
        free(v);
        v = rhget(r, key, field);
        if (v && !strcmp(v, want))
            break;
        sleep_ms(20);
    }
    ck_assert_msg(v && !strcmp(v, want), "HGET %s %s is \"%s\", expected \"%s\"", key, field,
                  v ? v : "(nil)", want);
    free(v);
}

/* The entries of deadletter:queue for job `id`, parsed (caller puts each). */
static int deadletter_entries(redisContext *r, const char *id, json_object **out, int max)
{
    redisReply *rep = rcmd(r, "LRANGE %s 0 -1", PMQ_TEST_KEY(pmq_key_deadletter_list, ""));
    int n = 0;
    for (size_t i = 0; i < rep->elements; i++) {
        json_object *o = json_tokener_parse(rep->element[i]->str);
        ck_assert_msg(o != NULL, "the dead-letter list holds invalid JSON: %s", rep->element[i]->str);
        json_object *v;
        if (json_object_object_get_ex(o, "id", &v) && !strcmp(json_object_get_string(v), id) &&
            n < max)
            out[n++] = o;
        else
            json_object_put(o);
    }
    freeReplyObject(rep);
    return n;
}

/* Poll until deadletter:queue holds `want` entries for job `id`. */
static void wait_deadletter(redisContext *r, const char *id, int want)
{
    json_object *e[8];
    int n = 0;
    for (long waited = 0; waited < PMQ_TEST_WAIT_MS; waited += 20) {
        n = deadletter_entries(r, id, e, 8);
        for (int i = 0; i < n; i++)
            json_object_put(e[i]);
        if (n == want)
            return;
        sleep_ms(20);
    }
    ck_abort_msg("the dead-letter list holds %d entries for job %s, expected %d", n, id, want);
}

static const char *jstr(json_object *o, const char *key)
{
    json_object *v;
    ck_assert_msg(json_object_object_get_ex(o, key, &v) && v != NULL, "no \"%s\" in %s", key,
                  json_object_to_json_string(o));
    ck_assert_msg(json_object_is_type(v, json_type_string), "\"%s\" is not a string in %s", key,
                  json_object_to_json_string(o));
    return json_object_get_string(v);
}

static int64_t jint(json_object *o, const char *key)
{
    json_object *v;
    ck_assert_msg(json_object_object_get_ex(o, key, &v) && v != NULL, "no \"%s\" in %s", key,
                  json_object_to_json_string(o));
    ck_assert_msg(json_object_is_type(v, json_type_int), "\"%s\" is not an integer in %s", key,
                  json_object_to_json_string(o));
    return json_object_get_int64(v);
}

/* `o[key]`, serialized, must equal `jsonb` (compared by PostgreSQL as jsonb). */
static void assert_json_equals(PGconn *pg, json_object *o, const char *key, const char *jsonb)
{
    json_object *v;
    ck_assert_msg(json_object_object_get_ex(o, key, &v) && v != NULL, "no \"%s\" in %s", key,
                  json_object_to_json_string(o));
    const char *params[2] = {json_object_to_json_string_ext(v, JSON_C_TO_STRING_PLAIN), jsonb};
    PGresult *res = PQexecParams(pg, "SELECT $1::jsonb = $2::jsonb", 2, NULL, params, NULL, NULL, 0);
    ck_assert_msg(PQresultStatus(res) == PGRES_TUPLES_OK, "%s", PQresultErrorMessage(res));
    ck_assert_msg(!strcmp(PQgetvalue(res, 0, 0), "t"), "\"%s\" is %s, expected %s", key,
                  params[0], jsonb);
    PQclear(res);
}

/* The guide's dead-letter shape: id, queue_name, payload, error, failed_at, attempt_count. */
static void assert_deadletter_entry(PGconn *pg, json_object *e, const char *id, const char *queue,
                                    const char *payload, int attempts, const char *error_part)
{
    ck_assert_str_eq(jstr(e, "id"), id);
    ck_assert_str_eq(jstr(e, "queue_name"), queue);
    assert_json_equals(pg, e, "payload", payload);
    ck_assert_msg(strstr(jstr(e, "error"), error_part) != NULL, "error \"%s\" lacks \"%s\"",
                  jstr(e, "error"), error_part);
    ck_assert_int_eq(jint(e, "attempt_count"), attempts);
    /* failed_at is the job's, as a timestamp PostgreSQL reads back. */
    pmq_test_assert_sql(pg, "t", "SELECT failed_at = '%s'::timestamptz FROM jobs WHERE id = '%s'",
                        jstr(e, "failed_at"), id);
}

static int count_lines_matching_uuid(const char *out)
{
    int n = 0;
    for (const char *p = out; *p;) {
        size_t len = strcspn(p, "\n");
        int ok = len == 36;
        for (size_t i = 0; ok && i < len; i++)
            ok = (i == 8 || i == 13 || i == 18 || i == 23) ? p[i] == '-'
                                                           : strchr("0123456789abcdef", p[i]) != NULL;
        n += ok;
        p += len;
        if (*p)
            p++;
    }
    return n;
}

/*--- 1. priority bands under load ---*/

/*
 * 10,000 jobs in three bands, enqueued before pmqd starts, the low band
 * first so that FIFO order alone would fail: all complete, once each, and
 * one worker thread starts every high job before any normal one, and every
 * normal one before any low one.
 */
START_TEST(bands_run_in_priority_order)
{
    char *config =
        pmq_test_behave_setup("bands", "[pool t]\nqueues = t.ok\nprocesses = 1\nthreads = 1\n");
    PGconn *pg = pmq_test_pg();
    static const struct {
        int priority, count;
    } bands[] = {{200, 3333}, {100, 3333}, {10, 3334}};
    for (size_t i = 0; i < 3; i++) {
        char *n = pmq_test_sqlf(pg,
                                "SELECT count(*) FROM pmq_enqueue_many('t.ok',"
                                " (SELECT jsonb_agg(jsonb_build_object('band', %d, 'n', g))"
                                "  FROM generate_series(1, %d) g), priority => %d)",
                                bands[i].priority, bands[i].count, bands[i].priority);
        ck_assert_int_eq(atoi(n), bands[i].count);
        free(n);
    }
    pmq_test_assert_sql(pg, "10000", "SELECT count(*) FROM jobs WHERE status = 'queued'");

    pid_t pid = pmq_test_pmqd_start(config, "flow-bands");
    pmq_test_await_sql(pg, "SELECT count(*) FROM jobs WHERE status = 'completed'", "10000",
                       "flow-bands");
    pmq_test_pmqd_stop_checked(pid, "flow-bands", PMQ_TEST_NO_RESTART);

    pmq_test_assert_sql(pg, "10000",
                        "SELECT count(*) FROM jobs WHERE status = 'completed'"
                        " AND attempt_count = 1 AND started_at IS NOT NULL");
    /* The bands, in order, on the one thread. */
    char *detail =
        pmq_test_sqlf(pg, "SELECT string_agg(s, E'\\n' ORDER BY p) FROM (SELECT priority p,"
                          " format('priority %%s: %%s .. %%s', priority, min(started_at),"
                          " max(started_at)) s FROM jobs GROUP BY priority) b");
    char *hi_before_normal =
        pmq_test_sqlf(pg, "SELECT (SELECT max(started_at) FROM jobs WHERE priority = 10)"
                          " < (SELECT min(started_at) FROM jobs WHERE priority = 100)");
    char *normal_before_low =
        pmq_test_sqlf(pg, "SELECT (SELECT max(started_at) FROM jobs WHERE priority = 100)"
                          " < (SELECT min(started_at) FROM jobs WHERE priority = 200)");
    ck_assert_msg(hi_before_normal && !strcmp(hi_before_normal, "t"),
                  "a normal job started before the last high one:\n%s", detail);
    ck_assert_msg(normal_before_low && !strcmp(normal_before_low, "t"),
                  "a low job started before the last normal one:\n%s", detail);
    free(hi_before_normal);
    free(normal_before_low);
    free(detail);

    /* One job_logs row per job, for attempt 1. */
    pmq_test_assert_sql(pg, "10000", "SELECT count(*) FROM job_logs");
    pmq_test_assert_sql(pg, "0",
                        "SELECT count(*) FROM jobs j WHERE (SELECT count(*) FROM job_logs l"
                        " WHERE l.job_id = j.id AND l.attempt_number = 1"
                        " AND l.status = 'completed') <> 1");
    PQfinish(pg);
    free(config);
}
END_TEST

/*
 * A pool of more than 64 queues claims from each of them: the 65th (t.ok,
 * after t.many.1 .. t.many.64) once went unserved, past a fixed array.
 */
START_TEST(pool_of_many_queues_claims_from_the_last)
{
    setenv("PMQ_BEHAVE_MANY_QUEUES", "64", 1);
    char *queues = pmq_xstrdup("");
    for (int i = 1; i <= 64; i++) {
        char *more = pmq_asprintf("%st.many.%d, ", queues, i);
        free(queues);
        queues = more;
    }
    char *ini = pmq_asprintf("[pool t]\nqueues = %st.ok\nprocesses = 1\nthreads = 1\n", queues);
    char *config = pmq_test_behave_setup("many", ini);
    PGconn *pg = pmq_test_pg();
    char *last = enqueue_sql(pg, "'t.ok', '{}'");
    char *sql = pmq_asprintf("SELECT status FROM jobs WHERE id = '%s'", last);
    free(last);
    free(ini);
    free(queues);
    pid_t pid = pmq_test_pmqd_start(config, "flow-many");
    pmq_test_await_sql(pg, sql, "completed", "flow-many");
    pmq_test_pmqd_stop_checked(pid, "flow-many", PMQ_TEST_NO_RESTART);
    free(sql);
    PQfinish(pg);
    free(config);
}
END_TEST

/*--- 2. delayed jobs ---*/

/* Held while the migrator is awake (polling); see job_whose_notify_was_skipped_is_not_left_behind. */
#define AWAKE_LOCK_HELD                                                                         \
    "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND classid = 1886220544"     \
    " AND objid = 1 AND granted"

/*
 * Jobs due in 1.5, 2 and 2.5 s, enqueued while pmqd idles, start at or after
 * their run_at, woken by the migrator's timer: with its poll an hour apart,
 * a bound of 30 s (a safety net for a busy machine) tells the two apart.
 */
START_TEST(delayed_jobs_start_on_time)
{
    char *config =
        pmq_test_behave_setup("delayed", "[migrator]\npoll_interval = 1h\n\n"
                                         "[pool t]\nqueues = t.ok\nprocesses = 1\nthreads = 2\n");
    PGconn *pg = pmq_test_pg();
    pid_t pid = pmq_test_pmqd_start(config, "flow-delayed");
    /* A first job proves the migrator listens and a worker claims. */
    char *warm = enqueue_sql(pg, "'t.ok', '{\"warm\": true}'");
    char *sql = pmq_asprintf("SELECT status FROM jobs WHERE id = '%s'", warm);
    pmq_test_await_sql(pg, sql, "completed", "flow-delayed");
    free(sql);
    free(warm);
    /* Idle: the migrator is back in its wait. */
    pmq_test_await_sql(pg, AWAKE_LOCK_HELD, "0", "flow-delayed");

    char *ids = pmq_test_sqlf(
        pg, "SELECT concat_ws(' ',"
            " pmq_enqueue('t.ok', '{\"d\": 1500}', run_at => now() + interval '1500 ms'),"
            " pmq_enqueue('t.ok', '{\"d\": 2000}', run_at => now() + interval '2000 ms'),"
            " pmq_enqueue('t.ok', '{\"d\": 2500}', run_at => now() + interval '2500 ms'))");
    ck_assert_ptr_nonnull(ids);
    pmq_test_await_sql(pg, "SELECT count(*) FROM jobs WHERE status = 'completed' AND payload ? 'd'",
                       "3", "flow-delayed");
    pmq_test_pmqd_stop_checked(pid, "flow-delayed", PMQ_TEST_NO_RESTART);

    PGresult *res = PQexec(pg, "SELECT payload->>'d', extract(epoch FROM started_at - run_at) * 1000,"
                               " started_at, run_at FROM jobs WHERE payload ? 'd' ORDER BY run_at");
    ck_assert_int_eq(PQresultStatus(res), PGRES_TUPLES_OK);
    ck_assert_int_eq(PQntuples(res), 3);
    for (int i = 0; i < 3; i++) {
        double lag = strtod(PQgetvalue(res, i, 1), NULL);
        if (getenv("PMQ_TEST_VERBOSE"))
            fprintf(stderr, "test_flow: the job due after %s ms started %.3f ms after its run_at\n",
                    PQgetvalue(res, i, 0), lag);
        ck_assert_msg(lag >= 0, "the job due after %s ms started %.3f ms early (started %s, run_at %s)",
                      PQgetvalue(res, i, 0), -lag, PQgetvalue(res, i, 2), PQgetvalue(res, i, 3));
        ck_assert_msg(lag < 30000, "the job due after %s ms started %.3f ms late (started %s, run_at %s)",
                      PQgetvalue(res, i, 0), lag, PQgetvalue(res, i, 2), PQgetvalue(res, i, 3));
    }
    PQclear(res);
    pmq_test_assert_sql(
        pg, "3",
        "SELECT count(*) FROM job_logs l JOIN jobs j ON j.id = l.job_id"
        " WHERE j.payload ? 'd' AND l.attempt_number = 1 AND l.status = 'completed'");
    free(ids);
    PQfinish(pg);
    free(config);
}
END_TEST

/*--- 3. retries ---*/

#define BACKOFF_INI "backoff_base = 50ms\nbackoff_max = 200ms\n"
#define BACKOFF_BASE_MS 50
#define BACKOFF_MAX_MS 200

/* The least back-off after attempt `n`: base doubled per attempt, capped, minus 25 % jitter. */
static double min_backoff_ms(int n)
{
    double d = BACKOFF_BASE_MS;
    for (int i = 1; i < n && d < BACKOFF_MAX_MS; i++)
        d *= 2;
    if (d > BACKOFF_MAX_MS)
        d = BACKOFF_MAX_MS;
    return d * 0.75;
}

/* Attempt n+1 of job `id` started at least the back-off after attempt n finished. */
static void assert_backoff(PGconn *pg, const char *id, int n)
{
    char *sql = pmq_asprintf("SELECT extract(epoch FROM b.started_at - a.finished_at) * 1000"
                             " FROM job_logs a JOIN job_logs b ON b.job_id = a.job_id"
                             " WHERE a.job_id = '%s' AND a.attempt_number = %d"
                             " AND b.attempt_number = %d AND a.status <> 'replayed'"
                             " AND b.status <> 'replayed' ORDER BY b.created_at DESC LIMIT 1",
                             id, n, n + 1);
    double gap = sql_double(pg, sql);
    ck_assert_msg(gap >= min_backoff_ms(n),
                  "attempt %d started %.3f ms after attempt %d finished; the back-off is at"
                  " least %.1f ms", n + 1, gap, n, min_backoff_ms(n));
    free(sql);
}

/*
 * A handler that fails twice then succeeds: completed after 3 attempts, one
 * job_logs row each (retry, retry, completed) carrying the handler's error,
 * and the back-off between them.
 */
START_TEST(flaky_job_retries_with_backoff)
{
    char *config =
        pmq_test_behave_setup("flaky", "[redis]\nfinished_ttl = 1h\n\n" /* job:<id> stays */
                                       "[queue t.flaky]\nmax_attempts = 5\n" BACKOFF_INI "\n"
                                       "[pool t]\nqueues = t.flaky\nprocesses = 1\nthreads = 4\n");
    PGconn *pg = pmq_test_pg();
    pid_t pid = pmq_test_pmqd_start(config, "flow-flaky");
    char *id = enqueue_sql(pg, "'t.flaky', '{\"fail_times\": 2}'");
    char *sql = pmq_asprintf("SELECT status FROM jobs WHERE id = '%s'", id);
    pmq_test_await_sql(pg, sql, "completed", "flow-flaky");
    free(sql);

    pmq_test_assert_sql(pg, "3", "SELECT attempt_count FROM jobs WHERE id = '%s'", id);
    pmq_test_assert_sql(
        pg, "1:retry 2:retry 3:completed",
        "SELECT string_agg(attempt_number || ':' || status, ' ' ORDER BY attempt_number)"
        " FROM job_logs WHERE job_id = '%s'",
        id);
    pmq_test_assert_sql(pg, "t",
                        "SELECT log_message LIKE '%%flaky failure 1%%' FROM job_logs"
                        " WHERE job_id = '%s' AND attempt_number = 1",
                        id);
    pmq_test_assert_sql(pg, "t",
                        "SELECT log_message LIKE '%%flaky failure 2%%' FROM job_logs"
                        " WHERE job_id = '%s' AND attempt_number = 2",
                        id);
    /* Every row is a whole attempt. */
    pmq_test_assert_sql(pg, "3",
                        "SELECT count(*) FROM job_logs WHERE job_id = '%s'"
                        " AND started_at IS NOT NULL AND finished_at >= started_at"
                        " AND duration = finished_at - started_at",
                        id);
    assert_backoff(pg, id, 1);
    assert_backoff(pg, id, 2);

    redisContext *r = pmq_test_redis();
    char *key = pmq_xstrdup(PMQ_TEST_KEY(pmq_key_job, "", id));
    wait_hash(r, key, "status", "completed");
    free(key);
    redisFree(r);

    pmq_test_pmqd_stop_checked(pid, "flow-flaky", PMQ_TEST_NO_RESTART);
    free(id);
    PQfinish(pg);
    free(config);
}
END_TEST

/*--- 4. dead letters ---*/

#define DLQ_INI                                                                               \
    "[queue t.fail]\nmax_attempts = 3\n" BACKOFF_INI "\n"                                     \
    "[queue t.fatal]\nmax_attempts = 5\n" BACKOFF_INI "\n"                                    \
    "[pool t]\nqueues = t.ok, t.fail, t.fatal\nprocesses = 1\nthreads = 4\n"

/* The history of job `id`, oldest first: "n:status" per attempt, "replayed". */
static char *history_sql(const char *id)
{
    return pmq_asprintf("SELECT string_agg(CASE WHEN status = 'replayed' THEN status"
                        " ELSE attempt_number || ':' || status END, ' '"
                        " ORDER BY created_at, attempt_number) FROM job_logs WHERE job_id = '%s'",
                        id);
}

/*
 * A job that always fails: failed after max_attempts, in deadletter:queue
 * (the guide's shape) and in `pmqctl dlq list` (table and JSON); `dlq
 * replay ID` removes it from the dead letter and gives it a fresh attempt
 * budget, and it runs (and fails) again from attempt 1.
 */
START_TEST(failing_job_is_dead_lettered_and_replayed)
{
    char *config = pmq_test_behave_setup("dlq", "[redis]\nfinished_ttl = 1h\n\n" DLQ_INI);
    PGconn *pg = pmq_test_pg();
    redisContext *r = pmq_test_redis();
    pid_t pid = pmq_test_pmqd_start(config, "flow-dlq");
    const char *payload = "{\"to\": \"a@example.com\", \"n\": 7}";
    char *args = pmq_asprintf("'t.fail', '%s'", payload);
    char *id = enqueue_sql(pg, args);
    free(args);
    char *status_sql = pmq_asprintf("SELECT status FROM jobs WHERE id = '%s'", id);
    pmq_test_await_sql(pg, status_sql, "failed", "flow-dlq");

    pmq_test_assert_sql(pg, "3", "SELECT attempt_count FROM jobs WHERE id = '%s'", id);
    pmq_test_assert_sql(pg, "t",
                        "SELECT failed_at IS NOT NULL AND completed_at IS NULL"
                        " AND last_error_message LIKE '%%always fails (attempt 3)%%'"
                        " FROM jobs WHERE id = '%s'",
                        id);
    char *hist = history_sql(id);
    pmq_test_assert_sql(pg, "1:retry 2:retry 3:failed", "%s", hist);
    pmq_test_assert_sql(
        pg, "3",
        "SELECT count(*) FROM job_logs WHERE job_id = '%s'"
        " AND log_message LIKE '%%always fails (attempt ' || attempt_number || ')%%'",
        id);
    assert_backoff(pg, id, 1);
    assert_backoff(pg, id, 2);

    /* Redis: the guide's dead-letter entry, once. */
    wait_deadletter(r, id, 1);
    json_object *e[4];
    ck_assert_int_eq(deadletter_entries(r, id, e, 4), 1);
    assert_deadletter_entry(pg, e[0], id, "t.fail", payload, 3, "always fails (attempt 3)");
    char *redis_failed_at = pmq_xstrdup(jstr(e[0], "failed_at"));
    json_object_put(e[0]);
    char *key = pmq_xstrdup(PMQ_TEST_KEY(pmq_key_job, "", id));
    wait_hash(r, key, "status", "failed");

    /* pmqctl dlq list, as a table. */
    char *out = pmq_test_ctl(config, NULL, "dlq list");
    ck_assert_msg(strstr(out, "ID") && strstr(out, "QUEUE") && strstr(out, "ERROR"),
                  "no table header in:\n%s", out);
    ck_assert_msg(strstr(out, id) && strstr(out, "t.fail") && strstr(out, "always fails (attempt 3)"),
                  "job %s is not listed:\n%s", id, out);
    ck_assert_msg(strstr(out, "(1 job)"), "no \"(1 job)\" in:\n%s", out);
    free(out);

    /* pmqctl dlq list --json. */
    out = pmq_test_ctl(config, NULL, "dlq list --json");
    json_object *arr = json_tokener_parse(out);
    ck_assert_msg(arr && json_object_is_type(arr, json_type_array), "not a JSON array:\n%s", out);
    ck_assert_int_eq(json_object_array_length(arr), 1);
    json_object *j = json_object_array_get_idx(arr, 0);
    assert_deadletter_entry(pg, j, id, "t.fail", payload, 3, "always fails (attempt 3)");
    /* The same timestamp, in the same (ISO 8601) form, as the Redis entry. */
    ck_assert_str_eq(jstr(j, "failed_at"), redis_failed_at);
    free(redis_failed_at);
    json_object_put(arr);
    free(out);

    /* Replay with pmqd stopped, to see the state it leaves. */
    pmq_test_pmqd_stop_checked(pid, "flow-dlq", PMQ_TEST_NO_RESTART);
    out = pmq_test_ctl(config, NULL, "dlq replay %s", id);
    ck_assert_msg(strstr(out, id) && strstr(out, "replayed"), "unexpected output:\n%s", out);
    free(out);
    pmq_test_assert_sql(pg, "queued 0 true true",
                        "SELECT status || ' ' || attempt_count || ' '"
                        " || (failed_at IS NULL) || ' ' || (last_error_message IS NULL)"
                        " FROM jobs WHERE id = '%s'",
                        id);
    pmq_test_assert_sql(pg, "1:retry 2:retry 3:failed replayed", "%s", hist);
    ck_assert_int_eq(deadletter_entries(r, id, e, 4), 0);
    char *dlkey = pmq_xstrdup(PMQ_TEST_KEY(pmq_key_deadletter, "", id));
    redisReply *rep = rcmd(r, "EXISTS %s", dlkey);
    ck_assert_int_eq(rep->integer, 0);
    freeReplyObject(rep);
    free(dlkey);
    out = pmq_test_ctl(config, NULL, "dlq list");
    ck_assert_msg(strstr(out, "(0 jobs)") && !strstr(out, id), "still listed:\n%s", out);
    free(out);

    /* It runs again, from attempt 1, and is dead-lettered again (once). */
    pid = pmq_test_pmqd_start(config, "flow-dlq");
    pmq_test_await_sql(pg, status_sql, "failed", "flow-dlq");
    pmq_test_pmqd_stop_checked(pid, "flow-dlq", PMQ_TEST_NO_RESTART);
    pmq_test_assert_sql(pg, "1:retry 2:retry 3:failed replayed 1:retry 2:retry 3:failed", "%s",
                        hist);
    pmq_test_assert_sql(pg, "3", "SELECT attempt_count FROM jobs WHERE id = '%s'", id);
    wait_deadletter(r, id, 1);
    ck_assert_int_eq(deadletter_entries(r, id, e, 4), 1);
    assert_deadletter_entry(pg, e[0], id, "t.fail", payload, 3, "always fails (attempt 3)");
    json_object_put(e[0]);

    free(key);
    free(hist);
    free(status_sql);
    free(id);
    redisFree(r);
    PQfinish(pg);
    free(config);
}
END_TEST

/* A handler that returns FAIL is dead-lettered after one attempt, budget left or not. */
START_TEST(fatal_job_is_dead_lettered_at_once)
{
    char *config = pmq_test_behave_setup("fatal", DLQ_INI);
    PGconn *pg = pmq_test_pg();
    redisContext *r = pmq_test_redis();
    pid_t pid = pmq_test_pmqd_start(config, "flow-fatal");
    char *id = enqueue_sql(pg, "'t.fatal', '{\"x\": 1}'");
    char *sql = pmq_asprintf("SELECT status FROM jobs WHERE id = '%s'", id);
    pmq_test_await_sql(pg, sql, "failed", "flow-fatal");
    free(sql);
    pmq_test_assert_sql(
        pg, "1 5", "SELECT attempt_count || ' ' || max_attempts FROM jobs WHERE id = '%s'", id);
    char *hist = history_sql(id);
    pmq_test_assert_sql(pg, "1:failed", "%s", hist);
    free(hist);
    pmq_test_assert_sql(pg, "t",
                        "SELECT log_message LIKE '%%fatal failure%%' FROM job_logs"
                        " WHERE job_id = '%s'",
                        id);
    wait_deadletter(r, id, 1);
    json_object *e[4];
    ck_assert_int_eq(deadletter_entries(r, id, e, 4), 1);
    assert_deadletter_entry(pg, e[0], id, "t.fatal", "{\"x\": 1}", 1, "fatal failure");
    json_object_put(e[0]);
    pmq_test_pmqd_stop_checked(pid, "flow-fatal", PMQ_TEST_NO_RESTART);
    /* Nothing ran it again in the meantime. */
    pmq_test_assert_sql(pg, "1", "SELECT count(*) FROM job_logs WHERE job_id = '%s'", id);
    free(id);
    redisFree(r);
    PQfinish(pg);
    free(config);
}
END_TEST

/*
 * `dlq replay --queue Q --all` replays that queue's dead letters only; `dlq
 * purge --older-than` deletes dead-lettered jobs older than the age, and
 * their Redis entries, and nothing else.
 */
START_TEST(dlq_replay_all_and_purge)
{
    char *config = pmq_test_behave_setup("dlqall", DLQ_INI);
    PGconn *pg = pmq_test_pg();
    redisContext *r = pmq_test_redis();
    pid_t pid = pmq_test_pmqd_start(config, "flow-dlqall");
    for (int i = 0; i < 3; i++) {
        char *args = pmq_asprintf("'t.fatal', '{\"i\": %d}'", i);
        free(enqueue_sql(pg, args));
        free(args);
    }
    char *fail_id = enqueue_sql(pg, "'t.fail', '{\"f\": 1}', max_attempts => 1");
    char *ok_id = enqueue_sql(pg, "'t.ok', '{}'");
    pmq_test_await_sql(pg, "SELECT count(*) FROM jobs WHERE status = 'failed'", "4", "flow-dlqall");
    pmq_test_await_sql(pg, "SELECT count(*) FROM jobs WHERE status = 'completed'", "1",
                       "flow-dlqall");
    for (long waited = 0; rllen(r, PMQ_TEST_KEY(pmq_key_deadletter_list, "")) < 4 && waited < PMQ_TEST_WAIT_MS;
         waited += 20)
        sleep_ms(20);
    pmq_test_pmqd_stop_checked(pid, "flow-dlqall", PMQ_TEST_NO_RESTART);
    ck_assert_int_eq(rllen(r, PMQ_TEST_KEY(pmq_key_deadletter_list, "")), 4);

    char *out = pmq_test_ctl(config, NULL, "dlq list --queue t.fatal");
    ck_assert_msg(strstr(out, "(3 jobs)") && !strstr(out, fail_id), "unexpected list:\n%s", out);
    free(out);

    out = pmq_test_ctl(config, NULL, "dlq replay --queue t.fatal --all");
    ck_assert_msg(strstr(out, "replayed 3 jobs of queue \"t.fatal\""), "unexpected output:\n%s",
                  out);
    free(out);
    pmq_test_assert_sql(pg, "3",
                        "SELECT count(*) FROM jobs WHERE queue_name = 't.fatal'"
                        " AND status = 'queued' AND attempt_count = 0");
    pmq_test_assert_sql(pg, "failed", "SELECT status FROM jobs WHERE id = '%s'", fail_id);
    ck_assert_int_eq(rllen(r, PMQ_TEST_KEY(pmq_key_deadletter_list, "")), 1);
    json_object *e[4];
    ck_assert_int_eq(deadletter_entries(r, fail_id, e, 4), 1);
    json_object_put(e[0]);
    out = pmq_test_ctl(config, NULL, "dlq list --queue t.fatal");
    ck_assert_msg(strstr(out, "(0 jobs)"), "unexpected list:\n%s", out);
    free(out);
    out = pmq_test_ctl(config, NULL, "dlq replay --queue t.fatal --all");
    ck_assert_msg(strstr(out, "replayed 0 jobs of queue \"t.fatal\""), "unexpected output:\n%s",
                  out);
    free(out);

    /* Purge: nothing is an hour old; everything failed before now. */
    out = pmq_test_ctl(config, NULL, "dlq purge --older-than 1h");
    ck_assert_msg(strstr(out, "purged 0 dead-lettered jobs"), "unexpected output:\n%s", out);
    free(out);
    pmq_test_assert_sql(pg, "1", "SELECT count(*) FROM jobs WHERE id = '%s'", fail_id);
    out = pmq_test_ctl(config, NULL, "dlq purge --older-than 0s");
    ck_assert_msg(strstr(out, "purged 1 dead-lettered job"), "unexpected output:\n%s", out);
    free(out);
    pmq_test_assert_sql(pg, "0", "SELECT count(*) FROM jobs WHERE id = '%s'", fail_id);
    pmq_test_assert_sql(pg, "0", "SELECT count(*) FROM job_logs WHERE job_id = '%s'", fail_id);
    pmq_test_assert_sql(pg, "completed", "SELECT status FROM jobs WHERE id = '%s'", ok_id);
    pmq_test_assert_sql(pg, "3",
                        "SELECT count(*) FROM jobs WHERE queue_name = 't.fatal'"
                        " AND status = 'queued'");
    ck_assert_int_eq(rllen(r, PMQ_TEST_KEY(pmq_key_deadletter_list, "")), 0);
    char *dlkey = pmq_xstrdup(PMQ_TEST_KEY(pmq_key_deadletter, "", fail_id));
    redisReply *rep = rcmd(r, "EXISTS %s", dlkey);
    ck_assert_int_eq(rep->integer, 0);
    freeReplyObject(rep);
    free(dlkey);
    out = pmq_test_ctl(config, NULL, "dlq list");
    ck_assert_msg(strstr(out, "(0 jobs)"), "unexpected list:\n%s", out);
    free(out);

    /* The replayed jobs run again (and fail again: t.fatal). */
    pid = pmq_test_pmqd_start(config, "flow-dlqall");
    pmq_test_await_sql(
        pg,
        "SELECT count(*) FROM jobs WHERE queue_name = 't.fatal' AND status = 'failed'"
        " AND attempt_count = 1",
        "3", "flow-dlqall");
    pmq_test_pmqd_stop_checked(pid, "flow-dlqall", PMQ_TEST_NO_RESTART);
    pmq_test_assert_sql(pg, "3",
                        "SELECT count(*) FROM job_logs l JOIN jobs j ON j.id = l.job_id"
                        " WHERE j.queue_name = 't.fatal' AND l.status = 'replayed'");

    free(fail_id);
    free(ok_id);
    redisFree(r);
    PQfinish(pg);
    free(config);
}
END_TEST

/* Replaying a job that is not dead-lettered fails clearly and changes nothing. */
START_TEST(dlq_replay_unknown_id_fails)
{
    char *config = pmq_test_behave_setup("dlqbad", DLQ_INI);
    PGconn *pg = pmq_test_pg();
    int st;
    const char *unknown = "00000000-0000-4000-8000-000000000000";
    char *out = pmq_test_ctl(config, &st, "dlq replay %s", unknown);
    ck_assert_msg(st != 0, "replaying an unknown id succeeded:\n%s", out);
    char *want = pmq_asprintf("job \"%s\" is not in the dead letter", unknown);
    ck_assert_msg(strstr(out, want), "no \"%s\" in:\n%s", want, out);
    free(want);
    free(out);

    /* A job that exists but did not fail. */
    char *id = enqueue_sql(pg, "'t.ok', '{}'");
    pmq_test_exec(pg, "UPDATE jobs SET status = 'completed', attempt_count = 1,"
                      " completed_at = now()");
    out = pmq_test_ctl(config, &st, "dlq replay %s", id);
    ck_assert_msg(st != 0, "replaying a completed job succeeded:\n%s", out);
    want = pmq_asprintf("job \"%s\" is not in the dead letter", id);
    ck_assert_msg(strstr(out, want), "no \"%s\" in:\n%s", want, out);
    free(want);
    free(out);
    pmq_test_assert_sql(pg, "completed 1 0",
                        "SELECT status || ' ' || attempt_count || ' ' ||"
                        " (SELECT count(*) FROM job_logs) FROM jobs WHERE id = '%s'",
                        id);

    /* Not an id at all. */
    out = pmq_test_ctl(config, &st, "dlq replay not-a-job-id");
    ck_assert_msg(st != 0, "replaying \"not-a-job-id\" succeeded:\n%s", out);
    ck_assert_msg(strstr(out, "not-a-job-id"), "the message does not name the id:\n%s", out);
    free(out);
    free(id);
    PQfinish(pg);
    free(config);
}
END_TEST

/*--- 5. pmqctl enqueue ---*/

/* One job with options; the same unique key twice is one job. */
START_TEST(ctl_enqueue_single)
{
    char *config = pmq_test_behave_setup("enq1", NULL);
    PGconn *pg = pmq_test_pg();
    char *out = pmq_test_ctl(config, NULL,
                             "enqueue t.ok '{\"a\": 1}' --priority 7 --delay 30s"
                             " --unique-key welcome:42");
    ck_assert_msg(count_lines_matching_uuid(out) == 1, "expected one id, got:\n%s", out);
    char id[37];
    memcpy(id, out, 36);
    id[36] = '\0';
    free(out);
    pmq_test_assert_sql(pg, "t.ok queued 7 welcome:42 t",
                        "SELECT concat_ws(' ', queue_name, status,"
                        " priority, unique_key, payload = '{\"a\": 1}')"
                        " FROM jobs WHERE id = '%s'",
                        id);
    pmq_test_assert_sql(pg, "00:00:30", "SELECT run_at - created_at FROM jobs WHERE id = '%s'", id);

    out = pmq_test_ctl(config, NULL, "enqueue t.ok '{\"a\": 2}' --unique-key welcome:42");
    ck_assert_msg(count_lines_matching_uuid(out) == 1 && !strncmp(out, id, 36),
                  "the same unique key gave another id: %s\nfirst: %s", out, id);
    free(out);
    pmq_test_assert_sql(pg, "1", "SELECT count(*) FROM jobs");
    pmq_test_assert_sql(pg, "t", "SELECT payload = '{\"a\": 1}' FROM jobs WHERE id = '%s'", id);

    /* Defaults: the queue's priority, due now. */
    out = pmq_test_ctl(config, NULL, "enqueue t.ok '{}'");
    ck_assert_int_eq(count_lines_matching_uuid(out), 1);
    out[36] = '\0';
    pmq_test_assert_sql(pg, "100 true",
                        "SELECT priority || ' ' || (run_at <= now()) FROM jobs WHERE id = '%s'",
                        out);
    free(out);

    /* An unknown queue: PostgreSQL's message, a failure status. */
    int st;
    out = pmq_test_ctl(config, &st, "enqueue x '{}'");
    ck_assert_msg(st != 0, "enqueue on an unknown queue succeeded:\n%s", out);
    ck_assert_msg(strstr(out, "queue \"x\" does not exist"), "unexpected message:\n%s", out);
    free(out);
    out = pmq_test_ctl(config, &st, "enqueue t.ok '[1, 2]'");
    ck_assert_msg(st != 0 && strstr(out, "payload must be a JSON object"),
                  "an array payload: status %d:\n%s", st, out);
    free(out);
    pmq_test_assert_sql(pg, "2", "SELECT count(*) FROM jobs");
    PQfinish(pg);
    free(config);
}
END_TEST

/* JSON lines on stdin: one job per line, ids in input order, several statements. */
START_TEST(ctl_enqueue_bulk_from_stdin)
{
    char *config = pmq_test_behave_setup("enqn", NULL);
    PGconn *pg = pmq_test_pg();
    /* Ids on stdout, the summary on stderr: read them apart. */
    char *args = pmq_asprintf("enqueue t.ok --priority 20 < '%s/lines.json' 2> '%s/summary.txt'",
                              pmq_test_dir(), pmq_test_dir());
    char *gen = pmq_asprintf("(seq 1 2500 | sed 's/.*/{\"n\": &}/'; echo) > '%s/lines.json'",
                             pmq_test_dir());
    int st;
    free(pmq_test_run(gen, &st));
    ck_assert_int_eq(st, 0);
    free(gen);
    char *out = pmq_test_ctl(config, NULL, "%s", args);
    free(args);
    ck_assert_int_eq(count_lines_matching_uuid(out), 2500);
    char *cat = pmq_asprintf("cat '%s/summary.txt'", pmq_test_dir());
    char *summary = pmq_test_run(cat, NULL);
    ck_assert_msg(strstr(summary, "enqueued 2500 jobs on \"t.ok\""), "no summary in:\n%s", summary);
    free(summary);
    free(cat);
    pmq_test_assert_sql(pg, "2500",
                        "SELECT count(*) FROM jobs WHERE priority = 20 AND status = 'queued'");
    /* The k-th id printed is the job of line k. */
    PGresult *res = PQexec(pg, "SELECT id, payload->>'n' FROM jobs");
    ck_assert_int_eq(PQresultStatus(res), PGRES_TUPLES_OK);
    ck_assert_int_eq(PQntuples(res), 2500);
    int k = 0, mismatches = 0;
    for (const char *p = out; *p && k < 2500;) {
        size_t len = strcspn(p, "\n");
        if (len == 36) {
            k++;
            int found = 0;
            for (int i = 0; i < PQntuples(res) && !found; i++)
                if (!strncmp(PQgetvalue(res, i, 0), p, 36))
                    found = atoi(PQgetvalue(res, i, 1)) == k ? 1 : -1;
            mismatches += found != 1;
        }
        p += len + (p[len] != '\0');
    }
    ck_assert_int_eq(mismatches, 0);
    PQclear(res);
    free(out);

    /* Options that apply to every line: --tenant, --max-attempts, --delay. */
    pmq_test_exec(pg, "DELETE FROM jobs");
    args = pmq_asprintf("enqueue t.ok --tenant acme --max-attempts 9 --delay 1h"
                        " < '%s/lines.json' 2>/dev/null", pmq_test_dir());
    out = pmq_test_ctl(config, NULL, "%s", args);
    free(args);
    ck_assert_int_eq(count_lines_matching_uuid(out), 2500);
    free(out);
    pmq_test_assert_sql(pg, "2500",
                        "SELECT count(*) FROM jobs WHERE tenant_id = 'acme' AND max_attempts = 9"
                        " AND run_at - created_at = interval '1 hour'");

    /* One unique key cannot name many jobs: refused, nothing enqueued. */
    pmq_test_exec(pg, "DELETE FROM jobs");
    int status;
    args = pmq_asprintf("enqueue t.ok --unique-key k < '%s/lines.json'", pmq_test_dir());
    out = pmq_test_ctl(config, &status, "%s", args);
    free(args);
    ck_assert_msg(status != 0 && strstr(out, "--unique-key"),
                  "--unique-key with jobs on stdin: status %d:\n%s", status, out);
    free(out);
    pmq_test_assert_sql(pg, "0", "SELECT count(*) FROM jobs");
    PQfinish(pg);
    free(config);
}
END_TEST

/* A bad line names its line number; no id is printed for a job not enqueued. */
START_TEST(ctl_enqueue_bad_stdin)
{
    char *config = pmq_test_behave_setup("enqbad", NULL);
    PGconn *pg = pmq_test_pg();
    static const struct {
        const char *input, *where;
    } cases[] = {
        {"{\"n\": 1}\\n{\"n\": 2}\\nnot json\\n{\"n\": 4}\\n", "stdin:3"},
        {"{\"n\": 1}\\n\\n[1, 2]\\n", "stdin:3"},
        {"{\"n\": 1}\\n{\"n\": 2\\n", "stdin:2"},
        {"42\\n", "stdin:1"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        pmq_test_exec(pg, "DELETE FROM jobs");
        char *args = pmq_asprintf("enqueue t.ok < '%s/bad.json'", pmq_test_dir());
        char *gen = pmq_asprintf("printf '%s' > '%s/bad.json'", cases[i].input, pmq_test_dir());
        int st;
        free(pmq_test_run(gen, &st));
        ck_assert_int_eq(st, 0);
        char *out = pmq_test_ctl(config, &st, "%s", args);
        ck_assert_msg(st != 0, "case %zu: a malformed line was accepted:\n%s", i, out);
        ck_assert_msg(strstr(out, cases[i].where), "case %zu: no \"%s\" in:\n%s", i,
                      cases[i].where, out);
        char *n = pmq_test_query1(pg, "SELECT count(*) FROM jobs");
        ck_assert_msg(atoi(n) == count_lines_matching_uuid(out),
                      "case %zu: %s jobs enqueued but %d ids printed:\n%s", i, n,
                      count_lines_matching_uuid(out), out);
        free(n);
        free(out);
        free(gen);
        free(args);
    }

    /* An unknown queue from stdin. */
    int st;
    char *args = pmq_asprintf("enqueue x < '%s/bad.json'", pmq_test_dir());
    char *gen = pmq_asprintf("echo '{\"n\": 1}' > '%s/bad.json'", pmq_test_dir());
    free(pmq_test_run(gen, &st));
    free(gen);
    char *out = pmq_test_ctl(config, &st, "%s", args);
    ck_assert_msg(st != 0, "enqueue on an unknown queue succeeded:\n%s", out);
    ck_assert_msg(strstr(out, "queue \"x\" does not exist"), "unexpected message:\n%s", out);
    free(out);
    free(args);
    pmq_test_assert_sql(pg, "0", "SELECT count(*) FROM jobs");
    PQfinish(pg);
    free(config);
}
END_TEST

/*--- 6. what the migrator leaves in Redis ---*/

static const int redis_priorities[] = {151, 0, 100, 1000, 50, 51, 10, 200, 150};
#define NPRIO ((int)(sizeof redis_priorities / sizeof redis_priorities[0]))

/* The band list a priority's jobs go to. */
static char *band_of(char *key, int priority)
{
    return pmq_key_queue(key, "", "t.flaky", pmq_band_of(priority));
}

/*
 * Every list entry of the three bands is a RedisJobPayload of a job of that
 * band, matching PostgreSQL; each job is there once, read from the tail in
 * priority order; its job:<id> hash says "migrated".
 */
static void assert_bands(PGconn *pg, redisContext *r)
{
    char keys[PMQ_NBANDS][PMQ_KEY_MAX], band[PMQ_KEY_MAX];
    for (int k = 0; k < PMQ_NBANDS; k++)
        pmq_key_queue(keys[k], "", "t.flaky", k);
    int seen = 0;
    for (int k = 0; k < PMQ_NBANDS; k++) {
        ck_assert_int_eq(rllen(r, keys[k]), 3);
        redisReply *rep = rcmd(r, "LRANGE %s 0 -1", keys[k]);
        int last_priority = -1;
        /* Workers pop from the tail: walk it backwards. */
        for (size_t i = rep->elements; i-- > 0;) {
            const char *entry = rep->element[i]->str;
            json_object *o = json_tokener_parse(entry);
            ck_assert_msg(o && json_object_is_type(o, json_type_object),
                          "%s holds something else than a JSON object: %s", keys[k], entry);
            const char *id = jstr(o, "id");
            int priority = (int)jint(o, "priority");
            ck_assert_msg(!strcmp(band_of(band, priority), keys[k]), "priority %d is in %s", priority,
                          keys[k]);
            ck_assert_msg(priority >= last_priority, "%s: priority %d comes out after %d",
                          keys[k], priority, last_priority);
            last_priority = priority;
            ck_assert_str_eq(jstr(o, "queue_name"), "t.flaky");
            ck_assert_int_eq(jint(o, "attempt_count"), 0);
            ck_assert_int_eq(jint(o, "max_attempts"), 4);
            pmq_test_assert_sql(pg, "migrated true true",
                                "SELECT status || ' ' || (priority = %d) || ' '"
                                " || (created_at = '%s'::timestamptz) FROM jobs"
                                " WHERE id = '%s'",
                                priority, jstr(o, "created_at"), id);
            char *payload = pmq_test_sqlf(pg, "SELECT payload FROM jobs WHERE id = '%s'", id);
            assert_json_equals(pg, o, "payload", payload);
            free(payload);
            char *key = pmq_xstrdup(PMQ_TEST_KEY(pmq_key_job, "", id));
            char *status = rhget(r, key, "status");
            ck_assert_msg(status && !strcmp(status, "migrated"), "%s status is %s", key,
                          status ? status : "(nil)");
            free(status);
            free(key);
            json_object_put(o);
            seen++;
        }
        freeReplyObject(rep);
    }
    ck_assert_int_eq(seen, NPRIO);
    /* Nine distinct jobs: every one was seen once. */
    pmq_test_assert_sql(pg, "9", "SELECT count(*) FROM jobs WHERE queue_name = 't.flaky'");
}

START_TEST(migrator_pushes_bands_idempotently)
{
    /* Workers serve t.ok only: the t.flaky jobs stay in Redis for us to read. */
    char *config =
        pmq_test_behave_setup("redis", "[queue t.flaky]\nmax_attempts = 4\n\n"
                                       "[pool t]\nqueues = t.ok\nprocesses = 1\nthreads = 1\n");
    PGconn *pg = pmq_test_pg();
    redisContext *r = pmq_test_redis();
    for (int i = 0; i < NPRIO; i++) {
        char *args = pmq_asprintf("'t.flaky', '{\"p\": %d, \"nested\": {\"a\": [1, \"x\"]}}',"
                                  " priority => %d",
                                  redis_priorities[i], redis_priorities[i]);
        free(enqueue_sql(pg, args));
        free(args);
    }
    pid_t pid = pmq_test_pmqd_start(config, "flow-redis");
    pmq_test_await_sql(pg, "SELECT count(*) FROM jobs WHERE status = 'migrated'", "9",
                       "flow-redis");
    pmq_test_pmqd_stop_checked(pid, "flow-redis", PMQ_TEST_NO_RESTART);
    assert_bands(pg, r);

    /* A new migrator pushes nothing again. */
    pid = pmq_test_pmqd_start(config, "flow-redis");
    char *id = enqueue_sql(pg, "'t.ok', '{}'"); /* the migrator has run once it completes */
    char *sql = pmq_asprintf("SELECT status FROM jobs WHERE id = '%s'", id);
    pmq_test_await_sql(pg, sql, "completed", "flow-redis");
    pmq_test_pmqd_stop_checked(pid, "flow-redis", PMQ_TEST_NO_RESTART);
    assert_bands(pg, r);

    /*
     * A push whose commit was lost (the rows are queued again in PostgreSQL,
     * the entries are in Redis): pushing the same attempts again queues
     * each job once.
     */
    pmq_test_exec(pg, "UPDATE jobs SET status = 'queued' WHERE queue_name = 't.flaky'");
    pid = pmq_test_pmqd_start(config, "flow-redis");
    pmq_test_await_sql(
        pg, "SELECT count(*) FROM jobs WHERE queue_name = 't.flaky' AND status = 'migrated'", "9",
        "flow-redis");
    pmq_test_pmqd_stop_checked(pid, "flow-redis", PMQ_TEST_NO_RESTART);
    assert_bands(pg, r);

    free(sql);
    free(id);
    redisFree(r);
    PQfinish(pg);
    free(config);
}
END_TEST

/*
 * While the migrator polls it holds advisory lock 1 and producers skip their
 * NOTIFY.  A producer that skipped it and commits only after the migrator
 * stopped polling must still have its job found, long before the
 * migrator's safety-net timer (here one minute) would find it.
 */
START_TEST(job_whose_notify_was_skipped_is_not_left_behind)
{
    char *config = pmq_test_behave_setup(
        "quiet", "[migrator]\npoll_interval = 60s\n\n[pool t]\nqueues = t.ok\nprocesses = 1\n");
    PGconn *pg = pmq_test_pg(), *producer = pmq_test_pg();
    pid_t pid = pmq_test_pmqd_start(config, "flow-quiet");
    char *late = NULL;
    for (int attempt = 0; attempt < 20 && !late; attempt++) {
        /*
         * Wake the migrator with a job and catch it while it polls (10 ms):
         * wait for its lock in the server, then, in the same round trip,
         * enqueue with lock 1 held before and after, so the trigger saw it held.
         */
        free(enqueue_sql(pg, "'t.ok', '{}'"));
        ck_assert(PQsendQuery(producer,
                              "DO $$ BEGIN FOR i IN 1..20000 LOOP"
                              " EXIT WHEN (" AWAKE_LOCK_HELD ") > 0; PERFORM pg_sleep(0.0001);"
                              " END LOOP; END $$;"
                              " BEGIN; " AWAKE_LOCK_HELD "; SELECT pmq_enqueue('t.ok', '{}');"
                              AWAKE_LOCK_HELD));
        /* Results: DO, BEGIN, held, the id, held. */
        char *v[5] = {0};
        PGresult *res;
        for (int i = 0; (res = PQgetResult(producer)) != NULL; i++, PQclear(res)) {
            ck_assert_int_ne(PQresultStatus(res), PGRES_FATAL_ERROR);
            if (i < 5 && PQresultStatus(res) == PGRES_TUPLES_OK)
                v[i] = pmq_xstrdup(PQgetvalue(res, 0, 0));
        }
        if (v[2] && v[4] && !strcmp(v[2], "1") && !strcmp(v[4], "1")) {
            late = v[3];
            v[3] = NULL;
        } else {
            pmq_test_exec(producer, "ROLLBACK");
        }
        for (int i = 0; i < 5; i++)
            free(v[i]);
    }
    ck_assert_msg(late != NULL, "never caught the migrator polling");
    /* The migrator stops polling while the producer's transaction is open. */
    ck_assert_msg(pmq_test_wait_sql(pg, AWAKE_LOCK_HELD, "0", PMQ_TEST_WAIT_MS), "the migrator kept polling");
    pmq_test_exec(producer, "COMMIT");
    char *sql = pmq_asprintf("SELECT status FROM jobs WHERE id = '%s'", late);
    ck_assert_msg(pmq_test_wait_sql(pg, sql, "completed", 30000), /* half the timer's minute */
                  "a job committed without NOTIFY after the migrator stopped polling waited");
    pmq_test_pmqd_stop_checked(pid, "flow-quiet", PMQ_TEST_NO_RESTART);
    free(sql);
    free(late);
    PQfinish(producer);
    PQfinish(pg);
    free(config);
}
END_TEST

/*--- rows and payloads that once stopped the flow ---*/

/*
 * Rows with an infinite run_at, written around pmq_enqueue() (which now
 * refuses them) or before sql/005: the claim subtracted run_at from now()
 * and failed for every queue; 'infinity' failed every next-due query.  The
 * migrator now moves the '-infinity' one (due) and the others, and leaves
 * the 'infinity' one waiting, without an error.
 */
START_TEST(migrator_carries_on_past_bad_rows)
{
    char *config = pmq_test_behave_setup("badrows", "[pool t]\nqueues = t.ok\nprocesses = 1\n");
    PGconn *pg = pmq_test_pg();
    pmq_test_exec(pg, "INSERT INTO jobs (queue_name, payload, run_at) VALUES"
                      " ('t.fatal', '{\"n\": 1}', '-infinity'), ('t.fatal', '{\"n\": 2}', 'infinity')");
    pid_t pid = pmq_test_pmqd_start(config, "flow-badrows");
    char *id = enqueue_sql(pg, "'t.ok', '{\"n\": 3}'");
    char *sql = pmq_asprintf("SELECT status FROM jobs WHERE id = '%s'", id);
    pmq_test_await_sql(pg, sql, "completed", "flow-badrows");
    pmq_test_await_sql(pg, "SELECT status FROM jobs WHERE payload->>'n' = '1'", "migrated",
                       "flow-badrows");
    free(id);
    id = enqueue_sql(pg, "'t.ok', '{\"n\": 4}'");
    free(sql);
    sql = pmq_asprintf("SELECT status FROM jobs WHERE id = '%s'", id);
    pmq_test_await_sql(pg, sql, "completed", "flow-badrows");
    pmq_test_assert_sql(pg, "queued", "SELECT status FROM jobs WHERE payload->>'n' = '2'");
    char *log = pmq_test_pmqd_log("flow-badrows");
    ck_assert_msg(strstr(log, "migrator: could not") == NULL, "the migrator failed:\n%s", log);
    free(log);
    pmq_test_pmqd_stop_checked(pid, "flow-badrows", PMQ_TEST_NO_RESTART);
    free(sql);
    free(id);
    PQfinish(pg);
    free(config);
}
END_TEST

/*
 * A payload nested deeper than json-c's default (32 levels), as deep as
 * PostgreSQL 15 takes with its defaults: the handler gets it parsed
 * (pmq_job_payload_json returned NULL, and handlers completed the job
 * without reading it).
 */
START_TEST(deep_payload_reaches_the_handler)
{
    char *config = pmq_test_behave_setup("deep", "[pool t]\nqueues = t.json\nprocesses = 1\n");
    PGconn *pg = pmq_test_pg();
    pid_t pid = pmq_test_pmqd_start(config, "flow-deep");
    char *shallow = enqueue_sql(pg, "'t.json', '{\"a\": [1]}'");
    char *deep = enqueue_sql(pg, "'t.json', (repeat('{\"a\": ', 13000) || '1' || repeat('}', 13000))::jsonb");
    char *sql = pmq_asprintf("SELECT string_agg(status, ',' ORDER BY id = '%s') FROM jobs"
                             " WHERE id IN ('%s', '%s') AND status IN ('completed', 'failed')",
                             deep, shallow, deep);
    pmq_test_await_sql(pg, sql, "completed,completed", "flow-deep");
    pmq_test_pmqd_stop_checked(pid, "flow-deep", PMQ_TEST_NO_RESTART);
    free(sql);
    free(deep);
    free(shallow);
    PQfinish(pg);
    free(config);
}
END_TEST

/*--- the suite ---*/

static Suite *flow_suite(void)
{
    Suite *s = suite_create("flow");
    TCase *tc = pmq_test_case(s, "bands", TEST_TIMEOUT_S);
    tcase_add_test(tc, bands_run_in_priority_order);
    tc = pmq_test_case(s, "many", TEST_TIMEOUT_S);
    tcase_add_test(tc, pool_of_many_queues_claims_from_the_last);
    tc = pmq_test_case(s, "delayed", TEST_TIMEOUT_S);
    tcase_add_test(tc, delayed_jobs_start_on_time);
    tc = pmq_test_case(s, "retry", TEST_TIMEOUT_S);
    tcase_add_test(tc, flaky_job_retries_with_backoff);
    tc = pmq_test_case(s, "deadletter", TEST_TIMEOUT_S);
    tcase_add_test(tc, failing_job_is_dead_lettered_and_replayed);
    tcase_add_test(tc, fatal_job_is_dead_lettered_at_once);
    tcase_add_test(tc, dlq_replay_all_and_purge);
    tcase_add_test(tc, dlq_replay_unknown_id_fails);
    tc = pmq_test_case(s, "enqueue", TEST_TIMEOUT_S);
    tcase_add_test(tc, ctl_enqueue_single);
    tcase_add_test(tc, ctl_enqueue_bulk_from_stdin);
    tcase_add_test(tc, ctl_enqueue_bad_stdin);
    tc = pmq_test_case(s, "redis", TEST_TIMEOUT_S);
    tcase_add_test(tc, migrator_pushes_bands_idempotently);
    tc = pmq_test_case(s, "quiet", TEST_TIMEOUT_S);
    tcase_add_test(tc, job_whose_notify_was_skipped_is_not_left_behind);
    tc = pmq_test_case(s, "badinput", TEST_TIMEOUT_S);
    tcase_add_test(tc, migrator_carries_on_past_bad_rows);
    tcase_add_test(tc, deep_payload_reaches_the_handler);
    return s;
}

int main(void)
{
    return pmq_test_main(flow_suite(), NULL);
}
