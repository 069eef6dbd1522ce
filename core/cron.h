/*
 * cron.h -- five-field cron expressions (minute hour day month weekday):
 * whether one is valid, and why not.  Knows nothing of the configuration
 * file that holds it or of the schedules that use it.
 */
#ifndef PMQ_CRON_H
#define PMQ_CRON_H

/*
 * Why `expr` is not a valid cron expression, as a sentence naming the field
 * (caller frees), or NULL when it is valid.
 */
char *pmq_cron_problem(const char *expr);

#endif /* PMQ_CRON_H */
