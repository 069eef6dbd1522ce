/*
 * compose.h -- the RFC 5322 message an email-sending job asks for, built
 * with GMime from the payload's "email_data"; knows nothing of SMTP or SQL.
 * Call g_mime_init() once before using it.
 */
#ifndef EMAIL_COMPOSE_H
#define EMAIL_COMPOSE_H

#include <stddef.h>
#include <time.h>

struct json_object;

typedef struct email_outgoing {
    char *message_id; /* "<id@domain>" */
    char *from_addr;  /* the From mailbox, bare address */
    char **rcpts;     /* the To mailboxes, bare (IDN-encoded) addresses */
    size_t nrcpts;
    char *to_addr; /* the To mailboxes, ", "-separated, for the row */
    char *subject; /* as given, or NULL */
    char *data;    /* the whole message, CRLF line endings */
    size_t len;
} email_outgoing;

/*
 * Build the message `email_data` describes: from (optionally with its
 * display name in from_name), to (a string or an array of strings),
 * subject, text and/or html, headers {name: value}, message_id.  Without a message_id the
 * Message-ID is "<job_id@domain>", the domain being `msgid_domain` or the From address's, so a
 * retried job sends the same Message-ID.  `now` is the Date (0: the current time). Returns 0, or -1
 * with *err set to why the payload is wrong (caller frees).
 */
int email_compose(struct json_object *email_data, const char *job_id, const char *msgid_domain,
                  time_t now, email_outgoing *out, char **err);

/* Free what email_compose() filled in. */
void email_outgoing_clear(email_outgoing *out);

#endif /* EMAIL_COMPOSE_H */
