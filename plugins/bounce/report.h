/*
 * report.h -- a bounce message read with GMime: an RFC 3464 delivery status
 * notification (multipart/report; report-type=delivery-status) or one of
 * the plain-text notices large providers and MTAs send (Gmail, Outlook,
 * Yahoo, qmail, Exim, sendmail...).  Gives the failed recipients, their
 * codes, diagnostics and hard/soft classification, and the Message-ID of
 * the message that bounced.  No SQL here.  Call g_mime_init() first.
 */
#ifndef BOUNCE_REPORT_H
#define BOUNCE_REPORT_H

#include <stddef.h>

typedef struct bounce_recipient {
    char *email;      /* lower-cased bare address */
    char *status;     /* enhanced status code "5.1.1", or NULL */
    char *smtp_code;  /* reply code "550", or NULL */
    char *diagnostic; /* the remote server's words, one line, or NULL */
    int delayed;      /* a DSN "Action: delayed" */
    int hard;         /* 1 hard, 0 soft (classify.h) */
} bounce_recipient;

typedef struct bounce_report {
    int dsn;                   /* 1: RFC 3464 report, 0: a provider's text */
    char *original_message_id; /* "<id@domain>" of the bounced message, or NULL */
    bounce_recipient *rcpts;
    size_t nrcpts;
} bounce_report;

/*
 * Read `len` bytes of `raw`.  Returns 1 for a bounce (at least one failed
 * recipient in `out`, free with bounce_report_clear), or 0 with *why saying
 * why it is not one (caller frees).
 */
int bounce_report_parse(const char *raw, size_t len, bounce_report *out, char **why);

void bounce_report_clear(bounce_report *report);

/* The code to record for a recipient: its enhanced status, else its reply code, else NULL. */
const char *bounce_status_code(const bounce_recipient *r);

#endif /* BOUNCE_REPORT_H */
