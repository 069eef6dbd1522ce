/*
 * host_api.h -- the host's function table (pmq_api) that plugins call.  It
 * reaches the registry for the registration calls and the job and attempt
 * handles for the rest; it loads nothing (plugin_loader does).
 */
#ifndef PMQ_HOST_API_H
#define PMQ_HOST_API_H

#include "pmq/plugin.h"

/* The table, filled once; every plugin gets the same one. */
const pmq_api *pmq_host_api(void);

#endif /* PMQ_HOST_API_H */
