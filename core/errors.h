/*
 * errors.h -- a list of problems found while checking something (a
 * configuration, a set of plugins), reported together in PostgreSQL's style:
 * a primary line, then optional DETAIL and HINT lines.
 */
#ifndef PMQ_ERRORS_H
#define PMQ_ERRORS_H

#include <stddef.h>
#include <stdio.h>

typedef struct pmq_error {
    char *message; /* "pmqd.ini:14: [pool email] unknown key \"proceses\"" */
    char *detail;  /* or NULL */
    char *hint;    /* or NULL */
} pmq_error;

typedef struct pmq_errors {
    pmq_error *items;
    size_t count;
    size_t cap;
} pmq_errors;

#define PMQ_ERRORS_INIT {NULL, 0, 0}

/* Append a problem; returns it so that detail and hint can be added. */
pmq_error *pmq_errors_add(pmq_errors *errs, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
void pmq_error_detail(pmq_error *err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void pmq_error_hint(pmq_error *err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Print each problem as "prefix: message" + DETAIL/HINT lines. */
void pmq_errors_print(const pmq_errors *errs, FILE *out, const char *prefix);
/* Forget every problem (the list stays usable). */
void pmq_errors_clear(pmq_errors *errs);

/* The key nearest to `word` among `candidates` (NULL-terminated), or NULL. */
const char *pmq_nearest_word(const char *word, const char *const *candidates);

#endif /* PMQ_ERRORS_H */
