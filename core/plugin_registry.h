/*
 * plugin_registry.h -- what the loaded plugins registered: the queue ->
 * handler table, their migrations and fini calls, and one record per plugin
 * tried.  plugin_loader fills it; the host table's registration calls
 * (host_api) write to it while a plugin's init runs.  It opens no file and
 * calls no plugin code except the fini calls when it is freed.
 */
#ifndef PMQ_PLUGIN_REGISTRY_H
#define PMQ_PLUGIN_REGISTRY_H

#include <stddef.h>

#include "plugin_keys.h"
#include "pmq/plugin.h"

typedef struct pmq_registry pmq_registry;

/* One plugin tried (the pmq_host a plugin sees is this struct). */
typedef struct pmq_plugin {
    pmq_registry *reg;
    char *name;                 /* the section's NAME */
    char *path;                 /* resolved file */
    char *version;              /* from the descriptor */
    char *origin;               /* "pmqd.ini:12: [plugin NAME] ", or "" */
    unsigned flags;             /* PMQ_PLUGIN_* */
    pmq_plugin_section section; /* the pmq_section its init and handlers see */
    int in_init;                /* register_* is allowed only while this is set */
    char *init_error;           /* from pmq_init_error() */
    char *register_error;       /* first register_* call that was refused */
    char *dup_queue;            /* a queue another plugin already serves */
    char *bad_queue;            /* a queue name against the rule (config.h), shown escaped */
    const struct pmq_plugin *dup_owner;
} pmq_plugin;

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

pmq_registry *pmq_registry_new(void);
/* Call every registered fini, in reverse order, then free the registry. */
void pmq_registry_free(pmq_registry *reg);

/* A new record for plugin `name` from `path`, kept until the registry is freed. */
pmq_plugin *pmq_registry_add_plugin(pmq_registry *reg, const char *name, char *path,
                                    char *origin);

/* How much was registered at one time, to forget what a refused plugin added since. */
typedef struct pmq_registry_mark {
    size_t nqueues, nmigrations, nfinis;
} pmq_registry_mark;

pmq_registry_mark pmq_registry_mark_now(const pmq_registry *reg);
void pmq_registry_roll_back(pmq_registry *reg, pmq_registry_mark mark);

const pmq_queue_handler *pmq_registry_handler(const pmq_registry *reg, const char *queue);
size_t pmq_registry_queue_count(const pmq_registry *reg);
const pmq_queue_handler *pmq_registry_queue_at(const pmq_registry *reg, size_t i);
size_t pmq_registry_migration_count(const pmq_registry *reg);
const pmq_plugin_migration *pmq_registry_migration_at(const pmq_registry *reg, size_t i);

/* Name, version and file of a loaded plugin, for logs. */
const char *pmq_plugin_name(const pmq_plugin *p);
const char *pmq_plugin_version(const pmq_plugin *p);
const char *pmq_plugin_path(const pmq_plugin *p);

/* The registration calls of the host table (pmq_plugin_init only). */
int pmq_host_register_queue(pmq_host *host, const char *queue, pmq_handler_fn handler,
                            void *state);
int pmq_host_register_fini(pmq_host *host, pmq_fini_fn fini, void *state);
int pmq_host_register_migration(pmq_host *host, int version, const char *name, const char *sql);
void pmq_host_init_error(pmq_host *host, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

#endif /* PMQ_PLUGIN_REGISTRY_H */
