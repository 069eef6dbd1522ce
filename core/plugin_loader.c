/*
 * plugin_loader.c -- dlopen()s the [plugin NAME] shared objects, checks their
 * descriptor and section, and runs their init (see plugin_loader.h).  What
 * they register goes to plugin_registry.c through the host table.
 */
#include <dlfcn.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "host_api.h"
#include "log.h"
#include "plugin_keys.h"
#include "plugin_loader.h"
#include "util.h"

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

/*
 * Take the section keys a 1.1 descriptor declares (none from a 1.0 one),
 * then check the section against them.  Returns 0, or -1 after adding the
 * errors: one for a table the plugin got wrong, one per bad key otherwise.
 */
static int check_keys(const pmq_plugin_magic_block *m, pmq_plugin *p, pmq_errors *errs)
{
    size_t need = offsetof(pmq_plugin_magic_block, key_size) + sizeof m->key_size;
    if (m->abi_minor < 1 || m->size < need || !m->keys)
        return 0;
    char *why = pmq_plugin_keys_invalid(m->keys, m->key_size, &p->section.nkeys);
    if (why) {
        pmq_error *e = load_error(errs, p, "invalid key declaration");
        pmq_error_detail(e, "%s", why);
        pmq_error_hint(e, "Fix the plugin's pmq_plugin_key table (see <pmq/plugin.h>).");
        free(why);
        return -1;
    }
    p->section.keys = m->keys;
    p->section.key_size = m->key_size;
    return pmq_plugin_section_check(&p->section, errs) ? -1 : 0;
}

/* dlsym() one of the two entry points, or report it missing with `hint`. */
static void *entry_point(void *dl, const char *name, const pmq_plugin *p, pmq_errors *errs,
                         const char *hint)
{
    void *fn = dlsym(dl, name);
    if (!fn)
        pmq_error_hint(load_error(errs, p, "missing entry point \"%s\"", name), "%s", hint);
    return fn;
}

/* Open, check and initialise one plugin; on failure, one error and nothing kept. */
static void load_one(pmq_registry *reg, const pmq_config *cfg, pmq_plugin *p, pmq_errors *errs)
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

    pmq_plugin_magic_fn magic_fn = (pmq_plugin_magic_fn)entry_point(
        dl, PMQ_PLUGIN_MAGIC_FUNC, p, errs,
        "Is this a pmq plugin? Define its descriptor with PMQ_PLUGIN_MAGIC() from <pmq/plugin.h>.");
    if (!magic_fn)
        return;
    const pmq_plugin_magic_block *m = magic_fn();
    if (check_magic(m, p, errs) != 0)
        return;

    /* Looked up after the version check: another major may name it otherwise. */
    pmq_plugin_init_fn init_fn = (pmq_plugin_init_fn)entry_point(
        dl, PMQ_PLUGIN_INIT_FUNC, p, errs,
        "Export an init function: int pmq_plugin_init(pmq_host *, const pmq_api *, const "
        "pmq_section *).");
    if (!init_fn)
        return;
    if (check_keys(m, p, errs) != 0)
        return;
    p->flags = m->flags;
    p->version = pmq_xstrdup(m->version ? m->version : "");

    pmq_registry_mark mark = pmq_registry_mark_now(reg);
    p->in_init = 1;
    int rc = init_fn((pmq_host *)p, pmq_host_api(), (const pmq_section *)&p->section);
    p->in_init = 0;

    if (p->bad_queue) {
        pmq_registry_roll_back(reg, mark);
        e = load_error(errs, p, "invalid queue name \"%s\"", p->bad_queue);
        pmq_error_detail(e, "%s", PMQ_QUEUE_NAME_DETAIL);
        pmq_error_hint(e, "Queue names become Redis keys and table rows: change the name the "
                          "plugin registers.");
        return;
    }
    if (p->dup_queue) {
        pmq_registry_roll_back(reg, mark);
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
        pmq_registry_roll_back(reg, mark);
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
    pmq_registry *reg = pmq_registry_new();
    if (!cfg)
        return reg;
    for (size_t i = 0; i < cfg->nplugins; i++) {
        const pmq_plugin_config *pc = &cfg->plugins[i];
        if (!pc->enabled)
            continue;
        const char *name = pc->name ? pc->name : "";
        char *origin = pc->origin.file ? pmq_asprintf("%s:%d: [plugin %s] ", pc->origin.file,
                                                      pc->origin.line, name)
                                       : pmq_xstrdup("");
        char *path = resolve_path(cfg, pc->path ? pc->path : "");
        pmq_plugin *p = pmq_registry_add_plugin(reg, name, path, origin);
        p->section.config = pc;
        if (!pc->path || !*pc->path) {
            pmq_error *e = load_error(errs, p, "no \"path\" given");
            pmq_error_hint(e, "Add path = NAME.so to [plugin %s].", p->name);
            continue;
        }
        load_one(reg, cfg, p, errs);
    }
    return reg;
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

    size_t n = pmq_registry_queue_count(reg);
    const char **names = pmq_xcalloc(n + 1, sizeof *names);
    for (size_t i = 0; i < n; i++)
        names[i] = pmq_registry_queue_at(reg, i)->queue;
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
