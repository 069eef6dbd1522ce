/*
 * util.h -- the few helpers every module uses: allocation that aborts on
 * exhaustion, formatted strings, monotonic and wall clocks.
 */
#ifndef PMQ_UTIL_H
#define PMQ_UTIL_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

void *pmq_xmalloc(size_t n);
void *pmq_xcalloc(size_t n, size_t size);
void *pmq_xrealloc(void *p, size_t n);
char *pmq_xstrdup(const char *s);
char *pmq_asprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
char *pmq_vasprintf(const char *fmt, va_list ap) __attribute__((format(printf, 1, 0)));
/* Free the `n` strings of `v`, then `v` itself. */
void pmq_free_strings(char **v, size_t n);

/* The first byte of `s` that is not part of valid UTF-8, or NULL. */
const char *pmq_utf8_invalid(const char *s);

/*
 * A copy of `s` fit to quote in a one-line message (caller frees): control
 * characters, DEL and bytes that are not UTF-8 become \n, \r, \t or \xNN,
 * so that text read from a file or the command line cannot break or forge a
 * log line.
 */
char *pmq_escape_controls(const char *s);

#define PMQ_STR_(x) #x
#define PMQ_STR(x) PMQ_STR_(x)

/* Milliseconds of CLOCK_MONOTONIC, for intervals. */
int64_t pmq_now_ms(void);
/* Microseconds since the epoch, for timestamps. */
int64_t pmq_wall_us(void);
/*
 * Sleep `ms` milliseconds.  A signal ends it early, so that a loop sees the
 * stop flag its handler set at once.
 */
void pmq_sleep_ms(int64_t ms);

/* Parse a whole decimal integer in [min, max]; -1 when it is not one. */
int pmq_parse_int(const char *s, long min, long max, long *out);
/* Parse "500ms", "30s", "5m", "2h", "7d" (a bare number is `unit_ms`). */
int pmq_parse_duration_ms(const char *s, int64_t unit_ms, int64_t *out);
/* Parse "512", "64k", "8M" (k = 1024, M = 1048576) up to `max` bytes. */
int pmq_parse_bytes(const char *s, long max, long *out);
/* Parse yes/no, true/false, on/off, 1/0 (any case). */
int pmq_parse_bool(const char *s, int *out);

#endif /* PMQ_UTIL_H */
