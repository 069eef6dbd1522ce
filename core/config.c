/*
 * config.c -- builds one pmq_config from what config_reader.c read of
 * pmqd.ini and conf.d/NAME.ini, by the rows of config_schema.c: section
 * headers, duplicates, required keys, the checks that cross keys or sections
 * (a queue's back-off, a schedule's payload, passwords); and the lookups.
 */

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <json-c/json.h>
#include <libpq-fe.h>

#include "config.h"
#include "config_reader.h"
#include "config_schema.h"
#include "errors.h"
#include "queue_settings.h"
#include "secrets.h"
#include "util.h"

enum {
    S_PMQD = PMQ_SECTION_PMQD,
    S_DATABASE = PMQ_SECTION_DATABASE,
    S_REDIS = PMQ_SECTION_REDIS,
    S_QUEUE = PMQ_SECTION_QUEUE,
    S_POOL = PMQ_SECTION_POOL,
    S_PLUGIN = PMQ_SECTION_PLUGIN,
    S_COUNT = PMQ_SECTION_COUNT
};

typedef struct loader {
    pmq_config *cfg;
    pmq_ini ini;
    pmq_origin *seen[S_COUNT]; /* singletons: where each key was set */
} loader;

#define report(L, ...) pmq_ini_report(&(L)->ini, __VA_ARGS__)

int pmq_valid_queue_name(const char *name)
{
    return name && pmq_schema_valid_name(name, 1);
}

/*--- section headers ---*/

/* What a header "[type name]" means: the section's kind and label, or why it is refused. */
static void classify(loader *L, pmq_ini_section *rs)
{
    pmq_origin at = rs->origin;
    const char *text = rs->header;
    size_t tlen = strcspn(text, " \t\r\n\v\f");
    const char *name = text + tlen;
    while (*name && strchr(" \t\r\n\v\f", *name))
        name++;
    char *type = pmq_asprintf("%.*s", (int)tlen, text);
    int kind = pmq_schema_section_kind(type);
    const pmq_section_spec *spec = kind >= 0 ? &pmq_sections[kind] : NULL;

    if (!spec) {
        pmq_error *e = report(L, &at, NULL, "unknown section \"[%s]\"", text);
        const char *types[S_COUNT + 1];
        for (int i = 0; i < S_COUNT; i++)
            types[i] = pmq_sections[i].type;
        types[S_COUNT] = NULL;
        const char *near = *type ? pmq_nearest_word(type, types) : NULL;
        if (near && pmq_sections[pmq_schema_section_kind(near)].named)
            pmq_error_hint(e, "Did you mean \"[%s ...]\"?", near);
        else if (near)
            pmq_error_hint(e, "Did you mean \"[%s]\"?", near);
    } else if (spec->named && !*name) {
        pmq_error *e = report(L, &at, NULL, "section \"[%s]\" needs a name", text);
        pmq_error_hint(e, "Write it as \"[%s NAME]\".", type);
    } else if (!spec->named && *name) {
        pmq_error *e = report(L, &at, NULL, "section \"[%s]\" takes no name", text);
        pmq_error_hint(e, "Write it as \"[%s]\".", type);
    } else if (spec->named && !pmq_schema_valid_name(name, kind == S_QUEUE)) {
        pmq_error *e = report(L, &at, NULL, "invalid name \"%s\" in section \"[%s]\"", name, text);
        if (kind != S_QUEUE && pmq_schema_valid_name(name, 1)) {
            /* A name that only a queue could have. */
            if (kind == S_POOL)
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
            pmq_error_detail(e, kind == S_QUEUE ? PMQ_QUEUE_NAME_DETAIL : PMQ_NAME_DETAIL);
        }
    } else {
        rs->kind = kind;
        rs->label = spec->named ? pmq_asprintf("%s %s", type, name) : pmq_xstrdup(type);
    }
    free(type);
}

/* Say what the headers read since section `first` mean. */
static void classify_from(loader *L, size_t first)
{
    for (size_t i = first; i < L->ini.nsections; i++)
        if (L->ini.sections[i].header && L->ini.sections[i].closed)
            classify(L, &L->ini.sections[i]);
}

/* The files of conf.d (see pmq_ini_read_dir()). */
static void read_dir(loader *L, const char *dir, const pmq_origin *set_at,
                     const struct stat *main_st)
{
    size_t first = L->ini.nsections;
    pmq_ini_read_dir(&L->ini, dir, set_at, main_st);
    classify_from(L, first);
}

/* The name of a named section ("email" of "[pool email]"). */
static const char *section_name(const pmq_ini_section *rs)
{
    return rs->label + strlen(pmq_sections[rs->kind].type) + 1;
}

/*
 * The lines of a section that are not "key = value" with a key, wherever
 * they are: under a header that was refused, or before any, they are not
 * shown in brackets.
 */
static void report_lines(loader *L, const pmq_ini_section *rs)
{
    for (size_t i = 0; i < rs->nentries; i++) {
        const pmq_ini_entry *e = &rs->entries[i];
        if (!e->key) {
            pmq_error *err = report(L, &e->origin, rs->label, "could not parse line \"%s\"",
                                    e->value);
            pmq_error_detail(err, "A line holds \"key = value\", a \"[section]\" header, or a "
                                  "comment starting with \";\" or \"#\".");
        } else if (!rs->header) {
            pmq_error *err =
                report(L, &e->origin, NULL, "key \"%s\" is outside of any section", e->key);
            pmq_error_hint(err, "Put it under a section header such as \"[pmqd]\".");
        } else if (!*e->key && rs->kind >= 0) {
            report(L, &e->origin, rs->label, "missing key name before \"=\"");
        }
    }
}

/*--- building the configuration from the sections ---*/

static long key_index(int kind, const char *key)
{
    const pmq_key_spec *k = pmq_schema_key(kind, key);
    return k ? (long)(k - pmq_sections[kind].keys) : -1;
}

static void duplicate_key(loader *L, const pmq_ini_section *rs, const pmq_ini_entry *e,
                          const pmq_origin *first)
{
    pmq_error *err = report(L, &e->origin, rs->label, "key \"%s\" is set twice", e->key);
    pmq_error_detail(err, "It is set at %s:%d and at %s:%d.", first->file, first->line,
                     e->origin.file, e->origin.line);
}

/* Every key of a [plugin] section is the plugin's to read, its own and ours, with its origin. */
static int add_plugin_key(loader *L, const pmq_ini_section *rs, pmq_plugin_config *plugin,
                          const pmq_ini_entry *e)
{
    for (size_t j = 0; j < plugin->nkeys; j++)
        if (!strcmp(plugin->keys[j].key, e->key)) {
            duplicate_key(L, rs, e, &plugin->keys[j].origin);
            return -1;
        }
    plugin->keys = pmq_xrealloc(plugin->keys, (plugin->nkeys + 1) * sizeof *plugin->keys);
    plugin->keys[plugin->nkeys++] = (pmq_kv){pmq_xstrdup(e->key), pmq_xstrdup(e->value), e->origin};
    return 0;
}

static void apply_entries(loader *L, const pmq_ini_section *rs, void *base, pmq_origin *seen)
{
    const pmq_section_spec *sp = &pmq_sections[rs->kind];
    for (size_t i = 0; i < rs->nentries; i++) {
        const pmq_ini_entry *e = &rs->entries[i];
        if (!e->key || !*e->key)
            continue; /* reported by report_lines() */
        if (rs->kind == S_PLUGIN && add_plugin_key(L, rs, base, e) < 0)
            continue;
        long k = key_index(rs->kind, e->key);
        if (k < 0) {
            if (!sp->open_keys) {
                pmq_error *err = report(L, &e->origin, rs->label, "unknown key \"%s\"", e->key);
                const char *near = pmq_schema_nearest_key(rs->kind, e->key);
                if (near)
                    pmq_error_hint(err, "Did you mean \"%s\"?", near);
            }
            continue;
        }
        if ((sp->keys[k].flags & PMQ_KEY_MAIN_ONLY) && !rs->in_main) {
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
        pmq_schema_set(&L->ini, rs->label, &sp->keys[k], base, e);
    }
}

static const pmq_ini_section *first_definition(const loader *L, const pmq_ini_section *rs)
{
    for (const pmq_ini_section *o = L->ini.sections; o < rs; o++)
        if (o->kind == rs->kind && !strcmp(section_name(o), section_name(rs)))
            return o;
    return NULL;
}

/* The schema's defaults; one that does not fit its own row is a bug (tests/test_config.c). */
static void set_defaults_of(int kind, void *base, const char *file)
{
    const char *bad;
    if (pmq_schema_defaults(kind, base, file, &bad) < 0) {
        fprintf(stderr, "pmq: the default of [%s] \"%s\" does not fit its own row\n",
                pmq_sections[kind].type, bad);
        abort();
    }
}

#define GROW(array, count) ((array) = pmq_xrealloc((array), ((count) + 1) * sizeof *(array)))

/* A named section's struct with its defaults, appended to the configuration. */
static void *new_named(pmq_config *cfg, const pmq_ini_section *rs)
{
    const char *name = section_name(rs);
    void *base;
    switch (rs->kind) {
    case S_POOL:
        GROW(cfg->pools, cfg->npools);
        cfg->pools[cfg->npools] = (pmq_pool_config){.name = pmq_xstrdup(name), .origin = rs->origin};
        base = &cfg->pools[cfg->npools++];
        break;
    case S_QUEUE:
        GROW(cfg->queues, cfg->nqueues);
        cfg->queues[cfg->nqueues] = (pmq_queue_config){.name = pmq_xstrdup(name), .origin = rs->origin};
        base = &cfg->queues[cfg->nqueues++];
        break;
    case S_PLUGIN:
        GROW(cfg->plugins, cfg->nplugins);
        cfg->plugins[cfg->nplugins] = (pmq_plugin_config){.name = pmq_xstrdup(name), .origin = rs->origin};
        base = &cfg->plugins[cfg->nplugins++];
        break;
    default:
        GROW(cfg->schedules, cfg->nschedules);
        cfg->schedules[cfg->nschedules] = (pmq_schedule_config){.name = pmq_xstrdup(name), .origin = rs->origin};
        base = &cfg->schedules[cfg->nschedules++];
        break;
    }
    set_defaults_of(rs->kind, base, rs->origin.file);
    return base;
}

static void *singleton(pmq_config *cfg, int kind, pmq_origin **origin)
{
    *origin = NULL;
    switch (kind) {
    case S_PMQD:
        return &cfg->daemon;
    case S_DATABASE:
        *origin = &cfg->database.origin;
        return &cfg->database;
    case S_REDIS:
        *origin = &cfg->redis.origin;
        return &cfg->redis;
    case PMQ_SECTION_MIGRATOR:
        return &cfg->migrator;
    default:
        *origin = &cfg->http.origin;
        return &cfg->http;
    }
}

static void check_queue(loader *L, const pmq_ini_section *rs, const pmq_queue_config *q,
                        const pmq_origin *seen)
{
    if (q->backoff_base_ms <= q->backoff_max_ms)
        return;
    const pmq_origin *at = &seen[key_index(S_QUEUE, "backoff_max")];
    if (!at->file)
        at = &seen[key_index(S_QUEUE, "backoff_base")];
    char *base = pmq_format_ms(q->backoff_base_ms), *max = pmq_format_ms(q->backoff_max_ms);
    report(L, at, rs->label, "\"backoff_base\" (%s) is greater than \"backoff_max\" (%s)", base,
           max);
    free(base);
    free(max);
}

/*--- passwords ---*/

static const pmq_origin *seen_at(const loader *L, int kind, const char *key)
{
    return &L->seen[kind][key_index(kind, key)];
}

/* password_file, or else password_env (explicit, or a default read only if set). */
static char *find_password(loader *L, int kind, const char *label, const char *file,
                           const char *env)
{
    const pmq_origin *file_at = seen_at(L, kind, "password_file");
    const pmq_origin *env_at = seen_at(L, kind, "password_env");
    if (file && env && env_at->file) {
        pmq_error *err = report(L, env_at, label,
                                "\"password_file\" and \"password_env\" cannot both be set");
        pmq_error_detail(err, "They are set at %s:%d and at %s:%d.", file_at->file,
                         file_at->line, env_at->file, env_at->line);
        return NULL;
    }
    if (file) {
        pmq_secret_problem why;
        char *password = pmq_password_file_read(file, PMQ_CONFIG_LINE_MAX, &why);
        if (!password) {
            pmq_error *err = report(L, file_at, label, "%s", why.message);
            if (why.hint)
                pmq_error_hint(err, "%s", why.hint);
            free(why.message);
            free(why.hint);
        }
        return password;
    }
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
                                seen_at(L, S_DATABASE, "password_env")->file ? d->password_env
                                                                             : NULL);

    /* connect_timeout in conninfo counts unless the key says otherwise. */
    if (d->conninfo && !seen_at(L, S_DATABASE, "connect_timeout")->file) {
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

/*--- schedules' payloads ---*/

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
    for (size_t i = 0; i < L->ini.nsections; i++) {
        const pmq_ini_section *rs = &L->ini.sections[i];
        if (rs->kind != PMQ_SECTION_SCHEDULE || first_definition(L, rs))
            continue;
        const pmq_ini_entry *e = NULL;
        for (size_t j = 0; j < rs->nentries; j++)
            if (rs->entries[j].key && !strcmp(rs->entries[j].key, "payload"))
                e = &rs->entries[j];
        const pmq_schedule_config *s = NULL;
        for (size_t j = 0; j < L->cfg->nschedules && !s; j++)
            if (!strcmp(L->cfg->schedules[j].name, section_name(rs)))
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
    for (size_t i = 0; i < L->ini.nsections; i++) {
        const pmq_ini_section *rs = &L->ini.sections[i];
        report_lines(L, rs);
        if (rs->kind < 0)
            continue;
        const pmq_section_spec *sp = &pmq_sections[rs->kind];
        if (!sp->named) {
            pmq_origin *origin;
            void *base = singleton(cfg, rs->kind, &origin);
            if (origin && !origin->file)
                *origin = rs->origin;
            apply_entries(L, rs, base, L->seen[rs->kind]);
            continue;
        }
        const pmq_ini_section *first = first_definition(L, rs);
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
            if ((sp->keys[k].flags & PMQ_KEY_REQUIRED) && !seen[k].file)
                report(L, &rs->origin, rs->label, "missing required key \"%s\"",
                       sp->keys[k].name);
        if (rs->kind == S_QUEUE)
            check_queue(L, rs, base, seen);
        free(seen);
    }
    check_schedule_payloads(L);
    finish_database(L);
    pmq_redis_config *r = &cfg->redis;
    r->password = find_password(L, S_REDIS, "redis", r->password_file, r->password_env);
}

/* The singletons' defaults; `path` is the main file, which a relative conf_dir starts from. */
static void set_defaults(pmq_config *cfg, const char *path)
{
    set_defaults_of(S_PMQD, &cfg->daemon, path);
    set_defaults_of(S_DATABASE, &cfg->database, path);
    set_defaults_of(S_REDIS, &cfg->redis, path);
    set_defaults_of(PMQ_SECTION_MIGRATOR, &cfg->migrator, path);
    set_defaults_of(PMQ_SECTION_HTTP, &cfg->http, path);

    char host[256];
    if (gethostname(host, sizeof host) != 0 || !host[0])
        snprintf(host, sizeof host, "localhost");
    host[sizeof host - 1] = '\0';
    cfg->daemon.host_id = pmq_xstrdup(host);
}

/* [pmqd] conf_dir as the main file says, before conf.d is read. */
static const pmq_ini_entry *main_conf_dir(const loader *L)
{
    for (size_t i = 0; i < L->ini.nsections; i++) {
        const pmq_ini_section *rs = &L->ini.sections[i];
        for (size_t j = 0; rs->kind == S_PMQD && rs->in_main && j < rs->nentries; j++)
            if (rs->entries[j].key && !strcmp(rs->entries[j].key, "conf_dir"))
                return &rs->entries[j];
    }
    return NULL;
}

/*--- the interface ---*/

pmq_config *pmq_config_load(const char *path, pmq_errors *errs)
{
    loader L = {.ini = PMQ_INI_INIT};
    pmq_config *cfg = L.cfg = pmq_xcalloc(1, sizeof *cfg);
    set_defaults(cfg, path);
    for (int t = 0; t < S_COUNT; t++)
        if (!pmq_sections[t].named)
            L.seen[t] = pmq_xcalloc(pmq_sections[t].nkeys, sizeof *L.seen[t]);

    struct stat main_st;
    if (pmq_ini_read_file(&L.ini, path, 1, &main_st) == 0) {
        classify_from(&L, 0);
        const pmq_ini_entry *cd = main_conf_dir(&L);
        if (!cd) {
            read_dir(&L, cfg->daemon.conf_dir, NULL, &main_st);
        } else if (*cd->value) {
            char *main_dir = pmq_path_dir(path);
            char *dir = pmq_path_join(main_dir, cd->value);
            read_dir(&L, dir, &cd->origin, &main_st);
            free(dir);
            free(main_dir);
        }
        build(&L);
    }

    /* The origins point at the file names: the configuration keeps them. */
    cfg->files = L.ini.files;
    cfg->nfiles = L.ini.nfiles;
    L.ini.files = NULL;
    size_t nerrors = pmq_ini_flush_errors(&L.ini, errs);
    pmq_ini_free(&L.ini);
    for (int t = 0; t < S_COUNT; t++)
        free(L.seen[t]);
    if (nerrors) {
        pmq_config_free(cfg);
        return NULL;
    }
    return cfg;
}

void pmq_config_free(pmq_config *cfg)
{
    if (!cfg)
        return;
    for (size_t i = 0; i < cfg->nfiles; i++)
        free(cfg->files[i]);
    free(cfg->files);
    pmq_schema_free(S_PMQD, &cfg->daemon);
    pmq_schema_free(S_DATABASE, &cfg->database);
    pmq_schema_free(S_REDIS, &cfg->redis);
    pmq_schema_free(PMQ_SECTION_MIGRATOR, &cfg->migrator);
    pmq_schema_free(PMQ_SECTION_HTTP, &cfg->http);
    for (size_t i = 0; i < cfg->npools; i++) {
        pmq_schema_free(S_POOL, &cfg->pools[i]);
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
        pmq_schema_free(S_PLUGIN, p);
        free(p->name);
    }
    free(cfg->plugins);
    for (size_t i = 0; i < cfg->nschedules; i++) {
        pmq_schema_free(PMQ_SECTION_SCHEDULE, &cfg->schedules[i]);
        free(cfg->schedules[i].name);
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
