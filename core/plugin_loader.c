/*
 * plugin_loader.c -- dlopen()s the [plugin NAME] shared objects, checks their
 * descriptor, runs their init and keeps what they registered (see
 * plugin_loader.h).  Registration calls arrive here through host_api.c.
 */
#include <dlfcn.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "log.h"
#include "plugin_loader.h"
#include "util.h"

typedef struct fini_entry {
    pmq_fini_fn fn;
    void *state;
    const pmq_plugin *plugin;
} fini_entry;

/* The pmq_host a plugin sees is its pmq_plugin. */
struct pmq_plugin {
    pmq_registry *reg;
    char *name;      /* the section's NAME */
    char *path;      /* resolved file */
    char *version;   /* from the descriptor */
    char *origin;    /* "pmqd.ini:12: [plugin NAME] ", or "" */
    unsigned flags;  /* PMQ_PLUGIN_* */
    int in_init;     /* register_* is allowed only while this is set */
    char *init_error;     /* from pmq_init_error() */
    char *register_error; /* first register_* call that was refused */
    char *dup_queue;      /* a queue another plugin already serves */
    char *bad_queue;      /* a queue name against the rule (config.h), shown escaped */
    const pmq_plugin *dup_owner;
};

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

/*--- loading ---*/

static char *resolve_path(const pmq_config *cfg, const char *path)
{
    const char *dir = cfg->daemon.plugin_dir;
    if (path[0] == '/')
        return pmq_xstrdup(path);
    if (!dir || !*dir)
        dir = ".";
    size_t n = strlen(dir);
    return pmq_asprintf("%s%s%s", dir, n && dir[n - 1] == '/' ? "" : "/", path);
}

/* One error per refused plugin: "[origin] could not load plugin "N" from "P": why". */
static pmq_error *load_error(pmq_errors *errs, const pmq_plugin *p, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static pmq_error *load_error(pmq_errors *errs, const pmq_plugin *p, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char *why = pmq_vasprintf(fmt, ap);
    va_end(ap);
    pmq_error *e = pmq_errors_add(errs, "%scould not load plugin \"%s\" from \"%s\": %s",
                                  p->origin, p->name, p->path, why);
    free(why);
    return e;
}

static const char rebuild_hint[] = "Rebuild the plugin against the installed <pmq/plugin.h>.";

/*
 * Check the descriptor, most basic mismatch first: the version fields are
 * the only ones every ABI major shares, so nothing else is read before they
 * match.  Returns 0, or -1 after adding the error.
 */
static int check_magic(const pmq_plugin_magic_block *m, const pmq_plugin *p, pmq_errors *errs)
{
    pmq_error *e;
    if (!m) {
        e = load_error(errs, p, "invalid magic block");
        pmq_error_detail(e, "%s() returned NULL.", PMQ_PLUGIN_MAGIC_FUNC);
        pmq_error_hint(e, "Define the descriptor with PMQ_PLUGIN_MAGIC() from <pmq/plugin.h>.");
        return -1;
    }
    if (m->size < offsetof(pmq_plugin_magic_block, name)) {
        e = load_error(errs, p, "invalid magic block");
        pmq_error_detail(e, "The descriptor is %u bytes, too small to hold an ABI version.",
                         (unsigned)m->size);
        pmq_error_hint(e, "Define the descriptor with PMQ_PLUGIN_MAGIC() from <pmq/plugin.h>.");
        return -1;
    }
    if (m->abi_major != PMQ_ABI_MAJOR) {
        e = load_error(errs, p, "ABI version mismatch");
        pmq_error_detail(e, "The plugin was built for ABI %u.%u; this pmqd provides ABI %d.%d.",
                         m->abi_major, m->abi_minor, PMQ_ABI_MAJOR, PMQ_ABI_MINOR);
        pmq_error_hint(e, "%s", rebuild_hint);
        return -1;
    }
    if (m->abi_minor > PMQ_ABI_MINOR) {
        e = load_error(errs, p, "built for a newer ABI");
        pmq_error_detail(e, "The plugin was built for ABI %u.%u; this pmqd provides ABI %d.%d.",
                         m->abi_major, m->abi_minor, PMQ_ABI_MAJOR, PMQ_ABI_MINOR);
        pmq_error_hint(e, "Upgrade pmqd, or rebuild the plugin against the installed "
                          "<pmq/plugin.h>.");
        return -1;
    }
    /* Every 1.x descriptor holds at least the 1.0 fields. */
    size_t need = offsetof(pmq_plugin_magic_block, time_t_size) + sizeof m->time_t_size;
    if (m->size < need) {
        e = load_error(errs, p, "invalid magic block");
        pmq_error_detail(e, "The descriptor is %u bytes; ABI %u.%u needs at least %zu.",
                         (unsigned)m->size, m->abi_major, m->abi_minor, need);
        pmq_error_hint(e, "%s", rebuild_hint);
        return -1;
    }
    if (m->pointer_size != sizeof(void *) || m->time_t_size != sizeof(time_t)) {
        e = load_error(errs, p, "built for a different platform");
        pmq_error_detail(e,
                         "The plugin was built with %u-byte pointers and a %u-byte time_t; "
                         "this pmqd uses %zu-byte pointers and a %zu-byte time_t.",
                         m->pointer_size, m->time_t_size, sizeof(void *), sizeof(time_t));
        pmq_error_hint(e, "%s", rebuild_hint);
        return -1;
    }
    return 0;
}

/* Forget everything `p` registered since the counts were taken. */
static void roll_back(pmq_registry *reg, size_t nqueues, size_t nmigrations, size_t nfinis)
{
    for (size_t i = nqueues; i < reg->nqueues; i++)
        free(reg->queues[i].queue);
    for (size_t i = nmigrations; i < reg->nmigrations; i++)
        free((char *)reg->migrations[i].name);
    reg->nqueues = nqueues;
    reg->nmigrations = nmigrations;
    reg->nfinis = nfinis;
}

/* Open, check and initialise one plugin; on failure, one error and nothing kept. */
static void load_one(pmq_registry *reg, const pmq_config *cfg, const pmq_plugin_config *pc,
                     pmq_plugin *p, pmq_errors *errs)
{
    pmq_error *e;
    struct stat st;
    if (stat(p->path, &st) != 0) {
        int err = errno;
        if (err == ENOENT || err == ENOTDIR) {
            e = load_error(errs, p, "file not found");
            pmq_error_hint(e,
                           "Check \"path\" in [plugin %s]; a relative path is resolved in "
                           "plugin_dir (\"%s\").",
                           p->name, cfg->daemon.plugin_dir ? cfg->daemon.plugin_dir : ".");
        } else {
            e = load_error(errs, p, "could not access file");
            pmq_error_detail(e, "%s.", strerror(err));
        }
        return;
    }
    if (!S_ISREG(st.st_mode)) {
        e = load_error(errs, p, "not a loadable shared object");
        pmq_error_detail(e, "The path is not a regular file.");
        return;
    }

    dlerror();
    void *dl = dlopen(p->path, RTLD_NOW | RTLD_LOCAL);
    if (!dl) {
        const char *why = dlerror();
        e = load_error(errs, p, "not a loadable shared object");
        pmq_error_detail(e, "%s", why ? why : "dlopen() failed without a reason.");
        return;
    }
    /* Never dlclose(): a plugin's code may still be referenced (PostgreSQL
     * does not unload either). */

    pmq_plugin_magic_fn magic_fn = (pmq_plugin_magic_fn)dlsym(dl, PMQ_PLUGIN_MAGIC_FUNC);
    if (!magic_fn) {
        e = load_error(errs, p, "missing entry point \"" PMQ_PLUGIN_MAGIC_FUNC "\"");
        pmq_error_hint(e, "Is this a pmq plugin? Define its descriptor with PMQ_PLUGIN_MAGIC() "
                          "from <pmq/plugin.h>.");
        return;
    }
    const pmq_plugin_magic_block *m = magic_fn();
    if (check_magic(m, p, errs) != 0)
        return;

    /* Looked up after the version check: another major may name it otherwise. */
    pmq_plugin_init_fn init_fn = (pmq_plugin_init_fn)dlsym(dl, PMQ_PLUGIN_INIT_FUNC);
    if (!init_fn) {
        e = load_error(errs, p, "missing entry point \"" PMQ_PLUGIN_INIT_FUNC "\"");
        pmq_error_hint(e, "Export an init function: int pmq_plugin_init(pmq_host *, const "
                          "pmq_api *, const pmq_section *).");
        return;
    }
    p->flags = m->flags;
    p->version = pmq_xstrdup(m->version ? m->version : "");

    size_t nq = reg->nqueues, nm = reg->nmigrations, nf = reg->nfinis;
    p->in_init = 1;
    int rc = init_fn((pmq_host *)p, pmq_host_api(), (const pmq_section *)pc);
    p->in_init = 0;

    if (p->bad_queue) {
        roll_back(reg, nq, nm, nf);
        e = load_error(errs, p, "invalid queue name \"%s\"", p->bad_queue);
        pmq_error_detail(e, "%s", PMQ_QUEUE_NAME_DETAIL);
        pmq_error_hint(e, "Queue names become Redis keys and table rows: change the name the "
                          "plugin registers.");
        return;
    }
    if (p->dup_queue) {
        roll_back(reg, nq, nm, nf);
        e = load_error(errs, p, "duplicate queue \"%s\"", p->dup_queue);
        if (p->dup_owner == p)
            pmq_error_detail(e, "The plugin registers queue \"%s\" twice.", p->dup_queue);
        else
            pmq_error_detail(e, "Queue \"%s\" is already served by plugin \"%s\" from \"%s\".",
                             p->dup_queue, p->dup_owner->name, p->dup_owner->path);
        pmq_error_hint(e, "A queue has one handler: disable one of the plugins or rename the "
                          "queue.");
        return;
    }
    if (rc != 0) {
        roll_back(reg, nq, nm, nf);
        e = load_error(errs, p, "initialization failed");
        if (p->init_error)
            pmq_error_detail(e, "%s", p->init_error);
        else if (p->register_error)
            pmq_error_detail(e, "pmq_plugin_init returned %d after: %s", rc, p->register_error);
        else
            pmq_error_detail(e, "pmq_plugin_init returned %d without a reason", rc);
        return;
    }
    log_debug("loaded plugin \"%s\" %s from \"%s\"", p->name, p->version, p->path);
}

pmq_registry *pmq_registry_load(const pmq_config *cfg, pmq_errors *errs)
{
    pmq_registry *reg = pmq_xcalloc(1, sizeof *reg);
    if (!cfg)
        return reg;
    for (size_t i = 0; i < cfg->nplugins; i++) {
        const pmq_plugin_config *pc = &cfg->plugins[i];
        if (!pc->enabled)
            continue;
        pmq_plugin *p = pmq_xcalloc(1, sizeof *p);
        p->reg = reg;
        p->name = pmq_xstrdup(pc->name ? pc->name : "");
        p->path = resolve_path(cfg, pc->path ? pc->path : "");
        p->origin = pc->origin.file
                        ? pmq_asprintf("%s:%d: [plugin %s] ", pc->origin.file, pc->origin.line,
                                       p->name)
                        : pmq_xstrdup("");
        GROW(reg->plugins, reg->nplugins, reg->plugins_cap);
        reg->plugins[reg->nplugins++] = p;
        if (!pc->path || !*pc->path) {
            pmq_error *e = load_error(errs, p, "no \"path\" given");
            pmq_error_hint(e, "Add path = NAME.so to [plugin %s].", p->name);
            continue;
        }
        load_one(reg, cfg, pc, p, errs);
    }
    return reg;
}

void pmq_registry_free(pmq_registry *reg)
{
    if (!reg)
        return;
    for (size_t i = reg->nfinis; i-- > 0;)
        reg->finis[i].fn(reg->finis[i].state);
    roll_back(reg, 0, 0, 0);
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

/*--- cross-check with the configuration ---*/

static void unserved(pmq_errors *errs, const pmq_registry *reg, const pmq_origin *o,
                     const char *kind, const char *section, const char *queue)
{
    pmq_error *e;
    if (o->file)
        e = pmq_errors_add(errs, "%s:%d: [%s %s] no plugin serves queue \"%s\"", o->file, o->line,
                           kind, section, queue);
    else
        e = pmq_errors_add(errs, "[%s %s] no plugin serves queue \"%s\"", kind, section, queue);

    const char **names = pmq_xcalloc(reg ? reg->nqueues + 1 : 1, sizeof *names);
    for (size_t i = 0; reg && i < reg->nqueues; i++)
        names[i] = reg->queues[i].queue;
    const char *near = pmq_nearest_word(queue, names);
    if (near)
        pmq_error_hint(e, "Did you mean \"%s\"?", near);
    else
        pmq_error_hint(e, "Load the plugin that serves \"%s\" with a [plugin NAME] section, "
                          "or remove the queue from the configuration.",
                       queue);
    free(names);
}

void pmq_registry_check_config(const pmq_registry *reg, const pmq_config *cfg, pmq_errors *errs)
{
    if (!cfg)
        return;
    for (size_t i = 0; i < cfg->nqueues; i++) {
        const pmq_queue_config *q = &cfg->queues[i];
        if (!pmq_registry_handler(reg, q->name))
            unserved(errs, reg, &q->origin, "queue", q->name, q->name);
    }
    for (size_t i = 0; i < cfg->npools; i++) {
        const pmq_pool_config *pool = &cfg->pools[i];
        for (size_t j = 0; j < pool->nqueues && pool->queues[j]; j++)
            if (!pmq_registry_handler(reg, pool->queues[j]))
                unserved(errs, reg, &pool->origin, "pool", pool->name, pool->queues[j]);
    }
    for (size_t i = 0; i < cfg->nschedules; i++) {
        const pmq_schedule_config *s = &cfg->schedules[i];
        if (s->queue && !pmq_registry_handler(reg, s->queue))
            unserved(errs, reg, &s->origin, "schedule", s->name, s->queue);
    }
}
