/*
 * store.h -- the email plugin's rows: the suppression check, the outbound
 * email_messages row of a send, and a received message with its content and
 * attachments.  libpq only; the caller owns the connection, which is left
 * idle (no open transaction) on return.
 */
#ifndef EMAIL_STORE_H
#define EMAIL_STORE_H

#include <stddef.h>

#include "inbound.h"

struct pg_conn;

typedef struct email_suppression {
    char *email, *bounce_type, *status_code, *diagnostic; /* NULL when the row has none */
} email_suppression;

/*
 * Is one of `rcpts` on the suppression list (table "suppressions", when it
 * exists) for `tenant` (NULL: none) or for every tenant ('')?  Returns 1 and
 * fills `sup` (free with email_suppression_clear), 0, or -1 with *err.
 */
int email_store_suppressed(struct pg_conn *pg, const char *tenant, char *const *rcpts,
                           size_t nrcpts, email_suppression *sup, char **err);
void email_suppression_clear(email_suppression *sup);

/*
 * Was the outbound message `message_id` already handed to a server (status
 * sent, delivered or bounced)?  Returns 1 (and its status in *status, caller
 * frees), 0, or -1 with *err.
 */
int email_store_already_sent(struct pg_conn *pg, const char *message_id, char **status, char **err);

typedef struct email_outbound_row {
    const char *tenant_id, *campaign_id, *lead_id, *message_id, *from_addr, *to_addr, *subject;
    const char *status; /* "sent" or "failed" */
    const char *smtp_response;
    const char *job_id;
} email_outbound_row;

/* Insert or update the outbound row of `row->message_id`.  0, or -1 with *err. */
int email_store_outbound(struct pg_conn *pg, const email_outbound_row *row, char **err);

/*
 * Store a received message in one transaction: email_messages (inbound,
 * received), email_content, attachments.  A message already stored (same
 * Message-ID, or, without one, the same job) is left alone.  Returns 1 when
 * stored, 0 when it was there already, -1 with *err (nothing written).
 */
int email_store_inbound(struct pg_conn *pg, const email_inbound *msg, const char *tenant,
                        const char *job_id, char **err);

#endif /* EMAIL_STORE_H */
