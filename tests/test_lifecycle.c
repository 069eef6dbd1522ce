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
 *   - pausing a queue whose jobs are in Redis or claimed;
 *   - a handler that hangs holds up no other pool, and cancelling its job
 *     reaches it;
 *   - the master opens no PostgreSQL or Redis connection (strace) through
 *     start-up, a worker crash, a reload and a shutdown past the grace period;
 *   - a worker of more than 64 threads killed while every thread runs a job:
 *     each job is charged;
 *   - many reloads leave the master holding only its live children;
 *   - a worker a reload retired that dies with a job running: the job is
 *     charged at once, with the reason of its death;
 *   - an http child that never bound is throttled, one that served is
 *     restarted at once, whatever its age.
 * One case per promise: CK_RUN_CASE=timeout (reload, exit-config, throttle,
 * grace, old-redis, vanish, pause, cancel, no-connect, wide-crash,
 * many-reloads, retired-crash, served) runs one.  Waits poll for the
 * event with PMQ_TEST_WAIT_MS as a safety net; no duration is asserted.  Two
 * checks that something does not happen (a restart, a start after a pause)
 * watch for it over 3 s: a slow machine can only make them miss, not fail.
 */

#include <arpa/inet.h>
#include <dirent.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
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
        redisReply *rep = redisCommand(r, "HGET %s status", PMQ_TEST_KEY(pmq_key_job, "", id));
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

/*--- 2. SIGHUP: a new configuration applied, a bad one refused ---*/

#define RELOAD_BASE "[pool main]\nqueues = t.ok\nprocesses = 1\nthreads = 2\n\n" OK_QUEUE

START_TEST(sighup_applies_a_new_configuration_and_refuses_a_bad_one)
{
    const char *log = "reload";
    char *cfg = pmq_test_behave_setup("reload", RELOAD_BASE);
    PGconn *pg = pmq_test_pg();
    pid_t pmqd = pmq_test_pmqd_start(cfg, log);
    /* No pool serves t.flaky yet: its job waits in Redis. */
    char *first = enqueue_one(pg, "t.flaky", "{}");
    await_sqlf(pg, log, "migrated", "SELECT status FROM jobs WHERE id = '%s'", first);

    /* A new pool for it, then SIGHUP: the job runs. */
    free(pmq_test_behave_config("reload", RELOAD_BASE "[pool more]\nqueues = t.flaky\n\n"));
    ck_assert_int_eq(kill(pmqd, SIGHUP), 0);
    await_sqlf(pg, log, "completed", "SELECT status FROM jobs WHERE id = '%s'", first);

    /* A bad configuration: refused with its error logged, the running one kept. */
    free(pmq_test_behave_config("reload", RELOAD_BASE "[pool more]\nqueues = t.flaky\n"
                                                      "proceses = 2\n\n"));
    ck_assert_int_eq(kill(pmqd, SIGHUP), 0);
    /* The hint is the last line of the refusal: all of it is in the log. */
    await_log(log, "HINT: Did you mean \"processes\"?", 1);
    char *text = pmq_test_pmqd_log(log);
    ck_assert_msg(strstr(text, "reload refused") && strstr(text, "reload.ini:") &&
                      strstr(text, "unknown key \"proceses\""),
                  "the refused configuration's error is not logged:\n%s", text);
    free(text);
    char *second = enqueue_one(pg, "t.flaky", "{}");
    char *ok = enqueue_one(pg, "t.ok", "{}");
    await_sqlf(pg, log, "completed", "SELECT status FROM jobs WHERE id = '%s'", second);
    await_sqlf(pg, log, "completed", "SELECT status FROM jobs WHERE id = '%s'", ok);
    assert_running(pmqd, log);
    ck_assert_int_eq(log_count(log, "reloading"), 1);
    pmq_test_pmqd_stop_checked(pmqd, log, 0);
    free(first);
    free(second);
    free(ok);
    PQfinish(pg);
    free(cfg);
}
END_TEST

/*--- 3. a child exiting with the configuration-error code ---*/

START_TEST(config_error_child_waits_for_sighup)
{
    const char *log = "exitconfig";
    const char *builddir = getenv("top_builddir");
    char *plugin = pmq_asprintf("%s/behave-copy.so", pmq_test_dir());
    char *away = pmq_asprintf("%s.away", plugin);
    char *cmd = pmq_asprintf("cp '%s/tests/plugins/.libs/behave.so' '%s'", builddir, plugin);
    free(pmq_test_run(cmd, NULL));
    free(cmd);
    pmq_test_reset();
    char *ini = pmq_asprintf("[pmqd]\nlog_level = info\n\n[plugin behave]\npath = %s\n\n"
                             "[pool main]\nqueues = t.ok\n\n" OK_QUEUE,
                             plugin);
    char *cfg = pmq_test_write_config("exitconfig", ini);
    free(ini);
    free(pmq_test_ctl(cfg, NULL, "migrate"));
    PGconn *pg = pmq_test_pg();
    pid_t pmqd = pmq_test_pmqd_start(cfg, log);
    pid_t worker[1];
    long deadline = now_ms() + PMQ_TEST_WAIT_MS;
    while (pmq_test_worker_pids(worker, 1) < 1 && now_ms() < deadline)
        sleep_ms(20);
    ck_assert_int_eq(pmq_test_worker_pids(worker, 1), 1);

    /* Its replacement cannot load the plugin: it exits with PMQ_EXIT_CONFIG. */
    ck_assert_int_eq(rename(plugin, away), 0);
    ck_assert_int_eq(kill(worker[0], SIGKILL), 0);
    await_log(log, "exited with a configuration error; not restarting it until a reload", 1);
    ck_assert_int_eq(rename(away, plugin), 0);

    /* Not restarted: a restarted worker would load the plugin now and run this job (a
     * restart comes within one 50 ms tick, or after a 1 s throttle; allow 3 s). */
    char *id = enqueue_one(pg, "t.ok", "{}");
    sleep_ms(3000);
    ck_assert_int_eq(query_long(pg, "SELECT count(*) FROM jobs WHERE status = 'completed'"), 0);
    ck_assert_int_eq(log_count(log, "exited with a configuration error"), 1);
    assert_running(pmqd, log);

    /* SIGHUP starts it again. */
    ck_assert_int_eq(kill(pmqd, SIGHUP), 0);
    await_sqlf(pg, log, "completed", "SELECT status FROM jobs WHERE id = '%s'", id);
    pmq_test_pmqd_stop_checked(pmqd, log, 0);
    free(id);
    free(plugin);
    free(away);
    PQfinish(pg);
    free(cfg);
}
END_TEST

/*--- 4. a child that keeps dying at start-up ---*/

START_TEST(child_dying_at_start_is_throttled)
{
    const char *log = "throttle";
    char *die = pmq_asprintf("%s/die-at-init", pmq_test_dir());
    unlink(die);
    setenv("PMQ_BEHAVE_DIE_AT_INIT", die, 1);
    char *cfg = pmq_test_behave_setup("throttle", "[pool main]\nqueues = t.ok\n\n" OK_QUEUE);
    PGconn *pg = pmq_test_pg();
    pid_t pmqd = pmq_test_pmqd_start(cfg, log);
    pid_t worker[1];
    long deadline = now_ms() + PMQ_TEST_WAIT_MS;
    while (pmq_test_worker_pids(worker, 1) < 1 && now_ms() < deadline)
        sleep_ms(20);
    ck_assert_int_eq(pmq_test_worker_pids(worker, 1), 1);

    /* From now on every new worker dies in the plugin's init, after a start-up longer than
     * a second: slow, as on a busy machine, but still before it ran anything. */
    FILE *f = fopen(die, "w");
    ck_assert_ptr_nonnull(f);
    fputs("1500\n", f);
    fclose(f);
    ck_assert_int_eq(kill(worker[0], SIGKILL), 0);
    /* The back-off grows... */
    await_log(log, "-- throttling for 1000 ms", 1);
    await_log(log, "-- throttling for 2000 ms", 1);
    await_log(log, "-- throttling for 4000 ms", 1);
    /* ...and pmqd stays up. */
    assert_running(pmqd, log);
    char *text = pmq_test_pmqd_log(log);
    ck_assert_msg(strstr(text, "signal 11"), "the start-up deaths are not described:\n%s", text);
    free(text);

    /* Once the cause is gone, the next start serves the queue. */
    unlink(die);
    char *id = enqueue_one(pg, "t.ok", "{}");
    await_sqlf(pg, log, "completed", "SELECT status FROM jobs WHERE id = '%s'", id);
    assert_running(pmqd, log);
    pmq_test_pmqd_stop_checked(pmqd, log, 0);
    free(id);
    free(die);
    PQfinish(pg);
    free(cfg);
}
END_TEST

/*--- 5. SIGTERM with a handler running past the grace period ---*/

START_TEST(sigterm_past_grace_period_requeues_uncharged)
{
    const char *log = "grace";
    char *cfg = pmq_test_behave_setup("grace", "[pmqd]\ngrace_period = 1s\n\n"
                                               "[pool main]\nqueues = t.ok\nthreads = 1\n\n"
                                               "[queue t.ok]\ntimeout = 10min\n\n");
    PGconn *pg = pmq_test_pg();
    redisContext *r = pmq_test_redis();
    char *id = enqueue_one(pg, "t.ok", "{\"work_ms\": 5000}");
    pid_t pmqd = pmq_test_pmqd_start(cfg, log);
    await_running(r, id, log);

    int st = pmq_test_pmqd_stop(pmqd, SIGTERM, PMQ_TEST_WAIT_MS);
    pmq_test_pmqd_log_check(log, 0);
    char *tail = pmq_test_pmqd_log_tail(log);
    ck_assert_msg(st != -1 && WIFEXITED(st) && WEXITSTATUS(st) == 0,
                  "pmqd did not exit with status 0 (%d):\n%s", st, tail);
    ck_assert_msg(strstr(tail, "grace period over: killing"), "the worker was not killed:\n%s",
                  tail);
    free(tail);
    /* Back in its queue, uncharged. */
    ck_assert_int_eq(query_long(pg, "SELECT attempt_count FROM jobs WHERE id = '%s'", id), 0);
    ck_assert_int_eq(query_long(pg, "SELECT count(*) FROM job_logs WHERE job_id = '%s'", id), 0);
    char *status = pmq_test_sqlf(pg, "SELECT status FROM jobs WHERE id = '%s'", id);
    redisReply *rep = redisCommand(r, "LRANGE %s 0 -1", PMQ_TEST_KEY(pmq_key_queue, "", "t.ok", PMQ_BAND_NORMAL));
    ck_assert_ptr_nonnull(rep);
    int in_redis = rep->type == REDIS_REPLY_ARRAY && rep->elements == 1 &&
                   strstr(rep->element[0]->str, id) != NULL;
    freeReplyObject(rep);
    /* PostgreSQL says "migrated": ready in Redis (DESIGN.md 4), where it is again. */
    ck_assert_msg(!strcmp(status, "migrated") && in_redis,
                  "job %s is not back in its band (status %s, %s in Redis)", id, status,
                  in_redis ? "" : "not");
    free(status);

    /* The next start runs it, as its first attempt. */
    pmqd = pmq_test_pmqd_start(cfg, log);
    await_sqlf(pg, log, "completed 1",
               "SELECT status || ' ' || attempt_count FROM jobs WHERE id = '%s'", id);
    ck_assert_int_eq(query_long(pg, "SELECT count(*) FROM job_logs WHERE job_id = '%s'", id), 1);
    pmq_test_pmqd_stop_checked(pmqd, log, 0);
    free(id);
    redisFree(r);
    PQfinish(pg);
    free(cfg);
}
END_TEST

/*--- 6. a Redis older than 6.2 ---*/

START_TEST(refuses_a_redis_older_than_6_2)
{
    const char *log = "oldredis";
    const char *srcdir = getenv("top_srcdir");
    ck_assert_ptr_nonnull(srcdir);
    char *listen = pmq_asprintf("%s/old-redis.sock", pmq_test_dir());
    unlink(listen);
    pid_t proxy = fork();
    ck_assert_int_ge(proxy, 0);
    if (proxy == 0) {
        char *script = pmq_asprintf("%s/tests/redis_old_proxy.py", srcdir);
        execlp("python3", "python3", script, listen, pmq_test_redis_socket(), (char *)NULL);
        _exit(127);
    }
    pmq_test_track(proxy);
    struct stat sb;
    long deadline = now_ms() + PMQ_TEST_WAIT_MS;
    while (stat(listen, &sb) != 0 && now_ms() < deadline && waitpid(proxy, NULL, WNOHANG) == 0)
        sleep_ms(20);
    ck_assert_msg(stat(listen, &sb) == 0, "the proxy did not listen on %s", listen);

    /* The same configuration, with [redis] pointing at the proxy. */
    char *cfg = pmq_test_behave_setup("oldredis", "[pool main]\nqueues = t.ok\n\n");
    char *cmd = pmq_asprintf("sed -i 's|^socket = .*|socket = %s|' '%s'", listen, cfg);
    free(pmq_test_run(cmd, NULL));
    free(cmd);
    pid_t pmqd = pmq_test_pmqd_start(cfg, log);
    int st = 0;
    pid_t w = 0;
    deadline = now_ms() + PMQ_TEST_WAIT_MS;
    while ((w = waitpid(pmqd, &st, WNOHANG)) == 0 && now_ms() < deadline)
        sleep_ms(20);
    if (w == 0)
        pmq_test_pmqd_stop(pmqd, SIGTERM, PMQ_TEST_WAIT_MS);
    else
        pmq_test_untrack(pmqd);
    kill(proxy, SIGTERM);
    waitpid(proxy, NULL, 0);
    pmq_test_untrack(proxy);
    char *text = pmq_test_pmqd_log(log);
    ck_assert_msg(w == pmqd && WIFEXITED(st) && WEXITSTATUS(st) != 0,
                  "pmqd did not refuse Redis 6.0 (wait status %d):\n%s", w == pmqd ? st : -1,
                  text);
    ck_assert_msg(strstr(text, "Redis 6.0 is too old: pmq needs 6.2 or later") &&
                      strstr(text, "HINT:"),
                  "no clear message:\n%s", text);
    free(text);
    free(listen);
    free(cfg);
}
END_TEST

/*--- 7. a host that vanishes ---*/

/* The pids whose parent is `parent` (from /proc/<pid>/stat). */
static int children_of(pid_t parent, pid_t *out, int max)
{
    DIR *d = opendir("/proc");
    ck_assert_ptr_nonnull(d);
    int n = 0;
    for (struct dirent *e; n < max && (e = readdir(d)) != NULL;) {
        char path[300], buf[1024];
        snprintf(path, sizeof path, "/proc/%s/stat", e->d_name);
        FILE *f = fopen(path, "r");
        if (!f)
            continue;
        size_t len = fread(buf, 1, sizeof buf - 1, f);
        fclose(f);
        buf[len] = '\0';
        /* "pid (comm) state ppid ...": comm may hold spaces, so read after its ')'. */
        const char *p = strrchr(buf, ')');
        int ppid;
        if (p && sscanf(p + 1, " %*c %d", &ppid) == 1 && ppid == (int)parent)
            out[n++] = (pid_t)atoi(e->d_name);
    }
    closedir(d);
    return n;
}

START_TEST(vanished_host_is_recovered_by_the_other)
{
    const char *loga = "vanish-a", *logb = "vanish-b";
    const char *rest = "heartbeat_ttl = 2s\n\n"
                       "[pool main]\nqueues = t.ok\nthreads = 2\n\n" OK_QUEUE;
    char *ini = pmq_asprintf("[pmqd]\nhost_id = host-a\n%s", rest);
    char *cfga = pmq_test_behave_setup("vanish-a", ini);
    free(ini);
    ini = pmq_asprintf("[pmqd]\nhost_id = host-b\n%s", rest);
    char *cfgb = pmq_test_behave_config("vanish-b", ini);
    free(ini);
    PGconn *pg = pmq_test_pg();
    redisContext *r = pmq_test_redis();
    char *ids[2];
    for (int i = 0; i < 2; i++)
        ids[i] = enqueue_one(pg, "t.ok", "{\"work_ms\": 3000}");
    pid_t a = pmq_test_pmqd_start(cfga, loga);
    for (int i = 0; i < 2; i++)
        await_running(r, ids[i], loga);
    pid_t b = pmq_test_pmqd_start(cfgb, logb);
    wait_workers(2, logb);

    /* The whole tree of host-a dies at once: stopped, its children killed, then itself. */
    ck_assert_int_eq(kill(a, SIGSTOP), 0);
    pid_t kids[16];
    int nkids = children_of(a, kids, 16);
    ck_assert_int_ge(nkids, 2); /* migrator, maintenance, worker */
    for (int i = 0; i < nkids; i++)
        ck_assert_int_eq(kill(kids[i], SIGKILL), 0);
    ck_assert_int_eq(kill(a, SIGKILL), 0);
    waitpid(a, NULL, 0);
    pmq_test_untrack(a);

    /* host-b recovers both once the heartbeats expire, and runs them. */
    for (int i = 0; i < 2; i++) {
        await_sqlf(pg, logb, "completed 2",
                   "SELECT status || ' ' || attempt_count FROM jobs WHERE id = '%s'", ids[i]);
        ck_assert_int_eq(query_long(pg,
                                    "SELECT count(*) FROM job_logs WHERE job_id = '%s'"
                                    " AND attempt_number = 1 AND worker_id LIKE 'host-a:%%'"
                                    " AND log_message = 'worker lost: heartbeat expired'",
                                    ids[i]),
                         1);
        ck_assert_int_eq(query_long(pg,
                                    "SELECT count(*) FROM job_logs WHERE job_id = '%s'"
                                    " AND attempt_number = 2 AND status = 'completed'"
                                    " AND worker_id LIKE 'host-b:%%'",
                                    ids[i]),
                         1);
        free(ids[i]);
    }
    assert_running(b, logb);
    pmq_test_pmqd_stop_checked(b, logb, 0);
    redisFree(r);
    PQfinish(pg);
    free(cfga);
    free(cfgb);
}
END_TEST

/*--- 8. pausing a queue whose jobs are in Redis or claimed ---*/

START_TEST(pause_stops_claimed_jobs_and_resume_runs_them)
{
    const char *log = "pause";
    char *cfg = pmq_test_behave_setup("pause",
                                      "[pool main]\nqueues = t.ok\nthreads = 2\n\n" OK_QUEUE);
    PGconn *pg = pmq_test_pg();
    /* A backlog long enough for the workers to claim in batches (claim.c). */
    enqueue_n(pg, "t.ok", 600, "{\"work_ms\": 50}");
    pid_t pmqd = pmq_test_pmqd_start(cfg, log);
    pmq_test_await_sql(pg, "SELECT count(*) >= 4 FROM jobs WHERE status = 'completed'", "t", log);

    free(pmq_test_ctl(cfg, NULL, "pause t.ok"));
    char *paused_at = pmq_test_query1(pg, "SELECT clock_timestamp()");
    /* Those running may finish (50 ms); then nothing more may start.  A job started after
     * the pause would show within this window, when its attempt is recorded. */
    sleep_ms(3000);
    long done = query_long(pg, "SELECT count(*) FROM jobs WHERE status = 'completed'");
    ck_assert_msg(done < 600, "all %ld jobs ran although the queue was paused", done);
    ck_assert_int_eq(query_long(pg, "SELECT count(*) FROM job_logs WHERE started_at > '%s'",
                                paused_at),
                     0);

    free(pmq_test_ctl(cfg, NULL, "resume t.ok"));
    pmq_test_await_sql(pg, "SELECT count(*) FROM jobs WHERE status = 'completed'", "600", log);
    ck_assert_int_eq(query_long(pg, "SELECT count(*) FROM job_logs"), 600);
    ck_assert_int_eq(query_long(pg, "SELECT count(*) FROM jobs WHERE attempt_count <> 1"), 0);
    assert_running(pmqd, log);
    pmq_test_pmqd_stop_checked(pmqd, log, 0);
    free(paused_at);
    PQfinish(pg);
    free(cfg);
}
END_TEST

/*--- 9. a handler that hangs; cancelling it ---*/

/*
 * A handler that waits until its job is cancelled: other pools are served
 * while it hangs (it is still running once they are done), then it sees the
 * cancellation and the job ends cancelled, not failed nor dead-lettered.
 */
START_TEST(cancel_reaches_a_running_handler)
{
    const char *log = "cancel";
    char *cfg = pmq_test_behave_setup("cancel", "[pool stuck]\nqueues = t.cancel\nthreads = 1\n\n"
                                                "[pool main]\nqueues = t.ok\nthreads = 2\n\n"
                                                "[queue t.cancel]\ntimeout = 1h\n\n" OK_QUEUE);
    PGconn *pg = pmq_test_pg();
    redisContext *r = pmq_test_redis();
    char *mark = pmq_asprintf("%s/cancel-seen", pmq_test_dir());
    unlink(mark);
    char *payload = pmq_asprintf("{\"mark\": \"%s\"}", mark);
    char *id = enqueue_one(pg, "t.cancel", payload);
    pid_t pmqd = pmq_test_pmqd_start(cfg, log);
    await_running(r, id, log);

    /* Other pools are served while it hangs... */
    enqueue_n(pg, "t.ok", 50, "{}");
    pmq_test_await_sql(pg, "SELECT count(*) FROM jobs WHERE queue_name = 't.ok'"
                           " AND status = 'completed'", "50", log);
    struct stat sb;
    ck_assert_msg(stat(mark, &sb) != 0, "the handler returned before it was cancelled");
    redisReply *rep = redisCommand(r, "HGET %s status", PMQ_TEST_KEY(pmq_key_job, "", id));
    ck_assert_msg(rep && rep->type == REDIS_REPLY_STRING && !strcmp(rep->str, "running"),
                  "job %s no longer runs", id);
    freeReplyObject(rep);

    /* ...then it sees the cancellation and returns. */
    free(pmq_test_ctl(cfg, NULL, "cancel %s", id));
    long deadline = now_ms() + PMQ_TEST_WAIT_MS;
    while (stat(mark, &sb) != 0 && now_ms() < deadline)
        sleep_ms(20);
    ck_assert_msg(stat(mark, &sb) == 0, "the handler never saw the cancellation");
    assert_running(pmqd, log);
    /* Stopping drains: the handler's outcome is recorded (or dropped) by then. */
    pmq_test_pmqd_stop_checked(pmqd, log, PMQ_TEST_NO_RESTART);

    /* The job ends cancelled, not failed nor dead-lettered. */
    char *status = pmq_test_sqlf(pg, "SELECT status FROM jobs WHERE id = '%s'", id);
    ck_assert_str_eq(status, "cancelled");
    free(status);
    ck_assert_int_eq(query_long(pg,
                                "SELECT count(*) FROM job_logs WHERE job_id = '%s'"
                                " AND status = 'failed'",
                                id),
                     0);
    rep = redisCommand(r, "LRANGE %s 0 -1", PMQ_TEST_KEY(pmq_key_deadletter_list, ""));
    ck_assert_ptr_nonnull(rep);
    for (size_t i = 0; rep->type == REDIS_REPLY_ARRAY && i < rep->elements; i++)
        ck_assert_msg(strstr(rep->element[i]->str, id) == NULL, "job %s was dead-lettered", id);
    freeReplyObject(rep);
    free(id);
    free(payload);
    free(mark);
    redisFree(r);
    PQfinish(pg);
    free(cfg);
}
END_TEST

/*--- 10. the master opens no connection ---*/

/* Whether the file `path` holds `needle`. */
static int file_has(const char *path, const char *needle)
{
    char *cmd = pmq_asprintf("cat '%s' 2>/dev/null", path);
    char *text = pmq_test_run(cmd, NULL);
    int has = strstr(text, needle) != NULL;
    free(text);
    free(cmd);
    return has;
}

/*
 * pmq_test_pmqd_start() under `strace -D -e trace=connect` without -f: the
 * trace, in `trace`, is the master's alone (-D keeps pmqd our child, with
 * the pid returned).  LeakSanitizer cannot run under ptrace: off for it.
 */
static pid_t start_traced(const char *config_path, const char *log_name, const char *trace)
{
    const char *builddir = getenv("top_builddir");
    char *exe = pmq_asprintf("%s/core/pmqd", builddir);
    char *log = pmq_asprintf("%s/%s.log", pmq_test_dir(), log_name);
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        const char *asan = getenv("ASAN_OPTIONS");
        char *opts = pmq_asprintf("%s%sdetect_leaks=0", asan ? asan : "", asan ? ":" : "");
        setenv("ASAN_OPTIONS", opts, 1);
        if (freopen(log, "a", stderr) && dup2(STDERR_FILENO, STDOUT_FILENO) >= 0)
            execlp("strace", "strace", "-D", "-s", "4096", "-o", trace, "-e", "trace=connect",
                   "--", exe, "-c", config_path, (char *)NULL);
        fprintf(stderr, "could not run strace: %m\n");
        _exit(127);
    }
    pmq_test_track(pid);
    free(exe);
    free(log);
    return pid;
}

START_TEST(master_opens_no_connection)
{
    const char *log = "noconnect";
    char *trace = pmq_asprintf("%s/noconnect.strace", pmq_test_dir());
    unlink(trace);
    char *cfg = pmq_test_behave_setup("noconnect", "[pmqd]\ngrace_period = 1s\n\n"
                                                   "[pool main]\nqueues = t.ok\nthreads = 2\n\n"
                                                   "[queue t.ok]\ntimeout = 10min\n\n");
    PGconn *pg = pmq_test_pg();
    redisContext *r = pmq_test_redis();
    pid_t pmqd = start_traced(cfg, log, trace);

    /* A worker crash with a job running: its replacement charges it. */
    char *crashed = enqueue_one(pg, "t.ok", "{\"work_ms\": 600000}");
    await_running(r, crashed, log);
    pid_t worker[1];
    ck_assert_int_eq(pmq_test_worker_pids(worker, 1), 1);
    ck_assert_int_eq(kill(worker[0], SIGKILL), 0);
    await_sqlf(pg, log, "1", "SELECT attempt_count FROM jobs WHERE id = '%s'", crashed);

    /* A reload, then a job in the new generation that outlives the grace period. */
    ck_assert_int_eq(kill(pmqd, SIGHUP), 0);
    await_log(log, "reloading", 1);
    char *held = enqueue_one(pg, "t.ok", "{\"work_ms\": 600000}");
    await_running(r, held, log);
    int st = pmq_test_pmqd_stop(pmqd, SIGTERM, PMQ_TEST_WAIT_MS);
    pmq_test_pmqd_log_check(log, 0);
    char *tail = pmq_test_pmqd_log_tail(log);
    ck_assert_msg(st != -1 && WIFEXITED(st) && WEXITSTATUS(st) == 0 &&
                      strstr(tail, "grace period over: killing"),
                  "pmqd did not stop past its grace period (%d):\n%s", st, tail);
    free(tail);
    /* What the killed workers held went back, uncharged (DESIGN.md 4). */
    ck_assert_int_eq(query_long(pg, "SELECT attempt_count FROM jobs WHERE id = '%s'", held), 0);
    ck_assert_int_eq(query_long(pg, "SELECT attempt_count FROM jobs WHERE id = '%s'", crashed),
                     1);

    /* The master's trace, complete once strace saw it exit: no connection to either server. */
    long deadline = now_ms() + PMQ_TEST_WAIT_MS;
    while (!file_has(trace, "+++ exited with 0 +++") && now_ms() < deadline)
        sleep_ms(20);
    char *cmd = pmq_asprintf("cat '%s'", trace);
    char *text = pmq_test_run(cmd, NULL);
    free(cmd);
    ck_assert_msg(strstr(text, "+++ exited with 0 +++"), "incomplete trace:\n%s", text);
    char *pgsock = pmq_asprintf(".s.PGSQL.%s", getenv("PMQ_PG_PORT"));
    char *line = text;
    for (char *end; *line; line = end + (*end != '\0')) {
        end = strchr(line, '\n');
        if (!end)
            end = line + strlen(line);
        int len = (int)(end - line);
        char *one = pmq_asprintf("%.*s", len, line);
        ck_assert_msg(!strstr(one, "connect(") ||
                          !(strstr(one, pgsock) || strstr(one, pmq_test_redis_socket()) ||
                            strstr(one, "sin_port=") || strstr(one, "sin6_port=")),
                      "the master connected to a server:\n%s", one);
        free(one);
    }
    free(pgsock);
    free(text);
    free(crashed);
    free(held);
    free(trace);
    redisFree(r);
    PQfinish(pg);
    free(cfg);
}
END_TEST

/*--- 11. a worker of more than 64 threads killed with every thread busy ---*/

#define WIDE_THREADS 80

/* How many of the jobs of queue `queue` run, as job:<id> in Redis says. */
static int count_running(PGconn *pg, redisContext *r, const char *queue)
{
    char *sql = pmq_asprintf("SELECT id FROM jobs WHERE queue_name = '%s'", queue);
    PGresult *res = PQexec(pg, sql);
    free(sql);
    ck_assert_int_eq(PQresultStatus(res), PGRES_TUPLES_OK);
    int n = 0;
    for (int i = 0; i < PQntuples(res); i++) {
        redisReply *rep = redisCommand(r, "HGET job:%s status", PQgetvalue(res, i, 0));
        ck_assert_ptr_nonnull(rep);
        n += rep->type == REDIS_REPLY_STRING && !strcmp(rep->str, "running");
        freeReplyObject(rep);
    }
    PQclear(res);
    return n;
}

START_TEST(wide_worker_crash_charges_every_job)
{
    const char *log = "wide";
    char *ini = pmq_asprintf("[pool main]\nqueues = t.ok\nthreads = %d\n\n"
                             "[queue t.ok]\ntimeout = 1h\nmax_attempts = 1\n\n",
                             WIDE_THREADS);
    char *cfg = pmq_test_behave_setup("wide", ini);
    free(ini);
    PGconn *pg = pmq_test_pg();
    redisContext *r = pmq_test_redis();
    enqueue_n(pg, "t.ok", WIDE_THREADS, "{\"work_ms\": 600000}");
    pid_t pmqd = pmq_test_pmqd_start(cfg, log);
    long deadline = now_ms() + PMQ_TEST_WAIT_MS;
    while (count_running(pg, r, "t.ok") < WIDE_THREADS) {
        if (now_ms() > deadline) {
            char *tail = pmq_test_pmqd_log_tail(log);
            ck_abort_msg("%d jobs never ran at once\npmqd log:\n%s", WIDE_THREADS, tail);
        }
        sleep_ms(50);
    }
    pid_t worker[1];
    ck_assert_int_eq(pmq_test_worker_pids(worker, 1), 1);
    ck_assert_int_eq(kill(worker[0], SIGKILL), 0);

    /* Every job was running: each is charged its only attempt, none runs again. */
    char *expected = pmq_asprintf("%d", WIDE_THREADS);
    pmq_test_await_sql(pg, "SELECT count(*) FROM jobs WHERE status = 'failed'"
                           " AND attempt_count = 1", expected, log);
    ck_assert_int_eq(query_long(pg, "SELECT count(*) FROM job_logs WHERE attempt_number = 1"
                                    " AND log_message = 'worker died: signal 9 (Killed)'"),
                     WIDE_THREADS);
    ck_assert_int_eq(query_long(pg, "SELECT count(*) FROM job_logs"), WIDE_THREADS);
    assert_running(pmqd, log);
    pmq_test_pmqd_stop_checked(pmqd, log, 0);
    free(expected);
    redisFree(r);
    PQfinish(pg);
    free(cfg);
}
END_TEST

/*--- 12. many reloads ---*/

/* The shared mappings of `pid` (one per child the supervisor keeps). */
static int shared_mappings(pid_t pid)
{
    char *cmd = pmq_asprintf("grep -c '/dev/zero (deleted)' /proc/%d/maps", (int)pid);
    char *out = pmq_test_run(cmd, NULL);
    int n = atoi(out);
    free(out);
    free(cmd);
    return n;
}

START_TEST(many_reloads_keep_the_master_flat)
{
    const char *log = "reloads";
    char *cfg = pmq_test_behave_setup("reloads", RELOAD_BASE);
    pid_t pmqd = pmq_test_pmqd_start(cfg, log);
    wait_workers(1, log);
    for (int i = 1; i <= 30; i++) {
        ck_assert_int_eq(kill(pmqd, SIGHUP), 0);
        await_log(log, "reloading", i);
    }
    /* Once the retired children have ended, the master keeps only the live ones. */
    pid_t kids[64];
    long deadline = now_ms() + PMQ_TEST_WAIT_MS;
    int nkids, nmaps;
    while ((nkids = children_of(pmqd, kids, 64)) != 3 || (nmaps = shared_mappings(pmqd)) != 3) {
        if (now_ms() > deadline) {
            char *tail = pmq_test_pmqd_log_tail(log);
            ck_abort_msg("after 30 reloads the master has %d children and keeps %d shared "
                         "mappings (3 expected)\npmqd log:\n%s",
                         nkids, shared_mappings(pmqd), tail);
        }
        sleep_ms(50);
    }
    /* Still serving with the last configuration. */
    PGconn *pg = pmq_test_pg();
    char *id = enqueue_one(pg, "t.ok", "{}");
    await_sqlf(pg, log, "completed", "SELECT status FROM jobs WHERE id = '%s'", id);
    pmq_test_pmqd_stop_checked(pmqd, log, 0);
    free(id);
    PQfinish(pg);
    free(cfg);
}
END_TEST

/*--- 13. a retired worker that dies with a job running ---*/

START_TEST(retired_worker_crash_is_charged_at_once)
{
    const char *log = "retired";
    char *cfg = pmq_test_behave_setup("retired", "[pool main]\nqueues = t.ok\nthreads = 2\n\n"
                                                 "[queue t.ok]\ntimeout = 1h\nmax_attempts = 1\n\n");
    PGconn *pg = pmq_test_pg();
    redisContext *r = pmq_test_redis();
    char *id = enqueue_one(pg, "t.ok", "{\"work_ms\": 600000}");
    pid_t pmqd = pmq_test_pmqd_start(cfg, log);
    await_running(r, id, log);
    pid_t worker[1];
    ck_assert_int_eq(pmq_test_worker_pids(worker, 1), 1);

    /* Retired by a reload, it drains its job: then it dies. No replacement will release
     * what it held; the master has it done at once, not when its heartbeat expires. */
    ck_assert_int_eq(kill(pmqd, SIGHUP), 0);
    await_log(log, "reloading", 1);
    ck_assert_int_eq(kill(worker[0], SIGKILL), 0);
    await_sqlf(pg, log, "failed 1", "SELECT status || ' ' || attempt_count FROM jobs WHERE id = '%s'",
               id);
    ck_assert_int_eq(query_long(pg,
                                "SELECT count(*) FROM job_logs WHERE job_id = '%s'"
                                " AND log_message = 'worker died: signal 9 (Killed)'",
                                id),
                     1);
    assert_running(pmqd, log);
    pmq_test_pmqd_stop_checked(pmqd, log, 0);
    free(id);
    redisFree(r);
    PQfinish(pg);
    free(cfg);
}
END_TEST

/*--- 14. an http child that never served, and one that did ---*/

START_TEST(http_child_throttled_only_before_it_served)
{
    const char *log = "served";
    /* Someone else holds the port: the http child cannot bind it. */
    int holder = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0); /* not inherited by pmqd */
    ck_assert_int_ge(holder, 0);
    struct sockaddr_in sin = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof sin;
    ck_assert_int_eq(bind(holder, (struct sockaddr *)&sin, sizeof sin), 0);
    ck_assert_int_eq(listen(holder, 1), 0);
    ck_assert_int_eq(getsockname(holder, (struct sockaddr *)&sin, &len), 0);
    char *ini = pmq_asprintf("[http]\nlisten = 127.0.0.1:%d\n\n" RELOAD_BASE, ntohs(sin.sin_port));
    char *cfg = pmq_test_behave_setup("served", ini);
    free(ini);
    pid_t pmqd = pmq_test_pmqd_start(cfg, log);
    await_log(log, "-- throttling for 1000 ms", 1);
    await_log(log, "-- throttling for 2000 ms", 1);
    char *text = pmq_test_pmqd_log(log);
    ck_assert_msg(strstr(text, "http (pid"), "not the http child was throttled:\n%s", text);
    free(text);

    /* Once the port is free it binds; killed at once after, it is restarted at once. */
    close(holder);
    await_log(log, "serving /health and /metrics", 1);
    text = pmq_test_pmqd_log(log);
    const char *at = strstr(text, "serving /health and /metrics");
    while (at > text && at[-1] != '[')
        at--;
    int pid = atoi(at);
    free(text);
    ck_assert_int_gt(pid, 0);
    ck_assert_int_eq(kill(pid, SIGKILL), 0);
    await_log(log, "serving /health and /metrics", 2);
    char *restarted = pmq_asprintf("http (pid %d) ended: http died: signal 9 (Killed); "
                                   "restarting it", pid);
    ck_assert_int_eq(log_count(log, restarted), 1);
    ck_assert_int_eq(log_count(log, "-- throttling"), log_count(log, "could not listen"));
    assert_running(pmqd, log);
    pmq_test_pmqd_stop_checked(pmqd, log, 0);
    free(restarted);
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
    add_case(s, "reload", sighup_applies_a_new_configuration_and_refuses_a_bad_one);
    add_case(s, "exit-config", config_error_child_waits_for_sighup);
    add_case(s, "throttle", child_dying_at_start_is_throttled);
    add_case(s, "grace", sigterm_past_grace_period_requeues_uncharged);
    add_case(s, "old-redis", refuses_a_redis_older_than_6_2);
    add_case(s, "vanish", vanished_host_is_recovered_by_the_other);
    add_case(s, "pause", pause_stops_claimed_jobs_and_resume_runs_them);
    add_case(s, "cancel", cancel_reaches_a_running_handler);
    add_case(s, "no-connect", master_opens_no_connection);
    add_case(s, "wide-crash", wide_worker_crash_charges_every_job);
    add_case(s, "many-reloads", many_reloads_keep_the_master_flat);
    add_case(s, "retired-crash", retired_worker_crash_is_charged_at_once);
    add_case(s, "served", http_child_throttled_only_before_it_served);
    return s;
}

int main(void)
{
    /* The "behave" plugin's init dies of SIGSEGV on demand: under AddressSanitizer the
     * child must still die of it, as it does in production. */
    return pmq_test_main(lifecycle_suite(), "handle_segv=0");
}
