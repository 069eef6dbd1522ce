/*
 * daemon.h -- running the real pmqd and pmqctl from integration tests: a
 * suite's main() and test cases, pmqd started and stopped with its log
 * checked, pmqctl runs, waits for PostgreSQL to show an expected state, and
 * the processes a failed test leaves behind.  Polls; never asserts a
 * duration.
 */
#ifndef PMQ_TEST_DAEMON_H
#define PMQ_TEST_DAEMON_H

#include <check.h>
#include <libpq-fe.h>
#include <sys/types.h>

/* Any wait for pmqd to do something, SIGTERM to exit included (sanitizer builds are slow). */
#define PMQ_TEST_WAIT_MS 60000

/*--- a suite's main() ---*/

/*
 * All of a suite's main(): append `asan_options` (may be NULL) to
 * ASAN_OPTIONS for the programs the tests run (pmqd), start the servers, run
 * `s`, stop what a failed test left running.  Returns main()'s exit status.
 */
int pmq_test_main(Suite *s, const char *asan_options);

/*
 * A test case `name` added to `s`: `timeout_s` per test, the core schema
 * applied once, and what a failed test left running stopped before each
 * test.
 */
TCase *pmq_test_case(Suite *s, const char *name, int timeout_s);

/*--- processes a failed test leaves running ---*/

/*
 * A failed assertion _exits Check's test process at once, before the test
 * could stop the pmqd (or server) it started; Check then SIGKILLs the test's
 * process group, but the next test may begin before those are gone, or run
 * without fork (CK_FORK=no).  Under pmq_test_main() their pids live in
 * memory shared with main(): pmq_test_pmqd_start() tracks pmqd,
 * pmq_test_pmqd_stop() forgets it, and pmq_test_case()'s fixture and main()
 * stop what still runs (SIGCONT, SIGTERM, SIGKILL after 30 s).  A pid the
 * system has given to another process since is left alone.  Without
 * pmq_test_main() nothing is tracked.
 */
void pmq_test_track(pid_t pid);
void pmq_test_untrack(pid_t pid);
void pmq_test_stop_leftovers(void);

/*--- pmqd ---*/

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

/* What pmq_test_pmqd_stop_checked() lets pass, or requires besides. */
enum {
    PMQ_TEST_ANY_STATUS = 1, /* any exit status, as long as pmqd exits in time */
    PMQ_TEST_NO_RESTART = 2, /* no child restarted or throttled, per the log */
};

/*
 * SIGTERM pmqd; the test fails unless it exits within PMQ_TEST_WAIT_MS with
 * status 0 (any status with PMQ_TEST_ANY_STATUS) and its log holds no
 * sanitizer report ("Sanitizer", "runtime error": the plugins run in its
 * children, whose reports land there).
 */
void pmq_test_pmqd_stop_checked(pid_t pid, const char *log_name, int flags);

/*
 * The test fails when pmqd's log holds a sanitizer report (or, with
 * PMQ_TEST_NO_RESTART, a restarted child): pmq_test_pmqd_stop_checked()'s
 * look at the log, for a pmqd stopped otherwise.
 */
void pmq_test_pmqd_log_check(const char *log_name, int flags);

/* The log pmqd wrote under `log_name` (caller frees), for messages. */
char *pmq_test_pmqd_log(const char *log_name);

/*
 * The end of that log, short enough for a Check message (caller frees).
 * With PMQ_TEST_KEEP_LOG=FILE the whole log is also copied there.
 */
char *pmq_test_pmqd_log_tail(const char *log_name);

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

/*
 * Reset both servers, write pmq_test_behave_config(name, extra_ini) and
 * declare its queues with `pmqctl migrate`.  Returns the path (caller frees).
 */
char *pmq_test_behave_setup(const char *name, const char *extra_ini);

/*--- pmqctl ---*/

/*
 * `pmqctl -c CONFIG ARGS` with ARGS formatted from `fmt` (a shell command
 * line's words).  Returns its stdout and stderr (caller frees) and stores its
 * exit status in `*status`; with `status` NULL the test fails unless it is 0.
 */
char *pmq_test_ctl(const char *config, int *status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/*--- waiting for PostgreSQL ---*/

/*
 * Poll `sql` (first column of the first row) every 20 ms until it equals
 * `expected` or `timeout_ms` passes.  Returns 1 when it did.
 */
int pmq_test_wait_sql(PGconn *pg, const char *sql, const char *expected, int timeout_ms);

/*
 * The same for PMQ_TEST_WAIT_MS, failing the test with the last value and
 * the end of pmqd's log `log_name` (none when NULL) when it times out.
 */
void pmq_test_await_sql(PGconn *pg, const char *sql, const char *expected, const char *log_name);

#endif /* PMQ_TEST_DAEMON_H */
