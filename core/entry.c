/*
 * entry.c -- the job entry in Redis (see entry.h): written once per job by
 * the migrator, read once per attempt by a worker, so both are done by hand
 * rather than through a JSON tree.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "buf.h"
#include "entry.h"
#include "util.h"

/*--- writing ---*/

#define PUT_LIT(b, lit) pmq_buf_put(b, lit, sizeof lit - 1)

/* A JSON string: quotes, backslashes and control characters escaped. */
static void put_string(pmq_buf *b, const char *s)
{
    PUT_LIT(b, "\"");
    const char *run = s;
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (*p >= 0x20 && *p != '"' && *p != '\\')
            continue;
        pmq_buf_put(b, run, (size_t)((const char *)p - run));
        if (*p == '"' || *p == '\\')
            pmq_buf_printf(b, "\\%c", *p);
        else
            pmq_buf_printf(b, "\\u%04x", *p);
        run = (const char *)p + 1;
    }
    pmq_buf_puts(b, run);
    PUT_LIT(b, "\"");
}

/* ISO 8601 in UTC with microseconds, as PostgreSQL writes a timestamptz to JSON. */
static void put_time(pmq_buf *b, int64_t us)
{
    time_t s = (time_t)(us / 1000000);
    int64_t frac = us % 1000000;
    if (frac < 0)
        s--, frac += 1000000;
    struct tm tm;
    gmtime_r(&s, &tm);
    pmq_buf_printf(b, "\"%04d-%02d-%02dT%02d:%02d:%02d.%06lld+00:00\"", tm.tm_year + 1900,
                   tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, (long long)frac);
}

size_t pmq_entry_write(char **buf, size_t *cap, const pmq_entry_job *job)
{
    pmq_buf b = {*buf, 0, *cap};
    PUT_LIT(&b, "{\"id\":");
    put_string(&b, job->id);
    PUT_LIT(&b, ",\"queue_name\":");
    put_string(&b, job->queue);
    pmq_buf_printf(&b, ",\"priority\":%d,\"payload\":", job->priority);
    pmq_buf_puts(&b, job->payload);
    PUT_LIT(&b, ",\"created_at\":");
    put_time(&b, job->created_us);
    pmq_buf_printf(&b, ",\"attempt_count\":%d,\"max_attempts\":%d,\"tenant_id\":",
                   job->attempt_count, job->max_attempts);
    if (job->tenant)
        put_string(&b, job->tenant);
    else
        PUT_LIT(&b, "null");
    PUT_LIT(&b, "}");
    *buf = b.s;
    *cap = b.cap;
    return b.len;
}

/*--- reading ---*/

static const char *skip_ws(const char *p)
{
    while (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r')
        p++;
    return p;
}

/* The end of the JSON value at `p` (not validated), or NULL. */
static const char *skip_value(const char *p)
{
    int depth = 0;
    do {
        p = skip_ws(p);
        if (*p == '"') {
            for (p++; *p && *p != '"'; p++)
                if (*p == '\\' && p[1])
                    p++;
            if (!*p)
                return NULL;
            p++;
        } else if (*p == '{' || *p == '[') {
            depth++;
            p++;
        } else if (*p == '}' || *p == ']') {
            if (--depth < 0)
                return NULL;
            p++;
        } else if (*p == ',' || *p == ':') {
            if (depth == 0)
                return NULL;
            p++;
        } else if (*p) {
            p += strcspn(p, ",:]} \t\n\r{[\"");
        } else {
            return NULL;
        }
    } while (depth > 0);
    return p;
}

/*
 * Call `member` for each top-level member of the object `text` with the raw
 * key (quotes included) and the value's slice; stops when it returns
 * non-zero.  Returns -1 when `text` is not an object, else 0.
 */
typedef int (*member_fn)(const char *key, size_t klen, const char *value, size_t vlen, void *arg);

static int each_member(const char *text, member_fn member, void *arg)
{
    const char *p = skip_ws(text);
    if (*p++ != '{')
        return -1;
    p = skip_ws(p);
    if (*p == '}')
        return 0;
    for (;;) {
        const char *key = p;
        if (*p != '"' || !(p = skip_value(p)))
            return -1;
        size_t klen = (size_t)(p - key);
        p = skip_ws(p);
        if (*p++ != ':')
            return -1;
        const char *value = skip_ws(p);
        if (!(p = skip_value(value)))
            return -1;
        if (member(key, klen, value, (size_t)(p - value), arg))
            return 0;
        p = skip_ws(p);
        if (*p == '}')
            return 0;
        if (*p++ != ',')
            return -1;
        p = skip_ws(p);
    }
}

static int key_is(const char *key, size_t klen, const char *name)
{
    size_t n = strlen(name);
    return klen == n + 2 && memcmp(key + 1, name, n) == 0;
}

static int hex4(const char *p, unsigned *out)
{
    unsigned v = 0;
    for (int i = 0; i < 4; i++) {
        char c = p[i];
        v <<= 4;
        if (c >= '0' && c <= '9')
            v |= (unsigned)(c - '0');
        else if (c >= 'a' && c <= 'f')
            v |= (unsigned)(c - 'a' + 10);
        else if (c >= 'A' && c <= 'F')
            v |= (unsigned)(c - 'A' + 10);
        else
            return -1;
    }
    *out = v;
    return 0;
}

static size_t utf8_put(char *o, unsigned cp)
{
    if (cp < 0x80) {
        o[0] = (char)cp;
        return 1;
    }
    if (cp < 0x800) {
        o[0] = (char)(0xC0 | (cp >> 6));
        o[1] = (char)(0x80 | (cp & 0x3F));
        return 2;
    }
    if (cp < 0x10000) {
        o[0] = (char)(0xE0 | (cp >> 12));
        o[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
        o[2] = (char)(0x80 | (cp & 0x3F));
        return 3;
    }
    o[0] = (char)(0xF0 | (cp >> 18));
    o[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
    o[2] = (char)(0x80 | ((cp >> 6) & 0x3F));
    o[3] = (char)(0x80 | (cp & 0x3F));
    return 4;
}

/* A JSON string value decoded (malloc'd); NULL for null or anything else. */
static char *decode_string(const char *v, size_t n)
{
    if (n < 2 || v[0] != '"' || v[n - 1] != '"')
        return NULL;
    char *out = pmq_xmalloc(n), *o = out; /* decoding never grows a string */
    for (const char *p = v + 1, *end = v + n - 1; p < end; p++) {
        if (*p != '\\') {
            *o++ = *p;
            continue;
        }
        p++;
        switch (*p) {
        case 'b': *o++ = '\b'; break;
        case 'f': *o++ = '\f'; break;
        case 'n': *o++ = '\n'; break;
        case 'r': *o++ = '\r'; break;
        case 't': *o++ = '\t'; break;
        case 'u': {
            unsigned cp, lo;
            if (end - p < 5 || hex4(p + 1, &cp) < 0)
                goto bad;
            p += 4;
            if (cp >= 0xD800 && cp < 0xDC00 && end - p >= 7 && p[1] == '\\' && p[2] == 'u' &&
                hex4(p + 3, &lo) == 0 && lo >= 0xDC00 && lo < 0xE000) {
                cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
                p += 6;
            }
            o += utf8_put(o, cp);
            break;
        }
        default: *o++ = *p; break; /* \" \\ \/ */
        }
    }
    *o = '\0';
    return out;
bad:
    free(out);
    return NULL;
}

static int decode_int(const char *v, size_t n, int fallback)
{
    char tmp[24];
    if (n == 0 || n >= sizeof tmp)
        return fallback;
    memcpy(tmp, v, n);
    tmp[n] = '\0';
    char *end;
    long x = strtol(tmp, &end, 10);
    return *end == '\0' || *end == '.' ? (int)x : fallback;
}

static int digits(const char **p, int n)
{
    int v = 0;
    for (int i = 0; i < n; i++, (*p)++) {
        if (**p < '0' || **p > '9')
            return -1;
        v = v * 10 + (**p - '0');
    }
    return v;
}

/* Microseconds since the epoch of an ISO 8601 timestamp with an offset; 0 when unreadable. */
static int64_t parse_time_us(const char *s)
{
    /* "YYYY-MM-DDThh:mm:ss" (a space may stand for the T): each field's width, what follows it. */
    static const struct {
        int width;
        const char *then;
    } fields[6] = {{4, "-"}, {2, "-"}, {2, "T "}, {2, ":"}, {2, ":"}, {2, ""}};
    int v[6];
    const char *p = s;
    for (int i = 0; i < 6; i++) {
        v[i] = digits(&p, fields[i].width);
        if (v[i] < 0)
            return 0;
        if (*fields[i].then) {
            if (!*p || !strchr(fields[i].then, *p))
                return 0;
            p++;
        }
    }
    int64_t us = 0;
    if (*p == '.') {
        int64_t scale = 100000;
        for (p++; *p >= '0' && *p <= '9'; p++, scale /= 10)
            us += (*p - '0') * scale;
    }
    int off = 0;
    if (*p == '+' || *p == '-') {
        int sign = *p++ == '-' ? -1 : 1;
        int oh = digits(&p, 2), om = 0;
        if (oh < 0)
            return 0;
        if (*p == ':')
            p++;
        if (*p >= '0' && *p <= '9' && (om = digits(&p, 2)) < 0)
            return 0;
        off = sign * (oh * 3600 + om * 60);
    }
    struct tm tm = {0};
    tm.tm_year = v[0] - 1900;
    tm.tm_mon = v[1] - 1;
    tm.tm_mday = v[2];
    tm.tm_hour = v[3];
    tm.tm_min = v[4];
    tm.tm_sec = v[5];
    return ((int64_t)timegm(&tm) - off) * 1000000 + us;
}

static int read_member(const char *key, size_t klen, const char *v, size_t n, void *arg)
{
    pmq_entry *e = arg;
    if (key_is(key, klen, "id")) {
        if (n == PMQ_JOB_ID_LEN + 2 && v[0] == '"' && v[PMQ_JOB_ID_LEN + 1] == '"') {
            memcpy(e->id, v + 1, PMQ_JOB_ID_LEN);
            e->id[PMQ_JOB_ID_LEN] = '\0';
        }
    } else if (key_is(key, klen, "queue_name")) {
        free(e->queue);
        e->queue = decode_string(v, n);
    } else if (key_is(key, klen, "priority")) {
        e->priority = decode_int(v, n, 100);
    } else if (key_is(key, klen, "payload")) {
        e->payload = v;
        e->payload_len = n;
    } else if (key_is(key, klen, "created_at")) {
        char *s = decode_string(v, n);
        e->created_us = s ? parse_time_us(s) : 0;
        free(s);
    } else if (key_is(key, klen, "attempt_count")) {
        e->attempt_count = decode_int(v, n, 0);
    } else if (key_is(key, klen, "max_attempts")) {
        e->max_attempts = decode_int(v, n, 1);
    } else if (key_is(key, klen, "tenant_id")) {
        free(e->tenant);
        e->tenant = decode_string(v, n);
    }
    return 0;
}

int pmq_entry_read(const char *text, pmq_entry *e)
{
    memset(e, 0, sizeof *e);
    e->priority = 100;
    e->max_attempts = 1;
    if (each_member(text, read_member, e) < 0 || !e->id[0] || !e->queue) {
        pmq_entry_clear(e);
        return -1;
    }
    if (!e->payload) {
        e->payload = "{}";
        e->payload_len = 2;
    }
    return 0;
}

void pmq_entry_clear(pmq_entry *e)
{
    free(e->queue);
    free(e->tenant);
    e->queue = e->tenant = NULL;
}

int pmq_entry_id(const char *text, char id[PMQ_JOB_ID_SIZE])
{
    /* As the claim script reads it (^{"id"%s*:%s*"([^"]+)"): its hash field. */
    const char *p = text;
    if (strncmp(p, "{\"id\"", 5) != 0)
        return -1;
    p += 5;
    p += strspn(p, " \t\n\r\f\v");
    if (*p++ != ':')
        return -1;
    p += strspn(p, " \t\n\r\f\v");
    if (*p++ != '"')
        return -1;
    size_t n = strcspn(p, "\"");
    if (n == 0 || n > PMQ_JOB_ID_LEN || p[n] != '"')
        return -1;
    memcpy(id, p, n);
    id[n] = '\0';
    return 0;
}

typedef struct find_payload {
    const char *at;
    size_t len;
} find_payload;

static int payload_member(const char *key, size_t klen, const char *v, size_t n, void *arg)
{
    find_payload *f = arg;
    if (!key_is(key, klen, "payload"))
        return 0;
    f->at = v;
    f->len = n;
    return 1;
}

const char *pmq_entry_payload(const char *text, size_t *len)
{
    find_payload f = {NULL, 0};
    if (each_member(text, payload_member, &f) < 0 || !f.at)
        return NULL;
    *len = f.len;
    return f.at;
}
