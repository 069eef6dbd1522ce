/*
 * http.h -- pmqd's optional HTTP endpoint ([http] listen): GET /health (the
 * report of health.c, 200 or 503) and GET /metrics (metrics.c's Prometheus
 * text).  Owns the listening socket and the HTTP server (libmicrohttpd); it
 * reads the servers only through health.c and metrics.c and changes nothing.
 */
#ifndef PMQ_HTTP_H
#define PMQ_HTTP_H

#include "config.h"

/*
 * The "http" child's main: listen on cfg->http.listen and answer until
 * `*stopping` is set.  Returns the process exit status (1 when it cannot
 * listen).
 */
int pmq_http_main(const pmq_config *cfg, volatile int *stopping);

#endif /* PMQ_HTTP_H */
