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
 * Connections one client address may hold at once; more are closed at
 * once.  Far above what a scraper or a probe opens (one each), so that a
 * client misbehaving from one address cannot fill the server (http.c says
 * the other limits).  Here because the tests check it.
 */
#define PMQ_HTTP_MAX_PER_IP 32

/*
 * The "http" child's main: listen on cfg->http.listen and answer until
 * `*stopping` is set.  Returns the process exit status (1 when it cannot
 * listen).
 */
int pmq_http_main(const pmq_config *cfg, volatile int *stopping);

#endif /* PMQ_HTTP_H */
