/*
 * hello-outoftree.c -- the plugin tests/outoftree.sh builds outside the tree
 * with `cc -shared -fPIC $(pkg-config --cflags pmq-plugin)`, against the
 * installed <pmq/plugin.h> only.
 */
#include <pmq/plugin.h>

PMQ_PLUGIN_MAGIC("hello", "1.0.0", PMQ_PLUGIN_THREAD_SAFE);

static pmq_status hello(pmq_ctx *ctx, const pmq_job *job, void *state)
{
    pmq_log(ctx, "hello from attempt %d", pmq_job_attempt(job));
    return PMQ_DONE;
}

int pmq_plugin_init(pmq_host *host, const pmq_api *api, const pmq_section *section)
{
    PMQ_API_INIT(api);
    return pmq_register_queue(host, "hello", hello, NULL);
}
