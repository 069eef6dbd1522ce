/*
 * metrics.h -- the Prometheus text exposition of GET /metrics: job outcomes
 * and duration/latency histograms (pmq:stats:<queue>, written by ack.c),
 * queue and dead-letter depths, jobs per status, migrator counters, live
 * workers, and whether each server answers.  Reads only (never KEYS or a
 * keyspace SCAN); owns no counter: the writers are ack.c and migrator.c.
 */
#ifndef PMQ_METRICS_H
#define PMQ_METRICS_H

#include <libpq-fe.h>

#include "config.h"
#include "redis.h"

/*
 * Render with these connections; either may be NULL (that server is down):
 * what the other one gives is still rendered.  Returns the text (caller
 * frees).
 */
char *pmq_metrics_render_with(const pmq_config *cfg, PGconn *pg, pmq_redis *r);

/*
 * Connect to both servers (with [database] connect_timeout and [redis]
 * timeout, so it never hangs longer), render and close.
 */
char *pmq_metrics_render(const pmq_config *cfg);

#endif /* PMQ_METRICS_H */
