/*
 * recovery.h -- what happens to jobs a worker held when it stopped without
 * finishing them: the ones that were running count as a failed attempt
 * (retried or dead-lettered by their queue's policy, with the reason), the
 * ones claimed but not started go back to the head of their band.  Used by a
 * worker's replacement, by the supervisor's errands (errand.h) for workers
 * that get none, by maintenance for workers that are not alive, and by a
 * live worker for entries none of its threads holds.
 */
#ifndef PMQ_RECOVERY_H
#define PMQ_RECOVERY_H

#include <libpq-fe.h>

#include "config.h"
#include "job.h"
#include "keys.h"
#include "redis.h"

/*
 * What the supervisor knows of a worker process that ended.  The lists have
 * room for one job per thread of its pool (heap memory: the note reaches the
 * replacement through fork).
 */
typedef struct pmq_death_note {
    char worker_id[PMQ_WORKER_ID_SIZE];
    char reason[256];          /* "worker died: signal 11" */
    int nrunning;
    char (*running)[PMQ_JOB_ID_SIZE];       /* jobs whose handler was running */
    char (*running_reason)[128]; /* per job: "timed out after 30 s" or empty */
} pmq_death_note;

/*
 * Recover `worker_id`'s claimed jobs.  With `note`, only the jobs it lists
 * as running are charged an attempt; without, every claimed job is (nothing
 * is known).  `charge` = 0 charges none (a shutdown interrupted them).
 * Entries PostgreSQL has already settled (a terminal job, or an attempt
 * whose outcome was committed before the worker died) are dropped, never
 * run again (DESIGN.md I3).
 * Returns the number of jobs recovered, or -1 on a server error (the claims
 * stay where they are, to be recovered later).
 */
int pmq_recover_worker(const pmq_config *cfg, PGconn *pg, pmq_redis *r, const char *worker_id,
                       const char *reason, const pmq_death_note *note, int charge);

/*
 * A live worker's own sweep: return to their queues, without a charge (they
 * never ran), the entries of its hash that `held` says none of its threads
 * holds (a claim whose reply was lost, a release that failed); drop the
 * ones PostgreSQL has settled.  The caller keeps its threads from claiming
 * meanwhile.  Returns the number of entries returned or dropped, or -1 on a
 * server error.
 */
int pmq_recover_strays(const pmq_config *cfg, PGconn *pg, pmq_redis *r, const char *worker_id,
                       const char *reason, int (*held)(void *arg, const char *id), void *held_arg);

#endif /* PMQ_RECOVERY_H */
