/*
 * buf.h -- a growable text buffer: bytes appended at the end, always
 * NUL-terminated, grown by doubling.  Knows nothing of what it holds (JSON,
 * PostgreSQL array literals, Prometheus text are its callers' business).
 */
#ifndef PMQ_BUF_H
#define PMQ_BUF_H

#include <stdarg.h>
#include <stddef.h>
#include <string.h>

/* Zero-initialised ({0}) it is empty and owns nothing. */
typedef struct pmq_buf {
    char *s; /* NULL until something is appended */
    size_t len, cap;
} pmq_buf;

/* Make room for `n` more bytes and the NUL (aborts on exhaustion). */
void pmq_buf_grow(pmq_buf *b, size_t n);

/*
 * Append `n` bytes.  Inline: the acker and the migrator append a few bytes
 * at a time for every job of a batch, and a call each would show.
 */
static inline void pmq_buf_put(pmq_buf *b, const char *s, size_t n)
{
    if (b->len + n + 1 > b->cap)
        pmq_buf_grow(b, n);
    memcpy(b->s + b->len, s, n);
    b->len += n;
    b->s[b->len] = '\0';
}

static inline void pmq_buf_puts(pmq_buf *b, const char *s)
{
    pmq_buf_put(b, s, strlen(s));
}

void pmq_buf_printf(pmq_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Empty it but keep its memory, for the next batch. */
static inline void pmq_buf_reset(pmq_buf *b)
{
    b->len = 0;
    if (b->s)
        b->s[0] = '\0';
}

void pmq_buf_free(pmq_buf *b);

#endif /* PMQ_BUF_H */
