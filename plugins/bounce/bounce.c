/*
 * bounce.c -- the bounce plugin's entry points: its [plugin bounce] keys,
 * its schema, and the handler of "bounce:process" (read the bounce, mark
 * the message, record the event, suppress hard-bounced addresses).  Built
 * on <pmq/plugin.h> alone.
 */
#include <gmime/gmime.h>
#include <json-c/json.h>
#include <libpq-fe.h>
#include <pmq/plugin.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "report.h"
#include "schema.h"
#include "store.h"

/*--- configuration ---*/

#define DAY_MS 86400000LL

/* [plugin bounce]: pmqd checks these before init (conf.d/bounce.ini says more). */
static const pmq_plugin_key keys[] = {
    {"soft_bounce_limit", PMQ_KEY_INT, 0, 1000, 0, "3",
     "suppress an address after this many soft bounces (0: never)"},
    {"soft_bounce_window", PMQ_KEY_DURATION, 1000, 3650 * DAY_MS, 1000, "30d",
     "the window soft bounces are counted in"},
    {"not_a_bounce", PMQ_KEY_STRING, 0, 0, 0, "fail",
     "what to do with a message that is not a bounce: fail or ignore"},
    {NULL}};

PMQ_PLUGIN_MAGIC_KEYS("bounce", "1.0.0", PMQ_PLUGIN_THREAD_SAFE, keys);

typedef struct bounce_plugin {
    bounce_policy policy;
    int ignore_non_bounces; /* not_a_bounce = ignore */
} bounce_plugin;

static int configure(pmq_host *host, const pmq_section *section, bounce_plugin *bp)
{
    int64_t n;
    pmq_config_number(section, "soft_bounce_limit", &n);
    bp->policy.soft_limit = (int)n;
    pmq_config_number(section, "soft_bounce_window", &n);
    bp->policy.soft_window_s = (long)(n / 1000);
    const char *v = pmq_config_get(section, "not_a_bounce");
    if (!strcasecmp(v, "ignore"))
        bp->ignore_non_bounces = 1;
    else if (strcasecmp(v, "fail")) {
        pmq_init_error(host, "invalid not_a_bounce \"%s\": fail or ignore is expected", v);
        return -1;
    }
    return 0;
}

/*--- bounce:process ---*/

/* The payload's message bytes ("raw" or "raw_base64"), g_free'd by the caller. */
static char *payload_message(json_object *payload, size_t *len)
{
    json_object *v;
    if (json_object_object_get_ex(payload, "raw", &v) && json_object_is_type(v, json_type_string)) {
        *len = (size_t)json_object_get_string_len(v);
        return g_memdup2(json_object_get_string(v), *len + 1);
    }
    if (json_object_object_get_ex(payload, "raw_base64", &v) &&
        json_object_is_type(v, json_type_string)) {
        gsize n = 0;
        char *raw = (char *)g_base64_decode(json_object_get_string(v), &n);
        *len = n;
        return raw;
    }
    return NULL;
}

static pmq_status process_bounce(pmq_ctx *ctx, const pmq_job *job, void *state)
{
    const bounce_plugin *bp = state;
    json_object *payload = pmq_job_payload_json(job), *v;
    size_t len = 0;
    char *raw = payload_message(payload, &len);
    if (!raw) {
        pmq_set_error(ctx, "invalid bounce:process payload: \"raw\" (the bounce as a string) or "
                           "\"raw_base64\" is required");
        return PMQ_FAIL;
    }
    bounce_report report;
    char *why = NULL;
    int is_bounce = bounce_report_parse(raw, len, &report, &why);
    g_free(raw);
    if (!is_bounce) {
        pmq_status st = PMQ_FAIL;
        if (bp->ignore_non_bounces) {
            pmq_log(ctx, "not a bounce: %s; ignored", why);
            st = PMQ_DONE;
        } else {
            pmq_set_error(ctx, "not a bounce: %s", why);
        }
        free(why);
        return st;
    }

    const char *tenant = NULL;
    if (json_object_object_get_ex(payload, "tenant_id", &v) &&
        json_object_is_type(v, json_type_string))
        tenant = json_object_get_string(v);
    else
        tenant = pmq_job_tenant(job);
    pmq_status status = PMQ_RETRY;
    bounce_outcome *outcomes = calloc(report.nrcpts, sizeof *outcomes);
    PGconn *pg = pmq_pg(ctx);
    char *err = NULL;
    if (!outcomes) {
        pmq_set_error(ctx, "out of memory");
    } else if (!pg) {
        pmq_set_error(ctx, "no PostgreSQL connection: the bounce was not recorded");
    } else if (bounce_store_apply(pg, &report, pmq_job_id(job), tenant, &bp->policy, outcomes,
                                  &err) < 0) {
        pmq_set_error(ctx, "%s", err);
        free(err);
    } else {
        for (size_t i = 0; i < report.nrcpts; i++) {
            const bounce_recipient *r = &report.rcpts[i];
            const bounce_outcome *o = &outcomes[i];
            pmq_log(ctx, "%s bounce%s for %s: %s%s%s; message %s%s%s", r->hard ? "hard" : "soft",
                    r->delayed ? " (delayed)" : "", r->email,
                    bounce_status_code(r) ? bounce_status_code(r) : "no code",
                    r->diagnostic ? " " : "", r->diagnostic ? r->diagnostic : "",
                    o->message_id[0] ? o->message_id : "unknown",
                    r->delayed   ? " left as it is (delivery delayed)"
                    : o->matched ? " marked bounced"
                                 : " not found in email_messages",
                    o->suppressed ? "; address suppressed" : "");
        }
        status = PMQ_DONE;
    }
    free(outcomes);
    bounce_report_clear(&report);
    return status;
}

/*--- entry points ---*/

static void fini(void *state)
{
    free(state);
}

int pmq_plugin_init(pmq_host *host, const pmq_api *api, const pmq_section *section)
{
    PMQ_API_INIT(api);
    bounce_plugin *bp = calloc(1, sizeof *bp);
    if (!bp) {
        pmq_init_error(host, "out of memory");
        return -1;
    }
    if (configure(host, section, bp) < 0)
        goto fail;
    for (const bounce_migration *m = bounce_schema; m->name; m++)
        if (pmq_register_migration(host, m->version, m->name, m->sql) < 0)
            goto fail;
    if (pmq_register_queue(host, "bounce:process", process_bounce, bp) < 0)
        goto fail;
    g_mime_init(); /* once per process, before any handler thread runs */
    pmq_register_fini(host, fini, bp);
    return 0;
fail:
    free(bp);
    return -1;
}
