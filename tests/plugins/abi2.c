/*
 * abi2.c -- a test plugin built for ABI 2.0, whose descriptor shares only the
 * size and version fields with 1.x: the host must stop there and read
 * nothing else of it (ASan notices if it does).
 */
#include <pmq/plugin.h>

typedef struct magic2 {
    uint32_t size;
    uint16_t abi_major;
    uint16_t abi_minor;
} __attribute__((aligned(8))) magic2;

static const magic2 block = {sizeof(magic2), 2, 0};

PMQ_EXPORT const pmq_plugin_magic_block *pmq_plugin_magic(void);
PMQ_EXPORT int pmq_plugin_init(pmq_host *host, const pmq_api *api, const pmq_section *section);

const pmq_plugin_magic_block *pmq_plugin_magic(void)
{
    return (const pmq_plugin_magic_block *)(const void *)&block;
}

int pmq_plugin_init(pmq_host *host, const pmq_api *api, const pmq_section *section)
{
    return api->register_queue(host, "abi2", NULL, NULL);
}
