/*
 * migrator.h -- moves ready jobs from PostgreSQL into Redis' priority lists:
 * woken by NOTIFY on enqueue and by a timer for the next delayed job.  Owns
 * the queued -> migrated transition; never touches running jobs.
 */
#ifndef PMQ_MIGRATOR_H
#define PMQ_MIGRATOR_H

#include <libpq-fe.h>
#include <stdint.h>

#include "config.h"
#include "redis.h"

/*
 * Claim up to `batch` ready jobs and push them to Redis, in one PostgreSQL
 * transaction around one Redis script call: if the push fails, the claim is
 * rolled back.  Returns the number migrated, or -1 on a server error.
 * With `next_due_ms` and fewer than `batch` jobs migrated, also says in how
 * many ms the next delayed job is due (-1: none waits), read in the same
 * round trip as the COMMIT.
 */
int pmq_migrate_batch(PGconn *pg, pmq_redis *r, int batch, int64_t *next_due_ms);

/* The migrator child's main loop; returns the process exit status. */
int pmq_migrator_main(const pmq_config *cfg, volatile int *stopping);

#endif /* PMQ_MIGRATOR_H */
