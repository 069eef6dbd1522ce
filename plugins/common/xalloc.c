/*
 * xalloc.c -- allocation that aborts, and helpers' error messages (see
 * xalloc.h).
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "xalloc.h"

void *plugin_xmalloc(size_t n)
{
    return plugin_xrealloc(NULL, n);
}

void *plugin_xrealloc(void *p, size_t n)
{
    void *q = realloc(p, n ? n : 1);
    if (!q)
        abort();
    return q;
}

char *plugin_xstrndup(const char *s, size_t n)
{
    char *d = plugin_xmalloc(n + 1);
    memcpy(d, s, n);
    d[n] = '\0';
    return d;
}

char *plugin_xstrdup(const char *s)
{
    return s ? plugin_xstrndup(s, strlen(s)) : NULL;
}

int plugin_fail(char **err, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    if (vasprintf(err, fmt, ap) < 0)
        *err = NULL;
    va_end(ap);
    return -1;
}

int plugin_fail_default(char **err, const char *msg)
{
    if (!*err)
        *err = plugin_xstrdup(msg);
    return -1;
}
