/*
 * harness.c -- private PostgreSQL and Redis for one test program, started
 * through scripts/pmq-servers and stopped only by the process that started
 * them (Check forks one child per test, and children exit too).
 */

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include <check.h>
#include <hiredis/hiredis.h>
#include <libpq-fe.h>

#include "errors.h"
#include "harness.h"
#include "migrate.h"
#include "util.h"

static char test_dir[PATH_MAX];
static pid_t owner_pid; /* 0 until the servers run */
/* argv for the cleanup, built in advance: the signal handler may not allocate. */
static char arg_stop[] = "stop", arg_rm[] = "rm", arg_rf[] = "-rf";
static char *stop_argv[4];
static char *rm_argv[4];

/*--- cleanup ---*/

/* fork + exec + wait: async-signal-safe, for use in the signal handler. */
static void run_quietly(char *const argv[])
{
    pid_t pid = fork();
    if (pid == 0) {
        int fd = open("/dev/null", O_WRONLY);
        if (fd >= 0) {
            dup2(fd, 1);
            dup2(fd, 2);
        }
        execvp(argv[0], argv);
        _exit(127);
    }
    if (pid > 0)
        while (waitpid(pid, NULL, 0) < 0 && errno == EINTR) {
        }
}

static void stop_servers(void)
{
    if (owner_pid == 0 || getpid() != owner_pid)
        return;
    owner_pid = 0;
    run_quietly(stop_argv);
    run_quietly(rm_argv);
}

static void on_signal(int sig)
{
    stop_servers();
    signal(sig, SIG_DFL);
    raise(sig);
}

/*--- starting ---*/

static char *sh_quote(const char *s)
{
    size_t n = 3;
    for (const char *p = s; *p; p++)
        n += *p == '\'' ? 4 : 1;
    char *out = pmq_xmalloc(n), *o = out;
    *o++ = '\'';
    for (const char *p = s; *p; p++) {
        if (*p == '\'') {
            memcpy(o, "'\\''", 4);
            o += 4;
        } else {
            *o++ = *p;
        }
    }
    *o++ = '\'';
    *o = '\0';
    return out;
}

static const char *servers_script(void)
{
    const char *s = getenv("PMQ_SERVERS");
    if (s && *s)
        return s;
    static char path[PATH_MAX];
    const char *top = getenv("top_srcdir");
    snprintf(path, sizeof path, "%s/scripts/pmq-servers", top && *top ? top : ".");
    return path;
}

/* Apply one "KEY=VALUE" or "KEY='VALUE'" line of pmq-servers' output. */
static void apply_assignment(char *line)
{
    line[strcspn(line, "\r\n")] = '\0';
    char *eq = strchr(line, '=');
    if (!eq || strncmp(line, "PMQ_", 4) != 0)
        return;
    *eq = '\0';
    char *value = eq + 1;
    size_t len = strlen(value);
    if (len >= 2 && value[0] == '\'' && value[len - 1] == '\'') {
        value[len - 1] = '\0';
        value++;
    }
    setenv(line, value, 1);
}

void pmq_test_servers_start(void)
{
    if (owner_pid != 0)
        return;
    snprintf(test_dir, sizeof test_dir, "/tmp/pmq-test-XXXXXX");
    if (!mkdtemp(test_dir)) {
        perror("pmq test harness: mkdtemp");
        exit(99);
    }
    const char *script = servers_script();
    char *qscript = sh_quote(script), *qdir = sh_quote(test_dir);
    char *cmd = pmq_asprintf("%s start %s --watch %ld 2>&1", qscript, qdir, (long)getpid());
    free(qscript);
    free(qdir);

    int64_t t0 = pmq_now_ms();
    FILE *out = popen(cmd, "r");
    if (!out) {
        perror("pmq test harness: popen");
        exit(99);
    }
    /* From here on the servers may exist: make sure they go away. */
    owner_pid = getpid();
    stop_argv[0] = pmq_xstrdup(script);
    stop_argv[1] = arg_stop;
    stop_argv[2] = test_dir;
    stop_argv[3] = NULL;
    rm_argv[0] = arg_rm;
    rm_argv[1] = arg_rf;
    rm_argv[2] = test_dir;
    rm_argv[3] = NULL;
    atexit(stop_servers);
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);

    char line[4096], *log = pmq_xstrdup("");
    while (fgets(line, sizeof line, out)) {
        char *next = pmq_asprintf("%s%s", log, line);
        free(log);
        log = next;
        apply_assignment(line);
    }
    int st = pclose(out);
    if (st != 0 || !getenv("PMQ_PG_CONNINFO") || !getenv("PMQ_REDIS_SOCKET")) {
        fprintf(stderr, "pmq test harness: \"%s\" failed:\n%s", cmd, log);
        exit(99);
    }
    if (getenv("PMQ_TEST_VERBOSE"))
        fprintf(stderr, "pmq test harness: servers up in %s after %lld ms\n", test_dir,
                (long long)(pmq_now_ms() - t0));
    free(log);
    free(cmd);
}

/*--- accessors ---*/

static const char *required_env(const char *name)
{
    const char *v = getenv(name);
    ck_assert_msg(v && *v, "%s is not set: call pmq_test_servers_start() in main()", name);
    return v;
}

const char *pmq_test_conninfo(void)
{
    return required_env("PMQ_PG_CONNINFO");
}

const char *pmq_test_redis_socket(void)
{
    return required_env("PMQ_REDIS_SOCKET");
}

const char *pmq_test_dir(void)
{
    ck_assert_msg(test_dir[0], "call pmq_test_servers_start() in main()");
    return test_dir;
}

PGconn *pmq_test_pg(void)
{
    PGconn *conn = PQconnectdb(pmq_test_conninfo());
    ck_assert_msg(PQstatus(conn) == CONNECTION_OK, "cannot connect to the test PostgreSQL: %s",
                  PQerrorMessage(conn));
    return conn;
}

redisContext *pmq_test_redis(void)
{
    redisContext *c = redisConnectUnix(pmq_test_redis_socket());
    ck_assert_msg(c && !c->err, "cannot connect to the test Redis: %s",
                  c ? c->errstr : "out of memory");
    return c;
}

void pmq_test_exec(PGconn *conn, const char *sql)
{
    PGresult *res = PQexec(conn, sql);
    ExecStatusType st = PQresultStatus(res);
    ck_assert_msg(st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK, "%s\nfailed: %s", sql,
                  PQresultErrorMessage(res));
    PQclear(res);
}

char *pmq_test_query1(PGconn *conn, const char *sql)
{
    PGresult *res = PQexec(conn, sql);
    ck_assert_msg(PQresultStatus(res) == PGRES_TUPLES_OK, "%s\nfailed: %s", sql,
                  PQresultErrorMessage(res));
    char *v = NULL;
    if (PQntuples(res) > 0 && PQnfields(res) > 0 && !PQgetisnull(res, 0, 0))
        v = pmq_xstrdup(PQgetvalue(res, 0, 0));
    PQclear(res);
    return v;
}

char *pmq_test_rows(PGconn *conn, const char *sql)
{
    PGresult *res = PQexec(conn, sql);
    ck_assert_msg(PQresultStatus(res) == PGRES_TUPLES_OK, "%s\nfailed: %s", sql,
                  PQresultErrorMessage(res));
    char *rows = pmq_xstrdup("");
    for (int i = 0; i < PQntuples(res); i++) {
        char *next = pmq_asprintf("%s%s\n", rows, PQgetvalue(res, i, 0));
        free(rows);
        rows = next;
    }
    PQclear(res);
    return rows;
}

char *pmq_test_sqlf(PGconn *conn, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char *sql = pmq_vasprintf(fmt, ap);
    va_end(ap);
    char *v = pmq_test_query1(conn, sql);
    free(sql);
    return v;
}

void pmq_test_execf(PGconn *conn, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char *sql = pmq_vasprintf(fmt, ap);
    va_end(ap);
    pmq_test_exec(conn, sql);
    free(sql);
}

void pmq_test_assert_sql(PGconn *conn, const char *want, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char *sql = pmq_vasprintf(fmt, ap);
    va_end(ap);
    char *v = pmq_test_query1(conn, sql);
    ck_assert_msg(v && !strcmp(v, want), "%s\nreturned \"%s\",\nexpected \"%s\"", sql,
                  v ? v : "(null)", want);
    free(v);
    free(sql);
}

/*--- fixtures ---*/

char *pmq_test_write_config(const char *name, const char *extra_ini)
{
    char *path = pmq_asprintf("%s/%s.ini", pmq_test_dir(), name);
    FILE *f = fopen(path, "w");
    ck_assert_msg(f != NULL, "cannot write %s: %s", path, strerror(errno));
    fprintf(f,
            "[database]\n"
            "host = %s\n"
            "port = %s\n"
            "dbname = pmq\n"
            "user = postgres\n"
            "\n"
            "[redis]\n"
            "socket = %s\n"
            "\n",
            required_env("PMQ_PG_SOCKET_DIR"), required_env("PMQ_PG_PORT"),
            pmq_test_redis_socket());
    if (extra_ini)
        fputs(extra_ini, f);
    ck_assert_msg(fclose(f) == 0, "cannot write %s: %s", path, strerror(errno));
    return path;
}

void pmq_test_migrate(void)
{
    PGconn *conn = pmq_test_pg();
    pmq_errors errs = PMQ_ERRORS_INIT;
    int n = pmq_migrate(conn, NULL, NULL, &errs);
    if (n < 0)
        pmq_errors_print(&errs, stderr, "pmq_test_migrate");
    ck_assert_msg(n >= 0, "pmq_migrate failed: %s", errs.count ? errs.items[0].message : "?");
    pmq_errors_clear(&errs);
    PQfinish(conn);
}

void pmq_test_reset(void)
{
    PGconn *conn = pmq_test_pg();
    /* CASCADE: plugin tables that reference jobs go too. */
    pmq_test_exec(conn, "SET client_min_messages = warning;"
                        " TRUNCATE job_logs, jobs, job_queues, analytics_jobs CASCADE");
    PQfinish(conn);
    redisContext *r = pmq_test_redis();
    redisReply *reply = redisCommand(r, "FLUSHALL");
    ck_assert_msg(reply && reply->type == REDIS_REPLY_STATUS, "FLUSHALL failed: %s",
                  reply && reply->str ? reply->str : r->errstr);
    freeReplyObject(reply);
    redisFree(r);
}

/*--- programs ---*/

char *pmq_test_run(const char *cmdline, int *status)
{
    char *cmd = pmq_asprintf("exec 2>&1; %s", cmdline);
    fflush(NULL);
    FILE *p = popen(cmd, "r");
    ck_assert_msg(p != NULL, "popen(%s): %s", cmdline, strerror(errno));
    size_t len = 0, cap = 4096;
    char *out = pmq_xmalloc(cap);
    size_t n;
    while ((n = fread(out + len, 1, cap - len - 1, p)) > 0) {
        len += n;
        if (cap - len < 1024) {
            cap *= 2;
            out = pmq_xrealloc(out, cap);
        }
    }
    out[len] = '\0';
    int st = pclose(p);
    if (status)
        *status = WIFEXITED(st) ? WEXITSTATUS(st) : WIFSIGNALED(st) ? 128 + WTERMSIG(st) : st;
    free(cmd);
    return out;
}
