/*
 * config.h -- pmq's configuration: pmqd.ini plus conf.d/NAME.ini, built into
 * one immutable pmq_config, every problem reported with its file, line,
 * section and key.  config_reader.h reads the files, config_schema.h says
 * which keys exist and checks their values, cron.h and secrets.h check cron
 * expressions and passwords; config.c puts them together.  Knows nothing of
 * servers or plugins.
 */
#ifndef PMQ_CONFIG_H
#define PMQ_CONFIG_H

#include <stddef.h>
#include <stdint.h>

#include "errors.h"

/* Where a value came from, for messages that point at it. */
typedef struct pmq_origin {
    const char *file; /* borrowed from pmq_config.files */
    int line;
} pmq_origin;

typedef struct pmq_kv {
    char *key;
    char *value;
    pmq_origin origin;
} pmq_kv;

typedef enum { PMQ_LOG_TEXT = 0, PMQ_LOG_JSON = 1 } pmq_log_format;

/* [pmqd] */
typedef struct pmq_daemon_config {
    char *conf_dir;         /* default: "conf.d" beside the main file */
    char *log_level;        /* debug, info, warning, error; default info */
    pmq_log_format log_format;
    char *plugin_dir;       /* relative plugin paths resolve here */
    char *host_id;          /* default: the host name */
    int grace_period_ms;    /* SIGTERM drain; default 30000 */
    int heartbeat_ttl_ms;   /* default 15000 */
} pmq_daemon_config;

/* [database]: libpq keywords; password from the environment or a file. */
typedef struct pmq_database_config {
    char *conninfo;        /* a full libpq conninfo string, or NULL */
    char *host;
    char *port;
    char *dbname;
    char *user;
    char *password;        /* from password_env or password_file, never the INI */
    char *password_file;
    char *password_env;    /* default: PGPASSWORD (read by libpq itself) */
    int connect_timeout_s; /* default 5 */
    pmq_origin origin;
} pmq_database_config;

/* [redis] */
typedef struct pmq_redis_config {
    char *host;           /* default 127.0.0.1 */
    int port;             /* default 6379 */
    char *socket;         /* Unix socket path; wins over host/port */
    int db;               /* default 0 */
    char *password;       /* from password_env or password_file */
    char *password_file;
    char *password_env;   /* default: PMQ_REDIS_PASSWORD */
    char *key_prefix;     /* default "" */
    int timeout_ms;       /* connect and command timeout; default 2000 */
    int finished_ttl_s;   /* how long job:<id> outlives its outcome; 0 (default): not at all */
    pmq_origin origin;
} pmq_redis_config;

/* [migrator] */
typedef struct pmq_migrator_config {
    int enabled;          /* default 1 */
    int batch_size;       /* default 1000 */
    int poll_interval_ms; /* safety net only; default 1000 */
} pmq_migrator_config;

/* [pool NAME] */
typedef struct pmq_pool_config {
    char *name;
    char **queues;        /* NULL-terminated */
    size_t nqueues;
    int processes;        /* default 1 */
    int threads;          /* per process; default 1 */
    pmq_origin origin;
} pmq_pool_config;

/* [queue NAME] */
typedef struct pmq_queue_config {
    char *name;
    int max_attempts;       /* default 3 */
    int backoff_base_ms;    /* default 1000 */
    int backoff_max_ms;     /* default 3600000 */
    int timeout_ms;         /* default 30000 */
    int rate_limit;         /* jobs per second, 0 = none */
    int priority;           /* default priority, default 100 */
    int max_payload_bytes;  /* default 1048576 */
    pmq_origin origin;
} pmq_queue_config;

/* [plugin NAME]: `path` plus the plugin's own keys. */
typedef struct pmq_plugin_config {
    char *name;
    char *path;
    int enabled;          /* default 1 */
    pmq_kv *keys;         /* every key of the section, `path` included */
    size_t nkeys;
    pmq_origin origin;
} pmq_plugin_config;

/* [schedule NAME]: enqueue `payload` on `queue` as `cron` says. */
typedef struct pmq_schedule_config {
    char *name;
    char *cron;           /* five fields, minute hour day month weekday */
    char *queue;
    char *payload;        /* JSON object; default {} */
    pmq_origin origin;
} pmq_schedule_config;

/* [http] */
typedef struct pmq_http_config {
    char *listen;         /* "127.0.0.1:9187"; NULL = off */
    pmq_origin origin;
} pmq_http_config;

typedef struct pmq_config {
    char **files;         /* every file read, in order; origins point here */
    size_t nfiles;
    pmq_daemon_config daemon;
    pmq_database_config database;
    pmq_redis_config redis;
    pmq_migrator_config migrator;
    pmq_http_config http;
    pmq_pool_config *pools;
    size_t npools;
    pmq_queue_config *queues;
    size_t nqueues;
    pmq_plugin_config *plugins;
    size_t nplugins;
    pmq_schedule_config *schedules;
    size_t nschedules;
} pmq_config;

/*
 * Read `path` and then every conf.d/NAME.ini (lexical order).  Every problem
 * found is appended to `errs` (all of them, not just the first); returns the
 * configuration, or NULL when any error was found.
 */
pmq_config *pmq_config_load(const char *path, pmq_errors *errs);
void pmq_config_free(pmq_config *cfg);

/* Lookups; NULL when absent. */
const pmq_queue_config *pmq_config_queue(const pmq_config *cfg, const char *name);
const pmq_plugin_config *pmq_config_plugin(const pmq_config *cfg, const char *name);
const char *pmq_plugin_config_get(const pmq_plugin_config *p, const char *key);

/* A libpq conninfo string for [database] (caller frees). */
char *pmq_config_conninfo(const pmq_config *cfg);

/*
 * One rule per value, wherever it is given: [queue] sections, plugins'
 * register_queue, pmqctl and pmq_enqueue() (sql/005_input_rules.sql says
 * the same in SQL: change both together).  A queue name is 1 to 63 ASCII
 * letters, digits, "_", "-", "." or ":": it is part of Redis keys and of
 * pmqctl's tables.
 */
#define PMQ_QUEUE_NAME_MAX_LEN 63
#define PMQ_QUEUE_NAME_DETAIL                                                                  \
    "A name of 1 to 63 letters, digits, \"_\", \"-\", \".\" or \":\" is expected."
#define PMQ_PRIORITY_MIN 0
#define PMQ_PRIORITY_MAX 1000
#define PMQ_MAX_ATTEMPTS_MIN 1
#define PMQ_MAX_ATTEMPTS_MAX 1000
/*
 * A job's delay (pmqctl --delay, a plugin's pmq_enqueue) and pmqctl's
 * --older-than: ten years.  More is a mistake, and far more overflows
 * PostgreSQL's timestamps ("interval out of range").
 */
#define PMQ_DELAY_MAX_DAYS 3650
#define PMQ_DELAY_MAX_MS ((int64_t)PMQ_DELAY_MAX_DAYS * 86400000)
/* A unique_key and the queue's name fit one btree entry (2704 bytes at most). */
#define PMQ_UNIQUE_KEY_MAX_BYTES 2048

/* Non-zero when `name` follows the queue-name rule above. */
int pmq_valid_queue_name(const char *name);

#endif /* PMQ_CONFIG_H */
