/*
 * behave.c -- a test plugin whose queues behave as the integration tests
 * need: succeed, fail a few times, fail always, crash, hang.
 *   t.ok      DONE; payload "work_ms" sleeps first
 *   t.flaky   RETRY while attempt <= payload "fail_times", then DONE
 *   t.fail    RETRY always (dead-lettered when attempts run out)
 *   t.fatal   FAIL at once (dead-lettered without retry)
 *   t.crash   SIGSEGV while attempt <= payload "crash_times" (default: always)
 *   t.hang    sleeps for ever (until the timeout kills it)
 *   t.json    DONE when pmq_job_payload_json() parses the payload, else FAIL
 *   t.cancel  waits until an operator cancels the job (pmq_cancelled), then
 *             creates the file named by payload "mark" and returns FAIL
 * With PMQ_BEHAVE_DIE_AT_INIT naming a file, init dies of SIGSEGV while that
 * file exists (after the milliseconds it holds, if any): a child that keeps
 * dying at start-up.
 */
#include <json-c/json.h>
#include <pmq/plugin.h>
#include <fcntl.h>
#include <stdio.h>
#include <signal.h>
#include <stddef.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

PMQ_PLUGIN_MAGIC("behave", "1.0.0", PMQ_PLUGIN_THREAD_SAFE);

static long payload_int(const pmq_job *job, const char *key, long dflt)
{
    json_object *v;
    json_object *p = pmq_job_payload_json(job);
    return p && json_object_object_get_ex(p, key, &v) ? (long)json_object_get_int64(v) : dflt;
}

static void sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

static pmq_status ok(pmq_ctx *ctx, const pmq_job *job, void *state)
{
    long ms = payload_int(job, "work_ms", 0);
    if (ms > 0)
        sleep_ms(ms);
    pmq_log(ctx, "ok on attempt %d", pmq_job_attempt(job));
    return PMQ_DONE;
}

static pmq_status flaky(pmq_ctx *ctx, const pmq_job *job, void *state)
{
    if (pmq_job_attempt(job) <= payload_int(job, "fail_times", 0)) {
        pmq_set_error(ctx, "flaky failure %d", pmq_job_attempt(job));
        return PMQ_RETRY;
    }
    return PMQ_DONE;
}

static pmq_status fail(pmq_ctx *ctx, const pmq_job *job, void *state)
{
    pmq_set_error(ctx, "always fails (attempt %d)", pmq_job_attempt(job));
    return PMQ_RETRY;
}

static pmq_status fatal(pmq_ctx *ctx, const pmq_job *job, void *state)
{
    pmq_set_error(ctx, "fatal failure");
    return PMQ_FAIL;
}

static pmq_status crash(pmq_ctx *ctx, const pmq_job *job, void *state)
{
    if (pmq_job_attempt(job) <= payload_int(job, "crash_times", 1000))
        raise(SIGSEGV);
    return PMQ_DONE;
}

static pmq_status json(pmq_ctx *ctx, const pmq_job *job, void *state)
{
    if (!pmq_job_payload_json(job)) {
        pmq_set_error(ctx, "pmq_job_payload_json returned NULL");
        return PMQ_FAIL;
    }
    return PMQ_DONE;
}

static pmq_status hang(pmq_ctx *ctx, const pmq_job *job, void *state)
{
    for (;;)
        pause();
    return PMQ_DONE;
}

static pmq_status cancel(pmq_ctx *ctx, const pmq_job *job, void *state)
{
    json_object *mark;
    json_object *p = pmq_job_payload_json(job);
    while (!pmq_cancelled(ctx))
        sleep_ms(10);
    if (p && json_object_object_get_ex(p, "mark", &mark)) {
        int fd = open(json_object_get_string(mark), O_WRONLY | O_CREAT, 0644);
        if (fd >= 0)
            close(fd);
    }
    pmq_set_error(ctx, "saw the cancellation");
    return PMQ_FAIL;
}

int pmq_plugin_init(pmq_host *host, const pmq_api *api, const pmq_section *section)
{
    PMQ_API_INIT(api);
    const char *die = getenv("PMQ_BEHAVE_DIE_AT_INIT");
    FILE *f = die && *die ? fopen(die, "r") : NULL;
    if (f) {
        long ms = 0; /* a slow start-up: the file may say how long init takes to die */
        if (fscanf(f, "%ld", &ms) == 1 && ms > 0)
            sleep_ms(ms);
        fclose(f);
        raise(SIGSEGV);
    }
    static const struct {
        const char *queue;
        pmq_handler_fn fn;
    } queues[] = {{"t.ok", ok},       {"t.flaky", flaky}, {"t.fail", fail},
                  {"t.fatal", fatal}, {"t.crash", crash}, {"t.hang", hang},
                  {"t.json", json},   {"t.cancel", cancel}};
    for (size_t i = 0; i < sizeof queues / sizeof queues[0]; i++)
        if (pmq_register_queue(host, queues[i].queue, queues[i].fn, NULL) < 0)
            return -1;
    /* PMQ_BEHAVE_MANY_QUEUES=N: also t.many.1 .. t.many.N, served as t.ok is. */
    const char *many = getenv("PMQ_BEHAVE_MANY_QUEUES");
    for (int i = 1; many && i <= atoi(many); i++) {
        char name[32];
        snprintf(name, sizeof name, "t.many.%d", i);
        if (pmq_register_queue(host, name, ok, NULL) < 0)
            return -1;
    }
    return 0;
}
