/*
 * util.c -- allocation, formatting, clocks and number parsing shared by every
 * module.  Running out of memory is not recoverable in pmq: we abort.
 */

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "util.h"

static void out_of_memory(void)
{
    fputs("pmq: out of memory\n", stderr);
    abort();
}

void *pmq_xmalloc(size_t n)
{
    void *p = malloc(n ? n : 1);
    if (!p)
        out_of_memory();
    return p;
}

void *pmq_xcalloc(size_t n, size_t size)
{
    void *p = calloc(n ? n : 1, size ? size : 1);
    if (!p)
        out_of_memory();
    return p;
}

void *pmq_xrealloc(void *p, size_t n)
{
    p = realloc(p, n ? n : 1);
    if (!p)
        out_of_memory();
    return p;
}

char *pmq_xstrdup(const char *s)
{
    char *d = strdup(s);
    if (!d)
        out_of_memory();
    return d;
}

char *pmq_vasprintf(const char *fmt, va_list ap)
{
    char *s;
    if (vasprintf(&s, fmt, ap) < 0)
        out_of_memory();
    return s;
}

char *pmq_asprintf(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char *s = pmq_vasprintf(fmt, ap);
    va_end(ap);
    return s;
}

void pmq_free_strings(char **v, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(v[i]);
    free(v);
}

/* The length of the UTF-8 sequence at `p` (1 to 4), or 0 when it is not one. */
static size_t utf8_seq(const unsigned char *p)
{
    if (p[0] < 0x80)
        return 1;
    size_t n = p[0] >= 0xF0 ? 4 : p[0] >= 0xE0 ? 3 : p[0] >= 0xC2 ? 2 : 0;
    if (n == 0 || p[0] > 0xF4)
        return 0;
    for (size_t i = 1; i < n; i++)
        if ((p[i] & 0xC0) != 0x80)
            return 0;
    /* Overlong forms, surrogates and code points above U+10FFFF. */
    if ((p[0] == 0xE0 && p[1] < 0xA0) || (p[0] == 0xED && p[1] >= 0xA0) ||
        (p[0] == 0xF0 && p[1] < 0x90) || (p[0] == 0xF4 && p[1] >= 0x90))
        return 0;
    return n;
}

const char *pmq_utf8_invalid(const char *s)
{
    for (const unsigned char *p = (const unsigned char *)s; *p;) {
        size_t n = utf8_seq(p);
        if (!n)
            return (const char *)p;
        p += n;
    }
    return NULL;
}

char *pmq_escape_controls(const char *s)
{
    /* At most four bytes (\xNN) for each one. */
    char *out = pmq_xmalloc(4 * strlen(s) + 1), *o = out;
    for (const unsigned char *p = (const unsigned char *)s; *p;) {
        size_t n = utf8_seq(p);
        if (n > 1 || (n == 1 && *p >= 0x20 && *p != 0x7f)) {
            memcpy(o, p, n);
            o += n;
            p += n;
            continue;
        }
        *o++ = '\\';
        if (*p == '\n')
            *o++ = 'n';
        else if (*p == '\r')
            *o++ = 'r';
        else if (*p == '\t')
            *o++ = 't';
        else
            o += sprintf(o, "x%02x", *p);
        p++;
    }
    *o = '\0';
    return out;
}

int64_t pmq_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int64_t pmq_wall_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

void pmq_sleep_ms(int64_t ms)
{
    struct timespec ts = {(time_t)(ms / 1000), (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

int pmq_parse_int(const char *s, long min, long max, long *out)
{
    char *end;
    if (!s || !*s || isspace((unsigned char)*s))
        return -1;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || *end || v < min || v > max)
        return -1;
    *out = v;
    return 0;
}

int pmq_parse_duration_ms(const char *s, int64_t unit_ms, int64_t *out)
{
    char *end;
    if (!s || !isdigit((unsigned char)*s))
        return -1;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (errno)
        return -1;
    int64_t mul = unit_ms;
    if (!strcmp(end, "ms"))
        mul = 1;
    else if (!strcmp(end, "s"))
        mul = 1000;
    else if (!strcmp(end, "m") || !strcmp(end, "min"))
        mul = 60000;
    else if (!strcmp(end, "h"))
        mul = 3600000;
    else if (!strcmp(end, "d"))
        mul = 86400000;
    else if (*end)
        return -1;
    if (v > INT64_MAX / mul)
        return -1;
    *out = (int64_t)v * mul;
    return 0;
}

/* Bytes, or a number with the suffix k/K/kB (1024) or M/MB (1048576). */
int pmq_parse_bytes(const char *s, long max, long *out)
{
    if (!isdigit((unsigned char)*s))
        return -1;
    char *end;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (errno)
        return -1;
    long long mul;
    if (!*end || !strcmp(end, "B"))
        mul = 1;
    else if (!strcmp(end, "k") || !strcmp(end, "K") || !strcmp(end, "kB") || !strcmp(end, "KB"))
        mul = 1024;
    else if (!strcmp(end, "M") || !strcmp(end, "MB"))
        mul = 1024 * 1024;
    else
        return -1;
    if (v > max / mul)
        return -1;
    *out = (long)(v * mul);
    return 0;
}

int pmq_parse_bool(const char *s, int *out)
{
    static const char *const yes[] = {"yes", "true", "on", "1"};
    static const char *const no[] = {"no", "false", "off", "0"};
    for (size_t i = 0; i < 4; i++) {
        if (!strcasecmp(s, yes[i])) {
            *out = 1;
            return 0;
        }
        if (!strcasecmp(s, no[i])) {
            *out = 0;
            return 0;
        }
    }
    return -1;
}
