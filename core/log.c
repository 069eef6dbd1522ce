/*
 * log.c -- formats one event per line (text or JSON) and writes it to stderr
 * in a single write(2), so lines from many processes never interleave.
 */
#include <json-c/json.h>
#include <stdio.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "util.h"

int pmq_log_min_level = LOG_INFO_;
static char ident[64] = "pmq";
static int json_lines;

static const char *const level_names[] = {"debug", "info", "warning", "error"};

void pmq_log_set_ident(const char *name)
{
    snprintf(ident, sizeof ident, "%s", name);
}

void pmq_log_set_json(int on)
{
    json_lines = on;
}

int pmq_log_level_parse(const char *name)
{
    for (int i = 0; i < 4; i++)
        if (!strcmp(name, level_names[i]))
            return i;
    return -1;
}

void pmq_log_vwrite(int level, const char *fmt, va_list ap)
{
    if (level < 0 || level > 3)
        level = LOG_ERROR_;
    char msg[2048];
    vsnprintf(msg, sizeof msg, fmt, ap);

    struct timeval tv;
    gettimeofday(&tv, NULL);
    struct tm tm;
    gmtime_r(&tv.tv_sec, &tm);
    char ts[40];
    size_t n = strftime(ts, sizeof ts, "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(ts + n, sizeof ts - n, ".%03ldZ", (long)(tv.tv_usec / 1000));

    char line[4096];
    int len;
    if (json_lines) {
        json_object *o = json_object_new_object();
        json_object_object_add(o, "ts", json_object_new_string(ts));
        json_object_object_add(o, "level", json_object_new_string(level_names[level]));
        json_object_object_add(o, "proc", json_object_new_string(ident));
        json_object_object_add(o, "pid", json_object_new_int((int)getpid()));
        json_object_object_add(o, "msg", json_object_new_string(msg));
        len = snprintf(line, sizeof line, "%s\n",
                       json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN));
        json_object_put(o);
    } else {
        len = snprintf(line, sizeof line, "%s %s[%d] %s: %s\n", ts, ident, (int)getpid(),
                       level_names[level], msg);
    }
    if (len < 0)
        return;
    if ((size_t)len >= sizeof line)
        len = sizeof line - 1, line[len - 1] = '\n';
    ssize_t w = write(STDERR_FILENO, line, (size_t)len);
    (void)w;
}

void pmq_log_write(int level, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    pmq_log_vwrite(level, fmt, ap);
    va_end(ap);
}
