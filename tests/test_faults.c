/*
 * test_faults.c -- fault injection against the real pmqd, in the spirit of
 * SQLite's *fault.test: each test runs a workload with the "behave" plugin
 * (tests/plugins/behave.c), injects one fault, and checks that PostgreSQL
 * ends in the state the contract promises (DESIGN.md sections 2, 4, 5):
 *   - worker processes killed with SIGKILL mid-run: nothing lost, only the
 *     jobs they were running are charged an attempt ("worker died: signal 9");
 *   - FLUSHALL on Redis mid-run: the reconciler puts everything back;
 *   - a plugin that crashes (SIGSEGV) or hangs (timeout): only its child
 *     dies, the job is retried then dead-lettered, other queues keep going;
 *   - SIGTERM mid-run: pmqd drains within the grace period, a restart
 *     finishes the rest, nothing runs twice;
 *   - two pmqd instances on the same servers: the work is shared, nothing
 *     runs twice;
 *   - a Redis that may evict keys: pmqd refuses to start and says why;
 *   - a whole host dead (its heartbeat expired): maintenance recovers the
 *     jobs it held;
 *   - a worker killed after committing an outcome but before releasing its
 *     claim in Redis: the completed job is not run again (I3);
 *   - Redis stopped longer than [redis] timeout while workers claim: the
 *     claims whose replies were lost still run, uncharged;
 *   - claims left by a worker that is neither alive nor listed: returned;
 *   - finished jobs: their job:<id> hashes leave Redis at once, or when
 *     [redis] finished_ttl passes; deadletter:queue keeps the newest 1,000.
 * One case per fault: CK_RUN_CASE=kill9 (flushall, crash, hang, sigterm,
 * two-hosts, eviction, dead-host, stale-claim, lost-claim, unlisted-worker,
 * finished-ttl, finished-window, deadletter-mirror) runs one.
 * Waits poll PostgreSQL with generous timeouts; the only durations asserted
 * are the ones the contract states (grace period, 30 s after a flush).
 */

#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <check.h>
#include <hiredis/hiredis.h>
#include <libpq-fe.h>

#include "daemon.h"
#include "harness.h"
#include "util.h"

/*--- helpers ---*/

static long now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1000L + ts.tv_nsec / 1000000L;
}

static void sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

/* The last `max` bytes of pmqd's log `log_name`, for failure messages (caller frees). */
static char *log_tail(const char *log_name, size_t max)
{
    char *log = pmq_test_pmqd_log(log_name);
    size_t len = strlen(log);
    if (len <= max)
        return log;
    char *tail = pmq_asprintf("[...]\n%s", log + len - max);
    free(log);
    return tail;
}

static long query_long(PGconn *pg, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static long query_long(PGconn *pg, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char *sql = NULL;
    ck_assert_int_ge(vasprintf(&sql, fmt, ap), 0);
    va_end(ap);
    char *v = pmq_test_query1(pg, sql);
    ck_assert_msg(v != NULL, "%s returned no value", sql);
    long n = strtol(v, NULL, 10);
    free(v);
    free(sql);
    return n;
}

/*
 * Poll `sql` until it returns `expected`, up to `timeout_ms`; on a timeout
 * the test fails with the last value and the tail of pmqd's log.
 */
static void wait_for(PGconn *pg, const char *log_name, const char *sql, const char *expected,
                     int timeout_ms)
{
    if (pmq_test_wait_sql(pg, sql, expected, timeout_ms))
        return;
    char *got = pmq_test_query1(pg, sql);
    char *tail = log_tail(log_name, 4000);
    ck_abort_msg("waited %d ms for \"%s\" to return %s; it returns %s\npmqd log:\n%s", timeout_ms,
                 sql, expected, got ? got : "NULL", tail);
}

/* Enqueue `n` jobs with the same payload in one statement. */
static void enqueue_n(PGconn *pg, const char *queue, int n, const char *payload)
{
    long got = query_long(pg,
                          "SELECT count(*) FROM pmq_enqueue_many('%s',"
                          " (SELECT jsonb_agg('%s'::jsonb) FROM generate_series(1, %d)))",
                          queue, payload, n);
    ck_assert_int_eq(got, n);
}

/* Enqueue one job; returns its id (caller frees). */
static char *enqueue_one(PGconn *pg, const char *queue, const char *payload)
{
    char *sql = pmq_asprintf("SELECT pmq_enqueue('%s', '%s')", queue, payload);
    char *id = pmq_test_query1(pg, sql);
    ck_assert_msg(id != NULL, "%s returned nothing", sql);
    free(sql);
    return id;
}

/* Fail the test, with pmqd's log, unless `pid` (our child) still runs. */
static void assert_running(pid_t pid, const char *log_name)
{
    int st;
    pid_t r = waitpid(pid, &st, WNOHANG);
    if (r == 0)
        return;
    char *tail = log_tail(log_name, 4000);
    ck_abort_msg("pmqd (pid %d) is gone (%s %d)\npmqd log:\n%s", (int)pid,
                 r == pid && WIFSIGNALED(st) ? "signal" : "exit status",
                 r == pid ? (WIFSIGNALED(st) ? WTERMSIG(st) : WEXITSTATUS(st)) : -1, tail);
}

/* Wait until at least `n` worker processes beat (all instances together). */
static void wait_workers(int n, const char *log_name)
{
    pid_t pids[64];
    long deadline = now_ms() + 60000;
    while (pmq_test_worker_pids(pids, 64) < n) {
        if (now_ms() > deadline) {
            char *tail = log_tail(log_name, 4000);
            ck_abort_msg("fewer than %d workers beat after 60 s\npmqd log:\n%s", n, tail);
        }
        sleep_ms(20);
    }
}

static redisReply *redis_vcmd(redisContext *r, const char *fmt, va_list ap)
    __attribute__((format(printf, 2, 0)));

static redisReply *redis_vcmd(redisContext *r, const char *fmt, va_list ap)
{
    redisReply *rep = redisvCommand(r, fmt, ap);
    ck_assert_msg(rep != NULL, "Redis %s: %s", fmt, r->errstr);
    ck_assert_msg(rep->type != REDIS_REPLY_ERROR, "Redis %s: %s", fmt, rep->str);
    return rep;
}

static redisReply *redis_cmd(redisContext *r, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static redisReply *redis_cmd(redisContext *r, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    redisReply *rep = redis_vcmd(r, fmt, ap);
    va_end(ap);
    return rep;
}

/* An integer reply. */
static long redis_int(redisContext *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static long redis_int(redisContext *r, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    redisReply *rep = redis_vcmd(r, fmt, ap);
    va_end(ap);
    ck_assert_int_eq(rep->type, REDIS_REPLY_INTEGER);
    long v = (long)rep->integer;
    freeReplyObject(rep);
    return v;
}

/* 1 when Redis list `key` holds an element containing `needle`. */
static int redis_list_has(redisContext *r, const char *key, const char *needle)
{
    redisReply *rep = redis_cmd(r, "LRANGE %s 0 -1", key);
    int found = 0;
    for (size_t i = 0; rep->type == REDIS_REPLY_ARRAY && i < rep->elements; i++)
        found |= rep->element[i]->str && strstr(rep->element[i]->str, needle) != NULL;
    freeReplyObject(rep);
    return found;
}

/* Jobs whose job_logs rows are not exactly one 'completed' row. */
static const char not_exactly_once_sql[] =
    "SELECT count(*) FROM jobs j WHERE (SELECT count(*) FROM job_logs l WHERE l.job_id = j.id)"
    " <> 1 OR NOT EXISTS (SELECT 1 FROM job_logs l WHERE l.job_id = j.id"
    " AND l.status = 'completed')";

/* How many t.ok jobs completed. */
static const char ok_done_sql[] =
    "SELECT count(*) FROM jobs WHERE queue_name = 't.ok' AND status = 'completed'";

#define OK_QUEUE                                                                                   \
    "[queue t.ok]\n"                                                                               \
    "max_attempts = 5\n"                                                                           \
    "backoff_base = 50ms\n"                                                                        \
    "backoff_max = 200ms\n\n"

/*--- 1. SIGKILL of worker processes ---*/

START_TEST(kill9_workers_loses_nothing)
{
    const char *log = "kill9";
    char *cfg = pmq_test_behave_setup(
        "kill9", "[pool main]\nqueues = t.ok\nprocesses = 2\nthreads = 4\n\n" OK_QUEUE);
    PGconn *pg = pmq_test_pg();
    pid_t pmqd = pmq_test_pmqd_start(cfg, log);
    wait_workers(2, log);
    enqueue_n(pg, "t.ok", 5000, "{\"work_ms\": 1}");

    /* Three kills, each once the run has moved on and a live worker beats. */
    pid_t killed[3];
    int nkilled = 0;
    long threshold = 250;
    long deadline = now_ms() + 90000;
    while (nkilled < 3 && now_ms() < deadline) {
        long done = query_long(pg, "SELECT count(*) FROM jobs WHERE status = 'completed'");
        if (done >= 5000)
            break;
        if (done < threshold) {
            sleep_ms(5);
            continue;
        }
        pid_t pids[16], victim = 0;
        int n = pmq_test_worker_pids(pids, 16);
        for (int i = 0; i < n && !victim; i++) {
            int seen = 0;
            for (int k = 0; k < nkilled; k++)
                seen |= killed[k] == pids[i];
            if (!seen && kill(pids[i], 0) == 0)
                victim = pids[i];
        }
        if (!victim) {
            sleep_ms(5);
            continue;
        }
        ck_assert_int_eq(kill(victim, SIGKILL), 0);
        killed[nkilled++] = victim;
        threshold = done + 400;
    }
    ck_assert_msg(nkilled == 3, "the run ended before 3 workers could be killed (%d killed)",
                  nkilled);
    assert_running(pmqd, log);

    wait_for(pg, log, "SELECT count(*) FROM jobs WHERE status = 'completed'", "5000", 90000);
    assert_running(pmqd, log);
    ck_assert_int_eq(query_long(pg, "SELECT count(*) FROM jobs"), 5000);
    /* Each job completed exactly once in the audit trail. */
    ck_assert_int_eq(query_long(pg, "SELECT count(*) FROM job_logs WHERE status = 'completed'"),
                     5000);
    ck_assert_int_eq(
        query_long(pg, "SELECT count(DISTINCT job_id) FROM job_logs WHERE status = 'completed'"),
        5000);
    /* Every other row is an attempt charged because its worker was killed... */
    long charged = query_long(pg, "SELECT count(*) FROM job_logs WHERE status <> 'completed'");
    long wrong = query_long(pg, "SELECT count(*) FROM job_logs WHERE status <> 'completed'"
                                " AND log_message !~ 'worker died: signal 9\\M'");
    ck_assert_msg(wrong == 0, "%ld of %ld non-completed job_logs rows do not say "
                              "\"worker died: signal 9\"", wrong, charged);
    /* ...so a job with several rows has one that says so. */
    ck_assert_int_eq(query_long(pg, "SELECT count(*) FROM (SELECT job_id FROM job_logs"
                                    " GROUP BY job_id HAVING count(*) > 1 AND NOT"
                                    " bool_or(log_message ~ 'worker died: signal 9\\M')) x"),
                     0);
    /* The kills hit running handlers (4 threads each, 1 ms jobs): the check above is not
     * vacuous, and only in-flight jobs were charged (at most 4 per kill). */
    ck_assert_msg(charged >= 1 && charged <= 3 * 4,
                  "%ld attempts charged by 3 kills of 4-thread workers", charged);
    ck_assert_int_eq(query_long(pg, "SELECT count(*) FROM jobs WHERE attempt_count <>"
                                    " (SELECT count(*) FROM job_logs l WHERE l.job_id = jobs.id)"),
                     0);
    pmq_test_pmqd_stop_checked(pmqd, log, 0);
    PQfinish(pg);
    free(cfg);
}
END_TEST

/*--- 2. FLUSHALL mid-run ---*/

START_TEST(flushall_midrun_requeues_from_postgres)
{
    const char *log = "flush";
    char *cfg = pmq_test_behave_setup(
        "flush", "[pool main]\nqueues = t.ok\nprocesses = 2\nthreads = 4\n\n" OK_QUEUE);
    PGconn *pg = pmq_test_pg();
    pid_t pmqd = pmq_test_pmqd_start(cfg, log);
    wait_workers(2, log);
    long t0 = now_ms();
    enqueue_n(pg, "t.ok", 5000, "{\"work_ms\": 3}");

    /* Flush when about a third is done and the rest waits in Redis. */
    long done = 0, deadline = now_ms() + 90000;
    while ((done = query_long(pg, "SELECT count(*) FROM jobs WHERE status = 'completed'")) <
               1667 &&
           now_ms() < deadline)
        sleep_ms(5);
    ck_assert_msg(done >= 1667 && done < 5000, "%ld jobs done when the flush was due", done);
    redisContext *r = pmq_test_redis();
    redisReply *rep = redis_cmd(r, "MULTI");
    freeReplyObject(rep);
    freeReplyObject(redis_cmd(r, "LLEN %s", PMQ_TEST_KEY(pmq_key_queue, "", "t.ok", PMQ_BAND_NORMAL)));
    freeReplyObject(redis_cmd(r, "FLUSHALL"));
    rep = redis_cmd(r, "EXEC");
    ck_assert_msg(rep->type == REDIS_REPLY_ARRAY && rep->elements == 2 &&
                      rep->element[0]->type == REDIS_REPLY_INTEGER,
                  "MULTI LLEN FLUSHALL EXEC failed");
    long lost = (long)rep->element[0]->integer;
    freeReplyObject(rep);
    /* The flush must drop work that only PostgreSQL then knows about. */
    ck_assert_msg(lost >= 500, "only %ld ready jobs were in Redis at the flush", lost);
    long flushed_at = now_ms();
    long third_ms = flushed_at - t0; /* how long a third of the work took */

    wait_for(pg, log, "SELECT count(*) FROM jobs WHERE status = 'completed'", "5000", 90000);
    long after = now_ms() - flushed_at;
    /* The sentinel tells the loss at once: 30 s, plus the remaining two thirds of the work. */
    ck_assert_msg(after <= 30000 + 2 * third_ms + 5000,
                  "the jobs Redis lost took %ld ms to finish after the flush", after);
    assert_running(pmqd, log);
    ck_assert_int_eq(query_long(pg, "SELECT count(*) FROM jobs"), 5000);
    ck_assert_int_eq(query_long(pg, not_exactly_once_sql), 0);
    char *tail = log_tail(log, 100000);
    ck_assert_msg(strstr(tail, "Redis lost") != NULL,
                  "no reconciliation was logged after the flush:\n%s", tail);
    free(tail);
    pmq_test_pmqd_stop_checked(pmqd, log, 0);
    redisFree(r);
    PQfinish(pg);
    free(cfg);
}
END_TEST

/*--- 3. a plugin that crashes ---*/

START_TEST(crashing_plugin_takes_down_only_its_child)
{
    const char *log = "crash";
    char *cfg = pmq_test_behave_setup(
        "crash", "[pool crash]\nqueues = t.crash\nprocesses = 1\nthreads = 1\n\n"
                 "[pool ok]\nqueues = t.ok\nprocesses = 1\nthreads = 2\n\n"
                 "[queue t.crash]\nmax_attempts = 3\nbackoff_base = 50ms\n"
                 "backoff_max = 200ms\n\n" OK_QUEUE);
    PGconn *pg = pmq_test_pg();
    char *always = enqueue_one(pg, "t.crash", "{}");
    char *once = enqueue_one(pg, "t.crash", "{\"crash_times\": 1}");
    pid_t pmqd = pmq_test_pmqd_start(cfg, log);

    /* Once a crash has been recorded, other queues must still be served. */
    wait_for(pg, log, "SELECT count(*) > 0 FROM job_logs", "t", 60000);
    assert_running(pmqd, log);
    enqueue_n(pg, "t.ok", 50, "{}");
    wait_for(pg, log, ok_done_sql, "50", 60000);

    char *sql = pmq_asprintf("SELECT status || ' ' || attempt_count FROM jobs WHERE id = '%s'",
                             always);
    wait_for(pg, log, sql, "failed 3", 90000);
    free(sql);
    sql = pmq_asprintf("SELECT status || ' ' || attempt_count FROM jobs WHERE id = '%s'", once);
    wait_for(pg, log, sql, "completed 2", 90000);
    free(sql);
    assert_running(pmqd, log);

    /* Three attempts, each charged with the signal that killed the worker. */
    ck_assert_int_eq(query_long(pg, "SELECT count(*) FROM job_logs WHERE job_id = '%s'", always),
                     3);
    ck_assert_int_eq(query_long(pg,
                                "SELECT count(*) FROM job_logs WHERE job_id = '%s'"
                                " AND log_message ~ 'worker died: signal 11\\M'",
                                always),
                     3);
    ck_assert_int_eq(query_long(pg,
                                "SELECT count(DISTINCT attempt_number) FROM job_logs"
                                " WHERE job_id = '%s' AND attempt_number BETWEEN 1 AND 3",
                                always),
                     3);
    ck_assert_int_eq(query_long(pg,
                                "SELECT count(*) FROM job_logs WHERE job_id = '%s'"
                                " AND attempt_number = 3 AND status = 'failed'",
                                always),
                     1);
    /* The one that crashed once: a charged attempt 1, then completed on attempt 2. */
    ck_assert_int_eq(query_long(pg,
                                "SELECT count(*) FROM job_logs WHERE job_id = '%s'"
                                " AND attempt_number = 1 AND status = 'retry'"
                                " AND log_message ~ 'worker died: signal 11\\M'",
                                once),
                     1);
    ck_assert_int_eq(query_long(pg,
                                "SELECT count(*) FROM job_logs WHERE job_id = '%s'"
                                " AND attempt_number = 2 AND status = 'completed'",
                                once),
                     1);
    ck_assert_int_eq(query_long(pg, "SELECT count(*) FROM job_logs WHERE job_id = '%s'", once), 2);

    redisContext *r = pmq_test_redis();
    ck_assert_msg(redis_list_has(r, PMQ_TEST_KEY(pmq_key_deadletter_list, ""), always),
                  "job %s is not in the dead-letter list", always);
    ck_assert_msg(!redis_list_has(r, PMQ_TEST_KEY(pmq_key_deadletter_list, ""), once), "job %s was dead-lettered", once);
    redisFree(r);

    pmq_test_pmqd_stop_checked(pmqd, log, 0);
    free(always);
    free(once);
    PQfinish(pg);
    free(cfg);
}
END_TEST

/*--- 4. a plugin that hangs ---*/

START_TEST(hanging_plugin_is_killed_at_its_timeout)
{
    const char *log = "hang";
    char *cfg =
        pmq_test_behave_setup("hang", "[pool hang]\nqueues = t.hang\nprocesses = 1\nthreads = 1\n\n"
                                      "[pool ok]\nqueues = t.ok\nprocesses = 1\nthreads = 2\n\n"
                                      "[queue t.hang]\ntimeout = 1s\nmax_attempts = 2\n"
                                      "backoff_base = 50ms\nbackoff_max = 200ms\n\n" OK_QUEUE);
    PGconn *pg = pmq_test_pg();
    char *hang = enqueue_one(pg, "t.hang", "{}");
    pid_t pmqd = pmq_test_pmqd_start(cfg, log);

    /* Wait for the handler to be running (the claim stamps job:<id>). */
    redisContext *r = pmq_test_redis();
    char key[PMQ_KEY_MAX];
    pmq_key_job(key, "", hang);
    long deadline = now_ms() + 60000;
    for (;;) {
        redisReply *rep = redis_cmd(r, "HGET %s status", key);
        int running = rep->type == REDIS_REPLY_STRING && !strcmp(rep->str, "running");
        freeReplyObject(rep);
        if (running)
            break;
        if (now_ms() > deadline) {
            char *tail = log_tail(log, 4000);
            ck_abort_msg("the t.hang job never started\npmqd log:\n%s", tail);
        }
        sleep_ms(10);
    }
    redisFree(r);

    /* Other queues are served. */
    enqueue_n(pg, "t.ok", 50, "{}");
    wait_for(pg, log, ok_done_sql, "50", 60000);
    char *sql = pmq_asprintf("SELECT status || ' ' || attempt_count FROM jobs WHERE id = '%s'",
                             hang);
    wait_for(pg, log, sql, "failed 2", 90000);
    free(sql);
    assert_running(pmqd, log);
    /* That they were served while it hung, not after its timeouts, depends on the machine's
     * speed here: test_lifecycle's "cancel" case shows it with a handler that hangs until
     * cancelled. */

    ck_assert_int_eq(query_long(pg, "SELECT count(*) FROM job_logs WHERE job_id = '%s'", hang), 2);
    ck_assert_int_eq(query_long(pg,
                                "SELECT count(*) FROM job_logs WHERE job_id = '%s'"
                                " AND log_message LIKE '%%timed out after 1 s%%'",
                                hang),
                     2);
    ck_assert_int_eq(query_long(pg,
                                "SELECT count(*) FROM job_logs WHERE job_id = '%s'"
                                " AND attempt_number = 2 AND status = 'failed'",
                                hang),
                     1);
    /* The t.ok jobs ran once each; none was charged for the kills of the other pool. */
    ck_assert_int_eq(query_long(pg, "SELECT count(*) FROM job_logs l JOIN jobs j ON j.id = l.job_id"
                                    " WHERE j.queue_name = 't.ok'"),
                     50);
    pmq_test_pmqd_stop_checked(pmqd, log, 0);
    free(hang);
    PQfinish(pg);
    free(cfg);
}
END_TEST

/*--- 5. SIGTERM mid-run ---*/

START_TEST(sigterm_drains_and_restart_finishes)
{
    const char *log = "sigterm";
    char *cfg = pmq_test_behave_setup(
        "sigterm", "[pmqd]\ngrace_period = 10s\n\n"
                   "[pool main]\nqueues = t.ok\nprocesses = 2\nthreads = 2\n\n" OK_QUEUE);
    PGconn *pg = pmq_test_pg();
    pid_t pmqd = pmq_test_pmqd_start(cfg, log);
    wait_workers(2, log);
    enqueue_n(pg, "t.ok", 3000, "{\"work_ms\": 2}");
    wait_for(pg, log, "SELECT count(*) >= 300 FROM jobs WHERE status = 'completed'", "t", 90000);

    long t0 = now_ms();
    int st = pmq_test_pmqd_stop(pmqd, SIGTERM, 60000);
    long took = now_ms() - t0;
    pmq_test_pmqd_log_check(log, 0);
    char *tail = log_tail(log, 4000);
    ck_assert_msg(st != -1 && WIFEXITED(st) && WEXITSTATUS(st) == 0,
                  "pmqd did not exit with status 0 on SIGTERM (%d)\n%s", st, tail);
    ck_assert_msg(took <= 10000 + 5000, "pmqd took %ld ms to drain (grace period 10 s)\n%s", took,
                  tail);
    free(tail);
    long done = query_long(pg, "SELECT count(*) FROM jobs WHERE status = 'completed'");
    ck_assert_msg(done > 0 && done < 3000, "%ld of 3000 jobs done at SIGTERM", done);
    /* Draining charges nothing: every finished attempt completed. */
    ck_assert_int_eq(query_long(pg, "SELECT count(*) FROM job_logs WHERE status <> 'completed'"),
                     0);

    pmqd = pmq_test_pmqd_start(cfg, log);
    wait_for(pg, log, "SELECT count(*) FROM jobs WHERE status = 'completed'", "3000", 90000);
    assert_running(pmqd, log);
    ck_assert_int_eq(query_long(pg, not_exactly_once_sql), 0);
    ck_assert_int_eq(query_long(pg, "SELECT count(*) FROM jobs WHERE attempt_count <> 1"), 0);
    pmq_test_pmqd_stop_checked(pmqd, log, 0);
    PQfinish(pg);
    free(cfg);
}
END_TEST

/*--- 6. two instances ---*/

START_TEST(two_instances_share_without_duplicates)
{
    const char *loga = "two-a", *logb = "two-b";
    const char *pools = "[pool main]\nqueues = t.ok\nprocesses = 2\nthreads = 2\n\n" OK_QUEUE;
    char *extra = pmq_asprintf("[pmqd]\nhost_id = host-a\n\n%s", pools);
    char *cfga = pmq_test_behave_setup("two-a", extra);
    free(extra);
    extra = pmq_asprintf("[pmqd]\nhost_id = host-b\n\n%s", pools);
    char *cfgb = pmq_test_behave_config("two-b", extra);
    free(extra);
    PGconn *pg = pmq_test_pg();
    pid_t a = pmq_test_pmqd_start(cfga, loga);
    pid_t b = pmq_test_pmqd_start(cfgb, logb);
    wait_workers(4, logb);
    enqueue_n(pg, "t.ok", 10000, "{}");

    wait_for(pg, loga, "SELECT count(*) FROM jobs WHERE status = 'completed'", "10000", 90000);
    assert_running(a, loga);
    assert_running(b, logb);
    ck_assert_int_eq(query_long(pg, "SELECT count(*) FROM jobs"), 10000);
    ck_assert_int_eq(query_long(pg, "SELECT count(*) FROM job_logs"), 10000);
    ck_assert_int_eq(query_long(pg, not_exactly_once_sql), 0);
    long by_a = query_long(pg, "SELECT count(*) FROM job_logs WHERE worker_id LIKE 'host-a:%%'");
    long by_b = query_long(pg, "SELECT count(*) FROM job_logs WHERE worker_id LIKE 'host-b:%%'");
    ck_assert_msg(by_a > 0 && by_b > 0 && by_a + by_b == 10000,
                  "host-a ran %ld jobs, host-b %ld (of 10000)", by_a, by_b);
    pmq_test_pmqd_stop_checked(a, loga, 0);
    pmq_test_pmqd_stop_checked(b, logb, 0);
    PQfinish(pg);
    free(cfga);
    free(cfgb);
}
END_TEST

/*--- 7. a Redis that may evict keys ---*/

START_TEST(refuses_an_evicting_redis)
{
    const char *policies[] = {"allkeys-lru", "volatile-ttl"};
    char *cfg = pmq_test_behave_setup("evict", "[pool main]\nqueues = t.ok\n\n");
    redisContext *r = pmq_test_redis();
    for (size_t i = 0; i < sizeof policies / sizeof policies[0]; i++) {
        char log[64];
        snprintf(log, sizeof log, "evict-%s", policies[i]);
        freeReplyObject(redis_cmd(r, "CONFIG SET maxmemory-policy %s", policies[i]));
        pid_t pid = pmq_test_pmqd_start(cfg, log);
        int st = 0;
        pid_t w = 0;
        long deadline = now_ms() + 30000;
        while ((w = waitpid(pid, &st, WNOHANG)) == 0 && now_ms() < deadline)
            sleep_ms(20);
        if (w == 0)
            pmq_test_pmqd_stop(pid, SIGTERM, 30000);
        /* Restore before any assertion, so that later tests get a sane Redis. */
        freeReplyObject(redis_cmd(r, "CONFIG SET maxmemory-policy noeviction"));
        char *out = pmq_test_pmqd_log(log);
        ck_assert_msg(w == pid, "pmqd started against maxmemory-policy %s:\n%s", policies[i], out);
        ck_assert_msg(WIFEXITED(st) && WEXITSTATUS(st) != 0,
                      "pmqd ended with status %d against maxmemory-policy %s:\n%s", st,
                      policies[i], out);
        ck_assert_msg(strstr(out, policies[i]) != NULL, "the message does not name %s:\n%s",
                      policies[i], out);
        ck_assert_msg(strstr(out, "HINT:") != NULL && strstr(out, "noeviction") != NULL,
                      "no HINT towards noeviction:\n%s", out);
        free(out);
    }
    redisFree(r);
    free(cfg);
}
END_TEST

/*
 * A t.ok job migrated by a pmqd that serves no t.ok, then taken from its band
 * and put in pmq:active:<holder> with its job:<id> hash saying it runs there,
 * as a worker that is gone would have left it.  Returns the job's id.
 */
static char *job_held_by(PGconn *pg, redisContext *r, const char *name, const char *holder,
                         const char *log)
{
    char *cfg = pmq_test_behave_setup(name, OK_QUEUE);
    char *id = enqueue_one(pg, "t.ok", "{}");
    pid_t pmqd = pmq_test_pmqd_start(cfg, log);
    char *sql = pmq_asprintf("SELECT status FROM jobs WHERE id = '%s'", id);
    wait_for(pg, log, sql, "migrated", 60000);
    free(sql);
    long deadline = now_ms() + 60000;
    while (redis_int(r, "LLEN %s", PMQ_TEST_KEY(pmq_key_queue, "", "t.ok", PMQ_BAND_NORMAL)) < 1 && now_ms() < deadline)
        sleep_ms(10);
    ck_assert_int_eq(redis_int(r, "LLEN %s", PMQ_TEST_KEY(pmq_key_queue, "", "t.ok", PMQ_BAND_NORMAL)), 1);
    pmq_test_pmqd_stop_checked(pmqd, log, 0);
    redisReply *moved = redis_cmd(r, "RPOP %s", PMQ_TEST_KEY(pmq_key_queue, "", "t.ok", PMQ_BAND_NORMAL));
    ck_assert_msg(moved->type == REDIS_REPLY_STRING && strstr(moved->str, id),
                  "could not take job %s from its band", id);
    freeReplyObject(redis_cmd(r, "HSET %s %s %s", PMQ_TEST_KEY(pmq_key_active, "", holder), id, moved->str));
    freeReplyObject(moved);
    freeReplyObject(redis_cmd(r, "HSET %s status running worker_id %s", PMQ_TEST_KEY(pmq_key_job, "", id), holder));
    free(cfg);
    return id;
}

/*--- 8. a dead host: heartbeat expired ---*/

START_TEST(expired_heartbeat_is_recovered)
{
    const char *log = "deadhost";
    /* A worker of a host that died: registered, holding the job, no heartbeat. */
    const char *dead = "deadhost:4242:main";
    char active[PMQ_KEY_MAX];
    pmq_key_active(active, "", dead);
    PGconn *pg = pmq_test_pg();
    redisContext *r = pmq_test_redis();
    char *id = job_held_by(pg, r, "deadhost-migrate", dead, log);
    freeReplyObject(redis_cmd(r, "SADD %s %s", PMQ_TEST_KEY(pmq_key_workers, ""), dead));
    ck_assert_int_eq(redis_int(r, "EXISTS %s", PMQ_TEST_KEY(pmq_key_heartbeat, "", dead)), 0);

    char *cfg2 = pmq_test_behave_config(
        "deadhost-work", "[pool main]\nqueues = t.ok\nprocesses = 1\nthreads = 2\n\n" OK_QUEUE);
    pid_t pmqd = pmq_test_pmqd_start(cfg2, log);
    char *sql = pmq_asprintf("SELECT count(*) FROM job_logs WHERE job_id = '%s' AND attempt_number = 1"
                       " AND status = 'retry' AND log_message = 'worker lost: heartbeat expired'"
                       " AND worker_id = '%s'",
                       id, dead);
    wait_for(pg, log, sql, "1", 30000);
    free(sql);
    sql = pmq_asprintf("SELECT status || ' ' || attempt_count FROM jobs WHERE id = '%s'", id);
    wait_for(pg, log, sql, "completed 2", 60000);
    free(sql);
    ck_assert_int_eq(query_long(pg,
                                "SELECT count(*) FROM job_logs WHERE job_id = '%s'"
                                " AND attempt_number = 2 AND status = 'completed'",
                                id),
                     1);
    ck_assert_int_eq(query_long(pg, "SELECT count(*) FROM job_logs WHERE job_id = '%s'", id), 2);
    ck_assert_int_eq(redis_int(r, "SISMEMBER %s %s", PMQ_TEST_KEY(pmq_key_workers, ""), dead), 0);
    ck_assert_int_eq(redis_int(r, "HLEN %s", active), 0);
    assert_running(pmqd, log);
    pmq_test_pmqd_stop_checked(pmqd, log, 0);
    redisFree(r);
    free(id);
    PQfinish(pg);
    free(cfg2);
}
END_TEST

/*--- 9. a worker killed between its commit and its Redis release ---*/

/*
 * The acker commits outcomes to PostgreSQL, then removes the entries from
 * pmq:active:<worker>.  A worker killed in between leaves in its claims a
 * job that PostgreSQL already holds as completed: its replacement must not
 * run it again (I3).  The window is too short to hit by chance, so the entry
 * is put there by hand before the kill.
 */
START_TEST(kill9_after_commit_never_reruns_a_completed_job)
{
    const char *log = "stale";
    char *cfg = pmq_test_behave_setup(
        "stale", "[pool main]\nqueues = t.ok\nprocesses = 1\nthreads = 1\n\n" OK_QUEUE);
    PGconn *pg = pmq_test_pg();
    char *id = enqueue_one(pg, "t.ok", "{}");
    pid_t pmqd = pmq_test_pmqd_start(cfg, log);
    char *sql = pmq_asprintf("SELECT status FROM jobs WHERE id = '%s'", id);
    wait_for(pg, log, sql, "completed", 60000);
    free(sql);

    /* The entry the worker claimed for attempt 1, as the migrator wrote it. */
    sql = pmq_asprintf("SELECT json_build_object('id', id, 'queue_name', queue_name,"
                       " 'priority', priority, 'payload', payload, 'created_at', created_at,"
                       " 'attempt_count', attempt_count - 1, 'max_attempts', max_attempts,"
                       " 'tenant_id', tenant_id)::text FROM jobs WHERE id = '%s'",
                       id);
    char *entry = pmq_test_query1(pg, sql);
    free(sql);
    ck_assert_ptr_nonnull(entry);

    /* The only worker: its id, then the stale claim, then SIGKILL. */
    redisContext *r = pmq_test_redis();
    wait_workers(1, log);
    redisReply *members = redis_cmd(r, "SMEMBERS %s", PMQ_TEST_KEY(pmq_key_workers, ""));
    ck_assert_int_eq((long)members->elements, 1);
    char *worker = pmq_xstrdup(members->element[0]->str);
    freeReplyObject(members);
    pid_t victim = (pid_t)atoi(strchr(worker, ':') + 1);
    freeReplyObject(redis_cmd(r, "HSET %s %s %s", PMQ_TEST_KEY(pmq_key_active, "", worker), id, entry));
    ck_assert_int_eq(kill(victim, SIGKILL), 0);

    /* The replacement releases what its predecessor held... */
    long deadline = now_ms() + 60000;
    while (redis_int(r, "HLEN %s", PMQ_TEST_KEY(pmq_key_active, "", worker)) > 0 && now_ms() < deadline)
        sleep_ms(10);
    ck_assert_int_eq(redis_int(r, "HLEN %s", PMQ_TEST_KEY(pmq_key_active, "", worker)), 0);
    /* ...then runs a later job: had the stale entry gone back to the queue, it would have
     * been claimed first (returned entries go to the head of their band). */
    char *later = enqueue_one(pg, "t.ok", "{}");
    sql = pmq_asprintf("SELECT status FROM jobs WHERE id = '%s'", later);
    wait_for(pg, log, sql, "completed", 60000);
    free(sql);

    /* A claim would have stamped job:<id> "running"; the finished job's hash is gone. */
    char key[PMQ_KEY_MAX];
    redisReply *st = redis_cmd(r, "HGET %s status", pmq_key_job(key, "", id));
    ck_assert_msg(st->type == REDIS_REPLY_NIL ||
                      (st->type == REDIS_REPLY_STRING && !strcmp(st->str, "completed")),
                  "completed job %s was claimed again (%s status %s)", id, key,
                  st->type == REDIS_REPLY_STRING ? st->str : "nil");
    freeReplyObject(st);
    ck_assert_int_eq(redis_int(r, "LLEN %s", PMQ_TEST_KEY(pmq_key_queue, "", "t.ok", PMQ_BAND_NORMAL)), 0);
    ck_assert_int_eq(query_long(pg, "SELECT count(*) FROM job_logs WHERE job_id = '%s'", id), 1);
    ck_assert_int_eq(query_long(pg, "SELECT attempt_count FROM jobs WHERE id = '%s'", id), 1);
    assert_running(pmqd, log);
    pmq_test_pmqd_stop_checked(pmqd, log, 0);
    redisFree(r);
    free(worker);
    free(entry);
    free(later);
    free(id);
    PQfinish(pg);
    free(cfg);
}
END_TEST

/*--- 10. a claim whose reply is lost ---*/

/* How many keys match `pattern` (SCAN, as pmq itself would). */
static long redis_count_keys(redisContext *r, const char *pattern)
{
    long n = 0;
    char cursor[32] = "0";
    do {
        redisReply *rep = redis_cmd(r, "SCAN %s MATCH %s COUNT 1000", cursor, pattern);
        ck_assert_int_eq(rep->type, REDIS_REPLY_ARRAY);
        snprintf(cursor, sizeof cursor, "%s", rep->element[0]->str);
        n += (long)rep->element[1]->elements;
        freeReplyObject(rep);
    } while (strcmp(cursor, "0") != 0);
    return n;
}

/* Poll until `pattern` matches no key and DBSIZE is at most `dbsize`. */
static void wait_redis_back(redisContext *r, const char *pattern, long dbsize, const char *log)
{
    long keys = 0, size = 0, until = now_ms() + PMQ_TEST_WAIT_MS;
    while (((keys = redis_count_keys(r, pattern)) > 0 ||
            (size = redis_int(r, "DBSIZE")) > dbsize) &&
           now_ms() < until)
        sleep_ms(50);
    char *tail = log_tail(log, 4000);
    ck_assert_msg(keys == 0 && size <= dbsize,
                  "Redis still holds %ld %s keys, DBSIZE %ld (%ld before)\npmqd log:\n%s", keys,
                  pattern, size, dbsize, tail);
    free(tail);
}


/* The private Redis server's pid, from INFO server. */
static pid_t redis_server_pid(redisContext *r)
{
    redisReply *rep = redis_cmd(r, "INFO server");
    const char *p = rep->type == REDIS_REPLY_STRING ? strstr(rep->str, "process_id:") : NULL;
    ck_assert_msg(p != NULL, "INFO server has no process_id");
    pid_t pid = (pid_t)atol(p + strlen("process_id:"));
    freeReplyObject(rep);
    ck_assert_int_gt(pid, 1);
    return pid;
}

/*
 * Redis stopped (SIGSTOP) for longer than [redis] timeout while workers
 * claim: it runs the claims it had read when it resumes, but their replies
 * are lost.  The entries they moved into pmq:active:<worker> of a live
 * worker must still run (DESIGN.md section 4: a claim is safe to lose), and
 * without a charge, since they never ran.
 */
START_TEST(lost_claim_reply_loses_nothing)
{
    const char *log = "lostclaim";
    char *cfg = pmq_test_behave_setup(
        "lostclaim", "[redis]\ntimeout = 200ms\n\n"
                     "[pool main]\nqueues = t.ok\nprocesses = 2\nthreads = 4\n\n" OK_QUEUE);
    PGconn *pg = pmq_test_pg();
    redisContext *r = pmq_test_redis();
    pid_t redis = redis_server_pid(r);
    pid_t pmqd = pmq_test_pmqd_start(cfg, log);
    wait_workers(2, log);
    enqueue_n(pg, "t.ok", 4000, "{\"work_ms\": 2}");

    /* Stop Redis while jobs wait in it, until a worker has lost a claim's reply. */
    int lost = 0, stops = 0;
    long deadline = now_ms() + 90000;
    while (!lost && stops < 10 && now_ms() < deadline) {
        if (redis_int(r, "LLEN %s", PMQ_TEST_KEY(pmq_key_queue, "", "t.ok", PMQ_BAND_NORMAL)) < 200) {
            sleep_ms(5);
            continue;
        }
        /* No assertion between the two signals: a failed test must not leave Redis stopped. */
        kill(redis, SIGSTOP);
        sleep_ms(1500);
        kill(redis, SIGCONT);
        stops++;
        char *text = pmq_test_pmqd_log(log);
        lost = strstr(text, "lost Redis while claiming") != NULL;
        free(text);
    }
    redisFree(r);
    r = pmq_test_redis();
    char *tail = log_tail(log, 4000);
    ck_assert_msg(lost, "no claim reply was lost in %d stops of Redis\npmqd log:\n%s", stops, tail);
    free(tail);

    wait_for(pg, log, "SELECT count(*) FROM jobs WHERE status = 'completed'", "4000", 90000);
    assert_running(pmqd, log);
    ck_assert_int_eq(query_long(pg, "SELECT count(*) FROM jobs WHERE status = 'migrated'"), 0);
    /* Returned entries never ran: nothing charged, nothing run twice. */
    ck_assert_int_eq(query_long(pg, not_exactly_once_sql), 0);
    ck_assert_int_eq(query_long(pg, "SELECT count(*) FROM jobs WHERE attempt_count <> 1"), 0);
    /* Every worker's hash is empty once the work is done. */
    redisReply *members = redis_cmd(r, "SMEMBERS %s", PMQ_TEST_KEY(pmq_key_workers, ""));
    for (size_t i = 0; i < members->elements; i++) {
        const char *w = members->element[i]->str;
        long left = -1, until = now_ms() + PMQ_TEST_WAIT_MS;
        while ((left = redis_int(r, "HLEN %s", PMQ_TEST_KEY(pmq_key_active, "", w))) > 0 && now_ms() < until)
            sleep_ms(20);
        ck_assert_msg(left == 0, "%s still holds %ld entries", PMQ_TEST_KEY(pmq_key_active, "", w), left);
    }
    freeReplyObject(members);
    /* Nor does any finished job's hash stay, whichever release the stops broke. */
    wait_redis_back(r, PMQ_TEST_KEY(pmq_key_job, "", "*"), 1000000, log);
    pmq_test_pmqd_stop_checked(pmqd, log, 0);
    redisFree(r);
    PQfinish(pg);
    free(cfg);
}
END_TEST

/*--- 11. the claims of a worker that is neither alive nor listed ---*/

START_TEST(unlisted_worker_claims_are_returned)
{
    const char *log = "unlisted";
    /* What a cleanly stopped worker left: a claim whose reply it never read. */
    const char *gone = "stopped:4242:main:0";
    char active[PMQ_KEY_MAX];
    pmq_key_active(active, "", gone);
    PGconn *pg = pmq_test_pg();
    redisContext *r = pmq_test_redis();
    char *id = job_held_by(pg, r, "unlisted-migrate", gone, log);
    ck_assert_int_eq(redis_int(r, "SISMEMBER %s %s", PMQ_TEST_KEY(pmq_key_workers, ""), gone), 0);
    ck_assert_int_eq(redis_int(r, "EXISTS %s", PMQ_TEST_KEY(pmq_key_heartbeat, "", gone)), 0);

    char *cfg2 = pmq_test_behave_config(
        "unlisted-work", "[pool main]\nqueues = t.ok\nprocesses = 1\nthreads = 2\n\n" OK_QUEUE);
    pid_t pmqd = pmq_test_pmqd_start(cfg2, log);
    /* Returned without a charge: it never ran. */
    char *sql = pmq_asprintf("SELECT status || ' ' || attempt_count FROM jobs WHERE id = '%s'", id);
    wait_for(pg, log, sql, "completed 1", 60000);
    free(sql);
    ck_assert_int_eq(query_long(pg, "SELECT count(*) FROM job_logs WHERE job_id = '%s'", id), 1);
    ck_assert_int_eq(redis_int(r, "EXISTS %s", active), 0);
    assert_running(pmqd, log);
    pmq_test_pmqd_stop_checked(pmqd, log, 0);
    redisFree(r);
    free(id);
    PQfinish(pg);
    free(cfg2);
}
END_TEST

/*--- 12. finished jobs leave Redis ---*/

/* With the default [redis] finished_ttl (0), a finished job's hash goes with its outcome. */
START_TEST(finished_jobs_leave_redis)
{
    const char *log = "finished";
    char *cfg = pmq_test_behave_setup(
        "finished", "[pool main]\nqueues = t.ok\nprocesses = 1\nthreads = 4\n\n" OK_QUEUE);
    PGconn *pg = pmq_test_pg();
    redisContext *r = pmq_test_redis();
    pid_t pmqd = pmq_test_pmqd_start(cfg, log);
    wait_workers(1, log);
    /* One job first, so that the counters and the sentinel exist before the count. */
    free(enqueue_one(pg, "t.ok", "{}"));
    wait_for(pg, log, ok_done_sql, "1", 60000);
    wait_redis_back(r, PMQ_TEST_KEY(pmq_key_job, "", "*"), 1000000, log);
    long before = redis_int(r, "DBSIZE");

    enqueue_n(pg, "t.ok", 2000, "{}");
    wait_for(pg, log, ok_done_sql, "2001", 90000);
    wait_redis_back(r, PMQ_TEST_KEY(pmq_key_job, "", "*"), before, log);

    /* PostgreSQL still tells the whole story. */
    char *id = pmq_test_query1(pg, "SELECT id FROM jobs LIMIT 1");
    char *out = pmq_test_ctl(cfg, NULL, "job show %s", id);
    ck_assert_msg(strstr(out, "completed") && strstr(out, "(no hash)"), "job show says:\n%s", out);
    free(out);
    free(id);
    assert_running(pmqd, log);
    pmq_test_pmqd_stop_checked(pmqd, log, 0);
    redisFree(r);
    PQfinish(pg);
    free(cfg);
}
END_TEST

/* With a window, Redis keeps a finished job's hash until the window passes, not longer. */
START_TEST(finished_jobs_kept_for_the_window)
{
    const char *log = "finished-window";
    char *cfg = pmq_test_behave_setup("finished-window",
                                      "[redis]\nfinished_ttl = 10s\n\n"
                                      "[pool main]\nqueues = t.ok\nprocesses = 1\nthreads = 4\n\n"
                                      OK_QUEUE);
    PGconn *pg = pmq_test_pg();
    redisContext *r = pmq_test_redis();
    pid_t pmqd = pmq_test_pmqd_start(cfg, log);
    wait_workers(1, log);
    enqueue_n(pg, "t.ok", 200, "{}");
    wait_for(pg, log, ok_done_sql, "200", 90000);

    /* Each hash is settled (the release follows the commit), then held until its window ends. */
    PGresult *res = PQexec(pg, "SELECT id, extract(epoch FROM now() - completed_at) FROM jobs");
    ck_assert_int_eq(PQresultStatus(res), PGRES_TUPLES_OK);
    int present = 0;
    for (int i = 0; i < PQntuples(res); i++) {
        const char *id = PQgetvalue(res, i, 0);
        double age = atof(PQgetvalue(res, i, 1));
        char key[PMQ_KEY_MAX];
        pmq_key_job(key, "", id);
        redisReply *st = NULL;
        long until = now_ms() + PMQ_TEST_WAIT_MS;
        for (;;) {
            st = redis_cmd(r, "HGET %s status", key);
            if (st->type != REDIS_REPLY_STRING || !strcmp(st->str, "completed") ||
                now_ms() > until)
                break;
            freeReplyObject(st);
            sleep_ms(20);
        }
        int exists = st->type == REDIS_REPLY_STRING;
        ck_assert_msg(!exists || !strcmp(st->str, "completed"), "%s status is %s", key,
                      exists ? st->str : "nil");
        freeReplyObject(st);
        /* A hash expires no sooner than 10 s after its outcome was committed. */
        ck_assert_msg(exists || age >= 9.5, "%s is gone %.1f s after the job completed", key,
                      age);
        if (exists) {
            long ttl = redis_int(r, "TTL %s", key);
            ck_assert_msg(ttl > 0 && ttl <= 10, "%s has a TTL of %ld s", key, ttl);
            present++;
        }
    }
    PQclear(res);
    ck_assert_msg(present > 0, "no finished job's hash was kept");
    /* Then they go. */
    wait_redis_back(r, PMQ_TEST_KEY(pmq_key_job, "", "*"), 1000000, log);
    assert_running(pmqd, log);
    pmq_test_pmqd_stop_checked(pmqd, log, 0);
    redisFree(r);
    PQfinish(pg);
    free(cfg);
}
END_TEST

/* Dead letters: PostgreSQL keeps them all; Redis mirrors the newest 1,000 (doc/operations.md). */
START_TEST(deadletter_mirror_is_bounded)
{
    const char *log = "dlq-mirror";
    char *cfg = pmq_test_behave_setup(
        "dlq-mirror", "[queue t.fail]\nmax_attempts = 1\n\n"
                      "[pool main]\nqueues = t.fail\nprocesses = 1\nthreads = 4\n\n");
    PGconn *pg = pmq_test_pg();
    redisContext *r = pmq_test_redis();
    pid_t pmqd = pmq_test_pmqd_start(cfg, log);
    enqueue_n(pg, "t.fail", 1200, "{}");
    wait_for(pg, log, "SELECT count(*) FROM jobs WHERE status = 'failed'", "1200", 90000);
    /* The last release follows the last commit. */
    char *last = pmq_test_query1(pg, "SELECT id FROM jobs ORDER BY failed_at DESC LIMIT 1");
    long until = now_ms() + PMQ_TEST_WAIT_MS;
    while (redis_int(r, "EXISTS %s", PMQ_TEST_KEY(pmq_key_deadletter, "", last)) == 0 && now_ms() < until)
        sleep_ms(20);
    ck_assert_int_eq(redis_int(r, "EXISTS %s", PMQ_TEST_KEY(pmq_key_deadletter, "", last)), 1);
    ck_assert_int_eq(redis_int(r, "LLEN %s", PMQ_TEST_KEY(pmq_key_deadletter_list, "")), 1000);
    /* deadletter:<id> for each entry in the list, no more. */
    ck_assert_int_eq(redis_count_keys(r, PMQ_TEST_KEY(pmq_key_deadletter, "", "*-*")), 1000);
    wait_redis_back(r, PMQ_TEST_KEY(pmq_key_job, "", "*"), 1000000, log);
    char *out = pmq_test_ctl(cfg, NULL, "dlq list --limit 2000");
    ck_assert_msg(strstr(out, "(1200 jobs)") != NULL, "dlq list says:\n%.2000s", out);
    free(out);
    free(last);
    assert_running(pmqd, log);
    pmq_test_pmqd_stop_checked(pmqd, log, 0);
    redisFree(r);
    PQfinish(pg);
    free(cfg);
}
END_TEST

/* One case per fault, so that CK_RUN_CASE=<name> runs one of them. */
static void add_case(Suite *s, const char *name, const TTest *test)
{
    tcase_add_test(pmq_test_case(s, name, 180), test);
}

static Suite *faults_suite(void)
{
    Suite *s = suite_create("faults");
    add_case(s, "kill9", kill9_workers_loses_nothing);
    add_case(s, "flushall", flushall_midrun_requeues_from_postgres);
    add_case(s, "crash", crashing_plugin_takes_down_only_its_child);
    add_case(s, "hang", hanging_plugin_is_killed_at_its_timeout);
    add_case(s, "sigterm", sigterm_drains_and_restart_finishes);
    add_case(s, "two-hosts", two_instances_share_without_duplicates);
    add_case(s, "eviction", refuses_an_evicting_redis);
    add_case(s, "dead-host", expired_heartbeat_is_recovered);
    add_case(s, "stale-claim", kill9_after_commit_never_reruns_a_completed_job);
    add_case(s, "lost-claim", lost_claim_reply_loses_nothing);
    add_case(s, "unlisted-worker", unlisted_worker_claims_are_returned);
    add_case(s, "finished-ttl", finished_jobs_leave_redis);
    add_case(s, "finished-window", finished_jobs_kept_for_the_window);
    add_case(s, "deadletter-mirror", deadletter_mirror_is_bounded);
    return s;
}

int main(void)
{
    /* t.crash raises SIGSEGV: under AddressSanitizer the worker must still die of it,
     * as it does in production, rather than exit through ASan's report. */
    return pmq_test_main(faults_suite(), "handle_segv=0");
}
