/*
 * metrics.c -- the Prometheus text exposition of GET /metrics (see
 * metrics.h).
 *
 * Redis is read in two pipelined round trips (per queue: its stats hash and
 * three LLENs; then the dead letter, the migrator's hash and the worker set;
 * then one EXISTS per registered worker), PostgreSQL with two queries.  A
 * server that fails midway counts as down: its families are left out rather
 * than half-filled, and pmq_redis_up / pmq_postgres_up say so.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ack.h"
#include "buf.h"
#include "db.h"
#include "errors.h"
#include "health.h"
#include "keys.h"
#include "log.h"
#include "metrics.h"
#include "util.h"

#define NB (PMQ_STAT_NBUCKETS + 1) /* the bounds, then +Inf */

/*--- text ---*/

/* A label value, quoted: backslash, double quote and newline escaped. */
static void put_label(pmq_buf *t, const char *name, const char *value)
{
    pmq_buf_puts(t, name);
    pmq_buf_put(t, "=\"", 2);
    for (const char *p = value; *p; p++) {
        if (*p == '\\')
            pmq_buf_put(t, "\\\\", 2);
        else if (*p == '"')
            pmq_buf_put(t, "\\\"", 2);
        else if (*p == '\n')
            pmq_buf_put(t, "\\n", 2);
        else
            pmq_buf_put(t, p, 1);
    }
    pmq_buf_put(t, "\"", 1);
}

/* A sample value as Prometheus spells it (NaN, +Inf, -Inf). */
static void put_double(pmq_buf *t, double v)
{
    if (isnan(v))
        pmq_buf_puts(t, "NaN");
    else if (isinf(v))
        pmq_buf_puts(t, v > 0 ? "+Inf" : "-Inf");
    else
        pmq_buf_printf(t, "%.15g", v);
}

static void family(pmq_buf *t, const char *name, const char *type, const char *help)
{
    pmq_buf_printf(t, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

/*--- what was read ---*/

static const char *const outcomes[] = {"completed", "retried", "failed"};
static const char *const statuses[] = {"queued",    "migrated", "running",
                                       "completed", "failed",   "cancelled"};
#define NSTATUSES (sizeof statuses / sizeof *statuses)

typedef struct queue_data {
    char *name;
    long long outcome[3];
    long long duration[NB], latency[NB];
    double duration_sum, latency_sum;
    long long depth[PMQ_NBANDS];
    long long jobs[NSTATUSES];
} queue_data;

typedef struct snapshot {
    queue_data *q;
    size_t nq;
    int redis_up, pg_up;
    long long deadletter;
    long long mig_batches, mig_jobs, mig_last_batch;
    double mig_last_lag;
    long long workers;
    /* jobs rows whose status this file does not know, kept as they came */
    PGresult *jobs;
} snapshot;

static int by_name(const void *a, const void *b)
{
    return strcmp(((const queue_data *)a)->name, ((const queue_data *)b)->name);
}

static queue_data *find_queue(const snapshot *s, const char *name)
{
    queue_data key = {.name = (char *)name};
    return s->nq ? bsearch(&key, s->q, s->nq, sizeof *s->q, by_name) : NULL;
}

static int status_index(const char *status)
{
    for (size_t k = 0; k < NSTATUSES; k++)
        if (!strcmp(status, statuses[k]))
            return (int)k;
    return -1;
}

static void add_queue(snapshot *s, size_t *cap, const char *name)
{
    for (size_t i = 0; i < s->nq; i++)
        if (!strcmp(s->q[i].name, name))
            return;
    if (s->nq == *cap) {
        *cap = *cap ? *cap * 2 : 16;
        s->q = pmq_xrealloc(s->q, *cap * sizeof *s->q);
    }
    memset(&s->q[s->nq], 0, sizeof *s->q);
    s->q[s->nq++].name = pmq_xstrdup(name);
}

static long long to_ll(const char *v)
{
    return v ? strtoll(v, NULL, 10) : 0;
}

static double to_double(const char *v)
{
    return v ? strtod(v, NULL) : 0;
}

/*--- PostgreSQL ---*/

/* Queue names: job_queues when PostgreSQL answers, else the INI's. */
static void read_queues(snapshot *s, const pmq_config *cfg, PGconn *pg)
{
    size_t cap = 0;
    PGresult *res = pg ? PQexec(pg, "SELECT name FROM job_queues") : NULL;
    if (res && PQresultStatus(res) != PGRES_TUPLES_OK)
        log_warning("metrics: could not read the queues: %s", PQerrorMessage(pg));
    if (res && PQresultStatus(res) == PGRES_TUPLES_OK) {
        s->pg_up = 1;
        for (int i = 0; i < PQntuples(res); i++)
            add_queue(s, &cap, PQgetvalue(res, i, 0));
    } else {
        for (size_t i = 0; i < cfg->nqueues; i++)
            add_queue(s, &cap, cfg->queues[i].name);
        for (size_t p = 0; p < cfg->npools; p++)
            for (size_t i = 0; i < cfg->pools[p].nqueues; i++)
                add_queue(s, &cap, cfg->pools[p].queues[i]);
    }
    PQclear(res);
    /* strcmp order, not the server's collation: find_queue() relies on it. */
    if (s->nq)
        qsort(s->q, s->nq, sizeof *s->q, by_name);
}

static void read_jobs(snapshot *s, PGconn *pg)
{
    if (!s->pg_up)
        return;
    PGresult *res = PQexec(pg, "SELECT queue_name, status, count(*) FROM jobs GROUP BY 1, 2");
    if (PQresultStatus(res) != PGRES_TUPLES_OK) {
        log_warning("metrics: could not count jobs: %s", PQerrorMessage(pg));
        s->pg_up = 0;
        PQclear(res);
        return;
    }
    for (int i = 0; i < PQntuples(res); i++) {
        queue_data *q = find_queue(s, PQgetvalue(res, i, 0));
        int k = status_index(PQgetvalue(res, i, 1));
        if (q && k >= 0)
            q->jobs[k] = to_ll(PQgetvalue(res, i, 2));
    }
    s->jobs = res;
}

/*--- Redis ---*/

/* Field `name` of an HGETALL reply, or NULL. */
static const char *hash_field(const redisReply *h, const char *name)
{
    if (!h || h->type != REDIS_REPLY_ARRAY)
        return NULL;
    for (size_t i = 0; i + 1 < h->elements; i += 2)
        if (h->element[i]->str && !strcmp(h->element[i]->str, name))
            return h->element[i + 1]->str;
    return NULL;
}

static long long int_reply(const redisReply *r)
{
    return r && r->type == REDIS_REPLY_INTEGER ? r->integer : 0;
}

static void take_stats(queue_data *q, const redisReply *h)
{
    char field[32];
    for (int o = 0; o < 3; o++)
        q->outcome[o] = to_ll(hash_field(h, outcomes[o]));
    for (int b = 0; b < NB; b++) {
        snprintf(field, sizeof field, "duration_%d", b);
        q->duration[b] = to_ll(hash_field(h, field));
        snprintf(field, sizeof field, "latency_%d", b);
        q->latency[b] = to_ll(hash_field(h, field));
    }
    q->duration_sum = to_double(hash_field(h, "duration_sum"));
    q->latency_sum = to_double(hash_field(h, "latency_sum"));
}

/*
 * Collect `n` pipelined replies; -1 (all freed) when the connection fails or
 * Redis answers an error (LOADING, NOAUTH, a key of the wrong type): the
 * numbers would be wrong, so Redis counts as down for this scrape.
 */
static int replies(pmq_redis *r, redisReply **out, size_t n)
{
    size_t got = 0;
    int rc = 0;
    for (; got < n; got++) {
        if (redisGetReply(r->c, (void **)&out[got]) != REDIS_OK) {
            rc = -1;
            break;
        }
        if (out[got]->type == REDIS_REPLY_ERROR && rc == 0) {
            log_warning("metrics: Redis answered an error: %s", out[got]->str);
            rc = -1;
        }
    }
    if (rc < 0)
        for (size_t i = 0; i < got; i++)
            freeReplyObject(out[i]);
    return rc;
}

static void read_redis(snapshot *s, pmq_redis *r)
{
    if (!r)
        return;
    char key[PMQ_KEY_MAX];
    for (size_t i = 0; i < s->nq; i++) {
        redisAppendCommand(r->c, "HGETALL %s", pmq_key_stats(key, r->prefix, s->q[i].name));
        for (int b = 0; b < PMQ_NBANDS; b++)
            redisAppendCommand(r->c, "LLEN %s", pmq_key_queue(key, r->prefix, s->q[i].name, b));
    }
    redisAppendCommand(r->c, "LLEN %s", pmq_key_deadletter_list(key, r->prefix));
    redisAppendCommand(r->c, "HGETALL %s", pmq_key_migrator_stats(key, r->prefix));
    redisAppendCommand(r->c, "SMEMBERS %s", pmq_key_workers(key, r->prefix));

    /* Per queue: its stats hash and one LLEN per band; then three more. */
    size_t per = 1 + PMQ_NBANDS, n = per * s->nq + 3;
    redisReply **rep = pmq_xcalloc(n, sizeof *rep);
    if (replies(r, rep, n) < 0) {
        free(rep);
        return;
    }
    for (size_t i = 0; i < s->nq; i++) {
        take_stats(&s->q[i], rep[per * i]);
        for (int b = 0; b < PMQ_NBANDS; b++)
            s->q[i].depth[b] = int_reply(rep[per * i + 1 + (size_t)b]);
    }
    s->deadletter = int_reply(rep[n - 3]);
    const redisReply *mig = rep[n - 2];
    s->mig_batches = to_ll(hash_field(mig, "batches"));
    s->mig_jobs = to_ll(hash_field(mig, "jobs"));
    s->mig_last_batch = to_ll(hash_field(mig, "last_batch"));
    s->mig_last_lag = to_double(hash_field(mig, "last_lag"));

    /* A worker counts while its heartbeat key lives (never KEYS). */
    const redisReply *members = rep[n - 1];
    size_t nm = members->type == REDIS_REPLY_ARRAY ? members->elements : 0;
    const char **ids = pmq_xcalloc(nm + 1, sizeof *ids);
    int *alive = pmq_xcalloc(nm + 1, sizeof *alive);
    for (size_t i = 0; i < nm; i++)
        ids[i] = members->element[i]->str ? members->element[i]->str : "";
    int ok = pmq_heartbeat_alive(r, ids, nm, alive) == 0;
    for (size_t i = 0; ok && i < nm; i++)
        s->workers += alive[i];
    free(ids);
    free(alive);
    for (size_t i = 0; i < n; i++)
        freeReplyObject(rep[i]);
    free(rep);
    s->redis_up = ok;
}

/*--- rendering ---*/

static void render_histogram(pmq_buf *t, const snapshot *s, const char *name, const char *help,
                             int latency)
{
    if (!s->nq)
        return;
    family(t, name, "histogram", help);
    for (size_t i = 0; i < s->nq; i++) {
        const queue_data *q = &s->q[i];
        const long long *counts = latency ? q->latency : q->duration;
        long long cumulative = 0;
        for (int b = 0; b < NB; b++) {
            cumulative += counts[b];
            pmq_buf_printf(t, "%s_bucket{", name);
            put_label(t, "queue", q->name);
            if (b < PMQ_STAT_NBUCKETS)
                pmq_buf_printf(t, ",le=\"%g\"} %lld\n", pmq_stat_buckets[b], cumulative);
            else
                pmq_buf_printf(t, ",le=\"+Inf\"} %lld\n", cumulative);
        }
        pmq_buf_printf(t, "%s_sum{", name);
        put_label(t, "queue", q->name);
        pmq_buf_puts(t, "} ");
        put_double(t, latency ? q->latency_sum : q->duration_sum);
        pmq_buf_printf(t, "\n%s_count{", name);
        put_label(t, "queue", q->name);
        pmq_buf_printf(t, "} %lld\n", cumulative);
    }
}

static void render_redis(pmq_buf *t, const snapshot *s)
{
    if (s->nq) {
        family(t, "pmq_jobs_finished_total", "counter",
               "Attempts that ended, by outcome, as PostgreSQL recorded them.");
        for (size_t i = 0; i < s->nq; i++)
            for (int o = 0; o < 3; o++) {
                pmq_buf_puts(t, "pmq_jobs_finished_total{");
                put_label(t, "queue", s->q[i].name);
                pmq_buf_printf(t, ",outcome=\"%s\"} %lld\n", outcomes[o], s->q[i].outcome[o]);
            }
    }
    render_histogram(t, s, "pmq_job_duration_seconds", "Time a handler ran, per attempt.", 0);
    render_histogram(t, s, "pmq_job_start_latency_seconds",
                     "Time from a job's creation to its handler's start, first attempts only.", 1);
    if (s->nq) {
        family(t, "pmq_queue_depth", "gauge", "Jobs ready in Redis, by priority band.");
        for (size_t i = 0; i < s->nq; i++)
            for (int b = 0; b < PMQ_NBANDS; b++) {
                pmq_buf_puts(t, "pmq_queue_depth{");
                put_label(t, "queue", s->q[i].name);
                pmq_buf_printf(t, ",band=\"%s\"} %lld\n", pmq_band_name(b), s->q[i].depth[b]);
            }
    }
    family(t, "pmq_deadletter_depth", "gauge", "Entries in the Redis dead-letter list.");
    pmq_buf_printf(t, "pmq_deadletter_depth %lld\n", s->deadletter);
    family(t, "pmq_migrator_batches_total", "counter", "Batches the migrators moved to Redis.");
    pmq_buf_printf(t, "pmq_migrator_batches_total %lld\n", s->mig_batches);
    family(t, "pmq_migrator_jobs_total", "counter", "Jobs the migrators moved to Redis.");
    pmq_buf_printf(t, "pmq_migrator_jobs_total %lld\n", s->mig_jobs);
    family(t, "pmq_migrator_lag_seconds", "gauge",
           "Worst lag (due to migrated) of the last batch.");
    pmq_buf_puts(t, "pmq_migrator_lag_seconds ");
    put_double(t, s->mig_last_lag);
    pmq_buf_put(t, "\n", 1);
    family(t, "pmq_migrator_last_batch_size", "gauge", "Jobs in the last batch migrated.");
    pmq_buf_printf(t, "pmq_migrator_last_batch_size %lld\n", s->mig_last_batch);
    family(t, "pmq_workers_active", "gauge", "Worker processes whose heartbeat is alive.");
    pmq_buf_printf(t, "pmq_workers_active %lld\n", s->workers);
}

static void render_jobs(pmq_buf *t, const snapshot *s)
{
    int rows = s->jobs ? PQntuples(s->jobs) : 0;
    if (!s->nq && !rows)
        return;
    family(t, "pmq_jobs", "gauge", "Jobs in PostgreSQL, by queue and status.");
    for (size_t i = 0; i < s->nq; i++)
        for (size_t k = 0; k < NSTATUSES; k++) {
            pmq_buf_puts(t, "pmq_jobs{");
            put_label(t, "queue", s->q[i].name);
            pmq_buf_printf(t, ",status=\"%s\"} %lld\n", statuses[k], s->q[i].jobs[k]);
        }
    /* A status (or a queue) this file does not know yet: as it came. */
    for (int i = 0; i < rows; i++) {
        const char *status = PQgetvalue(s->jobs, i, 1);
        int in_grid = find_queue(s, PQgetvalue(s->jobs, i, 0)) != NULL &&
                      status_index(status) >= 0;
        if (in_grid)
            continue;
        pmq_buf_puts(t, "pmq_jobs{");
        put_label(t, "queue", PQgetvalue(s->jobs, i, 0));
        pmq_buf_put(t, ",", 1);
        put_label(t, "status", status);
        pmq_buf_printf(t, "} %lld\n", to_ll(PQgetvalue(s->jobs, i, 2)));
    }
}

char *pmq_metrics_render_with(const pmq_config *cfg, PGconn *pg, pmq_redis *r)
{
    snapshot s = {0};
    read_queues(&s, cfg, pg);
    read_jobs(&s, pg);
    read_redis(&s, r);

    pmq_buf t = {0};
    family(&t, "pmq_redis_up", "gauge", "Whether Redis answered this scrape (1) or not (0).");
    pmq_buf_printf(&t, "pmq_redis_up %d\n", s.redis_up);
    family(&t, "pmq_postgres_up", "gauge",
           "Whether PostgreSQL answered this scrape (1) or not (0).");
    pmq_buf_printf(&t, "pmq_postgres_up %d\n", s.pg_up);
    if (s.redis_up)
        render_redis(&t, &s);
    if (s.pg_up)
        render_jobs(&t, &s);

    for (size_t i = 0; i < s.nq; i++)
        free(s.q[i].name);
    free(s.q);
    PQclear(s.jobs);
    return t.s;
}

char *pmq_metrics_render(const pmq_config *cfg)
{
    /* A scrape is bounded as a health probe is, locked tables included. */
    pmq_config bounded = pmq_health_config(cfg);
    pmq_errors errs = PMQ_ERRORS_INIT;
    PGconn *pg = pmq_db_connect(&bounded, &errs);
    pmq_errors_clear(&errs);
    if (pg)
        PQclear(PQexec(pg, "SET statement_timeout = '" PMQ_STR(PMQ_HEALTH_TIMEOUT_S) "s'"));
    pmq_redis *r = pmq_redis_connect(&bounded, &errs);
    pmq_errors_clear(&errs);
    char *out = pmq_metrics_render_with(cfg, pg, r);
    pmq_redis_free(r);
    PQfinish(pg);
    return out;
}
