/*
 * analytics.c -- the analytics plugin: recomputes the summary tables
 * analytics_daily, analytics_campaign and billing_usage from the email
 * plugin's email_messages (outbound rows), one queue per table, and records
 * each run in the core's analytics_jobs.  Built only on <pmq/plugin.h>.
 *
 * Queues and payloads (README.md has the operators' view):
 *   analytics:daily-aggregate    {"day": "YYYY-MM-DD", "tenant_id"?: "..."}
 *   analytics:campaign-aggregate {"campaign_id": "..."}
 *   analytics:billing-calculate  {"month": "YYYY-MM", "tenant_id"?: "..."}
 *
 * A run recomputes its scope from scratch and upserts it in one
 * transaction, together with its analytics_jobs row: running it again
 * changes no summary row.  A bad payload fails the job at once (no retry);
 * a database error is retried with the queue's back-off, except an error in
 * the data itself (SQLSTATE class 22, e.g. an unknown time zone).
 */
#include <json-c/json.h>
#include <libpq-fe.h>
#include <pmq/plugin.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "analytics.h"

/* [plugin analytics]: pmqd checks these before init (conf.d/analytics.ini says more). */
static const pmq_plugin_key keys[] = {
    {"time_zone", PMQ_KEY_STRING, 0, 0, 0, "UTC",
     "the time zone whose calendar days and months the aggregates count"},
    {NULL}};

PMQ_PLUGIN_MAGIC_KEYS("analytics", "1.0.0", PMQ_PLUGIN_THREAD_SAFE, keys);

/* [plugin analytics] settings; read-only once init returns. */
typedef struct analytics {
    char *time_zone; /* days and months are calendar days there */
} analytics;

/* A validated payload.  Strings are borrowed from the job's payload. */
typedef struct request {
    char date[11];         /* daily: the day; billing: the month's first day */
    const char *tenant_id; /* NULL: every tenant */
    const char *campaign_id;
} request;

/* What one queue does: its payload's keys and its recomputation. */
typedef struct kind {
    const char *queue;
    /* Fill `r` from `payload`; 0, or -1 with the reason in `err`. */
    int (*parse)(json_object *payload, request *r, char *err, size_t errlen);
    /* One statement: recompute and upsert; returns one row (found, written, removed[, tenants,
     * tenant list]). */
    const char *sql;
    /* Describe the scope for the audit trail. */
    void (*describe)(const request *r, char *buf, size_t len);
} kind;

/*--- payloads ---*/

static int is_leap(int y)
{
    return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

static int digits(const char *s, int n)
{
    for (int i = 0; i < n; i++)
        if (s[i] < '0' || s[i] > '9')
            return 0;
    return 1;
}

/* "YYYY-MM" (len 7) or "YYYY-MM-DD" (len 10), a real calendar date, year >= 1. */
static int valid_date(const char *s, size_t len)
{
    if (strlen(s) != len || !digits(s, 4) || s[4] != '-' || !digits(s + 5, 2))
        return 0;
    int y = atoi(s), m = (s[5] - '0') * 10 + (s[6] - '0');
    if (y < 1 || m < 1 || m > 12)
        return 0;
    if (len == 7)
        return 1;
    if (s[7] != '-' || !digits(s + 8, 2))
        return 0;
    static const int mdays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    int d = (s[8] - '0') * 10 + (s[9] - '0');
    return d >= 1 && d <= mdays[m - 1] + (m == 2 && is_leap(y));
}

/* Any key of `payload` not in the NULL-terminated `allowed`, or NULL. */
static const char *unknown_key(json_object *payload, const char *const *allowed)
{
    json_object_object_foreach(payload, key, val)
    {
        (void)val;
        int ok = 0;
        for (const char *const *a = allowed; *a && !ok; a++)
            ok = !strcmp(key, *a);
        if (!ok)
            return key;
    }
    return NULL;
}

/*
 * payload[key] as a non-empty string: 1 found, 0 absent, -1 wrong (reason
 * in `err`, `what` describing the value expected).
 */
static int get_string(json_object *payload, const char *key, const char *what, const char **out,
                      char *err, size_t errlen)
{
    json_object *v;
    *out = NULL;
    if (!json_object_object_get_ex(payload, key, &v))
        return 0;
    if (!json_object_is_type(v, json_type_string) || json_object_get_string_len(v) == 0) {
        snprintf(err, errlen, "invalid payload: \"%s\" must be %s, got %s", key, what,
                 json_object_to_json_string_ext(v, JSON_C_TO_STRING_PLAIN));
        return -1;
    }
    *out = json_object_get_string(v);
    return 1;
}

/* Common part: no unknown key, `key` a required string matching `ok`. */
static int parse_common(json_object *payload, const char *const *allowed, const char *key,
                        const char *what, int (*ok)(const char *), const char **value, char *err,
                        size_t errlen)
{
    if (!payload || !json_object_is_type(payload, json_type_object)) {
        snprintf(err, errlen, "invalid payload: a JSON object is expected");
        return -1;
    }
    const char *extra = unknown_key(payload, allowed);
    if (extra) {
        size_t n = 0;
        char list[128] = "";
        for (const char *const *a = allowed; *a; a++)
            n += (size_t)snprintf(list + n, n < sizeof list ? sizeof list - n : 0, "%s\"%s\"",
                                  a == allowed ? "" : ", ", *a);
        snprintf(err, errlen, "invalid payload: unknown key \"%s\" (expected %s)", extra, list);
        return -1;
    }
    int got = get_string(payload, key, what, value, err, errlen);
    if (got < 0)
        return -1;
    if (got == 0) {
        snprintf(err, errlen, "invalid payload: \"%s\" is required (%s)", key, what);
        return -1;
    }
    if (ok && !ok(*value)) {
        snprintf(err, errlen, "invalid payload: \"%s\" must be %s, got \"%s\"", key, what, *value);
        return -1;
    }
    return 0;
}

static int ok_day(const char *s)
{
    return valid_date(s, 10);
}

static int ok_month(const char *s)
{
    return valid_date(s, 7);
}

static int parse_tenant(json_object *payload, request *r, char *err, size_t errlen)
{
    return get_string(payload, "tenant_id", "a non-empty string", &r->tenant_id, err, errlen) < 0
               ? -1
               : 0;
}

static int parse_daily(json_object *payload, request *r, char *err, size_t errlen)
{
    static const char *const allowed[] = {"day", "tenant_id", NULL};
    const char *day;
    if (parse_common(payload, allowed, "day", "a date \"YYYY-MM-DD\"", ok_day, &day, err, errlen) <
        0)
        return -1;
    snprintf(r->date, sizeof r->date, "%s", day);
    return parse_tenant(payload, r, err, errlen);
}

static int parse_billing(json_object *payload, request *r, char *err, size_t errlen)
{
    static const char *const allowed[] = {"month", "tenant_id", NULL};
    const char *month;
    if (parse_common(payload, allowed, "month", "a month \"YYYY-MM\"", ok_month, &month, err,
                     errlen) < 0)
        return -1;
    snprintf(r->date, sizeof r->date, "%.7s-01", month);
    return parse_tenant(payload, r, err, errlen);
}

static int parse_campaign(json_object *payload, request *r, char *err, size_t errlen)
{
    static const char *const allowed[] = {"campaign_id", NULL};
    return parse_common(payload, allowed, "campaign_id", "a non-empty string", NULL,
                        &r->campaign_id, err, errlen);
}

static void describe_daily(const request *r, char *buf, size_t len)
{
    if (r->tenant_id)
        snprintf(buf, len, "day %s, tenant \"%s\"", r->date, r->tenant_id);
    else
        snprintf(buf, len, "day %s, every tenant", r->date);
}

static void describe_billing(const request *r, char *buf, size_t len)
{
    if (r->tenant_id)
        snprintf(buf, len, "month %.7s, tenant \"%s\"", r->date, r->tenant_id);
    else
        snprintf(buf, len, "month %.7s, every tenant", r->date);
}

static void describe_campaign(const request *r, char *buf, size_t len)
{
    snprintf(buf, len, "campaign \"%s\"", r->campaign_id);
}

/*--- the recomputations ---*/

/*
 * A message belongs to the day (or month) of its sent_at, or of its
 * created_at when it was never sent; the OR keeps both halves usable by
 * plain indexes on email_messages (sent_at) and (created_at).  Bounds are
 * midnight in the plugin's time zone ($3).
 */
#define IN_PERIOD                                                                               \
    "((m.sent_at >= b.lo AND m.sent_at < b.hi)"                                                 \
    " OR (m.sent_at IS NULL AND m.created_at >= b.lo AND m.created_at < b.hi))"

#define STATUS_COUNTS                                                                           \
    " count(*) FILTER (WHERE m.status = 'sent') AS sent,"                                       \
    " count(*) FILTER (WHERE m.status = 'delivered') AS delivered,"                             \
    " count(*) FILTER (WHERE m.status = 'bounced') AS bounced,"                                 \
    " count(*) FILTER (WHERE m.status = 'failed') AS failed"

#define COUNTS_CHANGED                                                                          \
    " (a.sent, a.delivered, a.bounced, a.failed) IS DISTINCT FROM"                              \
    " (EXCLUDED.sent, EXCLUDED.delivered, EXCLUDED.bounced, EXCLUDED.failed)"

/* $1 day, $2 tenant or NULL, $3 time zone. */
static const char daily_sql[] =
    "WITH b AS (SELECT ($1::date)::timestamp AT TIME ZONE $3 AS lo,"
    "                  ($1::date + 1)::timestamp AT TIME ZONE $3 AS hi),"
    " src AS (SELECT m.tenant_id," STATUS_COUNTS
    "  FROM email_messages m, b"
    "  WHERE m.direction = 'outbound' AND m.tenant_id IS NOT NULL"
    "   AND ($2::text IS NULL OR m.tenant_id = $2::text) AND " IN_PERIOD
    "  GROUP BY m.tenant_id),"
    " up AS (INSERT INTO analytics_daily AS a (tenant_id, day, sent, delivered, bounced, failed)"
    "  SELECT tenant_id, $1::date, sent, delivered, bounced, failed FROM src"
    "  ON CONFLICT (tenant_id, day) DO UPDATE SET sent = EXCLUDED.sent,"
    "   delivered = EXCLUDED.delivered, bounced = EXCLUDED.bounced, failed = EXCLUDED.failed,"
    "   updated_at = now()"
    "  WHERE" COUNTS_CHANGED " RETURNING 1),"
    " gone AS (DELETE FROM analytics_daily a WHERE a.day = $1::date"
    "  AND ($2::text IS NULL OR a.tenant_id = $2::text)"
    "  AND NOT EXISTS (SELECT 1 FROM src WHERE src.tenant_id = a.tenant_id) RETURNING 1)"
    " SELECT (SELECT count(*) FROM src), (SELECT count(*) FROM up), (SELECT count(*) FROM gone)";

/* $1 month's first day, $2 tenant or NULL, $3 time zone. */
static const char billing_sql[] =
    "WITH b AS (SELECT ($1::date)::timestamp AT TIME ZONE $3 AS lo,"
    "                  ($1::date + interval '1 month') AT TIME ZONE $3 AS hi),"
    " src AS (SELECT m.tenant_id,"
    "   count(*) FILTER (WHERE m.status IN ('sent', 'delivered', 'bounced')) AS billable"
    "  FROM email_messages m, b"
    "  WHERE m.direction = 'outbound' AND m.tenant_id IS NOT NULL"
    "   AND ($2::text IS NULL OR m.tenant_id = $2::text) AND " IN_PERIOD
    "  GROUP BY m.tenant_id),"
    " up AS (INSERT INTO billing_usage AS a (tenant_id, month, billable_sends)"
    "  SELECT tenant_id, $1::date, billable FROM src"
    "  ON CONFLICT (tenant_id, month) DO UPDATE SET billable_sends = EXCLUDED.billable_sends,"
    "   updated_at = now()"
    "  WHERE a.billable_sends IS DISTINCT FROM EXCLUDED.billable_sends RETURNING 1),"
    " gone AS (DELETE FROM billing_usage a WHERE a.month = $1::date"
    "  AND ($2::text IS NULL OR a.tenant_id = $2::text)"
    "  AND NOT EXISTS (SELECT 1 FROM src WHERE src.tenant_id = a.tenant_id) RETURNING 1)"
    " SELECT (SELECT count(*) FROM src), (SELECT count(*) FROM up), (SELECT count(*) FROM gone)";

/*
 * $1 campaign.  A campaign belongs to one tenant: when its messages name
 * several, nothing is written and the 4th and 5th columns say which.
 */
static const char campaign_sql[] =
    "WITH src AS (SELECT m.campaign_id, min(m.tenant_id) AS tenant_id,"
    "   count(DISTINCT m.tenant_id) AS tenants,"
    "   string_agg(DISTINCT m.tenant_id, ', ' ORDER BY m.tenant_id) AS tenant_list," STATUS_COUNTS
    "   , min(m.sent_at) AS first_sent_at, max(m.sent_at) AS last_sent_at"
    "  FROM email_messages m"
    "  WHERE m.direction = 'outbound' AND m.campaign_id = $1::text"
    "  GROUP BY m.campaign_id),"
    " up AS (INSERT INTO analytics_campaign AS a (campaign_id, tenant_id, sent, delivered,"
    "   bounced, failed, first_sent_at, last_sent_at)"
    "  SELECT campaign_id, tenant_id, sent, delivered, bounced, failed, first_sent_at,"
    "   last_sent_at FROM src WHERE tenants <= 1"
    "  ON CONFLICT (campaign_id) DO UPDATE SET tenant_id = EXCLUDED.tenant_id,"
    "   sent = EXCLUDED.sent, delivered = EXCLUDED.delivered, bounced = EXCLUDED.bounced,"
    "   failed = EXCLUDED.failed, first_sent_at = EXCLUDED.first_sent_at,"
    "   last_sent_at = EXCLUDED.last_sent_at, updated_at = now()"
    "  WHERE (a.tenant_id, a.first_sent_at, a.last_sent_at) IS DISTINCT FROM"
    "   (EXCLUDED.tenant_id, EXCLUDED.first_sent_at, EXCLUDED.last_sent_at) OR" COUNTS_CHANGED
    "  RETURNING 1),"
    " gone AS (DELETE FROM analytics_campaign a WHERE a.campaign_id = $1::text"
    "  AND NOT EXISTS (SELECT 1 FROM src) RETURNING 1)"
    " SELECT (SELECT count(*) FROM src), (SELECT count(*) FROM up), (SELECT count(*) FROM gone),"
    "  coalesce((SELECT tenants FROM src), 0), (SELECT tenant_list FROM src)";

static const kind kinds[] = {
    {"analytics:daily-aggregate", parse_daily, daily_sql, describe_daily},
    {"analytics:campaign-aggregate", parse_campaign, campaign_sql, describe_campaign},
    {"analytics:billing-calculate", parse_billing, billing_sql, describe_billing},
};

/*--- running a job ---*/

/* The primary message of a failed result, on one line, into `buf`. */
static void result_error(PGconn *conn, const PGresult *res, char *buf, size_t len)
{
    const char *m = res ? PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY) : NULL;
    snprintf(buf, len, "%s", m && *m ? m : PQerrorMessage(conn));
    for (char *c = buf; *c; c++)
        if (*c == '\n')
            *c = ' ';
    size_t n = strlen(buf);
    while (n && buf[n - 1] == ' ')
        buf[--n] = '\0';
    if (!n)
        snprintf(buf, len, "unknown error");
}

/* Class 22 (data exception) will fail again: no point retrying. */
static int is_data_error(const PGresult *res)
{
    const char *state = res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;
    return state && !strncmp(state, "22", 2);
}

static void rollback(PGconn *conn)
{
    if (PQtransactionStatus(conn) != PQTRANS_IDLE)
        PQclear(PQexec(conn, "ROLLBACK"));
}

/* One analytics_jobs row for this run. */
static PGresult *track(PGconn *conn, const pmq_job *job, const char *status, const char *error)
{
    char priority[16], queued[32];
    snprintf(priority, sizeof priority, "%d", pmq_job_priority(job));
    snprintf(queued, sizeof queued, "%lld", (long long)pmq_job_created_at(job));
    size_t len;
    const char *params[] = {pmq_job_queue(job), status, pmq_job_payload(job, &len), priority,
                            queued, error};
    return PQexecParams(conn,
                        "INSERT INTO analytics_jobs (job_type, status, payload, priority,"
                        " queued_at, processed_at, error_message)"
                        " VALUES ($1, $2, $3::jsonb, $4::integer, to_timestamp($5::bigint),"
                        " clock_timestamp(), $6)",
                        6, NULL, params, NULL, NULL, 0);
}

/* Record a failed run outside any transaction; best effort. */
static void track_failure(pmq_ctx *ctx, PGconn *conn, const pmq_job *job, const char *error)
{
    if (!conn)
        return;
    rollback(conn);
    PGresult *res = track(conn, job, "failed", error);
    if (PQresultStatus(res) != PGRES_COMMAND_OK) {
        char why[512];
        result_error(conn, res, why, sizeof why);
        pmq_log(ctx, "could not record the failed run in analytics_jobs: %s", why);
    }
    PQclear(res);
}

/* Fail (data problems) or retry (the rest) after a database error. */
static pmq_status db_failure(pmq_ctx *ctx, PGconn *conn, const pmq_job *job, PGresult *res,
                             const char *what, const char *scope)
{
    char why[512], error[1024];
    result_error(conn, res, why, sizeof why);
    int permanent = is_data_error(res);
    PQclear(res);
    snprintf(error, sizeof error, "could not %s for %s: %s", what, scope, why);
    pmq_set_error(ctx, "%s", error);
    track_failure(ctx, conn, job, error);
    return permanent ? PMQ_FAIL : PMQ_RETRY;
}

static pmq_status run(pmq_ctx *ctx, const pmq_job *job, const analytics *an, const kind *k)
{
    request r;
    memset(&r, 0, sizeof r);
    char err[512];
    PGconn *conn = pmq_pg(ctx);
    if (k->parse(pmq_job_payload_json(job), &r, err, sizeof err) < 0) {
        pmq_set_error(ctx, "%s", err);
        track_failure(ctx, conn, job, err);
        return PMQ_FAIL;
    }
    char scope[256];
    k->describe(&r, scope, sizeof scope);
    if (!conn) {
        pmq_set_error(ctx, "could not recompute %s: no PostgreSQL connection", scope);
        return PMQ_RETRY;
    }

    PGresult *res = PQexec(conn, "BEGIN");
    if (PQresultStatus(res) != PGRES_COMMAND_OK)
        return db_failure(ctx, conn, job, res, "start a transaction", scope);
    PQclear(res);

    const char *params[3];
    int nparams;
    if (r.campaign_id) {
        params[0] = r.campaign_id;
        nparams = 1;
    } else {
        params[0] = r.date;
        params[1] = r.tenant_id;
        params[2] = an->time_zone;
        nparams = 3;
    }
    res = PQexecParams(conn, k->sql, nparams, NULL, params, NULL, NULL, 0);
    if (PQresultStatus(res) != PGRES_TUPLES_OK || PQntuples(res) != 1)
        return db_failure(ctx, conn, job, res, "recompute", scope);
    long found = atol(PQgetvalue(res, 0, 0)), written = atol(PQgetvalue(res, 0, 1)),
         removed = atol(PQgetvalue(res, 0, 2));
    if (PQnfields(res) >= 5 && atol(PQgetvalue(res, 0, 3)) > 1) {
        char error[1024];
        snprintf(error, sizeof error,
                 "campaign \"%s\" has outbound messages of %s tenants (%s): a campaign belongs "
                 "to one tenant",
                 r.campaign_id, PQgetvalue(res, 0, 3), PQgetvalue(res, 0, 4));
        PQclear(res);
        pmq_set_error(ctx, "%s", error);
        track_failure(ctx, conn, job, error);
        return PMQ_FAIL;
    }
    PQclear(res);

    res = track(conn, job, "completed", NULL);
    if (PQresultStatus(res) != PGRES_COMMAND_OK)
        return db_failure(ctx, conn, job, res, "record the run in analytics_jobs", scope);
    PQclear(res);
    res = PQexec(conn, "COMMIT");
    if (PQresultStatus(res) != PGRES_COMMAND_OK)
        return db_failure(ctx, conn, job, res, "commit", scope);
    PQclear(res);

    pmq_log(ctx, "%s: %ld summary row%s computed, %ld written, %ld removed", scope, found,
            found == 1 ? "" : "s", written, removed);
    return PMQ_DONE;
}

static pmq_status handle_daily(pmq_ctx *ctx, const pmq_job *job, void *state)
{
    return run(ctx, job, state, &kinds[0]);
}

static pmq_status handle_campaign(pmq_ctx *ctx, const pmq_job *job, void *state)
{
    return run(ctx, job, state, &kinds[1]);
}

static pmq_status handle_billing(pmq_ctx *ctx, const pmq_job *job, void *state)
{
    return run(ctx, job, state, &kinds[2]);
}

/*--- entry points ---*/

static void analytics_free(void *state)
{
    analytics *an = state;
    if (an)
        free(an->time_zone);
    free(an);
}

/* A plausible IANA zone name or offset; PostgreSQL has the last word at run time. */
static int plausible_zone(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n > 64)
        return 0;
    for (; *s; s++)
        if (!((*s >= 'A' && *s <= 'Z') || (*s >= 'a' && *s <= 'z') || (*s >= '0' && *s <= '9') ||
              strchr("/_+-:.", *s)))
            return 0;
    return 1;
}

int pmq_plugin_init(pmq_host *host, const pmq_api *api, const pmq_section *section)
{
    PMQ_API_INIT(api);
    const char *zone = pmq_config_get(section, "time_zone");
    if (!plausible_zone(zone)) {
        pmq_init_error(host, "invalid time_zone \"%s\": a time zone name such as \"UTC\" or "
                             "\"Europe/Paris\" is expected",
                       zone);
        return -1;
    }
    analytics *an = calloc(1, sizeof *an);
    if (!an || !(an->time_zone = strdup(zone))) {
        free(an);
        pmq_init_error(host, "out of memory");
        return -1;
    }
    for (const analytics_migration *m = analytics_sql; m->sql; m++)
        if (pmq_register_migration(host, m->version, m->name, m->sql) < 0) {
            analytics_free(an);
            return -1;
        }
    static const pmq_handler_fn handlers[] = {handle_daily, handle_campaign, handle_billing};
    for (size_t i = 0; i < sizeof kinds / sizeof kinds[0]; i++)
        if (pmq_register_queue(host, kinds[i].queue, handlers[i], an) < 0) {
            analytics_free(an);
            return -1;
        }
    pmq_register_fini(host, analytics_free, an);
    return 0;
}
