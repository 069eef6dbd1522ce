/*
 * cron.c -- checks cron expressions (see cron.h): each of the five fields is
 * "*", a number, a range "a-b", a list of them, each with an optional "/step".
 */
#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "cron.h"
#include "util.h"

/* Why one cron field is wrong (caller frees), or NULL. */
static char *cron_field_problem(char *field, int index, const char *what, long min, long max)
{
    char *items = field, *item;
    while ((item = strsep(&items, ",")) != NULL) {
        long lo = min, hi = max; /* "*": the whole range */
        char *p = item, *end;
        errno = 0;
        if (*p == '*') {
            p++;
        } else if (isdigit((unsigned char)*p)) {
            lo = hi = strtol(p, &end, 10);
            p = end;
            if (*p == '-' && isdigit((unsigned char)p[1])) {
                hi = strtol(p + 1, &end, 10);
                p = end;
            } else if (*p == '/') {
                return pmq_asprintf("Field %d (%s): a step needs a range or \"*\" before it, as "
                                    "in \"%ld-%ld%s\".",
                                    index, what, lo, max, p);
            }
            if (errno || lo < min || lo > max || hi < min || hi > max)
                return pmq_asprintf("Field %d (%s): \"%s\" is out of range %ld-%ld.", index, what,
                                    item, min, max);
            if (lo > hi)
                return pmq_asprintf("Field %d (%s): range \"%s\" goes backwards.", index, what,
                                    item);
        } else {
            p = NULL;
        }
        if (p && *p == '/') {
            if (isdigit((unsigned char)p[1])) {
                long step = strtol(p + 1, &end, 10);
                p = end;
                if (!*p && (errno || step < 1 || step > max - min + 1))
                    return pmq_asprintf("Field %d (%s): step \"%s\" is not from 1 to %ld.", index,
                                        what, item, max - min + 1);
            } else {
                p = NULL;
            }
        }
        if (!p || *p)
            return pmq_asprintf("Field %d (%s): \"%s\" is not \"*\", a number, a range \"a-b\", "
                                "or one of them with \"/step\".",
                                index, what, item);
    }
    return NULL;
}

/* Why a cron expression is wrong (caller frees), or NULL when it is right. */
char *pmq_cron_problem(const char *expr)
{
    static const struct {
        const char *what;
        long min, max;
    } fields[5] = {{"minute", 0, 59},
                   {"hour", 0, 23},
                   {"day of month", 1, 31},
                   {"month", 1, 12},
                   {"day of week", 0, 7}};
    char *copy = pmq_xstrdup(expr);
    char *field[6];
    int n = 0;
    char *save = NULL;
    for (char *f = strtok_r(copy, " \t\r\n", &save); f && n < 6;
         f = strtok_r(NULL, " \t\r\n", &save))
        field[n++] = f;
    char *problem = NULL;
    if (n != 5)
        problem = pmq_asprintf("Five fields are expected (minute, hour, day of month, month, "
                               "day of week); found %s%d.",
                               n > 5 ? "more than " : "", n > 5 ? 5 : n);
    for (int i = 0; i < n && i < 5 && !problem; i++)
        problem = cron_field_problem(field[i], i + 1, fields[i].what, fields[i].min,
                                     fields[i].max);
    free(copy);
    return problem;
}

