/*
 * warmup.c -- the warmup plugin: serves "warmup:process", which turns one
 * mailbox's ramp (warmup_accounts) into the day's `email-sending` jobs,
 * spread over its working day as delayed jobs.  Built only on <pmq/plugin.h>.
 *
 * Payload: {"mailbox": "...", "day"?: "YYYY-MM-DD"} (default: today in the
 * mailbox's time zone).  Volume on day D:
 *   min(max_volume, floor(start_volume * daily_growth ^ (D - started_on)))
 * Job n of N (1-based) is due at the middle of the n-th of N equal slices of
 * [window_start, window_end) on D, moved by up to a quarter slice either way
 * (a jitter derived from its unique key, so a re-run computes the same
 * times); a time already past runs at once.  Each job's unique key is
 * "warmup:<mailbox>:<day>:<n>": running the same day again enqueues nothing
 * new, and a ramp raised during the day adds only the missing jobs.
 */
#include <json-c/json.h>
#include <libpq-fe.h>
#include <pmq/plugin.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "warmup.h"

#define TARGET_QUEUE "email-sending"
#define DEFAULT_SUBJECT "Quick check-in from {from_name} ({day} #{n})"
#define DEFAULT_TEXT                                                                            \
    "Hello,\n\nJust checking in to keep our conversation going. No reply is needed.\n\n"       \
    "Best regards,\n{from_name}\n"

/* [plugin warmup]: pmqd checks these before init (conf.d/warmup.ini says more). */
static const pmq_plugin_key keys[] = {
    {"window_start", PMQ_KEY_STRING, 0, 0, 0, "08:00",
     "start of the working day, \"HH:MM\" in the mailbox's time zone"},
    {"window_end", PMQ_KEY_STRING, 0, 0, 0, "18:00",
     "end of the working day, \"HH:MM\" (up to 24:00), later than window_start"},
    {"priority", PMQ_KEY_INT, 1, 1000, 0, NULL,
     "priority of the email-sending jobs; default: the queue's"},
    {"subject", PMQ_KEY_STRING, 0, 0, 0, DEFAULT_SUBJECT, "the subject template"},
    {"text", PMQ_KEY_STRING, 0, 0, 0, DEFAULT_TEXT, "the body template"},
    {NULL}};

PMQ_PLUGIN_MAGIC_KEYS("warmup", "1.0.0", PMQ_PLUGIN_THREAD_SAFE, keys);

/* [plugin warmup] settings; read-only once init returns. */
typedef struct warmup {
    char window_start[6]; /* "HH:MM", local time of the mailbox */
    char window_end[6];
    int priority; /* of the email-sending jobs, 1 to 1000; 0: the queue's default */
    char *subject; /* templates, see expand() */
    char *text;
} warmup;

/*--- small helpers ---*/

static int digits(const char *s, int n)
{
    for (int i = 0; i < n; i++)
        if (s[i] < '0' || s[i] > '9')
            return 0;
    return 1;
}

static int is_leap(int y)
{
    return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

/* "YYYY-MM-DD", a real calendar date, year >= 1. */
static int valid_day(const char *s)
{
    if (strlen(s) != 10 || !digits(s, 4) || s[4] != '-' || !digits(s + 5, 2) || s[7] != '-' ||
        !digits(s + 8, 2))
        return 0;
    static const int mdays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    int y = atoi(s), m = (s[5] - '0') * 10 + (s[6] - '0'), d = (s[8] - '0') * 10 + (s[9] - '0');
    return y >= 1 && m >= 1 && m <= 12 && d >= 1 && d <= mdays[m - 1] + (m == 2 && is_leap(y));
}

/* "HH:MM" from 00:00 to 24:00 -> minutes since midnight, or -1. */
static int parse_hhmm(const char *s)
{
    if (strlen(s) != 5 || !digits(s, 2) || s[2] != ':' || !digits(s + 3, 2))
        return -1;
    int h = (s[0] - '0') * 10 + (s[1] - '0'), m = (s[3] - '0') * 10 + (s[4] - '0');
    if (h > 24 || m > 59 || (h == 24 && m))
        return -1;
    return h * 60 + m;
}

static int64_t monotonic_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* A fraction in [0, 1) that depends only on `s` (FNV-1a). */
static double hash_fraction(const char *s)
{
    uint64_t h = 14695981039346656037ULL;
    for (; *s; s++) {
        h ^= (unsigned char)*s;
        h *= 1099511628211ULL;
    }
    return (double)(h >> 11) * (1.0 / 9007199254740992.0);
}

/* Append `s` (n bytes) to the growing string *buf. */
static int append(char **buf, size_t *len, size_t *cap, const char *s, size_t n)
{
    if (*len + n + 1 > *cap) {
        size_t want = (*len + n + 1) * 2;
        char *p = realloc(*buf, want);
        if (!p)
            return -1;
        *buf = p;
        *cap = want;
    }
    memcpy(*buf + *len, s, n);
    *len += n;
    (*buf)[*len] = '\0';
    return 0;
}

/*
 * `tmpl` with {mailbox}, {from_name}, {to}, {day} and {n} replaced and "\n"
 * made a line break (caller frees); other braces and backslashes are kept as
 * written.  NULL when out of memory.
 */
static char *expand(const char *tmpl, const char *const vars[][2], size_t nvars)
{
    size_t len = 0, cap = 0;
    char *out = NULL;
    if (append(&out, &len, &cap, "", 0) < 0)
        return NULL;
    for (const char *p = tmpl; *p;) {
        const char *value = NULL;
        size_t skip = 0;
        if (*p == '{')
            for (size_t i = 0; i < nvars && !value; i++) {
                size_t n = strlen(vars[i][0]);
                if (!strncmp(p + 1, vars[i][0], n) && p[1 + n] == '}') {
                    value = vars[i][1];
                    skip = n + 2;
                }
            }
        if (!value && p[0] == '\\' && p[1] == 'n') {
            value = "\n";
            skip = 2;
        }
        int rc = value ? append(&out, &len, &cap, value, strlen(value))
                       : append(&out, &len, &cap, p, 1);
        if (rc < 0) {
            free(out);
            return NULL;
        }
        p += value ? skip : 1;
    }
    return out;
}

/*--- the payload ---*/

/* 0 with mailbox and day (NULL: today) set, or -1 with the reason in `err`. */
static int parse_payload(json_object *payload, const char **mailbox, const char **day, char *err,
                         size_t errlen)
{
    *mailbox = *day = NULL;
    if (!payload || !json_object_is_type(payload, json_type_object)) {
        snprintf(err, errlen, "invalid payload: a JSON object is expected");
        return -1;
    }
    json_object_object_foreach(payload, key, val)
    {
        if (!strcmp(key, "mailbox") || !strcmp(key, "day")) {
            if (!json_object_is_type(val, json_type_string) || json_object_get_string_len(val) == 0) {
                snprintf(err, errlen, "invalid payload: \"%s\" must be %s, got %s", key,
                         !strcmp(key, "day") ? "a date \"YYYY-MM-DD\"" : "a mailbox address",
                         json_object_to_json_string_ext(val, JSON_C_TO_STRING_PLAIN));
                return -1;
            }
            if (!strcmp(key, "mailbox"))
                *mailbox = json_object_get_string(val);
            else
                *day = json_object_get_string(val);
        } else {
            snprintf(err, errlen, "invalid payload: unknown key \"%s\" (expected \"mailbox\", \"day\")",
                     key);
            return -1;
        }
    }
    if (!*mailbox) {
        snprintf(err, errlen, "invalid payload: \"mailbox\" is required (a mailbox address)");
        return -1;
    }
    if (*day && !valid_day(*day)) {
        snprintf(err, errlen, "invalid payload: \"day\" must be a date \"YYYY-MM-DD\", got \"%s\"",
                 *day);
        return -1;
    }
    return 0;
}

/*--- the handler ---*/

/*
 * The mailbox's account and its day, computed by PostgreSQL in the
 * mailbox's time zone: $1 mailbox, $2 day or NULL (today), $3/$4 the window.
 * The exponent is bounded by the day the cap is reached, so that a ramp
 * running for years never computes a huge power.
 */
static const char account_sql[] =
    "SELECT a.enabled, a.tenant_id, coalesce(a.from_name, ''), to_json(a.seed_recipients)::text,"
    "  d.day::text, d.day - a.started_on AS age, a.started_on::text, a.max_volume, a.time_zone,"
    "  CASE WHEN d.day < a.started_on THEN 0"
    "       WHEN a.daily_growth = 1 THEN a.start_volume"
    "       ELSE least(a.max_volume, floor(a.start_volume * power(a.daily_growth,"
    "         least(d.day - a.started_on,"
    "               ceil(ln(a.max_volume::numeric / a.start_volume) / ln(a.daily_growth)) + 1))))"
    "  END::integer AS volume,"
    "  (extract(epoch FROM (d.day + $3::time) AT TIME ZONE a.time_zone) * 1000)::float8,"
    "  (extract(epoch FROM (d.day + $4::time) AT TIME ZONE a.time_zone) * 1000)::float8,"
    "  (extract(epoch FROM clock_timestamp()) * 1000)::float8"
    " FROM warmup_accounts a,"
    "  LATERAL (SELECT coalesce($2::date, (now() AT TIME ZONE a.time_zone)::date) AS day) d"
    " WHERE a.mailbox = $1";

enum {
    C_ENABLED,
    C_TENANT,
    C_FROM_NAME,
    C_SEEDS,
    C_DAY,
    C_AGE,
    C_STARTED_ON,
    C_MAX,
    C_ZONE,
    C_VOLUME,
    C_LO,
    C_HI,
    C_NOW
};

/* The payload of job n: the guide's email shape (caller puts it). */
static json_object *email_payload(const warmup *w, const char *mailbox, const char *from_name,
                                  const char *to, const char *day, int n, const char *lead_id)
{
    char nbuf[16];
    snprintf(nbuf, sizeof nbuf, "%d", n);
    const char *const vars[][2] = {
        {"mailbox", mailbox}, {"from_name", *from_name ? from_name : mailbox},
        {"to", to},           {"day", day},
        {"n", nbuf},
    };
    size_t nvars = sizeof vars / sizeof vars[0];
    char *subject = expand(w->subject, vars, nvars), *text = expand(w->text, vars, nvars);
    json_object *o = NULL;
    if (subject && text) {
        json_object *data = json_object_new_object();
        json_object_object_add(data, "from", json_object_new_string(mailbox));
        if (*from_name)
            json_object_object_add(data, "from_name", json_object_new_string(from_name));
        json_object_object_add(data, "to", json_object_new_string(to));
        json_object_object_add(data, "subject", json_object_new_string(subject));
        json_object_object_add(data, "text", json_object_new_string(text));
        o = json_object_new_object();
        json_object_object_add(o, "campaign_id", json_object_new_string("warmup"));
        json_object_object_add(o, "lead_id", json_object_new_string(lead_id));
        json_object_object_add(o, "email_data", data);
    }
    free(subject);
    free(text);
    return o;
}

static pmq_status fail(pmq_ctx *ctx, pmq_status status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Set the error (also written to the audit trail) and return `status`. */
static pmq_status fail(pmq_ctx *ctx, pmq_status status, const char *fmt, ...)
{
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    pmq_set_error(ctx, "%s", msg);
    return status;
}

static pmq_status handle(pmq_ctx *ctx, const pmq_job *job, void *state)
{
    const warmup *w = state;
    const char *mailbox, *day_arg;
    char err[512];
    if (parse_payload(pmq_job_payload_json(job), &mailbox, &day_arg, err, sizeof err) < 0)
        return fail(ctx, PMQ_FAIL, "%s", err);

    PGconn *conn = pmq_pg(ctx);
    if (!conn)
        return fail(ctx, PMQ_RETRY, "could not read warmup mailbox \"%s\": no PostgreSQL connection",
                    mailbox);
    const char *params[] = {mailbox, day_arg, w->window_start, w->window_end};
    PGresult *res = PQexecParams(conn, account_sql, 4, NULL, params, NULL, NULL, 0);
    int64_t queried = monotonic_ms();
    if (PQresultStatus(res) != PGRES_TUPLES_OK) {
        const char *state_code = PQresultErrorField(res, PG_DIAG_SQLSTATE);
        const char *m = PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY);
        snprintf(err, sizeof err, "%s", m ? m : PQerrorMessage(conn));
        err[strcspn(err, "\n")] = '\0';
        PQclear(res);
        /* A data error (class 22: a bad date, say) will not go away. */
        return fail(ctx, state_code && !strncmp(state_code, "22", 2) ? PMQ_FAIL : PMQ_RETRY,
                    "could not read warmup mailbox \"%s\": %s", mailbox, err);
    }
    if (PQntuples(res) == 0) {
        PQclear(res);
        return fail(ctx, PMQ_FAIL, "unknown warmup mailbox \"%s\": no such row in warmup_accounts",
                    mailbox);
    }
    if (strcmp(PQgetvalue(res, 0, C_ENABLED), "t") != 0) {
        PQclear(res);
        return fail(ctx, PMQ_FAIL, "warmup mailbox \"%s\" is disabled (warmup_accounts.enabled)",
                    mailbox);
    }

    char day[11], zone[128];
    snprintf(day, sizeof day, "%s", PQgetvalue(res, 0, C_DAY));
    snprintf(zone, sizeof zone, "%s", PQgetvalue(res, 0, C_ZONE));
    long age = atol(PQgetvalue(res, 0, C_AGE));
    int volume = atoi(PQgetvalue(res, 0, C_VOLUME));
    if (age < 0) {
        pmq_log(ctx, "mailbox \"%s\": its warmup starts on %s, nothing to send on %s", mailbox,
                PQgetvalue(res, 0, C_STARTED_ON), day);
        PQclear(res);
        return PMQ_DONE;
    }
    json_object *seeds = json_tokener_parse(PQgetvalue(res, 0, C_SEEDS));
    size_t nseeds = seeds && json_object_is_type(seeds, json_type_array)
                        ? json_object_array_length(seeds)
                        : 0;
    if (nseeds == 0) {
        json_object_put(seeds);
        PQclear(res);
        return fail(ctx, PMQ_FAIL, "warmup mailbox \"%s\" has no seed_recipients to write to",
                    mailbox);
    }
    char *tenant = PQgetisnull(res, 0, C_TENANT) ? NULL : strdup(PQgetvalue(res, 0, C_TENANT));
    char *from_name = strdup(PQgetvalue(res, 0, C_FROM_NAME));
    double lo = strtod(PQgetvalue(res, 0, C_LO), NULL), hi = strtod(PQgetvalue(res, 0, C_HI), NULL),
           server_now = strtod(PQgetvalue(res, 0, C_NOW), NULL);
    pmq_log(ctx,
            "mailbox \"%s\", %s: day %ld of the ramp, %d message%s (max %s), from %s to %s %s",
            mailbox, day, age, volume, volume == 1 ? "" : "s", PQgetvalue(res, 0, C_MAX),
            w->window_start, w->window_end, zone);
    PQclear(res);
    if (!from_name) {
        json_object_put(seeds);
        free(tenant);
        return fail(ctx, PMQ_RETRY, "out of memory");
    }

    pmq_status status = PMQ_DONE;
    double slice = (hi - lo) / (volume > 0 ? volume : 1);
    int due_now = 0;
    for (int i = 0; i < volume; i++) {
        if (pmq_cancelled(ctx)) {
            status = fail(ctx, PMQ_FAIL, "cancelled after %d of %d jobs for mailbox \"%s\", %s", i,
                          volume, mailbox, day);
            break;
        }
        int n = i + 1;
        char key[512];
        snprintf(key, sizeof key, "warmup:%s:%s:%d", mailbox, day, n);
        double at = lo + slice * (i + 0.5) + slice * (hash_fraction(key) - 0.5) / 2;
        /* The server's clock now: the host adds delay_ms to it. */
        double delay = at - (server_now + (double)(monotonic_ms() - queried));
        const char *to = json_object_get_string(json_object_array_get_idx(seeds, (size_t)i % nseeds));
        json_object *payload = email_payload(w, mailbox, from_name, to ? to : "", day, n, key);
        if (!payload) {
            status = fail(ctx, PMQ_RETRY, "out of memory");
            break;
        }
        pmq_enqueue_opts opts = PMQ_ENQUEUE_OPTS_INIT;
        opts.priority = w->priority;
        opts.delay_ms = delay > 0 ? (int64_t)delay : 0;
        opts.unique_key = key;
        opts.tenant_id = tenant;
        due_now += opts.delay_ms == 0;
        int rc = pmq_enqueue(ctx, TARGET_QUEUE,
                             json_object_to_json_string_ext(payload, JSON_C_TO_STRING_PLAIN), &opts,
                             NULL);
        json_object_put(payload);
        if (rc < 0) {
            /* pmq_enqueue() said why; the retry skips what is already there. */
            pmq_log(ctx, "stopped after %d of %d jobs", i, volume);
            status = PMQ_RETRY;
            break;
        }
        pmq_progress(ctx, (double)n / volume);
    }
    if (status == PMQ_DONE)
        pmq_log(ctx, "%d job%s on queue \"%s\" (%d due already); existing ones kept", volume,
                volume == 1 ? "" : "s", TARGET_QUEUE, due_now);
    json_object_put(seeds);
    free(tenant);
    free(from_name);
    return status;
}

/*--- entry points ---*/

static void warmup_free(void *state)
{
    warmup *w = state;
    if (w) {
        free(w->subject);
        free(w->text);
    }
    free(w);
}

int pmq_plugin_init(pmq_host *host, const pmq_api *api, const pmq_section *section)
{
    PMQ_API_INIT(api);
    warmup *w = calloc(1, sizeof *w);
    if (!w) {
        pmq_init_error(host, "out of memory");
        return -1;
    }
    const char *start = pmq_config_get(section, "window_start");
    const char *end = pmq_config_get(section, "window_end");
    int smin = parse_hhmm(start), emin = parse_hhmm(end);
    if (smin < 0 || smin == 24 * 60) {
        pmq_init_error(host, "invalid window_start \"%s\": a time \"HH:MM\" is expected", start);
        goto fail;
    }
    if (emin < 0 || emin <= smin) {
        pmq_init_error(host, "invalid window_end \"%s\": %s", end,
                       emin < 0 ? "a time \"HH:MM\" is expected"
                                : "it must be later than window_start");
        goto fail;
    }
    snprintf(w->window_start, sizeof w->window_start, "%s", start);
    snprintf(w->window_end, sizeof w->window_end, "%s", end);

    int64_t priority = 0; /* unset: the queue's default */
    pmq_config_number(section, "priority", &priority);
    w->priority = (int)priority;
    w->subject = strdup(pmq_config_get(section, "subject"));
    w->text = strdup(pmq_config_get(section, "text"));
    if (!w->subject || !w->text) {
        pmq_init_error(host, "out of memory");
        goto fail;
    }

    for (const warmup_migration *m = warmup_sql; m->sql; m++)
        if (pmq_register_migration(host, m->version, m->name, m->sql) < 0)
            goto fail;
    if (pmq_register_queue(host, "warmup:process", handle, w) < 0)
        goto fail;
    pmq_register_fini(host, warmup_free, w);
    return 0;
fail:
    warmup_free(w);
    return -1;
}
