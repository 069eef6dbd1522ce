/*
 * ack.h -- recording the outcome of attempts: PostgreSQL first (job state,
 * attempt count, back-off, a job_logs row per attempt, all in one statement
 * for a whole batch), then Redis (release the claim; delete job:<id>, or keep
 * it for [redis] finished_ttl; the dead letter, its mirror bounded).
 * The acker batches outcomes from a worker's threads (group commit) within a
 * bounded window.  A batch lost before it is written only makes its jobs run
 * again; an outcome for an attempt that is no longer current changes nothing.
 */
#ifndef PMQ_ACK_H
#define PMQ_ACK_H

#include <libpq-fe.h>
#include <stddef.h>
#include <stdint.h>

#include "config.h"
#include "job.h"
#include "pmq/plugin.h"
#include "redis.h"

typedef struct pmq_outcome {
    char id[PMQ_JOB_ID_SIZE];
    int attempt;          /* the attempt that ended, 1-based */
    pmq_status status;    /* DONE, RETRY or FAIL */
    char *error;          /* owned; NULL for DONE */
    char *log;            /* owned; the attempt's audit lines, or NULL */
    int64_t started_us;   /* wall clock */
    int64_t finished_us;
    int64_t delay_ms;     /* RETRY: wait before the next attempt */
    int claimed;          /* held in pmq:active:<worker>: release it after the commit */
    double progress;      /* -1 when never reported */
    char *queue;          /* owned; for the metrics, or NULL */
    int64_t created_us;   /* first attempts: when the job was created; else 0 */
} pmq_outcome;

void pmq_outcome_clear(pmq_outcome *o);

/* Upper bounds (seconds) of the duration and latency histogram buckets. */
#define PMQ_STAT_NBUCKETS 16
extern const double pmq_stat_buckets[PMQ_STAT_NBUCKETS];

/*
 * Apply `n` outcomes of `worker_id`'s attempts now.  Returns 0, or -1 when
 * PostgreSQL failed (nothing was written; the caller may retry).  A Redis
 * failure after the commit is logged only: PostgreSQL already holds the
 * truth, and stale claims are ignored by recovery.
 */
int pmq_ack_apply(PGconn *pg, pmq_redis *r, const char *worker_id, pmq_outcome *o, size_t n);

/*
 * Settle job:<id> for `attempt`, whose outcome (`status`: completed, failed
 * or queued) PostgreSQL holds, as a release does: deleted, or kept for
 * [redis] finished_ttl; untouched when it describes another attempt.  For
 * recovery, which finds such outcomes whose release failed.  Returns -1 on
 * a Redis error.
 */
int pmq_ack_settle_hash(pmq_redis *r, const char *id, int attempt, const char *status);

typedef struct pmq_acker pmq_acker;

/*
 * Called by the acker thread once a batch's outcomes are committed and
 * their claims released in Redis (or the release failed for good).
 */
typedef void (*pmq_acker_released_fn)(void *arg, const pmq_outcome *o, size_t n);

/* Start the group-commit thread with its own connections; `released` may be NULL. */
pmq_acker *pmq_acker_start(const pmq_config *cfg, const char *worker_id, int window_ms,
                           int max_batch, pmq_acker_released_fn released, void *released_arg);
/* Hand over an outcome (its owned fields move to the acker). */
void pmq_acker_submit(pmq_acker *a, pmq_outcome *o);
/* Outcomes not yet written, for back-pressure. */
size_t pmq_acker_pending(pmq_acker *a);
/* Write everything still pending, stop the thread, free. */
void pmq_acker_stop(pmq_acker *a);

#endif /* PMQ_ACK_H */
