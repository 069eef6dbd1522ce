/*
 * badkeys.c -- a test plugin whose key table contradicts itself (a default
 * its own type refuses): the host refuses to load it, without running init.
 */
#include <pmq/plugin.h>

static const pmq_plugin_key keys[] = {
    {"timeout", PMQ_KEY_DURATION, 1000, 60000, 1000, "soon", "how long to wait"},
    {NULL}};

PMQ_PLUGIN_MAGIC_KEYS("badkeys", "1.0", 0, keys);

static pmq_status handle(pmq_ctx *ctx, const pmq_job *job, void *state)
{
    return PMQ_DONE;
}

int pmq_plugin_init(pmq_host *host, const pmq_api *api, const pmq_section *section)
{
    PMQ_API_INIT(api);
    return pmq_register_queue(host, "badkeys", handle, NULL);
}
