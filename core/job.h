/*
 * job.h -- the host's side of the handles a handler sees: pmq_job (one job as
 * claimed from Redis) and pmq_ctx (one attempt of it).  host_api.c exposes
 * them to plugins through the accessor functions of <pmq/plugin.h>; no
 * plugin ever sees these layouts.
 */
#ifndef PMQ_JOB_H
#define PMQ_JOB_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "pmq/plugin.h"

struct json_object;
struct pg_conn;

/* A job id is a UUID in text: 36 characters, and the NUL. */
#define PMQ_JOB_ID_LEN 36
#define PMQ_JOB_ID_SIZE (PMQ_JOB_ID_LEN + 1)

struct pmq_job {
    char id[PMQ_JOB_ID_SIZE];
    char *queue;
    int attempt; /* 1-based: attempts already finished + 1 */
    int max_attempts;
    int priority;
    char *tenant;          /* or NULL */
    char *payload;         /* JSON object text, NUL-terminated */
    size_t payload_len;
    struct json_object *payload_json; /* parsed on first use */
    time_t created_at;
};

/* Where a handler's follow-up work and SQL go: one per worker thread. */
typedef struct pmq_ctx_env {
    const char *conninfo;        /* for the plugin's own connection */
    struct pg_conn *plugin_conn; /* opened on first pmq_pg() */
} pmq_ctx_env;

struct pmq_ctx {
    const pmq_job *job;
    pmq_ctx_env *env;
    char *log;               /* audit lines, '\n'-separated; or NULL */
    size_t log_len;
    char *error;             /* set_error(), or NULL */
    int64_t retry_delay_ms;  /* -1: the queue's back-off */
    double progress;         /* -1: never reported */
    volatile int cancelled;
};

/* Start an attempt of `job`; pmq_ctx_reset() frees what it collected. */
void pmq_ctx_init(pmq_ctx *ctx, const pmq_job *job, pmq_ctx_env *env);
void pmq_ctx_reset(pmq_ctx *ctx);

/* Free what pmq_job owns (not the struct itself). */
void pmq_job_clear(pmq_job *job);

/* Close the plugin connection of a worker thread. */
void pmq_ctx_env_close(pmq_ctx_env *env);

#endif /* PMQ_JOB_H */
