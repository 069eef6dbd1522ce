/*
 * config_reader.c -- reads configuration files line by line into sections
 * (see config_reader.h), and keeps the problems found in file and line order.
 *
 * The dialect is inih's (release 55, as DESIGN.md section 7 names it): "[type
 * name]" headers, "key = value" or "key: value", comments starting a line with
 * ";" or "#" or following white space with ";", an indented line continuing
 * the value above it (even after blank lines, its ";" kept), an optional UTF-8
 * BOM.  It is read here rather than by ini_parse_stream(), because inih hands
 * its handler only the lines it accepts, after cutting lines at 200 bytes and
 * names at 50: reporting a malformed line, a bad header, a NUL byte or an
 * over-long line with its number and text, and reading a 64 KiB payload
 * whole, meant classifying every line before inih saw it, i.e. parsing it
 * twice.  Reading it once here does all of that with one set of rules.
 */
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config_reader.h"
#include "util.h"

/*--- problems, reported in file and line order ---*/

/* Where a problem points. */
struct pmq_ini_pos {
    size_t file;
    int line;
    size_t seq;
};

static size_t file_index(const pmq_ini *ini, const char *file)
{
    for (size_t i = 0; file && i < ini->nfiles; i++)
        if (ini->files[i] == file)
            return i;
    return 0;
}

pmq_error *pmq_ini_report(pmq_ini *ini, const pmq_origin *at, const char *label,
                          const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char *msg = pmq_vasprintf(fmt, ap);
    va_end(ap);

    pmq_error *err;
    if (at && at->file && label)
        err = pmq_errors_add(&ini->errs, "%s:%d: [%s] %s", at->file, at->line, label, msg);
    else if (at && at->file)
        err = pmq_errors_add(&ini->errs, "%s:%d: %s", at->file, at->line, msg);
    else
        err = pmq_errors_add(&ini->errs, "%s", msg);
    free(msg);

    if (ini->errs.count > ini->pos_cap) {
        ini->pos_cap = ini->errs.cap;
        ini->pos = pmq_xrealloc(ini->pos, ini->pos_cap * sizeof *ini->pos);
    }
    size_t seq = ini->errs.count - 1;
    /* A file that could not be opened sorts where it would have been read. */
    size_t file = at && at->file ? file_index(ini, at->file) : ini->nfiles;
    ini->pos[seq] = (struct pmq_ini_pos){file, at && at->file ? at->line : 0, seq};
    return err;
}

static int pos_cmp(const void *a, const void *b)
{
    const struct pmq_ini_pos *x = a, *y = b;
    if (x->file != y->file)
        return x->file < y->file ? -1 : 1;
    if (x->line != y->line)
        return x->line < y->line ? -1 : 1;
    return x->seq < y->seq ? -1 : x->seq > y->seq;
}

size_t pmq_ini_flush_errors(pmq_ini *ini, pmq_errors *out)
{
    size_t count = ini->errs.count;
    if (count)
        qsort(ini->pos, count, sizeof *ini->pos, pos_cmp);
    for (size_t i = 0; i < count; i++) {
        const pmq_error *src = &ini->errs.items[ini->pos[i].seq];
        char *text = pmq_escape_controls(src->message);
        pmq_error *dst = pmq_errors_add(out, "%s", text);
        free(text);
        if (src->detail) {
            text = pmq_escape_controls(src->detail);
            pmq_error_detail(dst, "%s", text);
            free(text);
        }
        if (src->hint) {
            text = pmq_escape_controls(src->hint);
            pmq_error_hint(dst, "%s", text);
            free(text);
        }
    }
    pmq_errors_clear(&ini->errs);
    free(ini->pos);
    ini->pos = NULL;
    ini->pos_cap = 0;
    return count;
}

/*--- paths ---*/

char *pmq_path_dir(const char *path)
{
    const char *slash = strrchr(path, '/');
    if (!slash)
        return pmq_xstrdup(".");
    if (slash == path)
        return pmq_xstrdup("/");
    return pmq_asprintf("%.*s", (int)(slash - path), path);
}

/* Kept short when `dir` is ".". */
char *pmq_path_join(const char *dir, const char *rel)
{
    if (rel[0] == '/' || !strcmp(dir, "."))
        return pmq_xstrdup(rel);
    size_t n = strlen(dir);
    return pmq_asprintf("%s%s%s", dir, n && dir[n - 1] == '/' ? "" : "/", rel);
}

/*--- the lines of one file ---*/

static char *lskip(const char *s)
{
    while (*s && isspace((unsigned char)*s))
        s++;
    return (char *)s;
}

static char *rstrip(char *s)
{
    size_t n = strlen(s);
    while (n && isspace((unsigned char)s[n - 1]))
        s[--n] = '\0';
    return s;
}

/* The first of `chars`, or an inline comment (";" after white space), or the end. */
static char *find_chars_or_comment(const char *s, const char *chars)
{
    int was_space = 0;
    while (*s && (!chars || !strchr(chars, *s)) && !(was_space && *s == ';')) {
        was_space = isspace((unsigned char)*s);
        s++;
    }
    return (char *)s;
}

typedef struct file_reader {
    pmq_ini *ini;
    FILE *fp;
    const char *file; /* borrowed from ini->files */
    int in_main;
    int lineno;
    char *line;
    size_t cap;
    size_t total;    /* bytes read so far, at most PMQ_CONFIG_FILE_MAX + 1 */
    int prev_name;   /* the next indented line continues a value */
    long section;    /* index into ini->sections, or -1 before any line needs one */
    long last_entry; /* what a continuation line extends, or -1 */
} file_reader;

/*
 * The next physical line into fr->line, keeping at most PMQ_CONFIG_LINE_MAX
 * bytes of it (*too_long then says so); stops once the file is over
 * PMQ_CONFIG_FILE_MAX.  Returns its length (NUL bytes included), or -1 at the end.
 */
static long next_line(file_reader *fr, int *too_long)
{
    size_t n = 0;
    int c = EOF;
    *too_long = 0;
    while (fr->total <= PMQ_CONFIG_FILE_MAX && (c = getc(fr->fp)) != EOF) {
        fr->total++;
        if (n == PMQ_CONFIG_LINE_MAX) {
            *too_long = 1;
        } else {
            if (n + 2 > fr->cap) {
                fr->cap = fr->cap ? 2 * fr->cap : 256;
                fr->line = pmq_xrealloc(fr->line, fr->cap);
            }
            fr->line[n++] = (char)c;
        }
        if (c == '\n')
            break;
    }
    if (n == 0 && !*too_long)
        return -1;
    fr->line[n] = '\0';
    return (long)n;
}

static void open_section(file_reader *fr, const char *header, int closed)
{
    pmq_ini *ini = fr->ini;
    if (ini->nsections == ini->cap) {
        ini->cap = ini->cap ? 2 * ini->cap : 16;
        ini->sections = pmq_xrealloc(ini->sections, ini->cap * sizeof *ini->sections);
    }
    ini->sections[ini->nsections] = (pmq_ini_section){
        .header = header ? pmq_xstrdup(header) : NULL,
        .closed = closed,
        .in_main = fr->in_main,
        .origin = {fr->file, fr->lineno},
        .kind = -1,
    };
    fr->section = (long)ini->nsections++;
    fr->last_entry = -1;
}

/* Add a line to the current section (one without a header if there is none yet). */
static pmq_ini_entry *add_entry(file_reader *fr, const char *key, const char *value)
{
    if (fr->section < 0)
        open_section(fr, NULL, 0);
    pmq_ini_section *s = &fr->ini->sections[fr->section];
    if (s->nentries == s->cap) {
        s->cap = s->cap ? 2 * s->cap : 8;
        s->entries = pmq_xrealloc(s->entries, s->cap * sizeof *s->entries);
    }
    pmq_ini_entry *e = &s->entries[s->nentries++];
    *e = (pmq_ini_entry){key ? pmq_xstrdup(key) : NULL, pmq_xstrdup(value),
                         {fr->file, fr->lineno}};
    return e;
}

/* One line of text, `start` being its first non-blank character. */
static void read_line(file_reader *fr, const char *text, char *start)
{
    pmq_ini *ini = fr->ini;
    pmq_origin at = {fr->file, fr->lineno};
    if (!*start || *start == ';' || *start == '#')
        return;
    if (fr->prev_name && start > text) {
        /* A continuation line: Python's configparser joins with a newline. */
        if (fr->last_entry >= 0) {
            pmq_ini_entry *e = &ini->sections[fr->section].entries[fr->last_entry];
            char *joined = pmq_asprintf("%s\n%s", e->value, start);
            free(e->value);
            e->value = joined;
        }
        return;
    }
    if (*start == '[') {
        char *end = find_chars_or_comment(start + 1, "]");
        if (*end == ']') {
            *end = '\0';
            fr->prev_name = 0;
            open_section(fr, rstrip(lskip(start + 1)), 1);
        } else {
            pmq_error *e = pmq_ini_report(ini, &at, NULL, "invalid section header \"%s\"", start);
            pmq_error_detail(e, "The closing \"]\" is missing.");
            open_section(fr, start, 0);
        }
        return;
    }
    char *end = find_chars_or_comment(start, "=:");
    if (*end != '=' && *end != ':') {
        add_entry(fr, NULL, start); /* the caller says what it makes of it */
        return;
    }
    char *value = end + 1;
    *end = '\0';
    char *key = rstrip(start);
    *find_chars_or_comment(value, NULL) = '\0';
    add_entry(fr, key, rstrip(lskip(value)));
    fr->prev_name = *key != '\0';
    const pmq_ini_section *s = &ini->sections[fr->section];
    fr->last_entry = *key && s->header && s->closed ? (long)s->nentries - 1 : -1;
}

static void read_lines(file_reader *fr)
{
    int too_long;
    long got;
    while ((got = next_line(fr, &too_long)) >= 0) {
        fr->lineno++;
        pmq_origin at = {fr->file, fr->lineno};
        if (fr->total > PMQ_CONFIG_FILE_MAX) {
            pmq_ini_report(fr->ini, &at, NULL, "configuration file \"%s\" is larger than %d bytes",
                           fr->file, PMQ_CONFIG_FILE_MAX);
            return; /* the rest is not read */
        }
        if (too_long) {
            pmq_ini_report(fr->ini, &at, NULL, "line is longer than %d bytes", PMQ_CONFIG_LINE_MAX);
            continue;
        }
        if (memchr(fr->line, '\0', (size_t)got)) {
            pmq_ini_report(fr->ini, &at, NULL, "line holds a NUL byte");
            continue;
        }
        char *text = fr->line;
        if (fr->lineno == 1 && !strncmp(text, "\xEF\xBB\xBF", 3))
            text += 3;
        read_line(fr, text, lskip(rstrip(text)));
    }
}

/* One pair of double quotes around a value is not part of it. */
static void unquote(char *v)
{
    size_t n = strlen(v);
    if (n >= 2 && v[0] == '"' && v[n - 1] == '"') {
        memmove(v, v + 1, n - 2);
        v[n - 2] = '\0';
    }
}

int pmq_ini_read_file(pmq_ini *ini, const char *path, int in_main, struct stat *st)
{
    /* Not blocking: a FIFO must be refused, not waited on. */
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
    struct stat own;
    if (!st)
        st = &own;
    if (fd < 0 || fstat(fd, st) < 0) {
        pmq_ini_report(ini, NULL, NULL, "could not open configuration file \"%s\": %s", path,
                       strerror(errno));
        if (fd >= 0)
            close(fd);
        return -1;
    }
    if (!S_ISREG(st->st_mode)) {
        pmq_ini_report(ini, NULL, NULL, "configuration file \"%s\" is not a regular file", path);
        close(fd);
        return -1;
    }
    FILE *fp = fdopen(fd, "r");
    if (!fp) {
        pmq_ini_report(ini, NULL, NULL, "could not open configuration file \"%s\": %s", path,
                       strerror(errno));
        close(fd);
        return -1;
    }

    ini->files = pmq_xrealloc(ini->files, (ini->nfiles + 1) * sizeof *ini->files);
    char *file = ini->files[ini->nfiles++] = pmq_xstrdup(path);
    file_reader fr = {.ini = ini, .fp = fp, .file = file, .in_main = in_main, .section = -1,
                      .last_entry = -1};
    size_t first = ini->nsections;
    errno = 0;
    read_lines(&fr);
    if (ferror(fp)) {
        pmq_origin at = {file, fr.lineno + 1};
        pmq_ini_report(ini, &at, NULL, "could not read configuration file \"%s\": %s", path,
                       strerror(errno ? errno : EIO));
    }
    fclose(fp);
    free(fr.line);

    for (size_t i = first; i < ini->nsections; i++)
        for (size_t j = 0; j < ini->sections[i].nentries; j++)
            if (ini->sections[i].entries[j].key)
                unquote(ini->sections[i].entries[j].value);
    return 0;
}

static int ini_file_filter(const struct dirent *d)
{
    size_t n = strlen(d->d_name);
    return d->d_name[0] != '.' && n > 4 && !strcmp(d->d_name + n - 4, ".ini");
}

void pmq_ini_read_dir(pmq_ini *ini, const char *dir, const pmq_origin *set_at,
                      const struct stat *main_st)
{
    struct dirent **names;
    int n = scandir(dir, &names, ini_file_filter, alphasort);
    if (n < 0) {
        /* The default conf.d is optional; one named in the file is not. */
        if (errno == ENOENT && !set_at)
            return;
        pmq_ini_report(ini, set_at, set_at ? "pmqd" : NULL,
                       "could not open configuration directory \"%s\": %s", dir, strerror(errno));
        return;
    }
    for (int i = 0; i < n; i++) {
        char *path = pmq_path_join(dir, names[i]->d_name);
        struct stat st;
        /*
         * Skip directories; a dangling link is reported when it is opened,
         * anything else that is not a regular file is refused there.
         */
        int skip = stat(path, &st) == 0 &&
                   (S_ISDIR(st.st_mode) ||
                    (st.st_dev == main_st->st_dev && st.st_ino == main_st->st_ino));
        if (!skip)
            pmq_ini_read_file(ini, path, 0, NULL);
        free(path);
        free(names[i]);
    }
    free(names);
}

static void free_section(pmq_ini_section *s)
{
    for (size_t i = 0; i < s->nentries; i++) {
        free(s->entries[i].key);
        free(s->entries[i].value);
    }
    free(s->entries);
    free(s->header);
    free(s->label);
}

void pmq_ini_free(pmq_ini *ini)
{
    for (size_t i = 0; i < ini->nsections; i++)
        free_section(&ini->sections[i]);
    free(ini->sections);
    for (size_t i = 0; ini->files && i < ini->nfiles; i++)
        free(ini->files[i]);
    free(ini->files);
    pmq_errors_clear(&ini->errs);
    free(ini->pos);
    *ini = (pmq_ini)PMQ_INI_INIT;
}
