/*
 * newminor.c -- a test plugin built against a header one ABI minor newer
 * than the host's: it may call functions the host lacks, so it is refused.
 */
#include <pmq/plugin.h>

enum { HOST_MINOR = PMQ_ABI_MINOR };
#undef PMQ_ABI_MINOR
#define PMQ_ABI_MINOR (HOST_MINOR + 1)

PMQ_PLUGIN_MAGIC("newminor", "1.0", 0);

static pmq_status handle(pmq_ctx *ctx, const pmq_job *job, void *state)
{
    return PMQ_DONE;
}

int pmq_plugin_init(pmq_host *host, const pmq_api *api, const pmq_section *section)
{
    PMQ_API_INIT(api);
    return pmq_register_queue(host, "newminor", handle, NULL);
}
