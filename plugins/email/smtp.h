/*
 * smtp.h -- hands one message to an SMTP server with libcurl and says what
 * the server replied; owns no SQL and no message building.  Call
 * curl_global_init() once before using it.
 */
#ifndef EMAIL_SMTP_H
#define EMAIL_SMTP_H

#include <stddef.h>

typedef struct email_smtp_config {
    const char *url;      /* smtp://host:port[/ehlo-name] or smtps://... */
    int starttls;         /* require STARTTLS (CURLUSESSL_ALL) */
    const char *username; /* NULL: no AUTH */
    const char *password;
    const char *ca_file; /* NULL: the system's CA store */
    long timeout_ms;     /* the whole transaction */
} email_smtp_config;

typedef enum email_smtp_outcome {
    EMAIL_SMTP_SENT,      /* the server accepted the message (2xx after DATA) */
    EMAIL_SMTP_TEMPORARY, /* 4xx, no reply at all, or a problem worth retrying */
    EMAIL_SMTP_PERMANENT  /* 5xx: the server refused this message for good */
} email_smtp_outcome;

typedef struct email_smtp_result {
    email_smtp_outcome outcome;
    long code;        /* the last SMTP reply code, 0 when there was none */
    char reply[1024]; /* the server's last reply, lines joined by " " */
    char error[512];  /* curl's account of a failure ("RCPT failed: 550") */
} email_smtp_result;

/*
 * Send `data` (`len` bytes, CRLF line endings; curl dot-stuffs it) from the
 * envelope sender `mail_from` to `rcpts` (`nrcpts` bare addresses).  Fills
 * `res`; returns 0 when the message was accepted, -1 otherwise.
 */
int email_smtp_send(const email_smtp_config *cfg, const char *mail_from, char *const *rcpts,
                    size_t nrcpts, const char *data, size_t len, email_smtp_result *res);

/* One line for the job's error: the reply when there is one, else curl's error. */
void email_smtp_describe(const email_smtp_result *res, char *buf, size_t size);

#endif /* EMAIL_SMTP_H */
