/*
 * test_schema.c -- the core schema against a real PostgreSQL: migrations
 * (once, concurrently, failing), pmq_enqueue() and pmq_enqueue_many() from
 * psql and libpq (transactions, NOTIFY, defaults, errors, unique keys), the
 * claim query's plan, pmq_sync_queues() and the db helpers.
 */

#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <check.h>
#include <libpq-fe.h>

#include "config.h"
#include "db.h"
#include "errors.h"
#include "harness.h"
#include "migrate.h"
#include "plugin_loader.h"
#include "util.h"

/*--- helpers ---*/

static size_t core_migration_count(void)
{
    size_t n = 0;
    while (pmq_core_sql[n].sql)
        n++;
    return n;
}

static PGconn *connect_to(const char *conninfo)
{
    PGconn *conn = PQconnectdb(conninfo);
    ck_assert_msg(PQstatus(conn) == CONNECTION_OK, "connect %s: %s", conninfo,
                  PQerrorMessage(conn));
    return conn;
}

/*
 * A new empty schema, alone on the search_path of the conninfo returned
 * (caller frees): a fresh place to migrate into, much cheaper than a
 * database, and proof that the schema does not assume "public".
 */
static char *scratch_schema(const char *name)
{
    PGconn *conn = pmq_test_pg();
    char *sql = pmq_asprintf("SET client_min_messages = warning; DROP SCHEMA IF EXISTS %s CASCADE;"
                             " CREATE SCHEMA %s",
                             name, name);
    pmq_test_exec(conn, sql);
    free(sql);
    PQfinish(conn);
    return pmq_asprintf("%s options='-c search_path=%s'", pmq_test_conninfo(), name);
}

static long query_long(PGconn *conn, const char *sql)
{
    char *v = pmq_test_query1(conn, sql);
    ck_assert_msg(v != NULL, "%s returned no value", sql);
    long n = strtol(v, NULL, 10);
    free(v);
    return n;
}

/* The first value `sql` returns, which must exist, compared with `want`. */
static void assert_query_str(PGconn *conn, const char *sql, const char *want)
{
    char *v = pmq_test_query1(conn, sql);
    ck_assert_msg(v != NULL, "%s returned no value", sql);
    ck_assert_msg(strcmp(v, want) == 0, "%s returned \"%s\", expected \"%s\"", sql, v, want);
    free(v);
}

static char *sh_quote(const char *s)
{
    size_t n = 3;
    for (const char *p = s; *p; p++)
        n += *p == '\'' ? 4 : 1;
    char *out = pmq_xmalloc(n), *o = out;
    *o++ = '\'';
    for (const char *p = s; *p; p++) {
        if (*p == '\'') {
            memcpy(o, "'\\''", 4);
            o += 4;
        } else {
            *o++ = *p;
        }
    }
    *o++ = '\'';
    *o = '\0';
    return out;
}

/* Run psql with one -c per SQL argument (NULL-terminated), as a producer
 * written in any language would talk to pmq. */
static char *psql(int *status, ...)
{
    char *q = sh_quote(pmq_test_conninfo());
    char *cmd = pmq_asprintf("psql -X -q -At -v ON_ERROR_STOP=1 -d %s", q);
    free(q);
    va_list ap;
    va_start(ap, status);
    const char *sql;
    while ((sql = va_arg(ap, const char *))) {
        q = sh_quote(sql);
        char *next = pmq_asprintf("%s -c %s", cmd, q);
        free(q);
        free(cmd);
        cmd = next;
    }
    va_end(ap);
    char *out = pmq_test_run(cmd, status);
    free(cmd);
    return out;
}

static void chomp(char *s)
{
    size_t n = strlen(s);
    while (n > 0 && (s[n - 1] == '\n' || s[n - 1] == '\r'))
        s[--n] = '\0';
}

/* Collect "pmq_jobs" notifications until `want` arrived or `timeout_ms`
 * passed; returns how many arrived. */
static int wait_notifies(PGconn *listener, int timeout_ms, int want)
{
    int got = 0;
    int64_t end = pmq_now_ms() + timeout_ms;
    for (;;) {
        ck_assert_int_eq(PQconsumeInput(listener), 1);
        PGnotify *n;
        while ((n = PQnotifies(listener)) != NULL) {
            ck_assert_str_eq(n->relname, "pmq_jobs");
            ck_assert_str_eq(n->extra, "");
            got++;
            PQfreemem(n);
        }
        int64_t left = end - pmq_now_ms();
        if (got >= want || left <= 0)
            return got;
        struct pollfd pfd = {PQsocket(listener), POLLIN, 0};
        poll(&pfd, 1, (int)left);
    }
}

static PGconn *listener_new(void)
{
    PGconn *l = pmq_test_pg();
    pmq_test_exec(l, "LISTEN pmq_jobs");
    return l;
}

/*
 * Run `sql` and check the error: SQLSTATE, primary message, DETAIL (NULL:
 * none) and a fragment of the HINT (NULL: not checked).
 */
static void expect_error(PGconn *conn, const char *sql, const char *sqlstate, const char *primary,
                         const char *detail, const char *hint_part)
{
    PGresult *res = PQexec(conn, sql);
    ck_assert_msg(PQresultStatus(res) == PGRES_FATAL_ERROR, "%s succeeded", sql);
    const char *st = PQresultErrorField(res, PG_DIAG_SQLSTATE);
    const char *msg = PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY);
    const char *det = PQresultErrorField(res, PG_DIAG_MESSAGE_DETAIL);
    const char *hint = PQresultErrorField(res, PG_DIAG_MESSAGE_HINT);
    ck_assert_msg(st && strcmp(st, sqlstate) == 0, "%s: SQLSTATE %s, expected %s", sql,
                  st ? st : "(none)", sqlstate);
    ck_assert_msg(msg && strcmp(msg, primary) == 0, "%s: message \"%s\", expected \"%s\"", sql,
                  msg ? msg : "(none)", primary);
    if (detail)
        ck_assert_msg(det && strcmp(det, detail) == 0, "%s: detail \"%s\", expected \"%s\"", sql,
                      det ? det : "(none)", detail);
    if (hint_part)
        ck_assert_msg(hint && strstr(hint, hint_part), "%s: hint \"%s\" lacks \"%s\"", sql,
                      hint ? hint : "(none)", hint_part);
    PQclear(res);
}

static char *expected_report(void)
{
    char *s = pmq_xstrdup("");
    for (size_t i = 0; pmq_core_sql[i].sql; i++) {
        char *next = pmq_asprintf("%sapplied core %03d %s\n", s, pmq_core_sql[i].version,
                                  pmq_core_sql[i].name);
        free(s);
        s = next;
    }
    return s;
}

/*--- migrations ---*/

START_TEST(migrate_applies_each_once)
{
    size_t ncore = core_migration_count();
    ck_assert_uint_ge(ncore, 1);
    ck_assert_int_eq(pmq_core_sql[0].version, 1);
    ck_assert_str_eq(pmq_core_sql[0].name, "init");

    char *conninfo = scratch_schema("pmq_mig_once");
    PGconn *conn = connect_to(conninfo);
    pmq_errors errs = PMQ_ERRORS_INIT;
    char *buf = NULL;
    size_t len = 0;
    FILE *report = open_memstream(&buf, &len);
    int n = pmq_migrate(conn, NULL, report, &errs);
    fclose(report);
    pmq_errors_print(&errs, stderr, "migrate");
    ck_assert_int_eq(n, (int)ncore);
    ck_assert_uint_eq(errs.count, 0);
    char *want = expected_report();
    ck_assert_str_eq(buf, want);
    ck_assert(strstr(buf, "applied core 001 init\n") == buf);
    free(want);
    free(buf);

    ck_assert_int_eq(query_long(conn, "SELECT count(*) FROM pmq_migrations"), (long)ncore);
    assert_query_str(conn,
                     "SELECT component || ' ' || version || ' ' || name FROM pmq_migrations"
                     " ORDER BY version LIMIT 1",
                     "core 1 init");
    ck_assert_int_eq(query_long(conn, "SELECT count(*) FROM pmq_migrations"
                                      " WHERE applied_at > now() - interval '1 minute'"),
                     (long)ncore);
    assert_query_str(conn,
                     "SELECT to_regclass('jobs') IS NOT NULL AND to_regclass('job_queues') IS NOT NULL"
                     " AND to_regclass('job_logs') IS NOT NULL"
                     " AND to_regclass('analytics_jobs') IS NOT NULL"
                     " AND to_regprocedure('pmq_enqueue(text,jsonb,integer,timestamptz,integer,text,text)')"
                     " IS NOT NULL"
                     " AND to_regprocedure('pmq_enqueue_many(text,jsonb,integer,timestamptz,integer,text)')"
                     " IS NOT NULL",
                     "t");
    /* The advisory lock is released. */
    ck_assert_int_eq(query_long(conn, "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory'"),
                     0);

    /* A second run applies nothing and says nothing. */
    buf = NULL;
    report = open_memstream(&buf, &len);
    n = pmq_migrate(conn, NULL, report, &errs);
    fclose(report);
    ck_assert_int_eq(n, 0);
    ck_assert_uint_eq(errs.count, 0);
    ck_assert_str_eq(buf, "");
    free(buf);
    ck_assert_int_eq(query_long(conn, "SELECT count(*) FROM pmq_migrations"), (long)ncore);
    ck_assert_int_eq(PQtransactionStatus(conn), PQTRANS_IDLE);
    PQfinish(conn);
    free(conninfo);
}
END_TEST

START_TEST(migrate_concurrently)
{
    size_t ncore = core_migration_count();
    char *conninfo = scratch_schema("pmq_mig_race");
    int ready[2], go[2];
    ck_assert_int_eq(pipe(ready), 0);
    ck_assert_int_eq(pipe(go), 0);
    pid_t pids[2];
    for (int i = 0; i < 2; i++) {
        pids[i] = fork();
        ck_assert_int_ge(pids[i], 0);
        if (pids[i] == 0) {
            close(ready[0]);
            close(go[1]);
            PGconn *conn = PQconnectdb(conninfo);
            if (PQstatus(conn) != CONNECTION_OK)
                _exit(100);
            char c = 'r', x;
            if (write(ready[1], &c, 1) != 1)
                _exit(101);
            /* Start together: both block here until the parent closes `go`. */
            if (read(go[0], &x, 1) != 0)
                _exit(102);
            pmq_errors errs = PMQ_ERRORS_INIT;
            int n = pmq_migrate(conn, NULL, NULL, &errs);
            pmq_errors_print(&errs, stderr, "concurrent migrate");
            PQfinish(conn);
            _exit(n < 0 ? 103 : n);
        }
    }
    close(ready[1]);
    close(go[0]);
    char c;
    for (int i = 0; i < 2; i++)
        ck_assert_int_eq(read(ready[0], &c, 1), 1);
    close(go[1]);
    int total = 0;
    for (int i = 0; i < 2; i++) {
        int st;
        ck_assert_int_eq(waitpid(pids[i], &st, 0), pids[i]);
        ck_assert_msg(WIFEXITED(st), "migrating process died");
        int n = WEXITSTATUS(st);
        ck_assert_msg(n == 0 || n == (int)ncore, "a migrating process exited with %d", n);
        total += n;
    }
    close(ready[0]);
    /* Exactly one of them applied everything; each is recorded once. */
    ck_assert_int_eq(total, (int)ncore);
    PGconn *conn = connect_to(conninfo);
    ck_assert_int_eq(query_long(conn, "SELECT count(*) FROM pmq_migrations"), (long)ncore);
    ck_assert_int_eq(query_long(conn, "SELECT count(DISTINCT (component, version))"
                                      " FROM pmq_migrations"),
                     (long)ncore);
    PQfinish(conn);
    free(conninfo);
}
END_TEST

START_TEST(migrate_failure_rolls_back)
{
    char *conninfo = scratch_schema("pmq_mig_fail");
    PGconn *conn = connect_to(conninfo);
    /* Something already owns the name "jobs": 001 cannot apply. */
    pmq_test_exec(conn, "CREATE TABLE jobs (x int)");
    pmq_errors errs = PMQ_ERRORS_INIT;
    char *buf = NULL;
    size_t len = 0;
    FILE *report = open_memstream(&buf, &len);
    int n = pmq_migrate(conn, NULL, report, &errs);
    fclose(report);
    ck_assert_int_eq(n, -1);
    ck_assert_str_eq(buf, "");
    free(buf);
    ck_assert_uint_eq(errs.count, 1);
    ck_assert_str_eq(errs.items[0].message,
                     "could not apply migration core 001 \"init\": relation \"jobs\" already exists");
    /* Nothing of 001 remains, nothing is recorded, the lock is gone and the
     * connection is usable. */
    ck_assert_int_eq(PQtransactionStatus(conn), PQTRANS_IDLE);
    ck_assert_int_eq(query_long(conn, "SELECT count(*) FROM pmq_migrations"), 0);
    assert_query_str(conn, "SELECT to_regclass('job_queues') IS NULL", "t");
    ck_assert_int_eq(query_long(conn, "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory'"),
                     0);
    pmq_errors_clear(&errs);

    /* Once the obstacle is gone, the same call succeeds. */
    pmq_test_exec(conn, "DROP TABLE jobs");
    ck_assert_int_eq(pmq_migrate(conn, NULL, NULL, &errs), (int)core_migration_count());
    ck_assert_uint_eq(errs.count, 0);
    PQfinish(conn);
    free(conninfo);
}
END_TEST

/*--- pmq_enqueue ---*/

static void reset(void)
{
    pmq_test_reset();
}

START_TEST(enqueue_follows_the_transaction)
{
    PGconn *conn = pmq_test_pg();
    pmq_test_exec(conn, "INSERT INTO job_queues (name) VALUES ('mail')");
    PGconn *listener = listener_new();

    int status;
    char *out = psql(&status, "BEGIN", "SELECT pmq_enqueue('mail', '{\"to\": \"a@example.com\"}')",
                     "ROLLBACK", (char *)NULL);
    ck_assert_msg(status == 0, "psql failed: %s", out);
    chomp(out);
    ck_assert_uint_eq(strlen(out), 36); /* the uuid it returned */
    free(out);
    ck_assert_int_eq(query_long(conn, "SELECT count(*) FROM jobs"), 0);
    ck_assert_int_eq(wait_notifies(listener, 150, 1), 0);

    out = psql(&status, "BEGIN", "SELECT pmq_enqueue('mail', '{\"to\": \"b@example.com\"}')",
               "COMMIT", (char *)NULL);
    ck_assert_msg(status == 0, "psql failed: %s", out);
    chomp(out);
    ck_assert_uint_eq(strlen(out), 36);
    ck_assert_int_eq(query_long(conn, "SELECT count(*) FROM jobs"), 1);
    char *sql = pmq_asprintf("SELECT payload->>'to' FROM jobs WHERE id = '%s'", out);
    assert_query_str(conn, sql, "b@example.com");
    free(sql);
    free(out);
    ck_assert_int_eq(wait_notifies(listener, 5000, 1), 1);
    /* One commit, one wake-up. */
    ck_assert_int_eq(wait_notifies(listener, 150, 1), 0);

    /* Without an explicit transaction too (autocommit). */
    out = psql(&status, "SELECT pmq_enqueue('mail', '{}')", (char *)NULL);
    ck_assert_msg(status == 0, "psql failed: %s", out);
    free(out);
    ck_assert_int_eq(wait_notifies(listener, 5000, 1), 1);
    ck_assert_int_eq(query_long(conn, "SELECT count(*) FROM jobs"), 2);
    PQfinish(listener);
    PQfinish(conn);
}
END_TEST

/*
 * A migrator that is awake holds advisory lock 1 and polls: producers then
 * skip the NOTIFY, whose commits PostgreSQL serialises.  Each enqueueing
 * transaction holds lock 2 (shared) until it ends, so that the migrator can
 * tell when the last producer that skipped has ended (sql/004_quiet_notify.sql).
 */
START_TEST(enqueue_skips_notify_while_a_migrator_is_awake)
{
    PGconn *conn = pmq_test_pg();
    pmq_test_exec(conn, "INSERT INTO job_queues (name) VALUES ('mail')");
    PGconn *listener = listener_new();
    PGconn *migrator = pmq_test_pg();
    assert_query_str(migrator, "SELECT pg_try_advisory_lock(1886220544, 1)", "t");

    pmq_test_exec(conn, "BEGIN");
    free(pmq_test_query1(conn, "SELECT pmq_enqueue('mail', '{}')"));
    /* The open transaction holds lock 2: a migrator cannot take it yet. */
    assert_query_str(migrator, "SELECT pg_try_advisory_lock(1886220544, 2)", "f");
    /* It tested lock 1 without keeping it. */
    assert_query_str(migrator,
                     "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory'"
                     " AND classid = 1886220544 AND objid = 1 AND mode = 'ShareLock'",
                     "0");
    pmq_test_exec(conn, "COMMIT");
    ck_assert_int_eq(wait_notifies(listener, 300, 1), 0);
    assert_query_str(migrator,
                     "SELECT pg_try_advisory_lock(1886220544, 2) AND pg_advisory_unlock(1886220544, 2)",
                     "t");

    /* Once the migrator lets go, enqueues wake it again. */
    assert_query_str(migrator, "SELECT pg_advisory_unlock(1886220544, 1)", "t");
    free(pmq_test_query1(conn, "SELECT pmq_enqueue('mail', '{}')"));
    ck_assert_int_eq(wait_notifies(listener, 5000, 1), 1);
    ck_assert_int_eq(query_long(conn, "SELECT count(*) FROM jobs"), 2);
    PQfinish(migrator);
    PQfinish(listener);
    PQfinish(conn);
}
END_TEST

START_TEST(enqueue_uses_queue_defaults)
{
    PGconn *conn = pmq_test_pg();
    pmq_test_exec(conn, "INSERT INTO job_queues (name, default_priority, max_attempts)"
                        " VALUES ('d', 42, 7)");
    pmq_test_exec(conn, "BEGIN");
    char *id = pmq_test_query1(conn, "SELECT pmq_enqueue('d', '{\"a\": [1, 2]}')");
    ck_assert_ptr_nonnull(id);
    char *sql = pmq_asprintf(
        "SELECT concat_ws(',', queue_name, status, priority, max_attempts, attempt_count,"
        " payload::text, run_at = now(), created_at = now(), updated_at = now(),"
        " tenant_id IS NULL, unique_key IS NULL, worker_id IS NULL, started_at IS NULL)"
        " FROM jobs WHERE id = '%s'",
        id);
    assert_query_str(conn, sql, "d,queued,42,7,0,{\"a\": [1, 2]},t,t,t,t,t,t,t");
    free(sql);
    free(id);

    /* Explicit values win; a NULL run_at means now. */
    id = pmq_test_query1(conn, "SELECT pmq_enqueue('d', '{}', priority => 5,"
                               " run_at => now() + interval '1 hour', max_attempts => 2,"
                               " tenant_id => 'acme')");
    sql = pmq_asprintf("SELECT concat_ws(',', priority, max_attempts, tenant_id,"
                       " run_at = now() + interval '1 hour') FROM jobs WHERE id = '%s'",
                       id);
    assert_query_str(conn, sql, "5,2,acme,t");
    free(sql);
    free(id);
    id = pmq_test_query1(conn, "SELECT pmq_enqueue('d', '{}', run_at => NULL, priority => NULL)");
    sql = pmq_asprintf("SELECT concat_ws(',', priority, run_at = now()) FROM jobs WHERE id = '%s'",
                       id);
    assert_query_str(conn, sql, "42,t");
    free(sql);
    free(id);
    pmq_test_exec(conn, "COMMIT");
    PQfinish(conn);
}
END_TEST

START_TEST(enqueue_rejects_bad_input)
{
    PGconn *conn = pmq_test_pg();
    pmq_test_exec(conn, "INSERT INTO job_queues (name, max_payload_bytes) VALUES ('q', 1048576),"
                        " ('small', 64)");
    pmq_test_exec(conn, "INSERT INTO job_queues (name, is_active) VALUES ('off', false)");

    expect_error(conn, "SELECT pmq_enqueue('nope', '{}')", "42704", "queue \"nope\" does not exist",
                 NULL, "pmqctl migrate");
    expect_error(conn, "SELECT pmq_enqueue('nope', '{}')", "42704", "queue \"nope\" does not exist",
                 NULL, "[queue nope]");
    expect_error(conn, "SELECT pmq_enqueue('off', '{}')", "55000", "queue \"off\" is not active",
                 NULL, NULL);
    expect_error(conn, "SELECT pmq_enqueue('q', '[1, 2]')", "22023",
                 "payload must be a JSON object", "Got a JSON array.", NULL);
    expect_error(conn, "SELECT pmq_enqueue('q', '\"text\"')", "22023",
                 "payload must be a JSON object", "Got a JSON string.", NULL);
    expect_error(conn, "SELECT pmq_enqueue('q', '17')", "22023", "payload must be a JSON object",
                 "Got a JSON number.", NULL);
    expect_error(conn, "SELECT pmq_enqueue('q', 'null')", "22023", "payload must be a JSON object",
                 "Got a JSON null.", NULL);
    expect_error(conn, "SELECT pmq_enqueue('q', NULL)", "22023", "payload must be a JSON object",
                 "Got NULL.", NULL);
    expect_error(conn, "SELECT pmq_enqueue('q', '{\"to\": ')", "22P02",
                 "invalid input syntax for type json", NULL, NULL);
    expect_error(conn, "SELECT pmq_enqueue('q', '{}', max_attempts => 0)", "22023",
                 "max_attempts must be between 1 and 1000", "Got 0.", NULL);

    /* The limit counts the bytes of the payload's text: {"k": "xx...x"} is
     * 9 bytes plus the string. */
    char big[128], sql[256];
    memset(big, 'x', 56);
    big[56] = '\0';
    snprintf(sql, sizeof sql, "SELECT pmq_enqueue('small', '{\"k\": \"%s\"}')", big);
    expect_error(conn, sql, "54000",
                 "payload of 65 bytes exceeds the limit of 64 bytes of queue \"small\"", NULL,
                 "max_payload_bytes");
    big[55] = '\0';
    snprintf(sql, sizeof sql, "SELECT pmq_enqueue('small', '{\"k\": \"%s\"}')", big);
    char *id = pmq_test_query1(conn, sql); /* exactly at the limit: accepted */
    ck_assert_ptr_nonnull(id);
    free(id);
    ck_assert_int_eq(query_long(conn, "SELECT count(*) FROM jobs"), 1);

    /* A producer in another language sees the same, and its malformed JSON
     * never reaches the table. */
    int status;
    char *out = psql(&status, "SELECT pmq_enqueue('q', '{bad json')", (char *)NULL);
    ck_assert_int_ne(status, 0);
    ck_assert_msg(strstr(out, "invalid input syntax for type json"), "psql said: %s", out);
    free(out);
    out = psql(&status, "SELECT pmq_enqueue('nope', '{}')", (char *)NULL);
    ck_assert_int_ne(status, 0);
    ck_assert_msg(strstr(out, "ERROR:  queue \"nope\" does not exist"), "psql said: %s", out);
    ck_assert_msg(strstr(out, "HINT:  Declare it in a [queue nope] section"), "psql said: %s", out);
    free(out);
    ck_assert_int_eq(query_long(conn, "SELECT count(*) FROM jobs"), 1);

    /* The table itself refuses what the function would. */
    expect_error(conn, "INSERT INTO jobs (queue_name, payload) VALUES ('q', '[]')", "23514",
                 "new row for relation \"jobs\" violates check constraint \"jobs_payload_check\"",
                 NULL, NULL);
    expect_error(conn, "INSERT INTO jobs (queue_name, payload, status) VALUES ('q', '{}', 'done')",
                 "23514",
                 "new row for relation \"jobs\" violates check constraint \"jobs_status_check\"",
                 NULL, NULL);
    expect_error(conn, "DELETE FROM job_queues WHERE name = 'small'", "23503",
                 "update or delete on table \"job_queues\" violates foreign key constraint"
                 " \"jobs_queue_name_fkey\" on table \"jobs\"",
                 NULL, NULL);
    PQfinish(conn);
}
END_TEST

/*
 * One rule per value, as the INI files and pmqctl have it (core/config.h):
 * a producer gets a clear error, never a raw one from deeper down, and
 * nothing is inserted.
 */
START_TEST(enqueue_enforces_the_value_rules)
{
    PGconn *conn = pmq_test_pg();
    pmq_test_exec(conn, "INSERT INTO job_queues (name) VALUES ('q'),"
                        " ('q23456789012345678901234567890123456789012345678901234567890123')");
    static const char *const infinite[] = {"infinity", "-infinity"};
    for (int i = 0; i < 2; i++) {
        char *detail = pmq_asprintf("Got %s.", infinite[i]);
        char *sql = pmq_asprintf("SELECT pmq_enqueue('q', '{}', run_at => '%s')", infinite[i]);
        expect_error(conn, sql, "22023", "run_at must be a finite timestamp", detail, "now()");
        free(sql);
        sql = pmq_asprintf("SELECT pmq_enqueue_many('q', '[{}]', run_at => '%s')", infinite[i]);
        expect_error(conn, sql, "22023", "run_at must be a finite timestamp", detail, "now()");
        free(sql);
        free(detail);
    }
    expect_error(conn, "SELECT pmq_enqueue('q', '{}', priority => -1)", "22023",
                 "priority must be between 0 and 1000", "Got -1.", NULL);
    expect_error(conn, "SELECT pmq_enqueue_many('q', '[{}]', priority => 1001)", "22023",
                 "priority must be between 0 and 1000", "Got 1001.", NULL);
    expect_error(conn, "SELECT pmq_enqueue('q', '{}', max_attempts => 1001)", "22023",
                 "max_attempts must be between 1 and 1000", "Got 1001.", NULL);
    expect_error(conn, "SELECT pmq_enqueue_many('q', '[{}]', max_attempts => 2147483647)", "22023",
                 "max_attempts must be between 1 and 1000", "Got 2147483647.", NULL);
    /* Was "index row size ... exceeds btree version 4 maximum 2704". */
    expect_error(conn, "SELECT pmq_enqueue('q', '{}', unique_key => repeat('k', 3000))", "22023",
                 "unique_key must be at most 2048 bytes", "Got 3000 bytes.", "digest");
    expect_error(conn, "SELECT pmq_enqueue('q', '{}', unique_key => repeat('é', 1025))", "22023",
                 "unique_key must be at most 2048 bytes", "Got 2050 bytes.", NULL);
    ck_assert_int_eq(query_long(conn, "SELECT count(*) FROM jobs"), 0);

    /* The bounds themselves are accepted, the longest key in the longest
     * queue name included (incompressible, so the index holds all of it). */
    pmq_test_exec(conn, "SELECT pmq_enqueue('q', '{}', priority => 0, max_attempts => 1000,"
                        " run_at => now() + interval '100 years')");
    pmq_test_exec(conn, "SELECT pmq_enqueue_many('q', '[{}]', priority => 1000, max_attempts => 1)");
    pmq_test_exec(conn, "SELECT pmq_enqueue('q23456789012345678901234567890123456789012345678901234567890123',"
                        " '{}', unique_key => (SELECT string_agg(md5(g::text || random()::text), '')"
                        " FROM generate_series(1, 64) g))");
    ck_assert_int_eq(query_long(conn, "SELECT count(*) FROM jobs WHERE octet_length(unique_key) = 2048"),
                     1);
    ck_assert_int_eq(query_long(conn, "SELECT count(*) FROM jobs"), 3);

    /* Queues follow the INI's rules, whoever declares them. */
    static const char *const bad_names[] = {"E'mail\\nqueue'", "'mail queue'", "'mail{1}'",
                                            "'mail*'", "'mail\"q'", "''", "'ü'",
                                            "repeat('q', 64)"};
    for (size_t i = 0; i < sizeof bad_names / sizeof *bad_names; i++) {
        char *sql = pmq_asprintf("INSERT INTO job_queues (name) VALUES (%s)", bad_names[i]);
        expect_error(conn, sql, "23514",
                     "new row for relation \"job_queues\" violates check constraint"
                     " \"job_queues_name_valid\"",
                     NULL, NULL);
        free(sql);
    }
    pmq_test_exec(conn, "INSERT INTO job_queues (name) VALUES ('email:processing-2.b_c')");
    expect_error(conn, "INSERT INTO job_queues (name, default_priority) VALUES ('p', 1001)", "23514",
                 "new row for relation \"job_queues\" violates check constraint"
                 " \"job_queues_priority_range\"",
                 NULL, NULL);
    expect_error(conn, "UPDATE job_queues SET max_attempts = 1001 WHERE name = 'q'", "23514",
                 "new row for relation \"job_queues\" violates check constraint"
                 " \"job_queues_max_attempts_range\"",
                 NULL, NULL);
    PQfinish(conn);
}
END_TEST

/*
 * Rows written before 005 with what it now refuses: no job is lost, and
 * none is left where the migrator trips on it (sql/005_input_rules.sql).
 */
START_TEST(migration_005_repairs_old_rows)
{
    char *conninfo = scratch_schema("pmq_old_rows");
    PGconn *conn = connect_to(conninfo);
    size_t n = core_migration_count();
    ck_assert_uint_ge(n, 5);
    ck_assert_int_eq(pmq_core_sql[4].version, 5);
    pmq_test_exec(conn, "BEGIN");
    for (size_t i = 0; i < 4; i++)
        pmq_test_exec(conn, pmq_core_sql[i].sql);
    pmq_test_exec(conn, "COMMIT");
    pmq_test_exec(conn, "INSERT INTO job_queues (name, default_priority, max_attempts,"
                        " max_payload_bytes) VALUES ('q', -5, 5000, 268435456),"
                        " (E'bad\\nname', 100, 3, 1024)");
    pmq_test_exec(conn, "SELECT pmq_enqueue('q', '{\"n\": 1}', run_at => '-infinity')");
    pmq_test_exec(conn, "SELECT pmq_enqueue('q', '{\"n\": 2}', run_at => 'infinity')");
    pmq_test_exec(conn, "SELECT pmq_enqueue(E'bad\\nname', '{\"n\": 3}')");
    pmq_test_exec(conn, "UPDATE jobs SET status = 'completed', run_at = 'infinity'"
                        " WHERE payload->>'n' = '3'");

    pmq_test_exec(conn, "BEGIN");
    pmq_test_exec(conn, pmq_core_sql[4].sql);
    pmq_test_exec(conn, "COMMIT");

    ck_assert_int_eq(query_long(conn, "SELECT count(*) FROM jobs"), 3);
    ck_assert_int_eq(query_long(conn, "SELECT count(*) FROM jobs WHERE NOT isfinite(run_at)"), 0);
    /* -infinity: as early as possible, so it runs. */
    assert_query_str(conn, "SELECT status || ',' || (run_at = created_at) FROM jobs"
                           " WHERE payload->>'n' = '1'", "queued,true");
    /* infinity: would never run; dead-lettered, with the reason. */
    assert_query_str(conn, "SELECT status || ',' || (failed_at IS NOT NULL) || ','"
                           " || (last_error_message LIKE 'run_at was infinity%') FROM jobs"
                           " WHERE payload->>'n' = '2'", "failed,true,true");
    assert_query_str(conn, "SELECT status FROM jobs WHERE payload->>'n' = '3'", "completed");
    assert_query_str(conn, "SELECT default_priority || ',' || max_attempts || ','"
                           " || max_payload_bytes FROM job_queues WHERE name = 'q'",
                     "0,1000,8388608");
    expect_error(conn, "UPDATE job_queues SET max_payload_bytes = 16777216 WHERE name = 'q'",
                 "23514", "new row for relation \"job_queues\" violates check constraint"
                          " \"job_queues_max_payload_range\"", NULL, NULL);
    /* A bad name cannot be renamed (its jobs refer to it): nothing new enters. */
    assert_query_str(conn, "SELECT is_active::text FROM job_queues WHERE name = E'bad\\nname'",
                     "false");
    expect_error(conn, "SELECT pmq_enqueue(E'bad\\nname', '{}')", "55000",
                 "queue \"bad\nname\" is not active", NULL, NULL);
    PQfinish(conn);
    free(conninfo);
}
END_TEST

START_TEST(enqueue_unique_key_is_idempotent)
{
    PGconn *conn = pmq_test_pg();
    pmq_test_exec(conn, "INSERT INTO job_queues (name) VALUES ('u'), ('u2')");
    PGconn *listener = listener_new();
    char *id1 = pmq_test_query1(conn, "SELECT pmq_enqueue('u', '{\"n\": 1}', unique_key => 'k1')");
    ck_assert_int_eq(wait_notifies(listener, 5000, 1), 1);
    char *id2 = pmq_test_query1(conn, "SELECT pmq_enqueue('u', '{\"n\": 2}', unique_key => 'k1')");
    ck_assert_ptr_nonnull(id1);
    ck_assert_ptr_nonnull(id2);
    ck_assert_str_eq(id1, id2);
    ck_assert_int_eq(query_long(conn, "SELECT count(*) FROM jobs"), 1);
    assert_query_str(conn, "SELECT payload->>'n' FROM jobs", "1");
    /* Inserting nothing wakes nobody. */
    ck_assert_int_eq(wait_notifies(listener, 150, 1), 0);

    /* Keys are per queue; no key, no deduplication. */
    char *id3 = pmq_test_query1(conn, "SELECT pmq_enqueue('u2', '{}', unique_key => 'k1')");
    ck_assert_str_ne(id3, id1);
    pmq_test_exec(conn, "SELECT pmq_enqueue('u', '{}'), pmq_enqueue('u', '{}')");
    ck_assert_int_eq(query_long(conn, "SELECT count(*) FROM jobs"), 4);
    free(id1);
    free(id2);
    free(id3);

    /* A racing producer waits for the first one's commit and gets its id. */
    PGconn *other = pmq_test_pg();
    pmq_test_exec(conn, "BEGIN");
    char *first = pmq_test_query1(conn, "SELECT pmq_enqueue('u', '{}', unique_key => 'race')");
    ck_assert_int_eq(PQsendQuery(other, "SELECT pmq_enqueue('u', '{}', unique_key => 'race')"), 1);
    int64_t until = pmq_now_ms() + 200;
    while (pmq_now_ms() < until) {
        ck_assert_int_eq(PQconsumeInput(other), 1);
        ck_assert_msg(PQisBusy(other), "the second enqueue did not wait for the first");
        usleep(20000);
    }
    pmq_test_exec(conn, "COMMIT");
    PGresult *res = PQgetResult(other);
    ck_assert_int_eq(PQresultStatus(res), PGRES_TUPLES_OK);
    ck_assert_str_eq(PQgetvalue(res, 0, 0), first);
    PQclear(res);
    ck_assert_ptr_null(PQgetResult(other));
    ck_assert_int_eq(query_long(conn, "SELECT count(*) FROM jobs WHERE unique_key = 'race'"), 1);
    free(first);
    PQfinish(other);
    PQfinish(listener);
    PQfinish(conn);
}
END_TEST

START_TEST(enqueue_many_is_one_statement)
{
    PGconn *conn = pmq_test_pg();
    pmq_test_exec(conn, "INSERT INTO job_queues (name, default_priority, max_attempts)"
                        " VALUES ('m', 30, 4)");
    PGconn *listener = listener_new();
    char payloads[512] = "[";
    for (int i = 0; i < 10; i++)
        snprintf(payloads + strlen(payloads), sizeof payloads - strlen(payloads), "%s{\"i\": %d}",
                 i ? ", " : "", i);
    strcat(payloads, "]");

    /* track_functions counts each function call of this transaction. */
    pmq_test_exec(conn, "BEGIN; SET LOCAL track_functions = 'pl'");
    char *sql = pmq_asprintf("SELECT id FROM pmq_enqueue_many('m', '%s', tenant_id => 't')"
                             " WITH ORDINALITY AS e (id, ord) ORDER BY ord",
                             payloads);
    PGresult *res = PQexec(conn, sql);
    free(sql);
    ck_assert_int_eq(PQresultStatus(res), PGRES_TUPLES_OK);
    ck_assert_int_eq(PQntuples(res), 10);
    assert_query_str(conn,
                     "SELECT calls FROM pg_stat_xact_user_functions WHERE funcname = 'pmq_jobs_notify'",
                     "1");
    assert_query_str(conn,
                     "SELECT count(*) FROM pg_stat_xact_user_functions WHERE funcname = 'pmq_enqueue'",
                     "0");
    pmq_test_exec(conn, "COMMIT");
    /* The ids come back in the array's order. */
    for (int i = 0; i < 10; i++) {
        char want[16];
        snprintf(want, sizeof want, "%d", i);
        sql = pmq_asprintf("SELECT payload->>'i' FROM jobs WHERE id = '%s'", PQgetvalue(res, i, 0));
        assert_query_str(conn, sql, want);
        free(sql);
    }
    PQclear(res);
    ck_assert_int_eq(query_long(conn, "SELECT count(*) FROM jobs WHERE queue_name = 'm'"
                                      " AND priority = 30 AND max_attempts = 4 AND tenant_id = 't'"
                                      " AND status = 'queued'"),
                     10);
    ck_assert_int_eq(wait_notifies(listener, 5000, 1), 1);
    ck_assert_int_eq(wait_notifies(listener, 150, 1), 0);

    /* Options apply to every job. */
    pmq_test_exec(conn, "SELECT pmq_enqueue_many('m', '[{}, {}]', priority => 1, max_attempts => 9)");
    ck_assert_int_eq(query_long(conn, "SELECT count(*) FROM jobs WHERE priority = 1"
                                      " AND max_attempts = 9"),
                     2);
    ck_assert_int_eq(wait_notifies(listener, 5000, 1), 1);

    /* An empty array inserts nothing and wakes nobody. */
    ck_assert_int_eq(query_long(conn, "SELECT count(*) FROM pmq_enqueue_many('m', '[]')"), 0);
    ck_assert_int_eq(wait_notifies(listener, 150, 1), 0);

    /* One bad element rejects the whole batch, naming the element. */
    pmq_test_exec(conn, "UPDATE job_queues SET max_payload_bytes = 20 WHERE name = 'm'");
    expect_error(conn, "SELECT pmq_enqueue_many('m', '[{}, {\"a\": 1}, 3, []]')", "22023",
                 "payloads[2] must be a JSON object", "Got a JSON number.", NULL);
    expect_error(conn, "SELECT pmq_enqueue_many('m', '[{}, {\"a\": \"0123456789abcdef\"}]')",
                 "54000", "payloads[1] of 25 bytes exceeds the limit of 20 bytes of queue \"m\"",
                 NULL, NULL);
    expect_error(conn, "SELECT pmq_enqueue_many('m', '{\"a\": 1}')", "22023",
                 "payloads must be a JSON array of objects", "Got a JSON object.", NULL);
    expect_error(conn, "SELECT pmq_enqueue_many('nope', '[{}]')", "42704",
                 "queue \"nope\" does not exist", NULL, "pmqctl migrate");
    ck_assert_int_eq(query_long(conn, "SELECT count(*) FROM jobs"), 12);
    ck_assert_int_eq(wait_notifies(listener, 150, 1), 0);
    PQfinish(listener);
    PQfinish(conn);
}
END_TEST

/* job_logs has no foreign key (sql/002): a trigger deletes a job's attempts with it. */
START_TEST(deleting_a_job_deletes_its_attempts)
{
    PGconn *conn = pmq_test_pg();
    pmq_test_exec(conn, "INSERT INTO job_queues (name) VALUES ('d')");
    pmq_test_exec(conn, "INSERT INTO jobs (queue_name, payload) SELECT 'd', '{}'"
                        " FROM generate_series(1, 3)");
    pmq_test_exec(conn, "INSERT INTO job_logs (job_id, status, attempt_number)"
                        " SELECT id, 'retry', a FROM jobs, generate_series(1, 2) AS a");
    ck_assert_int_eq(query_long(conn, "SELECT count(*) FROM job_logs"), 6);
    pmq_test_exec(conn, "DELETE FROM jobs WHERE id = (SELECT min(id::text)::uuid FROM jobs)");
    ck_assert_int_eq(query_long(conn, "SELECT count(*) FROM job_logs"), 4);
    ck_assert_int_eq(query_long(conn, "SELECT count(*) FROM job_logs l"
                                      " WHERE NOT EXISTS (SELECT 1 FROM jobs j WHERE j.id = l.job_id)"),
                     0);
    pmq_test_exec(conn, "DELETE FROM jobs");
    ck_assert_int_eq(query_long(conn, "SELECT count(*) FROM job_logs"), 0);
    PQfinish(conn);
}
END_TEST

/* Job ids grow with creation time (sql/003), so a batch of jobs claimed in
 * creation order sits on neighbouring pages of jobs_pkey. */
START_TEST(job_ids_grow_with_time)
{
    PGconn *conn = pmq_test_pg();
    pmq_test_exec(conn, "INSERT INTO job_queues (name) VALUES ('t')");
    /* One transaction each, 2 ms apart: created_at differs. */
    pmq_test_exec(conn, "SELECT pmq_enqueue('t', '{}')");
    pmq_test_exec(conn, "SELECT pg_sleep(0.002)");
    pmq_test_exec(conn, "SELECT pmq_enqueue('t', '{}')");
    pmq_test_exec(conn, "SELECT pg_sleep(0.002)");
    pmq_test_exec(conn, "SELECT count(*) FROM pmq_enqueue_many('t', '[{}, {}]')");
    ck_assert_int_eq(query_long(conn, "SELECT count(*) FROM jobs"
                                      " WHERE substr(id::text, 15, 1) = '7'"), 4);
    /* Ordered by id, the jobs are in creation order (within a millisecond,
     * ids are random: the two of pmq_enqueue_many share one). */
    ck_assert_int_eq(query_long(conn, "SELECT count(*) FROM (SELECT created_at,"
                                      " lag(created_at) OVER (ORDER BY id) AS prev FROM jobs) s"
                                      " WHERE prev > created_at"), 0);
    ck_assert_int_eq(query_long(conn, "SELECT count(DISTINCT created_at) FROM jobs"), 3);
    ck_assert_int_eq(query_long(conn, "SELECT count(DISTINCT id) FROM jobs"), 4);
    PQfinish(conn);
}
END_TEST

/*--- indexes ---*/

/* The plan of `sql`, one line per row. */
static char *explain(PGconn *conn, const char *sql)
{
    char *q = pmq_asprintf("EXPLAIN (COSTS OFF) %s", sql);
    char *plan = pmq_test_rows(conn, q);
    free(q);
    return plan;
}

/*
 * The migrator's statements (DESIGN.md section 3, core/migrator.c) must read
 * the partial indexes in order, never sort the queued jobs.  Plans checked by
 * hand on 100k rows are the same; 20k keep the test quick.
 */
START_TEST(claim_query_uses_the_indexes)
{
    PGconn *conn = pmq_test_pg();
    pmq_test_exec(conn, "INSERT INTO job_queues (name) VALUES ('bulk'), ('rare')");
    /* Ready jobs, 1% of them in a second queue, and a few delayed. */
    pmq_test_exec(conn,
                  "INSERT INTO jobs (queue_name, payload, priority, created_at, run_at)"
                  " SELECT CASE WHEN i % 100 = 0 THEN 'rare' ELSE 'bulk' END, '{}', i % 300,"
                  " now() - i * interval '1 ms',"
                  " now() + CASE WHEN i % 1000 = 0 THEN interval '1 hour' ELSE interval '-1 s' END"
                  " FROM generate_series(1, 20000) AS i");
    pmq_test_exec(conn, "ANALYZE jobs");

    const char *claim = "SELECT id FROM jobs WHERE status = 'queued' AND run_at <= now()"
                        " AND queue_name NOT IN (SELECT name FROM job_queues WHERE is_paused)"
                        " ORDER BY priority, created_at LIMIT 500 FOR UPDATE SKIP LOCKED";
    char *plan = explain(conn, claim);
    ck_assert_msg(strstr(plan, "Index Scan using idx_jobs_queuer on jobs"), "%s", plan);
    ck_assert_msg(!strstr(plan, "Sort"), "the claim sorts:\n%s", plan);
    free(plan);
    char *sql = pmq_asprintf("UPDATE jobs SET status = 'migrated', updated_at = now()"
                             " WHERE id IN (%s) RETURNING id", claim);
    plan = explain(conn, sql);
    free(sql);
    ck_assert_msg(strstr(plan, "Index Scan using idx_jobs_queuer on jobs"), "%s", plan);
    ck_assert_msg(!strstr(plan, "Sort"), "the claim sorts:\n%s", plan);
    free(plan);

    plan = explain(conn, "SELECT id FROM jobs WHERE status = 'queued' AND run_at <= now()"
                         " AND queue_name = 'rare' ORDER BY priority, created_at LIMIT 500"
                         " FOR UPDATE SKIP LOCKED");
    ck_assert_msg(strstr(plan, "idx_jobs_queue_migration"), "%s", plan);
    ck_assert_msg(!strstr(plan, "Sort"), "the per-queue claim sorts:\n%s", plan);
    free(plan);

    /* The migrator's timer: when is the next job due? */
    plan = explain(conn, "SELECT min(run_at) FROM jobs WHERE status = 'queued'"
                         " AND queue_name NOT IN (SELECT name FROM job_queues WHERE is_paused)");
    ck_assert_msg(strstr(plan, "idx_jobs_run_at"), "%s", plan);
    free(plan);
    PQfinish(conn);
}
END_TEST

/*--- plugins' migrations and queues ---*/

START_TEST(migrate_and_sync_plugin_registry)
{
    const char *top = getenv("top_builddir");
    char *so = pmq_asprintf("%s/tests/plugins/.libs/good.so", top ? top : ".");
    ck_assert_msg(access(so, R_OK) == 0, "%s is missing: make check builds it (tests/loader.mk)", so);
    char *ini = pmq_asprintf("[plugin good]\npath = %s\n\n[queue good-a]\npriority = 7\n", so);
    char *path = pmq_test_write_config("plugins", ini);
    pmq_errors errs = PMQ_ERRORS_INIT;
    pmq_config *cfg = pmq_config_load(path, &errs);
    pmq_errors_print(&errs, stderr, "config");
    ck_assert_ptr_nonnull(cfg);
    pmq_registry *reg = pmq_registry_load(cfg, &errs);
    pmq_errors_print(&errs, stderr, "plugins");
    ck_assert_uint_eq(errs.count, 0);
    ck_assert_uint_eq(pmq_registry_migration_count(reg), 1);

    /* The core's first, then the plugin's, recorded under its name. */
    char *conninfo = scratch_schema("pmq_mig_plugin");
    PGconn *conn = connect_to(conninfo);
    char *buf = NULL;
    size_t len = 0;
    FILE *report = open_memstream(&buf, &len);
    int n = pmq_migrate(conn, reg, report, &errs);
    fclose(report);
    pmq_errors_print(&errs, stderr, "migrate");
    ck_assert_int_eq(n, (int)core_migration_count() + 1);
    char *core = expected_report();
    char *want = pmq_asprintf("%sapplied good 001 create good_rows\n", core);
    ck_assert_str_eq(buf, want);
    free(want);
    free(core);
    free(buf);
    assert_query_str(conn, "SELECT name FROM pmq_migrations WHERE component = 'good' AND version = 1",
                     "create good_rows");
    assert_query_str(conn, "SELECT to_regclass('good_rows') IS NOT NULL", "t");
    ck_assert_int_eq(pmq_migrate(conn, reg, NULL, &errs), 0);
    ck_assert_uint_eq(errs.count, 0);

    /* Served queues are declared with the defaults; configured values win. */
    pmq_test_exec(conn, "INSERT INTO job_queues (name, default_priority) VALUES ('good-b', 55)");
    ck_assert_int_eq(pmq_sync_queues(conn, cfg, reg, &errs), 0);
    ck_assert_uint_eq(errs.count, 0);
    assert_query_str(conn,
                     "SELECT string_agg(name || ',' || default_priority, ';' ORDER BY name)"
                     " FROM job_queues",
                     "good-a,7;good-b,55");
    PQfinish(conn);
    pmq_registry_free(reg);
    pmq_config_free(cfg);
    free(conninfo);
    free(path);
    free(ini);
    free(so);
}
END_TEST

/*--- pmq_sync_queues ---*/

START_TEST(sync_queues_upserts_configured_values)
{
    PGconn *conn = pmq_test_pg();
    pmq_errors errs = PMQ_ERRORS_INIT;
    ck_assert_int_eq(pmq_sync_queues(conn, NULL, NULL, &errs), 0);

    /* A queue that exists with other settings, deactivated. */
    pmq_test_exec(conn, "INSERT INTO job_queues (name, default_priority, max_attempts, is_active,"
                        " updated_at) VALUES ('email', 100, 3, false, now() - interval '1 day')");
    char email[] = "email", reports[] = "reports";
    pmq_queue_config queues[2];
    memset(queues, 0, sizeof queues);
    queues[0].name = email;
    queues[0].priority = 10;
    queues[0].max_attempts = 5;
    queues[0].max_payload_bytes = 2048;
    queues[1].name = reports;
    queues[1].priority = 200;
    queues[1].max_attempts = 1;
    queues[1].max_payload_bytes = 4096;
    pmq_config cfg;
    memset(&cfg, 0, sizeof cfg);
    cfg.queues = queues;
    cfg.nqueues = 2;
    ck_assert_int_eq(pmq_sync_queues(conn, &cfg, NULL, &errs), 0);
    ck_assert_uint_eq(errs.count, 0);
    const char *q = "SELECT string_agg(concat_ws(',', name, default_priority, max_attempts,"
                    " max_payload_bytes, is_active), ';' ORDER BY name) FROM job_queues";
    assert_query_str(conn, q, "email,10,5,2048,t;reports,200,1,4096,t");
    assert_query_str(conn, "SELECT updated_at > now() - interval '1 minute' FROM job_queues"
                           " WHERE name = 'email'", "t");

    /* Unchanged settings leave the row alone. */
    pmq_test_exec(conn, "UPDATE job_queues SET updated_at = now() - interval '1 day'");
    ck_assert_int_eq(pmq_sync_queues(conn, &cfg, NULL, &errs), 0);
    ck_assert_int_eq(query_long(conn, "SELECT count(*) FROM job_queues"
                                      " WHERE updated_at < now() - interval '1 hour'"),
                     2);
    /* pmq_enqueue sees them at once. */
    pmq_test_exec(conn, "SELECT pmq_enqueue('email', '{}')");
    assert_query_str(conn, "SELECT priority || ',' || max_attempts FROM jobs", "10,5");

    /* A bad value is an error naming the queue; nothing changes. */
    char origin[] = "pmqd.ini";
    queues[1].max_attempts = 0;
    queues[1].origin.file = origin;
    queues[1].origin.line = 7;
    queues[0].priority = 11;
    ck_assert_int_eq(pmq_sync_queues(conn, &cfg, NULL, &errs), -1);
    ck_assert_uint_eq(errs.count, 1);
    ck_assert_msg(strncmp(errs.items[0].message,
                          "pmqd.ini:7: could not declare queue \"reports\": new row for relation"
                          " \"job_queues\" violates check constraint",
                          95) == 0,
                  "%s", errs.items[0].message);
    ck_assert_int_eq(PQtransactionStatus(conn), PQTRANS_IDLE);
    assert_query_str(conn, q, "email,10,5,2048,t;reports,200,1,4096,t");
    pmq_errors_clear(&errs);
    PQfinish(conn);
}
END_TEST

START_TEST(sync_queues_from_a_config_file)
{
    char *path = pmq_test_write_config("sync", "[queue email]\n"
                                               "priority = 10\n"
                                               "max_attempts = 5\n"
                                               "max_payload = 2048\n"
                                               "\n"
                                               "[queue reports]\n");
    pmq_errors errs = PMQ_ERRORS_INIT;
    pmq_config *cfg = pmq_config_load(path, &errs);
    pmq_errors_print(&errs, stderr, "config");
    ck_assert_ptr_nonnull(cfg);
    PGconn *conn = pmq_db_connect(cfg, &errs);
    pmq_errors_print(&errs, stderr, "connect");
    ck_assert_ptr_nonnull(conn);
    ck_assert_int_eq(pmq_sync_queues(conn, cfg, NULL, &errs), 0);
    ck_assert_uint_eq(errs.count, 0);
    assert_query_str(conn,
                     "SELECT string_agg(concat_ws(',', name, default_priority, max_attempts,"
                     " max_payload_bytes, is_active, is_paused), ';' ORDER BY name) FROM job_queues",
                     "email,10,5,2048,t,f;reports,100,3,1048576,t,f");
    PQfinish(conn);
    pmq_config_free(cfg);
    free(path);
}
END_TEST

/*--- db helpers ---*/

START_TEST(db_connect_reports_the_target_not_the_password)
{
    char host[] = "/nonexistent-pmq", port[] = "5999", db[] = "pmq", user[] = "postgres",
         pw[] = "sekrit-pw";
    pmq_config cfg;
    memset(&cfg, 0, sizeof cfg);
    cfg.database.host = host;
    cfg.database.port = port;
    cfg.database.dbname = db;
    cfg.database.user = user;
    cfg.database.password = pw;
    cfg.database.connect_timeout_s = 2;
    pmq_errors errs = PMQ_ERRORS_INIT;
    ck_assert_ptr_null(pmq_db_connect(&cfg, &errs));
    ck_assert_uint_eq(errs.count, 1);
    const pmq_error *e = &errs.items[0];
    const char *want = "could not connect to PostgreSQL at \"host=/nonexistent-pmq port=5999"
                       " dbname=pmq\": ";
    ck_assert_msg(strncmp(e->message, want, strlen(want)) == 0, "%s", e->message);
    /* libpq's reason, first line only. */
    ck_assert_msg(strstr(e->message, "No such file or directory") && !strchr(e->message, '\n'),
                  "%s", e->message);
    ck_assert(!strstr(e->message, "sekrit") && !(e->detail && strstr(e->detail, "sekrit")) &&
              !(e->hint && strstr(e->hint, "sekrit")));
    pmq_errors_clear(&errs);

    /* The same with the real server's address connects. */
    char good_host[256];
    snprintf(good_host, sizeof good_host, "%s", getenv("PMQ_PG_SOCKET_DIR"));
    char good_port[16];
    snprintf(good_port, sizeof good_port, "%s", getenv("PMQ_PG_PORT"));
    cfg.database.host = good_host;
    cfg.database.port = good_port;
    cfg.database.password = NULL;
    PGconn *conn = pmq_db_connect(&cfg, &errs);
    pmq_errors_print(&errs, stderr, "connect");
    ck_assert_ptr_nonnull(conn);
    assert_query_str(conn, "SELECT current_database()", "pmq");
    PQfinish(conn);
}
END_TEST

START_TEST(db_error_has_detail_and_hint)
{
    PGconn *conn = pmq_test_pg();
    pmq_errors errs = PMQ_ERRORS_INIT;
    PGresult *res = PQexec(conn, "SELECT pmq_enqueue('nope', '{}')");
    pmq_error *e = pmq_db_error(&errs, conn, res, "could not enqueue into \"%s\"", "nope");
    PQclear(res);
    ck_assert_ptr_eq(e, &errs.items[0]);
    ck_assert_str_eq(e->message, "could not enqueue into \"nope\": queue \"nope\" does not exist");
    ck_assert_ptr_null(e->detail);
    ck_assert_ptr_nonnull(e->hint);
    ck_assert_str_eq(e->hint, "Declare it in a [queue nope] section or load the plugin that"
                              " serves it, then run \"pmqctl migrate\".");
    pmq_test_exec(conn, "INSERT INTO job_queues (name) VALUES ('q')");
    res = PQexec(conn, "SELECT pmq_enqueue('q', '[]')");
    e = pmq_db_error(&errs, conn, res, "enqueue");
    PQclear(res);
    ck_assert_str_eq(e->message, "enqueue: payload must be a JSON object");
    ck_assert_str_eq(e->detail, "Got a JSON array.");
    ck_assert_ptr_null(e->hint);

    /* libpq's own errors carry no fields: the first line of its message. */
    res = PQexec(conn, "SELECT pg_terminate_backend(pg_backend_pid())");
    PQclear(res);
    res = PQexec(conn, "SELECT 1");
    ck_assert_int_ne(PQresultStatus(res), PGRES_TUPLES_OK);
    e = pmq_db_error(&errs, conn, res, "ping");
    PQclear(res);
    ck_assert_msg(strncmp(e->message, "ping: ", 6) == 0 && strlen(e->message) > 6 &&
                      !strchr(e->message, '\n'),
                  "\"%s\"", e->message);
    e = pmq_db_error(&errs, conn, NULL, "again");
    ck_assert_msg(strncmp(e->message, "again: ", 7) == 0 && strlen(e->message) > 7 &&
                      !strchr(e->message, '\n'),
                  "\"%s\"", e->message);
    pmq_errors_clear(&errs);
    PQfinish(conn);
}
END_TEST

static Suite *schema_suite(void)
{
    Suite *s = suite_create("schema");

    TCase *tc = tcase_create("migrate");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, migrate_applies_each_once);
    tcase_add_test(tc, migrate_concurrently);
    tcase_add_test(tc, migrate_failure_rolls_back);
    tcase_add_test(tc, migrate_and_sync_plugin_registry);
    tcase_add_test(tc, migration_005_repairs_old_rows);
    suite_add_tcase(s, tc);

    tc = tcase_create("enqueue");
    tcase_set_timeout(tc, 60);
    tcase_add_unchecked_fixture(tc, pmq_test_migrate, NULL);
    tcase_add_checked_fixture(tc, reset, NULL);
    tcase_add_test(tc, enqueue_follows_the_transaction);
    tcase_add_test(tc, enqueue_skips_notify_while_a_migrator_is_awake);
    tcase_add_test(tc, enqueue_uses_queue_defaults);
    tcase_add_test(tc, enqueue_rejects_bad_input);
    tcase_add_test(tc, enqueue_enforces_the_value_rules);
    tcase_add_test(tc, enqueue_unique_key_is_idempotent);
    tcase_add_test(tc, enqueue_many_is_one_statement);
    tcase_add_test(tc, deleting_a_job_deletes_its_attempts);
    tcase_add_test(tc, job_ids_grow_with_time);
    tcase_add_test(tc, claim_query_uses_the_indexes);
    tcase_add_test(tc, sync_queues_upserts_configured_values);
    tcase_add_test(tc, sync_queues_from_a_config_file);
    tcase_add_test(tc, db_connect_reports_the_target_not_the_password);
    tcase_add_test(tc, db_error_has_detail_and_hint);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    pmq_test_servers_start();
    SRunner *sr = srunner_create(schema_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
