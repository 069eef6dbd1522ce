/*
 * queue_settings.h -- the effective settings of a queue: its [queue NAME]
 * section, or the defaults for a queue that has none.
 */
#ifndef PMQ_QUEUE_SETTINGS_H
#define PMQ_QUEUE_SETTINGS_H

#include "config.h"

/* Never NULL: the schema's defaults when `name` has no section. */
const pmq_queue_config *pmq_queue_settings(const pmq_config *cfg, const char *name);

#endif /* PMQ_QUEUE_SETTINGS_H */
