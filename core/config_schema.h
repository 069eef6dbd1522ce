/*
 * config_schema.h -- which sections and keys a configuration may hold: one
 * table per section type of (key, type, bounds, default, unit, doc), and the
 * one setter that checks a value against its row and stores it.  Loading,
 * defaults, `pmqd --check` and the "did you mean" hints all read these
 * tables; what crosses sections or keys (a queue's back-off bounds, a
 * schedule's payload against its queue) is config.c's.
 */
#ifndef PMQ_CONFIG_SCHEMA_H
#define PMQ_CONFIG_SCHEMA_H

#include <stddef.h>
#include <stdint.h>

#include "config.h"
#include "config_reader.h"

typedef enum {
    PMQ_KEY_STRING,   /* text; empty is refused unless a flag says otherwise */
    PMQ_KEY_PATH,     /* text; a relative path is taken from the INI file's directory */
    PMQ_KEY_NAME,     /* a queue name */
    PMQ_KEY_HOSTID,   /* [pmqd] host_id: a host name, without ":" */
    PMQ_KEY_ENVNAME,  /* the name of an environment variable */
    PMQ_KEY_INT,      /* integer in [min, max] */
    PMQ_KEY_DURATION, /* "500ms", "30s", "5m", "2h"; a bare number counts unit_ms */
    PMQ_KEY_SECONDS,  /* a duration in whole seconds, stored as seconds */
    PMQ_KEY_BOOL,
    PMQ_KEY_LOGLEVEL,
    PMQ_KEY_LOGFORMAT,
    PMQ_KEY_BYTES,    /* bytes, or with the suffix k or M */
    PMQ_KEY_QUEUES,   /* [pool] queues: a list of queue names */
    PMQ_KEY_CRON,
    PMQ_KEY_JSON,     /* a JSON object */
    PMQ_KEY_LISTEN,   /* host:port */
    PMQ_KEY_PORTS,    /* libpq port: a number or a comma-separated list */
    PMQ_KEY_CONNINFO, /* a libpq connection string or URI */
    PMQ_KEY_SECRET,   /* refused: secrets do not belong in the file */
} pmq_key_type;

enum {
    PMQ_KEY_REQUIRED = 1,   /* a named section must set it */
    PMQ_KEY_MAIN_ONLY = 2,  /* only the main file may set it */
    PMQ_KEY_EMPTY_NULL = 4, /* an empty value means "not set" (NULL) */
    PMQ_KEY_EMPTY_OK = 8,   /* an empty value is kept as "" */
};

typedef struct pmq_key_spec {
    const char *name;
    pmq_key_type type;
    int flags;
    size_t offset;    /* of the field in the section's struct */
    long min, max;    /* INT, BYTES; milliseconds for DURATION, SECONDS */
    const char *dflt; /* as it would be written in the file; NULL: not set */
    int64_t unit_ms;  /* DURATION, SECONDS: what a bare number counts */
    const char *doc;
} pmq_key_spec;

typedef enum {
    PMQ_SECTION_PMQD,
    PMQ_SECTION_DATABASE,
    PMQ_SECTION_REDIS,
    PMQ_SECTION_MIGRATOR,
    PMQ_SECTION_HTTP,
    PMQ_SECTION_POOL,
    PMQ_SECTION_QUEUE,
    PMQ_SECTION_PLUGIN,
    PMQ_SECTION_SCHEDULE,
    PMQ_SECTION_COUNT
} pmq_section_kind;

typedef struct pmq_section_spec {
    const char *type;
    int named;
    int open_keys; /* [plugin]: any other key belongs to the plugin */
    const pmq_key_spec *keys;
    size_t nkeys;
} pmq_section_spec;

extern const pmq_section_spec pmq_sections[PMQ_SECTION_COUNT];

/* The section type called `type`, or -1. */
int pmq_schema_section_kind(const char *type);
/* The row of `key` in a section of `kind`, or NULL. */
const pmq_key_spec *pmq_schema_key(int kind, const char *key);
/* The known key closest to a misspelt `key`, or NULL (secrets are not suggested). */
const char *pmq_schema_nearest_key(int kind, const char *key);

/*
 * Check `e`'s value against its row `k` and store it in the section's struct
 * at `base`; a value that does not fit is reported to `ini` under `label`.
 */
void pmq_schema_set(pmq_ini *ini, const char *label, const pmq_key_spec *k, void *base,
                    const pmq_ini_entry *e);

/*
 * Store every default of a section of `kind` in `base`, as if written in
 * `file` (relative paths are taken from its directory).  Returns -1, naming
 * the key in *bad_key, when a default does not fit its own row.
 */
int pmq_schema_defaults(int kind, void *base, const char *file, const char **bad_key);

/* Free what the rows of a section of `kind` own in `base` (its name and plugin keys are the caller's). */
void pmq_schema_free(int kind, void *base);

/*
 * A section's or queue's name: 1 to 63 letters, digits, "_", "-" or ".",
 * and ":" in a queue's.
 */
int pmq_schema_valid_name(const char *s, int is_queue);
#define PMQ_NAME_DETAIL "A name of 1 to 63 letters, digits, \"_\", \"-\" or \".\" is expected."

/* "1h", "30s", "500ms": the largest unit that says it exactly (caller frees). */
char *pmq_format_ms(int64_t ms);

#endif /* PMQ_CONFIG_SCHEMA_H */
