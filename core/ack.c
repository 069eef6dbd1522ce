/*
 * ack.c -- outcomes to PostgreSQL and Redis, in batches (see ack.h).
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ack.h"
#include "buf.h"
#include "db.h"
#include "keys.h"
#include "log.h"
#include "session.h"
#include "util.h"

/*
 * The newest dead letters Redis mirrors in deadletter:queue (PostgreSQL
 * keeps them all): the list, and the deadletter:<id> keys naming its
 * entries, stay bounded however many jobs fail.
 */
#define DEADLETTER_MIRROR 1000

/*
 * One statement for the whole batch.  The WHERE clause makes an outcome
 * count only for the attempt it belongs to: a late or duplicate outcome
 * (a job re-run after a loss) changes nothing (DESIGN.md I3).  The
 * "= ANY ($1)" lets the planner use the primary key without statistics.
 */
static const pmq_stmt apply_stmt = {
    "pmq_ack_apply",
    "WITH o AS ("
    " SELECT * FROM unnest($1::uuid[], $2::int[], $3::text[], $4::text[], $5::text[],"
    "  $6::bigint[], $7::bigint[], $8::bigint[], $9::real[])"
    " AS o(id, attempt, outcome, err, log, started_us, finished_us, delay_ms, progress)),"
    " u AS (UPDATE jobs j SET"
    "  status = CASE WHEN o.outcome = 'done' THEN 'completed'"
    "   WHEN o.outcome = 'fail' OR j.attempt_count + 1 >= j.max_attempts THEN 'failed'"
    "   ELSE 'queued' END,"
    "  attempt_count = j.attempt_count + 1,"
    "  run_at = CASE WHEN o.outcome = 'retry' THEN now() + o.delay_ms * interval '1 millisecond'"
    "   ELSE j.run_at END,"
    "  started_at = to_timestamp(o.started_us / 1e6),"
    "  completed_at = CASE WHEN o.outcome = 'done' THEN to_timestamp(o.finished_us / 1e6) END,"
    "  failed_at = CASE WHEN o.outcome = 'fail' OR (o.outcome = 'retry'"
    "   AND j.attempt_count + 1 >= j.max_attempts) THEN to_timestamp(o.finished_us / 1e6) END,"
    "  last_error_message = CASE WHEN o.outcome = 'done' THEN j.last_error_message ELSE o.err END,"
    "  progress = COALESCE(o.progress, j.progress),"
    "  worker_id = $10, updated_at = now()"
    "  FROM o WHERE j.id = o.id AND j.id = ANY ($1::uuid[]) AND j.attempt_count = o.attempt - 1"
    "   AND j.status IN ('queued', 'migrated', 'running')"
    "  RETURNING j.id, j.status, j.queue_name, j.payload, j.attempt_count, j.failed_at,"
    "   o.outcome, o.err, o.log, o.started_us, o.finished_us),"
    " l AS (INSERT INTO job_logs (job_id, status, log_message, attempt_number, worker_id,"
    "   started_at, finished_at, duration)"
    "  SELECT id, CASE WHEN outcome = 'done' THEN 'completed' WHEN status = 'failed' THEN 'failed'"
    "   ELSE 'retry' END, NULLIF(concat_ws(E'\\n', err, log), ''), attempt_count, $10,"
    "   to_timestamp(started_us / 1e6), to_timestamp(finished_us / 1e6),"
    "   (finished_us - started_us) * interval '1 microsecond' FROM u)"
    " SELECT id, status, CASE WHEN status = 'failed' THEN json_build_object('id', id,"
    "  'queue_name', queue_name, 'payload', payload, 'error', err, 'failed_at', failed_at,"
    "  'attempt_count', attempt_count)::text END, queue_name, attempt_count FROM u", 10};

void pmq_outcome_clear(pmq_outcome *o)
{
    free(o->error);
    free(o->log);
    free(o->queue);
    o->error = o->log = o->queue = NULL;
}

/*--- PostgreSQL array literals ---*/

static void sb_sep(pmq_buf *b)
{
    pmq_buf_put(b, b->len > 1 ? "," : "", b->len > 1 ? 1 : 0);
}

/* Length of the valid UTF-8 sequence at `p`, or 0 when it is not one. */
static size_t utf8_len(const unsigned char *p)
{
    if (p[0] < 0x80)
        return 1;
    size_t n = (p[0] & 0xE0) == 0xC0 ? 2 : (p[0] & 0xF0) == 0xE0 ? 3 : (p[0] & 0xF8) == 0xF0 ? 4 : 0;
    if (n == 0 || (n == 2 && p[0] < 0xC2))
        return 0;
    for (size_t i = 1; i < n; i++)
        if ((p[i] & 0xC0) != 0x80)
            return 0;
    return n;
}

/*
 * A quoted array element.  Bytes that are not UTF-8 (an SMTP reply in
 * Latin-1, say) become '?': one bad message must not make PostgreSQL refuse
 * the whole batch, which would hold every job in it.
 */
static void sb_text(pmq_buf *b, const char *s)
{
    sb_sep(b);
    if (!s) {
        pmq_buf_put(b, "NULL", 4);
        return;
    }
    pmq_buf_put(b, "\"", 1);
    for (const unsigned char *p = (const unsigned char *)s; *p;) {
        size_t n = utf8_len(p);
        if (n == 0) {
            pmq_buf_put(b, "?", 1);
            p++;
            continue;
        }
        if (*p == '"' || *p == '\\')
            pmq_buf_put(b, "\\", 1);
        pmq_buf_put(b, (const char *)p, n);
        p += n;
    }
    pmq_buf_put(b, "\"", 1);
}

static void sb_num(pmq_buf *b, long long v)
{
    char tmp[32];
    sb_sep(b);
    pmq_buf_put(b, tmp, (size_t)snprintf(tmp, sizeof tmp, "%lld", v));
}

static void sb_real(pmq_buf *b, double v)
{
    char tmp[32];
    sb_sep(b);
    if (v < 0)
        pmq_buf_put(b, "NULL", 4);
    else
        pmq_buf_put(b, tmp, (size_t)snprintf(tmp, sizeof tmp, "%.4f", v));
}

static const char *outcome_name(pmq_status s)
{
    return s == PMQ_DONE ? "done" : s == PMQ_RETRY ? "retry" : "fail";
}

/*--- Redis after the commit ---*/

/*
 * Per-queue counters and histograms in pmq:stats:<queue>, read by the
 * /metrics endpoint: outcomes, handler duration, creation -> start latency.
 * Buckets hold plain (not cumulative) counts; the exporter sums them.
 */
const double pmq_stat_buckets[PMQ_STAT_NBUCKETS] = {0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1,
                                                    0.25,  0.5,    1,     2.5,  5,     10,   30,
                                                    60,    300};

static int bucket_of(double seconds)
{
    for (int b = 0; b < PMQ_STAT_NBUCKETS; b++)
        if (seconds <= pmq_stat_buckets[b])
            return b;
    return PMQ_STAT_NBUCKETS; /* +Inf */
}

typedef struct queue_stats {
    const char *queue;
    long outcomes[3];
    long duration[PMQ_STAT_NBUCKETS + 1], latency[PMQ_STAT_NBUCKETS + 1];
    double duration_sum, latency_sum;
    long latency_count;
} queue_stats;

/*
 * The counters of `queue`, added to *qs when new.  A batch holds few
 * queues: grow as they appear, rather than zeroing ~300 bytes per job.
 */
static queue_stats *stats_for(queue_stats **qs, size_t *nq, const char *queue)
{
    size_t k = 0;
    while (k < *nq && strcmp((*qs)[k].queue, queue) != 0)
        k++;
    if (k == *nq) {
        *qs = pmq_xrealloc(*qs, (k + 1) * sizeof **qs);
        memset(&(*qs)[k], 0, sizeof **qs);
        (*qs)[k].queue = queue;
        (*nq)++;
    }
    return &(*qs)[k];
}

/* Outcome counts come from the rows PostgreSQL changed: they match the table. */
static size_t append_stats(pmq_redis *r, const pmq_outcome *o, size_t n, PGresult *res)
{
    static const char *const outcome_field[] = {"completed", "retried", "failed"};
    int rows = res ? PQntuples(res) : 0;
    queue_stats *qs = NULL;
    size_t nq = 0, sent = 0;
    for (int i = 0; i < rows; i++) {
        const char *status = PQgetvalue(res, i, 1);
        queue_stats *q = stats_for(&qs, &nq, PQgetvalue(res, i, 3));
        q->outcomes[!strcmp(status, "completed") ? 0 : !strcmp(status, "failed") ? 2 : 1]++;
    }
    for (size_t i = 0; i < n; i++) {
        if (!o[i].queue)
            continue;
        queue_stats *q = stats_for(&qs, &nq, o[i].queue);
        double d = (double)(o[i].finished_us - o[i].started_us) / 1e6;
        q->duration[bucket_of(d)]++;
        q->duration_sum += d;
        if (o[i].created_us > 0) {
            double l = (double)(o[i].started_us - o[i].created_us) / 1e6;
            if (l < 0)
                l = 0;
            q->latency[bucket_of(l)]++;
            q->latency_sum += l;
            q->latency_count++;
        }
    }
    char key[PMQ_KEY_MAX], field[32];
    for (size_t k = 0; k < nq; k++) {
        pmq_key_stats(key, r->prefix, qs[k].queue);
        for (int s = 0; s < 3; s++)
            if (qs[k].outcomes[s]) {
                redisAppendCommand(r->c, "HINCRBY %s %s %ld", key, outcome_field[s], qs[k].outcomes[s]);
                sent++;
            }
        for (int b = 0; b <= PMQ_STAT_NBUCKETS; b++) {
            if (qs[k].duration[b]) {
                snprintf(field, sizeof field, "duration_%d", b);
                redisAppendCommand(r->c, "HINCRBY %s %s %ld", key, field, qs[k].duration[b]);
                sent++;
            }
            if (qs[k].latency[b]) {
                snprintf(field, sizeof field, "latency_%d", b);
                redisAppendCommand(r->c, "HINCRBY %s %s %ld", key, field, qs[k].latency[b]);
                sent++;
            }
        }
        redisAppendCommand(r->c, "HINCRBYFLOAT %s duration_sum %.6f", key, qs[k].duration_sum);
        sent++;
        if (qs[k].latency_count) {
            redisAppendCommand(r->c, "HINCRBYFLOAT %s latency_sum %.6f", key, qs[k].latency_sum);
            sent++;
        }
    }
    free(qs);
    return sent;
}

/* lua/settle.lua and lua/deadletter.lua say what they take and do. */
static pmq_script settle_script = {pmq_lua_settle, ""};
static pmq_script deadletter_script = {pmq_lua_deadletter, ""};

static pmq_script *const release_scripts[] = {&settle_script, &deadletter_script};

/*
 * Make sure Redis knows the release's scripts (they are pipelined by SHA);
 * `reload` after a failed release, in case Redis restarted and forgot them.
 * Returns -1 on a connection error or a refusal.
 */
static int load_scripts(pmq_redis *r, int reload)
{
    for (size_t i = 0; i < sizeof release_scripts / sizeof release_scripts[0]; i++) {
        pmq_script *sc = release_scripts[i];
        if (sc->sha[0] && !reload)
            continue;
        if (pmq_redis_load_script(r, sc) < 0)
            return -1;
    }
    return 0;
}

/*
 * Send the idempotent part of the release: the claims and the job hashes
 * (and, first time only, the dead-letter list and the counters, which would
 * count twice if sent again).  Returns the number of replies to read.
 */
static size_t append_release(pmq_redis *r, const char *worker_id, const pmq_outcome *o, size_t n,
                             PGresult *res, int first)
{
    char active[PMQ_KEY_MAX];
    size_t sent = 0;
    /* One HDEL for the whole batch: the claims are keyed by job id. */
    const char **argv = pmq_xmalloc((n + 2) * sizeof *argv);
    size_t argc = 0;
    argv[argc++] = "HDEL";
    argv[argc++] = pmq_key_active(active, r->prefix, worker_id);
    for (size_t i = 0; i < n; i++)
        if (o[i].claimed)
            argv[argc++] = o[i].id;
    if (argc > 2) {
        redisAppendCommandArgv(r->c, (int)argc, argv, NULL);
        sent++;
    }
    free(argv);

    int rows = res ? PQntuples(res) : 0;
    if (rows > 0) {
        char finished[32], ttl[16];
        snprintf(finished, sizeof finished, "%lld", (long long)(pmq_wall_us() / 1000));
        snprintf(ttl, sizeof ttl, "%d", r->cfg->finished_ttl_s);
        char(*keys)[PMQ_KEY_MAX] = pmq_xmalloc((size_t)rows * sizeof *keys);
        const char **kv = pmq_xmalloc((size_t)rows * sizeof *kv);
        const char **av = pmq_xmalloc((size_t)(2 + 2 * rows) * sizeof *av);
        av[0] = finished;
        av[1] = ttl;
        for (int i = 0; i < rows; i++) {
            kv[i] = pmq_key_job(keys[i], r->prefix, PQgetvalue(res, i, 0));
            av[2 + 2 * i] = PQgetvalue(res, i, 4);
            av[3 + 2 * i] = PQgetvalue(res, i, 1);
        }
        pmq_redis_append_eval(r, &settle_script, rows, kv, 2 + 2 * rows, av);
        sent++;
        free(keys);
        free(kv);
        free(av);
    }
    char dl[PMQ_KEY_MAX], list[PMQ_KEY_MAX], head[PMQ_KEY_MAX], cap[16];
    snprintf(cap, sizeof cap, "%d", DEADLETTER_MIRROR);
    pmq_key_deadletter_list(list, r->prefix);
    pmq_key_deadletter(head, r->prefix, "");
    for (int i = 0; i < rows; i++) {
        if (PQgetisnull(res, i, 2))
            continue;
        /*
         * The guide's dead-letter entry; deadletter:<id> keeps it for replay.
         * Not sent again on a retry: the first may have been applied, and
         * the mirror is a convenience (PostgreSQL keeps every dead letter).
         */
        if (!first)
            continue;
        const char *entry = PQgetvalue(res, i, 2);
        pmq_key_deadletter(dl, r->prefix, PQgetvalue(res, i, 0));
        const char *keys[3] = {dl, list, head}, *args[2] = {entry, cap};
        pmq_redis_append_eval(r, &deadletter_script, 3, keys, 2, args);
        sent++;
    }
    if (first)
        sent += append_stats(r, o, n, res);
    return sent;
}

int pmq_ack_settle_hash(pmq_redis *r, const char *id, int attempt, const char *status)
{
    char key[PMQ_KEY_MAX], finished[32], ttl[16], att[16];
    const char *keys[1] = {pmq_key_job(key, r->prefix, id)};
    snprintf(finished, sizeof finished, "%lld", (long long)(pmq_wall_us() / 1000));
    snprintf(ttl, sizeof ttl, "%d", r->cfg->finished_ttl_s);
    snprintf(att, sizeof att, "%d", attempt);
    const char *args[4] = {finished, ttl, att, status};
    redisReply *rep = pmq_redis_eval(r, &settle_script, 1, keys, 4, args, NULL);
    if (!rep)
        return -1;
    int rc = rep->type == REDIS_REPLY_ERROR ? -1 : 0;
    freeReplyObject(rep);
    return rc;
}

/*
 * After the commit: drop the claims from pmq:active and settle job:<id>.
 * A broken connection or an error reply (READONLY after a failover) gets
 * one more try on a new connection; if that fails too, the claims stay in
 * pmq:active, where recovery finds them settled in PostgreSQL and only
 * drops them (recovery.c).
 */
static void release_in_redis(pmq_redis *r, const char *worker_id, pmq_outcome *o, size_t n,
                             PGresult *res)
{
    for (int first = 1; first >= 0; first--) {
        if (load_scripts(r, !first) < 0) {
            log_warning("could not release %zu jobs in Redis%s", n, first ? ", trying again" : "");
            pmq_redis_reconnect(r);
            continue;
        }
        size_t sent = append_release(r, worker_id, o, n, res, first);
        if (pmq_redis_replies(r, sent, "release finished jobs") == 0)
            return;
        log_warning("could not release %zu jobs in Redis%s", n, first ? ", trying again" : "");
        pmq_redis_reconnect(r);
    }
}

int pmq_ack_apply(PGconn *pg, pmq_redis *r, const char *worker_id, pmq_outcome *o, size_t n)
{
    if (n == 0)
        return 0;
    pmq_buf a[9] = {{0}};
    for (int k = 0; k < 9; k++)
        pmq_buf_put(&a[k], "{", 1);
    for (size_t i = 0; i < n; i++) {
        sb_text(&a[0], o[i].id);
        sb_num(&a[1], o[i].attempt);
        sb_text(&a[2], outcome_name(o[i].status));
        sb_text(&a[3], o[i].status == PMQ_DONE ? NULL : o[i].error ? o[i].error : "no reason given");
        sb_text(&a[4], o[i].log);
        sb_num(&a[5], o[i].started_us);
        sb_num(&a[6], o[i].finished_us);
        sb_num(&a[7], o[i].delay_ms);
        sb_real(&a[8], o[i].progress);
    }
    const char *params[10];
    for (int k = 0; k < 9; k++) {
        pmq_buf_put(&a[k], "}", 1);
        params[k] = a[k].s;
    }
    params[9] = worker_id;

    int any_retry = 0;
    for (size_t i = 0; i < n; i++)
        any_retry |= o[i].status == PMQ_RETRY;

    PGresult *res = pmq_db_exec_stmt(pg, &apply_stmt, params);
    int rc = 0;
    if (PQresultStatus(res) != PGRES_TUPLES_OK) {
        log_error("could not record %zu outcomes: %s", n, PQerrorMessage(pg));
        rc = -1;
    } else {
        if (any_retry) {
            /* Wake the migrator so it re-arms its timer for the retries. */
            PGresult *nr = PQexec(pg, "NOTIFY pmq_jobs");
            PQclear(nr);
        }
        if (r)
            release_in_redis(r, worker_id, o, n, res);
    }
    PQclear(res);
    for (int k = 0; k < 9; k++)
        pmq_buf_free(&a[k]);
    return rc;
}

/*--- the group-commit thread ---*/

struct pmq_acker {
    const pmq_config *cfg;
    char *worker_id;
    int window_ms;
    int max_batch;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    pmq_outcome *pending;
    size_t npending, cap;
    int64_t oldest_ms;
    int stopping;
    pthread_t thread;
    pmq_acker_released_fn released;
    void *released_arg;
};

static void *acker_run(void *arg)
{
    pmq_acker *a = arg;
    /* Redis is tried with each new PostgreSQL connection; without it, claims wait in it. */
    pmq_session s = {.cfg = a->cfg, .want = PMQ_SESSION_PG | PMQ_SESSION_REDIS_OPTIONAL,
                     .backoff_min_ms = 50, .backoff_max_ms = 2000};
    pmq_outcome *batch = NULL;
    size_t nbatch = 0;

    pthread_mutex_lock(&a->mu);
    for (;;) {
        while (!a->stopping && a->npending == 0)
            pthread_cond_wait(&a->cv, &a->mu);
        if (a->npending == 0 && a->stopping)
            break;
        /* Let the batch fill for up to the window, unless it is full. */
        while (!a->stopping && a->npending < (size_t)a->max_batch &&
               pmq_now_ms() - a->oldest_ms < a->window_ms) {
            int64_t left = a->window_ms - (pmq_now_ms() - a->oldest_ms);
            struct timespec ts;
            clock_gettime(CLOCK_REALTIME, &ts);
            ts.tv_nsec += (long)(left % 1000) * 1000000L;
            ts.tv_sec += left / 1000 + ts.tv_nsec / 1000000000L;
            ts.tv_nsec %= 1000000000L;
            pthread_cond_timedwait(&a->cv, &a->mu, &ts);
        }
        /*
         * At most max_batch: a bounded statement and a bounded Redis
         * pipeline, however far PostgreSQL has fallen behind.  The rest is
         * already due, so the next round starts at once.
         */
        nbatch = a->npending < (size_t)a->max_batch ? a->npending : (size_t)a->max_batch;
        batch = pmq_xmalloc(nbatch * sizeof *batch);
        memcpy(batch, a->pending, nbatch * sizeof *batch);
        a->npending -= nbatch;
        memmove(a->pending, a->pending + nbatch, a->npending * sizeof *a->pending);
        pthread_mutex_unlock(&a->mu);

        /* Keep the outcomes until written: the claims stay in Redis till then. */
        while (pmq_session_connect(&s) < 0 ||
               pmq_ack_apply(s.pg, s.r, a->worker_id, batch, nbatch) < 0)
            pmq_session_wait(&s);
        pmq_session_ok(&s);
        if (a->released)
            a->released(a->released_arg, batch, nbatch);
        for (size_t i = 0; i < nbatch; i++)
            pmq_outcome_clear(&batch[i]);
        free(batch);

        pthread_mutex_lock(&a->mu);
        pthread_cond_broadcast(&a->cv); /* for pmq_acker_pending waiters */
    }
    pthread_mutex_unlock(&a->mu);
    pmq_session_close(&s);
    return NULL;
}

pmq_acker *pmq_acker_start(const pmq_config *cfg, const char *worker_id, int window_ms,
                           int max_batch, pmq_acker_released_fn released, void *released_arg)
{
    pmq_acker *a = pmq_xcalloc(1, sizeof *a);
    a->released = released;
    a->released_arg = released_arg;
    a->cfg = cfg;
    a->worker_id = pmq_xstrdup(worker_id);
    a->window_ms = window_ms;
    a->max_batch = max_batch;
    pthread_mutex_init(&a->mu, NULL);
    pthread_cond_init(&a->cv, NULL);
    if (pthread_create(&a->thread, NULL, acker_run, a) != 0) {
        log_error("could not start the acknowledgement thread");
        abort();
    }
    return a;
}

void pmq_acker_submit(pmq_acker *a, pmq_outcome *o)
{
    pthread_mutex_lock(&a->mu);
    if (a->npending == a->cap) {
        a->cap = a->cap ? a->cap * 2 : 64;
        a->pending = pmq_xrealloc(a->pending, a->cap * sizeof *a->pending);
    }
    if (a->npending == 0)
        a->oldest_ms = pmq_now_ms();
    a->pending[a->npending++] = *o;
    memset(o, 0, sizeof *o);
    pthread_cond_signal(&a->cv);
    pthread_mutex_unlock(&a->mu);
}

size_t pmq_acker_pending(pmq_acker *a)
{
    pthread_mutex_lock(&a->mu);
    size_t n = a->npending;
    pthread_mutex_unlock(&a->mu);
    return n;
}

void pmq_acker_stop(pmq_acker *a)
{
    if (!a)
        return;
    pthread_mutex_lock(&a->mu);
    a->stopping = 1;
    pthread_cond_broadcast(&a->cv);
    pthread_mutex_unlock(&a->mu);
    pthread_join(a->thread, NULL);
    pthread_mutex_destroy(&a->mu);
    pthread_cond_destroy(&a->cv);
    free(a->worker_id);
    free(a);
}
