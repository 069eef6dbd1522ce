/*
 * supervisor.c -- pmqd's master process (see supervisor.h).
 */
#include <signal.h>
#include <unistd.h>

#include "log.h"
#include "supervisor.h"

static volatile sig_atomic_t stop_requested;

static void on_stop(int sig)
{
    (void)sig;
    stop_requested = 1;
}

int pmq_supervisor_run(const char *path, const pmq_config *cfg)
{
    (void)cfg;
    signal(SIGTERM, on_stop);
    signal(SIGINT, on_stop);
    log_info("started with \"%s\"", path);
    while (!stop_requested)
        pause();
    log_info("stopped");
    return 0;
}
