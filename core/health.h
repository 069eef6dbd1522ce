/*
 * health.h -- the health report of the guide's QueueHealthMonitor
 * (timestamp, redis, queues, workers, jobs), shared by `pmqctl health` and
 * pmqd's GET /health.  Reads only: LLEN per band, the workers' heartbeats
 * (never KEYS), one GROUP BY over jobs.
 */
#ifndef PMQ_HEALTH_H
#define PMQ_HEALTH_H

#include <json-c/json.h>

#include "config.h"

typedef enum { PMQ_HEALTHY = 0, PMQ_DEGRADED = 1, PMQ_DOWN = 2 } pmq_health_level;

/*
 * Connect to both servers (with [database] connect_timeout and [redis]
 * timeout, so it never hangs longer), build the report and close.  The
 * report's "status" says the level, which is also returned in `*level`.
 */
json_object *pmq_health_report(const pmq_config *cfg, pmq_health_level *level);

#endif /* PMQ_HEALTH_H */
