/*
 * worker.c -- one worker process (see worker.h).
 *
 * Each thread loops: claim (one job when the backlog is short, a batch when
 * it is long), run each handler, submit the outcome; when nothing is ready
 * it blocks on the queues' wake-up lists, so an idle worker costs nothing
 * and starts a new job within a Redis round trip.
 *
 * A claim is safe to lose (DESIGN.md section 4): the process keeps the ids
 * of the entries it holds, from the claim's reply until the acker has
 * released them, and the heartbeat thread returns the entries of its own
 * pmq:active hash that no thread holds (a claim whose reply timed out after
 * Redis ran it, a release that failed), after a lost claim reply and
 * whenever Redis holds more entries than the process knows of.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "ack.h"
#include "backoff.h"
#include "claim.h"
#include "control.h"
#include "db.h"
#include "entry.h"
#include "job.h"
#include "keys.h"
#include "log.h"
#include "plugin_loader.h"
#include "queue_settings.h"
#include "session.h"
#include "util.h"
#include "worker.h"

#define CLAIM_BATCH 32
#define ACK_WINDOW_MS 10
#define ACK_BATCH 1000
#define MAX_UNACKED 20000 /* stop claiming while this many outcomes wait */
#define HELD_BUCKETS 4096  /* of the held-id table: about CLAIM_BATCH x threads + MAX_UNACKED */

/*--- the entries this process holds ---*/

typedef struct held_id {
    struct held_id *next;
    int count; /* the same job claimed twice (a duplicate entry) is held twice */
    char id[PMQ_JOB_ID_SIZE];
} held_id;

/* Ids of the entries in pmq:active:<worker> that a thread or the acker holds. */
typedef struct held_set {
    pthread_mutex_t mu;
    held_id *buckets[HELD_BUCKETS];
    size_t count;
} held_set;

static held_id **held_slot(held_set *h, const char *id)
{
    uint32_t x = 2166136261u; /* FNV-1a */
    for (const char *p = id; *p; p++)
        x = (x ^ (unsigned char)*p) * 16777619u;
    held_id **pp = &h->buckets[x % HELD_BUCKETS];
    while (*pp && strcmp((*pp)->id, id) != 0)
        pp = &(*pp)->next;
    return pp;
}

static void held_add(held_set *h, const char *id)
{
    pthread_mutex_lock(&h->mu);
    held_id **pp = held_slot(h, id);
    if (!*pp) {
        *pp = pmq_xcalloc(1, sizeof **pp);
        snprintf((*pp)->id, sizeof (*pp)->id, "%s", id);
    }
    (*pp)->count++;
    h->count++;
    pthread_mutex_unlock(&h->mu);
}

static void held_remove(held_set *h, const char *id)
{
    pthread_mutex_lock(&h->mu);
    held_id **pp = held_slot(h, id);
    if (*pp) {
        h->count--;
        if (--(*pp)->count == 0) {
            held_id *gone = *pp;
            *pp = gone->next;
            free(gone);
        }
    }
    pthread_mutex_unlock(&h->mu);
}

static int held_has(void *arg, const char *id)
{
    held_set *h = arg;
    pthread_mutex_lock(&h->mu);
    int yes = *held_slot(h, id) != NULL;
    pthread_mutex_unlock(&h->mu);
    return yes;
}

static size_t held_count(held_set *h)
{
    pthread_mutex_lock(&h->mu);
    size_t n = h->count;
    pthread_mutex_unlock(&h->mu);
    return n;
}

static void held_free(held_set *h)
{
    for (size_t b = 0; b < HELD_BUCKETS; b++)
        while (h->buckets[b]) {
            held_id *next = h->buckets[b]->next;
            free(h->buckets[b]);
            h->buckets[b] = next;
        }
    pthread_mutex_destroy(&h->mu);
}

/* The acker released these outcomes' claims: their entries are no longer held. */
static void held_released(void *arg, const pmq_outcome *o, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (o[i].claimed)
            held_remove(arg, o[i].id);
}

/* What a thread runs, for the heartbeat: current job, cancellation. */
typedef struct running {
    pthread_mutex_t mu;
    pmq_ctx *ctx; /* NULL when idle */
    char id[PMQ_JOB_ID_SIZE];
} running;

typedef struct worker {
    const pmq_worker_args *args;
    running *running; /* one per thread */
    pmq_registry *reg;
    pmq_acker *acker;
    char *conninfo;
    const char **queues;
    int nqueues;
    pthread_mutex_t serial; /* for plugins that are not thread-safe */
    /*
     * Claims hold it shared from their call until the ids of what they got
     * are held; a sweep holds it exclusive, so it never sees an entry a
     * claim moved but has not yet registered.
     */
    pthread_rwlock_t claim_lock;
    held_set held;
    int sweep_due; /* a claim's reply was lost: its entries may be in Redis */
} worker;

typedef struct thread_arg {
    worker *w;
    int index;
} thread_arg;

/*
 * Fill `job` from a claimed entry; -1 when it is not one of ours.  The
 * payload is copied as text: a handler that wants it parsed gets it parsed
 * on first use (host_api.c).
 */
static int job_from_entry(pmq_job *job, const char *text, int64_t *created_us)
{
    memset(job, 0, sizeof *job);
    pmq_entry e;
    if (pmq_entry_read(text, &e) < 0)
        return -1;
    memcpy(job->id, e.id, PMQ_JOB_ID_SIZE);
    job->queue = e.queue;
    job->tenant = e.tenant;
    job->priority = e.priority;
    job->attempt = e.attempt_count + 1;
    job->max_attempts = e.max_attempts;
    *created_us = e.created_us;
    job->created_at = (time_t)(e.created_us / 1000000);
    job->payload = pmq_xmalloc(e.payload_len + 1);
    memcpy(job->payload, e.payload, e.payload_len);
    job->payload[e.payload_len] = '\0';
    job->payload_len = e.payload_len;
    return 0; /* queue and tenant now belong to job */
}

static void run_one(worker *w, int index, pmq_ctx_env *env, const char *entry, unsigned *seed)
{
    const pmq_worker_args *a = w->args;
    pmq_job job;
    int64_t created_us;
    if (job_from_entry(&job, entry, &created_us) < 0) {
        /* Not a job pmq wrote: nothing can run it, and PostgreSQL still has the truth. */
        log_error("dropping a malformed entry from Redis: %.80s", entry);
        char id[PMQ_JOB_ID_SIZE];
        if (pmq_entry_id(entry, id) == 0)
            held_remove(&w->held, id); /* the sweep drops it from the hash */
        pmq_job_clear(&job);
        return;
    }
    const pmq_queue_config *qs = pmq_queue_settings(a->cfg, job.queue);
    const pmq_queue_handler *h = pmq_registry_handler(w->reg, job.queue);
    pmq_worker_slot *slot = a->slots ? &a->slots[index] : NULL;

    pmq_ctx ctx;
    pmq_ctx_init(&ctx, &job, env);
    pmq_outcome o = {0};
    memcpy(o.id, job.id, PMQ_JOB_ID_SIZE);
    o.attempt = job.attempt;
    o.started_us = pmq_wall_us();
    if (!h) {
        o.status = PMQ_FAIL;
        o.error = pmq_asprintf("no plugin serves queue \"%s\"", job.queue);
    } else {
        if (slot) {
            memcpy(slot->job_id, job.id, PMQ_JOB_ID_SIZE);
            slot->timeout_ms = qs->timeout_ms;
            __atomic_store_n(&slot->deadline_ms, pmq_now_ms() + qs->timeout_ms, __ATOMIC_RELEASE);
        }
        running *run = &w->running[index];
        pthread_mutex_lock(&run->mu);
        run->ctx = &ctx;
        memcpy(run->id, job.id, PMQ_JOB_ID_SIZE);
        pthread_mutex_unlock(&run->mu);
        if (!h->thread_safe)
            pthread_mutex_lock(&w->serial);
        pmq_status st = h->handler(&ctx, &job, h->state);
        if (!h->thread_safe)
            pthread_mutex_unlock(&w->serial);
        pthread_mutex_lock(&run->mu);
        run->ctx = NULL;
        pthread_mutex_unlock(&run->mu);
        if (slot)
            __atomic_store_n(&slot->deadline_ms, 0, __ATOMIC_RELEASE);
        if (st != PMQ_DONE && st != PMQ_RETRY && st != PMQ_FAIL) {
            o.status = PMQ_FAIL;
            o.error = pmq_asprintf("handler returned an invalid status %d", (int)st);
        } else {
            o.status = st;
            o.error = ctx.error;
            ctx.error = NULL;
        }
    }
    o.finished_us = pmq_wall_us();
    if (o.status == PMQ_RETRY)
        o.delay_ms = ctx.retry_delay_ms >= 0
                         ? ctx.retry_delay_ms
                         : pmq_backoff_ms(job.attempt, qs->backoff_base_ms, qs->backoff_max_ms, seed);
    if (o.status != PMQ_DONE && !o.error)
        o.error = pmq_xstrdup(o.status == PMQ_RETRY ? "handler asked for a retry"
                                                    : "handler reported a failure");
    o.log = ctx.log;
    ctx.log = NULL;
    for (size_t n = o.log ? strlen(o.log) : 0; n > 0 && o.log[n - 1] == '\n'; n--)
        o.log[n - 1] = '\0';
    o.progress = ctx.progress;
    o.claimed = 1;
    o.queue = pmq_xstrdup(job.queue);
    o.created_us = job.attempt == 1 ? created_us : 0;
    pmq_acker_submit(w->acker, &o);
    pmq_ctx_reset(&ctx);
    pmq_job_clear(&job);
}

/* Give back a claimed job this process will not start (draining). */
static void give_back(worker *w, pmq_redis *r, const char *entry)
{
    pmq_job job;
    int64_t created_us;
    if (job_from_entry(&job, entry, &created_us) == 0)
        pmq_claim_return(r, w->args->worker_id, job.queue, job.priority, job.id);
    pmq_job_clear(&job);
    char id[PMQ_JOB_ID_SIZE];
    if (pmq_entry_id(entry, id) == 0)
        held_remove(&w->held, id);
}

/* Claim, holding what comes back before a sweep may look (see claim_lock). */
static redisReply *claim(worker *w, pmq_redis *r, int max)
{
    pthread_rwlock_rdlock(&w->claim_lock);
    redisReply *rep = pmq_claim(r, w->args->worker_id, w->queues, w->nqueues, max);
    for (size_t i = 0; rep && i < rep->elements; i++) {
        char id[PMQ_JOB_ID_SIZE];
        if (rep->element[i]->type == REDIS_REPLY_STRING &&
            pmq_entry_id(rep->element[i]->str, id) == 0)
            held_add(&w->held, id);
    }
    pthread_rwlock_unlock(&w->claim_lock);
    if (!rep)
        __atomic_store_n(&w->sweep_due, 1, __ATOMIC_RELEASE);
    return rep;
}

/* Whether the queue of a claimed entry has been paused since it was claimed. */
static int entry_paused(pmq_redis *r, const char *entry)
{
    pmq_entry e;
    if (pmq_entry_read(entry, &e) < 0)
        return 0;
    char set[PMQ_KEY_MAX];
    redisReply *rep =
        pmq_redis_command(r, "SISMEMBER %s %s", pmq_key_paused(set, r->prefix), e.queue);
    int paused = rep && rep->type == REDIS_REPLY_INTEGER && rep->integer == 1;
    if (rep)
        freeReplyObject(rep);
    pmq_entry_clear(&e);
    return paused;
}

static void *thread_main(void *arg)
{
    thread_arg *ta = arg;
    worker *w = ta->w;
    const pmq_worker_args *a = w->args;
    pmq_ctx_env env = {w->conninfo, NULL};
    pmq_session s = {.cfg = a->cfg, .want = PMQ_SESSION_REDIS, .backoff_min_ms = 100,
                     .backoff_max_ms = 5000};
    unsigned seed = (unsigned)(pmq_wall_us() ^ (uint64_t)ta->index);
    int busy = 0;

    while (!*a->stopping) {
        int connected = pmq_session_connect(&s);
        if (connected < 0) {
            pmq_session_wait(&s);
            continue;
        }
        if (connected > 0)
            pmq_session_ok(&s);
        pmq_redis *r = s.r;
        if (pmq_acker_pending(w->acker) > MAX_UNACKED) {
            pmq_sleep_ms(5); /* PostgreSQL is behind: do not take more than we can record */
            continue;
        }
        int64_t seen_ms = pmq_now_ms(); /* when the queues' pause state was last seen */
        redisReply *rep = claim(w, r, busy ? CLAIM_BATCH : 1);
        if (!rep) {
            log_warning("lost Redis while claiming; reconnecting");
            pmq_session_drop(&s, PMQ_SESSION_REDIS);
            continue;
        }
        if (rep->elements == 0) {
            freeReplyObject(rep);
            busy = 0;
            if (pmq_claim_wait(r, w->queues, w->nqueues, 1.0) < 0)
                pmq_session_drop(&s, PMQ_SESSION_REDIS);
            continue;
        }
        busy = 1;
        /* The claim saw which queues were paused; a pause after it is seen within
         * PMQ_PAUSE_LAG_MS, and the rest of the batch goes back. */
        int paused = 0;
        for (size_t i = 0; i < rep->elements; i++) {
            int64_t now = pmq_now_ms();
            if (!paused && !*a->stopping && now - seen_ms >= PMQ_PAUSE_LAG_MS) {
                paused = entry_paused(r, rep->element[i]->str);
                seen_ms = now;
            }
            if (*a->stopping || paused)
                give_back(w, r, rep->element[i]->str);
            else
                run_one(w, ta->index, &env, rep->element[i]->str, &seed);
        }
        freeReplyObject(rep);
    }
    pmq_session_close(&s);
    pmq_ctx_env_close(&env);
    return NULL;
}

/*--- heartbeat ---*/

typedef struct heartbeat {
    worker *w;
    pthread_t thread;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int stop;
    int beaten;             /* the first heartbeat is in Redis */
    pthread_cond_t beat_cv; /* signalled when it is */
    pmq_session db;         /* for the sweep, opened when one is needed */
} heartbeat;

/* Tell running handlers whose job an operator cancelled (job:<id> "cancelled"). */
static void check_cancelled(pmq_redis *r, worker *w)
{
    int n = w->args->pool->threads > 0 ? w->args->pool->threads : 1;
    for (int i = 0; i < n; i++) {
        running *run = &w->running[i];
        char id[PMQ_JOB_ID_SIZE] = "";
        pthread_mutex_lock(&run->mu);
        if (run->ctx && !run->ctx->cancelled)
            memcpy(id, run->id, PMQ_JOB_ID_SIZE);
        pthread_mutex_unlock(&run->mu);
        if (!id[0])
            continue;
        char key[PMQ_KEY_MAX];
        redisReply *rep =
            pmq_redis_command(r, "HGET %s cancelled", pmq_key_job(key, r->prefix, id));
        int yes = rep && rep->type == REDIS_REPLY_STRING && !strcmp(rep->str, "1");
        if (rep)
            freeReplyObject(rep);
        pthread_mutex_lock(&run->mu);
        if (yes && run->ctx && !strcmp(run->id, id))
            run->ctx->cancelled = 1;
        pthread_mutex_unlock(&run->mu);
    }
}

/* The jobs the threads run now, comma-separated, for `pmqctl workers`. */
static void current_jobs(worker *w, char *buf, size_t size)
{
    int n = w->args->pool->threads > 0 ? w->args->pool->threads : 1;
    buf[0] = '\0';
    for (int i = 0; i < n; i++) {
        running *run = &w->running[i];
        pthread_mutex_lock(&run->mu);
        if (run->ctx && strlen(buf) + PMQ_JOB_ID_SIZE < size) {
            if (buf[0])
                strcat(buf, ",");
            strcat(buf, run->id);
        }
        pthread_mutex_unlock(&run->mu);
    }
}

/* Record the heartbeat; 0 when Redis has it. */
static int beat(pmq_redis *r, worker *w, int64_t started_ms)
{
    const pmq_worker_args *a = w->args;
    char queues[1024] = "", jobs[2048];
    for (int i = 0; i < w->nqueues; i++) {
        if (i)
            strncat(queues, ",", sizeof queues - strlen(queues) - 1);
        strncat(queues, w->queues[i], sizeof queues - strlen(queues) - 1);
    }
    current_jobs(w, jobs, sizeof jobs);
    pmq_heartbeat hb = {
        .host = a->cfg->daemon.host_id,
        .pid = (int)getpid(),
        .pool = a->pool->name,
        .queues = queues,
        .started_at_ms = started_ms,
        .beat_at_ms = pmq_wall_us() / 1000,
        .current = jobs,
    };
    int rc = pmq_heartbeat_write(r, a->worker_id, &hb, a->cfg->daemon.heartbeat_ttl_ms);
    if (rc < 0)
        pmq_redis_reconnect(r);
    return rc == 0 ? 0 : -1;
}

/* Redis holds more entries for this process than its threads and acker hold. */
static int strays_suspected(pmq_redis *r, worker *w)
{
    char active[PMQ_KEY_MAX];
    pmq_key_active(active, r->prefix, w->args->worker_id);
    redisReply *rep = pmq_redis_command(r, "HLEN %s", active);
    int more = rep && rep->type == REDIS_REPLY_INTEGER &&
               (size_t)rep->integer > held_count(&w->held);
    if (rep)
        freeReplyObject(rep);
    return more;
}

/*
 * Return (or drop, when PostgreSQL has settled them) the entries of this
 * process's hash that nothing in it holds.  Claims wait meanwhile.
 */
static void sweep(heartbeat *hb, pmq_redis *r)
{
    worker *w = hb->w;
    const pmq_worker_args *a = w->args;
    if (pmq_session_connect(&hb->db) < 0)
        return; /* sweep_due stays set: next tick */
    int due = __atomic_exchange_n(&w->sweep_due, 0, __ATOMIC_ACQ_REL);
    pthread_rwlock_wrlock(&w->claim_lock);
    /*
     * Without a lost reply, look again now that no claim is between Redis
     * and its registration: HLEN above what is held is then a real stray.
     */
    if (!due && !strays_suspected(r, w)) {
        pthread_rwlock_unlock(&w->claim_lock);
        return;
    }
    int rc = pmq_recover_strays(a->cfg, hb->db.pg, r, a->worker_id, "claimed but never started",
                                held_has, &w->held);
    pthread_rwlock_unlock(&w->claim_lock);
    if (rc < 0 && due)
        __atomic_store_n(&w->sweep_due, 1, __ATOMIC_RELEASE);
}

static void *heartbeat_main(void *arg)
{
    heartbeat *hb = arg;
    const pmq_worker_args *a = hb->w->args;
    int64_t started = pmq_wall_us() / 1000;
    /* Every second at most, so `pmqctl workers` shows current jobs. */
    int64_t beat_every = a->cfg->daemon.heartbeat_ttl_ms / 3, last_beat = 0;
    if (beat_every > 1000)
        beat_every = 1000;
    int64_t every = beat_every < 500 ? beat_every : 500;
    /* Quiet: the claiming threads already say why Redis is out of reach. */
    pmq_session s = {.cfg = a->cfg, .want = PMQ_SESSION_REDIS, .quiet = 1};
    pthread_mutex_lock(&hb->mu);
    while (!hb->stop) {
        pthread_mutex_unlock(&hb->mu);
        pmq_redis *r = pmq_session_connect(&s) >= 0 ? s.r : NULL;
        int checked = 0;
        if (r && pmq_now_ms() - last_beat >= beat_every) {
            if (beat(r, hb->w, started) == 0 && !hb->beaten) {
                pthread_mutex_lock(&hb->mu);
                hb->beaten = 1;
                pthread_cond_broadcast(&hb->beat_cv);
                pthread_mutex_unlock(&hb->mu);
            }
            last_beat = pmq_now_ms();
            checked = 1;
        }
        if (r)
            check_cancelled(r, hb->w);
        if (r && (__atomic_load_n(&hb->w->sweep_due, __ATOMIC_ACQUIRE) ||
                  (checked && strays_suspected(r, hb->w))))
            sweep(hb, r);
        pthread_mutex_lock(&hb->mu);
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_sec += every / 1000;
        ts.tv_nsec += (long)(every % 1000) * 1000000L;
        ts.tv_sec += ts.tv_nsec / 1000000000L;
        ts.tv_nsec %= 1000000000L;
        if (!hb->stop)
            pthread_cond_timedwait(&hb->cv, &hb->mu, &ts);
    }
    pthread_mutex_unlock(&hb->mu);
    if (s.r)
        pmq_heartbeat_remove(s.r, a->worker_id);
    pmq_session_close(&s);
    pmq_session_close(&hb->db);
    return NULL;
}

/* Release what the process this one replaces still held. */
static void recover_predecessor(worker *w)
{
    const pmq_worker_args *a = w->args;
    pmq_session s = {.cfg = a->cfg, .want = PMQ_SESSION_PG | PMQ_SESSION_REDIS,
                     .backoff_min_ms = 100, .backoff_max_ms = 5000};
    while (!*a->stopping) {
        if (pmq_session_connect(&s) >= 0 &&
            pmq_recover_worker(a->cfg, s.pg, s.r, a->predecessor->worker_id,
                               a->predecessor->reason, a->predecessor, 1) >= 0)
            break;
        pmq_session_close(&s); /* each try on connections of its own */
        pmq_session_wait(&s);
    }
    pmq_session_close(&s);
}

int pmq_worker_main(const pmq_worker_args *a)
{
    char ident[128];
    snprintf(ident, sizeof ident, "pmqd: worker %s", a->pool->name);
    pmq_log_set_ident(ident);

    worker w = {0};
    w.args = a;
    pmq_errors errs = PMQ_ERRORS_INIT;
    w.reg = pmq_registry_load(a->cfg, &errs);
    if (errs.count) {
        for (size_t i = 0; i < errs.count; i++)
            log_error("%s", errs.items[i].message);
        pmq_errors_clear(&errs);
        pmq_registry_free(w.reg);
        return PMQ_EXIT_CONFIG;
    }
    w.conninfo = pmq_config_conninfo(a->cfg);
    w.queues = (const char **)a->pool->queues;
    w.nqueues = (int)a->pool->nqueues;
    pthread_mutex_init(&w.serial, NULL);
    pthread_rwlockattr_t rwa;
    pthread_rwlockattr_init(&rwa);
    /* Busy threads claim back to back: a sweep must still get its turn. */
    pthread_rwlockattr_setkind_np(&rwa, PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP);
    pthread_rwlock_init(&w.claim_lock, &rwa);
    pthread_rwlockattr_destroy(&rwa);
    pthread_mutex_init(&w.held.mu, NULL);

    if (a->predecessor)
        recover_predecessor(&w);

    int n = a->pool->threads > 0 ? a->pool->threads : 1;
    w.running = pmq_xcalloc((size_t)n, sizeof *w.running);
    for (int i = 0; i < n; i++)
        pthread_mutex_init(&w.running[i].mu, NULL);
    w.acker = pmq_acker_start(a->cfg, a->worker_id, ACK_WINDOW_MS, ACK_BATCH, held_released,
                              &w.held);
    heartbeat hb = {.w = &w, .db = {.cfg = a->cfg, .want = PMQ_SESSION_PG}};
    pthread_mutex_init(&hb.mu, NULL);
    pthread_cond_init(&hb.cv, NULL);
    pthread_cond_init(&hb.beat_cv, NULL);
    pthread_create(&hb.thread, NULL, heartbeat_main, &hb);

    /*
     * No claim before the first heartbeat: maintenance returns the entries
     * of any pmq:active hash whose worker has none.
     */
    pthread_mutex_lock(&hb.mu);
    while (!hb.beaten && !*a->stopping) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_nsec += 100 * 1000000L;
        ts.tv_sec += ts.tv_nsec / 1000000000L;
        ts.tv_nsec %= 1000000000L;
        pthread_cond_timedwait(&hb.beat_cv, &hb.mu, &ts);
    }
    pthread_mutex_unlock(&hb.mu);

    pthread_t *threads = pmq_xcalloc((size_t)n, sizeof *threads);
    thread_arg *targs = pmq_xcalloc((size_t)n, sizeof *targs);
    for (int i = 0; i < n; i++) {
        targs[i].w = &w;
        targs[i].index = i;
        pthread_create(&threads[i], NULL, thread_main, &targs[i]);
    }
    log_info("serving %d queue%s with %d thread%s as \"%s\"", w.nqueues, w.nqueues == 1 ? "" : "s",
             n, n == 1 ? "" : "s", a->worker_id);
    for (int i = 0; i < n; i++)
        pthread_join(threads[i], NULL);

    /* Draining: every outcome written before the heartbeat goes. */
    pmq_acker_stop(w.acker);
    pthread_mutex_lock(&hb.mu);
    hb.stop = 1;
    pthread_cond_signal(&hb.cv);
    pthread_mutex_unlock(&hb.mu);
    pthread_join(hb.thread, NULL);

    pmq_registry_free(w.reg);
    for (int i = 0; i < n; i++)
        pthread_mutex_destroy(&w.running[i].mu);
    free(w.running);
    free(threads);
    free(targs);
    free(w.conninfo);
    pthread_mutex_destroy(&w.serial);
    pthread_rwlock_destroy(&w.claim_lock);
    held_free(&w.held);
    pthread_mutex_destroy(&hb.mu);
    pthread_cond_destroy(&hb.cv);
    pthread_cond_destroy(&hb.beat_cv);
    log_info("stopped");
    return 0;
}
