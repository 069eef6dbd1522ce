/*
 * keys.c -- a test plugin that declares its section's keys (ABI 1.1), one
 * of each type: pmqd checks the section before init, and the handler of
 * queue "keys" logs what pmq_config_number() and pmq_config_get() return.
 */
#include <inttypes.h>
#include <stdio.h>

#include <pmq/plugin.h>

static const pmq_plugin_key keys[] = {
    {"greeting", PMQ_KEY_STRING, 0, 0, 0, "hello", "the word the handler logs"},
    {"pause", PMQ_KEY_DURATION, 0, 60000, 1000, "0", "how long each job waits"},
    {"limit", PMQ_KEY_INT, 1, 10, 0, "5", "how many things at once"},
    {"buffer", PMQ_KEY_BYTES, 1, 1048576, 0, NULL, "room for one thing"},
    {"loud", PMQ_KEY_BOOL, 0, 0, 0, "no", "shout"},
    {NULL}};

PMQ_PLUGIN_MAGIC_KEYS("keys", "1.0", PMQ_PLUGIN_THREAD_SAFE, keys);

static const pmq_section *saved_section;

/* "name=value" for a declared number, "name=unset" when it has none. */
static void log_number(pmq_ctx *ctx, const char *name)
{
    int64_t v;
    if (pmq_config_number(saved_section, name, &v) == 0)
        pmq_log(ctx, "%s=%" PRId64, name, v);
    else
        pmq_log(ctx, "%s=unset", name);
}

static pmq_status handle(pmq_ctx *ctx, const pmq_job *job, void *state)
{
    pmq_log(ctx, "greeting=%s", pmq_config_get(saved_section, "greeting"));
    log_number(ctx, "pause");
    log_number(ctx, "limit");
    log_number(ctx, "buffer");
    log_number(ctx, "loud");
    log_number(ctx, "greeting"); /* a string: not a number */
    log_number(ctx, "undeclared");
    return PMQ_DONE;
}

int pmq_plugin_init(pmq_host *host, const pmq_api *api, const pmq_section *section)
{
    PMQ_API_INIT(api);
    saved_section = section;
    return pmq_register_queue(host, "keys", handle, NULL);
}
