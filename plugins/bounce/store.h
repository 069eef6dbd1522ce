/*
 * store.h -- what a processed bounce writes, in one transaction: the
 * original outbound email_messages row marked bounced (when the email
 * plugin's table exists), a bounce_events row per recipient, and the
 * suppression list.  libpq only; the connection is left idle on return.
 */
#ifndef BOUNCE_STORE_H
#define BOUNCE_STORE_H

#include "report.h"

struct pg_conn;

typedef struct bounce_policy {
    int soft_limit;     /* suppress after this many soft bounces (0: never) */
    long soft_window_s; /* ... within this many seconds */
} bounce_policy;

/* What happened to one recipient of the report. */
typedef struct bounce_outcome {
    int matched;          /* an outbound email_messages row was marked bounced */
    int suppressed;       /* the address is (now) on the suppression list */
    char tenant[128];     /* the tenant it was recorded under ("" for all) */
    char message_id[256]; /* the bounced message's Message-ID, "" when unknown */
} bounce_outcome;

/*
 * Apply `report` (job `job_id`, tenant `tenant` or NULL: then the matched
 * message's tenant, else '').  `outcomes` has one slot per recipient.
 * Returns 0, or -1 with *err (nothing written).  A re-run of the same job
 * adds no bounce_events row and so counts no soft bounce twice.
 */
int bounce_store_apply(struct pg_conn *pg, const bounce_report *report, const char *job_id,
                       const char *tenant, const bounce_policy *policy, bounce_outcome *outcomes,
                       char **err);

#endif /* BOUNCE_STORE_H */
