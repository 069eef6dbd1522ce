/*
 * badqueue.c -- a test plugin that registers its own queue, then one whose
 * name breaks the queue-name rule (the section's "which" picks it), and
 * returns 0 anyway: the host must refuse it and forget its own queue too.
 */
#include <pmq/plugin.h>
#include <stdlib.h>

PMQ_PLUGIN_MAGIC("badqueue", "1.0", 0);

static const char *const bad_names[] = {
    "mail\nqueue", "mail queue", "mail{1}", "mail*", "mail\"q",
    /* 64 characters: one too many */
    "q123456789012345678901234567890123456789012345678901234567890123",
};

static pmq_status handle(pmq_ctx *ctx, const pmq_job *job, void *state)
{
    return PMQ_DONE;
}

int pmq_plugin_init(pmq_host *host, const pmq_api *api, const pmq_section *section)
{
    PMQ_API_INIT(api);
    const char *which = pmq_config_get(section, "which");
    int i = which ? atoi(which) : 0;
    if (i < 0 || i >= (int)(sizeof bad_names / sizeof *bad_names))
        i = 0;
    (void)pmq_register_queue(host, "badqueue-own", handle, NULL);
    (void)pmq_register_queue(host, bad_names[i], handle, NULL);
    return 0;
}
