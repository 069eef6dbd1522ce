/*
 * plugin_registry.c -- the records of the plugins tried and what their init
 * registered (see plugin_registry.h).
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "log.h"
#include "plugin_registry.h"
#include "util.h"

typedef struct fini_entry {
    pmq_fini_fn fn;
    void *state;
    const pmq_plugin *plugin;
} fini_entry;

struct pmq_registry {
    pmq_plugin **plugins; /* every plugin tried, loaded or not: never freed early,
                           * a refused plugin may still hold its pmq_host */
    size_t nplugins, plugins_cap;
    pmq_queue_handler *queues;
    size_t nqueues, queues_cap;
    pmq_plugin_migration *migrations;
    size_t nmigrations, migrations_cap;
    fini_entry *finis;
    size_t nfinis, finis_cap;
};

#define GROW(arr, n, cap)                                                                       \
    do {                                                                                        \
        if ((n) == (cap)) {                                                                     \
            (cap) = (cap) ? (cap) * 2 : 8;                                                      \
            (arr) = pmq_xrealloc((arr), (cap) * sizeof *(arr));                                 \
        }                                                                                       \
    } while (0)

static pmq_plugin *as_plugin(pmq_host *host)
{
    return (pmq_plugin *)host;
}

/*--- registration (during pmq_plugin_init only) ---*/

static void refuse(pmq_plugin *p, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void refuse(pmq_plugin *p, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char *msg = pmq_vasprintf(fmt, ap);
    va_end(ap);
    log_warning("plugin \"%s\": %s", p->name, msg);
    if (!p->register_error)
        p->register_error = msg;
    else
        free(msg);
}

/*
 * `name` for a one-line message: a refused queue name may hold a newline,
 * quotes or bytes a terminal would act on.  At most 100 bytes are shown.
 */
static char *shown_name(const char *name)
{
    size_t n = strlen(name), max = 100;
    char *out = pmq_xmalloc(4 * (n < max ? n : max) + 4), *o = out;
    for (size_t i = 0; i < n && i < max; i++) {
        unsigned char ch = (unsigned char)name[i];
        if (ch == '"' || ch == '\\')
            o += sprintf(o, "\\%c", ch);
        else if (ch < 0x20 || ch >= 0x7f)
            o += sprintf(o, "\\x%02x", ch);
        else
            *o++ = (char)ch;
    }
    if (n > max)
        o += sprintf(o, "...");
    *o = '\0';
    return out;
}

int pmq_host_register_queue(pmq_host *host, const char *queue, pmq_handler_fn handler,
                            void *state)
{
    pmq_plugin *p = as_plugin(host);
    if (!p)
        return -1;
    if (!p->in_init) {
        refuse(p, "register_queue called outside pmq_plugin_init");
        return -1;
    }
    if (!queue || !*queue || !handler) {
        refuse(p, "register_queue called with %s", !queue || !*queue ? "no queue name"
                                                                      : "no handler");
        return -1;
    }
    if (!pmq_valid_queue_name(queue)) {
        if (!p->bad_queue)
            p->bad_queue = shown_name(queue);
        return -1;
    }
    pmq_registry *reg = p->reg;
    const pmq_queue_handler *prev = pmq_registry_handler(reg, queue);
    if (prev) {
        if (!p->dup_queue) {
            p->dup_queue = pmq_xstrdup(queue);
            p->dup_owner = prev->plugin;
        }
        return -1;
    }
    GROW(reg->queues, reg->nqueues, reg->queues_cap);
    reg->queues[reg->nqueues++] = (pmq_queue_handler){
        .queue = pmq_xstrdup(queue),
        .handler = handler,
        .state = state,
        .plugin = p,
        .thread_safe = (p->flags & PMQ_PLUGIN_THREAD_SAFE) != 0,
    };
    return 0;
}

int pmq_host_register_fini(pmq_host *host, pmq_fini_fn fini, void *state)
{
    pmq_plugin *p = as_plugin(host);
    if (!p)
        return -1;
    if (!p->in_init) {
        refuse(p, "register_fini called outside pmq_plugin_init");
        return -1;
    }
    if (!fini) {
        refuse(p, "register_fini called with no function");
        return -1;
    }
    pmq_registry *reg = p->reg;
    GROW(reg->finis, reg->nfinis, reg->finis_cap);
    reg->finis[reg->nfinis++] = (fini_entry){fini, state, p};
    return 0;
}

int pmq_host_register_migration(pmq_host *host, int version, const char *name, const char *sql)
{
    pmq_plugin *p = as_plugin(host);
    if (!p)
        return -1;
    if (!p->in_init) {
        refuse(p, "register_migration called outside pmq_plugin_init");
        return -1;
    }
    if (version <= 0 || !name || !*name || !sql) {
        refuse(p, "register_migration called with %s",
               version <= 0 ? "a version that is not positive"
                            : !sql ? "no SQL" : "no name");
        return -1;
    }
    pmq_registry *reg = p->reg;
    for (size_t i = 0; i < reg->nmigrations; i++) {
        if (!strcmp(reg->migrations[i].component, p->name) && reg->migrations[i].version == version) {
            refuse(p, "migration %d registered twice (\"%s\" and \"%s\")", version,
                   reg->migrations[i].name, name);
            return -1;
        }
    }
    GROW(reg->migrations, reg->nmigrations, reg->migrations_cap);
    reg->migrations[reg->nmigrations++] = (pmq_plugin_migration){
        .component = p->name,
        .version = version,
        .name = pmq_xstrdup(name),
        .sql = sql,
    };
    return 0;
}

void pmq_host_init_error(pmq_host *host, const char *fmt, ...)
{
    pmq_plugin *p = as_plugin(host);
    if (!p || !fmt)
        return;
    va_list ap;
    va_start(ap, fmt);
    char *msg = pmq_vasprintf(fmt, ap);
    va_end(ap);
    if (!p->in_init) {
        /* Too late to refuse loading: still worth a line in the log. */
        log_warning("plugin \"%s\": %s", p->name, msg);
        free(msg);
        return;
    }
    free(p->init_error);
    p->init_error = msg;
}

/*--- the registry ---*/

pmq_registry *pmq_registry_new(void)
{
    return pmq_xcalloc(1, sizeof(pmq_registry));
}

pmq_plugin *pmq_registry_add_plugin(pmq_registry *reg, const char *name, char *path,
                                    char *origin)
{
    pmq_plugin *p = pmq_xcalloc(1, sizeof *p);
    p->reg = reg;
    p->name = pmq_xstrdup(name);
    p->path = path;
    p->origin = origin;
    GROW(reg->plugins, reg->nplugins, reg->plugins_cap);
    reg->plugins[reg->nplugins++] = p;
    return p;
}

pmq_registry_mark pmq_registry_mark_now(const pmq_registry *reg)
{
    return (pmq_registry_mark){reg->nqueues, reg->nmigrations, reg->nfinis};
}

/* Forget everything registered since `mark` was taken. */
void pmq_registry_roll_back(pmq_registry *reg, pmq_registry_mark mark)
{
    for (size_t i = mark.nqueues; i < reg->nqueues; i++)
        free(reg->queues[i].queue);
    for (size_t i = mark.nmigrations; i < reg->nmigrations; i++)
        free((char *)reg->migrations[i].name);
    reg->nqueues = mark.nqueues;
    reg->nmigrations = mark.nmigrations;
    reg->nfinis = mark.nfinis;
}

void pmq_registry_free(pmq_registry *reg)
{
    if (!reg)
        return;
    for (size_t i = reg->nfinis; i-- > 0;)
        reg->finis[i].fn(reg->finis[i].state);
    pmq_registry_roll_back(reg, (pmq_registry_mark){0, 0, 0});
    for (size_t i = 0; i < reg->nplugins; i++) {
        pmq_plugin *p = reg->plugins[i];
        free(p->name);
        free(p->path);
        free(p->version);
        free(p->origin);
        free(p->init_error);
        free(p->register_error);
        free(p->dup_queue);
        free(p->bad_queue);
        free(p);
    }
    free(reg->plugins);
    free(reg->queues);
    free(reg->migrations);
    free(reg->finis);
    free(reg);
}

/*--- lookups ---*/

const pmq_queue_handler *pmq_registry_handler(const pmq_registry *reg, const char *queue)
{
    if (!reg || !queue)
        return NULL;
    for (size_t i = 0; i < reg->nqueues; i++)
        if (!strcmp(reg->queues[i].queue, queue))
            return &reg->queues[i];
    return NULL;
}

size_t pmq_registry_queue_count(const pmq_registry *reg)
{
    return reg ? reg->nqueues : 0;
}

const pmq_queue_handler *pmq_registry_queue_at(const pmq_registry *reg, size_t i)
{
    return reg && i < reg->nqueues ? &reg->queues[i] : NULL;
}

size_t pmq_registry_migration_count(const pmq_registry *reg)
{
    return reg ? reg->nmigrations : 0;
}

const pmq_plugin_migration *pmq_registry_migration_at(const pmq_registry *reg, size_t i)
{
    return reg && i < reg->nmigrations ? &reg->migrations[i] : NULL;
}

const char *pmq_plugin_name(const pmq_plugin *p)
{
    return p->name;
}

const char *pmq_plugin_version(const pmq_plugin *p)
{
    return p->version ? p->version : "";
}

const char *pmq_plugin_path(const pmq_plugin *p)
{
    return p->path;
}
