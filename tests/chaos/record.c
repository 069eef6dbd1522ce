/*
 * record.c -- the chaos suite's handler plugin, built out of tree against
 * the installed <pmq/plugin.h> (tests/chaos/chaos.sh): it records every
 * execution in a file of its own, so that the driver can check pmq's
 * record against one that no pmq fault can touch.
 *
 * [plugin chaos]
 * path = .../chaos.so
 * record = FILE        ; one line per execution: "<job id> <attempt> D|R <pid>"
 * queues = q1 q2       ; the queues it serves
 *
 * The payload says what an execution does: {"work_ms": W, "retries": K,
 * "retry_ms": M} sleeps W ms, then asks for a retry after M ms while the
 * attempt is <= K (R), and completes after (D).  The line is written with
 * one write(2) on an O_APPEND descriptor, after the work and before the
 * handler returns: a process killed before that point did not finish the
 * execution, one killed after it did, whatever pmq then records.
 */
#include <errno.h>
#include <fcntl.h>
#include <json-c/json.h>
#include <pmq/plugin.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

PMQ_PLUGIN_MAGIC("chaos", "1.0.0", PMQ_PLUGIN_THREAD_SAFE);

#define MAX_QUEUES 8
#define LINE_MAX_LEN 128 /* 36-byte id, two numbers, a letter: well under PIPE_BUF */

static int record_fd = -1;

static long payload_long(const pmq_job *job, const char *key)
{
    json_object *v, *p = pmq_job_payload_json(job);
    return p && json_object_object_get_ex(p, key, &v) ? (long)json_object_get_int64(v) : 0;
}

static pmq_status run(pmq_ctx *ctx, const pmq_job *job, void *state)
{
    (void)state;
    long work_ms = payload_long(job, "work_ms");
    if (work_ms > 0) {
        struct timespec ts = {work_ms / 1000, (work_ms % 1000) * 1000000L};
        while (nanosleep(&ts, &ts) < 0 && errno == EINTR) {
        }
    }
    int attempt = pmq_job_attempt(job);
    int retry = attempt <= payload_long(job, "retries");

    char line[LINE_MAX_LEN];
    int len = snprintf(line, sizeof line, "%s %d %c %d\n", pmq_job_id(job), attempt,
                       retry ? 'R' : 'D', (int)getpid());
    if (write(record_fd, line, (size_t)len) != len) {
        /* Not recorded means not run, as far as the driver can tell: run it again. */
        pmq_set_error(ctx, "could not record the execution: %s", strerror(errno));
        return PMQ_RETRY;
    }
    if (retry) {
        pmq_set_error(ctx, "retry %d asked for by the payload", attempt);
        pmq_retry_after(ctx, payload_long(job, "retry_ms"));
        return PMQ_RETRY;
    }
    return PMQ_DONE;
}

int pmq_plugin_init(pmq_host *host, const pmq_api *api, const pmq_section *section)
{
    PMQ_API_INIT(api);
    const char *path = pmq_config_get(section, "record");
    const char *queues = pmq_config_get(section, "queues");
    if (!path || !*path || !queues || !*queues) {
        pmq_init_error(host, "keys \"record\" and \"queues\" are required");
        return -1;
    }
    if (record_fd < 0)
        record_fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    if (record_fd < 0) {
        pmq_init_error(host, "could not open \"%s\": %s", path, strerror(errno));
        return -1;
    }
    char names[256];
    snprintf(names, sizeof names, "%s", queues);
    int n = 0;
    for (char *save = NULL, *q = strtok_r(names, " ,", &save); q; q = strtok_r(NULL, " ,", &save)) {
        if (++n > MAX_QUEUES || pmq_register_queue(host, q, run, NULL) < 0) {
            pmq_init_error(host, "could not register queue \"%s\"", q);
            return -1;
        }
    }
    return 0;
}
