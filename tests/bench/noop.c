/*
 * noop.c -- the benchmark's handler plugin: serves the queue "bench" and
 * does nothing, so that a benchmark measures pmq itself (claim, run, ack,
 * job_logs row) and not handler code.  It is what the peers' harness runs
 * too: BullMQ's and graphile-worker's no-op handlers.
 *
 * Not installed and not run by `make check`: tests/bench/bench.mk builds it
 * for `make bench` and tests/bench/pmq-bench loads it from the build tree.
 */
#include <pmq/plugin.h>

PMQ_PLUGIN_MAGIC("noop", "1.0.0", PMQ_PLUGIN_THREAD_SAFE);

static pmq_status noop(pmq_ctx *ctx, const pmq_job *job, void *state)
{
    (void)ctx;
    (void)job;
    (void)state;
    return PMQ_DONE;
}

int pmq_plugin_init(pmq_host *host, const pmq_api *api, const pmq_section *section)
{
    (void)section;
    PMQ_API_INIT(api);
    return pmq_register_queue(host, "bench", noop, NULL);
}
