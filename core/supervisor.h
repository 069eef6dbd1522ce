/*
 * supervisor.h -- pmqd's master process: forks one child per role (migrator,
 * worker processes, maintenance, http), restarts those that die (throttled
 * when they die before they served), kills a worker whose handler passes its
 * timeout, drains on SIGTERM and reloads on SIGHUP.  It does no job work and
 * opens no PostgreSQL or Redis connection itself: the start-up check and the
 * release of what killed workers held run in short-lived children
 * (errand.h).
 */
#ifndef PMQ_SUPERVISOR_H
#define PMQ_SUPERVISOR_H

#include "config.h"

/* Run until SIGTERM/SIGINT; `cfg` was loaded from `path` and is borrowed. */
int pmq_supervisor_run(const char *path, const pmq_config *cfg);

#endif /* PMQ_SUPERVISOR_H */
