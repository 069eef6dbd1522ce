/*
 * harness.h -- what integration tests share: a private PostgreSQL and Redis
 * per test program (scripts/pmq-servers in a temporary directory), client
 * connections and queries to them, config files pointing at them, and a
 * shell runner.
 * Owns no pmq logic beyond calling pmq_migrate().
 */
#ifndef PMQ_TEST_HARNESS_H
#define PMQ_TEST_HARNESS_H

#include <hiredis/hiredis.h>
#include <libpq-fe.h>

#include "keys.h"

/*
 * A Redis key as keys.h names it, in a buffer that lives to the end of the
 * enclosing block: PMQ_TEST_KEY(pmq_key_job, "", id) (the tests' [redis]
 * has no key prefix unless a test writes one).
 */
#define PMQ_TEST_KEY(builder, ...) builder((char[PMQ_KEY_MAX]){0}, __VA_ARGS__)

/*
 * Start the servers, once per test program: call it in main() before
 * srunner_run_all().  Sets PMQ_PG_SOCKET_DIR, PMQ_PG_PORT, PMQ_PG_CONNINFO
 * and PMQ_REDIS_SOCKET in the environment (children and programs the tests
 * run inherit them).  The servers are stopped and the directory removed when
 * this process exits or gets SIGINT/SIGTERM; Check's forked test processes
 * never stop them.  Exits with status 99 (a hard error) when they cannot
 * start.
 */
void pmq_test_servers_start(void);

/* Borrowed strings, valid for the whole program. */
const char *pmq_test_conninfo(void);
const char *pmq_test_redis_socket(void);
const char *pmq_test_dir(void);

/* New connections (caller closes); a test fails when they cannot connect. */
PGconn *pmq_test_pg(void);
redisContext *pmq_test_redis(void);

/*
 * Write DIR/<name>.ini: [database] and [redis] sections for the private
 * servers, then `extra_ini` (may be NULL).  Returns the path (caller frees).
 */
char *pmq_test_write_config(const char *name, const char *extra_ini);

/* Apply the core schema to the "pmq" database with pmq_migrate(). */
void pmq_test_migrate(void);

/* Empty the job tables (job_queues included) and FLUSHALL Redis. */
void pmq_test_reset(void);

/*
 * Run `cmdline` with /bin/sh; returns its stdout and stderr interleaved
 * (caller frees) and stores its exit status in `*status` (128+N when killed
 * by signal N) when `status` is not NULL.
 */
char *pmq_test_run(const char *cmdline, int *status);

/* Run SQL on `conn`; the test fails unless it succeeds. */
void pmq_test_exec(PGconn *conn, const char *sql);
/* The first column of the first row, or NULL for no row/NULL (caller frees);
 * the test fails unless the query succeeds. */
char *pmq_test_query1(PGconn *conn, const char *sql);

/* The first column of every row, one per line (caller frees); the test
 * fails unless the query succeeds.  For EXPLAIN output. */
char *pmq_test_rows(PGconn *conn, const char *sql);

/* pmq_test_query1() and pmq_test_exec() of a query formatted from `fmt`. */
char *pmq_test_sqlf(PGconn *conn, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void pmq_test_execf(PGconn *conn, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* The first value of a formatted query must be `want`, or the test fails. */
void pmq_test_assert_sql(PGconn *conn, const char *want, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#endif /* PMQ_TEST_HARNESS_H */
