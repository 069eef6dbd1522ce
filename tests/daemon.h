/*
 * daemon.h -- running the real pmqd from integration tests: start it on a
 * configuration, find its worker processes, stop it, and wait for
 * PostgreSQL to show an expected state.  Polls; never asserts a duration.
 */
#ifndef PMQ_TEST_DAEMON_H
#define PMQ_TEST_DAEMON_H

#include <libpq-fe.h>
#include <sys/types.h>

/*
 * Start `$top_builddir/core/pmqd -c config_path`; its stderr goes to
 * <test dir>/<log_name>.log.  Returns its pid.
 */
pid_t pmq_test_pmqd_start(const char *config_path, const char *log_name);

/*
 * Send `sig` and wait up to `timeout_ms` for pmqd to exit.  Returns its wait
 * status, or -1 when it did not exit in time (it is then SIGKILLed).
 */
int pmq_test_pmqd_stop(pid_t pid, int sig, int timeout_ms);

/*
 * Poll `sql` (first column of the first row) every 20 ms until it equals
 * `expected` or `timeout_ms` passes.  Returns 1 when it did.
 */
int pmq_test_wait_sql(PGconn *pg, const char *sql, const char *expected, int timeout_ms);

/*
 * Pids of the live worker processes of all pmqd instances (from their
 * heartbeats in Redis); returns how many were written to `out`.
 */
int pmq_test_worker_pids(pid_t *out, int max);

/*
 * A configuration with the "behave" test plugin (tests/plugins/behave.c)
 * plus `extra_ini` (pools, queues).  Returns the path (caller frees).
 */
char *pmq_test_behave_config(const char *name, const char *extra_ini);

/* The log pmqd wrote under `log_name` (caller frees), for messages. */
char *pmq_test_pmqd_log(const char *log_name);

#endif /* PMQ_TEST_DAEMON_H */
