/*
 * log.h -- pmqd's log: one line per event on stderr, with a level, as text
 * or JSON.  The macros test the level before evaluating their arguments.
 */
#ifndef PMQ_LOG_H
#define PMQ_LOG_H

#include <stdarg.h>

typedef enum { LOG_DEBUG_ = 0, LOG_INFO_ = 1, LOG_WARNING_ = 2, LOG_ERROR_ = 3 } pmq_log_level;

extern int pmq_log_min_level;

/* Program name and role shown on each line ("pmqd", "worker email/1"). */
void pmq_log_set_ident(const char *ident);
void pmq_log_set_json(int on);
/* "debug", "info", "warning", "error"; -1 when unknown. */
int pmq_log_level_parse(const char *name);

void pmq_log_write(int level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void pmq_log_vwrite(int level, const char *fmt, va_list ap) __attribute__((format(printf, 2, 0)));

#define pmq_log_at(level, ...)                                                                  \
    do {                                                                                        \
        if ((level) >= pmq_log_min_level)                                                       \
            pmq_log_write((level), __VA_ARGS__);                                                \
    } while (0)
#define log_debug(...) pmq_log_at(LOG_DEBUG_, __VA_ARGS__)
#define log_info(...) pmq_log_at(LOG_INFO_, __VA_ARGS__)
#define log_warning(...) pmq_log_at(LOG_WARNING_, __VA_ARGS__)
#define log_error(...) pmq_log_at(LOG_ERROR_, __VA_ARGS__)

#endif /* PMQ_LOG_H */
