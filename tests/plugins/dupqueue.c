/*
 * dupqueue.c -- a test plugin that registers its own queue, then one the
 * "good" plugin already serves, and returns 0 anyway: the host must refuse
 * it and forget its own queue too.
 */
#include <pmq/plugin.h>

PMQ_PLUGIN_MAGIC("dupqueue", "1.0", 0);

static pmq_status handle(pmq_ctx *ctx, const pmq_job *job, void *state)
{
    return PMQ_DONE;
}

int pmq_plugin_init(pmq_host *host, const pmq_api *api, const pmq_section *section)
{
    PMQ_API_INIT(api);
    (void)pmq_register_queue(host, "dup-own", handle, NULL);
    (void)pmq_register_queue(host, "good-b", handle, NULL);
    return 0;
}
