/*
 * plugin_loader.h -- loads the [plugin NAME] shared objects, checks their
 * descriptor against the host's ABI, runs their init and keeps the registry
 * of queue -> handler and of plugin migrations.  It does not run jobs (see
 * worker) and never unloads a plugin.
 */
#ifndef PMQ_PLUGIN_LOADER_H
#define PMQ_PLUGIN_LOADER_H

#include <stddef.h>

#include "config.h"
#include "errors.h"
#include "pmq/plugin.h"

/* One loaded plugin (the pmq_host a plugin sees is this struct). */
typedef struct pmq_plugin pmq_plugin;

/* A queue some plugin serves. */
typedef struct pmq_queue_handler {
    char *queue;
    pmq_handler_fn handler;
    void *state;
    const pmq_plugin *plugin; /* borrowed */
    int thread_safe;          /* from the plugin's PMQ_PLUGIN_THREAD_SAFE */
} pmq_queue_handler;

/* A schema migration a plugin declared. */
typedef struct pmq_plugin_migration {
    const char *component; /* the plugin's name */
    int version;
    const char *name;
    const char *sql;       /* borrowed from the plugin */
} pmq_plugin_migration;

typedef struct pmq_registry pmq_registry;

/*
 * Load every enabled [plugin] of `cfg`.  A plugin that cannot be loaded adds
 * one error naming its file and the reason, and the others still load.
 * Returns the registry (never NULL); `errs->count` says whether any failed.
 */
pmq_registry *pmq_registry_load(const pmq_config *cfg, pmq_errors *errs);
/* Call every registered fini, in reverse order, then free the registry. */
void pmq_registry_free(pmq_registry *reg);

const pmq_queue_handler *pmq_registry_handler(const pmq_registry *reg, const char *queue);
size_t pmq_registry_queue_count(const pmq_registry *reg);
const pmq_queue_handler *pmq_registry_queue_at(const pmq_registry *reg, size_t i);
size_t pmq_registry_migration_count(const pmq_registry *reg);
const pmq_plugin_migration *pmq_registry_migration_at(const pmq_registry *reg, size_t i);

/* Name, version and file of a loaded plugin, for logs. */
const char *pmq_plugin_name(const pmq_plugin *p);
const char *pmq_plugin_version(const pmq_plugin *p);
const char *pmq_plugin_path(const pmq_plugin *p);

/* The registration calls of the host table, for host_api.c (init only). */
int pmq_host_register_queue(pmq_host *host, const char *queue, pmq_handler_fn handler,
                            void *state);
int pmq_host_register_fini(pmq_host *host, pmq_fini_fn fini, void *state);
int pmq_host_register_migration(pmq_host *host, int version, const char *name, const char *sql);
void pmq_host_init_error(pmq_host *host, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* The host's function table, filled once (host_api.c). */
const pmq_api *pmq_host_api(void);


/*
 * Cross-check the configuration against what the plugins registered: every
 * [queue NAME] and every queue a [pool] names must be served by a plugin.
 * Appends one error per problem, naming file and line.
 */
void pmq_registry_check_config(const pmq_registry *reg, const pmq_config *cfg, pmq_errors *errs);

#endif /* PMQ_PLUGIN_LOADER_H */
