/*
 * classify.h -- what a bounce's words mean: the SMTP reply code and the
 * enhanced status code (RFC 3463) found in a diagnostic text, and whether
 * the failure is hard (the address is bad: suppress it) or soft (it may
 * work later).  Plain string functions, no MIME and no SQL.
 */
#ifndef BOUNCE_CLASSIFY_H
#define BOUNCE_CLASSIFY_H

typedef struct bounce_codes {
    char smtp[4];    /* "550", or "" when the text has none */
    char status[16]; /* "5.1.1", or "" when the text has none */
    int line_start;  /* offset of the line holding them in the text, -1 when none */
} bounce_codes;

/*
 * Find the reply code and the enhanced status code of the first line of
 * `text` that holds one (a line with both wins over an earlier one with
 * only one of them).
 */
void bounce_find_codes(const char *text, bounce_codes *out);

/*
 * 1 for a hard bounce, 0 for a soft one.  `status` and `smtp` may be NULL
 * or ""; `text` is the diagnostic (may be NULL); `delayed` is set for a
 * DSN whose Action is "delayed".  The rules, first match wins:
 *   delayed, X.2.2 (mailbox full) or words of a full mailbox -> soft;
 *   status 4.x.x -> soft; 5.7.x (policy, spam blocks) without words of an
 *   unknown address -> soft; other 5.x.x -> hard;
 *   reply 4xx -> soft; 5xx -> hard;
 *   words of an unknown user or domain -> hard; anything else -> soft.
 */
int bounce_is_hard(const char *status, const char *smtp, const char *text, int delayed);

#endif /* BOUNCE_CLASSIFY_H */
