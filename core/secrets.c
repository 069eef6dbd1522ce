/*
 * secrets.c -- password files, and secrets kept out of the configuration
 * file and out of messages (see secrets.h).
 */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "secrets.h"
#include "util.h"

/* Longer than any libpq keyword: a longer quoted piece is a value. */
#define KEYWORD_MAX_LEN 63

static char *fail(pmq_secret_problem *why, int fd, char *message)
{
    why->message = message;
    if (fd >= 0)
        close(fd);
    return NULL;
}

char *pmq_password_file_read(const char *path, size_t line_max, pmq_secret_problem *why)
{
    *why = (pmq_secret_problem){NULL, NULL};
    /* Not blocking: a FIFO must be refused, not waited on. */
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
    if (fd < 0)
        return fail(why, fd,
                    pmq_asprintf("could not open password file \"%s\": %s", path, strerror(errno)));
    struct stat st;
    if (fstat(fd, &st) < 0)
        return fail(why, fd,
                    pmq_asprintf("could not stat password file \"%s\": %s", path, strerror(errno)));
    if (!S_ISREG(st.st_mode))
        return fail(why, fd, pmq_asprintf("password file \"%s\" is not a regular file", path));
    if (st.st_mode & 077) {
        why->hint = pmq_asprintf("Run chmod 600 \"%s\".", path);
        return fail(why, fd,
                    pmq_asprintf("password file \"%s\" is accessible by other users (mode %04o)",
                                 path, (unsigned)(st.st_mode & 07777)));
    }
    FILE *fp = fdopen(fd, "r");
    if (!fp)
        return fail(why, fd,
                    pmq_asprintf("could not read password file \"%s\": %s", path, strerror(errno)));
    /* Its first line, as long as a configuration line may be. */
    size_t cap = line_max + 2;
    char *line = pmq_xmalloc(cap);
    errno = 0;
    char *password = NULL;
    if (!fgets(line, (int)cap, fp)) {
        if (ferror(fp))
            why->message = pmq_asprintf("could not read password file \"%s\": %s", path,
                                        strerror(errno ? errno : EIO));
        else
            why->message = pmq_asprintf("password file \"%s\" is empty", path);
    } else if (!strchr(line, '\n') && strlen(line) > line_max) {
        why->message = pmq_asprintf("the first line of password file \"%s\" is longer than %zu "
                                    "bytes",
                                    path, line_max);
    } else if (line[0] == '\n' || (line[0] == '\r' && line[1] == '\n')) {
        why->message = pmq_asprintf("password file \"%s\" is empty", path);
    } else {
        line[strcspn(line, "\r\n")] = '\0';
        password = pmq_xstrdup(line);
    }
    explicit_bzero(line, cap);
    free(line);
    fclose(fp);
    return password;
}

void pmq_secret_free(char *s)
{
    if (s) {
        explicit_bzero(s, strlen(s));
        free(s);
    }
}

int pmq_secret_keyword(const char *keyword)
{
    return !strcmp(keyword, "password") || !strcmp(keyword, "sslpassword");
}

int pmq_conninfo_may_hold_secret(const char *s)
{
    char *low = pmq_xstrdup(s), *o = low;
    for (const char *p = s; *p; p++) {
        if (p[0] == '%' && isxdigit((unsigned char)p[1]) && isxdigit((unsigned char)p[2])) {
            char hex[3] = {p[1], p[2], '\0'};
            *o++ = (char)tolower((int)strtol(hex, NULL, 16));
            p += 2;
        } else {
            *o++ = (char)tolower((unsigned char)*p);
        }
    }
    *o = '\0';
    int found = strstr(low, "password") != NULL;
    free(low);
    const char *scheme = strstr(s, "://");
    const char *at = scheme ? strrchr(scheme, '@') : NULL;
    return found || (at && memchr(scheme + 3, ':', (size_t)(at - scheme - 3)));
}

/*
 * libpq quotes pieces of the string (a keyword, a token, the whole URI);
 * its own punctuation ("=", ":") and keywords are kept.
 */
char *pmq_libpq_reason(const char *why)
{
    /* "" becomes "...": the text may grow to 5/2 of its length (found by tests/fuzz). */
    char *out = pmq_xmalloc(strlen(why) * 3 + 1), *o = out;
    for (const char *p = why; *p;) {
        const char *close = *p == '"' ? strchr(p + 1, '"') : NULL;
        if (!close) {
            *o++ = *p++;
            continue;
        }
        size_t n = (size_t)(close - p - 1);
        int keyword = n == 1 && strchr("=:/]", p[1]);
        if (!keyword && n > 0 && n <= KEYWORD_MAX_LEN) {
            keyword = 1;
            for (size_t i = 0; i < n; i++)
                keyword &= islower((unsigned char)p[1 + i]) || p[1 + i] == '_';
        }
        *o++ = '"';
        if (keyword) {
            memcpy(o, p + 1, n);
            o += n;
        } else {
            memcpy(o, "...", 3);
            o += 3;
        }
        *o++ = '"';
        p = close + 1;
    }
    /* libpq ends its reasons with a newline. */
    while (o > out && isspace((unsigned char)o[-1]))
        o--;
    *o = '\0';
    return out;
}
