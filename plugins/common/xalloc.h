/*
 * xalloc.h -- memory for the plugins' helpers: allocation that aborts when
 * memory runs out (a handler cannot do anything useful then, and the host
 * records the crash as a failed attempt), and the `*err` message a helper
 * returns with -1.  Compiled into each plugin that uses it, like utf8.c.
 */
#ifndef PLUGIN_XALLOC_H
#define PLUGIN_XALLOC_H

#include <stddef.h>

void *plugin_xmalloc(size_t n);
void *plugin_xrealloc(void *p, size_t n);
/* A copy of `s` (NULL for NULL), and of its first `n` bytes plus a NUL. */
char *plugin_xstrdup(const char *s);
char *plugin_xstrndup(const char *s, size_t n);

/* *err = the formatted message (caller frees; NULL when out of memory); returns -1. */
int plugin_fail(char **err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* *err = a copy of `msg`, unless a message is there already; returns -1. */
int plugin_fail_default(char **err, const char *msg);

#endif /* PLUGIN_XALLOC_H */
