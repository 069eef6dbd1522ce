/*
 * initfail.c -- a test plugin whose init fails: with a reason, or without
 * one when its section says silent = 1.
 */
#include <pmq/plugin.h>

PMQ_PLUGIN_MAGIC("initfail", "1.0", 0);

int pmq_plugin_init(pmq_host *host, const pmq_api *api, const pmq_section *section)
{
    PMQ_API_INIT(api);
    if (!pmq_config_get(section, "silent"))
        pmq_init_error(host, "cannot reach the relay at %s:%d", "smtp.invalid", 25);
    return -1;
}
