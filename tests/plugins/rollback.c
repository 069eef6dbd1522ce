/*
 * rollback.c -- a test plugin whose init registers a queue, a migration and
 * a fini, then fails: none of them may remain (another plugin may then
 * serve "shared-q", and the fini is never called).
 */
#include <stdio.h>

#include <pmq/plugin.h>

PMQ_PLUGIN_MAGIC("rollback", "1.0", 0);

static char fini_file[4096];

static pmq_status handle(pmq_ctx *ctx, const pmq_job *job, void *state)
{
    return PMQ_DONE;
}

static void fini(void *state)
{
    FILE *f = fini_file[0] ? fopen(fini_file, "a") : NULL;
    if (f) {
        fputs("fini rollback\n", f);
        fclose(f);
    }
}

int pmq_plugin_init(pmq_host *host, const pmq_api *api, const pmq_section *section)
{
    PMQ_API_INIT(api);
    const char *f = pmq_config_get(section, "fini_file");
    if (f)
        snprintf(fini_file, sizeof fini_file, "%s", f);
    if (pmq_register_queue(host, "shared-q", handle, NULL) != 0 ||
        pmq_register_migration(host, 7, "create rollback_rows", "CREATE TABLE rollback_rows ()") !=
            0 ||
        pmq_register_fini(host, fini, NULL) != 0)
        return 0; /* the test sees the queue still registered and fails */
    pmq_init_error(host, "gave up after registering queue \"%s\"", "shared-q");
    return -1;
}
