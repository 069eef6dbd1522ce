/*
 * worker.h -- a worker process of a [pool]: threads that claim jobs from
 * Redis, run the plugins' handlers and hand outcomes to the acker, plus a
 * heartbeat.  Owns the migrated -> (completed | queued | failed) step; never
 * claims from PostgreSQL.
 */
#ifndef PMQ_WORKER_H
#define PMQ_WORKER_H

#include <stdint.h>

#include "config.h"
#include "job.h"
#include "recovery.h"

/*
 * What a worker thread is running, in memory shared with the supervisor,
 * which kills the process when `deadline_ms` (CLOCK_MONOTONIC) passes.
 */
typedef struct pmq_worker_slot {
    char job_id[PMQ_JOB_ID_SIZE];
    int64_t deadline_ms; /* 0 when idle; written last, read first */
    int timeout_ms;
} pmq_worker_slot;

/* Exit status of a child whose configuration or plugins are bad: no respawn. */
#define PMQ_EXIT_CONFIG 78

typedef struct pmq_worker_args {
    const pmq_config *cfg;
    const pmq_pool_config *pool;
    const char *worker_id;         /* "<host>:<pmqd pid>:<pool>:<n>" */
    pmq_worker_slot *slots;        /* pool->threads of them, or NULL */
    const pmq_death_note *predecessor; /* the process this one replaces, or NULL */
    volatile int *stopping;        /* set by SIGTERM: drain and exit */
} pmq_worker_args;

/* The worker child's main; returns the process exit status. */
int pmq_worker_main(const pmq_worker_args *args);

#endif /* PMQ_WORKER_H */
