/*
 * pmq-bench.c -- pmq's driver for the peers' benchmark harness
 * (../shared/bench/peers: BullMQ and graphile-worker).  It takes the same
 * flags as their bullmq-bench.mjs / graphile-bench.mjs and prints the same
 * `RESULT {json}` line per run, so that
 *
 *     PEERS="bullmq graphile /path/to/build/tests/bench/pmq-bench" ./run-all.sh
 *
 * puts the three queues in one table (summarize.mjs).  It uses the peers'
 * private servers (servers-up.sh: PostgreSQL on 127.0.0.1:55432 database
 * peerbench, Redis on 127.0.0.1:56379) over TCP loopback, and pmqd, pmqctl
 * and the no-op plugin (tests/bench/noop.c) from the build tree.
 *
 * --mode throughput: reset, bulk-enqueue --backlog jobs (default --jobs)
 *   with pmq_enqueue_many() in chunks of --chunk while no pmqd runs; then
 *   start pmqd ([pool bench] processes = --workers, threads =
 *   --concurrency) with the queue paused, wait until every worker process
 *   has registered and the migrator waits, resume the queue ("go") and time
 *   until --jobs jobs are `completed` in PostgreSQL.
 * --mode latency: reset, start pmqd and leave it idle 2 s, then for each of
 *   --rates: "idle" = one pmq_enqueue() every --idle-interval ms (awaited),
 *   --idle-samples times; a number R = open loop, R single pmq_enqueue()
 *   calls per second for --duration s, issued on schedule on pipelined
 *   connections whatever the earlier calls do.  Latency per job, computed
 *   in SQL afterwards (one host clock): lat_ms = handler start
 *   (jobs.started_at) - the wall clock just before the enqueue call was
 *   issued (payload "t"), the peers' definition; lat_created_ms =
 *   started_at - created_at.
 *
 * CPU: utime+stime (+ reaped children) of the pmqd process tree ("worker"),
 * of PostgreSQL's and of Redis' trees (the peers' PEERBENCH_DIR pid files;
 * "server" = both), from /proc, as the peers' lib.mjs does.
 */
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <hiredis/hiredis.h>
#include <libpq-fe.h>
#include <math.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "keys.h"

#ifndef PMQ_BENCH_BUILDDIR
#define PMQ_BENCH_BUILDDIR "."
#endif
#ifndef PMQ_VERSION
#define PMQ_VERSION "unknown"
#endif

#define QUEUE "bench"
/* Latency mode's producer: one job per call, each its own transaction. */
#define ENQUEUE_SQL "SELECT pmq_enqueue('" QUEUE "', $1::jsonb)"
#define MAX_CONNS 64

/*--- options (the peers' flags, same defaults) ---*/

typedef struct opts {
    const char *mode;
    long jobs, chunk, concurrency, workers;
    const char *rates;
    double duration;
    long idle_samples, idle_interval, timeout;
    const char *out, *tag;
    /* pmq only */
    long payload_bytes; /* 0: the peers' {"i": n} */
    long backlog;       /* jobs queued before the drain (default: jobs) */
    long producer_conns;
    long redis_db;
    long analyze;    /* ANALYZE jobs after the enqueue phase (a table with statistics) */
    long checkpoint; /* CHECKPOINT after the enqueue phase: the drain writes no page images of it */
    const char *dir;
} opts;

static opts O = {
    .mode = "throughput", .jobs = 100000, .chunk = 1000, .concurrency = 50, .workers = 1,
    .rates = "idle,500,2000", .duration = 15, .idle_samples = 200, .idle_interval = 100,
    .timeout = 300, .out = "", .tag = "", .payload_bytes = 0, .backlog = 0,
    .producer_conns = 4, .redis_db = 1, .dir = NULL,
};

static void usage(FILE *f)
{
    fputs("Usage: pmq-bench [--mode throughput|latency] [options]\n"
          "The peers' flags (../shared/bench/peers/README.md):\n"
          "  --jobs N (100000) --chunk N (1000) --concurrency C (50: threads per worker process)\n"
          "  --workers W (1: pmqd worker processes) --rates idle,500,2000 --duration S (15)\n"
          "  --idle-samples N (200) --idle-interval MS (100) --timeout S (300)\n"
          "  --out FILE.jsonl --tag TEXT\n"
          "pmq only:\n"
          "  --payload-bytes B   pad each payload to about B bytes (default: {\"i\": n})\n"
          "  --backlog B         queue B jobs, time the first --jobs completions\n"
          "  --producer-conns K  pipelined producer connections in open-loop phases (4)\n"
          "  --redis-db N        Redis database pmq uses and FLUSHDBs (1; BullMQ uses 0)\n"
          "  --checkpoint 1      CHECKPOINT after the enqueue phase, outside the clock (default 0)\n"
          "  --analyze 1         ANALYZE jobs after the enqueue phase, outside the clock (default 0:\n"
          "                      the table is TRUNCATEd before each run and has no statistics)\n"
          "  --dir DIR           pmqd.ini and pmqd.log (default $PEERBENCH_DIR/pmq-bench)\n"
          "Environment: PEERBENCH_PG_URL, PEERBENCH_REDIS_HOST, PEERBENCH_REDIS_PORT,\n"
          "  PEERBENCH_DIR (/tmp/peerbench: server pid files), PMQ_BENCH_BUILDDIR (the build\n"
          "  tree holding core/pmqd, core/pmqctl, tests/bench/.libs/noop.so), or PMQ_BENCH_PMQD,\n"
          "  PMQ_BENCH_PMQCTL, PMQ_BENCH_PLUGIN one by one; PMQ_BENCH_INI: text appended to\n"
          "  pmqd.ini (\"[migrator]\\nbatch_size = 1000\").\n",
          f);
}

static long num_arg(const char *flag, const char *v)
{
    char *end;
    errno = 0;
    double d = strtod(v, &end);
    if (errno || *end || end == v || d < 0) {
        fprintf(stderr, "pmq-bench: %s needs a number, got \"%s\"\n", flag, v);
        exit(2);
    }
    return (long)d;
}

static void parse_args(int argc, char **argv)
{
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            usage(stdout);
            exit(0);
        }
        if (strncmp(a, "--", 2) != 0) {
            fprintf(stderr, "pmq-bench: unexpected argument \"%s\"\n", a);
            exit(2);
        }
        const char *v = i + 1 < argc && strncmp(argv[i + 1], "--", 2) != 0 ? argv[++i] : NULL;
        if (!v) {
            fprintf(stderr, "pmq-bench: %s needs a value\n", a);
            exit(2);
        }
        if (!strcmp(a, "--mode"))
            O.mode = v;
        else if (!strcmp(a, "--jobs"))
            O.jobs = num_arg(a, v);
        else if (!strcmp(a, "--chunk"))
            O.chunk = num_arg(a, v);
        else if (!strcmp(a, "--concurrency"))
            O.concurrency = num_arg(a, v);
        else if (!strcmp(a, "--workers"))
            O.workers = num_arg(a, v);
        else if (!strcmp(a, "--rates"))
            O.rates = v;
        else if (!strcmp(a, "--duration"))
            O.duration = (double)num_arg(a, v);
        else if (!strcmp(a, "--idle-samples"))
            O.idle_samples = num_arg(a, v);
        else if (!strcmp(a, "--idle-interval"))
            O.idle_interval = num_arg(a, v);
        else if (!strcmp(a, "--timeout"))
            O.timeout = num_arg(a, v);
        else if (!strcmp(a, "--out"))
            O.out = v;
        else if (!strcmp(a, "--tag"))
            O.tag = v;
        else if (!strcmp(a, "--payload-bytes"))
            O.payload_bytes = num_arg(a, v);
        else if (!strcmp(a, "--backlog"))
            O.backlog = num_arg(a, v);
        else if (!strcmp(a, "--producer-conns"))
            O.producer_conns = num_arg(a, v);
        else if (!strcmp(a, "--redis-db"))
            O.redis_db = num_arg(a, v);
        else if (!strcmp(a, "--analyze"))
            O.analyze = num_arg(a, v);
        else if (!strcmp(a, "--checkpoint"))
            O.checkpoint = num_arg(a, v);
        else if (!strcmp(a, "--dir"))
            O.dir = v;
        else {
            fprintf(stderr, "pmq-bench: unknown option %s\n", a);
            usage(stderr);
            exit(2);
        }
    }
    if (strcmp(O.mode, "throughput") != 0 && strcmp(O.mode, "latency") != 0) {
        fprintf(stderr, "pmq-bench: --mode is throughput or latency, not \"%s\"\n", O.mode);
        exit(2);
    }
    if (O.jobs < 1 || O.chunk < 1 || O.concurrency < 1 || O.concurrency > 1024 || O.workers < 1 ||
        O.workers > 256 || O.producer_conns < 1 || O.producer_conns > MAX_CONNS) {
        fprintf(stderr, "pmq-bench: --jobs, --chunk >= 1; --concurrency 1..1024; --workers 1..256; "
                        "--producer-conns 1..%d\n", MAX_CONNS);
        exit(2);
    }
    if (O.backlog == 0)
        O.backlog = O.jobs;
    if (O.jobs > O.backlog)
        O.jobs = O.backlog;
}

/*--- small helpers ---*/

static double mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static int64_t wall_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static void sleep_ms(double ms)
{
    if (ms <= 0)
        return;
    struct timespec ts = {(time_t)(ms / 1000), (long)(fmod(ms, 1000) * 1e6)};
    while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
        ;
}

static char *xasprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static char *xasprintf(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char *s = NULL;
    if (vasprintf(&s, fmt, ap) < 0) {
        perror("pmq-bench");
        exit(1);
    }
    va_end(ap);
    return s;
}

static void *xrealloc(void *p, size_t n)
{
    p = realloc(p, n ? n : 1);
    if (!p) {
        perror("pmq-bench");
        exit(1);
    }
    return p;
}

static const char *env_or(const char *name, const char *dflt)
{
    const char *v = getenv(name);
    return v && *v ? v : dflt;
}

static void note(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void note(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "pmq-bench: ");
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
}

/*--- JSON writer ---*/

typedef struct jb {
    char *s;
    size_t len, cap;
    int depth;
    int first[32];
} jb;

static void jb_put(jb *b, const char *s, size_t n)
{
    if (b->len + n + 1 > b->cap) {
        b->cap = (b->len + n + 1) * 2;
        b->s = xrealloc(b->s, b->cap);
    }
    memcpy(b->s + b->len, s, n);
    b->len += n;
    b->s[b->len] = '\0';
}

static void jb_raw(jb *b, const char *s)
{
    jb_put(b, s, strlen(s));
}

static void jb_sep(jb *b, const char *key)
{
    if (!b->first[b->depth])
        jb_raw(b, ",");
    b->first[b->depth] = 0;
    if (key) {
        jb_raw(b, "\"");
        jb_raw(b, key);
        jb_raw(b, "\":");
    }
}

static void jb_strval(jb *b, const char *v)
{
    jb_raw(b, "\"");
    for (const unsigned char *p = (const unsigned char *)v; *p; p++) {
        char tmp[8];
        if (*p == '"' || *p == '\\') {
            tmp[0] = '\\', tmp[1] = (char)*p, tmp[2] = 0;
        } else if (*p == '\n') {
            strcpy(tmp, "\\n");
        } else if (*p < 0x20) {
            snprintf(tmp, sizeof tmp, "\\u%04x", *p);
        } else {
            tmp[0] = (char)*p, tmp[1] = 0;
        }
        jb_raw(b, tmp);
    }
    jb_raw(b, "\"");
}

static void jb_str(jb *b, const char *key, const char *v)
{
    jb_sep(b, key);
    if (v)
        jb_strval(b, v);
    else
        jb_raw(b, "null");
}

static void jb_num(jb *b, const char *key, double v)
{
    char tmp[64];
    jb_sep(b, key);
    if (isnan(v) || isinf(v))
        jb_raw(b, "null");
    else {
        snprintf(tmp, sizeof tmp, "%.10g", v);
        jb_raw(b, tmp);
    }
}

static void jb_open(jb *b, const char *key, char c)
{
    if (b->depth > 0 || key)
        jb_sep(b, key);
    char s[2] = {c, 0};
    jb_raw(b, s);
    b->first[++b->depth] = 1;
}

static void jb_close(jb *b, char c)
{
    char s[2] = {c, 0};
    jb_raw(b, s);
    b->depth--;
}

/*--- CPU accounting from /proc (lib.mjs's method) ---*/

typedef struct proc {
    int pid, ppid;
    long ticks; /* utime + stime + cutime + cstime */
    long rss_kb;
} proc;

static proc *procs;
static size_t nprocs, procs_cap;

static void scan_procs(void)
{
    nprocs = 0;
    DIR *d = opendir("/proc");
    if (!d)
        return;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (!isdigit((unsigned char)e->d_name[0]))
            continue;
        char path[300], buf[1024];
        snprintf(path, sizeof path, "/proc/%s/stat", e->d_name);
        int fd = open(path, O_RDONLY);
        if (fd < 0)
            continue;
        ssize_t n = read(fd, buf, sizeof buf - 1);
        close(fd);
        if (n <= 0)
            continue;
        buf[n] = '\0';
        char *p = strrchr(buf, ')');
        if (!p)
            continue;
        /* fields after ")": state ppid pgrp session tty tpgid flags minflt cminflt majflt
         * cmajflt utime stime cutime cstime priority nice threads itreal starttime vsize rss */
        char state;
        int ppid;
        long u, s, cu, cs, rss;
        unsigned long vsize;
        if (sscanf(p + 2,
                   "%c %d %*d %*d %*d %*d %*u %*u %*u %*u %*u %ld %ld %ld %ld %*d %*d %*d %*d %*u "
                   "%lu %ld",
                   &state, &ppid, &u, &s, &cu, &cs, &vsize, &rss) != 8)
            continue;
        if (nprocs == procs_cap) {
            procs_cap = procs_cap ? procs_cap * 2 : 512;
            procs = xrealloc(procs, procs_cap * sizeof *procs);
        }
        procs[nprocs++] = (proc){atoi(e->d_name), ppid, u + s + cu + cs,
                                 rss * (sysconf(_SC_PAGESIZE) / 1024)};
    }
    closedir(d);
}

/* CPU seconds of the tree rooted at `root` in the last scan; NAN when it is gone. */
static double tree_cpu(int root)
{
    if (root <= 0)
        return NAN;
    int found = 0;
    for (size_t i = 0; i < nprocs; i++)
        found |= procs[i].pid == root;
    if (!found)
        return NAN;
    int *stack = xrealloc(NULL, (nprocs + 1) * sizeof *stack);
    size_t sp = 0;
    long ticks = 0;
    stack[sp++] = root;
    while (sp) {
        int p = stack[--sp];
        for (size_t i = 0; i < nprocs; i++) {
            if (procs[i].pid == p)
                ticks += procs[i].ticks;
            else if (procs[i].ppid == p && sp < nprocs)
                stack[sp++] = procs[i].pid;
        }
    }
    free(stack);
    return (double)ticks / (double)sysconf(_SC_CLK_TCK);
}

static int read_pid(const char *file)
{
    FILE *f = fopen(file, "r");
    int pid = 0;
    if (f) {
        if (fscanf(f, "%d", &pid) != 1)
            pid = 0;
        fclose(f);
    }
    return pid;
}

static const char *peerbench_dir;
static pid_t pmqd_pid;

static int pg_pid(void)
{
    char f[4096];
    snprintf(f, sizeof f, "%s/pg/postmaster.pid", peerbench_dir);
    return read_pid(f);
}

static int redis_pid(void)
{
    char f[4096];
    snprintf(f, sizeof f, "%s/redis/redis.pid", peerbench_dir);
    return read_pid(f);
}

typedef struct snap {
    double t;    /* monotonic ms */
    double pmqd; /* CPU seconds of each tree */
    double pg;
    double redis;
    double self;  /* this process */
    double busy;  /* machine, all cores */
    double steal;
} snap;

static snap take_snap(void)
{
    snap s;
    scan_procs();
    s.pmqd = pmqd_pid > 0 ? tree_cpu(pmqd_pid) : 0;
    s.pg = tree_cpu(pg_pid());
    s.redis = tree_cpu(redis_pid());
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    s.self = (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 +
             (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
    s.busy = s.steal = NAN;
    FILE *f = fopen("/proc/stat", "r");
    if (f) {
        unsigned long long user, nice, sys, idle, iowait, irq, softirq, steal = 0;
        if (fscanf(f, "cpu %llu %llu %llu %llu %llu %llu %llu %llu", &user, &nice, &sys, &idle,
                   &iowait, &irq, &softirq, &steal) >= 7) {
            double tck = (double)sysconf(_SC_CLK_TCK);
            s.busy = (double)(user + nice + sys + irq + softirq) / tck;
            s.steal = (double)steal / tck;
        }
        fclose(f);
    }
    s.t = mono_ms();
    return s;
}

/* RSS in MB of pmqd's processes (supervisor first, then its children). */
static void pmqd_rss(jb *b, const char *key)
{
    scan_procs();
    jb_open(b, key, '[');
    for (size_t i = 0; i < nprocs; i++)
        if (procs[i].pid == pmqd_pid)
            jb_num(b, NULL, round((double)procs[i].rss_kb / 1024));
    for (size_t i = 0; i < nprocs; i++)
        if (procs[i].ppid == pmqd_pid && pmqd_pid > 0)
            jb_num(b, NULL, round((double)procs[i].rss_kb / 1024));
    jb_close(b, ']');
}

/*--- meta data and results ---*/

static jb meta; /* the fields every RESULT line starts with (no braces) */

static void loadavg(double la[3])
{
    la[0] = la[1] = la[2] = NAN;
    FILE *f = fopen("/proc/loadavg", "r");
    if (f) {
        if (fscanf(f, "%lf %lf %lf", &la[0], &la[1], &la[2]) != 3)
            la[0] = la[1] = la[2] = NAN;
        fclose(f);
    }
}

static void build_meta(void)
{
    char date[64];
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    struct tm tm;
    gmtime_r(&ts.tv_sec, &tm);
    strftime(date, sizeof date, "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(date + strlen(date), sizeof date - strlen(date), ".%03ldZ", ts.tv_nsec / 1000000);

    char model[256] = "unknown", line[512];
    FILE *f = fopen("/proc/cpuinfo", "r");
    while (f && fgets(line, sizeof line, f)) {
        char *c = strchr(line, ':');
        if (!strncmp(line, "model name", 10) && c) {
            snprintf(model, sizeof model, "%s", c + 2);
            model[strcspn(model, "\n")] = '\0';
            break;
        }
    }
    if (f)
        fclose(f);
    double la[3];
    loadavg(la);
    char client[64];
    int v = PQlibVersion();
    snprintf(client, sizeof client, "libpq %d.%d, hiredis %d.%d.%d", v / 10000, v % 10000,
             HIREDIS_MAJOR, HIREDIS_MINOR, HIREDIS_PATCH);

    meta.first[0] = 1;
    jb_str(&meta, "peer", "pmq");
    jb_str(&meta, "version", PMQ_VERSION);
    jb_str(&meta, "client", client);
    jb_str(&meta, "mode", O.mode);
    jb_str(&meta, "tag", O.tag);
    jb_str(&meta, "date", date);
    jb_open(&meta, "host", '{');
    jb_num(&meta, "cpus", (double)sysconf(_SC_NPROCESSORS_ONLN));
    jb_str(&meta, "cpu_model", model);
    jb_num(&meta, "mem_gb", round((double)sysconf(_SC_PHYS_PAGES) * (double)sysconf(_SC_PAGESIZE) /
                                  (1024.0 * 1024 * 1024)));
    jb_open(&meta, "loadavg", '[');
    for (int i = 0; i < 3; i++)
        jb_num(&meta, NULL, la[i]);
    jb_close(&meta, ']');
    jb_close(&meta, '}');
    jb_open(&meta, "settings", '{');
    jb_num(&meta, "concurrency", (double)O.concurrency);
    jb_num(&meta, "workers", (double)O.workers);
    if (!strcmp(O.mode, "throughput")) {
        jb_num(&meta, "jobs", (double)O.jobs);
        jb_num(&meta, "chunk", (double)O.chunk);
        if (O.backlog != O.jobs)
            jb_num(&meta, "backlog", (double)O.backlog);
    } else {
        jb_str(&meta, "rates", O.rates);
        jb_num(&meta, "duration", O.duration);
        jb_num(&meta, "idleSamples", (double)O.idle_samples);
        jb_num(&meta, "idleInterval", (double)O.idle_interval);
    }
    if (O.payload_bytes)
        jb_num(&meta, "payloadBytes", (double)O.payload_bytes);
    if (O.analyze)
        jb_str(&meta, "analyze", "yes");
    if (O.checkpoint)
        jb_str(&meta, "checkpoint", "yes");
    jb_close(&meta, '}');
    jb_open(&meta, "pmq", '{');
    jb_num(&meta, "redis_db", (double)O.redis_db);
    jb_num(&meta, "producer_conns", (double)O.producer_conns);
    jb_str(&meta, "enqueue", "pmq_enqueue_many() per chunk; pmq_enqueue() per job in latency mode, prepared,"
                               " one transaction each");
    jb_close(&meta, '}');
}

static void emit(jb *body)
{
    jb line = {0};
    jb_raw(&line, "{");
    jb_raw(&line, meta.s);
    if (body && body->len) {
        jb_raw(&line, ",");
        jb_raw(&line, body->s);
    }
    jb_raw(&line, "}");
    printf("RESULT %s\n", line.s);
    fflush(stdout);
    if (O.out && *O.out) {
        char *dir = strdup(O.out);
        char *slash = strrchr(dir, '/');
        if (slash) {
            *slash = '\0';
            char *cmd = xasprintf("mkdir -p '%s'", dir);
            if (system(cmd) != 0)
                note("could not create %s", dir);
            free(cmd);
        }
        free(dir);
        FILE *f = fopen(O.out, "a");
        if (!f || fprintf(f, "%s\n", line.s) < 0 || fclose(f) != 0)
            note("could not append to %s: %s", O.out, strerror(errno));
    }
    free(line.s);
}

static void stop_pmqd(void);

static void fail(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));
static void fail(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char *msg = NULL;
    if (vasprintf(&msg, fmt, ap) < 0)
        msg = NULL;
    va_end(ap);
    fprintf(stderr, "BENCH FAILED: %s\n", msg ? msg : fmt);
    stop_pmqd();
    jb b = {0};
    b.first[0] = 1;
    jb_str(&b, "error", msg ? msg : fmt);
    emit(&b);
    exit(1);
}

/*--- servers ---*/

static const char *pg_url;
static PGconn *admin;
static redisContext *rds;

static PGconn *pg_connect(void)
{
    const char *keys[] = {"dbname", "application_name", NULL};
    const char *vals[] = {pg_url, "pmq-bench", NULL};
    PGconn *c = PQconnectdbParams(keys, vals, 1);
    if (PQstatus(c) != CONNECTION_OK)
        fail("could not connect to PostgreSQL at %s: %s (servers-up.sh starts it)", pg_url,
             PQerrorMessage(c));
    return c;
}

static PGresult *sql(PGconn *c, const char *q, int n, const char *const *params)
{
    PGresult *r = PQexecParams(c, q, n, NULL, params, NULL, NULL, 0);
    ExecStatusType st = PQresultStatus(r);
    if (st != PGRES_TUPLES_OK && st != PGRES_COMMAND_OK)
        fail("%s: %s", q, PQerrorMessage(c));
    return r;
}

/* Several statements allowed (simple query protocol). */
static void sql_do(PGconn *c, const char *q)
{
    PGresult *r = PQexec(c, q);
    ExecStatusType st = PQresultStatus(r);
    if (st != PGRES_TUPLES_OK && st != PGRES_COMMAND_OK)
        fail("%s: %s", q, PQerrorMessage(c));
    PQclear(r);
}

static long sql_long(PGconn *c, const char *q)
{
    PGresult *r = sql(c, q, 0, NULL);
    long v = PQntuples(r) && !PQgetisnull(r, 0, 0) ? atol(PQgetvalue(r, 0, 0)) : -1;
    PQclear(r);
    return v;
}

static redisReply *rcmd(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static redisReply *rcmd(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    redisReply *r = redisvCommand(rds, fmt, ap);
    va_end(ap);
    if (!r)
        fail("Redis: %s", rds->errstr);
    if (r->type == REDIS_REPLY_ERROR)
        fail("Redis: %s", r->str);
    return r;
}

static void redis_connect(void)
{
    const char *host = env_or("PEERBENCH_REDIS_HOST", "127.0.0.1");
    int port = atoi(env_or("PEERBENCH_REDIS_PORT", "56379"));
    struct timeval tv = {5, 0};
    rds = redisConnectWithTimeout(host, port, tv);
    if (!rds || rds->err)
        fail("could not connect to Redis at %s:%d: %s (servers-up.sh starts it)", host, port,
             rds ? rds->errstr : "out of memory");
    /* A Redis restarted on a large AOF answers LOADING for a while (ioredis,
     * BullMQ's client, waits too). */
    for (int waited = 0;; waited++) {
        redisReply *r = redisCommand(rds, "PING");
        int loading = r && r->type == REDIS_REPLY_ERROR && strncmp(r->str, "LOADING", 7) == 0;
        if (r)
            freeReplyObject(r);
        if (!loading)
            break;
        if (waited == 0)
            note("Redis at %s:%d is loading its data; waiting (up to 5 minutes)", host, port);
        if (waited >= 300)
            fail("Redis at %s:%d is still loading its data after 5 minutes", host, port);
        sleep(1);
    }
    freeReplyObject(rcmd("SELECT %ld", O.redis_db));
}

/* pmq:stats:bench "completed": written by pmqd after each ack commit. */
static long redis_completed(void)
{
    char key[PMQ_KEY_MAX];
    redisReply *r = rcmd("HGET %s completed", pmq_key_stats(key, "", QUEUE));
    long v = r->type == REDIS_REPLY_STRING ? atol(r->str) : 0;
    freeReplyObject(r);
    return v;
}

/*--- pmqd ---*/

static char *pmqd_exe, *pmqctl_exe, *plugin_so, *run_dir, *ini_path, *log_path;

static void find_programs(void)
{
    const char *bd = env_or("PMQ_BENCH_BUILDDIR", PMQ_BENCH_BUILDDIR);
    pmqd_exe = xasprintf("%s", env_or("PMQ_BENCH_PMQD", xasprintf("%s/core/pmqd", bd)));
    pmqctl_exe = xasprintf("%s", env_or("PMQ_BENCH_PMQCTL", xasprintf("%s/core/pmqctl", bd)));
    plugin_so =
        xasprintf("%s", env_or("PMQ_BENCH_PLUGIN", xasprintf("%s/tests/bench/.libs/noop.so", bd)));
    const char *need[] = {pmqd_exe, pmqctl_exe, plugin_so};
    for (int i = 0; i < 3; i++)
        if (access(need[i], R_OK) != 0)
            fail("%s: %s (build with `make tests/bench/noop.la core/pmqd core/pmqctl`, or set "
                 "PMQ_BENCH_BUILDDIR)", need[i], strerror(errno));
}

static void write_config(void)
{
    run_dir = O.dir ? xasprintf("%s", O.dir) : xasprintf("%s/pmq-bench", peerbench_dir);
    char *cmd = xasprintf("mkdir -p '%s'", run_dir);
    if (system(cmd) != 0)
        fail("could not create %s", run_dir);
    free(cmd);
    ini_path = xasprintf("%s/pmqd.ini", run_dir);
    log_path = xasprintf("%s/pmqd.log", run_dir);
    FILE *f = fopen(ini_path, "w");
    if (!f)
        fail("%s: %s", ini_path, strerror(errno));
    fprintf(f,
            "; written by pmq-bench for each run: pmqd against the peers' private servers\n"
            "[pmqd]\nlog_level = info\ngrace_period = 10s\n\n"
            "[database]\nconninfo = \"%s\"\nconnect_timeout = 5\n\n"
            "[redis]\nhost = %s\nport = %s\ndb = %ld\n\n"
            "[plugin noop]\npath = %s\n\n"
            "[queue " QUEUE "]\nmax_attempts = 3\ntimeout = 30s\n\n"
            "[pool " QUEUE "]\nqueues = " QUEUE "\nprocesses = %ld\nthreads = %ld\n",
            pg_url, env_or("PEERBENCH_REDIS_HOST", "127.0.0.1"),
            env_or("PEERBENCH_REDIS_PORT", "56379"), O.redis_db, plugin_so, O.workers,
            O.concurrency);
    /* Experiments: more INI text, e.g. "[migrator]\nbatch_size = 1000\n". */
    fprintf(f, "\n%s\n", env_or("PMQ_BENCH_INI", ""));
    if (fclose(f) != 0)
        fail("%s: %s", ini_path, strerror(errno));
}

static pid_t spawn(const char *exe, const char *const argv[])
{
    pid_t pid = fork();
    if (pid < 0)
        fail("fork: %s", strerror(errno));
    if (pid == 0) {
        int fd = open(log_path, O_WRONLY | O_CREAT | O_APPEND, 0644);
        if (fd >= 0) {
            dup2(fd, STDOUT_FILENO);
            dup2(fd, STDERR_FILENO);
            close(fd);
        }
        execv(exe, (char *const *)argv);
        fprintf(stderr, "could not run %s: %s\n", exe, strerror(errno));
        _exit(127);
    }
    return pid;
}

static void log_marker(const char *what)
{
    FILE *f = fopen(log_path, "a");
    if (f) {
        time_t t = time(NULL);
        char ts[64];
        strftime(ts, sizeof ts, "%FT%TZ", gmtime(&t));
        fprintf(f, "==== pmq-bench %s %s (mode %s, %ld x %ld)\n", ts, what, O.mode, O.workers,
                O.concurrency);
        fclose(f);
    }
}

static void migrate(void)
{
    const char *argv[] = {"pmqctl", "-c", ini_path, "migrate", NULL};
    log_marker("pmqctl migrate");
    pid_t pid = spawn(pmqctl_exe, argv);
    int st;
    waitpid(pid, &st, 0);
    if (!WIFEXITED(st) || WEXITSTATUS(st) != 0)
        fail("pmqctl migrate failed (see %s)", log_path);
}

static off_t log_offset; /* where this run's pmqd log starts */

static void start_pmqd(void)
{
    const char *argv[] = {"pmqd", "-c", ini_path, NULL};
    log_marker("pmqd start");
    struct stat st;
    log_offset = stat(log_path, &st) == 0 ? st.st_size : 0;
    pmqd_pid = spawn(pmqd_exe, argv);
}

static int pmqd_alive(void)
{
    int st;
    return pmqd_pid > 0 && waitpid(pmqd_pid, &st, WNOHANG) == 0;
}

static void stop_pmqd(void)
{
    if (pmqd_pid <= 0)
        return;
    kill(pmqd_pid, SIGTERM);
    double deadline = mono_ms() + 20000;
    int st;
    while (mono_ms() < deadline) {
        if (waitpid(pmqd_pid, &st, WNOHANG) != 0) {
            pmqd_pid = 0;
            return;
        }
        sleep_ms(20);
    }
    note("pmqd did not stop within 20 s of SIGTERM: SIGKILL");
    kill(pmqd_pid, SIGKILL);
    waitpid(pmqd_pid, &st, 0);
    pmqd_pid = 0;
}

/* pmqd's warnings and errors during this run: how many, and the first few. */
static void log_problems(jb *b)
{
    FILE *f = fopen(log_path, "r");
    long n = 0;
    jb_open(b, "pmqd_log_problems", '{');
    jb_open(b, "first", '[');
    if (f && fseeko(f, log_offset, SEEK_SET) == 0) {
        char line[1024];
        while (fgets(line, sizeof line, f)) {
            if (!strstr(line, " warning: ") && !strstr(line, " error: "))
                continue;
            line[strcspn(line, "\n")] = '\0';
            if (n++ < 5)
                jb_str(b, NULL, line);
        }
    }
    if (f)
        fclose(f);
    jb_close(b, ']');
    jb_num(b, "count", (double)n);
    jb_close(b, '}');
}

/* Claims left in the workers' pmq:active:* hashes (should be 0 after a drain). */
static long active_left(void)
{
    long total = 0;
    char cursor[32] = "0", head[PMQ_KEY_MAX];
    pmq_key_active(head, "", "");
    do {
        redisReply *r = rcmd("SCAN %s MATCH %s* COUNT 1000", cursor, head);
        snprintf(cursor, sizeof cursor, "%s", r->element[0]->str);
        for (size_t i = 0; i < r->element[1]->elements; i++) {
            redisReply *l = rcmd("HLEN %s", r->element[1]->element[i]->str);
            total += l->integer;
            freeReplyObject(l);
        }
        freeReplyObject(r);
    } while (strcmp(cursor, "0") != 0);
    return total;
}

static void on_signal(int sig)
{
    if (pmqd_pid > 0)
        kill(pmqd_pid, SIGTERM);
    signal(sig, SIG_DFL);
    raise(sig);
}

/* Every worker process registered (live heartbeat) and the migrator waiting. */
static void wait_ready(void)
{
    double deadline = mono_ms() + 60000, migrator_grace = mono_ms() + 10000;
    for (;;) {
        if (!pmqd_alive())
            fail("pmqd exited during start-up (see %s)", log_path);
        char key[PMQ_KEY_MAX];
        redisReply *m = rcmd("SMEMBERS %s", pmq_key_workers(key, ""));
        long live = 0;
        for (size_t i = 0; i < m->elements; i++) {
            redisReply *e = rcmd("EXISTS %s", pmq_key_heartbeat(key, "", m->element[i]->str));
            live += e->integer;
            freeReplyObject(e);
        }
        freeReplyObject(m);
        /* The migrator has claimed once and now waits (its timer query ran). */
        long mig = sql_long(admin, "SELECT count(*) FROM pg_stat_activity WHERE application_name"
                                   " = 'pmq' AND query LIKE '%min(run_at)%'");
        if (live >= O.workers && (mig > 0 || mono_ms() > migrator_grace))
            return;
        if (mono_ms() > deadline)
            fail("pmqd not ready after 60 s: %ld of %ld worker processes, migrator %s (see %s)",
                 live, O.workers, mig > 0 ? "ready" : "not seen", log_path);
        sleep_ms(20);
    }
}

/*--- reset ---*/

static void reset(int paused)
{
    freeReplyObject(rcmd("FLUSHDB"));
    sql_do(admin, "TRUNCATE jobs, job_logs CASCADE");
    const char *p[1] = {paused ? "true" : "false"};
    PQclear(sql(admin, "UPDATE job_queues SET is_paused = $1::boolean WHERE name = '" QUEUE "'", 1,
                p));
    sql_do(admin, "CHECKPOINT");
}

/*--- payloads ---*/

static void put_payload(jb *b, long i, int64_t t, const char *phase)
{
    char head[128];
    if (t)
        snprintf(head, sizeof head, "{\"t\":%lld,\"s\":%ld,\"p\":\"%s\"", (long long)t, i, phase);
    else
        snprintf(head, sizeof head, "{\"i\":%ld", i);
    jb_raw(b, head);
    if (O.payload_bytes > 0) {
        long pad = O.payload_bytes - (long)strlen(head) - 10; /* ,"pad":"" + } */
        jb_raw(b, ",\"pad\":\"");
        static char xs[4096];
        if (!xs[0])
            memset(xs, 'x', sizeof xs - 1);
        for (; pad > 0; pad -= (long)(sizeof xs - 1))
            jb_put(b, xs, (size_t)(pad < (long)(sizeof xs - 1) ? pad : (long)(sizeof xs - 1)));
        jb_raw(b, "\"");
    }
    jb_raw(b, "}");
}

/*--- percentiles (nearest rank, as lib.mjs) ---*/

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static double pct(const double *s, size_t n, double p)
{
    if (!n)
        return NAN;
    long k = (long)ceil(p / 100 * (double)n) - 1;
    if (k < 0)
        k = 0;
    if (k > (long)n - 1)
        k = (long)n - 1;
    return s[k];
}

static void stats(jb *b, const char *key, double *v, size_t n, int full)
{
    qsort(v, n, sizeof *v, cmp_double);
    double sum = 0;
    for (size_t i = 0; i < n; i++)
        sum += v[i];
    jb_open(b, key, '{');
    if (full)
        jb_num(b, "n", (double)n);
    jb_num(b, "p50", pct(v, n, 50));
    if (full)
        jb_num(b, "p95", pct(v, n, 95));
    jb_num(b, "p99", pct(v, n, 99));
    jb_num(b, "max", n ? v[n - 1] : NAN);
    if (full) {
        jb_num(b, "min", n ? v[0] : NAN);
        jb_num(b, "mean", n ? sum / (double)n : NAN);
    }
    jb_close(b, '}');
}

/*--- throughput ---*/

static void run_throughput(void)
{
    reset(1);
    PGconn *prod = pg_connect();
    const char *q = "SELECT count(*) FROM pmq_enqueue_many('" QUEUE "', $1::jsonb)";
    jb arr = {0};

    /* --- enqueue phase: no pmqd running --- */
    snap e0 = take_snap();
    for (long i = 0; i < O.backlog; i += O.chunk) {
        long n = O.backlog - i < O.chunk ? O.backlog - i : O.chunk;
        arr.len = 0;
        jb_raw(&arr, "[");
        for (long k = 0; k < n; k++) {
            if (k)
                jb_raw(&arr, ",");
            put_payload(&arr, i + k, 0, NULL);
        }
        jb_raw(&arr, "]");
        const char *params[1] = {arr.s};
        PGresult *r = sql(prod, q, 1, params);
        if (atol(PQgetvalue(r, 0, 0)) != n)
            fail("pmq_enqueue_many returned %s ids for %ld jobs", PQgetvalue(r, 0, 0), n);
        PQclear(r);
    }
    snap e1 = take_snap();
    free(arr.s);
    PQfinish(prod);
    long queued = sql_long(admin, "SELECT count(*) FROM jobs WHERE status = 'queued'");
    if (queued != O.backlog)
        fail("expected %ld queued jobs after enqueue, found %ld", O.backlog, queued);
    if (O.analyze)
        sql_do(admin, "ANALYZE jobs, job_logs");
    if (O.checkpoint)
        sql_do(admin, "CHECKPOINT");

    /* --- processing phase --- */
    double spawn_t = mono_ms();
    start_pmqd();
    wait_ready();
    double ready_t = mono_ms();
    sleep_ms(300); /* let the children settle into their idle wait */
    PGresult *w0 = sql(admin, "SELECT pg_current_wal_insert_lsn()", 0, NULL);
    char *lsn0 = strdup(PQgetvalue(w0, 0, 0));
    PQclear(w0);
    snap p0 = take_snap();
    sql_do(admin, "BEGIN; UPDATE job_queues SET is_paused = false, updated_at = now()"
                  " WHERE name = '" QUEUE "'; NOTIFY pmq_jobs; COMMIT");
    char paused[PMQ_KEY_MAX];
    pmq_key_paused(paused, "");
    freeReplyObject(rcmd("SREM %s " QUEUE, paused));
    double deadline = p0.t + (double)O.timeout * 1000, last_pg = p0.t, done_t = 0, srem_again = 1;
    for (;;) {
        sleep_ms(50);
        double now = mono_ms();
        if (srem_again && now - p0.t > 200) { /* in case maintenance synced the pause in between */
            freeReplyObject(rcmd("SREM %s " QUEUE, paused));
            srem_again = 0;
        }
        if (!pmqd_alive())
            fail("pmqd exited during the run (see %s)", log_path);
        if (redis_completed() >= O.jobs || now - last_pg >= 5000) {
            last_pg = now;
            if (sql_long(admin, "SELECT count(*) FROM jobs WHERE status = 'completed'") >= O.jobs) {
                done_t = mono_ms();
                break;
            }
        }
        if (now > deadline) {
            long c = sql_long(admin, "SELECT count(*) FROM jobs WHERE status = 'completed'");
            fail("timeout: %ld of %ld jobs completed after %ld s", c, O.jobs, O.timeout);
        }
    }
    snap p1 = take_snap();
    const char *wp[1] = {lsn0};
    PGresult *w1 = sql(admin, "SELECT pg_wal_lsn_diff(pg_current_wal_insert_lsn(), $1::pg_lsn)", 1, wp);
    double wal_bytes = atof(PQgetvalue(w1, 0, 0));
    PQclear(w1);
    free(lsn0);
    jb b = {0};
    b.first[0] = 1;
    pmqd_rss(&b, "worker_rss_mb");
    /* The last acks' Redis clean-up runs after their commit: wait until the
     * active lists stop shrinking (at most 3 s) before reading what is left. */
    long left = O.backlog == O.jobs ? active_left() : -1; /* with a backlog, work goes on */
    for (double until = mono_ms() + 3000; left > 0 && mono_ms() < until;) {
        sleep_ms(100);
        long now_left = active_left();
        if (now_left == left)
            break;
        left = now_left;
    }
    stop_pmqd();
    log_problems(&b);
    jb_num(&b, "redis_active_left", left < 0 ? NAN : (double)left);

    /* --- what PostgreSQL holds --- */
    PGresult *r = sql(admin,
                      "SELECT (SELECT count(*) FROM jobs WHERE status = 'completed'),"
                      " (SELECT count(*) FROM job_logs WHERE status = 'completed'),"
                      " (SELECT count(DISTINCT job_id) FROM job_logs WHERE status = 'completed'),"
                      " (SELECT count(*) FROM jobs j WHERE status = 'completed' AND NOT EXISTS"
                      "   (SELECT 1 FROM job_logs l WHERE l.job_id = j.id))",
                      0, NULL);
    long completed = atol(PQgetvalue(r, 0, 0)), logs = atol(PQgetvalue(r, 0, 1));
    long logged_jobs = atol(PQgetvalue(r, 0, 2)), unlogged = atol(PQgetvalue(r, 0, 3));
    PQclear(r);

    double N = (double)O.jobs, enq_s = (e1.t - e0.t) / 1000, proc_s = (done_t - p0.t) / 1000;
    double worker = p1.pmqd - p0.pmqd, pg = p1.pg - p0.pg, redis = p1.redis - p0.redis;
    double server = pg + redis, producer = p1.self - p0.self, busy = p1.busy - p0.busy;
    jb_num(&b, "enqueue_s", enq_s);
    jb_num(&b, "enqueue_jobs_per_s", (double)O.backlog / enq_s);
    jb_num(&b, "enqueue_producer_cpu_s", e1.self - e0.self);
    jb_num(&b, "enqueue_server_cpu_s", (e1.pg - e0.pg) + (e1.redis - e0.redis));
    jb_num(&b, "enqueue_pg_cpu_s", e1.pg - e0.pg);
    jb_num(&b, "enqueue_redis_cpu_s", e1.redis - e0.redis);
    jb_num(&b, "worker_startup_s", (ready_t - spawn_t) / 1000);
    jb_num(&b, "process_s", proc_s);
    jb_num(&b, "process_jobs_per_s", N / proc_s);
    jb_num(&b, "process_worker_cpu_s", worker);
    jb_num(&b, "process_server_cpu_s", server);
    jb_num(&b, "process_pg_cpu_s", pg);
    jb_num(&b, "process_redis_cpu_s", redis);
    jb_num(&b, "process_machine_busy_cpu_s", busy);
    jb_num(&b, "process_other_cpu_s", busy - worker - server - producer);
    jb_num(&b, "process_steal_s", p1.steal - p0.steal);
    jb_num(&b, "worker_cpu_us_per_job", worker / N * 1e6);
    jb_num(&b, "server_cpu_us_per_job", server / N * 1e6);
    jb_num(&b, "pg_cpu_us_per_job", pg / N * 1e6);
    jb_num(&b, "redis_cpu_us_per_job", redis / N * 1e6);
    jb_num(&b, "total_cpu_us_per_job", (worker + server) / N * 1e6);
    /* WAL written during the drain (all of the cluster's, i.e. pmq's plus autovacuum). */
    jb_num(&b, "process_wal_bytes_per_job", wal_bytes / N);
    /* Per 1,000 jobs, as the issue asks. */
    jb_num(&b, "cpu_s_per_1000_jobs", (worker + server) / N * 1000);

    jb_open(&b, "processed_per_worker", '[');
    r = sql(admin, "SELECT count(*) FROM job_logs GROUP BY worker_id ORDER BY worker_id", 0, NULL);
    for (int i = 0; i < PQntuples(r); i++)
        jb_num(&b, NULL, atof(PQgetvalue(r, i, 0)));
    PQclear(r);
    jb_close(&b, ']');
    jb_open(&b, "verified", '{');
    jb_num(&b, "backlog", (double)O.backlog);
    jb_num(&b, "completed", (double)completed);
    jb_num(&b, "job_logs_completed", (double)logs);
    jb_num(&b, "jobs_with_log", (double)logged_jobs);
    jb_num(&b, "completed_without_log", (double)unlogged);
    /* Where the rest of a --backlog is: queued in PostgreSQL or moved to Redis. */
    jb_open(&b, "status_counts", '{');
    r = sql(admin, "SELECT status, count(*) FROM jobs GROUP BY status ORDER BY status", 0, NULL);
    for (int i = 0; i < PQntuples(r); i++)
        jb_num(&b, PQgetvalue(r, i, 0), atof(PQgetvalue(r, i, 1)));
    PQclear(r);
    jb_close(&b, '}');
    jb_close(&b, '}');
    double la[3];
    loadavg(la);
    jb_open(&b, "loadavg_after", '[');
    for (int i = 0; i < 3; i++)
        jb_num(&b, NULL, la[i]);
    jb_close(&b, ']');
    emit(&b);
    free(b.s);
    if (completed < O.jobs || (O.backlog == O.jobs && (logged_jobs != completed || unlogged)))
        fail("verification: %ld completed, %ld with a job_logs row, %ld without", completed,
             logged_jobs, unlogged);
}

/*--- latency ---*/

typedef struct pconn {
    PGconn *c;
    int64_t *fifo; /* send times (wall us) of the calls in flight, in order */
    size_t head, tail, cap;
} pconn;

static void fifo_push(pconn *p, int64_t t)
{
    if (p->tail == p->cap) {
        if (p->head > 0) {
            memmove(p->fifo, p->fifo + p->head, (p->tail - p->head) * sizeof *p->fifo);
            p->tail -= p->head;
            p->head = 0;
        }
        if (p->tail == p->cap) {
            p->cap = p->cap ? p->cap * 2 : 1024;
            p->fifo = xrealloc(p->fifo, p->cap * sizeof *p->fifo);
        }
    }
    p->fifo[p->tail++] = t;
}

static double *addlat;
static size_t naddlat, addlat_cap;
static long enqueue_errors;

static void add_latency(double ms)
{
    if (naddlat == addlat_cap) {
        addlat_cap = addlat_cap ? addlat_cap * 2 : 4096;
        addlat = xrealloc(addlat, addlat_cap * sizeof *addlat);
    }
    addlat[naddlat++] = ms;
}

/* Read whatever results arrived; returns the calls still in flight. */
static size_t pump(pconn *p)
{
    if (!PQconsumeInput(p->c))
        fail("producer connection: %s", PQerrorMessage(p->c));
    int nulls = 0;
    while (p->head < p->tail && !PQisBusy(p->c)) {
        PGresult *r = PQgetResult(p->c);
        if (!r) {
            if (++nulls > 1)
                break;
            continue;
        }
        nulls = 0;
        ExecStatusType st = PQresultStatus(r);
        if (st == PGRES_PIPELINE_SYNC) {
            add_latency((double)(wall_us() - p->fifo[p->head++]) / 1000);
        } else if (st == PGRES_FATAL_ERROR || st == PGRES_PIPELINE_ABORTED) {
            if (enqueue_errors++ < 5)
                note("enqueue failed: %s", PQresultErrorMessage(r));
        }
        PQclear(r);
    }
    return p->tail - p->head;
}

static void run_phase(pconn *pc, const char *phase, long *seq, jb *out, long *cum_sent)
{
    snap c0 = take_snap();
    naddlat = 0;
    enqueue_errors = 0;
    long sent = 0;
    jb pay = {0};
    double t0 = mono_ms(), send_end;
    int idle = !strcmp(phase, "idle");
    double rate = idle ? 1000.0 / (double)O.idle_interval : atof(phase);
    if (idle) {
        for (long i = 0; i < O.idle_samples; i++) {
            int64_t t = wall_us();
            pay.len = 0;
            put_payload(&pay, (*seq)++, t, phase);
            const char *params[1] = {pay.s};
            PGresult *r = PQexecPrepared(pc[0].c, "enqueue", 1, params, NULL, NULL, 0);
            if (PQresultStatus(r) != PGRES_TUPLES_OK) {
                if (enqueue_errors++ < 5)
                    note("enqueue failed: %s", PQerrorMessage(pc[0].c));
            }
            PQclear(r);
            add_latency((double)(wall_us() - t) / 1000);
            sent++;
            sleep_ms((double)O.idle_interval);
        }
        send_end = mono_ms();
    } else {
        if (rate <= 0)
            fail("--rates: \"%s\" is neither idle nor a positive rate", phase);
        long total = lround(rate * O.duration);
        int n = (int)O.producer_conns;
        for (int k = 0; k < n; k++) {
            if (!PQenterPipelineMode(pc[k].c) || PQsetnonblocking(pc[k].c, 1) != 0)
                fail("pipeline mode: %s", PQerrorMessage(pc[k].c));
        }
        size_t inflight = 0;
        while (sent < total || inflight > 0) {
            double now = mono_ms();
            long due = (long)floor((now - t0) / 1000 * rate) + 1;
            if (due > total)
                due = total;
            while (sent < due) {
                /* to the connection with the fewest calls in flight */
                int best = 0;
                for (int k = 1; k < n; k++)
                    if (pc[k].tail - pc[k].head < pc[best].tail - pc[best].head)
                        best = k;
                int64_t t = wall_us();
                pay.len = 0;
                put_payload(&pay, (*seq)++, t, phase);
                const char *params[1] = {pay.s};
                if (!PQsendQueryPrepared(pc[best].c, "enqueue", 1, params, NULL, NULL, 0) ||
                    !PQpipelineSync(pc[best].c))
                    fail("send: %s", PQerrorMessage(pc[best].c));
                fifo_push(&pc[best], t);
                sent++;
            }
            struct pollfd fds[MAX_CONNS];
            for (int k = 0; k < n; k++) {
                int fl = PQflush(pc[k].c);
                if (fl < 0)
                    fail("flush: %s", PQerrorMessage(pc[k].c));
                fds[k] = (struct pollfd){PQsocket(pc[k].c), POLLIN | (fl ? POLLOUT : 0), 0};
            }
            /* until the next job is due (or 50 ms when all are sent) */
            double next = sent < total ? t0 + (double)sent / rate * 1000 : mono_ms() + 50;
            double wait = next - mono_ms();
            poll(fds, (nfds_t)n, wait > 0 ? (int)ceil(wait) : 0);
            inflight = 0;
            for (int k = 0; k < n; k++)
                inflight += pump(&pc[k]);
        }
        send_end = mono_ms();
        for (int k = 0; k < n; k++) {
            PQsetnonblocking(pc[k].c, 0);
            if (!PQexitPipelineMode(pc[k].c))
                fail("leaving pipeline mode: %s", PQerrorMessage(pc[k].c));
        }
    }
    free(pay.s);
    *cum_sent += sent;

    /* wait until the phase's jobs ran (the peers wait up to 120 s) */
    double deadline = mono_ms() + 120000, last_pg = 0;
    for (;;) {
        double now = mono_ms();
        if (redis_completed() >= *cum_sent || now - last_pg >= 1000) {
            last_pg = now;
            if (sql_long(admin, "SELECT count(*) FROM jobs WHERE status = 'completed'") >=
                *cum_sent)
                break;
        }
        if (now > deadline || !pmqd_alive())
            break;
        sleep_ms(20);
    }
    snap c1 = take_snap();

    /* latencies, from PostgreSQL: handler start - client send time, - created_at */
    const char *params[1] = {phase};
    PGresult *r = sql(admin,
                      "SELECT (extract(epoch FROM started_at) * 1e6 - (payload->>'t')::float8)"
                      " / 1000, extract(epoch FROM started_at - created_at) * 1000 FROM jobs"
                      " WHERE payload->>'p' = $1 AND status = 'completed'",
                      1, params);
    size_t n = (size_t)PQntuples(r);
    double *lat = xrealloc(NULL, (n + 1) * sizeof *lat), *lat2 = xrealloc(NULL, (n + 1) * sizeof *lat2);
    for (size_t i = 0; i < n; i++) {
        lat[i] = atof(PQgetvalue(r, (int)i, 0));
        lat2[i] = atof(PQgetvalue(r, (int)i, 1));
    }
    PQclear(r);

    jb_open(out, NULL, '{');
    jb_str(out, "phase", phase);
    jb_num(out, "target_rate", rate);
    jb_num(out, "sent", (double)sent);
    jb_num(out, "processed", (double)n);
    jb_num(out, "achieved_rate", (double)sent / ((send_end - t0) / 1000));
    stats(out, "lat_ms", lat, n, 1);
    stats(out, "lat_created_ms", lat2, n, 1);
    stats(out, "enqueue_call_ms", addlat, naddlat, 0);
    jb_num(out, "enqueue_errors", (double)enqueue_errors);
    jb_num(out, "server_cpu_s", (c1.pg - c0.pg) + (c1.redis - c0.redis));
    jb_num(out, "pg_cpu_s", c1.pg - c0.pg);
    jb_num(out, "redis_cpu_s", c1.redis - c0.redis);
    jb_num(out, "worker_cpu_s", c1.pmqd - c0.pmqd);
    jb_num(out, "producer_cpu_s", c1.self - c0.self);
    jb_num(out, "machine_busy_cpu_s", c1.busy - c0.busy);
    jb_num(out, "wall_s", (c1.t - c0.t) / 1000);
    double la[3];
    loadavg(la);
    jb_num(out, "loadavg_1m", la[0]);
    jb_close(out, '}');
    free(lat);
    free(lat2);
}

static void run_latency(void)
{
    reset(0);
    pconn pc[MAX_CONNS] = {{0}};
    for (long k = 0; k < O.producer_conns; k++) {
        pc[k].c = pg_connect();
        /* Prepared once per connection, as a C producer would. */
        PGresult *r = PQprepare(pc[k].c, "enqueue", ENQUEUE_SQL, 1, NULL);
        if (PQresultStatus(r) != PGRES_COMMAND_OK)
            fail("prepare: %s", PQerrorMessage(pc[k].c));
        PQclear(r);
    }
    start_pmqd();
    wait_ready();
    snap a0 = take_snap();
    sleep_ms(2000); /* idle workers settle (as the peers do) */
    jb b = {0};
    b.first[0] = 1;
    jb_open(&b, "phases", '[');
    long seq = 0, cum = 0;
    char *rates = strdup(O.rates), *save = NULL;
    for (char *ph = strtok_r(rates, ",", &save); ph; ph = strtok_r(NULL, ",", &save)) {
        run_phase(pc, ph, &seq, &b, &cum);
        sleep_ms(1000);
    }
    free(rates);
    jb_close(&b, ']');
    snap a1 = take_snap();
    jb_num(&b, "worker_cpu_s_total", a1.pmqd - a0.pmqd);
    jb_num(&b, "redis_active_left", (double)active_left());
    stop_pmqd();
    log_problems(&b);
    for (long k = 0; k < O.producer_conns; k++) {
        PQfinish(pc[k].c);
        free(pc[k].fifo);
    }
    emit(&b);
    free(b.s);
}

int main(int argc, char **argv)
{
    parse_args(argc, argv);
    setvbuf(stdout, NULL, _IOLBF, 0);
    peerbench_dir = env_or("PEERBENCH_DIR", "/tmp/peerbench");
    pg_url = env_or("PEERBENCH_PG_URL", "postgres://postgres@127.0.0.1:55432/peerbench");
    build_meta();
    signal(SIGINT, on_signal);
    signal(SIGTERM, on_signal);
    signal(SIGPIPE, SIG_IGN);

    find_programs();
    write_config();
    admin = pg_connect();
    sql_do(admin, "SET max_parallel_workers_per_gather = 0"); /* cheap polls */
    redis_connect();
    if (!pg_pid() || !redis_pid())
        note("no server pid file under %s: server CPU will be null", peerbench_dir);
    migrate();

    if (!strcmp(O.mode, "throughput"))
        run_throughput();
    else
        run_latency();
    PQfinish(admin);
    redisFree(rds);
    return 0;
}
