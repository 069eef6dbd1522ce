/*
 * errors.c -- collecting and printing problems in PostgreSQL's message style,
 * and the "did you mean" suggestion for misspelt keys.
 */

#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "errors.h"
#include "util.h"

pmq_error *pmq_errors_add(pmq_errors *errs, const char *fmt, ...)
{
    if (errs->count == errs->cap) {
        errs->cap = errs->cap ? errs->cap * 2 : 8;
        errs->items = pmq_xrealloc(errs->items, errs->cap * sizeof *errs->items);
    }
    pmq_error *err = &errs->items[errs->count++];
    va_list ap;
    va_start(ap, fmt);
    err->message = pmq_vasprintf(fmt, ap);
    va_end(ap);
    err->detail = NULL;
    err->hint = NULL;
    return err;
}

/* A DETAIL or HINT given twice keeps the last. */
static void replace_text(char **text, const char *fmt, va_list ap)
    __attribute__((format(printf, 2, 0)));

static void replace_text(char **text, const char *fmt, va_list ap)
{
    free(*text);
    *text = pmq_vasprintf(fmt, ap);
}

void pmq_error_detail(pmq_error *err, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    replace_text(&err->detail, fmt, ap);
    va_end(ap);
}

void pmq_error_hint(pmq_error *err, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    replace_text(&err->hint, fmt, ap);
    va_end(ap);
}

void pmq_errors_print(const pmq_errors *errs, FILE *out, const char *prefix)
{
    for (size_t i = 0; i < errs->count; i++) {
        const pmq_error *err = &errs->items[i];
        if (prefix)
            fprintf(out, "%s: %s\n", prefix, err->message);
        else
            fprintf(out, "%s\n", err->message);
        if (err->detail)
            fprintf(out, "DETAIL: %s\n", err->detail);
        if (err->hint)
            fprintf(out, "HINT: %s\n", err->hint);
    }
}

void pmq_errors_clear(pmq_errors *errs)
{
    for (size_t i = 0; i < errs->count; i++) {
        free(errs->items[i].message);
        free(errs->items[i].detail);
        free(errs->items[i].hint);
    }
    free(errs->items);
    errs->items = NULL;
    errs->count = errs->cap = 0;
}

/* Levenshtein distance, small strings only (INI keys). */
static size_t edit_distance(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b);
    if (la > 63 || lb > 63)
        return (size_t)-1;
    size_t prev[64], cur[64];
    for (size_t j = 0; j <= lb; j++)
        prev[j] = j;
    for (size_t i = 1; i <= la; i++) {
        cur[0] = i;
        for (size_t j = 1; j <= lb; j++) {
            size_t sub = prev[j - 1] + (a[i - 1] != b[j - 1]);
            size_t del = prev[j] + 1, ins = cur[j - 1] + 1;
            cur[j] = sub < del ? (sub < ins ? sub : ins) : (del < ins ? del : ins);
        }
        memcpy(prev, cur, (lb + 1) * sizeof *prev);
    }
    return prev[lb];
}

const char *pmq_nearest_word(const char *word, const char *const *candidates)
{
    const char *best = NULL;
    size_t best_d = (size_t)-1;
    for (size_t i = 0; candidates[i]; i++) {
        size_t d = edit_distance(word, candidates[i]);
        if (d < best_d) {
            best_d = d;
            best = candidates[i];
        }
    }
    /* Only suggest what is plausibly a typo. */
    size_t len = strlen(word);
    return best && best_d <= (len < 6 ? 1 : 2) ? best : NULL;
}
