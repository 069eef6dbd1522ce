/*
 * config_schema.c -- the tables of sections and keys, and the setter that
 * checks a value against its row (see config_schema.h).
 */
#include <ctype.h>
#include <limits.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <json-c/json.h>
#include <libpq-fe.h>

#include "config_schema.h"
#include "cron.h"
#include "secrets.h"
#include "util.h"

#ifndef PMQ_PLUGINS_DIR
#define PMQ_PLUGINS_DIR "/usr/local/lib/pmq/plugins"
#endif

#define SEC_MS 1000L
#define MIN_MS (60 * SEC_MS)
#define HOUR_MS (60 * MIN_MS)
#define DAY_MS (24 * HOUR_MS)

/*
 * The largest [queue] max_payload.  A job's entry crosses Redis whole in one
 * command (the worker's claim script and its reply), and Redis serves no one
 * else meanwhile.  Measured on a busy 2-core host: 8 MiB blocked Redis for
 * 0.56 s, 16 MiB for 1 s, and at 32 MiB the claim took 2 s, past [redis]
 * timeout's default, so the worker gave up and the job stayed claimed
 * (doc/operations.md, "Payload size").  8 MiB keeps a claim well inside the
 * timeout and heartbeats flowing.
 */
#define MAX_PAYLOAD_CAP (8L << 20)

/*--- the tables ---*/

#define KEY(type, name, kind, flags, field, min, max, dflt, unit, doc) \
    {name, PMQ_KEY_##kind, flags, offsetof(type, field), min, max, dflt, unit, doc}
#define MAIN_ONLY PMQ_KEY_MAIN_ONLY
#define REQUIRED PMQ_KEY_REQUIRED
#define EMPTY_NULL PMQ_KEY_EMPTY_NULL

/* [database] and [redis]: a password comes from a file or the environment, never the INI. */
#define PASSWORD_KEYS(type, env_default)                                                        \
    KEY(type, "password", SECRET, 0, password, 0, 0, NULL, 0,                                  \
        "refused: use password_file or password_env"),                                         \
    KEY(type, "password_file", PATH, EMPTY_NULL, password_file, 0, 0, NULL, 0,                 \
        "file whose first line is the password; only its owner may read it"),                 \
    KEY(type, "password_env", ENVNAME, EMPTY_NULL, password_env, 0, 0, env_default, 0,         \
        "environment variable holding the password")

static const pmq_key_spec daemon_keys[] = {
    KEY(pmq_daemon_config, "conf_dir", PATH, MAIN_ONLY, conf_dir, 0, 0, "conf.d", 0,
        "directory of the other *.ini files, read in lexical order; empty: none"),
    KEY(pmq_daemon_config, "log_level", LOGLEVEL, 0, log_level, 0, 0, "info", 0,
        "debug, info, warning or error"),
    KEY(pmq_daemon_config, "log_format", LOGFORMAT, 0, log_format, 0, 0, "text", 0,
        "text or json"),
    KEY(pmq_daemon_config, "plugin_dir", PATH, 0, plugin_dir, 0, 0, PMQ_PLUGINS_DIR, 0,
        "where relative plugin paths resolve"),
    KEY(pmq_daemon_config, "host_id", HOSTID, 0, host_id, 0, 0, NULL, 0,
        "this host in worker ids; not set: the host name"),
    KEY(pmq_daemon_config, "grace_period", DURATION, 0, grace_period_ms, 0, DAY_MS, "30s", SEC_MS,
        "how long SIGTERM lets running jobs finish"),
    KEY(pmq_daemon_config, "heartbeat_ttl", DURATION, 0, heartbeat_ttl_ms, SEC_MS, HOUR_MS,
        "15s", SEC_MS, "how long a silent worker counts as alive"),
};

static const pmq_key_spec database_keys[] = {
    KEY(pmq_database_config, "conninfo", CONNINFO, EMPTY_NULL, conninfo, 0, 0, NULL, 0,
        "a libpq connection string or URI, without a password"),
    KEY(pmq_database_config, "host", STRING, EMPTY_NULL, host, 0, 0, NULL, 0,
        "libpq host; not set: libpq's default"),
    KEY(pmq_database_config, "port", PORTS, EMPTY_NULL, port, 0, 0, NULL, 0,
        "libpq port, or a comma-separated list, one per host"),
    KEY(pmq_database_config, "dbname", STRING, EMPTY_NULL, dbname, 0, 0, NULL, 0,
        "libpq dbname; not set: libpq's default"),
    KEY(pmq_database_config, "user", STRING, EMPTY_NULL, user, 0, 0, NULL, 0,
        "libpq user; not set: libpq's default"),
    PASSWORD_KEYS(pmq_database_config, "PGPASSWORD"),
    KEY(pmq_database_config, "connect_timeout", SECONDS, 0, connect_timeout_s, 0, HOUR_MS, "5s",
        SEC_MS, "how long connecting may take; 0: forever"),
};

static const pmq_key_spec redis_keys[] = {
    KEY(pmq_redis_config, "host", STRING, 0, host, 0, 0, "127.0.0.1", 0, "Redis host"),
    KEY(pmq_redis_config, "port", INT, 0, port, 1, 65535, "6379", 0, "Redis port"),
    KEY(pmq_redis_config, "socket", PATH, EMPTY_NULL, socket, 0, 0, NULL, 0,
        "Unix socket path; wins over host and port"),
    KEY(pmq_redis_config, "db", INT, 0, db, 0, 65535, "0", 0, "Redis database number"),
    PASSWORD_KEYS(pmq_redis_config, "PMQ_REDIS_PASSWORD"),
    KEY(pmq_redis_config, "key_prefix", STRING, PMQ_KEY_EMPTY_OK, key_prefix, 0, 0, "", 0,
        "prefix of every key, so that deployments can share one Redis"),
    KEY(pmq_redis_config, "timeout", DURATION, 0, timeout_ms, 1, HOUR_MS, "2s", 1,
        "connect and command timeout"),
    KEY(pmq_redis_config, "finished_ttl", SECONDS, 0, finished_ttl_s, 0, DAY_MS, "0", SEC_MS,
        "how long job:<id> outlives its outcome; 0: not at all"),
};

static const pmq_key_spec migrator_keys[] = {
    KEY(pmq_migrator_config, "enabled", BOOL, 0, enabled, 0, 0, "yes", 0,
        "whether this host runs a migrator"),
    KEY(pmq_migrator_config, "batch_size", INT, 0, batch_size, 1, 100000, "1000", 0,
        "jobs moved to Redis per statement"),
    KEY(pmq_migrator_config, "poll_interval", DURATION, 0, poll_interval_ms, 1, HOUR_MS, "1s", 1,
        "safety net behind LISTEN/NOTIFY"),
};

static const pmq_key_spec http_keys[] = {
    KEY(pmq_http_config, "listen", LISTEN, EMPTY_NULL, listen, 0, 0, NULL, 0,
        "address:port of /health and /metrics; not set: off"),
};

static const pmq_key_spec pool_keys[] = {
    KEY(pmq_pool_config, "queues", QUEUES, REQUIRED, queues, 0, 0, NULL, 0,
        "the queues its workers take jobs from, separated by commas or spaces"),
    KEY(pmq_pool_config, "processes", INT, 0, processes, 1, 256, "1", 0, "worker processes"),
    KEY(pmq_pool_config, "threads", INT, 0, threads, 1, 1024, "1", 0, "threads per process"),
};

static const pmq_key_spec queue_keys[] = {
    KEY(pmq_queue_config, "max_attempts", INT, 0, max_attempts, PMQ_MAX_ATTEMPTS_MIN,
        PMQ_MAX_ATTEMPTS_MAX, "3", 0, "attempts before a job is dead-lettered"),
    KEY(pmq_queue_config, "backoff_base", DURATION, 0, backoff_base_ms, 0, 7 * DAY_MS, "1s",
        SEC_MS, "delay before the first retry, doubled at each one"),
    KEY(pmq_queue_config, "backoff_max", DURATION, 0, backoff_max_ms, 0, 7 * DAY_MS, "1h", SEC_MS,
        "longest delay between retries"),
    KEY(pmq_queue_config, "timeout", DURATION, 0, timeout_ms, 1, DAY_MS, "30s", SEC_MS,
        "how long one attempt may run"),
    KEY(pmq_queue_config, "rate_limit", INT, 0, rate_limit, 0, 1000000, "0", 0,
        "jobs per second; 0: none"),
    KEY(pmq_queue_config, "priority", INT, 0, priority, PMQ_PRIORITY_MIN, PMQ_PRIORITY_MAX, "100",
        0, "priority of a job enqueued without one; lower runs first"),
    KEY(pmq_queue_config, "max_payload", BYTES, 0, max_payload_bytes, 1, MAX_PAYLOAD_CAP, "1M", 0,
        "largest payload a job may carry"),
};

static const pmq_key_spec plugin_keys[] = {
    KEY(pmq_plugin_config, "path", STRING, REQUIRED, path, 0, 0, NULL, 0,
        "the plugin's .so, relative to plugin_dir"),
    KEY(pmq_plugin_config, "enabled", BOOL, 0, enabled, 0, 0, "yes", 0,
        "whether pmqd loads it"),
};

static const pmq_key_spec schedule_keys[] = {
    KEY(pmq_schedule_config, "cron", CRON, REQUIRED, cron, 0, 0, NULL, 0,
        "minute hour day month weekday"),
    KEY(pmq_schedule_config, "queue", NAME, REQUIRED, queue, 0, 0, NULL, 0,
        "the queue it enqueues on"),
    KEY(pmq_schedule_config, "payload", JSON, 0, payload, 0, 0, "{}", 0,
        "the job's payload, a JSON object"),
};

#define SECTION(type, named, open, keys) {type, named, open, keys, sizeof keys / sizeof keys[0]}

const pmq_section_spec pmq_sections[PMQ_SECTION_COUNT] = {
    [PMQ_SECTION_PMQD] = SECTION("pmqd", 0, 0, daemon_keys),
    [PMQ_SECTION_DATABASE] = SECTION("database", 0, 0, database_keys),
    [PMQ_SECTION_REDIS] = SECTION("redis", 0, 0, redis_keys),
    [PMQ_SECTION_MIGRATOR] = SECTION("migrator", 0, 0, migrator_keys),
    [PMQ_SECTION_HTTP] = SECTION("http", 0, 0, http_keys),
    [PMQ_SECTION_POOL] = SECTION("pool", 1, 0, pool_keys),
    [PMQ_SECTION_QUEUE] = SECTION("queue", 1, 0, queue_keys),
    [PMQ_SECTION_PLUGIN] = SECTION("plugin", 1, 1, plugin_keys),
    [PMQ_SECTION_SCHEDULE] = SECTION("schedule", 1, 0, schedule_keys),
};

int pmq_schema_section_kind(const char *type)
{
    for (int i = 0; i < PMQ_SECTION_COUNT; i++)
        if (!strcmp(pmq_sections[i].type, type))
            return i;
    return -1;
}

const pmq_key_spec *pmq_schema_key(int kind, const char *key)
{
    const pmq_section_spec *sp = &pmq_sections[kind];
    for (size_t i = 0; i < sp->nkeys; i++)
        if (!strcmp(sp->keys[i].name, key))
            return &sp->keys[i];
    return NULL;
}

const char *pmq_schema_nearest_key(int kind, const char *key)
{
    const pmq_section_spec *sp = &pmq_sections[kind];
    const char *names[16];
    size_t n = 0;
    for (size_t i = 0; i < sp->nkeys && n < 15; i++)
        if (sp->keys[i].type != PMQ_KEY_SECRET)
            names[n++] = sp->keys[i].name;
    names[n] = NULL;
    return pmq_nearest_word(key, names);
}

/*--- checking values ---*/

#define NAME_MAX_LEN 63

int pmq_schema_valid_name(const char *s, int is_queue)
{
    size_t n = 0;
    for (; s[n]; n++)
        if (!isalnum((unsigned char)s[n]) && !strchr(is_queue ? "_-.:" : "_-.", s[n]))
            return 0;
    return n >= 1 && n <= NAME_MAX_LEN;
}

static int valid_host_id(const char *s)
{
    size_t n = 0;
    for (; s[n]; n++)
        if (!isalnum((unsigned char)s[n]) && !strchr("_-.", s[n]))
            return 0;
    return n >= 1 && n <= 253;
}

static int valid_envname(const char *s)
{
    if (!isalpha((unsigned char)*s) && *s != '_')
        return 0;
    for (; *s; s++)
        if (!isalnum((unsigned char)*s) && *s != '_')
            return 0;
    return 1;
}

/* "host:port", "[v6]:port". */
static int valid_listen(const char *s)
{
    const char *colon = strrchr(s, ':');
    long port;
    if (!colon || colon == s)
        return 0;
    if (s[0] == '[') {
        if (colon - s < 3 || colon[-1] != ']')
            return 0;
    } else if (memchr(s, ':', (size_t)(colon - s)) || memchr(s, ' ', (size_t)(colon - s))) {
        return 0;
    }
    return pmq_parse_int(colon + 1, 1, 65535, &port) == 0;
}

/* libpq takes one port per host, comma-separated. */
static int valid_ports(const char *s)
{
    char *copy = pmq_xstrdup(s), *rest = copy, *item;
    long n;
    int ok = 1;
    while (ok && (item = strsep(&rest, ",")) != NULL)
        ok = pmq_parse_int(item, 1, 65535, &n) == 0;
    free(copy);
    return ok;
}

char *pmq_format_ms(int64_t ms)
{
    static const struct {
        int64_t ms;
        const char *unit;
    } units[] = {{DAY_MS, "d"}, {HOUR_MS, "h"}, {MIN_MS, "m"}, {SEC_MS, "s"}};
    if (ms == 0)
        return pmq_xstrdup("0");
    for (size_t i = 0; i < sizeof units / sizeof units[0]; i++)
        if (ms % units[i].ms == 0)
            return pmq_asprintf("%lld%s", (long long)(ms / units[i].ms), units[i].unit);
    return pmq_asprintf("%lldms", (long long)ms);
}

/*
 * Why `s` is not a JSON object that pmq_enqueue() takes (caller frees), or
 * NULL.  PostgreSQL's jsonb refuses what json-c accepts: bytes that are not
 * UTF-8 and the escape \u0000; the details use PostgreSQL's words.
 */
static char *json_object_problem(const char *s)
{
    const char *bad = pmq_utf8_invalid(s);
    if (bad)
        return pmq_asprintf("PostgreSQL refuses it: invalid byte sequence for encoding \"UTF8\": "
                            "0x%02x.",
                            (unsigned char)*bad);
    /* Backslashes only occur in strings, where "\\" escapes the next one. */
    for (const char *p = strchr(s, '\\'); p; p = strchr(p + 2, '\\')) {
        if (!strncmp(p, "\\u0000", 6))
            return pmq_xstrdup("PostgreSQL refuses it: unsupported Unicode escape sequence "
                               "(\\u0000 cannot be converted to text).");
        if (!p[1])
            break;
    }
    json_tokener *tok = json_tokener_new();
    if (!tok)
        return pmq_xstrdup("Out of memory.");
    /* -1: the terminating NUL ends the text, so "12" is complete. */
    json_object *obj = json_tokener_parse_ex(tok, s, -1);
    enum json_tokener_error jerr = json_tokener_get_error(tok);
    char *problem = NULL;
    if (jerr != json_tokener_success) {
        problem = pmq_asprintf("A JSON object is expected: %s.", json_tokener_error_desc(jerr));
    } else {
        const char *rest = s + json_tokener_get_parse_end(tok);
        while (isspace((unsigned char)*rest))
            rest++;
        if (*rest)
            problem = pmq_xstrdup("A JSON object is expected: there is text after its end.");
        else if (!json_object_is_type(obj, json_type_object))
            problem = pmq_asprintf("A JSON object is expected, not a JSON %s.",
                                   json_type_to_name(json_object_get_type(obj)));
    }
    json_object_put(obj);
    json_tokener_free(tok);
    return problem;
}

static pmq_error *bad_value(pmq_ini *ini, const char *label, const pmq_ini_entry *e,
                            const char *fmt, ...) __attribute__((format(printf, 4, 5)));
static pmq_error *bad_value(pmq_ini *ini, const char *label, const pmq_ini_entry *e,
                            const char *fmt, ...)
{
    /* pmq_ini_flush_errors() puts a value of several lines on one. */
    pmq_error *err =
        pmq_ini_report(ini, &e->origin, label, "invalid value \"%s\" for \"%s\"", e->value, e->key);
    va_list ap;
    va_start(ap, fmt);
    char *detail = pmq_vasprintf(fmt, ap);
    va_end(ap);
    pmq_error_detail(err, "%s", detail);
    free(detail);
    if (strchr(e->value, '\n'))
        pmq_error_hint(err, "An indented line continues the value of the line above it.");
    else if (strstr(e->value, " #") || e->value[0] == '#')
        pmq_error_hint(err, "After a value, only \";\" starts a comment; \"#\" starts one only at "
                            "the beginning of a line.");
    return err;
}

static void refuse_secret(pmq_ini *ini, const char *label, const pmq_ini_entry *e,
                          const char *what)
{
    pmq_error *err = pmq_ini_report(ini, &e->origin, label, PMQ_SECRET_REFUSED_FMT, what);
    pmq_error_hint(err, PMQ_SECRET_REFUSED_HINT);
}

static void set_string(char **field, const char *value)
{
    free(*field);
    *field = value ? pmq_xstrdup(value) : NULL;
}

/*--- the special keys: lists, and conninfo, which may hold a secret ---*/

static void free_names(char **names, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(names[i]);
    free(names);
}

/* [pool] queues: names separated by commas and/or white space. */
static void set_queues(pmq_ini *ini, const char *label, pmq_pool_config *pool,
                       const pmq_ini_entry *e)
{
    char *copy = pmq_xstrdup(e->value), *save = NULL;
    char **names = NULL;
    size_t n = 0;
    int ok = 1;
    for (char *q = strtok_r(copy, ", \t\r\n", &save); ok && q;
         q = strtok_r(NULL, ", \t\r\n", &save)) {
        int twice = 0;
        for (size_t i = 0; i < n; i++)
            twice |= !strcmp(names[i], q);
        if (!pmq_schema_valid_name(q, 1))
            bad_value(ini, label, e,
                      "A list of queue names separated by commas or spaces is expected; \"%s\" is "
                      "not a name of 1 to 63 letters, digits, \"_\", \"-\", \".\" or \":\".",
                      q);
        else if (twice)
            pmq_ini_report(ini, &e->origin, label, "queue \"%s\" is listed twice in \"%s\"", q,
                           e->key);
        ok = pmq_schema_valid_name(q, 1) && !twice;
        if (ok) {
            names = pmq_xrealloc(names, (n + 2) * sizeof *names);
            names[n++] = pmq_xstrdup(q);
            names[n] = NULL;
        }
    }
    if (ok && n == 0) {
        bad_value(ini, label, e, "A list of queue names separated by commas or spaces is expected.");
        ok = 0;
    }
    if (ok) {
        free_names(pool->queues, pool->nqueues);
        pool->queues = names;
        pool->nqueues = n;
    } else {
        free_names(names, n);
    }
    free(copy);
}

/* libpq accepts any text for these when it parses, and refuses it when it connects. */
static const struct {
    const char *keyword;
    const char *const values[7];
} conninfo_enums[] = {
    {"sslmode", {"disable", "allow", "prefer", "require", "verify-ca", "verify-full"}},
    {"gssencmode", {"disable", "prefer", "require"}},
    {"channel_binding", {"disable", "prefer", "require"}},
    {"target_session_attrs",
     {"any", "read-write", "read-only", "primary", "standby", "prefer-standby"}},
    {"load_balance_hosts", {"disable", "random"}},
    {"sslnegotiation", {"postgres", "direct"}},
};

/* A keyword of the enumerations above whose value is not one of its own. */
static void check_conninfo_enum(pmq_ini *ini, const char *label, const pmq_ini_entry *e,
                                const PQconninfoOption *o)
{
    for (size_t i = 0; i < sizeof conninfo_enums / sizeof conninfo_enums[0]; i++) {
        if (strcmp(o->keyword, conninfo_enums[i].keyword))
            continue;
        const char *const *v = conninfo_enums[i].values;
        char list[128] = "";
        for (; *v && strcmp(*v, o->val); v++)
            snprintf(list + strlen(list), sizeof list - strlen(list), "%s%s",
                     *list ? ", " : "", *v);
        if (*v)
            return;
        pmq_error *err = pmq_ini_report(ini, &e->origin, label,
                                        "invalid value \"%s\" for \"%s\" in \"conninfo\"", o->val,
                                        o->keyword);
        pmq_error_detail(err, "One of %s is expected.", list);
        return;
    }
}

/*
 * A conninfo is never shown in a message, only libpq's reason: a misspelt
 * "password" keyword would otherwise print its value.
 */
static void set_conninfo(pmq_ini *ini, const char *label, char **field, const pmq_ini_entry *e)
{
    char *why = NULL;
    PQconninfoOption *opts = PQconninfoParse(e->value, &why);
    if (!opts) {
        if (pmq_conninfo_may_hold_secret(e->value)) {
            refuse_secret(ini, label, e, "a password in \"conninfo\"");
        } else {
            char *reason = why ? pmq_libpq_reason(why) : pmq_xstrdup("out of memory");
            pmq_error *err =
                pmq_ini_report(ini, &e->origin, label, "invalid value for \"conninfo\"");
            pmq_error_detail(err, "A libpq connection string or URI is expected (libpq says: %s).",
                             reason);
            free(reason);
        }
        PQfreemem(why);
        return;
    }
    int has_secret = 0;
    size_t errors = ini->errs.count;
    for (const PQconninfoOption *o = opts; o->keyword; o++) {
        if (!o->val || !*o->val)
            continue;
        has_secret |= pmq_secret_keyword(o->keyword);
        if (!pmq_secret_keyword(o->keyword))
            check_conninfo_enum(ini, label, e, o);
    }
    PQconninfoFree(opts);
    if (has_secret)
        refuse_secret(ini, label, e, "a password in \"conninfo\"");
    else if (ini->errs.count == errors)
        set_string(field, e->value);
}

/*--- the setter ---*/

static const char *unit_words(int64_t unit_ms)
{
    return unit_ms == 1 ? "milliseconds" : unit_ms == SEC_MS ? "seconds" : "minutes";
}

/* Why `v` does not fit a duration row (caller frees). */
static char *duration_problem(const pmq_key_spec *k)
{
    char *lo = pmq_format_ms(k->min), *hi = pmq_format_ms(k->max);
    char *why = pmq_asprintf("A duration%s from %s to %s is expected, such as \"500ms\", \"30s\", "
                             "\"5m\" or \"2h\"; a bare number counts %s.",
                             k->type == PMQ_KEY_SECONDS ? " in whole seconds" : "", lo, hi,
                             unit_words(k->unit_ms));
    free(lo);
    free(hi);
    return why;
}

/* A text-valued type: whether `v` is one, and the text to store. */
static const char *text_value(pmq_key_type type, const char *v, const char **why)
{
    static const char *const levels[] = {"debug", "info", "warning", "error"};
    int ok = 1;
    switch (type) {
    case PMQ_KEY_STRING:
        ok = *v != '\0';
        *why = "A non-empty value is expected.";
        break;
    case PMQ_KEY_NAME:
        ok = pmq_schema_valid_name(v, 1);
        *why = PMQ_QUEUE_NAME_DETAIL;
        break;
    case PMQ_KEY_HOSTID:
        ok = valid_host_id(v);
        *why = "A host name (letters, digits, \"_\", \"-\" and \".\") is expected: worker ids are "
               "\"<host_id>:<pid>:<pool>\".";
        break;
    case PMQ_KEY_LOGLEVEL:
        *why = "One of debug, info, warning or error is expected.";
        for (size_t i = 0; i < sizeof levels / sizeof levels[0]; i++)
            if (!strcasecmp(v, levels[i]))
                return levels[i];
        return NULL;
    case PMQ_KEY_LISTEN:
        ok = valid_listen(v);
        *why = "An address and a port from 1 to 65535 are expected, such as \"127.0.0.1:9187\" or "
               "\"[::1]:9187\".";
        break;
    case PMQ_KEY_PORTS:
        ok = valid_ports(v);
        *why = "A port number from 1 to 65535 is expected (or a comma-separated list of them, one "
               "per host).";
        break;
    default: /* the special keys have no default to store */
        *why = "A value is expected.";
        return NULL;
    }
    return ok ? v : NULL;
}

/*
 * Store `v` in the field of row `k` at `base`; NULL when it fits, else why
 * not (caller frees), with *hint when there is more to say.  `file` is
 * where it is written.
 */
static char *store(const pmq_key_spec *k, void *base, const char *v, const char *file,
                   const char **hint)
{
    char *field = (char *)base + k->offset;
    char **sp = (char **)(void *)field;
    int *ip = (int *)(void *)field;
    const char *why = NULL, *text;
    long n;
    int64_t ms;

    *hint = NULL;
    if (!*v && (k->flags & (PMQ_KEY_EMPTY_NULL | PMQ_KEY_EMPTY_OK))) {
        set_string(sp, k->flags & PMQ_KEY_EMPTY_OK ? "" : NULL);
        return NULL;
    }
    switch (k->type) {
    case PMQ_KEY_PATH: {
        if (!*v)
            return pmq_xstrdup("A path is expected.");
        /* Relative to the file that says it, not to pmqd's working directory. */
        char *dir = pmq_path_dir(file);
        free(*sp);
        *sp = pmq_path_join(dir, v);
        free(dir);
        return NULL;
    }
    case PMQ_KEY_ENVNAME:
        if (valid_envname(v)) {
            set_string(sp, v);
            return NULL;
        }
        set_string(sp, NULL); /* not the default's variable instead */
        return pmq_xstrdup("The name of an environment variable (letters, digits and \"_\", not "
                           "starting with a digit) is expected.");
    case PMQ_KEY_INT:
        if (pmq_parse_int(v, k->min, k->max, &n) < 0)
            return pmq_asprintf("An integer from %ld to %ld is expected.", k->min, k->max);
        *ip = (int)n;
        return NULL;
    case PMQ_KEY_DURATION:
    case PMQ_KEY_SECONDS:
        if (pmq_parse_duration_ms(v, k->unit_ms, &ms) < 0 || ms < k->min || ms > k->max ||
            (k->type == PMQ_KEY_SECONDS && ms % SEC_MS))
            return duration_problem(k);
        *ip = (int)(k->type == PMQ_KEY_SECONDS ? ms / SEC_MS : ms);
        return NULL;
    case PMQ_KEY_BOOL:
        if (pmq_parse_bool(v, ip) < 0)
            return pmq_xstrdup("One of yes, no, true, false, on, off, 1 or 0 is expected.");
        return NULL;
    case PMQ_KEY_LOGFORMAT:
        if (strcasecmp(v, "text") && strcasecmp(v, "json"))
            return pmq_xstrdup("One of text or json is expected.");
        *ip = strcasecmp(v, "text") ? PMQ_LOG_JSON : PMQ_LOG_TEXT;
        return NULL;
    case PMQ_KEY_BYTES:
        if (pmq_parse_bytes(v, k->max, &n) == 0 && n >= k->min) {
            *ip = (int)n;
            return NULL;
        }
        if (k->max == MAX_PAYLOAD_CAP && pmq_parse_bytes(v, LONG_MAX, &n) == 0 && n > k->max)
            *hint = "A payload crosses Redis whole when a worker claims it, and a larger one "
                    "holds Redis past its timeout; store large data elsewhere and put a "
                    "reference to it in the payload.";
        return pmq_asprintf("A size from %ld to %ldM bytes is expected: a number of bytes, or "
                            "one with the suffix k (1024 bytes) or M (1048576 bytes).",
                            k->min, k->max >> 20);
    case PMQ_KEY_CRON:
    case PMQ_KEY_JSON: {
        char *problem = k->type == PMQ_KEY_CRON ? pmq_cron_problem(v) : json_object_problem(v);
        if (!problem)
            set_string(sp, v);
        return problem;
    }
    default:
        text = text_value(k->type, v, &why);
        if (!text)
            return pmq_xstrdup(why);
        set_string(sp, text);
        return NULL;
    }
}

void pmq_schema_set(pmq_ini *ini, const char *label, const pmq_key_spec *k, void *base,
                    const pmq_ini_entry *e)
{
    int empty_allowed = !*e->value && (k->flags & (PMQ_KEY_EMPTY_NULL | PMQ_KEY_EMPTY_OK));
    if (!empty_allowed && k->type == PMQ_KEY_QUEUES) {
        set_queues(ini, label, base, e);
    } else if (!empty_allowed && k->type == PMQ_KEY_CONNINFO) {
        set_conninfo(ini, label, (char **)(void *)((char *)base + k->offset), e);
    } else if (!empty_allowed && k->type == PMQ_KEY_SECRET) {
        refuse_secret(ini, label, e, "key \"password\"");
    } else {
        const char *hint;
        char *why = store(k, base, e->value, e->origin.file, &hint);
        if (why) {
            pmq_error *err = bad_value(ini, label, e, "%s", why);
            if (hint)
                pmq_error_hint(err, "%s", hint);
        }
        free(why);
    }
}

int pmq_schema_defaults(int kind, void *base, const char *file, const char **bad_key)
{
    const pmq_section_spec *sp = &pmq_sections[kind];
    for (size_t i = 0; i < sp->nkeys; i++) {
        const pmq_key_spec *k = &sp->keys[i];
        const char *hint;
        char *why = k->dflt ? store(k, base, k->dflt, file, &hint) : NULL;
        if (why) {
            free(why);
            *bad_key = k->name;
            return -1;
        }
    }
    return 0;
}

void pmq_schema_free(int kind, void *base)
{
    const pmq_section_spec *sp = &pmq_sections[kind];
    for (size_t i = 0; i < sp->nkeys; i++) {
        const pmq_key_spec *k = &sp->keys[i];
        char **field = (char **)(void *)((char *)base + k->offset);
        switch (k->type) {
        case PMQ_KEY_INT:
        case PMQ_KEY_DURATION:
        case PMQ_KEY_SECONDS:
        case PMQ_KEY_BOOL:
        case PMQ_KEY_LOGFORMAT:
        case PMQ_KEY_BYTES:
            break;
        case PMQ_KEY_QUEUES:
            free_names((char **)*field, ((pmq_pool_config *)base)->nqueues);
            break;
        case PMQ_KEY_SECRET:
            pmq_secret_free(*field);
            break;
        default:
            free(*field);
        }
    }
}
