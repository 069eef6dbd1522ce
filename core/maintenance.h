/*
 * maintenance.h -- the housekeeping child: recovers the claims of workers
 * whose heartbeat expired (a host that died) and of any other worker that
 * is not alive (stopped cleanly), puts back into Redis the jobs
 * PostgreSQL says are in flight but Redis lost (flush, restart, failover),
 * and prunes old finished jobs.  One host at a time does it: the leader
 * holds a PostgreSQL advisory lock.
 */
#ifndef PMQ_MAINTENANCE_H
#define PMQ_MAINTENANCE_H

#include <libpq-fe.h>

#include "config.h"
#include "redis.h"

/* The maintenance child's main; returns the process exit status. */
int pmq_maintenance_main(const pmq_config *cfg, volatile int *stopping);

/*
 * Recover every worker in pmq:workers whose heartbeat key is gone.  Returns
 * the number of workers recovered, or -1 on a server error.
 */
int pmq_recover_lost_workers(const pmq_config *cfg, PGconn *pg, pmq_redis *r);

/*
 * Return to their queues the entries of every pmq:active:<worker> hash whose
 * worker has no heartbeat and is not in pmq:workers (a worker that stopped
 * cleanly keeps nothing it ran: what is left never ran, and is not charged
 * an attempt).  Returns the number of workers whose entries were returned,
 * or -1 on a server error.
 */
int pmq_recover_unlisted_workers(const pmq_config *cfg, PGconn *pg, pmq_redis *r);

/*
 * Requeue in PostgreSQL the jobs it holds as migrated or running, last
 * touched more than `min_age_ms` ago, that Redis no longer knows
 * (job:<id> missing).  Returns how many, or -1 on a server error.
 */
int pmq_reconcile(PGconn *pg, pmq_redis *r, int min_age_ms);

#endif /* PMQ_MAINTENANCE_H */
