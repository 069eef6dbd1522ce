/* nomagic.c -- a test plugin without pmq_plugin_magic(): must be refused. */
#include <pmq/plugin.h>

PMQ_EXPORT int pmq_plugin_init(pmq_host *host, const pmq_api *api, const pmq_section *section);

int pmq_plugin_init(pmq_host *host, const pmq_api *api, const pmq_section *section)
{
    return api->register_queue(host, "nomagic", NULL, NULL);
}
