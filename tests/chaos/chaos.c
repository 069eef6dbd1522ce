/*
 * chaos.c -- the chaos driver (tests/chaos/chaos.sh runs it): pushes jobs
 * through the real pmqd while it injects faults at random times, then
 * holds PostgreSQL's record against the executions that the out-of-tree
 * "chaos" plugin (tests/chaos/record.c) wrote to a file of its own.
 *
 *   --mode check  2,000 jobs, three faults that pmq survives (make check)
 *   --mode full   20,000 jobs, every fault kind several times (make chaos)
 *   --mode soak   1,000,000 jobs, no fault: Redis used_memory and every pmqd
 *                 process's RSS before and after must come back
 *
 * Exit status: 0 when nothing was lost, nothing completed without running,
 * pmqd lived and logged no sanitizer report (and, in soak mode, memory came
 * back); 1 otherwise; 99 when the run itself could not be set up.
 * What each figure means: doc/operations.md, "The chaos suite".
 */
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <hiredis/hiredis.h>
#include <libpq-fe.h>

#include "../harness.h"
#include "util.h"

#define HARD_ERROR 99            /* automake's "the test could not run" */
#define REDIS_TIMEOUT_MS 1000    /* [redis] timeout given to pmqd */
#define STALL_MS (REDIS_TIMEOUT_MS + 1500) /* SIGSTOP Redis this long: past the timeout */
#define START_WAIT_MS 60000      /* for pmqd's children, a restarted server */
#define STOP_WAIT_MS 60000       /* for pmqd to exit on SIGTERM */
#define TICK_MS 100              /* the producer's pace */
#define LOST_SHOWN 10            /* lost jobs described one by one */
#define LOG_KINDS_SHOWN 20       /* distinct warning/error messages shown */
/*
 * A job that finished this long after it was due was stranded, then freed
 * by a later fault (a flush makes the reconciler requeue everything);
 * pmq's own recovery takes a heartbeat TTL (15 s) or two reconciler passes
 * (10 s each).
 */
#define LATE_S 60

/* Pools: the worker processes the driver expects to see. */
#define WORKER_PROCESSES 3
static const char pools_ini[] = "[pool a]\nqueues = chaos.a\nprocesses = 2\nthreads = 4\n\n"
                                "[pool b]\nqueues = chaos.b\nprocesses = 1\nthreads = 2\n\n";
/* Enough attempts that faults charging a job now and then never dead-letter it. */
static const char queues_ini[] =
    "[queue chaos.a]\nmax_attempts = 25\nbackoff_base = 100ms\nbackoff_max = 2s\n\n"
    "[queue chaos.b]\nmax_attempts = 25\nbackoff_base = 100ms\nbackoff_max = 2s\n\n";

/*--- faults ---*/

typedef enum {
    F_KILL_WORKER,
    F_KILL_MIGRATOR,
    F_KILL_MAINTENANCE,
    F_FLUSHALL,
    F_RESTART_REDIS,
    F_STALL_REDIS,
    F_RESTART_POSTGRES,
    F_KINDS
} fault_kind;

static const char *const fault_names[F_KINDS] = {
    "kill-worker",   "kill-migrator", "kill-maintenance", "flushall",
    "restart-redis", "stall-redis",   "restart-postgres"};

/*--- the run's settings ---*/

typedef struct settings {
    const char *mode;
    long jobs;
    int production_s;     /* jobs are enqueued over this long */
    int max_delay_ms;     /* delayed jobs wait up to this */
    int slow_work_ms;     /* the slowest handlers take up to this */
    int fault_rounds;     /* each enabled kind this many times (full mode) */
    int drain_s;          /* bound on the wait for the queue to drain */
    int enabled[F_KINDS]; /* fault kinds to inject */
    unsigned long seed;
    const char *plugin;   /* chaos.so */
    const char *pmqd;     /* the installed pmqd and pmqctl */
    const char *pmqctl;
    const char *keep;     /* copy logs and the execution record here */
    const char *finished_ttl; /* soak: [redis] finished_ttl, when asked for */
} settings;

static settings S;

/*--- small things ---*/

static void sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) < 0 && errno == EINTR) {
    }
}

static int64_t t0_ms;     /* the run's start, monotonic */
static double t0_epoch_s; /* the same instant, wall clock */

static double elapsed_s(void)
{
    return (double)(pmq_now_ms() - t0_ms) / 1000.0;
}

static void say(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static void say(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    printf("chaos: %6.1f s  ", elapsed_s());
    vprintf(fmt, ap);
    putchar('\n');
    fflush(stdout);
    va_end(ap);
}

static void hard_error(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));

static void hard_error(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "chaos: ");
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    exit(HARD_ERROR);
}

/* xorshift64*: a reproducible schedule from --seed. */
static unsigned long long rng_state;

static unsigned long long rng(void)
{
    rng_state ^= rng_state >> 12;
    rng_state ^= rng_state << 25;
    rng_state ^= rng_state >> 27;
    return rng_state * 2685821657736338717ULL;
}

/* Uniform in [lo, hi]. */
static long rnd(long lo, long hi)
{
    return lo + (long)(rng() % (unsigned long long)(hi - lo + 1));
}

static char *read_file(const char *path, size_t *len_out)
{
    FILE *f = fopen(path, "r");
    if (!f)
        return NULL;
    size_t len = 0, cap = 65536;
    char *buf = pmq_xmalloc(cap);
    size_t n;
    while ((n = fread(buf + len, 1, cap - len - 1, f)) > 0) {
        len += n;
        if (cap - len < 4096)
            buf = pmq_xrealloc(buf, cap *= 2);
    }
    fclose(f);
    buf[len] = '\0';
    if (len_out)
        *len_out = len;
    return buf;
}

static int run_shell(const char *cmd)
{
    fflush(NULL);
    int st = system(cmd);
    return WIFEXITED(st) ? WEXITSTATUS(st) : 128;
}

/*--- /proc ---*/

/* State letter and parent of a process; 0 when it is gone. */
static char proc_state(pid_t pid, pid_t *ppid)
{
    char path[64], buf[512];
    snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
    FILE *f = fopen(path, "r");
    if (!f)
        return 0;
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = '\0';
    const char *p = strrchr(buf, ')');
    char state;
    int pp;
    if (!p || sscanf(p + 1, " %c %d", &state, &pp) != 2)
        return 0;
    if (ppid)
        *ppid = pp;
    return state;
}

static int alive(pid_t pid)
{
    char st = proc_state(pid, NULL);
    return st != 0 && st != 'Z' && st != 'X';
}

/* A "Key:" field of /proc/<pid>/status in its unit (kB for VmRSS); -1 when unknown. */
static long proc_status(pid_t pid, const char *key)
{
    char path[64], line[256];
    snprintf(path, sizeof path, "/proc/%d/status", (int)pid);
    FILE *f = fopen(path, "r");
    if (!f)
        return -1;
    long v = -1;
    size_t klen = strlen(key);
    while (fgets(line, sizeof line, f))
        if (!strncmp(line, key, klen) && line[klen] == ':') {
            v = strtol(line + klen + 1, NULL, 10);
            break;
        }
    fclose(f);
    return v;
}

/* Live children of `parent`, in pid order; returns how many. */
static int children_of(pid_t parent, pid_t *out, int max)
{
    DIR *d = opendir("/proc");
    if (!d)
        return 0;
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)) && n < max) {
        if (!isdigit((unsigned char)e->d_name[0]))
            continue;
        pid_t pid = (pid_t)atoi(e->d_name), pp = 0;
        char st = proc_state(pid, &pp);
        if (pp == parent && st && st != 'Z' && st != 'X')
            out[n++] = pid;
    }
    closedir(d);
    for (int i = 1; i < n; i++) /* insertion sort: a handful */
        for (int j = i; j > 0 && out[j - 1] > out[j]; j--) {
            pid_t t = out[j];
            out[j] = out[j - 1];
            out[j - 1] = t;
        }
    return n;
}

/*--- PostgreSQL and Redis, from the driver's side ---*/

static PGconn *pg;
static redisContext *redis;

/* A working connection, reconnecting for up to START_WAIT_MS (a restart). */
static PGconn *db(void)
{
    int64_t deadline = pmq_now_ms() + START_WAIT_MS;
    while (!pg || PQstatus(pg) != CONNECTION_OK) {
        if (pg)
            PQreset(pg);
        else
            pg = PQconnectdb(getenv("PMQ_PG_CONNINFO"));
        if (PQstatus(pg) == CONNECTION_OK)
            break;
        if (pmq_now_ms() > deadline)
            hard_error("cannot reach PostgreSQL: %s", PQerrorMessage(pg));
        sleep_ms(100);
    }
    return pg;
}

/* Run a query; on a broken connection reconnect and try once more.  NULL on failure. */
static PGresult *sqlp(const char *sql, int nparams, const char *const *params)
{
    for (int attempt = 0; attempt < 2; attempt++) {
        /* PQexec for several statements at once; they take no parameters. */
        PGresult *res = nparams ? PQexecParams(db(), sql, nparams, NULL, params, NULL, NULL, 0)
                                : PQexec(db(), sql);
        ExecStatusType st = PQresultStatus(res);
        if (st == PGRES_TUPLES_OK || st == PGRES_COMMAND_OK)
            return res;
        if (PQstatus(pg) == CONNECTION_OK || attempt == 1) {
            fprintf(stderr, "chaos: %s\nfailed: %s", sql, PQresultErrorMessage(res));
            PQclear(res);
            return NULL;
        }
        PQclear(res);
    }
    return NULL;
}

/* The first value of a query as a number; -1 on failure. */
static long long sql_num(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static long long sql_num(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char *sql = pmq_vasprintf(fmt, ap);
    va_end(ap);
    PGresult *res = sqlp(sql, 0, NULL);
    free(sql);
    long long v = -1;
    if (res && PQntuples(res) > 0 && !PQgetisnull(res, 0, 0))
        v = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
    PQclear(res);
    return v;
}

/*
 * Set by pmq_test_servers_start() (its other accessors assert with Check,
 * which works only inside a Check test).
 */
static const char *servers_dir(void)
{
    return getenv("PMQ_PG_SOCKET_DIR");
}

static const char *redis_socket(void)
{
    return getenv("PMQ_REDIS_SOCKET");
}

/* A reply from the driver's Redis connection, reconnecting once; NULL on failure. */
static redisReply *rcmd(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static redisReply *rcmd(const char *fmt, ...)
{
    for (int attempt = 0; attempt < 2; attempt++) {
        if (!redis || redis->err) {
            if (redis)
                redisFree(redis);
            struct timeval tv = {5, 0};
            redis = redisConnectUnixWithTimeout(redis_socket(), tv);
            if (!redis || redis->err)
                continue;
            redisSetTimeout(redis, tv);
        }
        va_list ap;
        va_start(ap, fmt);
        redisReply *rep = redisvCommand(redis, fmt, ap);
        va_end(ap);
        if (rep)
            return rep;
    }
    return NULL;
}

/* A field of INFO's reply, as a number; -1 when unknown. */
static long long redis_info(const char *section, const char *field)
{
    redisReply *rep = rcmd("INFO %s", section);
    long long v = -1;
    if (rep && rep->type == REDIS_REPLY_STRING) {
        char key[64];
        snprintf(key, sizeof key, "\n%s:", field);
        const char *at = strstr(rep->str, key);
        if (at)
            v = strtoll(at + strlen(key), NULL, 10);
    }
    freeReplyObject(rep);
    return v;
}

/*--- the servers' own processes ---*/

static const char *pg_bindir(void)
{
    static char dir[512];
    const char *e = getenv("PG_BINDIR");
    if (e && *e)
        return e;
    if (!dir[0]) {
        FILE *p = popen("ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -t/ -k5 -n -r"
                        " | head -n 1", "r");
        if (p) {
            if (fgets(dir, sizeof dir, p))
                dir[strcspn(dir, "\n")] = '\0';
            pclose(p);
        }
    }
    return dir;
}

static pid_t redis_pid(void)
{
    char *path = pmq_asprintf("%s/redis.pid", servers_dir());
    char *s = read_file(path, NULL);
    free(path);
    pid_t pid = s ? (pid_t)atoi(s) : 0;
    free(s);
    return pid;
}

static int redis_answers(void)
{
    redisReply *rep = rcmd("PING");
    int ok = rep && rep->type == REDIS_REPLY_STATUS;
    freeReplyObject(rep);
    return ok;
}

/* Start Redis again as scripts/pmq-servers does (same socket, pid file and log). */
static int start_redis(void)
{
    const char *server = getenv("REDIS_SERVER");
    const char *dir = servers_dir();
    char *cmd = pmq_asprintf("'%s' --port 0 --unixsocket '%s/redis.sock' --unixsocketperm 700"
                             " --daemonize yes --pidfile '%s/redis.pid' --logfile '%s/redis.log'"
                             " --dir '%s' --appendonly no --save '' --maxmemory-policy noeviction"
                             " >/dev/null",
                             server && *server ? server : "redis-server", dir, dir, dir, dir);
    int rc = run_shell(cmd);
    free(cmd);
    if (rc != 0)
        return -1;
    int64_t deadline = pmq_now_ms() + START_WAIT_MS;
    while (!redis_answers()) {
        if (pmq_now_ms() > deadline)
            return -1;
        sleep_ms(20);
    }
    return 0;
}

static int restart_postgres(void)
{
    const char *dir = servers_dir();
    /* initdb and postgres refuse root: pmq-servers ran them as "postgres". */
    char *cmd = pmq_asprintf("%s'%s/pg_ctl' restart -D '%s/pg' -m fast -w -t 60"
                             " -l '%s/pg/postgres.log' >/dev/null 2>&1",
                             getuid() == 0 ? "cd / && runuser -u postgres -- " : "", pg_bindir(),
                             dir, dir);
    int rc = run_shell(cmd);
    free(cmd);
    return rc == 0 ? 0 : -1;
}

/*--- pmqd ---*/

static pid_t pmqd_pid;
static char *pmqd_log_path;
static char *config_path;
static char *record_path;
static int pmqd_exit_status = -1; /* wait status once it has exited */

static int pmqd_alive(void)
{
    if (pmqd_exit_status != -1)
        return 0;
    int st;
    if (waitpid(pmqd_pid, &st, WNOHANG) == pmqd_pid) {
        pmqd_exit_status = st;
        return 0;
    }
    return 1;
}

static void write_config(void)
{
    config_path = pmq_asprintf("%s/chaos.ini", servers_dir());
    FILE *f = fopen(config_path, "w");
    if (!f)
        hard_error("cannot write %s: %s", config_path, strerror(errno));
    fprintf(f,
            "[pmqd]\nlog_level = info\ngrace_period = 10s\n\n"
            "[database]\nhost = %s\nport = %s\ndbname = pmq\nuser = postgres\n\n"
            "[redis]\nsocket = %s\ntimeout = %dms\n%s%s%s\n"
            "[plugin chaos]\npath = %s\nrecord = %s\nqueues = chaos.a chaos.b\n\n%s%s",
            getenv("PMQ_PG_SOCKET_DIR"), getenv("PMQ_PG_PORT"), redis_socket(), REDIS_TIMEOUT_MS,
            S.finished_ttl ? "finished_ttl = " : "", S.finished_ttl ? S.finished_ttl : "",
            S.finished_ttl ? "\n" : "", S.plugin, record_path, pools_ini, queues_ini);
    if (fclose(f) != 0)
        hard_error("cannot write %s: %s", config_path, strerror(errno));
}

static void start_pmqd(void)
{
    char *ctl = pmq_asprintf("'%s' -c '%s' migrate >'%s/migrate.log' 2>&1", S.pmqctl,
                             config_path, servers_dir());
    if (run_shell(ctl) != 0) {
        char *log = pmq_asprintf("%s/migrate.log", servers_dir());
        char *out = read_file(log, NULL);
        hard_error("pmqctl migrate failed:\n%s", out ? out : "");
    }
    free(ctl);
    pmqd_log_path = pmq_asprintf("%s/pmqd.log", servers_dir());
    const char *exe = S.pmqd;
    fflush(NULL);
    pmqd_pid = fork();
    if (pmqd_pid < 0)
        hard_error("fork: %s", strerror(errno));
    if (pmqd_pid == 0) {
        /* If the driver dies, pmqd must not outlive it (the servers will not). */
        prctl(PR_SET_PDEATHSIG, SIGTERM);
        signal(SIGPIPE, SIG_DFL);
        int fd = open(pmqd_log_path, O_WRONLY | O_CREAT | O_APPEND, 0644);
        if (fd >= 0) {
            dup2(fd, STDOUT_FILENO);
            dup2(fd, STDERR_FILENO);
            close(fd);
        }
        execl(exe, "pmqd", "-c", config_path, (char *)NULL);
        fprintf(stderr, "could not run %s: %s\n", exe, strerror(errno));
        _exit(127);
    }
}

/* The last "pmqd: maintenance[PID]" line of the log names the maintenance child. */
static pid_t maintenance_pid(void)
{
    char *log = read_file(pmqd_log_path, NULL);
    pid_t pid = 0;
    const char mark[] = "pmqd: maintenance[";
    for (const char *p = log; p && (p = strstr(p, mark)); p += sizeof mark - 1)
        pid = (pid_t)atoi(p + sizeof mark - 1);
    free(log);
    return pid;
}

/* pmqd's children by role: workers run threads, the migrator and maintenance do not. */
typedef struct roles {
    pid_t workers[32];
    int nworkers;
    pid_t migrator, maintenance; /* 0 when not known */
    int nchildren;
} roles;

static roles find_roles(void)
{
    roles r = {0};
    pid_t kids[64];
    pid_t others[64];
    int nothers = 0;
    r.nchildren = children_of(pmqd_pid, kids, 64);
    for (int i = 0; i < r.nchildren; i++) {
        if (proc_status(kids[i], "Threads") > 1 && r.nworkers < 32)
            r.workers[r.nworkers++] = kids[i];
        else
            others[nothers++] = kids[i];
    }
    pid_t m = maintenance_pid();
    int m_found = 0;
    for (int i = 0; i < nothers; i++)
        m_found |= others[i] == m;
    if (!m_found)
        return r;
    r.maintenance = m;
    /* The other single-threaded child, when exactly one (a worker just forked has one thread). */
    for (int i = 0; i < nothers; i++)
        if (others[i] != m)
            r.migrator = r.migrator ? -1 : others[i];
    if (r.migrator < 0)
        r.migrator = 0;
    return r;
}

/* Wait for every child to run: the workers, the migrator and maintenance. */
static roles await_children(void)
{
    int64_t deadline = pmq_now_ms() + START_WAIT_MS;
    for (;;) {
        roles r = find_roles();
        if (r.nworkers == WORKER_PROCESSES && r.migrator && r.maintenance)
            return r;
        if (!pmqd_alive() || pmq_now_ms() > deadline)
            return r;
        sleep_ms(50);
    }
}

/*--- faults ---*/

typedef struct fault {
    fault_kind kind;
    double at_s, end_s; /* seconds into the run */
    long long inflight_before, inflight_after;
    char detail[128];
    int done; /* 0: skipped (see detail) */
} fault;

static fault *faults;
static int nfaults, capfaults;

static long long inflight(void)
{
    return sql_num("SELECT count(*) FROM jobs WHERE status IN ('migrated', 'running')");
}

static void inject(fault_kind kind)
{
    if (nfaults == capfaults)
        faults = pmq_xrealloc(faults, (size_t)(capfaults = capfaults ? capfaults * 2 : 32) *
                                          sizeof *faults);
    fault *f = &faults[nfaults++];
    memset(f, 0, sizeof *f);
    f->kind = kind;
    f->at_s = elapsed_s();
    f->inflight_before = inflight();
    f->done = 1;
    roles r = find_roles();
    /* A child restarted by an earlier fault may not be known yet: give it a few seconds. */
    for (int i = 0; i < 100 && ((kind == F_KILL_MIGRATOR && !r.migrator) ||
                                (kind == F_KILL_MAINTENANCE && !r.maintenance));
         i++) {
        sleep_ms(50);
        r = find_roles();
    }
    pid_t victim = 0;
    switch (kind) {
    case F_KILL_WORKER:
        if (r.nworkers > 0)
            victim = r.workers[rnd(0, r.nworkers - 1)];
        break;
    case F_KILL_MIGRATOR:
        victim = r.migrator;
        break;
    case F_KILL_MAINTENANCE:
        victim = r.maintenance;
        break;
    case F_FLUSHALL: {
        redisReply *rep = rcmd("FLUSHALL");
        f->done = rep && rep->type == REDIS_REPLY_STATUS;
        snprintf(f->detail, sizeof f->detail, "%s", f->done ? "" : "FLUSHALL failed");
        freeReplyObject(rep);
        break;
    }
    case F_RESTART_REDIS: {
        pid_t pid = redis_pid();
        if (pid <= 0 || kill(pid, SIGKILL) < 0) {
            f->done = 0;
            snprintf(f->detail, sizeof f->detail, "no Redis pid to kill");
            break;
        }
        for (int i = 0; i < 500 && alive(pid); i++)
            sleep_ms(10);
        if (start_redis() < 0)
            hard_error("Redis did not start again; see %s/redis.log", servers_dir());
        snprintf(f->detail, sizeof f->detail, "kill -9 %d, started pid %d", (int)pid,
                 (int)redis_pid());
        break;
    }
    case F_STALL_REDIS: {
        pid_t pid = redis_pid();
        if (pid <= 0 || kill(pid, SIGSTOP) < 0) {
            f->done = 0;
            snprintf(f->detail, sizeof f->detail, "no Redis pid to stop");
            break;
        }
        sleep_ms(STALL_MS);
        kill(pid, SIGCONT);
        snprintf(f->detail, sizeof f->detail, "SIGSTOP for %d ms ([redis] timeout %d ms)",
                 STALL_MS, REDIS_TIMEOUT_MS);
        break;
    }
    case F_RESTART_POSTGRES: {
        int64_t t = pmq_now_ms();
        if (restart_postgres() < 0)
            hard_error("PostgreSQL did not restart; see %s/pg/postgres.log", servers_dir());
        snprintf(f->detail, sizeof f->detail, "pg_ctl restart -m fast: %lld ms",
                 (long long)(pmq_now_ms() - t));
        break;
    }
    default:
        break;
    }
    if (kind == F_KILL_WORKER || kind == F_KILL_MIGRATOR || kind == F_KILL_MAINTENANCE) {
        if (victim > 0 && kill(victim, SIGKILL) == 0) {
            snprintf(f->detail, sizeof f->detail, "kill -9 %d", (int)victim);
        } else {
            f->done = 0;
            snprintf(f->detail, sizeof f->detail, "skipped: no %s process identified",
                     fault_names[kind] + 5);
        }
    }
    f->end_s = elapsed_s();
    f->inflight_after = inflight();
    printf("chaos: %6.1f s  %-17s in flight %lld -> %lld  %s\n", f->at_s, fault_names[kind],
           f->inflight_before, f->inflight_after, f->detail);
    fflush(stdout);
}

static void shuffle(fault_kind *a, int n)
{
    for (int i = n - 1; i > 0; i--) {
        int j = (int)rnd(0, i);
        fault_kind t = a[i];
        a[i] = a[j];
        a[j] = t;
    }
}

/* The kinds to inject, in order: check mode has a fixed list, full mode shuffles. */
static fault_kind *fault_plan(int *n_out)
{
    fault_kind *plan = pmq_xmalloc(sizeof *plan * F_KINDS * (size_t)(S.fault_rounds + 1));
    int n = 0;
    if (!strcmp(S.mode, "check")) {
        static const fault_kind fixed[] = {F_KILL_WORKER, F_FLUSHALL, F_RESTART_POSTGRES};
        for (size_t i = 0; i < sizeof fixed / sizeof fixed[0]; i++)
            if (S.enabled[fixed[i]])
                plan[n++] = fixed[i];
    } else {
        for (int round = 0; round < S.fault_rounds; round++) {
            int first = n;
            for (int k = 0; k < F_KINDS; k++)
                if (S.enabled[k])
                    plan[n++] = (fault_kind)k;
            shuffle(plan + first, n - first);
            /*
             * Emptying Redis makes the reconciler requeue every job Redis no
             * longer holds, which also frees jobs an earlier fault stranded:
             * the last round empties it first, so that what the other
             * faults strand shows as lost at the end instead of being
             * rescued by luck (the "late" figure counts those rescues).
             */
            if (round == S.fault_rounds - 1) {
                int wipes = 0;
                for (int i = first; i < n; i++)
                    if (plan[i] == F_FLUSHALL || plan[i] == F_RESTART_REDIS) {
                        fault_kind t = plan[first + wipes];
                        plan[first + wipes++] = plan[i];
                        plan[i] = t;
                    }
                shuffle(plan + first + wipes, n - first - wipes);
            }
        }
    }
    *n_out = n;
    return plan;
}

/*--- producing jobs ---*/

static long produced;

/* One job's spec for pmq_enqueue, as a JSON object, appended to `buf`. */
static void job_spec(char **buf, size_t *len, size_t *cap, long n)
{
    const char *queue = rnd(1, 10) <= 7 ? "chaos.a" : "chaos.b";
    static const int priorities[] = {10, 100, 200}; /* high, normal and low bands */
    int priority = priorities[rnd(0, 2)];
    long delay = rnd(1, 100) <= 20 ? rnd(100, S.max_delay_ms) : 0;
    long retries = rnd(1, 100) <= 10 ? rnd(1, 3) : 0;
    long retry_ms = retries ? rnd(50, 500) : 0;
    long pick = rnd(1, 100);
    long work = pick <= 80 ? rnd(0, 2) : pick <= 95 ? rnd(5, 50) : rnd(100, S.slow_work_ms);
    char one[256];
    int w = snprintf(one, sizeof one,
                     "%s{\"q\":\"%s\",\"pr\":%d,\"d\":%ld,\"p\":{\"n\":%ld,\"work_ms\":%ld,"
                     "\"retries\":%ld,\"retry_ms\":%ld,\"delay_ms\":%ld}}",
                     *len > 1 ? "," : "", queue, priority, delay, n, work, retries, retry_ms, delay);
    if (*len + (size_t)w + 2 > *cap)
        *buf = pmq_xrealloc(*buf, *cap = *cap * 2 + (size_t)w);
    memcpy(*buf + *len, one, (size_t)w + 1);
    *len += (size_t)w;
}

/* Enqueue `count` jobs in one statement. */
static void produce(long count)
{
    if (count <= 0)
        return;
    size_t cap = 4096, len = 1;
    char *buf = pmq_xmalloc(cap);
    strcpy(buf, "[");
    for (long i = 0; i < count; i++)
        job_spec(&buf, &len, &cap, produced + i + 1);
    strcpy(buf + len, "]");
    const char *params[1] = {buf};
    PGresult *res =
        sqlp("SELECT count(pmq_enqueue(j->>'q', j->'p', priority => (j->>'pr')::int,"
             " run_at => now() + (j->>'d')::int * interval '1 millisecond'))"
             " FROM jsonb_array_elements($1::jsonb) j",
             1, params);
    if (!res || strtol(PQgetvalue(res, 0, 0), NULL, 10) != count)
        hard_error("could not enqueue %ld jobs", count);
    PQclear(res);
    free(buf);
    produced += count;
}

/* Enqueue the jobs over the production window, in uneven batches, injecting the faults. */
static void run_production(void)
{
    int nplan;
    fault_kind *plan = fault_plan(&nplan);
    int64_t start = pmq_now_ms(), window = (int64_t)S.production_s * 1000;
    int64_t *fault_at = pmq_xmalloc(sizeof *fault_at * (size_t)(nplan + 1));
    for (int i = 0; i < nplan; i++) {
        /* Spread over the window, each at a random point of its own slot. */
        int64_t slot = window / nplan;
        fault_at[i] = start + slot * i + (strcmp(S.mode, "check") ? rnd(slot / 5, slot * 4 / 5)
                                                                   : slot / 2);
    }
    int next_fault = 0;
    say("producing %ld jobs over %d s, %d faults", S.jobs, S.production_s, nplan);
    while (produced < S.jobs || next_fault < nplan) {
        int64_t now = pmq_now_ms();
        if (produced < S.jobs) {
            long due = (long)((double)S.jobs * (double)(now - start) / (double)window);
            if (due > S.jobs)
                due = S.jobs;
            long n = due - produced;
            /* Now and then a burst, so that a backlog waits in Redis for the faults. */
            if (rnd(1, 100) <= 2)
                n += rnd(1, S.jobs / 40 + 1);
            if (n > S.jobs - produced)
                n = S.jobs - produced;
            for (long done = 0; done < n; done += 2000)
                produce(n - done < 2000 ? n - done : 2000);
        }
        if (next_fault < nplan && now >= fault_at[next_fault]) {
            /* Mostly with a backlog waiting in Redis and handlers running, so that it hits work. */
            if (produced < S.jobs && rnd(1, 4) > 1) {
                long n = rnd(S.jobs / 100, S.jobs / 20);
                if (!strcmp(S.mode, "check"))
                    n = rnd(S.jobs / 10, S.jobs / 5);
                produce(n > S.jobs - produced ? S.jobs - produced : n);
                sleep_ms(rnd(50, 150));
            }
            inject(plan[next_fault++]);
            if (!pmqd_alive()) {
                say("pmqd is gone");
                break;
            }
        }
        sleep_ms(TICK_MS);
    }
    free(plan);
    free(fault_at);
}

/* Wait, up to `bound_s`, for every job to reach a terminal state; returns those left. */
static long long drain(int bound_s)
{
    int64_t start = pmq_now_ms(), last_say = start;
    say("all %ld jobs enqueued; waiting for the queues to drain (at most %d s)", produced,
        bound_s);
    for (;;) {
        long long left = sql_num("SELECT count(*) FROM jobs WHERE status NOT IN"
                                 " ('completed', 'failed', 'cancelled')");
        int64_t now = pmq_now_ms();
        if (left == 0 || now - start >= (int64_t)bound_s * 1000 || !pmqd_alive())
            return left;
        if (now - last_say >= 10000) {
            say("draining: %lld jobs not finished", left);
            last_say = now;
        }
        sleep_ms(250);
    }
}

/*--- the record and the figures ---*/

/* Load the plugin's execution record into a temporary table; returns the malformed lines. */
static long load_record(void)
{
    PGresult *res = sqlp("CREATE TEMP TABLE IF NOT EXISTS chaos_exec (job_id uuid, attempt int,"
                         " outcome char(1), pid int); TRUNCATE chaos_exec",
                         0, NULL);
    if (!res)
        hard_error("cannot create the table of executions");
    PQclear(res);
    size_t len;
    char *rec = read_file(record_path, &len);
    if (!rec)
        hard_error("cannot read the execution record %s: %s", record_path, strerror(errno));
    res = PQexec(db(), "COPY chaos_exec FROM STDIN");
    if (PQresultStatus(res) != PGRES_COPY_IN)
        hard_error("COPY chaos_exec: %s", PQerrorMessage(pg));
    PQclear(res);
    long bad = 0;
    for (char *line = rec, *end; *line; line = end) {
        end = strchr(line, '\n');
        if (!end) { /* a torn last line */
            bad++;
            break;
        }
        *end++ = '\0';
        char id[37], outcome;
        int attempt, pid;
        if (sscanf(line, "%36s %d %c %d", id, &attempt, &outcome, &pid) != 4 || strlen(id) != 36 ||
            (outcome != 'D' && outcome != 'R')) {
            bad++;
            continue;
        }
        char row[128];
        int n = snprintf(row, sizeof row, "%s\t%d\t%c\t%d\n", id, attempt, outcome, pid);
        if (PQputCopyData(pg, row, n) != 1)
            hard_error("COPY chaos_exec: %s", PQerrorMessage(pg));
    }
    if (PQputCopyEnd(pg, NULL) != 1)
        hard_error("COPY chaos_exec: %s", PQerrorMessage(pg));
    res = PQgetResult(pg);
    if (PQresultStatus(res) != PGRES_COMMAND_OK)
        hard_error("COPY chaos_exec: %s", PQresultErrorMessage(res));
    PQclear(res);
    free(rec);
    res = sqlp("CREATE INDEX ON chaos_exec (job_id); ANALYZE chaos_exec", 0, NULL);
    PQclear(res);
    return bad;
}

/* Where Redis holds job `id`: its job hash, a claim hash, a ready list (caller frees). */
static char *redis_whereabouts(const char *id)
{
    char *out = pmq_xstrdup("");
    char *next;
    char key[PMQ_KEY_MAX];
    redisReply *rep = rcmd("HGETALL %s", pmq_key_job(key, "", id));
    if (rep && rep->type == REDIS_REPLY_ARRAY && rep->elements) {
        next = pmq_asprintf("%s%s {", out, key);
        free(out);
        out = next;
        for (size_t i = 0; i + 1 < rep->elements; i += 2) {
            if (strcmp(rep->element[i]->str, "status") && strcmp(rep->element[i]->str, "worker_id") &&
                strcmp(rep->element[i]->str, "attempt_count"))
                continue;
            next = pmq_asprintf("%s%s%s=%s", out, out[strlen(out) - 1] == '{' ? "" : " ",
                                rep->element[i]->str, rep->element[i + 1]->str);
            free(out);
            out = next;
        }
        next = pmq_asprintf("%s}", out);
        free(out);
        out = next;
    }
    freeReplyObject(rep);
    /* Claim hashes of every worker, alive or not; ready lists of both queues. */
    char head[PMQ_KEY_MAX];
    size_t skip = strlen(pmq_key_active(head, "", ""));
    rep = rcmd("KEYS %s*", head);
    for (size_t i = 0; rep && rep->type == REDIS_REPLY_ARRAY && i < rep->elements; i++) {
        redisReply *h = rcmd("HEXISTS %s %s", rep->element[i]->str, id);
        if (h && h->type == REDIS_REPLY_INTEGER && h->integer == 1) {
            redisReply *beat = rcmd("EXISTS %s", pmq_key_heartbeat(key, "", rep->element[i]->str + skip));
            next = pmq_asprintf("%s%sheld in %s (worker %s)", out, *out ? "; " : "",
                                rep->element[i]->str,
                                beat && beat->integer == 1 ? "alive" : "without heartbeat");
            freeReplyObject(beat);
            free(out);
            out = next;
        }
        freeReplyObject(h);
    }
    freeReplyObject(rep);
    /* queue:chaos.*: every band of both queues. */
    rep = rcmd("KEYS %s", pmq_key_queue(key, "", "chaos.*", PMQ_BAND_NORMAL));
    for (size_t i = 0; rep && rep->type == REDIS_REPLY_ARRAY && i < rep->elements; i++) {
        redisReply *l = rcmd("LRANGE %s 0 -1", rep->element[i]->str);
        for (size_t k = 0; l && l->type == REDIS_REPLY_ARRAY && k < l->elements; k++)
            if (l->element[k]->str && strstr(l->element[k]->str, id)) {
                next = pmq_asprintf("%s%sready in %s", out, *out ? "; " : "", rep->element[i]->str);
                free(out);
                out = next;
                break;
            }
        freeReplyObject(l);
    }
    freeReplyObject(rep);
    if (!*out) {
        free(out);
        out = pmq_xstrdup("nowhere");
    }
    return out;
}

/* Lost jobs by the first fault after their last change in PostgreSQL (the one that stranded them). */
static void lost_by_fault(void)
{
    char *sql = pmq_asprintf("SELECT extract(epoch FROM updated_at) - %.3f FROM jobs"
                             " WHERE status <> 'completed'",
                             t0_epoch_s);
    PGresult *res = sqlp(sql, 0, NULL);
    free(sql);
    long *per = pmq_xcalloc((size_t)nfaults + 1, sizeof *per);
    for (int i = 0; res && i < PQntuples(res); i++) {
        double at = strtod(PQgetvalue(res, i, 0), NULL);
        int k = 0;
        while (k < nfaults && (faults[k].end_s < at || !faults[k].done))
            k++;
        per[k]++;
    }
    PQclear(res);
    printf("  lost jobs by the first fault after their last change in PostgreSQL:\n");
    for (int k = 0; k <= nfaults; k++) {
        if (per[k] == 0)
            continue;
        if (k < nfaults)
            printf("    %6ld  %s at %.1f s\n", per[k], fault_names[faults[k].kind], faults[k].at_s);
        else
            printf("    %6ld  after the last fault\n", per[k]);
    }
    free(per);
}

/* Lost jobs one by one: PostgreSQL's row, the executions recorded, Redis. */
static void describe_lost(void)
{
    lost_by_fault();
    char *sql = pmq_asprintf(
        "SELECT j.id, j.status, j.attempt_count, coalesce(j.worker_id, '-'),"
        " round((extract(epoch FROM j.updated_at) - %.3f)::numeric, 1),"
        " (SELECT count(*) FROM chaos_exec e WHERE e.job_id = j.id),"
        " j.queue_name, coalesce(j.last_error_message, '')"
        " FROM jobs j WHERE j.status <> 'completed' ORDER BY j.updated_at LIMIT %d",
        t0_epoch_s, LOST_SHOWN);
    PGresult *res = sqlp(sql, 0, NULL);
    free(sql);
    for (int i = 0; res && i < PQntuples(res); i++) {
        char *where = redis_whereabouts(PQgetvalue(res, i, 0));
        printf("    lost %s %s: %s since %s s, %s attempts done, worker %s, %s executions"
               " recorded%s%s\n      Redis: %s\n",
               PQgetvalue(res, i, 6), PQgetvalue(res, i, 0), PQgetvalue(res, i, 1),
               PQgetvalue(res, i, 4), PQgetvalue(res, i, 2), PQgetvalue(res, i, 3),
               PQgetvalue(res, i, 5), *PQgetvalue(res, i, 7) ? ", last error: " : "",
               PQgetvalue(res, i, 7), where);
        free(where);
    }
    PQclear(res);
}

/*
 * pmqd's warnings and errors, counted by message with the numbers and ids
 * taken out (a line is "<time> <process>[<pid>] <level>: <message>").
 */
static void log_summary(int *sanitizer_reports)
{
    char *log = read_file(pmqd_log_path, NULL);
    *sanitizer_reports = 0;
    if (!log)
        return;
    typedef struct kind {
        char *text;
        long count;
        double first_s;
    } kind;
    kind *kinds = NULL;
    int nkinds = 0, cap = 0;
    for (char *line = log, *end; line && *line; line = end) {
        end = strchr(line, '\n');
        if (end)
            *end++ = '\0';
        if (strstr(line, "Sanitizer") || strstr(line, "runtime error"))
            (*sanitizer_reports)++;
        const char *lvl = strstr(line, "] warning: ");
        if (!lvl)
            lvl = strstr(line, "] error: ");
        const char *proc = strchr(line, ' ');
        if (!lvl || !proc || proc > lvl)
            continue;
        /* "<process> <level>: <message>" with digit runs as "N", ids as "<id>". */
        char norm[512];
        size_t o = 0;
        for (const char *p = proc + 1; *p && o < sizeof norm - 8; p++) {
            if (*p == '[') { /* the pid */
                const char *close = strchr(p, ']');
                if (close && close < lvl + 1) {
                    p = close;
                    continue;
                }
            }
            int is_uuid = strspn(p, "0123456789abcdef-") >= 36 && p[8] == '-' && p[13] == '-';
            if (is_uuid) {
                memcpy(norm + o, "<id>", 4);
                o += 4;
                p += 35;
            } else if (isdigit((unsigned char)*p) && !isalnum((unsigned char)p[-1])) {
                norm[o++] = 'N';
                while (isdigit((unsigned char)p[1]))
                    p++;
            } else {
                norm[o++] = *p;
            }
        }
        norm[o] = '\0';
        int k;
        for (k = 0; k < nkinds && strcmp(kinds[k].text, norm); k++) {
        }
        if (k == nkinds) {
            if (nkinds == cap)
                kinds = pmq_xrealloc(kinds, sizeof *kinds * (size_t)(cap = cap ? cap * 2 : 16));
            struct tm tm = {0};
            /* "2026-12-03T14:26:16.123Z": seconds into the run when it first appeared. */
            char *rest = strptime(line, "%Y-%m-%dT%H:%M:%S", &tm);
            double first = -1;
            if (rest)
                first = (double)timegm(&tm) + (rest[0] == '.' ? strtod(rest, NULL) : 0) - t0_epoch_s;
            kinds[nkinds++] = (kind){pmq_xstrdup(norm), 0, first};
        }
        kinds[k].count++;
    }
    if (nkinds)
        printf("  pmqd's warnings and errors (numbers as N; first seen, seconds into the run):\n");
    for (int k = 0; k < nkinds; k++) {
        if (k < LOG_KINDS_SHOWN)
            printf("    %5ld x  %6.1f s  %s\n", kinds[k].count, kinds[k].first_s, kinds[k].text);
        free(kinds[k].text);
    }
    if (nkinds > LOG_KINDS_SHOWN)
        printf("    ... %d more kinds; see the log\n", nkinds - LOG_KINDS_SHOWN);
    free(kinds);
    free(log);
}

typedef struct figures {
    long long jobs, completed, not_terminal, failed, missing, lost;
    long long completed_without_run, executions, expected, duplicates, done_twice;
    long long bound, malformed, late, latest_s;
    int sanitizer_reports;
} figures;

static figures count_figures(void)
{
    figures f = {0};
    f.malformed = load_record();
    f.jobs = sql_num("SELECT count(*) FROM jobs");
    f.completed = sql_num("SELECT count(*) FROM jobs WHERE status = 'completed'");
    f.not_terminal =
        sql_num("SELECT count(*) FROM jobs WHERE status NOT IN ('completed', 'failed', 'cancelled')");
    f.failed = sql_num("SELECT count(*) FROM jobs WHERE status IN ('failed', 'cancelled')");
    f.missing = produced > f.jobs ? produced - f.jobs : 0;
    f.lost = f.not_terminal + f.failed + f.missing;
    f.completed_without_run =
        sql_num("SELECT count(*) FROM jobs j WHERE status = 'completed' AND NOT EXISTS"
                " (SELECT 1 FROM chaos_exec e WHERE e.job_id = j.id AND e.outcome = 'D')");
    f.executions = sql_num("SELECT count(*) FROM chaos_exec");
    /* A completed job asked for retries + 1 executions; more are duplicates. */
    f.expected = sql_num("SELECT coalesce(sum(coalesce((payload->>'retries')::int, 0) + 1), 0)"
                         " FROM jobs"
                         " WHERE status = 'completed'");
    f.duplicates = sql_num(
        "SELECT coalesce(sum(greatest(n - want, 0)), 0) FROM (SELECT j.id,"
        " coalesce((j.payload->>'retries')::int, 0) + 1 AS want, count(e.job_id) AS n FROM jobs j"
        " JOIN chaos_exec e ON e.job_id = j.id WHERE j.status = 'completed' GROUP BY j.id) x");
    f.done_twice = sql_num("SELECT count(*) FROM (SELECT job_id FROM chaos_exec WHERE outcome = 'D'"
                           " GROUP BY job_id HAVING count(*) > 1) x");
    static const char due[] = "created_at + coalesce((payload->>'delay_ms')::int, 0)"
                              " * interval '1 millisecond'";
    f.late = sql_num("SELECT count(*) FROM jobs WHERE status = 'completed'"
                     " AND completed_at > %s + interval '%d seconds'",
                     due, LATE_S);
    f.latest_s = sql_num("SELECT coalesce(round(max(extract(epoch FROM completed_at - (%s)))), 0)"
                         " FROM jobs WHERE status = 'completed'",
                         due);
    for (int i = 0; i < nfaults; i++)
        if (faults[i].done)
            f.bound += faults[i].inflight_before > faults[i].inflight_after
                           ? faults[i].inflight_before
                           : faults[i].inflight_after;
    return f;
}

static void print_faults_line(void)
{
    int count[F_KINDS] = {0}, skipped = 0, total = 0;
    for (int i = 0; i < nfaults; i++) {
        if (faults[i].done) {
            count[faults[i].kind]++;
            total++;
        } else {
            skipped++;
        }
    }
    printf("  %-27s %d", "faults", total);
    const char *sep = " (";
    for (int k = 0; k < F_KINDS; k++)
        if (count[k]) {
            printf("%s%s %d", sep, fault_names[k], count[k]);
            sep = ", ";
        }
    printf("%s", *sep == ',' ? ")" : "");
    if (skipped)
        printf("; %d skipped", skipped);
    putchar('\n');
}

/* Copy the run's files where the caller asked (they vanish with the servers' directory). */
static void keep_files(void)
{
    if (!S.keep)
        return;
    char *cmd = pmq_asprintf("mkdir -p '%s' && cp '%s' '%s' '%s' '%s/redis.log' '%s/'"
                             " 2>/dev/null; cp '%s/pg/postgres.log' '%s/' 2>/dev/null; true",
                             S.keep, pmqd_log_path, record_path, config_path, servers_dir(),
                             S.keep, servers_dir(), S.keep);
    run_shell(cmd);
    free(cmd);
    printf("chaos: pmqd's log, the execution record and the servers' logs are in %s\n", S.keep);
}

/* SIGTERM pmqd and wait for it; returns its wait status, or -1 (it was then SIGKILLed). */
static int stop_pmqd(void)
{
    if (!pmqd_alive())
        return pmqd_exit_status;
    kill(pmqd_pid, SIGTERM);
    int64_t deadline = pmq_now_ms() + STOP_WAIT_MS;
    int st;
    while (pmq_now_ms() < deadline) {
        if (waitpid(pmqd_pid, &st, WNOHANG) == pmqd_pid)
            return st;
        sleep_ms(20);
    }
    kill(pmqd_pid, SIGKILL);
    waitpid(pmqd_pid, &st, 0);
    return -1;
}

static const char *describe_status(int st, char *buf, size_t size)
{
    if (st == -1)
        snprintf(buf, size, "did not exit within %d s of SIGTERM", STOP_WAIT_MS / 1000);
    else if (WIFSIGNALED(st))
        snprintf(buf, size, "killed by signal %d", WTERMSIG(st));
    else
        snprintf(buf, size, "exit status %d", WEXITSTATUS(st));
    return buf;
}

/* Print the figures; returns the exit status.  `also_failed`: the caller's own failure, or NULL. */
static int report(const char *also_failed)
{
    roles r = find_roles();
    int was_alive = pmqd_alive();
    figures f = count_figures();
    int restarts = 0;
    char *log = read_file(pmqd_log_path, NULL);
    for (const char *p = log; p && (p = strstr(p, "; restarting it")); p++)
        restarts++;
    for (const char *p = log; p && (p = strstr(p, "-- throttling")); p++)
        restarts++;
    free(log);

    printf("\nchaos figures (mode %s, seed %lu, %.0f s)\n", S.mode, S.seed, elapsed_s());
    printf("  %-27s %lld (enqueued by the driver: %ld)\n", "jobs", f.jobs, produced);
    print_faults_line();
    printf("  %-27s %lld\n", "completed", f.completed);
    printf("  %-27s %lld (not finished after the drain: %lld; failed or cancelled: %lld;"
           " missing: %lld)\n",
           "lost", f.lost, f.not_terminal, f.failed, f.missing);
    printf("  %-27s %lld\n", "completed without running", f.completed_without_run);
    printf("  %-27s %lld (one per attempt the jobs asked for: %lld)\n", "executions",
           f.executions, f.expected);
    printf("  %-27s %lld (finished more than %d s after they were due; the longest took %lld s)\n",
           "late", f.late, LATE_S, f.latest_s);
    printf("  %-27s %lld (bound: %lld jobs in flight at fault times; jobs whose handler"
           " completed twice: %lld)\n",
           "duplicate executions", f.duplicates, f.bound, f.done_twice);
    printf("  %-27s %s (%d children: %d workers, migrator %s, maintenance %s;"
           " %d child restarts logged)\n",
           "pmqd alive", was_alive ? "yes" : "NO", r.nchildren, r.nworkers,
           r.migrator ? "yes" : "no", r.maintenance ? "yes" : "no", restarts);
    if (f.malformed)
        printf("  %-27s %lld\n", "torn record lines", f.malformed);
    log_summary(&f.sanitizer_reports);
    if (f.lost)
        describe_lost();

    int st = stop_pmqd();
    char buf[128];
    printf("  %-27s %s\n", "pmqd on SIGTERM", describe_status(st, buf, sizeof buf));
    keep_files();

    int fail = 0;
    if (f.lost) {
        printf("chaos: FAIL: %lld job%s lost\n", f.lost, f.lost == 1 ? "" : "s");
        fail = 1;
    }
    if (f.completed_without_run) {
        printf("chaos: FAIL: %lld job%s completed without running\n", f.completed_without_run,
               f.completed_without_run == 1 ? "" : "s");
        fail = 1;
    }
    if (!was_alive) {
        printf("chaos: FAIL: pmqd died (%s)\n", describe_status(pmqd_exit_status, buf, sizeof buf));
        fail = 1;
    }
    if (f.sanitizer_reports) {
        printf("chaos: FAIL: %d sanitizer report lines in pmqd's log\n", f.sanitizer_reports);
        fail = 1;
    }
    if (also_failed) {
        printf("chaos: FAIL: %s\n", also_failed);
        fail = 1;
    }
    if (f.duplicates > f.bound)
        printf("chaos: note: more duplicate executions than jobs in flight at fault times\n");
    if (!fail)
        printf("chaos: PASS\n");
    return fail;
}

/*--- soak ---*/

typedef struct memory {
    long long redis_used, redis_keys;
    int nprocs;
    struct {
        pid_t pid;
        char role[32];
        long rss_kb;
    } procs[64];
} memory;

static memory measure(void)
{
    memory m = {0};
    m.redis_used = redis_info("memory", "used_memory");
    redisReply *rep = rcmd("DBSIZE");
    m.redis_keys = rep && rep->type == REDIS_REPLY_INTEGER ? rep->integer : -1;
    freeReplyObject(rep);
    roles r = find_roles();
    pid_t kids[64];
    int n = children_of(pmqd_pid, kids, 63);
    m.procs[m.nprocs].pid = pmqd_pid;
    snprintf(m.procs[m.nprocs].role, sizeof m.procs[0].role, "master");
    m.procs[m.nprocs++].rss_kb = proc_status(pmqd_pid, "VmRSS");
    int w = 0;
    for (int i = 0; i < n; i++) {
        m.procs[m.nprocs].pid = kids[i];
        if (kids[i] == r.migrator)
            snprintf(m.procs[m.nprocs].role, sizeof m.procs[0].role, "migrator");
        else if (kids[i] == r.maintenance)
            snprintf(m.procs[m.nprocs].role, sizeof m.procs[0].role, "maintenance");
        else
            snprintf(m.procs[m.nprocs].role, sizeof m.procs[0].role, "worker %d", ++w);
        m.procs[m.nprocs++].rss_kb = proc_status(kids[i], "VmRSS");
    }
    return m;
}

/*
 * What "came back" means: Redis within 1 MiB of where it started (its
 * allocator and dictionaries shrink back; a finished job's hash kept costs
 * ~370 B, so 1,000,000 of them are 350 MiB), and each process within 8 MiB
 * or a quarter of its starting RSS (malloc keeps some freed memory; a leak
 * of 16 B per job is 16 MiB).
 */
#define REDIS_SLACK_BYTES (1LL << 20)
#define RSS_SLACK_KB (8L << 10)

static int rss_back(long before, long after)
{
    long slack = before / 4 > RSS_SLACK_KB ? before / 4 : RSS_SLACK_KB;
    return after >= 0 && after <= before + slack;
}

/* Push `count` no-op jobs, keeping at most `backlog` unfinished; returns the seconds taken. */
static double push_paced(long count, long backlog)
{
    int64_t start = pmq_now_ms(), last_say = start;
    long done_at_say = produced;
    long target = produced + count;
    while (produced < target) {
        long long open = sql_num("SELECT count(*) FROM jobs WHERE status IN"
                                 " ('queued', 'migrated', 'running')");
        if (open < 0)
            hard_error("cannot count the unfinished jobs");
        if (open < backlog) {
            long n = target - produced < 5000 ? target - produced : 5000;
            static const int priorities[] = {10, 100, 200};
            char from[32], to[32], prio[16];
            snprintf(from, sizeof from, "%ld", produced + 1);
            snprintf(to, sizeof to, "%ld", produced + n);
            snprintf(prio, sizeof prio, "%d", priorities[rnd(0, 2)]);
            const char *params[4] = {rnd(1, 10) <= 7 ? "chaos.a" : "chaos.b", from, to, prio};
            PGresult *res = sqlp("SELECT count(*) FROM pmq_enqueue_many($1, (SELECT jsonb_agg("
                                 "jsonb_build_object('n', g)) FROM generate_series($2::int,"
                                 " $3::int) g), priority => $4::int)",
                                 4, params);
            if (!res || strtol(PQgetvalue(res, 0, 0), NULL, 10) != n)
                hard_error("could not enqueue %ld jobs", n);
            PQclear(res);
            produced += n;
        } else {
            sleep_ms(20);
        }
        int64_t now = pmq_now_ms();
        if (now - last_say >= 15000) {
            redisReply *keys = rcmd("DBSIZE");
            say("%ld jobs enqueued (%.0f/s), %lld unfinished, Redis used_memory %lld B, %lld keys",
                produced, (double)(produced - done_at_say) * 1000.0 / (double)(now - last_say),
                open, redis_info("memory", "used_memory"),
                keys && keys->type == REDIS_REPLY_INTEGER ? keys->integer : -1LL);
            freeReplyObject(keys);
            last_say = now;
            done_at_say = produced;
        }
        if (!pmqd_alive())
            break;
    }
    return (double)(pmq_now_ms() - start) / 1000.0;
}

static int soak(void)
{
    long warmup = S.jobs / 20 < 50000 ? S.jobs / 20 : 50000;
    say("warm-up: %ld jobs, so that every process has reached its working size", warmup);
    push_paced(warmup, 20000);
    long long left = drain(S.drain_s);
    if (left)
        return report(NULL);
    int64_t retention_ms = 0;
    if (S.finished_ttl && pmq_parse_duration_ms(S.finished_ttl, 1000, &retention_ms) < 0)
        hard_error("bad finished_ttl \"%s\"", S.finished_ttl);
    sleep_ms((long)retention_ms + 2000);
    memory before = measure();
    say("before: Redis used_memory %lld B, %lld keys", before.redis_used, before.redis_keys);

    double took = push_paced(S.jobs, 20000);
    drain(S.drain_s);
    say("%ld jobs pushed in %.0f s (%.0f jobs/s)", S.jobs, took, (double)S.jobs / took);

    /* Redis drops finished jobs' hashes after the retention window: give it that and a minute. */
    say("waiting for the retention window (%s) to pass", S.finished_ttl ? S.finished_ttl
                                                                          : "pmqd's default");
    int64_t deadline = pmq_now_ms() + retention_ms + 60000;
    long long used;
    while ((used = redis_info("memory", "used_memory")) > before.redis_used + REDIS_SLACK_BYTES &&
           pmq_now_ms() < deadline)
        sleep_ms(1000);
    memory after = measure();

    printf("\nsoak memory (before: after a %ld-job warm-up; after: %ld more jobs and the"
           " retention window)\n",
           warmup, S.jobs);
    int redis_ok = after.redis_used <= before.redis_used + REDIS_SLACK_BYTES;
    printf("  %-20s %12lld B %12lld B  %+lld B (%+.1f B per job)  %s\n", "Redis used_memory",
           before.redis_used, after.redis_used, after.redis_used - before.redis_used,
           (double)(after.redis_used - before.redis_used) / (double)S.jobs,
           redis_ok ? "back" : "NOT BACK");
    printf("  %-20s %12lld   %12lld\n", "Redis keys", before.redis_keys, after.redis_keys);
    int rss_ok = 1;
    for (int i = 0; i < after.nprocs; i++) {
        long b = -1;
        for (int k = 0; k < before.nprocs; k++)
            if (before.procs[k].pid == after.procs[i].pid)
                b = before.procs[k].rss_kb;
        int ok = b >= 0 && rss_back(b, after.procs[i].rss_kb);
        rss_ok &= ok;
        if (b < 0)
            printf("  %-12s %7d  %14s %12ld kB  (a new process: restarted)  NOT BACK\n",
                   after.procs[i].role, (int)after.procs[i].pid, "", after.procs[i].rss_kb);
        else
            printf("  %-12s %7d  %12ld kB %12ld kB  %+ld kB  %s\n", after.procs[i].role,
                   (int)after.procs[i].pid, b, after.procs[i].rss_kb, after.procs[i].rss_kb - b,
                   ok ? "back" : "NOT BACK");
    }
    char *why = NULL;
    if (!redis_ok)
        why = pmq_asprintf("Redis used_memory did not come back (%+lld B after %ld jobs)%s",
                           after.redis_used - before.redis_used, S.jobs,
                           rss_ok ? "" : "; nor did the RSS of a pmqd process");
    else if (!rss_ok)
        why = pmq_xstrdup("the RSS of a pmqd process did not come back");
    int rc = report(why);
    free(why);
    return rc;
}

/*--- main ---*/

static void usage(void)
{
    fprintf(stderr,
            "usage: chaos --plugin CHAOS.SO --pmqd PATH --pmqctl PATH [--mode check|full|soak]\n"
            "             [--jobs N]"
            " [--seed N] [--faults KIND,...] [--keep DIR] [--finished-ttl DURATION]\n"
            "fault kinds:");
    for (int k = 0; k < F_KINDS; k++)
        fprintf(stderr, " %s", fault_names[k]);
    fprintf(stderr, "\n");
    exit(2);
}

static void parse_faults(const char *list)
{
    memset(S.enabled, 0, sizeof S.enabled);
    char *copy = pmq_xstrdup(list);
    for (char *save = NULL, *k = strtok_r(copy, ", ", &save); k; k = strtok_r(NULL, ", ", &save)) {
        int found = 0;
        for (int i = 0; i < F_KINDS; i++)
            if (!strcmp(k, fault_names[i]) || !strcmp(k, "all"))
                S.enabled[i] = found = 1;
        if (!found) {
            fprintf(stderr, "chaos: unknown fault kind \"%s\"\n", k);
            usage();
        }
    }
    free(copy);
}

int main(int argc, char **argv)
{
    static const struct option options[] = {
        {"mode", required_argument, NULL, 'm'},   {"jobs", required_argument, NULL, 'j'},
        {"seed", required_argument, NULL, 's'},   {"faults", required_argument, NULL, 'f'},
        {"plugin", required_argument, NULL, 'p'}, {"pmqd", required_argument, NULL, 'd'},
        {"pmqctl", required_argument, NULL, 'c'},
        {"keep", required_argument, NULL, 'k'},   {"finished-ttl", required_argument, NULL, 't'},
        {NULL, 0, NULL, 0}};
    S.mode = "check";
    S.seed = (unsigned long)time(NULL) ^ (unsigned long)getpid() << 16;
    long jobs = 0;
    const char *fault_list = NULL;
    int c;
    while ((c = getopt_long(argc, argv, "", options, NULL)) != -1) {
        switch (c) {
        case 'm': S.mode = optarg; break;
        case 'j': jobs = strtol(optarg, NULL, 10); break;
        case 's': S.seed = strtoul(optarg, NULL, 10); break;
        case 'f': fault_list = optarg; break;
        case 'p': S.plugin = optarg; break;
        case 'd': S.pmqd = optarg; break;
        case 'c': S.pmqctl = optarg; break;
        case 'k': S.keep = optarg; break;
        case 't': S.finished_ttl = optarg; break;
        default: usage();
        }
    }
    if (!S.plugin || !S.pmqd || !S.pmqctl || optind != argc)
        usage();
    if (!strcmp(S.mode, "check")) {
        S.jobs = 2000;
        S.production_s = 15;
        S.max_delay_ms = 3000;
        S.slow_work_ms = 300;
        S.drain_s = 60;
        parse_faults("kill-worker,flushall,restart-postgres");
    } else if (!strcmp(S.mode, "full")) {
        S.jobs = 20000;
        S.production_s = 140;
        S.max_delay_ms = 15000;
        S.slow_work_ms = 500;
        S.fault_rounds = 3;
        S.drain_s = 90;
        parse_faults("all");
    } else if (!strcmp(S.mode, "soak")) {
        S.jobs = 1000000;
        S.drain_s = 300;
        parse_faults("");
    } else {
        usage();
    }
    if (jobs > 0)
        S.jobs = jobs;
    if (fault_list)
        parse_faults(fault_list);
    rng_state = S.seed ? S.seed : 1;

    pmq_test_servers_start();
    /* A write to a Redis that a fault just killed must fail, not kill the driver. */
    signal(SIGPIPE, SIG_IGN);
    t0_ms = pmq_now_ms();
    struct timeval tv;
    gettimeofday(&tv, NULL);
    t0_epoch_s = (double)tv.tv_sec + (double)tv.tv_usec / 1e6;
    printf("chaos: mode %s, %ld jobs, seed %lu (--seed %lu repeats the schedule), servers in %s\n",
           S.mode, S.jobs, S.seed, S.seed, servers_dir());
    record_path = pmq_asprintf("%s/executions", servers_dir());
    write_config();
    start_pmqd();
    roles r = await_children();
    if (r.nworkers != WORKER_PROCESSES || !r.migrator || !r.maintenance) {
        char *log = read_file(pmqd_log_path, NULL);
        hard_error("pmqd's children did not all start (%d workers, migrator %d, maintenance %d):"
                   "\n%s",
                   r.nworkers, (int)r.migrator, (int)r.maintenance, log ? log : "");
    }
    say("pmqd %d runs: %d workers, migrator %d, maintenance %d", (int)pmqd_pid, r.nworkers,
        (int)r.migrator, (int)r.maintenance);

    if (!strcmp(S.mode, "soak"))
        return soak();
    run_production();
    long long left = drain(S.drain_s);
    if (left == 0)
        say("drained");
    return report(NULL);
}
