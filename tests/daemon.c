/*
 * daemon.c -- pmqd and pmqctl under test (see daemon.h): a suite's main(),
 * starting and stopping pmqd, pmqctl runs, waits, leftovers.
 */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "daemon.h"
#include "harness.h"
#include "util.h"

#define TRACKED_MAX 8 /* processes a test runs at once, two pmqd and a Redis at most */
#define LOG_TAIL 3000 /* bytes of a log in a failure message (Check caps them at 8 KiB) */

static void sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

static long now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1000L + ts.tv_nsec / 1000000L;
}

/*--- processes a failed test leaves running ---*/

/*
 * A process by its pid and start time (clock ticks after boot): a pid that
 * the system gave to another process since (one of another test program,
 * under make -j check) does not match.
 */
typedef struct tracked_proc {
    pid_t pid;
    unsigned long long start;
} tracked_proc;

/* Shared with the test processes Check forks; NULL outside pmq_test_main(). */
static volatile tracked_proc *tracked;

/* Read /proc/<pid>/<what> into buf (NUL-terminated); returns the length or -1. */
static ssize_t read_proc(pid_t pid, const char *what, char *buf, size_t size)
{
    char path[64];
    snprintf(path, sizeof path, "/proc/%d/%s", (int)pid, what);
    FILE *f = fopen(path, "r");
    if (!f)
        return -1;
    size_t n = fread(buf, 1, size - 1, f);
    fclose(f);
    buf[n] = '\0';
    return (ssize_t)n;
}

/* The start time of a running process; 0 for one gone or a zombie. */
static unsigned long long start_time(pid_t pid)
{
    char buf[1024];
    if (read_proc(pid, "stat", buf, sizeof buf) < 0)
        return 0;
    const char *p = strrchr(buf, ')');
    if (!p || p[1] != ' ' || p[2] == 'Z')
        return 0;
    /* "pid (comm) state ...": state is field 3, starttime field 22. */
    p += 2;
    for (int field = 3; field < 22; field++) {
        p = strchr(p, ' ');
        if (!p)
            return 0;
        p++;
    }
    return strtoull(p, NULL, 10);
}

static int is_running(const volatile tracked_proc *t)
{
    return t->pid > 0 && t->start != 0 && start_time(t->pid) == t->start;
}

void pmq_test_track(pid_t pid)
{
    if (!tracked)
        return;
    for (int i = 0; i < TRACKED_MAX; i++) {
        if (!is_running(&tracked[i])) {
            tracked[i].pid = pid;
            tracked[i].start = start_time(pid);
            return;
        }
    }
    ck_abort_msg("more than %d processes to stop after a failed test", TRACKED_MAX);
}

void pmq_test_untrack(pid_t pid)
{
    for (int i = 0; tracked && i < TRACKED_MAX; i++)
        if (tracked[i].pid == pid)
            tracked[i].pid = 0;
}

/* Runs in main() too, outside any test: no Check call here. */
void pmq_test_stop_leftovers(void)
{
    for (int i = 0; tracked && i < TRACKED_MAX; i++) {
        if (!is_running(&tracked[i])) {
            tracked[i].pid = 0;
            continue;
        }
        pid_t pid = tracked[i].pid;
        char name[64] = "";
        read_proc(pid, "comm", name, sizeof name);
        name[strcspn(name, "\n")] = '\0';
        fprintf(stderr, "%s: stopping %s %d, left running by a failed test\n",
                program_invocation_short_name, name, (int)pid);
        kill(pid, SIGCONT); /* a Redis a test hung with SIGSTOP */
        kill(pid, SIGTERM);
        for (int n = 0; n < 1500 && is_running(&tracked[i]); n++)
            sleep_ms(20);
        if (is_running(&tracked[i]))
            kill(pid, SIGKILL);
        tracked[i].pid = 0;
        waitpid(pid, NULL, WNOHANG); /* our own child under CK_FORK=no */
        sleep_ms(200);               /* pmqd's children follow it (PDEATHSIG) */
    }
}

/*--- a suite's main() ---*/

int pmq_test_main(Suite *s, const char *asan_options)
{
    if (asan_options) {
        const char *asan = getenv("ASAN_OPTIONS");
        char *opts = pmq_asprintf("%s%s%s", asan && *asan ? asan : "", asan && *asan ? ":" : "",
                                  asan_options);
        setenv("ASAN_OPTIONS", opts, 1);
        free(opts);
    }
    tracked = mmap(NULL, TRACKED_MAX * sizeof *tracked, PROT_READ | PROT_WRITE,
                   MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (tracked == MAP_FAILED) {
        fprintf(stderr, "%s: mmap: %s\n", program_invocation_short_name, strerror(errno));
        return 99;
    }
    pmq_test_servers_start();
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    pmq_test_stop_leftovers();
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}

TCase *pmq_test_case(Suite *s, const char *name, int timeout_s)
{
    TCase *tc = tcase_create(name);
    tcase_set_timeout(tc, timeout_s);
    tcase_add_unchecked_fixture(tc, pmq_test_migrate, NULL);
    tcase_add_checked_fixture(tc, pmq_test_stop_leftovers, NULL);
    suite_add_tcase(s, tc);
    return tc;
}

/*--- pmqd ---*/

pid_t pmq_test_pmqd_start(const char *config_path, const char *log_name)
{
    const char *builddir = getenv("top_builddir");
    ck_assert_msg(builddir != NULL, "top_builddir is not set (run through make check)");
    char exe[4096], log[4096];
    snprintf(exe, sizeof exe, "%s/core/pmqd", builddir);
    snprintf(log, sizeof log, "%s/%s.log", pmq_test_dir(), log_name);
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        int fd = open(log, O_WRONLY | O_CREAT | O_APPEND, 0644);
        if (fd >= 0) {
            dup2(fd, STDERR_FILENO);
            dup2(fd, STDOUT_FILENO);
            close(fd);
        }
        execl(exe, "pmqd", "-c", config_path, (char *)NULL);
        fprintf(stderr, "could not run %s: %s\n", exe, strerror(errno));
        _exit(127);
    }
    pmq_test_track(pid);
    return pid;
}

int pmq_test_pmqd_stop(pid_t pid, int sig, int timeout_ms)
{
    kill(pid, sig);
    long deadline = now_ms() + timeout_ms;
    int status;
    while (now_ms() < deadline) {
        pid_t r = waitpid(pid, &status, WNOHANG);
        if (r == pid) {
            pmq_test_untrack(pid);
            return status;
        }
        sleep_ms(20);
    }
    kill(pid, SIGKILL);
    waitpid(pid, &status, 0);
    pmq_test_untrack(pid);
    return -1;
}

void pmq_test_pmqd_stop_checked(pid_t pid, const char *log_name, int flags)
{
    int st = pmq_test_pmqd_stop(pid, SIGTERM, PMQ_TEST_WAIT_MS);
    pmq_test_pmqd_log_check(log_name, flags);
    int exited_0 = st != -1 && WIFEXITED(st) && WEXITSTATUS(st) == 0;
    if (st == -1 || (!exited_0 && !(flags & PMQ_TEST_ANY_STATUS))) {
        char *tail = pmq_test_pmqd_log_tail(log_name);
        ck_abort_msg("pmqd did not exit %son SIGTERM (%s %d); its log:\n%s",
                     flags & PMQ_TEST_ANY_STATUS ? "" : "with status 0 ",
                     st == -1          ? "still running after the timeout, wait status"
                     : WIFSIGNALED(st) ? "killed by signal"
                                       : "exit status",
                     st == -1          ? -1
                     : WIFSIGNALED(st) ? WTERMSIG(st)
                                       : WEXITSTATUS(st),
                     tail);
    }
}

void pmq_test_pmqd_log_check(const char *log_name, int flags)
{
    static const char *const marks[] = {"Sanitizer", "runtime error", "restarting it",
                                        "throttling"};
    char *log = pmq_test_pmqd_log(log_name);
    if (getenv("PMQ_TEST_VERBOSE"))
        fprintf(stderr, "%s: %s.log:\n%s", program_invocation_short_name, log_name, log);
    size_t nmarks = flags & PMQ_TEST_NO_RESTART ? 4 : 2;
    for (size_t i = 0; i < nmarks; i++) {
        const char *at = strstr(log, marks[i]);
        ck_assert_msg(at == NULL, "pmqd's log says \"%s\":\n%.*s", marks[i], LOG_TAIL,
                      at ? (at - log > 500 ? at - 500 : log) : "");
    }
    free(log);
}

char *pmq_test_pmqd_log(const char *log_name)
{
    char cmd[4096];
    snprintf(cmd, sizeof cmd, "cat '%s/%s.log'", pmq_test_dir(), log_name);
    return pmq_test_run(cmd, NULL);
}

char *pmq_test_pmqd_log_tail(const char *log_name)
{
    char *log = pmq_test_pmqd_log(log_name);
    const char *keep = getenv("PMQ_TEST_KEEP_LOG");
    if (keep && *keep) {
        FILE *f = fopen(keep, "w");
        if (f) {
            fputs(log, f);
            fclose(f);
        }
    }
    size_t len = strlen(log);
    if (len <= LOG_TAIL)
        return log;
    char *tail = pmq_asprintf("[... %zu bytes before]\n%s", len - LOG_TAIL, log + len - LOG_TAIL);
    free(log);
    return tail;
}

int pmq_test_worker_pids(pid_t *out, int max)
{
    redisContext *r = pmq_test_redis();
    redisReply *rep = redisCommand(r, "SMEMBERS %s", PMQ_TEST_KEY(pmq_key_workers, ""));
    int n = 0;
    for (size_t i = 0; rep && rep->type == REDIS_REPLY_ARRAY && i < rep->elements && n < max; i++) {
        /* Worker ids are "<host>:<pid>:<pool>". */
        const char *p = strchr(rep->element[i]->str, ':');
        redisReply *alive = redisCommand(r, "EXISTS %s", PMQ_TEST_KEY(pmq_key_heartbeat, "", rep->element[i]->str));
        if (p && alive && alive->integer == 1)
            out[n++] = (pid_t)atoi(p + 1);
        if (alive)
            freeReplyObject(alive);
    }
    if (rep)
        freeReplyObject(rep);
    redisFree(r);
    return n;
}

char *pmq_test_behave_config(const char *name, const char *extra_ini)
{
    const char *builddir = getenv("top_builddir");
    ck_assert_msg(builddir != NULL, "top_builddir is not set (run through make check)");
    char *ini = NULL;
    ck_assert_int_ge(asprintf(&ini,
                              "[pmqd]\nlog_level = info\n\n"
                              "[plugin behave]\npath = %s/tests/plugins/.libs/behave.so\n\n%s",
                              builddir, extra_ini ? extra_ini : ""),
                     0);
    char *path = pmq_test_write_config(name, ini);
    free(ini);
    return path;
}

char *pmq_test_behave_setup(const char *name, const char *extra_ini)
{
    pmq_test_reset();
    char *config = pmq_test_behave_config(name, extra_ini);
    free(pmq_test_ctl(config, NULL, "migrate"));
    return config;
}

/*--- pmqctl ---*/

char *pmq_test_ctl(const char *config, int *status, const char *fmt, ...)
{
    const char *builddir = getenv("top_builddir");
    ck_assert_msg(builddir != NULL, "top_builddir is not set (run through make check)");
    va_list ap;
    va_start(ap, fmt);
    char *args = pmq_vasprintf(fmt, ap);
    va_end(ap);
    char *cmd = pmq_asprintf("'%s/core/pmqctl' -c '%s' %s", builddir, config, args);
    int st;
    char *out = pmq_test_run(cmd, &st);
    if (status)
        *status = st;
    else
        ck_assert_msg(st == 0, "pmqctl %s exited with %d:\n%s", args, st, out);
    free(cmd);
    free(args);
    return out;
}

/*--- waiting for PostgreSQL ---*/

int pmq_test_wait_sql(PGconn *pg, const char *sql, const char *expected, int timeout_ms)
{
    long deadline = now_ms() + timeout_ms;
    for (;;) {
        char *v = pmq_test_query1(pg, sql);
        int ok = v && !strcmp(v, expected);
        free(v);
        if (ok)
            return 1;
        if (now_ms() >= deadline)
            return 0;
        sleep_ms(20);
    }
}

void pmq_test_await_sql(PGconn *pg, const char *sql, const char *expected, const char *log_name)
{
    if (pmq_test_wait_sql(pg, sql, expected, PMQ_TEST_WAIT_MS))
        return;
    char *last = pmq_test_query1(pg, sql);
    char *log = log_name ? pmq_test_pmqd_log_tail(log_name) : pmq_xstrdup("(not asked for)");
    ck_abort_msg("waited %d ms for\n  %s\nto return \"%s\"; it returns \"%s\".\npmqd log:\n%s",
                 PMQ_TEST_WAIT_MS, sql, expected, last ? last : "(null)", log);
}
