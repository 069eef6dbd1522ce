/*
 * good.c -- a test plugin that loads: two queues, a migration, a fini, a
 * config key, and a handler the tests drive through its JSON payload.
 */
#include <json-c/json.h>
#include <stdio.h>
#include <string.h>

#include <pmq/plugin.h>

PMQ_PLUGIN_MAGIC("good", "1.2.3", PMQ_PLUGIN_THREAD_SAFE);

static pmq_host *saved_host;
static const pmq_section *saved_section;
static char greeting[64] = "hello";
static char fini_file[4096];
static int token = 42;

/*
 * Payload keys: "outcome" ("done", "retry", "fail"), "delay" (ms, with
 * retry), "progress" (number), "reason" (with fail), "late_register" (try
 * to register a queue after init), "enqueue" (a queue to enqueue on).
 */
static pmq_status handle(pmq_ctx *ctx, const pmq_job *job, void *state)
{
    struct json_object *p = pmq_job_payload_json(job), *v;
    size_t len = 0;
    const char *text = pmq_job_payload(job, &len);
    const char *tenant = pmq_job_tenant(job);
    pmq_log(ctx, "%s from queue %s, job %s, attempt %d of %d, priority %d, tenant %s, state %d",
            greeting, pmq_job_queue(job), pmq_job_id(job), pmq_job_attempt(job),
            pmq_job_max_attempts(job), pmq_job_priority(job), tenant ? tenant : "none",
            state ? *(const int *)state : -1);
    pmq_log(ctx, "payload %zu bytes: %s, created at %lld", len, text,
            (long long)pmq_job_created_at(job));
    if (!p) {
        pmq_set_error(ctx, "payload is not JSON");
        return PMQ_FAIL;
    }
    if (p != pmq_job_payload_json(job)) {
        pmq_set_error(ctx, "payload_json is not cached");
        return PMQ_FAIL;
    }
    if (json_object_object_get_ex(p, "progress", &v))
        pmq_progress(ctx, json_object_get_double(v));
    if (json_object_object_get_ex(p, "late_register", &v)) {
        int rq = pmq_register_queue(saved_host, "late", handle, NULL);
        int rf = pmq_register_fini(saved_host, (pmq_fini_fn)NULL, NULL);
        int rm = pmq_register_migration(saved_host, 99, "late", "SELECT 1");
        pmq_log(ctx, "late registration: queue %d, fini %d, migration %d", rq, rf, rm);
    }
    if (json_object_object_get_ex(p, "enqueue", &v)) {
        char id[37] = "";
        pmq_enqueue_opts opts = PMQ_ENQUEUE_OPTS_INIT;
        opts.delay_ms = 1000;
        int rc = pmq_enqueue(ctx, json_object_get_string(v), "{\"from\": \"good\"}", &opts, id);
        pmq_log(ctx, "enqueue returned %d, id \"%s\"", rc, id);
        if (rc != 0)
            return PMQ_RETRY;
    }
    if (json_object_object_get_ex(p, "config", &v)) {
        const char *val = pmq_config_get(saved_section, json_object_get_string(v));
        pmq_log(ctx, "config %s = %s", json_object_get_string(v), val ? val : "(null)");
    }
    if (pmq_cancelled(ctx)) {
        pmq_set_error(ctx, "cancelled by an operator");
        return PMQ_FAIL;
    }

    const char *outcome = "done";
    if (json_object_object_get_ex(p, "outcome", &v))
        outcome = json_object_get_string(v);
    if (!strcmp(outcome, "retry")) {
        pmq_set_error(ctx, "asked to retry");
        if (json_object_object_get_ex(p, "delay", &v))
            pmq_retry_after(ctx, json_object_get_int64(v));
        return PMQ_RETRY;
    }
    if (!strcmp(outcome, "fail")) {
        const char *reason = "no reason";
        if (json_object_object_get_ex(p, "reason", &v))
            reason = json_object_get_string(v);
        pmq_set_error(ctx, "asked to fail: %s", reason);
        return PMQ_FAIL;
    }
    return PMQ_DONE;
}

static void fini(void *state)
{
    if (!fini_file[0])
        return;
    FILE *f = fopen(fini_file, "a");
    if (!f)
        return;
    fprintf(f, "fini good %d\n", state ? *(const int *)state : -1);
    fclose(f);
}

int pmq_plugin_init(pmq_host *host, const pmq_api *api, const pmq_section *section)
{
    PMQ_API_INIT(api);
    saved_host = host;
    saved_section = section;
    const char *g = pmq_config_get(section, "greeting");
    if (g)
        snprintf(greeting, sizeof greeting, "%s", g);
    const char *f = pmq_config_get(section, "fini_file");
    if (f)
        snprintf(fini_file, sizeof fini_file, "%s", f);
    if (pmq_register_queue(host, "good-a", handle, &token) != 0 ||
        pmq_register_queue(host, "good-b", handle, &token) != 0 ||
        pmq_register_migration(host, 1, "create good_rows", "CREATE TABLE good_rows (id int)") !=
            0 ||
        pmq_register_fini(host, fini, &token) != 0) {
        pmq_init_error(host, "registration failed");
        return -1;
    }
    pmq_host_log(host, PMQ_LOG_INFO, "ready, greeting \"%s\"", greeting);
    return 0;
}
