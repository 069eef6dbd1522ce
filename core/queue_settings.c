/*
 * queue_settings.c -- per-queue settings with defaults (see queue_settings.h).
 */
#include <pthread.h>
#include <stdlib.h>

#include "config_schema.h"
#include "queue_settings.h"

/* [queue NAME]'s defaults, read once from the schema's rows (config_schema.c). */
static pmq_queue_config defaults;
static pthread_once_t defaults_once = PTHREAD_ONCE_INIT;

static void read_defaults(void)
{
    const char *bad = NULL;
    if (pmq_schema_defaults(PMQ_SECTION_QUEUE, &defaults, "", &bad) < 0)
        abort(); /* a row whose default does not fit it: test_config catches that */
}

const pmq_queue_config *pmq_queue_settings(const pmq_config *cfg, const char *name)
{
    const pmq_queue_config *q = cfg ? pmq_config_queue(cfg, name) : NULL;
    if (q)
        return q;
    pthread_once(&defaults_once, read_defaults);
    return &defaults;
}
