/*
 * claim.h -- how a worker takes jobs from Redis without ever losing one: one
 * Lua script moves them from the highest non-empty band of its queues into
 * the hash pmq:active:<worker> (job id -> entry, in the same atomic step),
 * stamps job:<id>, and passes the wake-up signal on while work remains.  Also the way back: returning a claimed job
 * that was never started to the head of its band.
 */
#ifndef PMQ_CLAIM_H
#define PMQ_CLAIM_H

#include <hiredis/hiredis.h>

#include "redis.h"

/*
 * Claim up to `max` jobs (fewer when the backlog is short, so that idle
 * workers share it) from `queues` (n of them) for `worker_id`.  Returns the
 * reply, an array of job JSON strings (possibly empty), or NULL on a
 * connection error.
 */
redisReply *pmq_claim(pmq_redis *r, const char *worker_id, const char *const *queues, int n,
                      int max);

/*
 * Block up to `timeout_s` for a wake-up signal on any of `queues`.  Returns
 * 1 when signalled, 0 on timeout, -1 on a connection error.
 */
int pmq_claim_wait(pmq_redis *r, const char *const *queues, int n, double timeout_s);

/*
 * Put job `id` (claimed by `worker_id`, not started) back at the head of its
 * queue's band and signal a worker.  Returns 1 when it was still claimed, 0
 * when it was not (nothing done), -1 on a connection error.
 */
int pmq_claim_return(pmq_redis *r, const char *worker_id, const char *queue, int priority,
                     const char *id);

#endif /* PMQ_CLAIM_H */
