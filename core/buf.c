/*
 * buf.c -- the growable text buffer (see buf.h).
 */
#include <stdio.h>
#include <stdlib.h>

#include "buf.h"
#include "util.h"

void pmq_buf_grow(pmq_buf *b, size_t n)
{
    /* Twice what is needed: appending byte by byte stays linear. */
    b->cap = (b->len + n + 1) * 2;
    b->s = pmq_xrealloc(b->s, b->cap);
}

void pmq_buf_printf(pmq_buf *b, const char *fmt, ...)
{
    /* Format into the room there is; only what does not fit is formatted twice. */
    if (b->len + 32 > b->cap)
        pmq_buf_grow(b, 32);
    size_t room = b->cap - b->len;
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(b->s + b->len, room, fmt, ap);
    va_end(ap);
    if (n < 0)
        abort(); /* only a format the compiler let through could do it */
    if ((size_t)n >= room) {
        pmq_buf_grow(b, (size_t)n);
        va_start(ap, fmt);
        vsnprintf(b->s + b->len, (size_t)n + 1, fmt, ap);
        va_end(ap);
    }
    b->len += (size_t)n;
}

void pmq_buf_free(pmq_buf *b)
{
    free(b->s);
    b->s = NULL;
    b->len = b->cap = 0;
}
