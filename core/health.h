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
 * A probe answers within its own bound, however patient the daemon is told
 * to be with the servers: connecting to PostgreSQL, connecting to Redis and
 * each Redis command wait at most PMQ_HEALTH_TIMEOUT_S (less when
 * [database] connect_timeout or [redis] timeout say less; connect_timeout 0,
 * "for ever", included), and statements run with it as statement_timeout
 * (which a server frozen after the connection was made cannot apply).
 */
#define PMQ_HEALTH_TIMEOUT_S 5

/*
 * `cfg` with those bounds applied: a shallow copy (its strings are cfg's),
 * for pmq_db_connect() and pmq_redis_connect().
 */
pmq_config pmq_health_config(const pmq_config *cfg);

/*
 * Connect to both servers (within PMQ_HEALTH_TIMEOUT_S each), build the
 * report and close.  The report's "status" says the level, which is also
 * returned in `*level`.
 */
json_object *pmq_health_report(const pmq_config *cfg, pmq_health_level *level);

#endif /* PMQ_HEALTH_H */
