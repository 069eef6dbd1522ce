/*
 * health.c -- the health report (see health.h).
 *
 * Down: PostgreSQL or Redis unreachable.  Degraded: both answer, but jobs
 * are waiting and no worker is alive to take them.
 */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "db.h"
#include "health.h"
#include "keys.h"
#include "redis.h"
#include "util.h"

static char *info_field(const char *info, const char *name)
{
    size_t n = strlen(name);
    for (const char *p = info; p && *p; p = strchr(p, '\n') ? strchr(p, '\n') + 1 : NULL) {
        if (!strncmp(p, name, n) && p[n] == ':') {
            const char *v = p + n + 1;
            size_t len = strcspn(v, "\r\n");
            char *out = pmq_xmalloc(len + 1);
            memcpy(out, v, len);
            out[len] = '\0';
            return out;
        }
    }
    return NULL;
}

static json_object *redis_section(pmq_redis *r, const char *error)
{
    json_object *o = json_object_new_object();
    if (!r) {
        json_object_object_add(o, "status", json_object_new_string("unhealthy"));
        json_object_object_add(o, "error", json_object_new_string(error ? error : "unreachable"));
        return o;
    }
    redisReply *pong = pmq_redis_command(r, "PING");
    redisReply *info = pmq_redis_command(r, "INFO");
    if (!pong || !info || info->type != REDIS_REPLY_STRING) {
        json_object_object_add(o, "status", json_object_new_string("unhealthy"));
        json_object_object_add(o, "error", json_object_new_string(r->c->errstr));
    } else {
        char *mem = info_field(info->str, "used_memory_human");
        char *clients = info_field(info->str, "connected_clients");
        json_object_object_add(o, "status", json_object_new_string("healthy"));
        json_object_object_add(o, "ping", json_object_new_string(pong->str ? pong->str : ""));
        json_object_object_add(o, "memory_used", json_object_new_string(mem ? mem : "unknown"));
        json_object_object_add(o, "connected_clients",
                               json_object_new_int(clients ? atoi(clients) : 0));
        free(mem);
        free(clients);
    }
    if (pong)
        freeReplyObject(pong);
    if (info)
        freeReplyObject(info);
    return o;
}

/* Queue names: PostgreSQL's job_queues when reachable, else the INI's. */
static char **queue_names(const pmq_config *cfg, PGconn *pg, size_t *n)
{
    char **names = NULL;
    *n = 0;
    PGresult *res = pg ? PQexec(pg, "SELECT name FROM job_queues ORDER BY name") : NULL;
    if (res && PQresultStatus(res) == PGRES_TUPLES_OK) {
        *n = (size_t)PQntuples(res);
        names = pmq_xcalloc(*n + 1, sizeof *names);
        for (size_t i = 0; i < *n; i++)
            names[i] = pmq_xstrdup(PQgetvalue(res, (int)i, 0));
    } else {
        names = pmq_xcalloc(cfg->nqueues + 1, sizeof *names);
        for (size_t i = 0; i < cfg->nqueues; i++)
            names[(*n)++] = pmq_xstrdup(cfg->queues[i].name);
    }
    PQclear(res);
    return names;
}

static json_object *queues_section(pmq_redis *r, char **names, size_t n, long *waiting)
{
    json_object *o = json_object_new_object();
    char key[PMQ_KEY_MAX];
    for (size_t i = 0; r && i < n; i++) {
        for (int b = 0; b < PMQ_NBANDS; b++) {
            /* Named as the guide's monitor does: without the key prefix. */
            char bare[PMQ_KEY_MAX];
            pmq_key_queue(bare, "", names[i], b);
            redisReply *rep =
                pmq_redis_command(r, "LLEN %s", pmq_key_queue(key, r->prefix, names[i], b));
            long len = rep && rep->type == REDIS_REPLY_INTEGER ? (long)rep->integer : -1;
            if (rep)
                freeReplyObject(rep);
            if (len < 0) {
                json_object *e = json_object_new_object();
                json_object_object_add(e, "error", json_object_new_string(r->c->errstr));
                json_object_object_add(o, bare, e);
            } else {
                json_object_object_add(o, bare, json_object_new_int64(len));
                *waiting += len;
            }
        }
    }
    return o;
}

static json_object *workers_section(pmq_redis *r, long *alive)
{
    json_object *o = json_object_new_object();
    json_object *ids = json_object_new_array();
    redisReply *m = r ? pmq_heartbeat_members(r) : NULL;
    size_t n = m && m->type == REDIS_REPLY_ARRAY ? m->elements : 0;
    const char **members = pmq_xcalloc(n + 1, sizeof *members);
    int *beats = pmq_xcalloc(n + 1, sizeof *beats);
    for (size_t i = 0; i < n; i++)
        members[i] = m->element[i]->str ? m->element[i]->str : "";
    pmq_heartbeat_alive(r, members, n, beats);
    for (size_t i = 0; i < n; i++)
        if (beats[i])
            json_object_array_add(ids, json_object_new_string(members[i]));
    free(members);
    free(beats);
    if (m)
        freeReplyObject(m);
    *alive = (long)json_object_array_length(ids);
    json_object_object_add(o, "active_workers", json_object_new_int64(*alive));
    json_object_object_add(o, "worker_ids", ids);
    return o;
}

static json_object *jobs_section(PGconn *pg, const char *error, long *pending)
{
    json_object *o = json_object_new_object();
    PGresult *res = pg ? PQexec(pg, "SELECT status, count(*) FROM jobs GROUP BY status ORDER BY 1")
                       : NULL;
    if (!res || PQresultStatus(res) != PGRES_TUPLES_OK) {
        json_object_object_add(o, "error", json_object_new_string(
                                              pg ? PQerrorMessage(pg) : error ? error : "unreachable"));
    } else {
        for (int i = 0; i < PQntuples(res); i++) {
            const char *status = PQgetvalue(res, i, 0);
            long count = atol(PQgetvalue(res, i, 1));
            json_object_object_add(o, status, json_object_new_int64(count));
            if (!strcmp(status, "queued") || !strcmp(status, "migrated"))
                *pending += count;
        }
    }
    PQclear(res);
    return o;
}

pmq_config pmq_health_config(const pmq_config *cfg)
{
    pmq_config c = *cfg;
    /* libpq reads 0 as "wait for ever". */
    if (c.database.connect_timeout_s <= 0 || c.database.connect_timeout_s > PMQ_HEALTH_TIMEOUT_S)
        c.database.connect_timeout_s = PMQ_HEALTH_TIMEOUT_S;
    if (c.redis.timeout_ms > PMQ_HEALTH_TIMEOUT_S * 1000)
        c.redis.timeout_ms = PMQ_HEALTH_TIMEOUT_S * 1000;
    return c;
}

json_object *pmq_health_report(const pmq_config *cfg_in, pmq_health_level *level)
{
    pmq_config bounded = pmq_health_config(cfg_in);
    const pmq_config *cfg = &bounded;
    pmq_errors errs = PMQ_ERRORS_INIT;
    PGconn *pg = pmq_db_connect(cfg, &errs);
    char *pg_error = !pg && errs.count ? pmq_xstrdup(errs.items[0].message) : NULL;
    pmq_errors_clear(&errs);
    pmq_redis *r = pmq_redis_connect(cfg, &errs);
    char *redis_error = !r && errs.count ? pmq_xstrdup(errs.items[0].message) : NULL;
    pmq_errors_clear(&errs);
    if (pg) {
        /* A health probe must not hang on a locked table either. */
        PQclear(PQexec(pg, "SET statement_timeout = '" PMQ_STR(PMQ_HEALTH_TIMEOUT_S) "s'"));
    }

    char ts[40];
    time_t now = time(NULL);
    struct tm tm;
    gmtime_r(&now, &tm);
    strftime(ts, sizeof ts, "%Y-%m-%dT%H:%M:%SZ", &tm);

    json_object *report = json_object_new_object();
    json_object_object_add(report, "timestamp", json_object_new_string(ts));
    json_object *redis = redis_section(r, redis_error);
    int redis_ok = !strcmp(json_object_get_string(json_object_object_get(redis, "status")),
                           "healthy");
    json_object_object_add(report, "redis", redis);

    json_object *postgres = json_object_new_object();
    json_object_object_add(postgres, "status",
                           json_object_new_string(pg ? "healthy" : "unhealthy"));
    if (!pg)
        json_object_object_add(postgres, "error",
                               json_object_new_string(pg_error ? pg_error : "unreachable"));
    json_object_object_add(report, "postgres", postgres);

    size_t nnames;
    char **names = queue_names(cfg, pg, &nnames);
    long waiting = 0, alive = 0, pending = 0;
    json_object_object_add(report, "queues", queues_section(redis_ok ? r : NULL, names, nnames,
                                                            &waiting));
    json_object_object_add(report, "workers", workers_section(redis_ok ? r : NULL, &alive));
    json_object_object_add(report, "jobs", jobs_section(pg, pg_error, &pending));

    pmq_health_level lvl = !pg || !redis_ok ? PMQ_DOWN
                           : (waiting > 0 || pending > 0) && alive == 0 ? PMQ_DEGRADED
                                                                        : PMQ_HEALTHY;
    static const char *const names_of[] = {"healthy", "degraded", "down"};
    json_object_object_add(report, "status", json_object_new_string(names_of[lvl]));
    *level = lvl;

    pmq_free_strings(names, nnames);
    free(pg_error);
    free(redis_error);
    pmq_redis_free(r);
    PQfinish(pg);
    return report;
}
