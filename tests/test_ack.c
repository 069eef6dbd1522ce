/*
 * test_ack.c -- the outcome path (core/ack.c) against real servers: an
 * outcome counts only for the attempt it belongs to (a late or duplicate
 * one changes nothing, DESIGN.md I3), retries and dead letters land where
 * the contract says, and a message that is not UTF-8 does not block a batch.
 */
#include <check.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>

#include "ack.h"
#include "config.h"
#include "daemon.h"
#include "harness.h"
#include "migrator.h"
#include "redis.h"
#include "util.h"

static pmq_config *cfg;
static PGconn *pg;
static pmq_redis *r;

static void setup(void)
{
    pmq_test_reset();
    char *path = pmq_test_write_config("ack", "[queue t.ack]\nmax_attempts = 2\n");
    pmq_errors errs = PMQ_ERRORS_INIT;
    cfg = pmq_config_load(path, &errs);
    ck_assert_msg(cfg != NULL, "config: %s", errs.count ? errs.items[0].message : "?");
    free(path);
    r = pmq_redis_connect(cfg, &errs);
    ck_assert_msg(r != NULL, "redis: %s", errs.count ? errs.items[0].message : "?");
    pmq_errors_clear(&errs);
    pg = pmq_test_pg();
    pmq_test_exec(pg, "INSERT INTO job_queues (name, max_attempts) VALUES ('t.ack', 2)");
}

static void teardown(void)
{
    PQfinish(pg);
    pmq_redis_free(r);
    pmq_config_free(cfg);
}

/* A job as the migrator leaves it: migrated, attempt_count finished attempts. */
static char *migrated_job(void)
{
    char *id = pmq_test_query1(pg, "SELECT pmq_enqueue('t.ack', '{\"n\": 1}')");
    char sql[256];
    snprintf(sql, sizeof sql, "UPDATE jobs SET status = 'migrated' WHERE id = '%s'", id);
    pmq_test_exec(pg, sql);
    return id;
}

static pmq_outcome outcome(const char *id, int attempt, pmq_status st, const char *error)
{
    pmq_outcome o = {0};
    memcpy(o.id, id, PMQ_JOB_ID_SIZE);
    o.attempt = attempt;
    o.status = st;
    o.error = error ? pmq_xstrdup(error) : NULL;
    o.started_us = pmq_wall_us() - 1000;
    o.finished_us = pmq_wall_us();
    o.delay_ms = 0;
    o.progress = -1;
    o.queue = pmq_xstrdup("t.ack");
    return o;
}

/*
 * The release after the commit is a pipeline: an error reply in it (here
 * WRONGTYPE; READONLY after a failover) is counted, not taken for success,
 * and a lost connection is told apart.
 */
START_TEST(pipelined_error_replies_are_counted)
{
    redisAppendCommand(r->c, "SET pmq-test-k v");
    redisAppendCommand(r->c, "LPUSH pmq-test-k x");
    redisAppendCommand(r->c, "LREM pmq-test-k 1 x");
    redisAppendCommand(r->c, "GET pmq-test-k");
    ck_assert_int_eq(pmq_redis_replies(r, 4, "test"), 2);
    redisAppendCommand(r->c, "GET pmq-test-k");
    ck_assert_int_eq(pmq_redis_replies(r, 1, "test"), 0);
    redisReply *id = redisCommand(r->c, "CLIENT ID");
    ck_assert(id && id->type == REDIS_REPLY_INTEGER);
    signal(SIGPIPE, SIG_IGN); /* as pmqd does: writing to the dead socket */
    redisContext *other = pmq_test_redis();
    freeReplyObject(redisCommand(other, "CLIENT KILL ID %lld", id->integer));
    redisFree(other);
    freeReplyObject(id);
    redisAppendCommand(r->c, "GET pmq-test-k");
    ck_assert_int_eq(pmq_redis_replies(r, 1, "test"), -1);
    ck_assert_int_eq(pmq_redis_reconnect(r), 0);
}
END_TEST

/*
 * The claim script's LMOVE needs Redis 6.2: pmqd refuses an older server at
 * start instead of failing every claim.  The test server passes.
 */
START_TEST(redis_older_than_6_2_is_refused)
{
    ck_assert_int_eq(pmq_redis_info_version("# Server\r\nredis_version:6.0.16\r\n"), 600);
    ck_assert_int_eq(pmq_redis_info_version("redis_version:7.2.4\r\nredis_git_sha1:0"), 702);
    ck_assert_int_eq(pmq_redis_info_version("# Server\r\nos:Linux\r\n"), -1);
    ck_assert_int_eq(pmq_redis_info_version("redis_version:x\r\n"), -1);
    ck_assert(pmq_redis_info_version("redis_version:6.0.16") < PMQ_REDIS_MIN_VERSION);
    ck_assert(pmq_redis_info_version("redis_version:6.2.0") >= PMQ_REDIS_MIN_VERSION);
    pmq_errors errs = PMQ_ERRORS_INIT;
    ck_assert_int_eq(pmq_redis_check_version(r, &errs), 0);
    ck_assert_int_eq((int)errs.count, 0);
}
END_TEST

START_TEST(duplicate_outcome_changes_nothing)
{
    char *id = migrated_job();
    pmq_outcome o = outcome(id, 1, PMQ_DONE, NULL);
    ck_assert_int_eq(pmq_ack_apply(pg, r, "w1", &o, 1), 0);
    pmq_outcome_clear(&o);
    /* The same attempt again (a re-run after a loss): no second row, no change. */
    o = outcome(id, 1, PMQ_RETRY, "late failure");
    ck_assert_int_eq(pmq_ack_apply(pg, r, "w2", &o, 1), 0);
    pmq_outcome_clear(&o);
    char *v = pmq_test_sqlf(pg, "SELECT status || '/' || attempt_count || '/' || worker_id"
                                " FROM jobs WHERE id = '%s'", id);
    ck_assert_str_eq(v, "completed/1/w1");
    free(v);
    v = pmq_test_sqlf(pg, "SELECT count(*) FROM job_logs WHERE job_id = '%s'", id);
    ck_assert_str_eq(v, "1");
    free(v);
    free(id);
}
END_TEST

START_TEST(retry_then_dead_letter)
{
    char *id = migrated_job();
    pmq_outcome o = outcome(id, 1, PMQ_RETRY, "first");
    o.delay_ms = 60000;
    ck_assert_int_eq(pmq_ack_apply(pg, r, "w1", &o, 1), 0);
    pmq_outcome_clear(&o);
    char *v = pmq_test_sqlf(pg, "SELECT status || '/' || attempt_count || '/'"
                                " || (run_at > now() + interval '50 s')"
                                " FROM jobs WHERE id = '%s'", id);
    ck_assert_str_eq(v, "queued/1/true");
    free(v);
    /* An outcome for attempt 1 again, after the retry was recorded: ignored. */
    o = outcome(id, 1, PMQ_DONE, NULL);
    ck_assert_int_eq(pmq_ack_apply(pg, r, "w1", &o, 1), 0);
    pmq_outcome_clear(&o);
    v = pmq_test_sqlf(pg, "SELECT status FROM jobs WHERE id = '%s'", id);
    ck_assert_str_eq(v, "queued");
    free(v);
    /* Attempt 2 of 2 fails: dead letter, in PostgreSQL and in Redis. */
    pmq_test_exec(pg, "UPDATE jobs SET status = 'migrated'");
    o = outcome(id, 2, PMQ_RETRY, "second");
    ck_assert_int_eq(pmq_ack_apply(pg, r, "w1", &o, 1), 0);
    pmq_outcome_clear(&o);
    v = pmq_test_sqlf(pg, "SELECT status || '/' || attempt_count || '/' || last_error_message"
                          " FROM jobs WHERE id = '%s'", id);
    ck_assert_str_eq(v, "failed/2/second");
    free(v);
    v = pmq_test_sqlf(pg, "SELECT string_agg(attempt_number || ':' || status, ','"
                          " ORDER BY attempt_number) FROM job_logs WHERE job_id = '%s'", id);
    ck_assert_str_eq(v, "1:retry,2:failed");
    free(v);
    redisContext *rc = pmq_test_redis();
    redisReply *rep = redisCommand(rc, "LINDEX %s 0", PMQ_TEST_KEY(pmq_key_deadletter_list, ""));
    ck_assert_int_eq(rep->type, REDIS_REPLY_STRING);
    ck_assert_ptr_nonnull(strstr(rep->str, id));
    ck_assert_ptr_nonnull(strstr(rep->str, "\"error\""));
    freeReplyObject(rep);
    redisFree(rc);
    free(id);
}
END_TEST

START_TEST(invalid_utf8_does_not_block_the_batch)
{
    char *a = migrated_job(), *b = migrated_job();
    pmq_outcome o[2] = {outcome(a, 1, PMQ_FAIL, "550 \xE9\xE8 rejet\xE9"), outcome(b, 1, PMQ_DONE, NULL)};
    ck_assert_int_eq(pmq_ack_apply(pg, r, "w1", o, 2), 0);
    pmq_outcome_clear(&o[0]);
    pmq_outcome_clear(&o[1]);
    char *v = pmq_test_sqlf(pg, "SELECT last_error_message FROM jobs WHERE id = '%s'", a);
    ck_assert_str_eq(v, "550 ?? rejet?");
    free(v);
    v = pmq_test_sqlf(pg, "SELECT status FROM jobs WHERE id = '%s'", b);
    ck_assert_str_eq(v, "completed");
    free(v);
    free(a);
    free(b);
}
END_TEST

/* The plan of `explain` (freed), one line per row. */
static char *plan_of(char *explain)
{
    char *plan = pmq_test_rows(pg, explain);
    free(explain);
    return plan;
}

/* The plan this session runs for the next batch of 1,000 migrated jobs. */
static char *ack_plan(void)
{
    return plan_of(pmq_test_sqlf(
        pg, "SELECT format('EXPLAIN EXECUTE pmq_ack_apply(%%L, %%L, %%L,"
            " NULL, NULL, %%L, %%L, %%L, NULL, %%L)', array_agg(id), array_agg(1),"
            " array_agg('done'::text), array_agg(0), array_agg(1), array_agg(0), 'w1')"
            " FROM (SELECT id FROM jobs WHERE status = 'migrated' LIMIT 1000) s"));
}

/*
 * The ack reaches jobs by primary key whatever the table looked like when
 * the session first ran it: planned on a nearly empty table (a new install,
 * a TRUNCATE), a plan would scan the whole table for every batch once it
 * has grown; with statistics, a custom plan for 1,000 ids prefers a
 * sequential scan (doc/performance.md 6.2).  The migrator's claim too, and
 * neither may be JIT-compiled on every run.  EXPLAIN EXECUTE on the same
 * session shows the plan pmqd runs.
 */
START_TEST(batch_statements_use_the_primary_key)
{
    char *id = migrated_job();
    pmq_outcome one = outcome(id, 1, PMQ_DONE, NULL);
    ck_assert_int_eq(pmq_ack_apply(pg, r, "w1", &one, 1), 0);
    pmq_outcome_clear(&one);
    free(id);

    pmq_test_exec(pg, "INSERT INTO jobs (queue_name, payload, status)"
                      " SELECT 't.ack', '{}', 'migrated' FROM generate_series(1, 20000)");
    char *plan = ack_plan();
    ck_assert_msg(!strstr(plan, "Seq Scan on jobs"), "after the table grew:\n%s", plan);
    ck_assert_msg(!strstr(plan, "Nested Loop"), "outcomes matched to rows one by one:\n%s", plan);
    free(plan);

    pmq_test_exec(pg, "ANALYZE jobs");
    plan = ack_plan();
    ck_assert_msg(!strstr(plan, "Seq Scan on jobs"), "with statistics:\n%s", plan);
    ck_assert_msg(!strstr(plan, "JIT"), "compiled for every batch:\n%s", plan);
    free(plan);

    PGresult *ids = PQexec(pg, "SELECT id FROM jobs WHERE status = 'migrated' LIMIT 1000");
    ck_assert_int_eq(PQntuples(ids), 1000);
    static pmq_outcome o[1000];
    for (int i = 0; i < 1000; i++)
        o[i] = outcome(PQgetvalue(ids, i, 0), 1, PMQ_DONE, NULL);
    PQclear(ids);
    ck_assert_int_eq(pmq_ack_apply(pg, r, "w1", o, 1000), 0);
    for (int i = 0; i < 1000; i++)
        pmq_outcome_clear(&o[i]);
    char *v = pmq_test_sqlf(pg, "SELECT count(*) FROM jobs j JOIN job_logs l ON l.job_id = j.id"
                " WHERE j.status = 'completed' AND l.status = 'completed'");
    ck_assert_str_eq(v, "1001");
    free(v);

    /* The migrator's claim, prepared the same way on the same session. */
    ck_assert_int_eq(pmq_migrate_batch(pg, r, 500, NULL), 0);
    plan = plan_of(pmq_xstrdup("EXPLAIN EXECUTE pmq_migrator_claim(500)"));
    ck_assert_msg(!strstr(plan, "Seq Scan on jobs"), "the claim:\n%s", plan);
    ck_assert_msg(!strstr(plan, "JIT"), "the claim is compiled every time:\n%s", plan);
    free(plan);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("ack");
    TCase *tc = tcase_create("ack");
    tcase_add_unchecked_fixture(tc, pmq_test_migrate, NULL);
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, pipelined_error_replies_are_counted);
    tcase_add_test(tc, redis_older_than_6_2_is_refused);
    tcase_add_test(tc, duplicate_outcome_changes_nothing);
    tcase_add_test(tc, retry_then_dead_letter);
    tcase_add_test(tc, invalid_utf8_does_not_block_the_batch);
    tcase_add_test(tc, batch_statements_use_the_primary_key);
    suite_add_tcase(s, tc);
    return pmq_test_main(s, NULL);
}
