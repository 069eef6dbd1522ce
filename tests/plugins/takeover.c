/*
 * takeover.c -- a test plugin serving the queue its section names (default
 * "shared-q"); not thread-safe.  Loaded after rollback.so, it must succeed.
 * Its fini appends a line to the section's fini_file, if any.
 */
#include <stdio.h>

#include <pmq/plugin.h>

PMQ_PLUGIN_MAGIC("takeover", "0.9", 0);

static pmq_status handle(pmq_ctx *ctx, const pmq_job *job, void *state)
{
    pmq_log(ctx, "takeover ran");
    return PMQ_DONE;
}

static char fini_file[4096];

static void fini(void *state)
{
    FILE *f = fini_file[0] ? fopen(fini_file, "a") : NULL;
    if (f) {
        fputs("fini takeover\n", f);
        fclose(f);
    }
}

int pmq_plugin_init(pmq_host *host, const pmq_api *api, const pmq_section *section)
{
    PMQ_API_INIT(api);
    const char *queue = pmq_config_get(section, "queue");
    const char *f = pmq_config_get(section, "fini_file");
    if (f)
        snprintf(fini_file, sizeof fini_file, "%s", f);
    if (pmq_register_queue(host, queue ? queue : "shared-q", handle, NULL) != 0) {
        pmq_init_error(host, "could not register \"%s\"", queue ? queue : "shared-q");
        return -1;
    }
    return pmq_register_fini(host, fini, NULL);
}
