/*
 * config.c -- loads pmqd.ini and conf.d/NAME.ini with inih into one pmq_config,
 * checks every value and reports every problem with its file and line.
 */

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <unistd.h>

#include <ini.h>
#include <json-c/json.h>
#include <libpq-fe.h>

#include "config.h"
#include "errors.h"
#include "queue_settings.h"
#include "util.h"

#ifndef PMQ_PLUGINS_DIR
#define PMQ_PLUGINS_DIR "/usr/local/lib/pmq/plugins"
#endif

/*--- the schema: which sections and keys exist ---*/

typedef enum {
    K_STRING,   /* text; empty is refused unless a flag says otherwise */
    K_PATH,     /* text; a relative path is taken from the INI file's directory */
    K_NAME,     /* a queue name */
    K_HOSTID,   /* [pmqd] host_id: a host name, without ":" */
    K_ENVNAME,  /* the name of an environment variable */
    K_INT,      /* integer in [min, max] */
    K_DURATION, /* "500ms", "30s", "5m", "2h"; bare numbers count unit_ms */
    K_SECONDS,  /* a duration in whole seconds, stored as seconds */
    K_BOOL,
    K_LOGLEVEL,
    K_LOGFORMAT,
    K_BYTES,    /* bytes, or with the suffix k or M */
    K_QUEUES,   /* [pool] queues: a list of queue names */
    K_CRON,
    K_JSON,     /* a JSON object */
    K_LISTEN,   /* host:port */
    K_PORTS,    /* libpq port: a number or a comma-separated list */
    K_CONNINFO, /* a libpq connection string or URI */
    K_SECRET,   /* refused: secrets do not belong in the file */
} key_kind;

enum {
    F_REQUIRED = 1,   /* a named section must set it */
    F_MAIN_ONLY = 2,  /* only the main file may set it */
    F_EMPTY_NULL = 4, /* an empty value means "not set" (NULL) */
    F_EMPTY_OK = 8,   /* an empty value is kept as "" */
};

typedef struct key_spec {
    const char *name;
    key_kind kind;
    int flags;
    size_t offset; /* of the field in the section's struct */
    long min, max; /* K_INT, K_BYTES; milliseconds for K_DURATION, K_SECONDS */
    int64_t unit_ms; /* K_DURATION, K_SECONDS: what a bare number counts */
} key_spec;

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

#define KEY(type, name, kind, flags, field, min, max, unit) \
    {name, kind, flags, offsetof(type, field), min, max, unit}

static const key_spec daemon_keys[] = {
    KEY(pmq_daemon_config, "conf_dir", K_PATH, F_MAIN_ONLY, conf_dir, 0, 0, 0),
    KEY(pmq_daemon_config, "log_level", K_LOGLEVEL, 0, log_level, 0, 0, 0),
    KEY(pmq_daemon_config, "log_format", K_LOGFORMAT, 0, log_format, 0, 0, 0),
    KEY(pmq_daemon_config, "plugin_dir", K_PATH, 0, plugin_dir, 0, 0, 0),
    KEY(pmq_daemon_config, "host_id", K_HOSTID, 0, host_id, 0, 0, 0),
    KEY(pmq_daemon_config, "grace_period", K_DURATION, 0, grace_period_ms, 0, DAY_MS, SEC_MS),
    KEY(pmq_daemon_config, "heartbeat_ttl", K_DURATION, 0, heartbeat_ttl_ms, SEC_MS, HOUR_MS,
        SEC_MS),
};

static const key_spec database_keys[] = {
    KEY(pmq_database_config, "conninfo", K_CONNINFO, F_EMPTY_NULL, conninfo, 0, 0, 0),
    KEY(pmq_database_config, "host", K_STRING, F_EMPTY_NULL, host, 0, 0, 0),
    KEY(pmq_database_config, "port", K_PORTS, F_EMPTY_NULL, port, 0, 0, 0),
    KEY(pmq_database_config, "dbname", K_STRING, F_EMPTY_NULL, dbname, 0, 0, 0),
    KEY(pmq_database_config, "user", K_STRING, F_EMPTY_NULL, user, 0, 0, 0),
    KEY(pmq_database_config, "password", K_SECRET, 0, password, 0, 0, 0),
    KEY(pmq_database_config, "password_file", K_PATH, F_EMPTY_NULL, password_file, 0, 0, 0),
    KEY(pmq_database_config, "password_env", K_ENVNAME, F_EMPTY_NULL, password_env, 0, 0, 0),
    KEY(pmq_database_config, "connect_timeout", K_SECONDS, 0, connect_timeout_s, 0, HOUR_MS,
        SEC_MS),
};

static const key_spec redis_keys[] = {
    KEY(pmq_redis_config, "host", K_STRING, 0, host, 0, 0, 0),
    KEY(pmq_redis_config, "port", K_INT, 0, port, 1, 65535, 0),
    KEY(pmq_redis_config, "socket", K_PATH, F_EMPTY_NULL, socket, 0, 0, 0),
    KEY(pmq_redis_config, "db", K_INT, 0, db, 0, 65535, 0),
    KEY(pmq_redis_config, "password", K_SECRET, 0, password, 0, 0, 0),
    KEY(pmq_redis_config, "password_file", K_PATH, F_EMPTY_NULL, password_file, 0, 0, 0),
    KEY(pmq_redis_config, "password_env", K_ENVNAME, F_EMPTY_NULL, password_env, 0, 0, 0),
    KEY(pmq_redis_config, "key_prefix", K_STRING, F_EMPTY_OK, key_prefix, 0, 0, 0),
    KEY(pmq_redis_config, "timeout", K_DURATION, 0, timeout_ms, 1, HOUR_MS, 1),
    KEY(pmq_redis_config, "finished_ttl", K_SECONDS, 0, finished_ttl_s, 0, DAY_MS, SEC_MS),
};

static const key_spec migrator_keys[] = {
    KEY(pmq_migrator_config, "enabled", K_BOOL, 0, enabled, 0, 0, 0),
    KEY(pmq_migrator_config, "batch_size", K_INT, 0, batch_size, 1, 100000, 0),
    KEY(pmq_migrator_config, "poll_interval", K_DURATION, 0, poll_interval_ms, 1, HOUR_MS, 1),
};

static const key_spec http_keys[] = {
    KEY(pmq_http_config, "listen", K_LISTEN, F_EMPTY_NULL, listen, 0, 0, 0),
};

static const key_spec pool_keys[] = {
    KEY(pmq_pool_config, "queues", K_QUEUES, F_REQUIRED, queues, 0, 0, 0),
    KEY(pmq_pool_config, "processes", K_INT, 0, processes, 1, 256, 0),
    KEY(pmq_pool_config, "threads", K_INT, 0, threads, 1, 1024, 0),
};

static const key_spec queue_keys[] = {
    KEY(pmq_queue_config, "max_attempts", K_INT, 0, max_attempts, PMQ_MAX_ATTEMPTS_MIN,
        PMQ_MAX_ATTEMPTS_MAX, 0),
    KEY(pmq_queue_config, "backoff_base", K_DURATION, 0, backoff_base_ms, 0, 7 * DAY_MS, SEC_MS),
    KEY(pmq_queue_config, "backoff_max", K_DURATION, 0, backoff_max_ms, 0, 7 * DAY_MS, SEC_MS),
    KEY(pmq_queue_config, "timeout", K_DURATION, 0, timeout_ms, 1, DAY_MS, SEC_MS),
    KEY(pmq_queue_config, "rate_limit", K_INT, 0, rate_limit, 0, 1000000, 0),
    KEY(pmq_queue_config, "priority", K_INT, 0, priority, PMQ_PRIORITY_MIN, PMQ_PRIORITY_MAX, 0),
    KEY(pmq_queue_config, "max_payload", K_BYTES, 0, max_payload_bytes, 1, MAX_PAYLOAD_CAP, 0),
};

static const key_spec plugin_keys[] = {
    KEY(pmq_plugin_config, "path", K_STRING, F_REQUIRED, path, 0, 0, 0),
    KEY(pmq_plugin_config, "enabled", K_BOOL, 0, enabled, 0, 0, 0),
};

static const key_spec schedule_keys[] = {
    KEY(pmq_schedule_config, "cron", K_CRON, F_REQUIRED, cron, 0, 0, 0),
    KEY(pmq_schedule_config, "queue", K_NAME, F_REQUIRED, queue, 0, 0, 0),
    KEY(pmq_schedule_config, "payload", K_JSON, 0, payload, 0, 0, 0),
};

enum {
    S_PMQD,
    S_DATABASE,
    S_REDIS,
    S_MIGRATOR,
    S_HTTP,
    S_POOL,
    S_QUEUE,
    S_PLUGIN,
    S_SCHEDULE,
    S_COUNT
};

typedef struct section_spec {
    const char *type;
    int named;
    int open_keys; /* [plugin]: any other key belongs to the plugin */
    const key_spec *keys;
    size_t nkeys;
} section_spec;

#define SECTION(type, named, open, keys) {type, named, open, keys, sizeof keys / sizeof keys[0]}

static const section_spec sections[S_COUNT] = {
    [S_PMQD] = SECTION("pmqd", 0, 0, daemon_keys),
    [S_DATABASE] = SECTION("database", 0, 0, database_keys),
    [S_REDIS] = SECTION("redis", 0, 0, redis_keys),
    [S_MIGRATOR] = SECTION("migrator", 0, 0, migrator_keys),
    [S_HTTP] = SECTION("http", 0, 0, http_keys),
    [S_POOL] = SECTION("pool", 1, 0, pool_keys),
    [S_QUEUE] = SECTION("queue", 1, 0, queue_keys),
    [S_PLUGIN] = SECTION("plugin", 1, 1, plugin_keys),
    [S_SCHEDULE] = SECTION("schedule", 1, 0, schedule_keys),
};

#define NAME_MAX_LEN 63
#define NAME_DETAIL "A name of 1 to 63 letters, digits, \"_\", \"-\" or \".\" is expected."
#define QUEUE_NAME_DETAIL PMQ_QUEUE_NAME_DETAIL

/*
 * What the reader accepts, named once: a configuration file is a few
 * kilobytes, and its longest line holds a schedule's payload.  A path that
 * is not a configuration file (-c /dev/zero, a log) is refused at these
 * limits instead of being read into memory.
 */
#define CONFIG_LINE_MAX (64 * 1024)
#define CONFIG_FILE_MAX (1024 * 1024)

/*--- the loader's state ---*/

/* One "key = value" as written (continuation lines already joined). */
typedef struct raw_entry {
    char *key;
    char *value;
    pmq_origin origin;
} raw_entry;

/* One section header and the entries under it, in one file. */
typedef struct raw_section {
    int type;
    char *name;  /* named sections; NULL for singletons */
    char *label; /* "pool email", "redis": what messages show in brackets */
    pmq_origin origin;
    int in_main; /* written in the main file */
    raw_entry *entries;
    size_t nentries, cap;
} raw_section;

/* Where an error points, to report them in file and line order. */
typedef struct err_pos {
    size_t file;
    int line;
    size_t seq;
} err_pos;

typedef struct loader {
    pmq_config *cfg;
    char *main_dir;
    raw_section *sections;
    size_t nsections, cap;
    pmq_errors errs; /* moved, sorted, into the caller's list at the end */
    err_pos *pos;
    size_t pos_cap;
    pmq_origin *seen[S_COUNT]; /* singletons: where each key was set */
} loader;

static size_t file_index(const loader *L, const char *file)
{
    for (size_t i = 0; file && i < L->cfg->nfiles; i++)
        if (L->cfg->files[i] == file)
            return i;
    return 0;
}

/* "FILE:LINE: [SECTION] message"; `at` and `label` may be NULL. */
static pmq_error *report(loader *L, const pmq_origin *at, const char *label, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static pmq_error *report(loader *L, const pmq_origin *at, const char *label, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char *msg = pmq_vasprintf(fmt, ap);
    va_end(ap);

    pmq_error *err;
    if (at && at->file && label)
        err = pmq_errors_add(&L->errs, "%s:%d: [%s] %s", at->file, at->line, label, msg);
    else if (at && at->file)
        err = pmq_errors_add(&L->errs, "%s:%d: %s", at->file, at->line, msg);
    else
        err = pmq_errors_add(&L->errs, "%s", msg);
    free(msg);

    if (L->errs.count > L->pos_cap) {
        L->pos_cap = L->errs.cap;
        L->pos = pmq_xrealloc(L->pos, L->pos_cap * sizeof *L->pos);
    }
    size_t seq = L->errs.count - 1;
    /* A file that could not be opened sorts where it would have been read. */
    size_t file = at && at->file ? file_index(L, at->file) : L->cfg->nfiles;
    L->pos[seq] = (err_pos){file, at && at->file ? at->line : 0, seq};
    return err;
}

static int pos_cmp(const void *a, const void *b)
{
    const err_pos *x = a, *y = b;
    if (x->file != y->file)
        return x->file < y->file ? -1 : 1;
    if (x->line != y->line)
        return x->line < y->line ? -1 : 1;
    return x->seq < y->seq ? -1 : x->seq > y->seq;
}

/*
 * Hand the problems to the caller, sorted by file and line.  Messages quote
 * what the files say: their control characters are escaped here, once for
 * every message, so that a value cannot break or forge a log line.
 */
static void flush_errors(loader *L, pmq_errors *out)
{
    if (L->errs.count)
        qsort(L->pos, L->errs.count, sizeof *L->pos, pos_cmp);
    for (size_t i = 0; i < L->errs.count; i++) {
        const pmq_error *src = &L->errs.items[L->pos[i].seq];
        char *text = pmq_escape_controls(src->message);
        pmq_error *dst = pmq_errors_add(out, "%s", text);
        free(text);
        if (src->detail) {
            text = pmq_escape_controls(src->detail);
            pmq_error_detail(dst, "%s", text);
            free(text);
        }
        if (src->hint) {
            text = pmq_escape_controls(src->hint);
            pmq_error_hint(dst, "%s", text);
            free(text);
        }
    }
    pmq_errors_clear(&L->errs);
    free(L->pos);
    L->pos = NULL;
}

/*--- small string helpers ---*/

static char *lskip(const char *s)
{
    while (*s && isspace((unsigned char)*s))
        s++;
    return (char *)s;
}

static char *rstrip(char *s)
{
    size_t n = strlen(s);
    while (n && isspace((unsigned char)s[n - 1]))
        s[--n] = '\0';
    return s;
}

/*
 * inih's rule: the first of `chars`, or an inline comment (";" after white
 * space), or the end of the string.
 */
static char *find_chars_or_comment(const char *s, const char *chars)
{
    int was_space = 0;
    while (*s && (!chars || !strchr(chars, *s)) && !(was_space && *s == ';')) {
        was_space = isspace((unsigned char)*s);
        s++;
    }
    return (char *)s;
}

/* The directory of `path` ("." when it has none). */
static char *dir_of(const char *path)
{
    const char *slash = strrchr(path, '/');
    if (!slash)
        return pmq_xstrdup(".");
    if (slash == path)
        return pmq_xstrdup("/");
    return pmq_asprintf("%.*s", (int)(slash - path), path);
}

/* `rel` taken from `dir`, kept short when `dir` is ".". */
static char *join_path(const char *dir, const char *rel)
{
    if (rel[0] == '/' || !strcmp(dir, "."))
        return pmq_xstrdup(rel);
    size_t n = strlen(dir);
    return pmq_asprintf("%s%s%s", dir, n && dir[n - 1] == '/' ? "" : "/", rel);
}

/*
 * A section's or queue's name.  Only queue names may hold ":"
 * ("email:processing"): a pool's name ends its worker ids
 * ("<host>:<pid>:<pool>"), which must split at their two colons.
 */
static int valid_name(const char *s, int is_queue)
{
    size_t n = 0;
    for (; s[n]; n++)
        if (!isalnum((unsigned char)s[n]) && !strchr(is_queue ? "_-.:" : "_-.", s[n]))
            return 0;
    return n >= 1 && n <= NAME_MAX_LEN;
}

int pmq_valid_queue_name(const char *name)
{
    return name && valid_name(name, 1);
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

/* "1h", "30s", "500ms": the largest unit that says it exactly. */
static char *format_ms(int64_t ms)
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

/*--- reading files: inih plus a reader that knows the line numbers ---*/

typedef enum { L_BLANK, L_SECTION, L_KEY, L_CONT, L_BAD } line_kind;

#define SEC_NONE (-1L)    /* before the first section header */
#define SEC_INVALID (-2L) /* under a bad header: its keys are skipped */

typedef struct file_state {
    loader *L;
    FILE *fp;
    const char *file; /* borrowed from cfg->files */
    int in_main;
    int lineno;
    char *line;
    size_t cap;
    size_t total;     /* bytes read so far, at most CONFIG_FILE_MAX + 1 */
    line_kind kind;
    char *key;        /* the key of the current line (inih truncates long ones) */
    char *long_value; /* the value, when the line was too long for inih */
    int prev_name;    /* mirrors inih: the next indented line continues a value */
    long section;     /* index into L->sections, or SEC_NONE / SEC_INVALID */
    long last_entry;  /* what a continuation line extends, or -1 */
} file_state;

static const section_spec *find_section_type(const char *type, int *index)
{
    for (int i = 0; i < S_COUNT; i++)
        if (!strcmp(sections[i].type, type)) {
            *index = i;
            return &sections[i];
        }
    return NULL;
}

/* A header "[type name]" (brackets removed): start a raw section or say why not. */
static void open_section(file_state *fs, char *inner)
{
    loader *L = fs->L;
    pmq_origin at = {fs->file, fs->lineno};
    char *text = rstrip(lskip(inner));
    size_t tlen = strcspn(text, " \t\r\n\v\f");
    char *name = lskip(text + tlen);
    char *type = pmq_asprintf("%.*s", (int)tlen, text);
    int index = -1;
    const section_spec *spec = find_section_type(type, &index);

    fs->section = SEC_INVALID;
    fs->last_entry = -1;
    if (!spec) {
        pmq_error *e = report(L, &at, NULL, "unknown section \"[%s]\"", text);
        const char *types[S_COUNT + 1];
        for (int i = 0; i < S_COUNT; i++)
            types[i] = sections[i].type;
        types[S_COUNT] = NULL;
        const char *near = *type ? pmq_nearest_word(type, types) : NULL;
        int ni;
        if (near && find_section_type(near, &ni)->named)
            pmq_error_hint(e, "Did you mean \"[%s ...]\"?", near);
        else if (near)
            pmq_error_hint(e, "Did you mean \"[%s]\"?", near);
    } else if (spec->named && !*name) {
        pmq_error *e = report(L, &at, NULL, "section \"[%s]\" needs a name", text);
        pmq_error_hint(e, "Write it as \"[%s NAME]\".", type);
    } else if (!spec->named && *name) {
        pmq_error *e = report(L, &at, NULL, "section \"[%s]\" takes no name", text);
        pmq_error_hint(e, "Write it as \"[%s]\".", type);
    } else if (spec->named && !valid_name(name, index == S_QUEUE)) {
        pmq_error *e = report(L, &at, NULL, "invalid name \"%s\" in section \"[%s]\"", name, text);
        if (index != S_QUEUE && valid_name(name, 1)) {
            /* A name that only a queue could have. */
            if (index == S_POOL)
                pmq_error_detail(e, "Only queue names may contain \":\": a pool name ends the"
                                    " pool's worker ids (\"<host>:<pid>:<pool>\"), which a"
                                    " \":\" would make ambiguous.");
            else
                pmq_error_detail(e, "Only queue names may contain \":\".");
            char *dashed = pmq_xstrdup(name);
            for (char *p = strchr(dashed, ':'); p; p = strchr(p, ':'))
                *p = '-';
            pmq_error_hint(e, "Did you mean \"[%s %s]\"?", type, dashed);
            free(dashed);
        } else {
            pmq_error_detail(e, index == S_QUEUE ? QUEUE_NAME_DETAIL : NAME_DETAIL);
        }
    } else {
        if (L->nsections == L->cap) {
            L->cap = L->cap ? 2 * L->cap : 16;
            L->sections = pmq_xrealloc(L->sections, L->cap * sizeof *L->sections);
        }
        raw_section *rs = &L->sections[L->nsections];
        *rs = (raw_section){.type = index, .origin = at, .in_main = fs->in_main};
        rs->name = spec->named ? pmq_xstrdup(name) : NULL;
        rs->label = spec->named ? pmq_asprintf("%s %s", type, name) : pmq_xstrdup(type);
        fs->section = (long)L->nsections++;
    }
    free(type);
}

/*
 * The next physical line into fs->line, keeping at most CONFIG_LINE_MAX
 * bytes of it (*too_long then says so); stops once the file is over
 * CONFIG_FILE_MAX.  Returns its length (NUL bytes included), or -1 at the end.
 */
static ssize_t next_line(file_state *fs, int *too_long)
{
    size_t n = 0;
    int c = EOF;
    *too_long = 0;
    while (fs->total <= CONFIG_FILE_MAX && (c = getc(fs->fp)) != EOF) {
        fs->total++;
        if (n == CONFIG_LINE_MAX) {
            *too_long = 1;
        } else {
            if (n + 2 > fs->cap) {
                fs->cap = fs->cap ? 2 * fs->cap : 256;
                fs->line = pmq_xrealloc(fs->line, fs->cap);
            }
            fs->line[n++] = (char)c;
        }
        if (c == '\n')
            break;
    }
    if (n == 0 && !*too_long)
        return -1;
    fs->line[n] = '\0';
    return (ssize_t)n;
}

/*
 * inih's reader: one physical line per call, counted, so that the handler
 * knows where it is.  The line is classified here the way inih will see it
 * (section headers and malformed lines never reach the handler), and a line
 * too long for inih's buffer is replaced by a short stand-in whose real value
 * the handler takes from `long_value`.
 */
static char *read_line(char *buf, int size, void *stream)
{
    file_state *fs = stream;
    int too_long;
    ssize_t got = next_line(fs, &too_long);
    if (got < 0)
        return NULL;
    fs->lineno++;
    free(fs->key);
    free(fs->long_value);
    fs->key = fs->long_value = NULL;

    size_t len = (size_t)got;
    pmq_origin at = {fs->file, fs->lineno};
    if (fs->total > CONFIG_FILE_MAX) {
        report(fs->L, &at, NULL, "configuration file \"%s\" is larger than %d bytes", fs->file,
               CONFIG_FILE_MAX);
        return NULL; /* the rest is not read */
    }
    int fits = len < (size_t)size;
    if (fits)
        memcpy(buf, fs->line, len + 1);
    int has_nul = memchr(fs->line, '\0', len) != NULL;

    char *text = fs->line;
    if (fs->lineno == 1 && !strncmp(text, "\xEF\xBB\xBF", 3))
        text += 3;
    char *start = lskip(rstrip(text));
    const char *stand_in = "\n";

    if (too_long || has_nul) {
        /* inih would drop what follows a NUL; neither is a line of text. */
        fs->kind = L_BAD;
        fits = 0;
        if (too_long)
            report(fs->L, &at, NULL, "line is longer than %d bytes", CONFIG_LINE_MAX);
        else
            report(fs->L, &at, NULL, "line holds a NUL byte");
    } else if (!*start || *start == ';' || *start == '#') {
        fs->kind = L_BLANK;
    } else if (fs->prev_name && start > text) {
        /* inih does not strip inline comments from continuation lines. */
        fs->kind = L_CONT;
        fs->long_value = fits ? NULL : pmq_xstrdup(start);
        stand_in = " -\n";
    } else if (*start == '[') {
        char *end = find_chars_or_comment(start + 1, "]");
        if (*end == ']') {
            *end = '\0';
            fs->kind = L_SECTION;
            fs->prev_name = 0;
            open_section(fs, start + 1);
            stand_in = "[-]\n";
        } else {
            fs->kind = L_BAD;
            pmq_error *e = report(fs->L, &at, NULL, "invalid section header \"%s\"", start);
            pmq_error_detail(e, "The closing \"]\" is missing.");
            fs->section = SEC_INVALID;
            fs->last_entry = -1;
        }
    } else {
        char *end = find_chars_or_comment(start, "=:");
        if (*end == '=' || *end == ':') {
            fs->kind = L_KEY;
            char *value = end + 1;
            *end = '\0';
            fs->key = pmq_xstrdup(rstrip(start));
            fs->prev_name = *fs->key != '\0';
            char *vend = find_chars_or_comment(value, NULL);
            *vend = '\0';
            if (!fits)
                fs->long_value = pmq_xstrdup(rstrip(lskip(value)));
            stand_in = *fs->key ? "-=\n" : "=\n";
        } else {
            fs->kind = L_BAD;
            pmq_error *e = report(fs->L, &at,
                                  fs->section >= 0 ? fs->L->sections[fs->section].label : NULL,
                                  "could not parse line \"%s\"", start);
            pmq_error_detail(e, "A line holds \"key = value\", a \"[section]\" header, or a "
                                "comment starting with \";\" or \"#\".");
        }
    }
    if (!fits) {
        /* inih would cut the line; what it sees instead has the same meaning. */
        snprintf(buf, (size_t)size, "%s", fs->kind == L_BAD ? "\n" : stand_in);
    }
    return buf;
}

static void add_entry(raw_section *rs, const char *key, const char *value, pmq_origin at)
{
    if (rs->nentries == rs->cap) {
        rs->cap = rs->cap ? 2 * rs->cap : 8;
        rs->entries = pmq_xrealloc(rs->entries, rs->cap * sizeof *rs->entries);
    }
    rs->entries[rs->nentries++] = (raw_entry){pmq_xstrdup(key), pmq_xstrdup(value), at};
}

#if INI_HANDLER_LINENO
static int on_value(void *user, const char *section, const char *name, const char *value,
                    int lineno)
#else
static int on_value(void *user, const char *section, const char *name, const char *value)
#endif
{
    file_state *fs = user;
    loader *L = fs->L;
    (void)section;
    (void)name;
#if INI_HANDLER_LINENO
    (void)lineno;
#endif
    if (fs->long_value)
        value = fs->long_value;

    if (fs->kind == L_CONT) {
        /* A continuation line: Python's configparser joins with a newline. */
        if (fs->section >= 0 && fs->last_entry >= 0) {
            raw_entry *e = &L->sections[fs->section].entries[fs->last_entry];
            char *joined = pmq_asprintf("%s\n%s", e->value, value);
            free(e->value);
            e->value = joined;
        }
        return 1;
    }
    if (fs->kind != L_KEY)
        return 1;

    pmq_origin at = {fs->file, fs->lineno};
    fs->last_entry = -1;
    if (fs->section == SEC_NONE) {
        pmq_error *e = report(L, &at, NULL, "key \"%s\" is outside of any section", fs->key);
        pmq_error_hint(e, "Put it under a section header such as \"[pmqd]\".");
        return 1;
    }
    if (fs->section == SEC_INVALID)
        return 1;
    raw_section *rs = &L->sections[fs->section];
    if (!*fs->key) {
        report(L, &at, rs->label, "missing key name before \"=\"");
        return 1;
    }
    add_entry(rs, fs->key, value, at);
    fs->last_entry = (long)rs->nentries - 1;
    return 1;
}

/* One pair of double quotes around a value is not part of it. */
static void unquote(char *v)
{
    size_t n = strlen(v);
    if (n >= 2 && v[0] == '"' && v[n - 1] == '"') {
        memmove(v, v + 1, n - 2);
        v[n - 2] = '\0';
    }
}

/*
 * Parse one file into raw sections.  Returns -1 when it cannot be opened.
 * `st` receives its identity (to skip the main file if conf.d holds it).
 */
static int parse_file(loader *L, const char *path, int in_main, struct stat *st)
{
    /* Not blocking: a FIFO must be refused, not waited on. */
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
    struct stat own;
    if (!st)
        st = &own;
    if (fd < 0 || fstat(fd, st) < 0) {
        report(L, NULL, NULL, "could not open configuration file \"%s\": %s", path,
               strerror(errno));
        if (fd >= 0)
            close(fd);
        return -1;
    }
    if (!S_ISREG(st->st_mode)) {
        report(L, NULL, NULL, "configuration file \"%s\" is not a regular file", path);
        close(fd);
        return -1;
    }
    FILE *fp = fdopen(fd, "r");
    if (!fp) {
        report(L, NULL, NULL, "could not open configuration file \"%s\": %s", path,
               strerror(errno));
        close(fd);
        return -1;
    }

    pmq_config *cfg = L->cfg;
    cfg->files = pmq_xrealloc(cfg->files, (cfg->nfiles + 1) * sizeof *cfg->files);
    char *file = cfg->files[cfg->nfiles++] = pmq_xstrdup(path);

    file_state fs = {.L = L, .fp = fp, .file = file, .in_main = in_main, .section = SEC_NONE,
                     .last_entry = -1};
    size_t first = L->nsections;
    /*
     * The return value only repeats what read_line() already reported (the
     * first malformed line), so it is not looked at.
     */
    errno = 0;
    (void)ini_parse_stream(read_line, &fs, on_value, &fs);
    if (ferror(fp)) {
        pmq_origin at = {file, fs.lineno + 1};
        report(L, &at, NULL, "could not read configuration file \"%s\": %s", path,
               strerror(errno ? errno : EIO));
    }
    fclose(fp);
    free(fs.line);
    free(fs.key);
    free(fs.long_value);

    for (size_t i = first; i < L->nsections; i++)
        for (size_t j = 0; j < L->sections[i].nentries; j++)
            unquote(L->sections[i].entries[j].value);
    return 0;
}

static int ini_file_filter(const struct dirent *d)
{
    size_t n = strlen(d->d_name);
    return d->d_name[0] != '.' && n > 4 && !strcmp(d->d_name + n - 4, ".ini");
}

/* Every *.ini in `dir`, in lexical order; `set_at` is where conf_dir was set. */
static void read_conf_dir(loader *L, const char *dir, const pmq_origin *set_at,
                          const struct stat *main_st)
{
    struct dirent **names;
    int n = scandir(dir, &names, ini_file_filter, alphasort);
    if (n < 0) {
        /* The default conf.d is optional; one named in the file is not. */
        if (errno == ENOENT && !set_at)
            return;
        report(L, set_at, set_at ? "pmqd" : NULL,
               "could not open configuration directory \"%s\": %s", dir, strerror(errno));
        return;
    }
    for (int i = 0; i < n; i++) {
        char *path = join_path(dir, names[i]->d_name);
        struct stat st;
        /*
         * Skip directories; a dangling link is reported when it is opened,
         * anything else that is not a regular file is refused there.
         */
        int skip = stat(path, &st) == 0 &&
                   (S_ISDIR(st.st_mode) ||
                    (st.st_dev == main_st->st_dev && st.st_ino == main_st->st_ino));
        if (!skip)
            parse_file(L, path, 0, NULL);
        free(path);
        free(names[i]);
    }
    free(names);
}

/*--- checking values ---*/

/* Why one cron field is wrong (caller frees), or NULL. */
static char *cron_field_problem(char *field, int index, const char *what, long min, long max)
{
    char *items = field, *item;
    while ((item = strsep(&items, ",")) != NULL) {
        long lo = min, hi = max, step;
        char *p = item, *end;
        errno = 0;
        if (*p == '*') {
            p++;
        } else if (isdigit((unsigned char)*p)) {
            lo = hi = strtol(p, &end, 10);
            p = end;
            if (*p == '-' && isdigit((unsigned char)p[1])) {
                hi = strtol(p + 1, &end, 10);
                p = end;
            } else if (*p == '/') {
                return pmq_asprintf("Field %d (%s): a step needs a range or \"*\" before it, as "
                                    "in \"%ld-%ld%s\".",
                                    index, what, lo, max, p);
            }
            if (errno || lo < min || lo > max || hi < min || hi > max)
                return pmq_asprintf("Field %d (%s): \"%s\" is out of range %ld-%ld.", index, what,
                                    item, min, max);
            if (lo > hi)
                return pmq_asprintf("Field %d (%s): range \"%s\" goes backwards.", index, what,
                                    item);
        } else {
            p = NULL;
        }
        if (p && *p == '/') {
            if (isdigit((unsigned char)p[1])) {
                step = strtol(p + 1, &end, 10);
                p = end;
                if (!*p && (errno || step < 1 || step > max - min + 1))
                    return pmq_asprintf("Field %d (%s): step \"%s\" is not from 1 to %ld.", index,
                                        what, item, max - min + 1);
            } else {
                p = NULL;
            }
        }
        if (!p || *p)
            return pmq_asprintf("Field %d (%s): \"%s\" is not \"*\", a number, a range \"a-b\", "
                                "or one of them with \"/step\".",
                                index, what, item);
    }
    return NULL;
}

/* Why a cron expression is wrong (caller frees), or NULL when it is right. */
static char *cron_problem(const char *expr)
{
    static const struct {
        const char *what;
        long min, max;
    } fields[5] = {{"minute", 0, 59},
                   {"hour", 0, 23},
                   {"day of month", 1, 31},
                   {"month", 1, 12},
                   {"day of week", 0, 7}};
    char *copy = pmq_xstrdup(expr);
    char *field[6];
    int n = 0;
    char *save = NULL;
    for (char *f = strtok_r(copy, " \t\r\n", &save); f && n < 6;
         f = strtok_r(NULL, " \t\r\n", &save))
        field[n++] = f;
    char *problem = NULL;
    if (n != 5)
        problem = pmq_asprintf("Five fields are expected (minute, hour, day of month, month, "
                               "day of week); found %s%d.",
                               n > 5 ? "more than " : "", n > 5 ? 5 : n);
    for (int i = 0; i < n && i < 5 && !problem; i++)
        problem = cron_field_problem(field[i], i + 1, fields[i].what, fields[i].min,
                                     fields[i].max);
    free(copy);
    return problem;
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
        const char *rest = lskip(s + json_tokener_get_parse_end(tok));
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

static pmq_error *bad_value(loader *L, const raw_section *rs, const raw_entry *e,
                            const char *fmt, ...) __attribute__((format(printf, 4, 5)));
static pmq_error *bad_value(loader *L, const raw_section *rs, const raw_entry *e,
                            const char *fmt, ...)
{
    /* flush_errors() puts a value of several lines on one. */
    pmq_error *err =
        report(L, &e->origin, rs->label, "invalid value \"%s\" for \"%s\"", e->value, e->key);
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

static void refuse_secret(loader *L, const raw_section *rs, const raw_entry *e, const char *what)
{
    pmq_error *err = report(L, &e->origin, rs->label,
                            "%s is not accepted: secrets do not belong in the configuration file",
                            what);
    pmq_error_hint(err, "Put the password in a file that only pmq can read and set "
                        "\"password_file\", or name an environment variable in \"password_env\".");
}

static void set_string(char **field, const char *value)
{
    free(*field);
    *field = value ? pmq_xstrdup(value) : NULL;
}

/* [pool] queues: names separated by commas and/or white space. */
static void set_queues(loader *L, const raw_section *rs, pmq_pool_config *pool, const raw_entry *e)
{
    char *copy = pmq_xstrdup(e->value), *save = NULL;
    char **names = NULL;
    size_t n = 0;
    int ok = 1;
    for (char *q = strtok_r(copy, ", \t\r\n", &save); q; q = strtok_r(NULL, ", \t\r\n", &save)) {
        if (!valid_name(q, 1)) {
            bad_value(L, rs, e,
                      "A list of queue names separated by commas or spaces is expected; \"%s\" is "
                      "not a name of 1 to 63 letters, digits, \"_\", \"-\", \".\" or \":\".",
                      q);
            ok = 0;
            break;
        }
        int twice = 0;
        for (size_t i = 0; i < n; i++)
            twice |= !strcmp(names[i], q);
        if (twice) {
            report(L, &e->origin, rs->label, "queue \"%s\" is listed twice in \"%s\"", q, e->key);
            ok = 0;
            break;
        }
        names = pmq_xrealloc(names, (n + 2) * sizeof *names);
        names[n++] = pmq_xstrdup(q);
        names[n] = NULL;
    }
    if (ok && n == 0) {
        bad_value(L, rs, e, "A list of queue names separated by commas or spaces is expected.");
        ok = 0;
    }
    if (!ok) {
        for (size_t i = 0; i < n; i++)
            free(names[i]);
        free(names);
        names = NULL;
        n = 0;
    }
    if (ok) {
        for (size_t i = 0; i < pool->nqueues; i++)
            free(pool->queues[i]);
        free(pool->queues);
        pool->queues = names;
        pool->nqueues = n;
    }
    free(copy);
}

/* libpq keywords whose values are secrets: refused in the file, never shown. */
static int secret_keyword(const char *keyword)
{
    return !strcmp(keyword, "password") || !strcmp(keyword, "sslpassword");
}

/*
 * Whether a conninfo libpq cannot parse may still hold a secret: a
 * "password" anywhere in it (percent-decoded, as libpq reads a URI), or a
 * URI's "user:password@".
 */
static int may_hold_secret(const char *s)
{
    char *low = pmq_xstrdup(s), *o = low;
    for (const char *p = s; *p; p++) {
        if (p[0] == '%' && isxdigit((unsigned char)p[1]) && isxdigit((unsigned char)p[2])) {
            char hex[3] = {p[1], p[2], '\0'};
            *o++ = (char)tolower((int)strtol(hex, NULL, 16));
            p += 2;
        } else {
            *o++ = (char)tolower((unsigned char)*p);
        }
    }
    *o = '\0';
    int found = strstr(low, "password") != NULL;
    free(low);
    const char *scheme = strstr(s, "://");
    const char *at = scheme ? strrchr(scheme, '@') : NULL;
    return found || (at && memchr(scheme + 3, ':', (size_t)(at - scheme - 3)));
}

/*
 * libpq's reason as messages may show it: it quotes pieces of the string
 * (a keyword, a token, the whole URI); a quoted piece that is not shaped
 * like a keyword is replaced by "...", as it may be part of a value.
 */
static char *libpq_reason(const char *why)
{
    /* "" becomes "...": the text may grow to 5/2 of its length (found by tests/fuzz). */
    char *out = pmq_xmalloc(strlen(why) * 3 + 1), *o = out;
    for (const char *p = why; *p;) {
        const char *close = *p == '"' ? strchr(p + 1, '"') : NULL;
        if (!close) {
            *o++ = *p++;
            continue;
        }
        size_t n = (size_t)(close - p - 1);
        /* libpq's own punctuation ("=", ":") is kept too. */
        int keyword = n == 1 && strchr("=:/]", p[1]);
        if (!keyword && n > 0 && n <= NAME_MAX_LEN) {
            keyword = 1;
            for (size_t i = 0; i < n; i++)
                keyword &= islower((unsigned char)p[1 + i]) || p[1 + i] == '_';
        }
        *o++ = '"';
        if (keyword) {
            memcpy(o, p + 1, n);
            o += n;
        } else {
            memcpy(o, "...", 3);
            o += 3;
        }
        *o++ = '"';
        p = close + 1;
    }
    *o = '\0';
    return rstrip(out);
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
static void check_conninfo_enum(loader *L, const raw_section *rs, const raw_entry *e,
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
        pmq_error *err = report(L, &e->origin, rs->label,
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
static void set_conninfo(loader *L, const raw_section *rs, char **field, const raw_entry *e)
{
    char *why = NULL;
    PQconninfoOption *opts = PQconninfoParse(e->value, &why);
    if (!opts) {
        if (may_hold_secret(e->value)) {
            refuse_secret(L, rs, e, "a password in \"conninfo\"");
        } else {
            char *reason = why ? libpq_reason(why) : pmq_xstrdup("out of memory");
            pmq_error *err = report(L, &e->origin, rs->label, "invalid value for \"conninfo\"");
            pmq_error_detail(err, "A libpq connection string or URI is expected (libpq says: %s).",
                             reason);
            free(reason);
        }
        PQfreemem(why);
        return;
    }
    int has_secret = 0, errors = (int)L->errs.count;
    for (const PQconninfoOption *o = opts; o->keyword; o++) {
        if (!o->val || !*o->val)
            continue;
        has_secret |= secret_keyword(o->keyword);
        if (!secret_keyword(o->keyword))
            check_conninfo_enum(L, rs, e, o);
    }
    PQconninfoFree(opts);
    if (has_secret)
        refuse_secret(L, rs, e, "a password in \"conninfo\"");
    else if ((int)L->errs.count == errors)
        set_string(field, e->value);
}

static const char *unit_words(int64_t unit_ms)
{
    return unit_ms == 1 ? "milliseconds" : unit_ms == SEC_MS ? "seconds" : "minutes";
}

static void set_value(loader *L, const raw_section *rs, const key_spec *k, void *base,
                      const raw_entry *e)
{
    char *field = (char *)base + k->offset;
    char **sp = (char **)(void *)field;
    int *ip = (int *)(void *)field;
    const char *v = e->value;
    long n;
    int64_t ms;

    if (!*v && (k->flags & F_EMPTY_NULL)) {
        set_string(sp, NULL);
        return;
    }
    if (!*v && (k->flags & F_EMPTY_OK)) {
        set_string(sp, "");
        return;
    }
    switch (k->kind) {
    case K_STRING:
        if (!*v)
            bad_value(L, rs, e, "A non-empty value is expected.");
        else
            set_string(sp, v);
        break;
    case K_PATH:
        if (!*v) {
            bad_value(L, rs, e, "A path is expected.");
        } else {
            /* Relative to the file that says it, not to pmqd's working directory. */
            char *dir = dir_of(e->origin.file);
            free(*sp);
            *sp = join_path(dir, v);
            free(dir);
        }
        break;
    case K_NAME:
        if (!valid_name(v, 1))
            bad_value(L, rs, e, QUEUE_NAME_DETAIL);
        else
            set_string(sp, v);
        break;
    case K_HOSTID:
        if (!valid_host_id(v))
            bad_value(L, rs, e,
                      "A host name (letters, digits, \"_\", \"-\" and \".\") is expected: worker "
                      "ids are \"<host_id>:<pid>:<pool>\".");
        else
            set_string(sp, v);
        break;
    case K_ENVNAME:
        if (!valid_envname(v)) {
            bad_value(L, rs, e,
                      "The name of an environment variable (letters, digits and \"_\", not "
                      "starting with a digit) is expected.");
            set_string(sp, NULL); /* not the default's variable instead */
        } else
            set_string(sp, v);
        break;
    case K_INT:
        if (pmq_parse_int(v, k->min, k->max, &n) < 0)
            bad_value(L, rs, e, "An integer from %ld to %ld is expected.", k->min, k->max);
        else
            *ip = (int)n;
        break;
    case K_DURATION:
    case K_SECONDS:
        if (pmq_parse_duration_ms(v, k->unit_ms, &ms) < 0 || ms < k->min || ms > k->max ||
            (k->kind == K_SECONDS && ms % SEC_MS)) {
            char *lo = format_ms(k->min), *hi = format_ms(k->max);
            bad_value(L, rs, e,
                      "A duration%s from %s to %s is expected, such as \"500ms\", \"30s\", "
                      "\"5m\" or \"2h\"; a bare number counts %s.",
                      k->kind == K_SECONDS ? " in whole seconds" : "", lo, hi,
                      unit_words(k->unit_ms));
            free(lo);
            free(hi);
        } else {
            *ip = (int)(k->kind == K_SECONDS ? ms / SEC_MS : ms);
        }
        break;
    case K_BOOL:
        if (pmq_parse_bool(v, ip) < 0)
            bad_value(L, rs, e, "One of yes, no, true, false, on, off, 1 or 0 is expected.");
        break;
    case K_LOGLEVEL: {
        static const char *const levels[] = {"debug", "info", "warning", "error"};
        size_t i = 0;
        while (i < 4 && strcasecmp(v, levels[i]))
            i++;
        if (i == 4)
            bad_value(L, rs, e, "One of debug, info, warning or error is expected.");
        else
            set_string(sp, levels[i]);
        break;
    }
    case K_LOGFORMAT:
        if (!strcasecmp(v, "text"))
            *ip = PMQ_LOG_TEXT;
        else if (!strcasecmp(v, "json"))
            *ip = PMQ_LOG_JSON;
        else
            bad_value(L, rs, e, "One of text or json is expected.");
        break;
    case K_BYTES:
        if (pmq_parse_bytes(v, k->max, &n) < 0 || n < k->min) {
            pmq_error *err = bad_value(L, rs, e,
                                       "A size from %ld to %ldM bytes is expected: a number of "
                                       "bytes, or one with the suffix k (1024 bytes) or M (1048576 "
                                       "bytes).",
                                       k->min, k->max >> 20);
            if (k->max == MAX_PAYLOAD_CAP && pmq_parse_bytes(v, LONG_MAX, &n) == 0 && n > k->max)
                pmq_error_hint(err, "A payload crosses Redis whole when a worker claims it, and "
                                    "a larger one holds Redis past its timeout; store large data "
                                    "elsewhere and put a reference to it in the payload.");
        } else {
            *ip = (int)n;
        }
        break;
    case K_QUEUES:
        set_queues(L, rs, base, e);
        break;
    case K_CRON: {
        char *why = cron_problem(v);
        if (why)
            bad_value(L, rs, e, "%s", why);
        else
            set_string(sp, v);
        free(why);
        break;
    }
    case K_JSON: {
        char *why = json_object_problem(v);
        if (why)
            bad_value(L, rs, e, "%s", why);
        else
            set_string(sp, v);
        free(why);
        break;
    }
    case K_LISTEN:
        if (!valid_listen(v))
            bad_value(L, rs, e,
                      "An address and a port from 1 to 65535 are expected, such as "
                      "\"127.0.0.1:9187\" or \"[::1]:9187\".");
        else
            set_string(sp, v);
        break;
    case K_PORTS: {
        /* libpq takes one port per host, comma-separated. */
        char *copy = pmq_xstrdup(v), *rest = copy, *item;
        int ok = 1;
        while (ok && (item = strsep(&rest, ",")) != NULL)
            ok = pmq_parse_int(item, 1, 65535, &n) == 0;
        free(copy);
        if (!ok)
            bad_value(L, rs, e,
                      "A port number from 1 to 65535 is expected (or a comma-separated list "
                      "of them, one per host).");
        else
            set_string(sp, v);
        break;
    }
    case K_CONNINFO:
        set_conninfo(L, rs, sp, e);
        break;
    case K_SECRET:
        refuse_secret(L, rs, e, "key \"password\"");
        break;
    }
}

/*--- building the configuration from the raw sections ---*/

static long key_index(int type, const char *key)
{
    const section_spec *sp = &sections[type];
    for (size_t i = 0; i < sp->nkeys; i++)
        if (!strcmp(sp->keys[i].name, key))
            return (long)i;
    return -1;
}

static void duplicate_key(loader *L, const raw_section *rs, const raw_entry *e,
                          const pmq_origin *first)
{
    pmq_error *err = report(L, &e->origin, rs->label, "key \"%s\" is set twice", e->key);
    pmq_error_detail(err, "It is set at %s:%d and at %s:%d.", first->file, first->line,
                     e->origin.file, e->origin.line);
}

static void unknown_key(loader *L, const raw_section *rs, const raw_entry *e)
{
    const section_spec *sp = &sections[rs->type];
    const char *names[16];
    size_t n = 0;
    for (size_t i = 0; i < sp->nkeys && n < 15; i++)
        if (sp->keys[i].kind != K_SECRET)
            names[n++] = sp->keys[i].name;
    names[n] = NULL;
    pmq_error *err = report(L, &e->origin, rs->label, "unknown key \"%s\"", e->key);
    const char *near = pmq_nearest_word(e->key, names);
    if (near)
        pmq_error_hint(err, "Did you mean \"%s\"?", near);
}

static void apply_entries(loader *L, const raw_section *rs, void *base, pmq_origin *seen)
{
    const section_spec *sp = &sections[rs->type];
    pmq_plugin_config *plugin = rs->type == S_PLUGIN ? base : NULL;
    for (size_t i = 0; i < rs->nentries; i++) {
        const raw_entry *e = &rs->entries[i];
        if (plugin) {
            /* Every key is the plugin's to read, its own and ours. */
            const pmq_kv *dup = NULL;
            for (size_t j = 0; j < plugin->nkeys && !dup; j++)
                if (!strcmp(plugin->keys[j].key, e->key))
                    dup = &plugin->keys[j];
            if (dup) {
                duplicate_key(L, rs, e, &dup->origin);
                continue;
            }
            plugin->keys = pmq_xrealloc(plugin->keys, (plugin->nkeys + 1) * sizeof *plugin->keys);
            plugin->keys[plugin->nkeys++] =
                (pmq_kv){pmq_xstrdup(e->key), pmq_xstrdup(e->value), e->origin};
        }
        long k = key_index(rs->type, e->key);
        if (k < 0) {
            if (!sp->open_keys)
                unknown_key(L, rs, e);
            continue;
        }
        if ((sp->keys[k].flags & F_MAIN_ONLY) && !rs->in_main) {
            pmq_error *err = report(L, &e->origin, rs->label,
                                    "\"%s\" can only be set in the main configuration file",
                                    e->key);
            pmq_error_detail(err, "The main file is read first; it says where the others are.");
            continue;
        }
        if (seen[k].file) {
            duplicate_key(L, rs, e, &seen[k]);
            continue;
        }
        seen[k] = e->origin;
        set_value(L, rs, &sp->keys[k], base, e);
    }
}

static const raw_section *first_definition(const loader *L, const raw_section *rs)
{
    for (const raw_section *o = L->sections; o < rs; o++)
        if (o->type == rs->type && !strcmp(o->name, rs->name))
            return o;
    return NULL;
}

#define GROW(array, count) ((array) = pmq_xrealloc((array), ((count) + 1) * sizeof *(array)))

/* A named section's struct with its defaults, appended to the configuration. */
static void *new_named(pmq_config *cfg, const raw_section *rs)
{
    char *name = pmq_xstrdup(rs->name);
    switch (rs->type) {
    case S_POOL:
        GROW(cfg->pools, cfg->npools);
        cfg->pools[cfg->npools] = (pmq_pool_config){
            .name = name, .processes = 1, .threads = 1, .origin = rs->origin};
        return &cfg->pools[cfg->npools++];
    case S_QUEUE:
        GROW(cfg->queues, cfg->nqueues);
        cfg->queues[cfg->nqueues] = (pmq_queue_config){.name = name,
                                                       .max_attempts = 3,
                                                       .backoff_base_ms = 1000,
                                                       .backoff_max_ms = 3600000,
                                                       .timeout_ms = 30000,
                                                       .rate_limit = 0,
                                                       .priority = 100,
                                                       .max_payload_bytes = 1048576,
                                                       .origin = rs->origin};
        return &cfg->queues[cfg->nqueues++];
    case S_PLUGIN:
        GROW(cfg->plugins, cfg->nplugins);
        cfg->plugins[cfg->nplugins] =
            (pmq_plugin_config){.name = name, .enabled = 1, .origin = rs->origin};
        return &cfg->plugins[cfg->nplugins++];
    default:
        GROW(cfg->schedules, cfg->nschedules);
        cfg->schedules[cfg->nschedules] = (pmq_schedule_config){
            .name = name, .payload = pmq_xstrdup("{}"), .origin = rs->origin};
        return &cfg->schedules[cfg->nschedules++];
    }
}

static void *singleton(pmq_config *cfg, int type, pmq_origin **origin)
{
    *origin = NULL;
    switch (type) {
    case S_PMQD:
        return &cfg->daemon;
    case S_DATABASE:
        *origin = &cfg->database.origin;
        return &cfg->database;
    case S_REDIS:
        *origin = &cfg->redis.origin;
        return &cfg->redis;
    case S_MIGRATOR:
        return &cfg->migrator;
    default:
        *origin = &cfg->http.origin;
        return &cfg->http;
    }
}

static void check_queue(loader *L, const raw_section *rs, const pmq_queue_config *q,
                        const pmq_origin *seen)
{
    if (q->backoff_base_ms <= q->backoff_max_ms)
        return;
    const pmq_origin *at = &seen[key_index(S_QUEUE, "backoff_max")];
    if (!at->file)
        at = &seen[key_index(S_QUEUE, "backoff_base")];
    char *base = format_ms(q->backoff_base_ms), *max = format_ms(q->backoff_max_ms);
    report(L, at, rs->label, "\"backoff_base\" (%s) is greater than \"backoff_max\" (%s)", base,
           max);
    free(base);
    free(max);
}

/* The first line of a password file, which only its owner may read. */
static char *read_password_file(loader *L, const pmq_origin *at, const char *label,
                                const char *path)
{
    /* Not blocking: a FIFO must be refused, not waited on. */
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
    if (fd < 0) {
        report(L, at, label, "could not open password file \"%s\": %s", path, strerror(errno));
        return NULL;
    }
    struct stat st;
    if (fstat(fd, &st) < 0) {
        report(L, at, label, "could not stat password file \"%s\": %s", path, strerror(errno));
        close(fd);
        return NULL;
    }
    if (!S_ISREG(st.st_mode)) {
        report(L, at, label, "password file \"%s\" is not a regular file", path);
        close(fd);
        return NULL;
    }
    if (st.st_mode & 077) {
        pmq_error *err = report(L, at, label,
                                "password file \"%s\" is accessible by other users (mode %04o)",
                                path, (unsigned)(st.st_mode & 07777));
        pmq_error_hint(err, "Run chmod 600 \"%s\".", path);
        close(fd);
        return NULL;
    }
    FILE *fp = fdopen(fd, "r");
    if (!fp) {
        report(L, at, label, "could not read password file \"%s\": %s", path, strerror(errno));
        close(fd);
        return NULL;
    }
    /* Its first line, as long as a configuration line may be. */
    size_t cap = CONFIG_LINE_MAX + 2;
    char *line = pmq_xmalloc(cap);
    errno = 0;
    char *password = NULL;
    if (!fgets(line, (int)cap, fp)) {
        if (ferror(fp))
            report(L, at, label, "could not read password file \"%s\": %s", path,
                   strerror(errno ? errno : EIO));
        else
            report(L, at, label, "password file \"%s\" is empty", path);
    } else if (!strchr(line, '\n') && strlen(line) > CONFIG_LINE_MAX) {
        report(L, at, label, "the first line of password file \"%s\" is longer than %d bytes",
               path, CONFIG_LINE_MAX);
    } else if (line[0] == '\n' || (line[0] == '\r' && line[1] == '\n')) {
        report(L, at, label, "password file \"%s\" is empty", path);
    } else {
        line[strcspn(line, "\r\n")] = '\0';
        password = pmq_xstrdup(line);
    }
    explicit_bzero(line, cap);
    free(line);
    fclose(fp);
    return password;
}

/* password_file, or else password_env (explicit, or a default read only if set). */
static char *find_password(loader *L, int type, const char *label, const char *file,
                           const char *env)
{
    const pmq_origin *file_at = &L->seen[type][key_index(type, "password_file")];
    const pmq_origin *env_at = &L->seen[type][key_index(type, "password_env")];
    if (file && env && env_at->file) {
        pmq_error *err = report(L, env_at, label,
                                "\"password_file\" and \"password_env\" cannot both be set");
        pmq_error_detail(err, "They are set at %s:%d and at %s:%d.", file_at->file,
                         file_at->line, env_at->file, env_at->line);
        return NULL;
    }
    if (file)
        return read_password_file(L, file_at, label, file);
    if (!env)
        return NULL;
    const char *value = getenv(env);
    if (value && *value)
        return pmq_xstrdup(value);
    if (env_at->file)
        report(L, env_at, label, "environment variable \"%s\" named by \"password_env\" is %s",
               env, value ? "empty" : "not set");
    return NULL;
}

static void finish_database(loader *L)
{
    pmq_database_config *d = &L->cfg->database;
    /* The default PGPASSWORD is libpq's own business. */
    d->password = find_password(L, S_DATABASE, "database", d->password_file,
                                L->seen[S_DATABASE][key_index(S_DATABASE, "password_env")].file
                                    ? d->password_env
                                    : NULL);

    /* connect_timeout in conninfo counts unless the key says otherwise. */
    if (d->conninfo && !L->seen[S_DATABASE][key_index(S_DATABASE, "connect_timeout")].file) {
        PQconninfoOption *opts = PQconninfoParse(d->conninfo, NULL);
        for (const PQconninfoOption *o = opts; o && o->keyword; o++) {
            long n;
            if (!strcmp(o->keyword, "connect_timeout") && o->val &&
                pmq_parse_int(o->val, 0, 3600, &n) == 0)
                d->connect_timeout_s = (int)n;
        }
        PQconninfoFree(opts);
    }
}

/* A JSON string's length as PostgreSQL's escape_json() writes it. */
static size_t json_string_length(const char *s, size_t len)
{
    size_t n = 2;
    for (const unsigned char *p = (const unsigned char *)s; p < (const unsigned char *)s + len;
         p++)
        n += *p == '"' || *p == '\\' || (*p && strchr("\b\f\n\r\t", *p)) ? 2 : *p < 0x20 ? 6 : 1;
    return n;
}

/* What octet_length(payload::text) says of it once PostgreSQL stores it as jsonb. */
static size_t jsonb_text_length(json_object *v)
{
    size_t n = 0;
    switch (json_object_get_type(v)) {
    case json_type_object:
        n = 2;
        json_object_object_foreach(v, key, val)
            n += (n > 2 ? 2 : 0) + json_string_length(key, strlen(key)) + 2 +
                 jsonb_text_length(val);
        return n;
    case json_type_array:
        n = 2;
        for (size_t i = 0; i < json_object_array_length(v); i++)
            n += (i ? 2 : 0) + jsonb_text_length(json_object_array_get_idx(v, i));
        return n;
    case json_type_string:
        return json_string_length(json_object_get_string(v),
                                  (size_t)json_object_get_string_len(v));
    default:
        return strlen(json_object_to_json_string_ext(v, JSON_C_TO_STRING_PLAIN));
    }
}

/* A schedule's payload that its queue's max_payload refuses, worded as pmq_enqueue() does. */
static void check_schedule_payloads(loader *L)
{
    for (size_t i = 0; i < L->nsections; i++) {
        const raw_section *rs = &L->sections[i];
        if (rs->type != S_SCHEDULE || first_definition(L, rs))
            continue;
        const raw_entry *e = NULL;
        for (size_t j = 0; j < rs->nentries; j++)
            if (!strcmp(rs->entries[j].key, "payload"))
                e = &rs->entries[j];
        const pmq_schedule_config *s = NULL;
        for (size_t j = 0; j < L->cfg->nschedules && !s; j++)
            if (!strcmp(L->cfg->schedules[j].name, rs->name))
                s = &L->cfg->schedules[j];
        if (!e || !s || !s->queue || !s->payload)
            continue;
        const pmq_queue_config *q = pmq_queue_settings(L->cfg, s->queue);
        json_object *obj = json_tokener_parse(s->payload);
        size_t len = obj ? jsonb_text_length(obj) : 0;
        json_object_put(obj);
        if (len > (size_t)q->max_payload_bytes) {
            pmq_error *err = report(L, &e->origin, rs->label,
                                    "payload of %zu bytes exceeds the limit of %d bytes of queue "
                                    "\"%s\"",
                                    len, q->max_payload_bytes, s->queue);
            pmq_error_hint(err, "Store large data elsewhere and put a reference to it in the "
                                "payload, or raise max_payload in the queue's [queue] section.");
        }
    }
}

static void build(loader *L)
{
    pmq_config *cfg = L->cfg;
    for (size_t i = 0; i < L->nsections; i++) {
        const raw_section *rs = &L->sections[i];
        const section_spec *sp = &sections[rs->type];
        if (!sp->named) {
            pmq_origin *origin;
            void *base = singleton(cfg, rs->type, &origin);
            if (origin && !origin->file)
                *origin = rs->origin;
            apply_entries(L, rs, base, L->seen[rs->type]);
            continue;
        }
        const raw_section *first = first_definition(L, rs);
        if (first) {
            pmq_error *err = report(L, &rs->origin, rs->label, "section is defined twice");
            pmq_error_detail(err, "It is defined at %s:%d and at %s:%d.", first->origin.file,
                             first->origin.line, rs->origin.file, rs->origin.line);
            continue;
        }
        void *base = new_named(cfg, rs);
        pmq_origin *seen = pmq_xcalloc(sp->nkeys, sizeof *seen);
        apply_entries(L, rs, base, seen);
        for (size_t k = 0; k < sp->nkeys; k++)
            if ((sp->keys[k].flags & F_REQUIRED) && !seen[k].file)
                report(L, &rs->origin, rs->label, "missing required key \"%s\"",
                       sp->keys[k].name);
        if (rs->type == S_QUEUE)
            check_queue(L, rs, base, seen);
        free(seen);
    }
    check_schedule_payloads(L);
    finish_database(L);
    pmq_redis_config *r = &cfg->redis;
    r->password = find_password(L, S_REDIS, "redis", r->password_file, r->password_env);
}

static void set_defaults(loader *L)
{
    pmq_config *cfg = L->cfg;
    char host[256];
    if (gethostname(host, sizeof host) != 0 || !host[0])
        snprintf(host, sizeof host, "localhost");
    host[sizeof host - 1] = '\0';

    cfg->daemon = (pmq_daemon_config){
        .conf_dir = join_path(L->main_dir, "conf.d"),
        .log_level = pmq_xstrdup("info"),
        .log_format = PMQ_LOG_TEXT,
        .plugin_dir = pmq_xstrdup(PMQ_PLUGINS_DIR),
        .host_id = pmq_xstrdup(host),
        .grace_period_ms = 30000,
        .heartbeat_ttl_ms = 15000,
    };
    cfg->database = (pmq_database_config){
        .password_env = pmq_xstrdup("PGPASSWORD"),
        .connect_timeout_s = 5,
    };
    cfg->redis = (pmq_redis_config){
        .host = pmq_xstrdup("127.0.0.1"),
        .port = 6379,
        .password_env = pmq_xstrdup("PMQ_REDIS_PASSWORD"),
        .key_prefix = pmq_xstrdup(""),
        .timeout_ms = 2000,
    };
    cfg->migrator =
        (pmq_migrator_config){.enabled = 1, .batch_size = 1000, .poll_interval_ms = 1000};
}

/* [pmqd] conf_dir as the main file says, before conf.d is read. */
static const raw_entry *main_conf_dir(const loader *L)
{
    for (size_t i = 0; i < L->nsections; i++) {
        const raw_section *rs = &L->sections[i];
        for (size_t j = 0; rs->type == S_PMQD && rs->in_main && j < rs->nentries; j++)
            if (!strcmp(rs->entries[j].key, "conf_dir"))
                return &rs->entries[j];
    }
    return NULL;
}

static void free_raw(loader *L)
{
    for (size_t i = 0; i < L->nsections; i++) {
        raw_section *rs = &L->sections[i];
        for (size_t j = 0; j < rs->nentries; j++) {
            free(rs->entries[j].key);
            free(rs->entries[j].value);
        }
        free(rs->entries);
        free(rs->name);
        free(rs->label);
    }
    free(L->sections);
    for (int t = 0; t < S_COUNT; t++)
        free(L->seen[t]);
}

/*--- the interface ---*/

pmq_config *pmq_config_load(const char *path, pmq_errors *errs)
{
    loader L = {0};
    pmq_config *cfg = L.cfg = pmq_xcalloc(1, sizeof *cfg);
    L.main_dir = dir_of(path);
    set_defaults(&L);
    for (int t = 0; t < S_COUNT; t++)
        if (!sections[t].named)
            L.seen[t] = pmq_xcalloc(sections[t].nkeys, sizeof *L.seen[t]);

    struct stat main_st;
    if (parse_file(&L, path, 1, &main_st) == 0) {
        const raw_entry *cd = main_conf_dir(&L);
        if (!cd) {
            read_conf_dir(&L, cfg->daemon.conf_dir, NULL, &main_st);
        } else if (*cd->value) {
            char *dir = join_path(L.main_dir, cd->value);
            read_conf_dir(&L, dir, &cd->origin, &main_st);
            free(dir);
        }
        build(&L);
    }

    size_t nerrors = L.errs.count;
    flush_errors(&L, errs);
    free_raw(&L);
    free(L.main_dir);
    if (nerrors) {
        pmq_config_free(cfg);
        return NULL;
    }
    return cfg;
}

static void free_secret(char *s)
{
    if (s) {
        explicit_bzero(s, strlen(s));
        free(s);
    }
}

void pmq_config_free(pmq_config *cfg)
{
    if (!cfg)
        return;
    for (size_t i = 0; i < cfg->nfiles; i++)
        free(cfg->files[i]);
    free(cfg->files);

    pmq_daemon_config *dm = &cfg->daemon;
    free(dm->conf_dir);
    free(dm->log_level);
    free(dm->plugin_dir);
    free(dm->host_id);

    pmq_database_config *db = &cfg->database;
    free(db->conninfo);
    free(db->host);
    free(db->port);
    free(db->dbname);
    free(db->user);
    free_secret(db->password);
    free(db->password_file);
    free(db->password_env);

    pmq_redis_config *r = &cfg->redis;
    free(r->host);
    free(r->socket);
    free_secret(r->password);
    free(r->password_file);
    free(r->password_env);
    free(r->key_prefix);

    free(cfg->http.listen);

    for (size_t i = 0; i < cfg->npools; i++) {
        for (size_t j = 0; j < cfg->pools[i].nqueues; j++)
            free(cfg->pools[i].queues[j]);
        free(cfg->pools[i].queues);
        free(cfg->pools[i].name);
    }
    free(cfg->pools);
    for (size_t i = 0; i < cfg->nqueues; i++)
        free(cfg->queues[i].name);
    free(cfg->queues);
    for (size_t i = 0; i < cfg->nplugins; i++) {
        pmq_plugin_config *p = &cfg->plugins[i];
        for (size_t j = 0; j < p->nkeys; j++) {
            free(p->keys[j].key);
            free(p->keys[j].value);
        }
        free(p->keys);
        free(p->name);
        free(p->path);
    }
    free(cfg->plugins);
    for (size_t i = 0; i < cfg->nschedules; i++) {
        pmq_schedule_config *s = &cfg->schedules[i];
        free(s->name);
        free(s->cron);
        free(s->queue);
        free(s->payload);
    }
    free(cfg->schedules);
    free(cfg);
}

const pmq_queue_config *pmq_config_queue(const pmq_config *cfg, const char *name)
{
    for (size_t i = 0; cfg && name && i < cfg->nqueues; i++)
        if (!strcmp(cfg->queues[i].name, name))
            return &cfg->queues[i];
    return NULL;
}

const pmq_plugin_config *pmq_config_plugin(const pmq_config *cfg, const char *name)
{
    for (size_t i = 0; cfg && name && i < cfg->nplugins; i++)
        if (!strcmp(cfg->plugins[i].name, name))
            return &cfg->plugins[i];
    return NULL;
}

const char *pmq_plugin_config_get(const pmq_plugin_config *p, const char *key)
{
    for (size_t i = 0; p && key && i < p->nkeys; i++)
        if (!strcmp(p->keys[i].key, key))
            return p->keys[i].value;
    return NULL;
}

/* keyword='value', with \ and ' escaped as libpq wants. */
static void put_param(FILE *out, int *first, const char *keyword, const char *value)
{
    if (!value)
        return;
    fprintf(out, "%s%s='", *first ? "" : " ", keyword);
    for (const char *p = value; *p; p++) {
        if (*p == '\\' || *p == '\'')
            fputc('\\', out);
        fputc(*p, out);
    }
    fputc('\'', out);
    *first = 0;
}

char *pmq_config_conninfo(const pmq_config *cfg)
{
    if (!cfg)
        return pmq_xstrdup("");
    const pmq_database_config *d = &cfg->database;
    char *buf = NULL;
    size_t size = 0;
    FILE *out = open_memstream(&buf, &size);
    if (!out) {
        fputs("pmq: out of memory\n", stderr);
        abort();
    }
    int first = 1;
    if (d->conninfo) {
        /* Re-spelt as keyword='value' pairs, so that a URI can be added to. */
        PQconninfoOption *opts = PQconninfoParse(d->conninfo, NULL);
        for (const PQconninfoOption *o = opts; o && o->keyword; o++) {
            const char *k = o->keyword;
            int overridden = (!strcmp(k, "host") && d->host) || (!strcmp(k, "port") && d->port) ||
                             (!strcmp(k, "dbname") && d->dbname) ||
                             (!strcmp(k, "user") && d->user) ||
                             (!strcmp(k, "password") && d->password) ||
                             !strcmp(k, "connect_timeout");
            if (o->val && !overridden)
                put_param(out, &first, k, o->val);
        }
        PQconninfoFree(opts);
    }
    put_param(out, &first, "host", d->host);
    put_param(out, &first, "port", d->port);
    put_param(out, &first, "dbname", d->dbname);
    put_param(out, &first, "user", d->user);
    put_param(out, &first, "password", d->password);
    char timeout[16];
    snprintf(timeout, sizeof timeout, "%d", d->connect_timeout_s);
    put_param(out, &first, "connect_timeout", timeout);
    if (fclose(out) != 0 || !buf) {
        fputs("pmq: out of memory\n", stderr);
        abort();
    }
    return buf;
}
