/*
 * abi10.c -- a test plugin as built against the ABI 1.0 header: its
 * descriptor ends before the 1.1 fields (keys, key_size) and declares
 * nothing, so any key of its section loads unchecked, read with
 * config_get as in 1.0.
 */
#include <pmq/plugin.h>

/* The 1.0 descriptor, field for field. */
typedef struct magic10 {
    uint32_t size;
    uint16_t abi_major;
    uint16_t abi_minor;
    const char *name;
    const char *version;
    uint32_t flags;
    uint16_t pointer_size;
    uint16_t time_t_size;
} magic10;

static const magic10 block = {sizeof(magic10), 1, 0, "abi10", "1.0", 0,
                              (uint16_t)sizeof(void *), (uint16_t)sizeof(time_t)};

PMQ_EXPORT const pmq_plugin_magic_block *pmq_plugin_magic(void);
PMQ_EXPORT int pmq_plugin_init(pmq_host *host, const pmq_api *api, const pmq_section *section);

static const pmq_api *table;
static const pmq_section *saved_section;

const pmq_plugin_magic_block *pmq_plugin_magic(void)
{
    return (const pmq_plugin_magic_block *)(const void *)&block;
}

static pmq_status handle(pmq_ctx *ctx, const pmq_job *job, void *state)
{
    const char *v = table->config_get(saved_section, "anything");
    table->log(ctx, "anything=%s", v ? v : "(null)");
    return PMQ_DONE;
}

int pmq_plugin_init(pmq_host *host, const pmq_api *api, const pmq_section *section)
{
    table = api;
    saved_section = section;
    return api->register_queue(host, "abi10", handle, NULL);
}
