/*
 * errand.h -- the job work pmqd's master needs done besides its children's
 * roles: the start-up check of Redis, and the release of what workers held
 * when no replacement will release it.  Each errand runs in a short-lived
 * child, so that the master itself never opens a PostgreSQL or Redis
 * connection (DESIGN.md section 5): one that it held would be inherited by
 * every child it forks, and a server that hangs must not hang the process
 * that watches the others.
 */
#ifndef PMQ_ERRAND_H
#define PMQ_ERRAND_H

#include <sys/types.h>

#include "config.h"
#include "recovery.h"

/*
 * pmqd refuses a Redis that may evict jobs or is too old: check it in a
 * child and wait.  Returns 0 when pmqd may start, -1 when not (the reasons
 * are on stderr, in PostgreSQL's style).
 */
int pmq_errand_preflight(const pmq_config *cfg);

/*
 * Release the claims of the workers `notes` describe, in a child: with
 * `charge`, the jobs each note lists as running are charged an attempt (as
 * a replacement worker would), otherwise every claim goes back uncharged
 * with `reason`.  With `wait`, returns once the child has ended; without,
 * the caller reaps it.  Returns the child's pid, or -1 when it could not
 * fork (the claims are then recovered when their heartbeat expires).
 */
pid_t pmq_errand_release(const pmq_config *cfg, const pmq_death_note *const *notes, size_t n,
                         const char *reason, int charge, int wait);

#endif /* PMQ_ERRAND_H */
