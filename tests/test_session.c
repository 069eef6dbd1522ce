/*
 * test_session.c -- staying connected (core/session.c) against the private
 * servers: what is missing is connected and what works is kept, a failed
 * setup or an unreachable server reports -1, and the backoff doubles up to
 * its cap and starts over once the connections work.
 */
#include <check.h>
#include <stdlib.h>

#include "config.h"
#include "daemon.h"
#include "harness.h"
#include "session.h"
#include "util.h"

static pmq_config *cfg;

static void setup(void)
{
    char *path = pmq_test_write_config("session", NULL);
    pmq_errors errs = PMQ_ERRORS_INIT;
    cfg = pmq_config_load(path, &errs);
    ck_assert_msg(cfg != NULL, "config: %s", errs.count ? errs.items[0].message : "?");
    free(path);
}

static void teardown(void)
{
    pmq_config_free(cfg);
}

START_TEST(what_is_missing_is_connected)
{
    pmq_session s = {.cfg = cfg, .want = PMQ_SESSION_PG | PMQ_SESSION_REDIS};
    ck_assert_int_eq(pmq_session_connect(&s), 1);
    ck_assert_ptr_nonnull(s.pg);
    ck_assert_ptr_nonnull(s.r);
    ck_assert_int_eq(pmq_session_connect(&s), 0);

    /* PostgreSQL lost: a new one, Redis kept. */
    pmq_redis *r = s.r;
    int pid = PQbackendPID(s.pg);
    PGconn *killer = pmq_test_pg();
    pmq_test_execf(killer, "SELECT pg_terminate_backend(%d)", pid);
    PQfinish(killer);
    PQclear(PQexec(s.pg, "SELECT 1")); /* lets libpq notice */
    ck_assert_int_eq(pmq_session_connect(&s), 1);
    ck_assert_int_eq(PQstatus(s.pg), CONNECTION_OK);
    ck_assert_int_ne(PQbackendPID(s.pg), pid);
    ck_assert_ptr_eq(s.r, r);

    /* Redis dropped: both anew, so that the owner starts its round over. */
    pid = PQbackendPID(s.pg);
    pmq_session_drop(&s, PMQ_SESSION_REDIS);
    ck_assert_int_eq(pmq_session_connect(&s), 1);
    ck_assert_ptr_nonnull(s.r);
    ck_assert_int_ne(PQbackendPID(s.pg), pid);
    pmq_session_close(&s);
    ck_assert_ptr_null(s.pg);
    ck_assert_ptr_null(s.r);
}
END_TEST

static int refuse(PGconn *pg, pmq_errors *errs)
{
    (void)pg;
    pmq_errors_add(errs, "setup refused");
    return -1;
}

START_TEST(a_failed_setup_drops_postgresql)
{
    pmq_session s = {.cfg = cfg, .want = PMQ_SESSION_PG | PMQ_SESSION_REDIS, .who = "test: ",
                     .setup_pg = refuse};
    ck_assert_int_eq(pmq_session_connect(&s), -1);
    ck_assert_ptr_null(s.pg);
    ck_assert_ptr_nonnull(s.r); /* tried all the same: its reason is logged too */
    pmq_session_close(&s);
}
END_TEST

START_TEST(optional_redis_does_not_wait)
{
    free(cfg->database.host);
    cfg->database.host = pmq_xstrdup("/nonexistent-pmq-session");
    pmq_session s = {.cfg = cfg, .want = PMQ_SESSION_PG | PMQ_SESSION_REDIS_OPTIONAL};
    ck_assert_int_eq(pmq_session_connect(&s), -1);
    ck_assert_ptr_null(s.pg);
    ck_assert_ptr_nonnull(s.r);
    pmq_session_close(&s);

    /* Redis alone, PostgreSQL unreachable: connected. */
    pmq_session only = {.cfg = cfg, .want = PMQ_SESSION_REDIS, .quiet = 1};
    ck_assert_int_eq(pmq_session_connect(&only), 1);
    ck_assert_ptr_null(only.pg);
    ck_assert_int_eq(pmq_session_connect(&only), 0);
    pmq_session_close(&only);
}
END_TEST

START_TEST(backoff_doubles_to_its_cap)
{
    pmq_session s = {.cfg = cfg, .backoff_min_ms = 1, .backoff_max_ms = 5};
    static const int64_t after[] = {2, 4, 5, 5};
    for (size_t i = 0; i < sizeof after / sizeof *after; i++) {
        pmq_session_wait(&s);
        ck_assert_int_eq(s.wait_ms, after[i]);
    }
    pmq_session_ok(&s);
    ck_assert_int_eq(s.wait_ms, 1);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("session");
    TCase *tc = pmq_test_case(s, "session", 60);
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, what_is_missing_is_connected);
    tcase_add_test(tc, a_failed_setup_drops_postgresql);
    tcase_add_test(tc, optional_redis_does_not_wait);
    tcase_add_test(tc, backoff_doubles_to_its_cap);
    return pmq_test_main(s, NULL);
}
