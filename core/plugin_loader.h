/*
 * plugin_loader.h -- loads the [plugin NAME] shared objects, checks their
 * descriptor against the host's ABI and their section against the keys
 * they declare, and runs their init, which fills the registry
 * (plugin_registry.h: queue -> handler, plugin migrations).  It does not
 * run jobs (see worker) and never unloads a plugin.
 */
#ifndef PMQ_PLUGIN_LOADER_H
#define PMQ_PLUGIN_LOADER_H

#include <stddef.h>

#include "config.h"
#include "errors.h"
#include "plugin_registry.h"

/*
 * Load every enabled [plugin] of `cfg`.  A plugin that cannot be loaded adds
 * one error naming its file and the reason (or one per bad key of its
 * section, naming file and line), and the others still load.  Returns the
 * registry (never NULL); `errs->count` says whether any failed.
 */
pmq_registry *pmq_registry_load(const pmq_config *cfg, pmq_errors *errs);

/*
 * Cross-check the configuration against what the plugins registered: every
 * [queue NAME] and every queue a [pool] names must be served by a plugin.
 * Appends one error per problem, naming file and line.
 */
void pmq_registry_check_config(const pmq_registry *reg, const pmq_config *cfg, pmq_errors *errs);

#endif /* PMQ_PLUGIN_LOADER_H */
