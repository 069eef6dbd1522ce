/*
 * session.h -- staying connected to PostgreSQL and/or Redis: connect what a
 * loop needs when it is missing or broken, log why it could not, and wait
 * with a doubling backoff before the next try.  Knows connections, not what
 * a role does with them.
 */
#ifndef PMQ_SESSION_H
#define PMQ_SESSION_H

#include <libpq-fe.h>
#include <stdint.h>

#include "config.h"
#include "errors.h"
#include "redis.h"

#define PMQ_SESSION_PG 1u
#define PMQ_SESSION_REDIS 2u
/* Redis connected along with PostgreSQL when it can be, but not waited for. */
#define PMQ_SESSION_REDIS_OPTIONAL 4u

typedef struct pmq_session {
    /* Set by the owner; the rest starts zeroed. */
    const pmq_config *cfg;
    unsigned want;             /* PMQ_SESSION_* */
    const char *who;           /* prefix of its log lines ("migrator: "), or NULL */
    int quiet;                 /* log nothing: another loop already says it */
    int64_t backoff_min_ms;    /* the first wait after a failure */
    int64_t backoff_max_ms;    /* where doubling stops */
    /* Run on every new PostgreSQL connection (LISTEN, prepare); -1 drops it. */
    int (*setup_pg)(PGconn *pg, pmq_errors *errs);

    PGconn *pg;     /* NULL until connected */
    pmq_redis *r;   /* NULL until connected */
    int64_t wait_ms; /* the next wait; 0 means backoff_min_ms */
} pmq_session;

/*
 * Make sure what the session wants is there: when PostgreSQL is wanted and
 * missing or broken, or Redis is needed and missing, connect anew (keeping
 * a Redis connection it has) and log the reasons of what failed.  Returns
 * 1 when it connected anew, 0 when nothing was missing, -1 when something
 * still is (the caller waits with pmq_session_wait).
 */
int pmq_session_connect(pmq_session *s);

/* Sleep the current backoff (a signal cuts it short), then double it. */
void pmq_session_wait(pmq_session *s);
/* The connections work again: the next failure waits backoff_min_ms. */
void pmq_session_ok(pmq_session *s);

/* Close these connections (PMQ_SESSION_PG, _REDIS): the next connect opens them anew. */
void pmq_session_drop(pmq_session *s, unsigned which);
/* Close everything. */
void pmq_session_close(pmq_session *s);

#endif /* PMQ_SESSION_H */
