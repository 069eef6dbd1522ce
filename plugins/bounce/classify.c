/*
 * classify.c -- reply codes, enhanced status codes and hard/soft
 * classification of a bounce's diagnostic text.
 */
#include <ctype.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "classify.h"

/* Case-insensitive substring search (ASCII). */
static int contains(const char *hay, const char *needle)
{
    size_t n = strlen(needle);
    for (const char *p = hay; p && *p; p++)
        if (!strncasecmp(p, needle, n))
            return 1;
    return 0;
}

static int contains_any(const char *text, const char *const *words)
{
    for (size_t i = 0; text && words[i]; i++)
        if (contains(text, words[i]))
            return 1;
    return 0;
}

static const char *const full_mailbox[] = {"mailbox full",
                                           "mailbox is full",
                                           "mailbox has exceeded",
                                           "over quota",
                                           "overquota",
                                           "quota exceeded",
                                           "exceeded storage",
                                           "exceeds quota",
                                           "exceeded the quota",
                                           "insufficient system storage",
                                           "out of storage",
                                           "storage allocation",
                                           "user is over",
                                           NULL};

static const char *const unknown_address[] = {
    "user unknown",        "unknown user",        "no such user",
    "no such recipient",   "does not exist",      "doesn't exist",
    "doesn't have a",      "does not have a",     "not found",
    "mailbox unavailable", "invalid recipient",   "invalid mailbox",
    "invalid address",     "recipient rejected",  "address rejected",
    "no such domain",      "unrouteable",         "unroutable",
    "no mailbox",          "account disabled",    "account has been disabled",
    "recipnotfound",       "no longer available", NULL};

/* An enhanced status code ("5.1.1") at p: its length, or 0. */
static size_t status_at(const char *text, const char *p)
{
    if ((*p != '4' && *p != '5') || (p > text && (isalnum((unsigned char)p[-1]) || p[-1] == '.')))
        return 0;
    const char *q = p + 1;
    for (int field = 0; field < 2; field++) {
        if (*q != '.')
            return 0;
        q++;
        int digits = 0;
        while (isdigit((unsigned char)*q) && digits < 4) {
            q++;
            digits++;
        }
        if (digits < 1 || digits > 3)
            return 0;
    }
    if (isalnum((unsigned char)*q) || (*q == '.' && isdigit((unsigned char)q[1])))
        return 0;
    return (size_t)(q - p);
}

/* A reply code ("550") at p, where a server's reply would start.  1 or 0. */
static int smtp_at(const char *line, const char *p)
{
    if ((*p != '4' && *p != '5') || !isdigit((unsigned char)p[1]) || !isdigit((unsigned char)p[2]))
        return 0;
    char after = p[3];
    if (after && after != ' ' && after != '-' && after != ':' && after != '\'' && after != '"' &&
        after != ')' && after != '\r' && after != '\n')
        return 0;
    const char *b = p;
    while (b > line && (b[-1] == ' ' || b[-1] == '\t'))
        b--;
    /* At the start of the line, or after "said:", a quote, "(" or "#". */
    return b == line || b[-1] == ':' || b[-1] == '\'' || b[-1] == '"' || b[-1] == '(' ||
           b[-1] == '#';
}

void bounce_find_codes(const char *text, bounce_codes *out)
{
    memset(out, 0, sizeof *out);
    out->line_start = -1;
    if (!text)
        return;
    int have_partial = 0;
    for (const char *line = text; *line;) {
        size_t len = strcspn(line, "\n");
        char smtp[4] = "", status[16] = "";
        for (const char *p = line; p < line + len; p++) {
            size_t n;
            if (!status[0] && (n = status_at(text, p)) > 0 && n < sizeof status)
                snprintf(status, sizeof status, "%.*s", (int)n, p);
            else if (!smtp[0] && smtp_at(line, p))
                snprintf(smtp, sizeof smtp, "%.3s", p);
        }
        if (smtp[0] || status[0]) {
            int both = smtp[0] && status[0];
            if (both || !have_partial) {
                memcpy(out->smtp, smtp, sizeof smtp);
                memcpy(out->status, status, sizeof status);
                out->line_start = (int)(line - text);
                have_partial = 1;
            }
            if (both)
                return;
        }
        line += len;
        if (*line)
            line++;
    }
}

int bounce_is_hard(const char *status, const char *smtp, const char *text, int delayed)
{
    if (delayed || contains_any(text, full_mailbox))
        return 0;
    if (status && status[0] == '5' && !strncmp(status + 1, ".2.2", 4) &&
        !isdigit((unsigned char)status[5]))
        return 0;
    if (status && status[0] == '4')
        return 0;
    if (status && status[0] == '5') {
        if (!strncmp(status + 1, ".7.", 3) && !contains_any(text, unknown_address))
            return 0;
        return 1;
    }
    if (smtp && smtp[0] == '4')
        return 0;
    if (smtp && smtp[0] == '5')
        return 1;
    return contains_any(text, unknown_address);
}
