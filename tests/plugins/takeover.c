/*
 * takeover.c -- a test plugin serving the queue its section names (default
 * "shared-q"); not thread-safe.  Loaded after rollback.so, it must succeed.
 */
#include <pmq/plugin.h>

PMQ_PLUGIN_MAGIC("takeover", "0.9", 0);

static pmq_status handle(pmq_ctx *ctx, const pmq_job *job, void *state)
{
    pmq_log(ctx, "takeover ran");
    return PMQ_DONE;
}

int pmq_plugin_init(pmq_host *host, const pmq_api *api, const pmq_section *section)
{
    PMQ_API_INIT(api);
    const char *queue = pmq_config_get(section, "queue");
    if (pmq_register_queue(host, queue ? queue : "shared-q", handle, NULL) != 0) {
        pmq_init_error(host, "could not register \"%s\"", queue ? queue : "shared-q");
        return -1;
    }
    return 0;
}
