/*
 * test_lifecycle.c -- the promises of pmqd's life cycle (DESIGN.md section 5,
 * doc/operations.md) against the real pmqd and servers, with the "behave"
 * test plugin (tests/plugins/behave.c):
 *   - a handler timeout charges only the job that timed out: the jobs
 *     running beside it in the killed worker go back uncharged;
 *   - SIGHUP applies a changed configuration, refuses a bad one (errors
 *     logged) and keeps the running one;
 *   - a child exiting with the configuration-error code waits for SIGHUP;
 *   - a child that keeps dying at start-up is throttled, with a growing
 *     back-off, and pmqd stays up;
 *   - SIGTERM with a handler running past the grace period: the worker is
 *     killed, its job goes back uncharged and runs on the next start;
 *   - a Redis older than 6.2 (a proxy rewriting INFO) is refused;
 *   - a host that vanishes (SIGKILL to its whole pmqd tree): the other
 *     instance recovers its jobs once its heartbeats expire;
 *   - pausing a queue whose jobs are in Redis or claimed; cancelling a
 *     running job.
 * One case per promise: CK_RUN_CASE=timeout (reload, exit-config, throttle,
 * grace, old-redis, vanish, pause, cancel) runs one.  Waits poll for the
 * event with PMQ_TEST_WAIT_MS as a safety net; no duration is asserted.
 */

#include <errno.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
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
#pragma GCC diagnostic ignored "-Wunused-function" /* TMP */

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

static long query_long(PGconn *pg, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static long query_long(PGconn *pg, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char *sql = pmq_vasprintf(fmt, ap);
    va_end(ap);
    char *v = pmq_test_query1(pg, sql);
    ck_assert_msg(v != NULL, "%s returned no value", sql);
    long n = strtol(v, NULL, 10);
    free(v);
    free(sql);
    return n;
}

/* pmq_test_await_sql() of a formatted query. */
static void await_sqlf(PGconn *pg, const char *log, const char *expected, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static void await_sqlf(PGconn *pg, const char *log, const char *expected, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char *sql = pmq_vasprintf(fmt, ap);
    va_end(ap);
    pmq_test_await_sql(pg, sql, expected, log);
    free(sql);
}

/* Enqueue one job; returns its id (caller frees). */
static char *enqueue_one(PGconn *pg, const char *queue, const char *payload)
{
    char *id = pmq_test_sqlf(pg, "SELECT pmq_enqueue('%s', '%s')", queue, payload);
    ck_assert_msg(id != NULL, "pmq_enqueue('%s') returned nothing", queue);
    return id;
}

/* Enqueue `n` jobs with the same payload in one statement. */
static void enqueue_n(PGconn *pg, const char *queue, int n, const char *payload)
{
    ck_assert_int_eq(query_long(pg,
                                "SELECT count(*) FROM pmq_enqueue_many('%s',"
                                " (SELECT jsonb_agg('%s'::jsonb) FROM generate_series(1, %d)))",
                                queue, payload, n),
                     n);
}

/* Fail the test, with pmqd's log, unless `pid` (our child) still runs. */
static void assert_running(pid_t pid, const char *log)
{
    int st;
    pid_t r = waitpid(pid, &st, WNOHANG);
    if (r == 0)
        return;
    char *tail = pmq_test_pmqd_log_tail(log);
    ck_abort_msg("pmqd (pid %d) is gone (wait status %d)\npmqd log:\n%s", (int)pid,
                 r == pid ? st : -1, tail);
}

/* Wait until at least `n` worker processes beat (all instances together). */
static void wait_workers(int n, const char *log)
{
    pid_t pids[64];
    long deadline = now_ms() + PMQ_TEST_WAIT_MS;
    while (pmq_test_worker_pids(pids, 64) < n) {
        if (now_ms() > deadline) {
            char *tail = pmq_test_pmqd_log_tail(log);
            ck_abort_msg("fewer than %d workers beat\npmqd log:\n%s", n, tail);
        }
        sleep_ms(20);
    }
}

/* Occurrences of `needle` in pmqd's log `log`. */
static int log_count(const char *log, const char *needle)
{
    char *text = pmq_test_pmqd_log(log);
    int n = 0;
    for (const char *p = text; (p = strstr(p, needle)) != NULL; p += strlen(needle))
        n++;
    free(text);
    return n;
}

/* Wait until pmqd's log `log` says `needle` at least `n` times. */
static void await_log(const char *log, const char *needle, int n)
{
    long deadline = now_ms() + PMQ_TEST_WAIT_MS;
    while (log_count(log, needle) < n) {
        if (now_ms() > deadline) {
            char *tail = pmq_test_pmqd_log_tail(log);
            ck_abort_msg("pmqd's log never said \"%s\" %d times:\n%s", needle, n, tail);
        }
        sleep_ms(20);
    }
}

/* Wait until job:<id> in Redis has status "running". */
static void await_running(redisContext *r, const char *id, const char *log)
{
    long deadline = now_ms() + PMQ_TEST_WAIT_MS;
    for (;;) {
        redisReply *rep = redisCommand(r, "HGET job:%s status", id);
        ck_assert_ptr_nonnull(rep);
        int running = rep->type == REDIS_REPLY_STRING && !strcmp(rep->str, "running");
        freeReplyObject(rep);
        if (running)
            return;
        if (now_ms() > deadline) {
            char *tail = pmq_test_pmqd_log_tail(log);
            ck_abort_msg("job %s never started\npmqd log:\n%s", id, tail);
        }
        sleep_ms(10);
    }
}

#define OK_QUEUE                                                                                   \
    "[queue t.ok]\n"                                                                               \
    "max_attempts = 5\n"                                                                           \
    "backoff_base = 50ms\n"                                                                        \
    "backoff_max = 200ms\n\n"

/*--- 1. a handler timeout charges only its own job ---*/

START_TEST(timeout_charges_only_the_slow_job)
{
    const char *log = "timeout";
    char *cfg = pmq_test_behave_setup("timeout",
                                      "[pool main]\nqueues = t.ok, t.hang\nprocesses = 1\n"
                                      "threads = 4\n\n"
                                      "[queue t.hang]\ntimeout = 1s\nmax_attempts = 1\n\n" OK_QUEUE);
    PGconn *pg = pmq_test_pg();
    redisContext *r = pmq_test_redis();
    /* Three slow jobs and a hanging one, all four running at once in one process. */
    char *slow[3];
    for (int i = 0; i < 3; i++)
        slow[i] = enqueue_one(pg, "t.ok", "{\"work_ms\": 4000}");
    pid_t pmqd = pmq_test_pmqd_start(cfg, log);
    for (int i = 0; i < 3; i++)
        await_running(r, slow[i], log);
    char *hang = enqueue_one(pg, "t.hang", "{}");

    await_sqlf(pg, log, "failed 1", "SELECT status || ' ' || attempt_count FROM jobs WHERE id = '%s'",
               hang);
    pmq_test_await_sql(pg, "SELECT count(*) FROM jobs WHERE queue_name = 't.ok'"
                           " AND status = 'completed'", "3", log);
    assert_running(pmqd, log);
    /* The slow jobs completed on their first attempt; only the hanging job was charged. */
    ck_assert_int_eq(query_long(pg, "SELECT count(*) FROM jobs WHERE queue_name = 't.ok'"
                                    " AND attempt_count = 1"),
                     3);
    ck_assert_int_eq(query_long(pg, "SELECT count(*) FROM job_logs l JOIN jobs j ON j.id = l.job_id"
                                    " WHERE j.queue_name = 't.ok'"),
                     3);
    ck_assert_int_eq(query_long(pg, "SELECT count(*) FROM job_logs WHERE log_message LIKE"
                                    " '%%worker died%%'"),
                     0);
    ck_assert_int_eq(query_long(pg,
                                "SELECT count(*) FROM job_logs WHERE job_id = '%s'"
                                " AND log_message = 'timed out after 1 s'",
                                hang),
                     1);
    /* The kill did hit them (not vacuous): recovery returned them, uncharged. */
    char *text = pmq_test_pmqd_log(log);
    ck_assert_msg(strstr(text, "1 attempt charged") && strstr(text, "3 returned to the queue"),
                  "the slow jobs were not running beside the hanging one:\n%s", text);
    free(text);
    pmq_test_pmqd_stop_checked(pmqd, log, 0);
    for (int i = 0; i < 3; i++)
        free(slow[i]);
    free(hang);
    redisFree(r);
    PQfinish(pg);
    free(cfg);
}
END_TEST

/* One case per promise, so that CK_RUN_CASE=<name> runs one of them. */
static void add_case(Suite *s, const char *name, const TTest *test)
{
    tcase_add_test(pmq_test_case(s, name, 240), test);
}

static Suite *lifecycle_suite(void)
{
    Suite *s = suite_create("lifecycle");
    add_case(s, "timeout", timeout_charges_only_the_slow_job);
    return s;
}

int main(void)
{
    /* The "behave" plugin's init dies of SIGSEGV on demand: under AddressSanitizer the
     * child must still die of it, as it does in production. */
    return pmq_test_main(lifecycle_suite(), "handle_segv=0");
}
