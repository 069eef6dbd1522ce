/*
 * secrets.h -- passwords: reading a password file that only its owner may
 * read, refusing secrets written in a configuration file, and keeping them
 * out of messages (libpq's reasons quote the text they could not parse).
 * Knows nothing of the configuration's layout.
 */
#ifndef PMQ_SECRETS_H
#define PMQ_SECRETS_H

#include <stddef.h>

/* What to say when a configuration file holds a secret ("%s": what it holds). */
#define PMQ_SECRET_REFUSED_FMT                                                                  \
    "%s is not accepted: secrets do not belong in the configuration file"
#define PMQ_SECRET_REFUSED_HINT                                                                 \
    "Put the password in a file that only pmq can read and set \"password_file\", or name an "  \
    "environment variable in \"password_env\"."

/* Why a password file could not be used: a message and perhaps a hint (caller frees both). */
typedef struct pmq_secret_problem {
    char *message;
    char *hint;
} pmq_secret_problem;

/*
 * The first line of the password file `path` (caller frees with
 * pmq_secret_free), at most `line_max` bytes long; NULL with *why filled
 * when it cannot be read, is not a regular file, is empty or may be read by
 * other users.
 */
char *pmq_password_file_read(const char *path, size_t line_max, pmq_secret_problem *why);

/* Wipe and free a secret (NULL is fine). */
void pmq_secret_free(char *s);

/* Whether libpq's `keyword` holds a secret ("password", "sslpassword"). */
int pmq_secret_keyword(const char *keyword);

/*
 * Whether a conninfo that libpq cannot parse may still hold a secret: a
 * "password" anywhere in it (percent-decoded), or a URI's "user:password@".
 */
int pmq_conninfo_may_hold_secret(const char *conninfo);

/*
 * libpq's reason for refusing a conninfo as a message may show it (caller
 * frees): a quoted piece that is not shaped like a keyword becomes "...", as
 * it may be part of a value.
 */
char *pmq_libpq_reason(const char *why);

#endif /* PMQ_SECRETS_H */
