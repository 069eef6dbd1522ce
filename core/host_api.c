/*
 * host_api.c -- the host's function table (pmq_api) that plugins call: job
 * accessors, the attempt context, follow-up enqueues, the plugin's
 * PostgreSQL connection and its section's keys.  Registration lives in
 * plugin_registry.c, key checking in plugin_keys.c.
 */
#include <json-c/json.h>
#include <libpq-fe.h>
#include <limits.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "host_api.h"
#include "job.h"
#include "log.h"
#include "plugin_keys.h"
#include "plugin_registry.h"
#include "util.h"

/* A handler that logs in a loop must not exhaust the worker's memory. */
#define CTX_LOG_MAX (64 * 1024)

/*--- any time ---*/

static const char *config_get(const pmq_section *section, const char *key)
{
    return pmq_plugin_section_get((const pmq_plugin_section *)section, key);
}

static int config_number(const pmq_section *section, const char *key, int64_t *out)
{
    return pmq_plugin_section_number((const pmq_plugin_section *)section, key, out);
}

static void host_log(pmq_host *host, int level, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void host_log(pmq_host *host, int level, const char *fmt, ...)
{
    if (level < PMQ_LOG_DEBUG)
        level = PMQ_LOG_DEBUG;
    if (level > PMQ_LOG_ERROR)
        level = PMQ_LOG_ERROR;
    if (level < pmq_log_min_level || !fmt)
        return;
    va_list ap;
    va_start(ap, fmt);
    char *msg = pmq_vasprintf(fmt, ap);
    va_end(ap);
    pmq_log_write(level, "plugin \"%s\": %s", host ? pmq_plugin_name((const pmq_plugin *)host) : "?",
                  msg);
    free(msg);
}

/*--- job accessors ---*/

static const char *job_id(const pmq_job *job)
{
    return job->id;
}

static const char *job_queue(const pmq_job *job)
{
    return job->queue ? job->queue : "";
}

static int job_attempt(const pmq_job *job)
{
    return job->attempt;
}

static int job_max_attempts(const pmq_job *job)
{
    return job->max_attempts;
}

static int job_priority(const pmq_job *job)
{
    return job->priority;
}

static const char *job_tenant(const pmq_job *job)
{
    return job->tenant && *job->tenant ? job->tenant : NULL;
}

static const char *job_payload(const pmq_job *job, size_t *len)
{
    if (!job->payload) {
        if (len)
            *len = 2;
        return "{}";
    }
    if (len)
        *len = job->payload_len;
    return job->payload;
}

/* `len` bytes of JSON text parsed with room for `depth` levels, or NULL. */
static json_object *parse_json(const char *text, size_t len, int depth, int *too_deep)
{
    json_tokener *tok = json_tokener_new_ex(depth);
    if (!tok)
        return NULL;
    json_object *obj = json_tokener_parse_ex(tok, text, (int)len);
    enum json_tokener_error err = json_tokener_get_error(tok);
    if (!obj || err != json_tokener_success || json_tokener_get_parse_end(tok) != len) {
        json_object_put(obj);
        obj = NULL;
    }
    if (too_deep)
        *too_deep = err == json_tokener_error_depth;
    json_tokener_free(tok);
    return obj;
}

/* The deepest nesting of brackets outside strings in JSON text. */
static int json_depth(const char *s, size_t len)
{
    int depth = 0, max = 0, in_string = 0;
    for (size_t i = 0; i < len; i++) {
        if (in_string) {
            if (s[i] == '\\')
                i++;
            else if (s[i] == '"')
                in_string = 0;
        } else if (s[i] == '"') {
            in_string = 1;
        } else if (s[i] == '{' || s[i] == '[') {
            max = ++depth > max ? depth : max;
        } else if (s[i] == '}' || s[i] == ']') {
            depth--;
        }
    }
    return max;
}

/*
 * Parsed on first use and kept in the job: the job is const to the plugin,
 * not to the host that allocated it, so filling the cache is fine.  Any
 * depth PostgreSQL stored parses (plugin.h): json-c's tokener allocates its
 * stack for the depth it is given, so the common shallow payload gets the
 * default and only a deeper one a second pass with the depth it has.
 */
static struct json_object *job_payload_json(const pmq_job *job)
{
    if (job->payload_json)
        return job->payload_json;
    size_t len;
    const char *text = job_payload(job, &len);
    if (len > INT_MAX)
        return NULL;
    int too_deep = 0;
    json_object *obj = parse_json(text, len, JSON_TOKENER_DEFAULT_DEPTH, &too_deep);
    if (!obj && too_deep)
        obj = parse_json(text, len, json_depth(text, len) + 1, NULL);
    ((pmq_job *)job)->payload_json = obj;
    return obj;
}

static time_t job_created_at(const pmq_job *job)
{
    return job->created_at;
}

/*--- attempt context ---*/

/* Add one line; past CTX_LOG_MAX the line is cut and a marker ends the trail. */
static void ctx_append(pmq_ctx *ctx, const char *msg)
{
    static const char marker[] = "(audit trail truncated)";
    const size_t room = CTX_LOG_MAX - sizeof marker; /* the marker line always fits after */
    if (ctx->log_len > room)
        return; /* already truncated */
    size_t avail = room - ctx->log_len, n = strlen(msg);
    int cut = n + 1 > avail;
    if (cut)
        n = avail ? avail - 1 : 0;
    ctx->log = pmq_xrealloc(ctx->log, ctx->log_len + n + 1 + sizeof marker + 1);
    char *at = ctx->log + ctx->log_len;
    if (n || !cut) {
        for (size_t i = 0; i < n; i++) /* one entry, one line */
            *at++ = msg[i] == '\n' || msg[i] == '\r' ? ' ' : msg[i];
        *at++ = '\n';
    }
    if (cut) {
        memcpy(at, marker, sizeof marker - 1);
        at += sizeof marker - 1;
        *at++ = '\n';
    }
    *at = '\0';
    ctx->log_len = (size_t)(at - ctx->log);
}

/* A handler's printf-style words: a line of the audit trail, or the attempt's error. */
static void ctx_vnote(pmq_ctx *ctx, int is_error, const char *fmt, va_list ap)
    __attribute__((format(printf, 3, 0)));
static void ctx_vnote(pmq_ctx *ctx, int is_error, const char *fmt, va_list ap)
{
    if (!ctx || !fmt)
        return;
    char *msg = pmq_vasprintf(fmt, ap);
    if (is_error) {
        free(ctx->error);
        ctx->error = msg;
    } else {
        ctx_append(ctx, msg);
        free(msg);
    }
}

static void ctx_log(pmq_ctx *ctx, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void ctx_log(pmq_ctx *ctx, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    ctx_vnote(ctx, 0, fmt, ap);
    va_end(ap);
}

static void set_error(pmq_ctx *ctx, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void set_error(pmq_ctx *ctx, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    ctx_vnote(ctx, 1, fmt, ap);
    va_end(ap);
}

static void retry_after(pmq_ctx *ctx, int64_t delay_ms)
{
    ctx->retry_delay_ms = delay_ms < 0 ? 0 : delay_ms;
}

static void progress(pmq_ctx *ctx, double fraction)
{
    if (!(fraction >= 0.0)) /* also NaN */
        fraction = 0.0;
    else if (fraction > 1.0)
        fraction = 1.0;
    ctx->progress = fraction;
}

static int cancelled(pmq_ctx *ctx)
{
    return ctx->cancelled != 0;
}

/* The connection's last error on one line, without libpq's trailing newline. */
static char *one_line(const char *msg)
{
    char *s = pmq_xstrdup(msg && *msg ? msg : "unknown error");
    size_t n = strlen(s);
    while (n && (s[n - 1] == '\n' || s[n - 1] == ' '))
        s[--n] = '\0';
    for (char *c = s; *c; c++)
        if (*c == '\n')
            *c = ' ';
    return s;
}

static PGconn *pg(pmq_ctx *ctx)
{
    pmq_ctx_env *env = ctx->env;
    if (!env) {
        ctx_log(ctx, "no PostgreSQL connection in this context");
        return NULL;
    }
    if (!env->plugin_conn) {
        env->plugin_conn = PQconnectdb(env->conninfo ? env->conninfo : "");
        if (!env->plugin_conn) {
            ctx_log(ctx, "could not connect to PostgreSQL: out of memory");
            return NULL;
        }
    } else if (PQstatus(env->plugin_conn) != CONNECTION_OK) {
        PQreset(env->plugin_conn);
    }
    if (PQstatus(env->plugin_conn) != CONNECTION_OK) {
        char *why = one_line(PQerrorMessage(env->plugin_conn));
        log_warning("could not connect to PostgreSQL for queue \"%s\": %s",
                    ctx->job && ctx->job->queue ? ctx->job->queue : "?", why);
        ctx_log(ctx, "could not connect to PostgreSQL: %s", why);
        free(why);
        return NULL;
    }
    return env->plugin_conn;
}

/* True when a caller's opts, `size` bytes long, holds `field`. */
#define OPTS_HAS(opts, field)                                                                   \
    ((opts) && (opts)->size >= offsetof(pmq_enqueue_opts, field) + sizeof((opts)->field))

static int enqueue(pmq_ctx *ctx, const char *queue, const char *payload_json,
                   const pmq_enqueue_opts *opts, char *id_out)
{
    if (!queue || !*queue) {
        set_error(ctx, "could not enqueue: no queue name");
        return -1;
    }
    int priority = OPTS_HAS(opts, priority) ? opts->priority : 0;
    int max_attempts = OPTS_HAS(opts, max_attempts) ? opts->max_attempts : 0;
    int64_t delay_ms = OPTS_HAS(opts, delay_ms) ? opts->delay_ms : 0;
    const char *unique_key = OPTS_HAS(opts, unique_key) ? opts->unique_key : NULL;
    const char *tenant = OPTS_HAS(opts, tenant_id) ? opts->tenant_id : NULL;
    if (!tenant && ctx->job)
        tenant = job_tenant(ctx->job);
    if (delay_ms < 0)
        delay_ms = 0;
    if (delay_ms > PMQ_DELAY_MAX_MS) {
        set_error(ctx, "could not enqueue on queue \"%s\": delay must be at most %dd", queue,
                  PMQ_DELAY_MAX_DAYS);
        return -1;
    }

    PGconn *conn = pg(ctx);
    if (!conn) {
        set_error(ctx, "could not enqueue on queue \"%s\": no PostgreSQL connection", queue);
        return -1;
    }

    char prio_s[16], delay_s[24], max_s[16];
    snprintf(prio_s, sizeof prio_s, "%d", priority);
    snprintf(delay_s, sizeof delay_s, "%lld", (long long)delay_ms);
    snprintf(max_s, sizeof max_s, "%d", max_attempts);
    const char *values[7] = {
        queue,        payload_json ? payload_json : "{}",
        priority ? prio_s : NULL,
        delay_s,      max_attempts ? max_s : NULL,
        unique_key,   tenant,
    };
    /* text, jsonb (from the cast), int4, float8, int4, text, text */
    static const Oid types[7] = {25, 0, 23, 701, 23, 25, 25};
    PGresult *res = PQexecParams(conn,
                                 "SELECT pmq_enqueue($1, $2::jsonb, $3, now() + $4 * interval "
                                 "'1 millisecond', $5, $6, $7)",
                                 7, types, values, NULL, NULL, 0);
    if (PQresultStatus(res) != PGRES_TUPLES_OK || PQntuples(res) != 1) {
        const char *primary = res ? PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY) : NULL;
        char *why = one_line(primary ? primary : PQerrorMessage(conn));
        log_warning("enqueue on queue \"%s\" failed: %s", queue, why);
        ctx_log(ctx, "enqueue on queue \"%s\" failed: %s", queue, why);
        set_error(ctx, "could not enqueue on queue \"%s\": %s", queue, why);
        free(why);
        PQclear(res);
        return -1;
    }
    if (id_out)
        snprintf(id_out, PMQ_JOB_ID_SIZE, "%s", PQgetisnull(res, 0, 0) ? "" : PQgetvalue(res, 0, 0));
    PQclear(res);
    return 0;
}

/*--- the table ---*/

static const pmq_api host_api = {
    .size = sizeof(pmq_api),
    .abi_major = PMQ_ABI_MAJOR,
    .abi_minor = PMQ_ABI_MINOR,

    .register_queue = pmq_host_register_queue,
    .register_fini = pmq_host_register_fini,
    .register_migration = pmq_host_register_migration,
    .init_error = pmq_host_init_error,

    .config_get = config_get,
    .host_log = host_log,

    .job_id = job_id,
    .job_queue = job_queue,
    .job_attempt = job_attempt,
    .job_max_attempts = job_max_attempts,
    .job_priority = job_priority,
    .job_tenant = job_tenant,
    .job_payload = job_payload,
    .job_payload_json = job_payload_json,
    .job_created_at = job_created_at,

    .log = ctx_log,
    .set_error = set_error,
    .retry_after = retry_after,
    .progress = progress,
    .enqueue = enqueue,
    .pg = pg,
    .cancelled = cancelled,

    .config_number = config_number,
    .parse_int = pmq_plugin_parse_int,
    .parse_duration_ms = pmq_plugin_parse_duration_ms,
    .parse_bytes = pmq_plugin_parse_bytes,
    .parse_bool = pmq_plugin_parse_bool,
};

const pmq_api *pmq_host_api(void)
{
    return &host_api;
}
