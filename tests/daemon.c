/*
 * daemon.c -- pmqd under test (see daemon.h).
 */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "daemon.h"
#include "harness.h"

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
    return pid;
}

int pmq_test_pmqd_stop(pid_t pid, int sig, int timeout_ms)
{
    kill(pid, sig);
    long deadline = now_ms() + timeout_ms;
    int status;
    while (now_ms() < deadline) {
        pid_t r = waitpid(pid, &status, WNOHANG);
        if (r == pid)
            return status;
        sleep_ms(20);
    }
    kill(pid, SIGKILL);
    waitpid(pid, &status, 0);
    return -1;
}

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

int pmq_test_worker_pids(pid_t *out, int max)
{
    redisContext *r = pmq_test_redis();
    redisReply *rep = redisCommand(r, "SMEMBERS pmq:workers");
    int n = 0;
    for (size_t i = 0; rep && rep->type == REDIS_REPLY_ARRAY && i < rep->elements && n < max; i++) {
        /* Worker ids are "<host>:<pid>:<pool>". */
        const char *p = strchr(rep->element[i]->str, ':');
        redisReply *alive = redisCommand(r, "EXISTS pmq:worker:%s", rep->element[i]->str);
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

char *pmq_test_pmqd_log(const char *log_name)
{
    char cmd[4096];
    snprintf(cmd, sizeof cmd, "cat '%s/%s.log'", pmq_test_dir(), log_name);
    return pmq_test_run(cmd, NULL);
}
