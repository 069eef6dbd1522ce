/*
 * job.c -- lifetime of the host's pmq_job and pmq_ctx (see job.h); the
 * accessors plugins call are in host_api.c.
 */
#include <json-c/json.h>
#include <libpq-fe.h>
#include <stdlib.h>
#include <string.h>

#include "job.h"

void pmq_ctx_init(pmq_ctx *ctx, const pmq_job *job, pmq_ctx_env *env)
{
    memset(ctx, 0, sizeof *ctx);
    ctx->job = job;
    ctx->env = env;
    ctx->retry_delay_ms = -1;
    ctx->progress = -1.0;
}

void pmq_ctx_reset(pmq_ctx *ctx)
{
    free(ctx->log);
    free(ctx->error);
    pmq_ctx_init(ctx, ctx->job, ctx->env);
}

void pmq_job_clear(pmq_job *job)
{
    free(job->queue);
    free(job->tenant);
    free(job->payload);
    if (job->payload_json)
        json_object_put(job->payload_json);
    memset(job, 0, sizeof *job);
}

void pmq_ctx_env_close(pmq_ctx_env *env)
{
    if (env->plugin_conn)
        PQfinish(env->plugin_conn);
    env->plugin_conn = NULL;
}
