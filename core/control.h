/*
 * control.h -- an operator's actions on queues and jobs: pause and resume a
 * queue (paused: enqueue still works, nothing is migrated or claimed), and
 * cancel a job (a waiting one never runs; a running one is told through
 * pmq_cancelled()).  PostgreSQL holds the state; Redis mirrors it for the
 * claim script (pmq:paused, job:<id> "cancelled").
 */
#ifndef PMQ_CONTROL_H
#define PMQ_CONTROL_H

#include <libpq-fe.h>

#include "errors.h"
#include "redis.h"

/*
 * A worker starts a job it claimed before a pause at most this long after it
 * last saw the queue unpaused (it checks again before each start once this
 * has passed); pausing waits as long before it returns, so that nothing
 * starts after a pause returns.
 */
#define PMQ_PAUSE_LAG_MS 20

/* Returns 0, or -1 after adding the reason (unknown queue, server error). */
int pmq_queue_set_paused(PGconn *pg, pmq_redis *r, const char *queue, int paused,
                         pmq_errors *errs);

/*
 * Cancel job `id`.  Returns 1 when it was waiting or running (the status it
 * had goes to `*was`, 16 bytes), 0 when it had already ended (its status in
 * `*was`), -1 on error (unknown id included).
 */
int pmq_job_cancel(PGconn *pg, pmq_redis *r, const char *id, char was[16], pmq_errors *errs);

/* Make Redis' pmq:paused match job_queues.is_paused (after Redis lost it). */
int pmq_sync_paused(PGconn *pg, pmq_redis *r);

#endif /* PMQ_CONTROL_H */
