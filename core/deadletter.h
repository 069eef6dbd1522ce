/*
 * deadletter.h -- the dead letter: jobs that failed for good.  PostgreSQL
 * holds them (status 'failed'); Redis' deadletter:queue mirrors them in the
 * guide's shape, with deadletter:<id> naming each entry so that a replay
 * removes exactly the job asked for (the guide popped whichever came first).
 */
#ifndef PMQ_DEADLETTER_H
#define PMQ_DEADLETTER_H

#include <libpq-fe.h>
#include <stdint.h>

#include "errors.h"
#include "redis.h"

/*
 * Dead-lettered jobs, newest first, of `queue` (NULL: all).  Columns: id,
 * queue_name, attempt_count, failed_at (ISO 8601, as JSON writes it),
 * last_error_message, payload.  NULL after adding the reason to `errs`.
 */
PGresult *pmq_dlq_list(PGconn *pg, const char *queue, int limit, pmq_errors *errs);

/*
 * Put dead-lettered job `id` back to queued with a fresh attempt budget, log
 * the replay in job_logs and drop its dead-letter entry.  Returns 1, 0 when
 * no dead-lettered job has that id, -1 on error.
 */
int pmq_dlq_replay(PGconn *pg, pmq_redis *r, const char *id, pmq_errors *errs);

/* Replay every dead-lettered job of `queue`; the count, or -1. */
int pmq_dlq_replay_queue(PGconn *pg, pmq_redis *r, const char *queue, pmq_errors *errs);

/* Delete dead-lettered jobs that failed more than `older_than_ms` ago; the count, or -1. */
int pmq_dlq_purge(PGconn *pg, pmq_redis *r, int64_t older_than_ms, pmq_errors *errs);

#endif /* PMQ_DEADLETTER_H */
