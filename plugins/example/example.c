/*
 * example.c -- the plugin to copy when writing your own: serves the queue
 * "example" and shows the whole ABI in a few lines: payload access, the
 * audit trail, progress, retry with a chosen delay, and failure.
 *
 * Payload keys (all optional):
 *   "greet": "name"   logged as "hello, name"
 *   "work_ms": N      pretend to work for N ms
 *   "fail_times": N   ask for a retry on the first N attempts
 *   "fail": true      fail for good (the job is dead-lettered)
 */
#include <json-c/json.h>
#include <pmq/plugin.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/*
 * The keys of [plugin example]: pmqd checks a section against them before
 * init runs (unknown keys, bad values, with file and line), and init reads
 * the checked values with pmq_config_number() and pmq_config_get().
 */
static const pmq_plugin_key keys[] = {
    {"retry_delay_ms", PMQ_KEY_DURATION, 0, 3650LL * 86400000, 1, NULL,
     "the delay a retry asks for (a bare number is milliseconds); default: the queue's back-off"},
    {NULL}};

PMQ_PLUGIN_MAGIC_KEYS("example", "1.0.0", PMQ_PLUGIN_THREAD_SAFE, keys);

typedef struct example {
    int64_t retry_delay_ms; /* -1: the queue's back-off */
} example;

static long get_int(json_object *payload, const char *key, long dflt)
{
    json_object *v;
    return json_object_object_get_ex(payload, key, &v) ? (long)json_object_get_int64(v) : dflt;
}

static pmq_status handle(pmq_ctx *ctx, const pmq_job *job, void *state)
{
    const example *ex = state;
    json_object *payload = pmq_job_payload_json(job);
    json_object *v;

    if (json_object_object_get_ex(payload, "greet", &v))
        pmq_log(ctx, "hello, %s", json_object_get_string(v));

    long work_ms = get_int(payload, "work_ms", 0);
    if (work_ms > 0) {
        struct timespec ts = {work_ms / 1000, (work_ms % 1000) * 1000000L};
        nanosleep(&ts, NULL);
        pmq_progress(ctx, 1.0);
    }

    if (json_object_object_get_ex(payload, "fail", &v) && json_object_get_boolean(v)) {
        pmq_set_error(ctx, "the payload asked to fail");
        return PMQ_FAIL;
    }
    long fail_times = get_int(payload, "fail_times", 0);
    if (pmq_job_attempt(job) <= fail_times) {
        pmq_set_error(ctx, "attempt %d of %ld planned failures", pmq_job_attempt(job), fail_times);
        if (ex->retry_delay_ms >= 0)
            pmq_retry_after(ctx, ex->retry_delay_ms);
        return PMQ_RETRY;
    }
    pmq_log(ctx, "done on attempt %d", pmq_job_attempt(job));
    return PMQ_DONE;
}

static void fini(void *state)
{
    free(state);
}

int pmq_plugin_init(pmq_host *host, const pmq_api *api, const pmq_section *section)
{
    PMQ_API_INIT(api);
    example *ex = calloc(1, sizeof *ex);
    if (!ex) {
        pmq_init_error(host, "out of memory");
        return -1;
    }
    if (pmq_config_number(section, "retry_delay_ms", &ex->retry_delay_ms) < 0)
        ex->retry_delay_ms = -1; /* not set */
    if (pmq_register_queue(host, "example", handle, ex) < 0) {
        free(ex);
        return -1;
    }
    pmq_register_fini(host, fini, ex);
    return 0;
}
