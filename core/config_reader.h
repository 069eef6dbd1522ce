/*
 * config_reader.h -- reads configuration files in one pass into sections of
 * "key = value" entries, each with the file and line it came from, and
 * collects the problems found on the way in file and line order.  Knows the
 * syntax (inih's dialect) and the limits of a file, not which sections or
 * keys exist (config_schema.h) nor what they mean (config.h).
 */
#ifndef PMQ_CONFIG_READER_H
#define PMQ_CONFIG_READER_H

#include <stddef.h>
#include <sys/stat.h>

#include "config.h"
#include "errors.h"

/*
 * What the reader accepts, named once: a configuration file is a few
 * kilobytes, and its longest line holds a schedule's payload.  A path that
 * is not a configuration file (-c /dev/zero, a log) is refused at these
 * limits instead of being read into memory.
 */
#define PMQ_CONFIG_LINE_MAX (64 * 1024)
#define PMQ_CONFIG_FILE_MAX (1024 * 1024)

/* One "key = value" as written (continuation lines joined, one pair of quotes removed). */
typedef struct pmq_ini_entry {
    char *key;   /* "" when the line has none; NULL: a line that is not "key = value" */
    char *value; /* for key == NULL, the line as written */
    pmq_origin origin;
} pmq_ini_entry;

/* A section header and the lines under it, in one file. */
typedef struct pmq_ini_section {
    char *header; /* inside the brackets, trimmed; NULL for lines before any header */
    int closed;   /* 0: the header lacks its "]" (already reported) */
    int in_main;  /* written in the main file */
    pmq_origin origin;
    pmq_ini_entry *entries;
    size_t nentries, cap;
    /* The caller's, for what it makes of the header: */
    int kind;    /* -1 until then, and for a header it refused */
    char *label; /* freed with the section */
} pmq_ini_section;

typedef struct pmq_ini {
    char **files; /* every file read, in order; origins point here */
    size_t nfiles;
    pmq_ini_section *sections;
    size_t nsections, cap;
    pmq_errors errs; /* in the order found; pmq_ini_flush_errors() sorts them */
    struct pmq_ini_pos *pos;
    size_t pos_cap;
} pmq_ini;

#define PMQ_INI_INIT {0}

/*
 * Read `path` into ini->sections.  Returns -1 when it cannot be opened or is
 * not a regular file (reported); `st` (may be NULL) receives its identity.
 */
int pmq_ini_read_file(pmq_ini *ini, const char *path, int in_main, struct stat *st);

/*
 * Read every *.ini in `dir` in lexical order, but not the main file (`main_st`)
 * nor directories.  `set_at` is where the directory was named ([pmqd]
 * conf_dir), NULL for the default, which may be missing.
 */
void pmq_ini_read_dir(pmq_ini *ini, const char *dir, const pmq_origin *set_at,
                      const struct stat *main_st);

/* Record a problem as "FILE:LINE: [LABEL] message"; `at` and `label` may be NULL. */
pmq_error *pmq_ini_report(pmq_ini *ini, const pmq_origin *at, const char *label,
                          const char *fmt, ...) __attribute__((format(printf, 4, 5)));

/*
 * Move the problems into `out` sorted by file and line, their control
 * characters escaped (messages quote the files: a value must not break or
 * forge a log line).  Returns how many there were.
 */
size_t pmq_ini_flush_errors(pmq_ini *ini, pmq_errors *out);

/* Free the sections, the problems, and the file names unless taken (files = NULL). */
void pmq_ini_free(pmq_ini *ini);

/* The directory of `path` ("." when it has none), and `rel` taken from `dir`. */
char *pmq_path_dir(const char *path);
char *pmq_path_join(const char *dir, const char *rel);

#endif /* PMQ_CONFIG_READER_H */
