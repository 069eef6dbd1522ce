/*
 * session.c -- staying connected to PostgreSQL and/or Redis (see session.h).
 */
#include "session.h"
#include "db.h"
#include "log.h"
#include "util.h"

int pmq_session_connect(pmq_session *s)
{
    int want_pg = (s->want & PMQ_SESSION_PG) != 0;
    int need_redis = (s->want & PMQ_SESSION_REDIS) != 0;
    int pg_bad = want_pg && (!s->pg || PQstatus(s->pg) != CONNECTION_OK);
    if (!pg_bad && !(need_redis && !s->r))
        return 0;

    pmq_errors errs = PMQ_ERRORS_INIT;
    if (want_pg) {
        /* Anew even when only Redis was missing: its owner starts its round over. */
        PQfinish(s->pg);
        s->pg = pmq_db_connect(s->cfg, &errs);
        if (s->pg && s->setup_pg && s->setup_pg(s->pg, &errs) < 0) {
            PQfinish(s->pg);
            s->pg = NULL;
        }
    }
    if (!s->r && (s->want & (PMQ_SESSION_REDIS | PMQ_SESSION_REDIS_OPTIONAL)))
        s->r = pmq_redis_connect(s->cfg, &errs);
    for (size_t i = 0; i < errs.count && !s->quiet; i++)
        log_error("%s%s", s->who ? s->who : "", errs.items[i].message);
    pmq_errors_clear(&errs);
    return (want_pg && !s->pg) || (need_redis && !s->r) ? -1 : 1;
}

void pmq_session_wait(pmq_session *s)
{
    if (s->wait_ms < s->backoff_min_ms)
        s->wait_ms = s->backoff_min_ms;
    pmq_sleep_ms(s->wait_ms);
    s->wait_ms = s->wait_ms * 2 > s->backoff_max_ms ? s->backoff_max_ms : s->wait_ms * 2;
}

void pmq_session_ok(pmq_session *s)
{
    s->wait_ms = s->backoff_min_ms;
}

void pmq_session_drop(pmq_session *s, unsigned which)
{
    if (which & PMQ_SESSION_PG) {
        PQfinish(s->pg);
        s->pg = NULL;
    }
    if (which & PMQ_SESSION_REDIS) {
        pmq_redis_free(s->r);
        s->r = NULL;
    }
}

void pmq_session_close(pmq_session *s)
{
    pmq_session_drop(s, PMQ_SESSION_PG | PMQ_SESSION_REDIS);
}
