/*
 * inbound.h -- a received RFC 5322 message taken apart with GMime: the
 * addresses, the decoded subject, the text and HTML bodies in UTF-8, the
 * headers as JSON and the decoded attachments.  Every string is valid UTF-8
 * without NULs (../common/utf8.h), as PostgreSQL needs.  No SQL here.  Call
 * g_mime_init() once before using it.
 */
#ifndef EMAIL_INBOUND_H
#define EMAIL_INBOUND_H

#include <stddef.h>

typedef struct email_attachment {
    char *filename;      /* NULL when the part names none */
    char *content_type;  /* "type/subtype", lower case */
    unsigned char *data; /* decoded content */
    size_t len;
    char sha256[65]; /* of the decoded content, lower-case hex */
} email_attachment;

typedef struct email_inbound {
    char *message_id;   /* "<id@domain>", or NULL when the message has none */
    char *from_addr;    /* the first From mailbox, bare address */
    char *to_addr;      /* the To mailboxes, ", "-separated, or NULL */
    char *subject;      /* decoded, UTF-8, or NULL */
    char *date;         /* the Date header as ISO 8601, or NULL */
    char *text_body;    /* the first text/plain body part, UTF-8, or NULL */
    char *html_body;    /* the first text/html body part, UTF-8, or NULL */
    char *headers_json; /* the top-level headers: {"Name": "value" or [values...]} */
    email_attachment *attachments;
    size_t nattachments;
} email_inbound;

/*
 * Parse `len` bytes of `raw`.  Returns 0, or -1 with *err saying why the
 * message cannot be stored (no header, not parseable, no From address);
 * the caller frees *err.
 */
int email_inbound_parse(const char *raw, size_t len, email_inbound *out, char **err);

/* Free what email_inbound_parse() filled in. */
void email_inbound_clear(email_inbound *msg);

#endif /* EMAIL_INBOUND_H */
