/*
 * <pmq/plugin.h> -- the whole ABI between pmqd and a handler plugin.
 *
 * A plugin is a shared object that pmqd loads with dlopen(RTLD_NOW |
 * RTLD_LOCAL) as a [plugin NAME] section of its INI files says.  It exports
 * exactly two functions:
 *
 *   pmq_plugin_magic()  returns the plugin's descriptor; define it with
 *                       PMQ_PLUGIN_MAGIC(name, version, flags), or
 *                       PMQ_PLUGIN_MAGIC_KEYS(name, version, flags, keys).
 *   pmq_plugin_init()   called once per process after the descriptor was
 *                       accepted; registers the queues the plugin serves.
 *
 * Everything else the plugin reaches goes through the host's function table
 * (pmq_api), which is append-only: a function, once published, keeps its
 * place and meaning for every 1.x host.  Plugin code does not use the table
 * directly but the pmq_*() macros at the end of this file, after calling
 * PMQ_API_INIT(api) first thing in pmq_plugin_init().
 *
 * Handles (pmq_host, pmq_job, pmq_ctx, pmq_section) are opaque: no host
 * struct layout is part of the ABI.
 *
 * A minimal plugin:
 *
 *   #include <pmq/plugin.h>
 *
 *   PMQ_PLUGIN_MAGIC("hello", "1.0.0", PMQ_PLUGIN_THREAD_SAFE);
 *
 *   static pmq_status hello(pmq_ctx *ctx, const pmq_job *job, void *state)
 *   {
 *       pmq_log(ctx, "hello from attempt %d", pmq_job_attempt(job));
 *       return PMQ_DONE;
 *   }
 *
 *   int pmq_plugin_init(pmq_host *host, const pmq_api *api,
 *                       const pmq_section *section)
 *   {
 *       PMQ_API_INIT(api);
 *       return pmq_register_queue(host, "hello", hello, NULL);
 *   }
 *
 * Build it out of tree with
 *   cc -shared -fPIC $(pkg-config --cflags pmq-plugin) -o hello.so hello.c
 * and install it into $(pkg-config --variable=pluginsdir pmq-plugin).
 *
 * A plugin may declare the keys of its [plugin NAME] section (ABI 1.1):
 * name, type, bounds, default and a line of documentation, in a table given
 * to PMQ_PLUGIN_MAGIC_KEYS() instead of PMQ_PLUGIN_MAGIC().  The host then
 * checks the section before pmq_plugin_init() runs, at load time and under
 * `pmqd --check`, with the file and line of each bad key, and the plugin
 * reads the checked values with pmq_config_number() and pmq_config_get().
 * A plugin that declares nothing gets every key of its section unchecked,
 * as in 1.0.  For the plugin above:
 *
 *   static const pmq_plugin_key keys[] = {
 *       {"greeting", PMQ_KEY_STRING, 0, 0, 0, "hello", "the word each job logs"},
 *       {"pause", PMQ_KEY_DURATION, 0, 60000, 1000, "0", "wait this long per job"},
 *       {NULL}};
 *   PMQ_PLUGIN_MAGIC_KEYS("hello", "1.0.0", PMQ_PLUGIN_THREAD_SAFE, keys);
 *
 *   ... int64_t pause_ms; pmq_config_number(section, "pause", &pause_ms);
 *
 * ABI history (a plugin built for 1.N loads in every host 1.M with M >= N):
 *   1.0  first release.
 *   1.1  declared section keys: pmq_plugin_key, the descriptor's `keys` and
 *        `key_size`, PMQ_PLUGIN_MAGIC_KEYS(); pmq_config_get() returns a
 *        declared key's default; the table gains config_number and the
 *        host's parsers (parse_int, parse_duration_ms, parse_bytes,
 *        parse_bool), so that plugins and pmqd read one syntax.
 */
#ifndef PMQ_PLUGIN_H
#define PMQ_PLUGIN_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

#ifdef __cplusplus
extern "C" {
#endif

#define PMQ_ABI_MAJOR 1 /* bumped only when a 1.x plugin could misbehave */
#define PMQ_ABI_MINOR 1 /* bumped when the table or a descriptor grows */

/*--- opaque handles ---*/

typedef struct pmq_host pmq_host;       /* the host, as seen by one plugin */
typedef struct pmq_section pmq_section; /* the plugin's [plugin NAME] keys */
typedef struct pmq_job pmq_job;         /* the job a handler runs */
typedef struct pmq_ctx pmq_ctx;         /* one attempt of one job */
struct json_object;                     /* json-c's parsed value */
struct pg_conn;                         /* libpq's PGconn */

/* What a handler returns. */
typedef enum pmq_status {
    PMQ_DONE = 0,  /* the job is completed */
    PMQ_RETRY = 1, /* try again after a back-off, while attempts remain */
    PMQ_FAIL = 2   /* permanent failure: dead-letter now, no retry */
} pmq_status;

/* Levels for pmq_host_log(). */
enum { PMQ_LOG_DEBUG = 0, PMQ_LOG_INFO = 1, PMQ_LOG_WARNING = 2, PMQ_LOG_ERROR = 3 };

/*
 * A handler runs one attempt of one job.  It may block (network, SQL); the
 * host kills the worker process when the queue's timeout passes, so a
 * handler must not rely on running to its end.  It runs at least once per
 * job (at-least-once delivery): use pmq_job_id() and pmq_job_attempt() to
 * make its effects idempotent.  `state` is the pointer given at
 * registration.
 */
typedef pmq_status (*pmq_handler_fn)(pmq_ctx *ctx, const pmq_job *job, void *state);

/* Called once when the worker process shuts down, with the registered state. */
typedef void (*pmq_fini_fn)(void *state);

/*--- the keys of the plugin's section (ABI 1.1) ---*/

/* pmq_plugin_key.type: how the host reads a value, the same way as pmqd's own keys. */
enum {
    PMQ_KEY_STRING = 1,   /* any text */
    PMQ_KEY_INT = 2,      /* a decimal integer from min to max */
    PMQ_KEY_DURATION = 3, /* "500ms", "30s", "5m", "2h", "1d": min to max milliseconds;
                           * a bare number counts unit_ms */
    PMQ_KEY_BYTES = 4,    /* "512", "64k", "8M" (k = 1024): min to max bytes */
    PMQ_KEY_BOOL = 5      /* yes/no, true/false, on/off, 1/0 (any case) */
};

/*
 * One key of the plugin's section.  A table of them ends with an entry whose
 * name is NULL.  `path` and `enabled` are the host's and are not declared.
 * The host refuses to load a plugin whose table is inconsistent (an unknown
 * type, min > max, a default its own rules refuse, a name given twice).
 * The descriptor gives sizeof(pmq_plugin_key) as built (`key_size`): the
 * host steps through the table by it, so a later minor may add fields at
 * the end of an entry.  A key's value is checked once, when the plugin is
 * loaded; an unknown key or a bad value refuses the plugin with one error
 * per key, naming its file and line.
 */
typedef struct pmq_plugin_key {
    const char *name;          /* as written in the INI file; NULL ends the table */
    int type;                  /* PMQ_KEY_* */
    int64_t min, max;          /* bounds of INT, DURATION (ms) and BYTES; unused otherwise */
    int64_t unit_ms;           /* DURATION: what a bare number counts (1, 1000, 60000) */
    const char *default_value; /* as an INI file would say it; NULL: no default */
    const char *doc;           /* what the key does: one line, no final period */
} pmq_plugin_key;

/*--- the descriptor (magic block) ---*/

/* pmq_plugin_magic_block.flags */
#define PMQ_PLUGIN_THREAD_SAFE 0x1u /* handlers may run on several threads at once */

/*
 * The first three fields are fixed for every ABI major: the host reads
 * `size` and the version before anything else, because a block from another
 * major may have no other field the host knows.
 */
typedef struct pmq_plugin_magic_block {
    uint32_t size;          /* sizeof(pmq_plugin_magic_block) as built */
    uint16_t abi_major;     /* PMQ_ABI_MAJOR the plugin was built with */
    uint16_t abi_minor;     /* PMQ_ABI_MINOR the plugin was built with */
    const char *name;       /* short name, shown in logs */
    const char *version;    /* the plugin's own version */
    uint32_t flags;         /* PMQ_PLUGIN_* */
    uint16_t pointer_size;  /* sizeof(void *) at build time */
    uint16_t time_t_size;   /* sizeof(time_t) at build time */
    /* -- 1.1 -- */
    const pmq_plugin_key *keys; /* the section's keys; NULL: not declared (as 1.0) */
    uint32_t key_size;          /* sizeof(pmq_plugin_key) at build time */
} pmq_plugin_magic_block;

#define PMQ_PLUGIN_MAGIC_FUNC "pmq_plugin_magic"
#define PMQ_PLUGIN_INIT_FUNC "pmq_plugin_init"

typedef const pmq_plugin_magic_block *(*pmq_plugin_magic_fn)(void);

/*--- options a plugin passes in (each starts with its own size) ---*/

/*
 * Options for pmq_enqueue().  Zero-initialise, set `size`, fill what you
 * need: PMQ_ENQUEUE_OPTS_INIT does the first two.  The host reads only the
 * fields that fit in `size`, so a plugin built against an older header keeps
 * working.
 */
typedef struct pmq_enqueue_opts {
    uint32_t size;           /* sizeof(pmq_enqueue_opts) */
    int priority;            /* 0 = the queue's default; lower runs first */
    int max_attempts;        /* 0 = the queue's default */
    int64_t delay_ms;        /* run no sooner than now + delay_ms; at most 3650 days */
    const char *unique_key;  /* NULL, or a key unique within the queue */
    const char *tenant_id;   /* NULL = the current job's tenant */
} pmq_enqueue_opts;

#define PMQ_ENQUEUE_OPTS_INIT {sizeof(pmq_enqueue_opts), 0, 0, 0, NULL, NULL}

/*--- the host's function table ---*/

/*
 * Append-only.  `size` is sizeof(pmq_api) of the host that filled it: test a
 * function added after 1.0 with PMQ_API_HAS(api, name) before calling it.
 * All strings returned are borrowed (owned by the host) and valid as stated.
 * Functions that return int return 0 on success and -1 on error.
 */
typedef struct pmq_api {
    uint32_t size;      /* sizeof(pmq_api) in the host */
    uint16_t abi_major; /* the host's PMQ_ABI_MAJOR */
    uint16_t abi_minor; /* the host's PMQ_ABI_MINOR */

    /* -- 1.0: during pmq_plugin_init() only -- */

    /*
     * Serve `queue` with `handler`, which receives `state`.  A queue has one
     * handler in the whole host: registering one that another plugin (or
     * this one) already serves fails, and the plugin is not loaded.
     */
    int (*register_queue)(pmq_host *host, const char *queue, pmq_handler_fn handler,
                          void *state);
    /* Call `fini(state)` once when the worker process exits normally. */
    int (*register_fini)(pmq_host *host, pmq_fini_fn fini, void *state);
    /*
     * Declare a schema migration the plugin owns (its own tables), applied
     * by `pmqctl migrate` in `version` order, once, recorded under the
     * plugin's name.  `sql` is borrowed for the life of the process.
     */
    int (*register_migration)(pmq_host *host, int version, const char *name,
                              const char *sql);
    /*
     * Say why pmq_plugin_init() is about to return -1; the host prints it
     * with the plugin's file name.  printf-style.
     */
    void (*init_error)(pmq_host *host, const char *fmt, ...)
        __attribute__((format(printf, 2, 3)));

    /* -- 1.0: any time -- */

    /*
     * The value of `key` in the plugin's INI section, or NULL.  Since 1.1,
     * for a declared key the section does not set: its default (or NULL).
     */
    const char *(*config_get)(const pmq_section *section, const char *key);
    /* Write a line to pmqd's log, tagged with the plugin's name. */
    void (*host_log)(pmq_host *host, int level, const char *fmt, ...)
        __attribute__((format(printf, 3, 4)));

    /* -- 1.0: job accessors, valid while the handler runs -- */

    const char *(*job_id)(const pmq_job *job);     /* UUID, 36 chars */
    const char *(*job_queue)(const pmq_job *job);  /* queue name */
    int (*job_attempt)(const pmq_job *job);        /* 1 for the first attempt */
    int (*job_max_attempts)(const pmq_job *job);
    int (*job_priority)(const pmq_job *job);
    const char *(*job_tenant)(const pmq_job *job); /* NULL when none */
    /* The payload as JSON text (a JSON object), NUL-terminated. */
    const char *(*job_payload)(const pmq_job *job, size_t *len);
    /*
     * The payload parsed by json-c; borrowed, do not put it.  Every payload
     * pmq_enqueue() stored parses, whatever its nesting depth: the host
     * raises json-c's limit (32 levels by default) to the payload's own
     * depth.  PostgreSQL sets the bound: with its default max_stack_depth
     * (2MB), PostgreSQL 15 accepts about 13,000 levels of nested objects and
     * 14,500 of arrays, and refuses deeper ones at enqueue ("stack depth
     * limit exceeded").  A handler that walks the tree recursively should
     * bound its own recursion.  NULL only when out of memory.
     */
    struct json_object *(*job_payload_json)(const pmq_job *job);
    /* When the job was created (seconds since the epoch). */
    time_t (*job_created_at)(const pmq_job *job);

    /* -- 1.0: attempt context, valid while the handler runs -- */

    /* Add a line to this attempt's audit trail (job_logs). printf-style. */
    void (*log)(pmq_ctx *ctx, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
    /* The error recorded for a RETRY or FAIL outcome. printf-style. */
    void (*set_error)(pmq_ctx *ctx, const char *fmt, ...)
        __attribute__((format(printf, 2, 3)));
    /* For a RETRY outcome: wait `delay_ms` instead of the queue's back-off. */
    void (*retry_after)(pmq_ctx *ctx, int64_t delay_ms);
    /* Report progress, 0.0 to 1.0, shown by `pmqctl job show`. */
    void (*progress)(pmq_ctx *ctx, double fraction);
    /*
     * Enqueue a follow-up job.  It is committed at once (not with the
     * current attempt).  `payload_json` must be a JSON object; `opts` may be
     * NULL.  On success, writes the new job's UUID (37 bytes with the NUL)
     * to `id_out` when it is not NULL.
     */
    int (*enqueue)(pmq_ctx *ctx, const char *queue, const char *payload_json,
                   const pmq_enqueue_opts *opts, char *id_out);
    /*
     * A PostgreSQL connection for the plugin's own rows, private to this
     * thread, opened on first use; NULL when the server is unreachable.
     * Leave it idle (no open transaction) when the handler returns.
     */
    struct pg_conn *(*pg)(pmq_ctx *ctx);
    /* Non-zero when an operator cancelled the job: finish early if you can. */
    int (*cancelled)(pmq_ctx *ctx);

    /* -- 1.1: any time -- */

    /*
     * The value of declared key `key` of type INT (the integer), DURATION
     * (milliseconds), BYTES (bytes) or BOOL (0 or 1), as the host checked it
     * at load time; its default when the section does not set it.  Returns
     * 0, or -1 (*out untouched) when the key is unset and has no default, or
     * is not a declared key of those types.
     */
    int (*config_number)(const pmq_section *section, const char *key, int64_t *out);
    /*
     * The host's parsers, for values a plugin reads elsewhere (a payload, a
     * file): the syntax of pmqd's INI files, as PMQ_KEY_* describe it.  Each
     * returns 0 with *out set, or -1 when `text` is not a whole valid value.
     */
    int (*parse_int)(const char *text, int64_t min, int64_t max, int64_t *out);
    int (*parse_duration_ms)(const char *text, int64_t unit_ms, int64_t *out);
    int (*parse_bytes)(const char *text, int64_t max, int64_t *out);
    int (*parse_bool)(const char *text, int *out);

    /* New functions go here, with the ABI minor that added them. */
} pmq_api;

/* True when the host's table has function `fn` (added after 1.0). */
#define PMQ_API_HAS(api, fn)                                                                    \
    ((api)->size >= offsetof(pmq_api, fn) + sizeof((api)->fn) && (api)->fn != NULL)

/*--- entry points ---*/

/*
 * Called once in every process that runs the plugin's handlers (and once by
 * `pmqd --check` and `pmqctl migrate`).  `section` is the plugin's INI
 * section.  Return 0, or -1 after pmq_init_error() to refuse loading: the
 * host then forgets every queue and migration this init registered.
 */
typedef int (*pmq_plugin_init_fn)(pmq_host *host, const pmq_api *api,
                                  const pmq_section *section);

#if defined(__GNUC__)
#define PMQ_EXPORT __attribute__((visibility("default")))
#define PMQ_HIDDEN __attribute__((visibility("hidden")))
#else
#define PMQ_EXPORT
#define PMQ_HIDDEN
#endif

/* The table this plugin got in init; set by PMQ_API_INIT(). */
extern PMQ_HIDDEN const pmq_api *pmq_plugin_api_;

/*
 * Define the descriptor and the table pointer.  Use exactly once per plugin,
 * at file scope: PMQ_PLUGIN_MAGIC_KEYS() with the table of the section's
 * keys (a pmq_plugin_key array defined before it), or PMQ_PLUGIN_MAGIC()
 * to leave the section unchecked.
 */
#define PMQ_PLUGIN_MAGIC_KEYS(name_, version_, flags_, keys_)                                   \
    PMQ_HIDDEN const pmq_api *pmq_plugin_api_;                                                  \
    PMQ_EXPORT const pmq_plugin_magic_block *pmq_plugin_magic(void);                            \
    PMQ_EXPORT int pmq_plugin_init(pmq_host *, const pmq_api *, const pmq_section *);           \
    PMQ_EXPORT const pmq_plugin_magic_block *pmq_plugin_magic(void)                             \
    {                                                                                           \
        static const pmq_plugin_magic_block block = {                                           \
            sizeof(pmq_plugin_magic_block), PMQ_ABI_MAJOR, PMQ_ABI_MINOR, (name_), (version_),  \
            (flags_), (uint16_t)sizeof(void *), (uint16_t)sizeof(time_t), (keys_),              \
            (uint32_t)sizeof(pmq_plugin_key)};                                                  \
        return &block;                                                                          \
    }                                                                                           \
    struct pmq_plugin_magic_semicolon_
#define PMQ_PLUGIN_MAGIC(name_, version_, flags_)                                               \
    PMQ_PLUGIN_MAGIC_KEYS(name_, version_, flags_, NULL)

/* First statement of pmq_plugin_init(): keep the table for the macros below. */
#define PMQ_API_INIT(api) (pmq_plugin_api_ = (api))

/*--- the calls plugin code makes (thin macros over the table) ---*/

#define pmq_register_queue(host, queue, handler, state)                                         \
    (pmq_plugin_api_->register_queue((host), (queue), (handler), (state)))
#define pmq_register_fini(host, fini, state) (pmq_plugin_api_->register_fini((host), (fini), (state)))
#define pmq_register_migration(host, version, name, sql)                                        \
    (pmq_plugin_api_->register_migration((host), (version), (name), (sql)))
#define pmq_init_error(host, ...) (pmq_plugin_api_->init_error((host), __VA_ARGS__))
#define pmq_config_get(section, key) (pmq_plugin_api_->config_get((section), (key)))
#define pmq_host_log(host, level, ...) (pmq_plugin_api_->host_log((host), (level), __VA_ARGS__))
#define pmq_config_number(section, key, out)                                                    \
    (pmq_plugin_api_->config_number((section), (key), (out)))
#define pmq_host_parse_int(text, min, max, out)                                                 \
    (pmq_plugin_api_->parse_int((text), (min), (max), (out)))
#define pmq_host_parse_duration_ms(text, unit_ms, out)                                          \
    (pmq_plugin_api_->parse_duration_ms((text), (unit_ms), (out)))
#define pmq_host_parse_bytes(text, max, out) (pmq_plugin_api_->parse_bytes((text), (max), (out)))
#define pmq_host_parse_bool(text, out) (pmq_plugin_api_->parse_bool((text), (out)))

#define pmq_job_id(job) (pmq_plugin_api_->job_id(job))
#define pmq_job_queue(job) (pmq_plugin_api_->job_queue(job))
#define pmq_job_attempt(job) (pmq_plugin_api_->job_attempt(job))
#define pmq_job_max_attempts(job) (pmq_plugin_api_->job_max_attempts(job))
#define pmq_job_priority(job) (pmq_plugin_api_->job_priority(job))
#define pmq_job_tenant(job) (pmq_plugin_api_->job_tenant(job))
#define pmq_job_payload(job, lenp) (pmq_plugin_api_->job_payload((job), (lenp)))
#define pmq_job_payload_json(job) (pmq_plugin_api_->job_payload_json(job))
#define pmq_job_created_at(job) (pmq_plugin_api_->job_created_at(job))

#define pmq_log(ctx, ...) (pmq_plugin_api_->log((ctx), __VA_ARGS__))
#define pmq_set_error(ctx, ...) (pmq_plugin_api_->set_error((ctx), __VA_ARGS__))
#define pmq_retry_after(ctx, delay_ms) (pmq_plugin_api_->retry_after((ctx), (delay_ms)))
#define pmq_progress(ctx, fraction) (pmq_plugin_api_->progress((ctx), (fraction)))
#define pmq_enqueue(ctx, queue, payload, opts, id_out)                                          \
    (pmq_plugin_api_->enqueue((ctx), (queue), (payload), (opts), (id_out)))
#define pmq_pg(ctx) (pmq_plugin_api_->pg(ctx))
#define pmq_cancelled(ctx) (pmq_plugin_api_->cancelled(ctx))

#ifdef __cplusplus
}
#endif

#endif /* PMQ_PLUGIN_H */
