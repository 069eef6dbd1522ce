/*
 * supervisor.h -- pmqd's master process: forks one child per role (migrator,
 * worker processes, maintenance, http), restarts those that die, drains on
 * SIGTERM and reloads on SIGHUP.  It does no job work itself.
 */
#ifndef PMQ_SUPERVISOR_H
#define PMQ_SUPERVISOR_H

#include "config.h"

/* Run until SIGTERM/SIGINT; `cfg` was loaded from `path` and is borrowed. */
int pmq_supervisor_run(const char *path, const pmq_config *cfg);

#endif /* PMQ_SUPERVISOR_H */
