/*
 * errand.c -- short-lived children doing the master's job work (see
 * errand.h).
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "db.h"
#include "errand.h"
#include "errors.h"
#include "log.h"
#include "redis.h"

/*
 * Fork a child that exits with run(arg)'s status.  With `wait`, wait for it
 * and store its wait status in `*status`.  Returns its pid, or -1.
 */
static pid_t run_errand(const char *what, int (*run)(const void *arg), const void *arg, int wait,
                        int *status)
{
    fflush(NULL); /* nothing buffered may be written twice */
    pid_t pid = fork();
    if (pid < 0) {
        log_error("could not fork to %s: %s", what, strerror(errno));
        return -1;
    }
    if (pid == 0)
        _exit(run(arg));
    while (wait && waitpid(pid, status, 0) < 0 && errno == EINTR)
        ;
    return pid;
}

static int check_redis(const void *arg)
{
    const pmq_config *cfg = arg;
    pmq_errors errs = PMQ_ERRORS_INIT;
    pmq_redis *r = pmq_redis_connect(cfg, &errs);
    if (r && pmq_redis_check_version(r, &errs) == 0)
        pmq_redis_check_eviction(r, &errs);
    pmq_redis_free(r);
    int rc = errs.count ? 1 : 0;
    pmq_errors_print(&errs, stderr, "pmqd");
    pmq_errors_clear(&errs);
    return rc;
}

int pmq_errand_preflight(const pmq_config *cfg)
{
    int status = 0;
    if (run_errand("check Redis", check_redis, cfg, 1, &status) < 0)
        return -1;
    return WIFEXITED(status) && WEXITSTATUS(status) == 0 ? 0 : -1;
}

typedef struct release_args {
    const pmq_config *cfg;
    const pmq_death_note *const *notes;
    size_t n;
    const char *reason;
    int charge;
} release_args;

static int release(const void *arg)
{
    const release_args *a = arg;
    pmq_errors errs = PMQ_ERRORS_INIT;
    PGconn *pg = pmq_db_connect(a->cfg, &errs);
    pmq_redis *r = pg ? pmq_redis_connect(a->cfg, &errs) : NULL;
    for (size_t i = 0; r && i < a->n; i++) {
        const pmq_death_note *note = a->notes[i];
        pmq_recover_worker(a->cfg, pg, r, note->worker_id, a->charge ? note->reason : a->reason,
                           note, a->charge);
    }
    for (size_t i = 0; i < errs.count; i++)
        log_error("could not requeue interrupted jobs: %s (they are recovered when their "
                  "heartbeat expires)", errs.items[i].message);
    int rc = errs.count ? 1 : 0;
    pmq_errors_clear(&errs);
    pmq_redis_free(r);
    PQfinish(pg);
    return rc;
}

pid_t pmq_errand_release(const pmq_config *cfg, const pmq_death_note *const *notes, size_t n,
                         const char *reason, int charge, int wait)
{
    release_args a = {cfg, notes, n, reason, charge};
    int status;
    return run_errand("release interrupted jobs", release, &a, wait, &status);
}
