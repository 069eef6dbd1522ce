/*
 * queue_settings.c -- per-queue settings with defaults (see queue_settings.h).
 */
#include "queue_settings.h"

static const pmq_queue_config defaults = {
    .name = NULL,
    .max_attempts = 3,
    .backoff_base_ms = 1000,
    .backoff_max_ms = 3600000,
    .timeout_ms = 30000,
    .rate_limit = 0,
    .priority = 100,
    .max_payload_bytes = 1048576,
};

const pmq_queue_config *pmq_queue_settings(const pmq_config *cfg, const char *name)
{
    const pmq_queue_config *q = cfg ? pmq_config_queue(cfg, name) : NULL;
    return q ? q : &defaults;
}
