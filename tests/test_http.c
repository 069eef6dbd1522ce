/*
 * test_http.c -- pmqd's HTTP endpoint: GET /metrics (Prometheus text) and
 * GET /health, against the private PostgreSQL and Redis of tests/harness.c,
 * with the real pmqd and the "behave" test plugin.
 *
 * Covered: the metrics renderer on hand-filled Redis hashes (label
 * escaping, cumulative buckets, the key prefix, each server down in turn);
 * after a real workload, pmq_jobs_finished_total per queue and outcome
 * equals what PostgreSQL recorded and every histogram counts each attempt;
 * every exposition passes `promtool check metrics`; /health's JSON shape and
 * status codes; with Redis hung and then gone, /health answers 503 and
 * /metrics still serves PostgreSQL's numbers, and `pmqctl health` exits 2;
 * probes answered beside 104 clients that never finish their requests, the
 * per-address limit enforced; PostgreSQL stopped for 20 s under load (the
 * checks say "down" meanwhile, every job completes afterwards) and hung
 * with connect_timeout = 0 (the checks still answer).
 *
 * The HTTP client is a plain socket (HTTP/1.0), so the test needs no library
 * beyond the daemon's.  promtool (Debian package prometheus) is required:
 * without it the tests fail rather than skip.
 */

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <check.h>
#include <hiredis/hiredis.h>
#include <json-c/json.h>
#include <libpq-fe.h>

#include "ack.h"
#include "config.h"
#include "daemon.h"
#include "errors.h"
#include "harness.h"
#include "http.h"
#include "metrics.h"
#include "redis.h"
#include "util.h"

#define HTTP_TIMEOUT_MS 60000  /* generous: only "it answers" is asserted */
#define TEST_TIMEOUT_S 240     /* per test (sanitizer builds are slow) */

static void sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

/*--- failure messages ---*/

/*
 * Check caps a message at a few kilobytes: a long text (an exposition) is
 * shown by its head, and saved whole in a file the message names.
 */
static char *shown(const char *text)
{
    static int n;
    size_t len = strlen(text);
    if (len <= 1500)
        return pmq_xstrdup(text);
    char *path = pmq_asprintf("%s/shown-%d.txt", pmq_test_dir(), ++n);
    FILE *f = fopen(path, "w");
    if (f) {
        fputs(text, f);
        fclose(f);
    }
    char *s = pmq_asprintf("%.1500s\n[... %zu bytes in all: %s]", text, len, path);
    free(path);
    return s;
}

/*--- running things ---*/

static long long sql_ll(PGconn *pg, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static long long sql_ll(PGconn *pg, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char *sql = pmq_vasprintf(fmt, ap);
    va_end(ap);
    char *v = pmq_test_query1(pg, sql);
    ck_assert_msg(v != NULL, "%s returned no value", sql);
    long long n = strtoll(v, NULL, 10);
    free(v);
    free(sql);
    return n;
}

/*
 * A configuration for the private PostgreSQL, the Redis at `redis_socket`
 * (the harness's when NULL) with `redis_extra` keys, the behave plugin, and
 * `extra`.  Returns the path (caller frees).
 */
static char *write_config(const char *name, const char *redis_socket, const char *redis_extra,
                          const char *extra)
{
    const char *builddir = getenv("top_builddir");
    ck_assert_msg(builddir != NULL, "top_builddir is not set (run through make check)");
    char *path = pmq_asprintf("%s/%s.ini", pmq_test_dir(), name);
    FILE *f = fopen(path, "w");
    ck_assert_msg(f != NULL, "cannot write %s: %s", path, strerror(errno));
    fprintf(f,
            "[pmqd]\nlog_level = info\n\n"
            "[database]\nhost = %s\nport = %s\ndbname = pmq\nuser = postgres\n\n"
            "[redis]\nsocket = %s\n%s\n"
            "[plugin behave]\npath = %s/tests/plugins/.libs/behave.so\n\n%s",
            getenv("PMQ_PG_SOCKET_DIR"), getenv("PMQ_PG_PORT"),
            redis_socket ? redis_socket : pmq_test_redis_socket(),
            redis_extra ? redis_extra : "", builddir, extra ? extra : "");
    ck_assert_msg(fclose(f) == 0, "cannot write %s: %s", path, strerror(errno));
    return path;
}

static pmq_config *load_config(const char *path)
{
    pmq_errors errs = PMQ_ERRORS_INIT;
    pmq_config *cfg = pmq_config_load(path, &errs);
    ck_assert_msg(cfg != NULL, "%s: %s", path, errs.count ? errs.items[0].message : "?");
    pmq_errors_clear(&errs);
    return cfg;
}

/*--- a small HTTP client ---*/

/* A TCP port nobody listens on right now (bind port 0, read it, close). */
static int free_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    ck_assert_int_ge(fd, 0);
    struct sockaddr_in a = {0};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ck_assert_msg(bind(fd, (struct sockaddr *)&a, sizeof a) == 0, "bind: %s", strerror(errno));
    socklen_t len = sizeof a;
    ck_assert_int_eq(getsockname(fd, (struct sockaddr *)&a, &len), 0);
    close(fd);
    return ntohs(a.sin_port);
}

typedef struct reply {
    int status;         /* 0 when there was no answer */
    char *content_type; /* "" when absent */
    char *body;
    char error[256];    /* why there was no answer */
    long elapsed_ms;
} reply;

static void reply_free(reply *r)
{
    free(r->content_type);
    free(r->body);
    memset(r, 0, sizeof *r);
}

/* `method path` on 127.0.0.1:port over HTTP/1.0, read to EOF within timeout_ms. */
static reply http(int port, const char *method, const char *path, int timeout_ms)
{
    reply r = {0};
    int64_t t0 = pmq_now_ms(), deadline = t0 + timeout_ms;
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    ck_assert_int_ge(fd, 0);
    struct sockaddr_in a = {0};
    a.sin_family = AF_INET;
    a.sin_port = htons((uint16_t)port);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    /* A server that does not accept leaves connect() waiting: bound it too. */
    struct timeval tv = {timeout_ms / 1000, (timeout_ms % 1000) * 1000};
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    if (connect(fd, (struct sockaddr *)&a, sizeof a) != 0) {
        snprintf(r.error, sizeof r.error, "connect to port %d: %s", port, strerror(errno));
        close(fd);
        return r;
    }
    char *req = pmq_asprintf("%s %s HTTP/1.0\r\nHost: 127.0.0.1:%d\r\nContent-Length: 0\r\n\r\n",
                             method, path, port);
    ssize_t sent = send(fd, req, strlen(req), MSG_NOSIGNAL);
    ck_assert_int_eq(sent, (ssize_t)strlen(req));
    free(req);

    size_t len = 0, cap = 65536;
    char *buf = pmq_xmalloc(cap);
    int eof = 0;
    while (!eof) {
        int64_t left = deadline - pmq_now_ms();
        struct pollfd p = {fd, POLLIN, 0};
        if (left <= 0 || poll(&p, 1, (int)left) <= 0) {
            snprintf(r.error, sizeof r.error, "no complete answer within %d ms (%zu bytes)",
                     timeout_ms, len);
            break;
        }
        if (cap - len < 4096)
            buf = pmq_xrealloc(buf, cap *= 2);
        ssize_t n = recv(fd, buf + len, cap - len - 1, 0);
        if (n < 0) {
            snprintf(r.error, sizeof r.error, "recv: %s", strerror(errno));
            break;
        }
        eof = n == 0;
        len += (size_t)n;
    }
    close(fd);
    buf[len] = '\0';
    r.elapsed_ms = (long)(pmq_now_ms() - t0);
    if (eof) {
        char *end = strstr(buf, "\r\n\r\n");
        if (strncmp(buf, "HTTP/1.", 7) != 0 || !end) {
            snprintf(r.error, sizeof r.error, "not an HTTP response: %.80s", buf);
        } else {
            r.status = atoi(buf + 9);
            *end = '\0';
            r.content_type = pmq_xstrdup("");
            for (char *h = strstr(buf, "\r\n"); h && h < end; h = strstr(h + 2, "\r\n")) {
                if (!strncasecmp(h + 2, "Content-Type:", 13)) {
                    const char *v = h + 15 + strspn(h + 15, " \t");
                    free(r.content_type);
                    r.content_type = pmq_xstrdup(v);
                    r.content_type[strcspn(r.content_type, "\r\n")] = '\0';
                }
            }
            r.body = pmq_xstrdup(end + 4);
        }
    }
    free(buf);
    if (!r.body)
        r.body = pmq_xstrdup("");
    if (!r.content_type)
        r.content_type = pmq_xstrdup("");
    return r;
}

/* GET that must answer `want` (status). */
static reply get_ok(int port, const char *path, int want)
{
    reply r = http(port, "GET", path, HTTP_TIMEOUT_MS);
    ck_assert_msg(r.status == want, "GET %s: status %d, expected %d (%s)\n%s", path, r.status,
                  want, r.error, shown(r.body));
    return r;
}

/* Poll GET `path` until it answers `want`. */
static reply wait_status(int port, const char *path, int want, const char *log_name)
{
    reply r = {0};
    for (int64_t deadline = pmq_now_ms() + PMQ_TEST_WAIT_MS;;) {
        reply_free(&r);
        r = http(port, "GET", path, HTTP_TIMEOUT_MS);
        if (r.status == want || pmq_now_ms() > deadline)
            break;
        sleep_ms(50);
    }
    if (r.status != want) {
        ck_abort_msg("GET %s kept answering %d (%s), expected %d\n%s\npmqd log:\n%s", path,
                     r.status, r.error, want, shown(r.body), pmq_test_pmqd_log_tail(log_name));
    }
    return r;
}

/*--- reading the exposition ---*/

/* The value of sample `series` (name{labels}) in `text`; 0 when absent. */
static int sample(const char *text, const char *series, double *v)
{
    size_t n = strlen(series);
    for (const char *p = text; p && *p; p = strchr(p, '\n') ? strchr(p, '\n') + 1 : NULL) {
        if (!strncmp(p, series, n) && p[n] == ' ') {
            *v = strtod(p + n + 1, NULL);
            return 1;
        }
    }
    return 0;
}

static double value_of(const char *text, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* The value of a formatted series, which must be there. */
static double value_of(const char *text, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char *series = pmq_vasprintf(fmt, ap);
    va_end(ap);
    double v = 0;
    ck_assert_msg(sample(text, series, &v), "no sample %s in:\n%s", series, shown(text));
    free(series);
    return v;
}

static int has_series(const char *text, const char *series)
{
    double v;
    return sample(text, series, &v);
}

/* Any sample of family `name` ("name" or "name{"). */
static int has_family(const char *text, const char *name)
{
    size_t n = strlen(name);
    for (const char *p = text; p && *p; p = strchr(p, '\n') ? strchr(p, '\n') + 1 : NULL)
        if (!strncmp(p, name, n) && (p[n] == ' ' || p[n] == '{'))
            return 1;
    return 0;
}

static void assert_line(const char *text, const char *line)
{
    char *want = pmq_asprintf("\n%s\n", line);
    ck_assert_msg(strstr(text, want) != NULL, "no line\n  %s\nin:\n%s", line, shown(text));
    free(want);
}

/* `promtool check metrics` must accept `text` (Debian package prometheus). */
static void promtool_check(const char *text, const char *name)
{
    const char *tool = getenv("PROMTOOL");
    char *found = NULL;
    if (!tool || !*tool) {
        int st;
        found = pmq_test_run("command -v promtool", &st);
        found[strcspn(found, "\n")] = '\0';
        ck_assert_msg(st == 0 && *found,
                      "promtool not found: install the Debian package prometheus"
                      " (scripts/install-deps does), or set PROMTOOL");
        tool = found;
    }
    char *path = pmq_asprintf("%s/%s.prom", pmq_test_dir(), name);
    FILE *f = fopen(path, "w");
    ck_assert_msg(f != NULL, "cannot write %s", path);
    fputs(text, f);
    fclose(f);
    char *cmd = pmq_asprintf("'%s' check metrics < '%s'", tool, path);
    int st;
    char *out = pmq_test_run(cmd, &st);
    ck_assert_msg(st == 0, "promtool check metrics rejects %s (exit %d):\n%s\n--- the text:\n%s",
                  path, st, shown(out), shown(text));
    free(out);
    free(cmd);
    free(path);
    free(found);
}

/*
 * Every histogram of `name` for `queue` is well formed: buckets at exactly
 * pmq_stat_buckets then +Inf, never decreasing, +Inf equal to _count.
 * Returns _count.
 */
static long long histogram_count(const char *text, const char *name, const char *queue)
{
    double prev = 0;
    for (int b = 0; b < PMQ_STAT_NBUCKETS; b++) {
        double v = value_of(text, "%s_bucket{queue=\"%s\",le=\"%g\"}", name, queue,
                            pmq_stat_buckets[b]);
        ck_assert_msg(v >= prev, "%s{queue=\"%s\"}: bucket le=%g (%g) below the one before (%g)",
                      name, queue, pmq_stat_buckets[b], v, prev);
        prev = v;
    }
    double inf = value_of(text, "%s_bucket{queue=\"%s\",le=\"+Inf\"}", name, queue);
    double count = value_of(text, "%s_count{queue=\"%s\"}", name, queue);
    ck_assert_msg(inf >= prev && inf == count, "%s{queue=\"%s\"}: +Inf bucket %g, _count %g", name,
                  queue, inf, count);
    value_of(text, "%s_sum{queue=\"%s\"}", name, queue);
    return (long long)count;
}

/*--- 1. the renderer, from hand-filled Redis ---*/

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

#define rdo(r, ...) freeReplyObject(rcmd((r), __VA_ARGS__))

/* A queue name that needs every escape: ", \ and a newline. */
static const char weird[] = "we\"ird\\q\nx";
#define WEIRD_LABEL "queue=\"we\\\"ird\\\\q\\nx\""

/* A key prefix longer than keys.h's bound is refused, not cut; one at the bound connects. */
START_TEST(overlong_key_prefix_is_refused)
{
    char prefix[PMQ_KEY_PREFIX_MAX + 2];
    for (int longer = 0; longer <= 1; longer++) {
        memset(prefix, 'p', sizeof prefix);
        prefix[PMQ_KEY_PREFIX_MAX + longer] = '\0';
        char *redis = pmq_asprintf("key_prefix = %s\n", prefix);
        char *path = write_config("prefix", NULL, redis, "");
        pmq_config *cfg = load_config(path);
        pmq_errors errs = PMQ_ERRORS_INIT;
        pmq_redis *r = pmq_redis_connect(cfg, &errs);
        if (longer) {
            ck_assert_ptr_null(r);
            ck_assert_int_eq((int)errs.count, 1);
            ck_assert_str_eq(errs.items[0].message, "[redis] key_prefix is too long (129 bytes)");
        } else {
            ck_assert_msg(r != NULL, "%s", errs.count ? errs.items[0].message : "?");
        }
        pmq_redis_free(r);
        pmq_errors_clear(&errs);
        pmq_config_free(cfg);
        free(path);
        free(redis);
    }
}
END_TEST

/*
 * pmq:stats:<queue> filled by hand (prefixed, as [redis] key_prefix says):
 * the counters come out as they are, the plain per-bucket counts come out
 * cumulative, label values are escaped, and the unprefixed decoy is not read.
 */
START_TEST(renderer_escapes_and_accumulates)
{
    pmq_test_reset();
    char *path = write_config("unit", NULL, "key_prefix = pfx:\n",
                              "[queue t.ok]\n\n[pool t]\nqueues = t.ok, t.fail\n");
    pmq_config *cfg = load_config(path);
    PGconn *pg = pmq_test_pg();
    const char *params[1] = {weird};
    /* Such a name can only be older than sql/005, whose rule is NOT VALID
     * for old rows: write it as one. */
    pmq_test_exec(pg, "ALTER TABLE job_queues DROP CONSTRAINT job_queues_name_valid");
    PGresult *res = PQexecParams(pg, "INSERT INTO job_queues (name) VALUES ($1), ('t.ok')", 1, NULL,
                                 params, NULL, NULL, 0);
    ck_assert_msg(PQresultStatus(res) == PGRES_COMMAND_OK, "%s", PQresultErrorMessage(res));
    PQclear(res);
    pmq_test_exec(pg, "ALTER TABLE job_queues ADD CONSTRAINT job_queues_name_valid"
                      " CHECK (name ~ '^[A-Za-z0-9_.:-]{1,63}$') NOT VALID");
    res = PQexecParams(pg,
                       "INSERT INTO jobs (queue_name, status, payload)"
                       " SELECT $1, s, '{}' FROM unnest(array['completed', 'completed',"
                       " 'completed', 'failed', 'queued', 'queued']) s",
                       1, NULL, params, NULL, NULL, 0);
    ck_assert_msg(PQresultStatus(res) == PGRES_COMMAND_OK, "%s", PQresultErrorMessage(res));
    PQclear(res);

    redisContext *rc = pmq_test_redis();
    rdo(rc, "HSET %s completed 7 retried 2 failed 1 duration_0 3 duration_5 4"
            " duration_16 3 duration_sum 12.5 latency_2 5 latency_sum 0.75",
        PMQ_TEST_KEY(pmq_key_stats, "pfx:", weird));
    /* no prefix: not ours */
    rdo(rc, "HSET %s completed 999", PMQ_TEST_KEY(pmq_key_stats, "", "t.ok"));
    rdo(rc, "RPUSH %s a b", PMQ_TEST_KEY(pmq_key_queue, "pfx:", weird, PMQ_BAND_HIGH));
    rdo(rc, "RPUSH %s c", PMQ_TEST_KEY(pmq_key_queue, "pfx:", weird, PMQ_BAND_NORMAL));
    rdo(rc, "RPUSH %s d e f", PMQ_TEST_KEY(pmq_key_queue, "pfx:", weird, PMQ_BAND_LOW));
    rdo(rc, "RPUSH %s g", PMQ_TEST_KEY(pmq_key_queue, "pfx:", "t.ok", PMQ_BAND_LOW));
    rdo(rc, "RPUSH %s x y", PMQ_TEST_KEY(pmq_key_deadletter_list, "pfx:"));
    rdo(rc, "HSET %s batches 5 jobs 42 lag_sum 1.5 last_lag 0.25 last_batch 9",
        PMQ_TEST_KEY(pmq_key_migrator_stats, "pfx:"));
    rdo(rc, "SADD %s w1 w2 w3", PMQ_TEST_KEY(pmq_key_workers, "pfx:"));
    rdo(rc, "SET %s alive", PMQ_TEST_KEY(pmq_key_heartbeat, "pfx:", "w1"));
    /* w2 has no heartbeat: not counted */
    rdo(rc, "HSET %s host h", PMQ_TEST_KEY(pmq_key_heartbeat, "pfx:", "w3"));

    pmq_errors errs = PMQ_ERRORS_INIT;
    pmq_redis *r = pmq_redis_connect(cfg, &errs);
    ck_assert_msg(r != NULL, "%s", errs.count ? errs.items[0].message : "?");

    /* Both servers up. */
    char *t = pmq_metrics_render_with(cfg, pg, r);
    assert_line(t, "pmq_redis_up 1");
    assert_line(t, "pmq_postgres_up 1");
    assert_line(t, "# TYPE pmq_jobs_finished_total counter");
    assert_line(t, "pmq_jobs_finished_total{" WEIRD_LABEL ",outcome=\"completed\"} 7");
    assert_line(t, "pmq_jobs_finished_total{" WEIRD_LABEL ",outcome=\"retried\"} 2");
    assert_line(t, "pmq_jobs_finished_total{" WEIRD_LABEL ",outcome=\"failed\"} 1");
    assert_line(t, "pmq_jobs_finished_total{queue=\"t.ok\",outcome=\"completed\"} 0");
    /* Only job_queues' names when PostgreSQL answers. */
    ck_assert_msg(!strstr(t, "queue=\"t.fail\""), "t.fail is not in job_queues:\n%s", shown(t));

    assert_line(t, "# TYPE pmq_job_duration_seconds histogram");
    static const long long duration_cum[PMQ_STAT_NBUCKETS] = {3, 3, 3, 3, 3, 7, 7, 7,
                                                              7, 7, 7, 7, 7, 7, 7, 7};
    static const long long latency_cum[PMQ_STAT_NBUCKETS] = {0, 0, 5, 5, 5, 5, 5, 5,
                                                             5, 5, 5, 5, 5, 5, 5, 5};
    for (int b = 0; b < PMQ_STAT_NBUCKETS; b++) {
        char *line = pmq_asprintf("pmq_job_duration_seconds_bucket{" WEIRD_LABEL ",le=\"%g\"} %lld",
                                  pmq_stat_buckets[b], duration_cum[b]);
        assert_line(t, line);
        free(line);
        line = pmq_asprintf("pmq_job_start_latency_seconds_bucket{" WEIRD_LABEL ",le=\"%g\"} %lld",
                            pmq_stat_buckets[b], latency_cum[b]);
        assert_line(t, line);
        free(line);
    }
    assert_line(t, "pmq_job_duration_seconds_bucket{" WEIRD_LABEL ",le=\"+Inf\"} 10");
    assert_line(t, "pmq_job_duration_seconds_sum{" WEIRD_LABEL "} 12.5");
    assert_line(t, "pmq_job_duration_seconds_count{" WEIRD_LABEL "} 10");
    assert_line(t, "pmq_job_start_latency_seconds_bucket{" WEIRD_LABEL ",le=\"+Inf\"} 5");
    assert_line(t, "pmq_job_start_latency_seconds_sum{" WEIRD_LABEL "} 0.75");
    assert_line(t, "pmq_job_start_latency_seconds_count{" WEIRD_LABEL "} 5");
    assert_line(t, "pmq_job_duration_seconds_count{queue=\"t.ok\"} 0");

    assert_line(t, "pmq_queue_depth{" WEIRD_LABEL ",band=\"high\"} 2");
    assert_line(t, "pmq_queue_depth{" WEIRD_LABEL ",band=\"normal\"} 1");
    assert_line(t, "pmq_queue_depth{" WEIRD_LABEL ",band=\"low\"} 3");
    assert_line(t, "pmq_queue_depth{queue=\"t.ok\",band=\"low\"} 1");
    assert_line(t, "pmq_deadletter_depth 2");
    assert_line(t, "# TYPE pmq_migrator_batches_total counter");
    assert_line(t, "pmq_migrator_batches_total 5");
    assert_line(t, "pmq_migrator_jobs_total 42");
    assert_line(t, "# TYPE pmq_migrator_lag_seconds gauge");
    assert_line(t, "pmq_migrator_lag_seconds 0.25");
    assert_line(t, "pmq_migrator_last_batch_size 9");
    assert_line(t, "pmq_workers_active 2");
    assert_line(t, "# TYPE pmq_jobs gauge");
    assert_line(t, "pmq_jobs{" WEIRD_LABEL ",status=\"completed\"} 3");
    assert_line(t, "pmq_jobs{" WEIRD_LABEL ",status=\"failed\"} 1");
    assert_line(t, "pmq_jobs{" WEIRD_LABEL ",status=\"queued\"} 2");
    assert_line(t, "pmq_jobs{" WEIRD_LABEL ",status=\"running\"} 0");
    assert_line(t, "pmq_jobs{queue=\"t.ok\",status=\"completed\"} 0");
    ck_assert_msg(!strstr(t, "999"), "the unprefixed decoy was read:\n%s", shown(t));
    promtool_check(t, "unit-both");
    free(t);

    /* PostgreSQL down: the INI's queues ([queue] and [pool] sections), Redis' numbers. */
    t = pmq_metrics_render_with(cfg, NULL, r);
    assert_line(t, "pmq_redis_up 1");
    assert_line(t, "pmq_postgres_up 0");
    ck_assert_msg(!has_family(t, "pmq_jobs"), "pmq_jobs without PostgreSQL:\n%s", shown(t));
    ck_assert_msg(!strstr(t, "we\\\""), "a queue only PostgreSQL knows:\n%s", shown(t));
    assert_line(t, "pmq_queue_depth{queue=\"t.ok\",band=\"low\"} 1");
    assert_line(t, "pmq_jobs_finished_total{queue=\"t.fail\",outcome=\"retried\"} 0");
    assert_line(t, "pmq_deadletter_depth 2");
    assert_line(t, "pmq_workers_active 2");
    promtool_check(t, "unit-nopg");
    free(t);

    /* Redis down: PostgreSQL's numbers only. */
    t = pmq_metrics_render_with(cfg, pg, NULL);
    assert_line(t, "pmq_redis_up 0");
    assert_line(t, "pmq_postgres_up 1");
    assert_line(t, "pmq_jobs{" WEIRD_LABEL ",status=\"completed\"} 3");
    static const char *const redis_families[] = {
        "pmq_jobs_finished_total",      "pmq_job_duration_seconds_bucket",
        "pmq_queue_depth",              "pmq_deadletter_depth",
        "pmq_migrator_jobs_total",      "pmq_workers_active"};
    for (size_t i = 0; i < sizeof redis_families / sizeof *redis_families; i++)
        ck_assert_msg(!has_family(t, redis_families[i]), "%s without Redis:\n%s",
                      redis_families[i], shown(t));
    promtool_check(t, "unit-noredis");
    free(t);

    /* Redis answering errors (here WRONGTYPE) counts as down: no half-true numbers. */
    rdo(rc, "DEL %s", PMQ_TEST_KEY(pmq_key_migrator_stats, "pfx:"));
    rdo(rc, "SET %s oops", PMQ_TEST_KEY(pmq_key_migrator_stats, "pfx:"));
    t = pmq_metrics_render_with(cfg, pg, r);
    assert_line(t, "pmq_redis_up 0");
    ck_assert_msg(!has_family(t, "pmq_queue_depth"), "depths from an erring Redis:\n%s",
                  shown(t));
    free(t);

    /* Both down. */
    t = pmq_metrics_render_with(cfg, NULL, NULL);
    assert_line(t, "pmq_redis_up 0");
    assert_line(t, "pmq_postgres_up 0");
    promtool_check(t, "unit-none");
    free(t);

    pmq_redis_free(r);
    redisFree(rc);
    PQfinish(pg);
    pmq_config_free(cfg);
    free(path);
}
END_TEST

/*--- 2. /metrics after a real workload ---*/

static const char *const work_queues[] = {"t.ok", "t.fail", "t.fatal"};

/* Write the configuration with [http] on a free port; declare its queues. */
static char *work_config(const char *name, int *port)
{
    *port = free_port();
    char *ini = pmq_asprintf("[http]\nlisten = 127.0.0.1:%d\n\n%s", *port,
                             "[queue t.fail]\nmax_attempts = 2\nbackoff_base = 10ms\n"
                             "backoff_max = 50ms\n\n"
                             "[queue t.fatal]\nmax_attempts = 5\n\n"
                             "[pool t]\nqueues = t.ok, t.fail, t.fatal\nprocesses = 2\n"
                             "threads = 4\n");
    char *config = write_config(name, NULL, NULL, ini);
    free(ini);
    free(pmq_test_ctl(config, NULL, "migrate"));
    return config;
}

/* `counts[i]` jobs on work_queues[i], in one bulk call each. */
static void enqueue_work(PGconn *pg, int ok, int fail, int fatal)
{
    const int counts[3] = {ok, fail, fatal};
    for (int q = 0; q < 3; q++) {
        if (!counts[q])
            continue;
        char *sql = pmq_asprintf("SELECT count(*) FROM pmq_enqueue_many('%s', (SELECT jsonb_agg("
                                 "jsonb_build_object('n', g)) FROM generate_series(1, %d) g))",
                                 work_queues[q], counts[q]);
        char *n = pmq_test_query1(pg, sql);
        ck_assert_msg(n && atoi(n) == counts[q], "enqueued %s jobs on %s, expected %d", n,
                      work_queues[q], counts[q]);
        free(n);
        free(sql);
    }
}

/* PostgreSQL's record of `queue`: rows per final status, retry attempts. */
static long long pg_outcome(PGconn *pg, const char *queue, int outcome)
{
    if (outcome == 1)
        return sql_ll(pg, "SELECT count(*) FROM job_logs l JOIN jobs j ON j.id = l.job_id"
                          " WHERE j.queue_name = '%s' AND l.status = 'retry'", queue);
    return sql_ll(pg, "SELECT count(*) FROM jobs WHERE queue_name = '%s' AND status = '%s'", queue,
                  outcome == 0 ? "completed" : "failed");
}

static const char *const outcome_names[] = {"completed", "retried", "failed"};

static int sample_is(const char *text, long long want, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int sample_is(const char *text, long long want, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char *series = pmq_vasprintf(fmt, ap);
    va_end(ap);
    double v = -1;
    int found = sample(text, series, &v);
    free(series);
    return found && (long long)v == want;
}

/*
 * Has Redis caught up with PostgreSQL?  Acks write their counters just after
 * the commit (outcomes first, histograms next) and the migrator its own just
 * after its: poll for all of them before asserting any.
 */
static int caught_up(const char *text, const long long want[3][3], const long long jobs[3],
                     long long attempts)
{
    for (int q = 0; q < 3; q++) {
        for (int o = 0; o < 3; o++)
            if (!sample_is(text, want[q][o],
                           "pmq_jobs_finished_total{queue=\"%s\",outcome=\"%s\"}",
                           work_queues[q], outcome_names[o]))
                return 0;
        if (!sample_is(text, want[q][0] + want[q][1] + want[q][2],
                       "pmq_job_duration_seconds_count{queue=\"%s\"}", work_queues[q]) ||
            !sample_is(text, jobs[q], "pmq_job_start_latency_seconds_count{queue=\"%s\"}",
                       work_queues[q]))
            return 0;
    }
    return sample_is(text, attempts, "pmq_migrator_jobs_total");
}

/*
 * 200 t.ok, 20 t.fail (max_attempts 2) and 10 t.fatal: once PostgreSQL holds
 * them all finished, /metrics counts exactly the completed rows, the retry
 * job_logs rows and the failed rows per queue; each histogram counts every
 * attempt (duration) or every job's first attempt (latency); the depths,
 * dead letter, jobs per status, migrator and workers agree with the servers;
 * promtool accepts it.
 */
START_TEST(metrics_match_postgres_after_workload)
{
    pmq_test_reset();
    int port;
    char *config = work_config("work", &port);
    PGconn *pg = pmq_test_pg();
    enqueue_work(pg, 200, 20, 10);
    pid_t pid = pmq_test_pmqd_start(config, "work");
    pmq_test_await_sql(pg, "SELECT count(*) FROM jobs WHERE status IN ('completed', 'failed')",
                       "230", "work");
    ck_assert_int_eq(sql_ll(pg, "SELECT count(*) FROM jobs WHERE status = 'completed'"), 200);

    long long want[3][3];
    for (int q = 0; q < 3; q++)
        for (int o = 0; o < 3; o++)
            want[q][o] = pg_outcome(pg, work_queues[q], o);
    ck_assert_int_eq(want[1][1], 20); /* one retry each before the second, last attempt */

    long long jobs[3];
    for (int q = 0; q < 3; q++)
        jobs[q] = sql_ll(pg, "SELECT count(*) FROM jobs WHERE queue_name = '%s'", work_queues[q]);
    /* Each attempt was migrated once: 230 first attempts and 20 retries. */
    long long attempts = sql_ll(pg, "SELECT count(*) FROM job_logs");
    ck_assert_int_eq(attempts, 250);

    reply r = {0};
    for (int64_t deadline = pmq_now_ms() + PMQ_TEST_WAIT_MS;;) {
        reply_free(&r);
        r = get_ok(port, "/metrics", 200);
        if (caught_up(r.body, want, jobs, attempts) || pmq_now_ms() > deadline)
            break;
        sleep_ms(50);
    }
    const char *t = r.body;
    for (int q = 0; q < 3; q++)
        for (int o = 0; o < 3; o++) {
            double v = value_of(t, "pmq_jobs_finished_total{queue=\"%s\",outcome=\"%s\"}",
                                work_queues[q], outcome_names[o]);
            ck_assert_msg((long long)v == want[q][o],
                          "pmq_jobs_finished_total{queue=\"%s\",outcome=\"%s\"} is %g;"
                          " PostgreSQL has %lld", work_queues[q], outcome_names[o], v,
                          want[q][o]);
        }
    ck_assert_msg(!strncmp(r.content_type, "text/plain; version=0.0.4", 25),
                  "Content-Type \"%s\"", r.content_type);
    assert_line(t, "pmq_redis_up 1");
    assert_line(t, "pmq_postgres_up 1");

    for (int q = 0; q < 3; q++) {
        const char *queue = work_queues[q];
        long long ended = want[q][0] + want[q][1] + want[q][2];
        long long d = histogram_count(t, "pmq_job_duration_seconds", queue);
        ck_assert_msg(d == ended, "pmq_job_duration_seconds_count{queue=\"%s\"} is %lld;"
                      " %lld attempts ended", queue, d, ended);
        long long l = histogram_count(t, "pmq_job_start_latency_seconds", queue);
        ck_assert_msg(l == jobs[q], "pmq_job_start_latency_seconds_count{queue=\"%s\"} is %lld;"
                      " %lld jobs had a first attempt", queue, l, jobs[q]);
        for (int b = 0; b < 3; b++) {
            static const char *const bands[] = {"high", "normal", "low"};
            double v = value_of(t, "pmq_queue_depth{queue=\"%s\",band=\"%s\"}", queue, bands[b]);
            ck_assert_msg(v == 0, "pmq_queue_depth{queue=\"%s\",band=\"%s\"} is %g, all done",
                          queue, bands[b], v);
        }
        static const char *const statuses[] = {"completed", "failed", "queued"};
        for (int s = 0; s < 3; s++) {
            long long n = sql_ll(pg, "SELECT count(*) FROM jobs WHERE queue_name = '%s'"
                                     " AND status = '%s'", queue, statuses[s]);
            double v = value_of(t, "pmq_jobs{queue=\"%s\",status=\"%s\"}", queue, statuses[s]);
            ck_assert_msg((long long)v == n, "pmq_jobs{queue=\"%s\",status=\"%s\"} is %g;"
                          " PostgreSQL has %lld", queue, statuses[s], v, n);
        }
    }
    redisContext *rc = pmq_test_redis();
    redisReply *dl = rcmd(rc, "LLEN %s", PMQ_TEST_KEY(pmq_key_deadletter_list, ""));
    ck_assert_int_eq(dl->integer, 30);
    ck_assert_int_eq((long long)value_of(t, "pmq_deadletter_depth"), dl->integer);
    freeReplyObject(dl);
    redisFree(rc);
    ck_assert_int_eq((long long)value_of(t, "pmq_migrator_jobs_total"), attempts);
    double batches = value_of(t, "pmq_migrator_batches_total");
    ck_assert_msg(batches >= 1 && batches <= attempts, "pmq_migrator_batches_total %g", batches);
    ck_assert_int_eq((long long)value_of(t, "pmq_workers_active"), 2);
    promtool_check(t, "work");
    reply_free(&r);

    pmq_test_pmqd_stop_checked(pid, "work", 0);
    PQfinish(pg);
    free(config);
}
END_TEST

/*--- 3. /health ---*/

static json_object *member(json_object *o, const char *key, json_type type)
{
    json_object *v = NULL;
    ck_assert_msg(json_object_object_get_ex(o, key, &v) && v != NULL, "no \"%s\" in %s", key,
                  shown(json_object_to_json_string(o)));
    ck_assert_msg(json_object_is_type(v, type), "\"%s\" has the wrong type in %s", key,
                  shown(json_object_to_json_string(o)));
    return v;
}

/*
 * With both servers up and the work done: 200, application/json, the
 * guide's shape (timestamp, redis, queues per band, workers, jobs per
 * status) with the right numbers.  Unknown paths get 404, other methods 405.
 */
START_TEST(health_reports_guide_shape)
{
    pmq_test_reset();
    int port;
    char *config = work_config("health", &port);
    PGconn *pg = pmq_test_pg();
    enqueue_work(pg, 20, 2, 1);
    pid_t pid = pmq_test_pmqd_start(config, "health");
    pmq_test_await_sql(pg, "SELECT count(*) FROM jobs WHERE status IN ('completed', 'failed')",
                       "23", "health");

    reply r = wait_status(port, "/health", 200, "health");
    ck_assert_msg(!strncmp(r.content_type, "application/json", 16), "Content-Type \"%s\"",
                  r.content_type);
    json_object *h = json_tokener_parse(r.body);
    ck_assert_msg(h != NULL, "/health is not JSON:\n%s", shown(r.body));
    const char *ts = json_object_get_string(member(h, "timestamp", json_type_string));
    ck_assert_msg(strlen(ts) == 20 && ts[10] == 'T' && ts[19] == 'Z', "timestamp \"%s\"", ts);
    ck_assert_str_eq(json_object_get_string(member(h, "status", json_type_string)), "healthy");

    json_object *redis = member(h, "redis", json_type_object);
    ck_assert_str_eq(json_object_get_string(member(redis, "status", json_type_string)), "healthy");
    ck_assert_str_eq(json_object_get_string(member(redis, "ping", json_type_string)), "PONG");
    ck_assert_msg(*json_object_get_string(member(redis, "memory_used", json_type_string)),
                  "empty memory_used");
    ck_assert_int_ge(json_object_get_int(member(redis, "connected_clients", json_type_int)), 1);

    json_object *queues = member(h, "queues", json_type_object);
    for (int q = 0; q < 3; q++) {
        for (int b = 0; b < PMQ_NBANDS; b++) {
            char key[PMQ_KEY_MAX];
            pmq_key_queue(key, "", work_queues[q], b);
            ck_assert_int_eq(json_object_get_int(member(queues, key, json_type_int)), 0);
        }
    }
    json_object *workers = member(h, "workers", json_type_object);
    ck_assert_int_eq(json_object_get_int(member(workers, "active_workers", json_type_int)), 2);
    ck_assert_int_eq(json_object_array_length(member(workers, "worker_ids", json_type_array)), 2);
    json_object *jobs = member(h, "jobs", json_type_object);
    ck_assert_int_eq(json_object_get_int(member(jobs, "completed", json_type_int)), 20);
    ck_assert_int_eq(json_object_get_int(member(jobs, "failed", json_type_int)), 3);
    json_object_put(h);
    reply_free(&r);

    r = get_ok(port, "/nowhere", 404);
    reply_free(&r);
    r = http(port, "POST", "/metrics", HTTP_TIMEOUT_MS);
    ck_assert_msg(r.status == 405, "POST /metrics: status %d (%s)", r.status, r.error);
    reply_free(&r);
    /* HEAD works as GET without a body (what some probes send). */
    r = http(port, "HEAD", "/health", HTTP_TIMEOUT_MS);
    ck_assert_msg(r.status == 200 && !*r.body, "HEAD /health: status %d, body \"%s\"", r.status,
                  r.body);
    reply_free(&r);

    pmq_test_pmqd_stop_checked(pid, "health", 0);
    PQfinish(pg);
    free(config);
}
END_TEST

/*--- 4. Redis down ---*/

static const char *redis_server(void)
{
    const char *s = getenv("REDIS_SERVER");
    return s && *s ? s : "redis-server";
}

/* A second, private redis-server on `sock`, so that the harness's keeps running. */
static pid_t start_own_redis(const char *sock)
{
    char *logfile = pmq_asprintf("%s/http-redis.log", pmq_test_dir());
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        execlp(redis_server(), "redis-server", "--port", "0", "--unixsocket", sock,
               "--unixsocketperm", "700", "--daemonize", "no", "--dir", pmq_test_dir(),
               "--save", "", "--appendonly", "no", "--maxmemory-policy", "noeviction",
               "--logfile", logfile, (char *)NULL);
        _exit(127);
    }
    pmq_test_track(pid);
    for (int i = 0;; i++) {
        redisContext *c = redisConnectUnix(sock);
        int up = c && !c->err;
        redisFree(c);
        if (up)
            break;
        ck_assert_msg(i < 500, "the second redis-server did not start; see %s", logfile);
        sleep_ms(20);
    }
    free(logfile);
    return pid;
}

/*
 * pmqd on its own Redis ([redis] timeout = 1s).  Hung (SIGSTOP): /health
 * still answers, 503, and /metrics serves PostgreSQL's numbers with
 * pmq_redis_up 0.  Gone (SHUTDOWN NOSAVE): the same, and `pmqctl health`
 * exits 2.
 */
START_TEST(health_503_when_redis_down)
{
    pmq_test_reset();
    char *sock = pmq_asprintf("%s/http-redis.sock", pmq_test_dir());
    pid_t redis = start_own_redis(sock);
    int port = free_port();
    char *ini = pmq_asprintf("[http]\nlisten = 127.0.0.1:%d\n\n"
                             "[pool t]\nqueues = t.ok\nprocesses = 1\nthreads = 2\n",
                             port);
    char *config = write_config("down", sock, "timeout = 1s\n", ini);
    free(ini);
    free(pmq_test_ctl(config, NULL, "migrate"));
    PGconn *pg = pmq_test_pg();
    enqueue_work(pg, 5, 0, 0);
    pid_t pid = pmq_test_pmqd_start(config, "down");
    pmq_test_await_sql(pg, "SELECT count(*) FROM jobs WHERE status = 'completed'", "5", "down");
    reply r = wait_status(port, "/health", 200, "down");
    reply_free(&r);

    /* Hung: connections are accepted, commands never answered. */
    ck_assert_int_eq(kill(redis, SIGSTOP), 0);
    r = http(port, "GET", "/health", HTTP_TIMEOUT_MS);
    ck_assert_msg(r.status == 503, "GET /health with Redis hung: status %d after %ld ms (%s)\n%s",
                  r.status, r.elapsed_ms, r.error, shown(r.body));
    fprintf(stderr, "test_http: /health answered 503 in %ld ms with Redis hung\n", r.elapsed_ms);
    json_object *h = json_tokener_parse(r.body);
    ck_assert_msg(h != NULL, "/health is not JSON:\n%s", shown(r.body));
    ck_assert_str_eq(json_object_get_string(member(h, "status", json_type_string)), "down");
    ck_assert_str_eq(json_object_get_string(member(member(h, "redis", json_type_object), "status",
                                                   json_type_string)),
                     "unhealthy");
    json_object_put(h);
    reply_free(&r);
    r = get_ok(port, "/metrics", 200);
    assert_line(r.body, "pmq_redis_up 0");
    assert_line(r.body, "pmq_postgres_up 1");
    ck_assert_int_eq((long long)value_of(r.body, "pmq_jobs{queue=\"t.ok\",status=\"completed\"}"),
                     5);
    promtool_check(r.body, "down-hung");
    reply_free(&r);

    /* Gone. */
    ck_assert_int_eq(kill(redis, SIGCONT), 0);
    redisContext *c = redisConnectUnix(sock);
    ck_assert_msg(c && !c->err, "cannot reach the second Redis again");
    redisReply *bye = redisCommand(c, "SHUTDOWN NOSAVE");
    if (bye)
        freeReplyObject(bye);
    redisFree(c);
    int st;
    ck_assert_int_eq(waitpid(redis, &st, 0), redis);
    pmq_test_untrack(redis);

    r = http(port, "GET", "/health", HTTP_TIMEOUT_MS);
    ck_assert_msg(r.status == 503, "GET /health with Redis gone: status %d after %ld ms (%s)\n%s",
                  r.status, r.elapsed_ms, r.error, shown(r.body));
    reply_free(&r);
    r = get_ok(port, "/metrics", 200);
    assert_line(r.body, "pmq_redis_up 0");
    assert_line(r.body, "pmq_postgres_up 1");
    ck_assert_int_eq((long long)value_of(r.body, "pmq_jobs{queue=\"t.ok\",status=\"completed\"}"),
                     5);
    ck_assert_msg(!has_series(r.body, "pmq_workers_active"), "workers without Redis:\n%s",
                  shown(r.body));
    reply_free(&r);

    char *out = pmq_test_ctl(config, &st, "health");
    ck_assert_msg(st == 2, "pmqctl health with Redis down exited with %d, expected 2:\n%s", st,
                  shown(out));
    free(out);

    /* With Redis gone pmqd's drain may log failures; it must still stop. */
    pmq_test_pmqd_stop_checked(pid, "down", PMQ_TEST_ANY_STATUS);
    PQfinish(pg);
    free(config);
    free(sock);
}
END_TEST

/*--- 5. slow clients ---*/

/* Client addresses (all of 127/8 is loopback on Linux) and what each opens. */
#define SLOW_ADDRESSES 3
#define SLOW_EXTRA 8 /* beyond PMQ_HTTP_MAX_PER_IP, from the first address */
#define SLOW_MAX (SLOW_ADDRESSES * PMQ_HTTP_MAX_PER_IP + SLOW_EXTRA)

typedef struct slow_clients {
    int fd[SLOW_MAX];
    int n;
    volatile int stop;
} slow_clients;

/*
 * A connection from 127.0.0.`host` that starts a request and never ends it;
 * -1 when connect() fails or waits past 5 s (a server that stopped
 * accepting).
 */
static int slow_open(int host, int port)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    ck_assert_int_ge(fd, 0);
    struct sockaddr_in a = {0};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK + (uint32_t)host - 1);
    ck_assert_msg(bind(fd, (struct sockaddr *)&a, sizeof a) == 0, "bind to 127.0.0.%d: %s", host,
                  strerror(errno));
    struct timeval tv = {5, 0};
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    a.sin_port = htons((uint16_t)port);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    static const char start[] = "GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ";
    if (connect(fd, (struct sockaddr *)&a, sizeof a) != 0 ||
        send(fd, start, sizeof start - 1, MSG_NOSIGNAL) < 0) {
        close(fd);
        return -1;
    }
    return fd;
}

/* One more byte of the endless header on every connection, each second. */
static void *dribble(void *arg)
{
    slow_clients *sc = arg;
    while (!sc->stop) {
        for (int i = 0; i < sc->n; i++)
            if (sc->fd[i] >= 0)
                send(sc->fd[i], "a", 1, MSG_NOSIGNAL | MSG_DONTWAIT);
        sleep_ms(1000);
    }
    return NULL;
}

/* Has the server closed (or answered) connection `fd`? */
static int slow_closed(int fd)
{
    if (fd < 0)
        return 1;
    struct pollfd p = {fd, POLLIN | POLLRDHUP, 0};
    return poll(&p, 1, 0) != 0;
}

/* Connections [from, to) the server still holds open. */
static int slow_open_count(const slow_clients *sc, int from, int to)
{
    int n = 0;
    for (int i = from; i < to; i++)
        n += !slow_closed(sc->fd[i]);
    return n;
}

/*
 * Issue 14, item 15.  Clients that send a request one byte a second and
 * never finish it, 3 * PMQ_HTTP_MAX_PER_IP of them (96; pmqd used to serve 32
 * connections in all), plus SLOW_EXTRA more from an address already at its
 * limit: while they keep dribbling, /health and /metrics answer from another
 * address, the extra connections are closed, and the others are all still
 * open afterwards (the server did not just drop them).
 */
START_TEST(probes_get_through_slow_clients)
{
    pmq_test_reset();
    int port;
    char *config = work_config("slow", &port);
    pid_t pid = pmq_test_pmqd_start(config, "slow");
    reply r = wait_status(port, "/health", 200, "slow");
    reply_free(&r);

    static slow_clients sc; /* static: large, and shared with the thread */
    memset(&sc, 0, sizeof sc);
    for (int a = 0; a < SLOW_ADDRESSES; a++) {
        int count = PMQ_HTTP_MAX_PER_IP + (a == 0 ? SLOW_EXTRA : 0);
        for (int i = 0; i < count; i++)
            sc.fd[sc.n++] = slow_open(2 + a, port);
    }
    pthread_t t;
    ck_assert_int_eq(pthread_create(&t, NULL, dribble, &sc), 0);

    r = http(port, "GET", "/health", HTTP_TIMEOUT_MS);
    ck_assert_msg(r.status == 200,
                  "GET /health with %d slow clients: status %d after %ld ms (%s)\npmqd log:\n%s",
                  sc.n, r.status, r.elapsed_ms, r.error, pmq_test_pmqd_log_tail("slow"));
    fprintf(stderr, "test_http: /health answered in %ld ms beside %d slow clients\n",
            r.elapsed_ms, sc.n);
    reply_free(&r);
    r = http(port, "GET", "/metrics", HTTP_TIMEOUT_MS);
    ck_assert_msg(r.status == 200 && has_family(r.body, "pmq_postgres_up"),
                  "GET /metrics with %d slow clients: status %d after %ld ms (%s)", sc.n,
                  r.status, r.elapsed_ms, r.error);
    reply_free(&r);

    /* The first address's connections beyond its limit are closed ... */
    int first = PMQ_HTTP_MAX_PER_IP + SLOW_EXTRA;
    for (int64_t deadline = pmq_now_ms() + PMQ_TEST_WAIT_MS;
         slow_open_count(&sc, 0, first) > PMQ_HTTP_MAX_PER_IP && pmq_now_ms() < deadline;)
        sleep_ms(50);
    sc.stop = 1;
    pthread_join(t, NULL);
    /* ... and every other one is still open after the probes. */
    ck_assert_int_eq(slow_open_count(&sc, 0, first), PMQ_HTTP_MAX_PER_IP);
    ck_assert_int_eq(slow_open_count(&sc, first, sc.n), (SLOW_ADDRESSES - 1) * PMQ_HTTP_MAX_PER_IP);
    for (int i = 0; i < sc.n; i++)
        if (sc.fd[i] >= 0)
            close(sc.fd[i]);

    pmq_test_pmqd_stop_checked(pid, "slow", 0);
    free(config);
}
END_TEST

/*--- 6. PostgreSQL down mid-run ---*/

#define PGDOWN_JOBS 3000
#define PGDOWN_MS 20000 /* how long PostgreSQL stays down: the scenario, not a bound */

/*
 * `pg_ctl ACTION ARGS` on the harness's PostgreSQL: scripts/pmq-servers keeps
 * its data in <test dir>/pg and, as root, runs it as "postgres".
 */
static void pg_ctl(const char *action_args)
{
    char *cmd = pmq_asprintf(
        "bin=${PG_BINDIR:-$(ls -d /usr/lib/postgresql/*/bin | sort -t/ -k5 -n -r | head -n 1)}; "
        "set -- \"$bin/pg_ctl\" %s -D '%s/pg' -w -t 60; "
        "if [ \"$(id -u)\" -eq 0 ]; then cd / && runuser -u postgres -- \"$@\"; else \"$@\"; fi",
        action_args, pmq_test_dir());
    int st;
    char *out = pmq_test_run(cmd, &st);
    ck_assert_msg(st == 0, "pg_ctl %s exited with %d:\n%s", action_args, st, out);
    free(out);
    free(cmd);
}

/*
 * The promise "PostgreSQL down mid-run": 3000 jobs flowing (10 ms each),
 * PostgreSQL stopped for 20 s.  Meanwhile every /health says 503, "down",
 * postgres "unhealthy"; /metrics says pmq_postgres_up 0; `pmqctl health`
 * exits 2 and names PostgreSQL unhealthy; each answers (within the
 * generous HTTP_TIMEOUT_MS).  Once PostgreSQL is back, every job completes,
 * with its "completed" job_logs row, and /health says 200 again.
 */
START_TEST(postgres_down_midrun)
{
    pmq_test_reset();
    int port = free_port();
    char *ini = pmq_asprintf("[http]\nlisten = 127.0.0.1:%d\n\n"
                             "[pool t]\nqueues = t.ok\nprocesses = 2\nthreads = 4\n",
                             port);
    char *config = write_config("pgdown", NULL, NULL, ini);
    free(ini);
    free(pmq_test_ctl(config, NULL, "migrate"));
    PGconn *pg = pmq_test_pg();
    pmq_test_execf(pg,
                   "SELECT pmq_enqueue_many('t.ok', (SELECT jsonb_agg(jsonb_build_object("
                   "'n', g, 'work_ms', 10)) FROM generate_series(1, %d) g))",
                   PGDOWN_JOBS);
    pid_t pid = pmq_test_pmqd_start(config, "pgdown");
    pmq_test_await_sql(pg, "SELECT count(*) >= 100 FROM jobs WHERE status = 'completed'", "t",
                       "pgdown");
    /* Mid-run: most of the jobs are still to run (at 10 ms each, 8 at once). */
    long long done = sql_ll(pg, "SELECT count(*) FROM jobs WHERE status = 'completed'");
    ck_assert_msg(done < PGDOWN_JOBS, "all %lld jobs ran before PostgreSQL could be stopped", done);
    PQfinish(pg);

    pg_ctl("stop -m fast");
    int64_t t0 = pmq_now_ms();
    long slowest = 0;
    int rounds = 0;
    do {
        reply r = http(port, "GET", "/health", HTTP_TIMEOUT_MS);
        ck_assert_msg(r.status == 503, "GET /health with PostgreSQL down: status %d (%s)\n%s",
                      r.status, r.error, shown(r.body));
        slowest = r.elapsed_ms > slowest ? r.elapsed_ms : slowest;
        json_object *h = json_tokener_parse(r.body);
        ck_assert_msg(h != NULL, "/health is not JSON:\n%s", shown(r.body));
        ck_assert_str_eq(json_object_get_string(member(h, "status", json_type_string)), "down");
        ck_assert_str_eq(json_object_get_string(member(member(h, "postgres", json_type_object),
                                                       "status", json_type_string)),
                         "unhealthy");
        ck_assert_str_eq(json_object_get_string(member(member(h, "redis", json_type_object),
                                                       "status", json_type_string)),
                         "healthy");
        json_object_put(h);
        reply_free(&r);

        r = get_ok(port, "/metrics", 200);
        assert_line(r.body, "pmq_postgres_up 0");
        assert_line(r.body, "pmq_redis_up 1");
        reply_free(&r);

        int st;
        char *out = pmq_test_ctl(config, &st, "health");
        ck_assert_msg(st == 2 && strstr(out, "\npostgres    unhealthy"),
                      "pmqctl health with PostgreSQL down exited with %d:\n%s", st, shown(out));
        free(out);
        rounds++;
        sleep_ms(1000);
    } while (pmq_now_ms() - t0 < PGDOWN_MS);
    fprintf(stderr,
            "test_http: PostgreSQL down at %lld of %d jobs, %d rounds; slowest /health %ld ms\n",
            done, PGDOWN_JOBS, rounds, slowest);
    char *start = pmq_asprintf("start -l '%s/pg/postgres.log'", pmq_test_dir());
    pg_ctl(start);
    free(start);

    pg = pmq_test_pg();
    char *all = pmq_asprintf("%d", PGDOWN_JOBS);
    pmq_test_await_sql(pg, "SELECT count(*) FROM jobs WHERE status = 'completed'", all, "pgdown");
    pmq_test_assert_sql(pg, all, "SELECT count(*) FROM jobs");
    pmq_test_assert_sql(pg, "0",
                        "SELECT count(*) FROM jobs j WHERE NOT EXISTS (SELECT 1 FROM job_logs l "
                        "WHERE l.job_id = j.id AND l.status = 'completed')");
    reply r = wait_status(port, "/health", 200, "pgdown");
    reply_free(&r);

    pmq_test_pmqd_stop_checked(pid, "pgdown", 0);
    PQfinish(pg);
    free(all);
    free(config);
}
END_TEST

/* The postmaster's pid (the first line of <test dir>/pg/postmaster.pid). */
static pid_t postmaster_pid(void)
{
    char *path = pmq_asprintf("%s/pg/postmaster.pid", pmq_test_dir());
    FILE *f = fopen(path, "r");
    ck_assert_msg(f != NULL, "cannot read %s: %s", path, strerror(errno));
    long pid = 0;
    ck_assert_int_eq(fscanf(f, "%ld", &pid), 1);
    fclose(f);
    free(path);
    return (pid_t)pid;
}

/*
 * PostgreSQL hung rather than down (its postmaster stopped: a new
 * connection is never answered), with [database] connect_timeout = 0, which
 * libpq reads as "wait for ever": /health still answers 503 with postgres
 * "unhealthy", /metrics pmq_postgres_up 0, and `pmqctl health` exits 2
 * (health.c's own bound; they used to wait for as long as the hang).
 */
START_TEST(health_answers_when_postgres_hangs)
{
    pmq_test_reset();
    int port = free_port();
    char *ini = pmq_asprintf("[database]\nconnect_timeout = 0\n\n"
                             "[http]\nlisten = 127.0.0.1:%d\n\n"
                             "[pool t]\nqueues = t.ok\nprocesses = 1\nthreads = 2\n",
                             port);
    char *config = write_config("pghung", NULL, NULL, ini);
    free(ini);
    free(pmq_test_ctl(config, NULL, "migrate"));
    pid_t pid = pmq_test_pmqd_start(config, "pghung");
    reply r = wait_status(port, "/health", 200, "pghung");
    reply_free(&r);

    pid_t postmaster = postmaster_pid();
    /* A safety net: should the test hang or be killed (Check kills its
     * process group), PostgreSQL still resumes, for the next tests. */
    pid_t waker = fork();
    ck_assert_int_ge(waker, 0);
    if (waker == 0) {
        setsid();
        sleep_ms(2 * HTTP_TIMEOUT_MS);
        kill(postmaster, SIGCONT);
        _exit(0);
    }
    ck_assert_int_eq(kill(postmaster, SIGSTOP), 0);
    r = http(port, "GET", "/health", HTTP_TIMEOUT_MS);
    reply m = http(port, "GET", "/metrics", HTTP_TIMEOUT_MS);
    int st;
    char *out = pmq_test_ctl(config, &st, "health");
    /* Before any assertion, so that a failure leaves no hung server. */
    ck_assert_int_eq(kill(postmaster, SIGCONT), 0);
    kill(waker, SIGKILL);
    waitpid(waker, NULL, 0);

    ck_assert_msg(r.status == 503,
                  "GET /health with PostgreSQL hung: status %d after %ld ms (%s)\n%s", r.status,
                  r.elapsed_ms, r.error, shown(r.body));
    fprintf(stderr, "test_http: /health answered 503 in %ld ms with PostgreSQL hung\n",
            r.elapsed_ms);
    json_object *h = json_tokener_parse(r.body);
    ck_assert_msg(h != NULL, "/health is not JSON:\n%s", shown(r.body));
    ck_assert_str_eq(json_object_get_string(member(h, "status", json_type_string)), "down");
    ck_assert_str_eq(json_object_get_string(member(member(h, "postgres", json_type_object),
                                                   "status", json_type_string)),
                     "unhealthy");
    json_object_put(h);
    ck_assert_msg(m.status == 200, "GET /metrics with PostgreSQL hung: status %d after %ld ms (%s)",
                  m.status, m.elapsed_ms, m.error);
    assert_line(m.body, "pmq_postgres_up 0");
    ck_assert_msg(st == 2 && strstr(out, "\npostgres    unhealthy"),
                  "pmqctl health with PostgreSQL hung exited with %d:\n%s", st, shown(out));
    free(out);
    reply_free(&r);
    reply_free(&m);

    pmq_test_pmqd_stop_checked(pid, "pghung", 0);
    free(config);
}
END_TEST

/*--- the suite ---*/

static Suite *http_suite(void)
{
    Suite *s = suite_create("http");
    TCase *tc = pmq_test_case(s, "renderer", TEST_TIMEOUT_S);
    tcase_add_test(tc, renderer_escapes_and_accumulates);
    tcase_add_test(tc, overlong_key_prefix_is_refused);
    tc = pmq_test_case(s, "metrics", TEST_TIMEOUT_S);
    tcase_add_test(tc, metrics_match_postgres_after_workload);
    tc = pmq_test_case(s, "health", TEST_TIMEOUT_S);
    tcase_add_test(tc, health_reports_guide_shape);
    tcase_add_test(tc, health_503_when_redis_down);
    tc = pmq_test_case(s, "slow", TEST_TIMEOUT_S);
    tcase_add_test(tc, probes_get_through_slow_clients);
    tc = pmq_test_case(s, "pgdown", TEST_TIMEOUT_S);
    tcase_add_test(tc, postgres_down_midrun);
    tcase_add_test(tc, health_answers_when_postgres_hangs);
    return s;
}

int main(void)
{
    return pmq_test_main(http_suite(), NULL);
}
