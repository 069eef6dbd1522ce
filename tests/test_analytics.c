/*
 * test_analytics.c -- the analytics and warmup plugins end to end: the real
 * pmqd loading plugins/analytics and plugins/warmup, `pmqctl migrate`
 * applying their schemas, jobs enqueued with SQL pmq_enqueue(), and the rows
 * they leave in PostgreSQL (the private servers of tests/harness.c).
 *
 * Covered: the plugins' migrations (tables, pmq_migrations rows, applied
 * once); the three aggregations checked row by row against hand-counted
 * seed messages, including period boundaries, inbound and tenant-less
 * messages, the tenant filter, a configured time zone; re-runs that rewrite
 * no row but add an analytics_jobs row; recomputation after the messages
 * change; bad payloads failing at once with their message; the warmup ramp
 * (volume, cap, exact formula, time zones, window and per-slice spread,
 * jobs already due, payload shape), idempotent re-runs, a raised ramp,
 * refusals (disabled, unknown, bad payload, no seeds); plugin settings
 * refused by `pmqd --check`.
 *
 * email_messages belongs to the email plugin: when its migration has not
 * created it, the tests create it with the agreed DDL (email_messages_ddl).
 * The queue "email-sending" is declared with SQL and served by no pool, so
 * warmup's jobs stay in PostgreSQL to be counted.
 */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <check.h>
#include <libpq-fe.h>

#include "daemon.h"
#include "harness.h"
#include "util.h"

#define TEST_TIMEOUT_S 180 /* per test (sanitizer builds are slow) */

/* The email plugin's table, as agreed with it (plugins issue, part 1). */
static const char email_messages_ddl[] =
    "CREATE TABLE email_messages ("
    " id uuid PRIMARY KEY, tenant_id text, campaign_id text, lead_id text,"
    " direction text CHECK (direction IN ('outbound', 'inbound')),"
    " message_id text, from_addr text, to_addr text, subject text,"
    " status text CHECK (status IN ('sent', 'delivered', 'bounced', 'failed', 'received')),"
    " smtp_response text, bounce_type text, job_id uuid,"
    " sent_at timestamptz, created_at timestamptz, updated_at timestamptz)";

/*--- running things ---*/

static const char *builddir(void)
{
    const char *b = getenv("top_builddir");
    ck_assert_msg(b != NULL, "top_builddir is not set (run through make check)");
    return b;
}

#define ANALYTICS_QUEUES                                                                        \
    "analytics:daily-aggregate analytics:campaign-aggregate analytics:billing-calculate"

/*
 * Both plugins, one pool serving their four queues, and `extra` appended
 * (plugin keys go in `analytics_keys` / `warmup_keys`, may be NULL).
 * Returns the path (caller frees).
 */
static char *plugins_config(const char *name, const char *analytics_keys, const char *warmup_keys,
                            const char *extra)
{
    char *ini = pmq_asprintf("[pmqd]\nlog_level = info\n\n"
                             "[plugin analytics]\npath = %s/plugins/analytics/.libs/analytics.so\n%s\n"
                             "[plugin warmup]\npath = %s/plugins/warmup/.libs/warmup.so\n%s\n"
                             "[pool plugins]\nqueues = " ANALYTICS_QUEUES " warmup:process\n"
                             "processes = 1\nthreads = 2\n\n%s",
                             builddir(), analytics_keys ? analytics_keys : "", builddir(),
                             warmup_keys ? warmup_keys : "", extra ? extra : "");
    char *path = pmq_test_write_config(name, ini);
    free(ini);
    return path;
}

/*
 * Reset both servers, write the configuration, migrate (core + plugins),
 * empty the plugins' tables, provide email_messages and the queue
 * "email-sending".
 */
static char *setup(const char *name, const char *analytics_keys, const char *warmup_keys)
{
    pmq_test_reset();
    char *config = plugins_config(name, analytics_keys, warmup_keys, NULL);
    free(pmq_test_ctl(config, NULL, "migrate"));
    PGconn *pg = pmq_test_pg();
    char *has = pmq_test_query1(pg, "SELECT to_regclass('email_messages') IS NOT NULL");
    if (!has || strcmp(has, "t") != 0)
        pmq_test_exec(pg, email_messages_ddl);
    free(has);
    pmq_test_exec(pg, "SET client_min_messages = warning;"
                      " TRUNCATE email_messages, analytics_daily, analytics_campaign, billing_usage,"
                      " warmup_accounts");
    /* Served by no pool here: warmup's jobs stay queued to be counted. */
    pmq_test_exec(pg, "INSERT INTO job_queues (name) VALUES ('email-sending')"
                      " ON CONFLICT (name) DO NOTHING");
    PQfinish(pg);
    return config;
}

/*
 * Enqueue `payload` on `queue` with SQL pmq_enqueue() and wait for the job
 * to end; its status must be `want`.  Returns its id (caller frees).
 */
static char *run_job(PGconn *pg, const char *queue, const char *payload, const char *want,
                     const char *log_name)
{
    const char *params[] = {queue, payload};
    PGresult *res = PQexecParams(pg, "SELECT pmq_enqueue($1, $2::jsonb)", 2, NULL, params, NULL,
                                 NULL, 0);
    ck_assert_msg(PQresultStatus(res) == PGRES_TUPLES_OK, "pmq_enqueue(%s, %s): %s", queue, payload,
                  PQresultErrorMessage(res));
    char *id = pmq_xstrdup(PQgetvalue(res, 0, 0));
    PQclear(res);
    char *sql = pmq_asprintf("SELECT status IN ('completed', 'failed') FROM jobs WHERE id = '%s'", id);
    int ended = pmq_test_wait_sql(pg, sql, "t", PMQ_TEST_WAIT_MS);
    free(sql);
    char *status =
        pmq_test_sqlf(pg,
                      "SELECT status || ' (attempts: ' || attempt_count || ', error: '"
                      " || coalesce(last_error_message, 'none') || ')' FROM jobs WHERE id = '%s'",
                      id);
    char *prefix = pmq_asprintf("%s (", want);
    if (!ended || !status || strncmp(status, prefix, strlen(prefix)) != 0) {
        char *log = pmq_test_pmqd_log_tail(log_name);
        ck_abort_msg("job %s on %s with %s is %s, expected %s; pmqd log:\n%s", id, queue, payload,
                     status ? status : "(gone)", want, log);
    }
    free(prefix);
    free(status);
    return id;
}

/* The job failed on its first attempt (no retry) with exactly `error`. */
static void assert_failed_with(PGconn *pg, const char *id, const char *error)
{
    char *v = pmq_test_sqlf(
        pg, "SELECT attempt_count || ' ' || last_error_message FROM jobs WHERE id = '%s'", id);
    char *want = pmq_asprintf("1 %s", error);
    ck_assert_msg(v && !strcmp(v, want), "job %s: attempts and error are\n  \"%s\"\nexpected\n  \"%s\"",
                  id, v ? v : "(null)", want);
    free(want);
    free(v);
}

/*--- 1. migrations ---*/

/*
 * `pmqctl migrate` applies each plugin's migration once, records it in
 * pmq_migrations under the plugin's name, creates the tables, declares the
 * plugins' queues; a second run applies nothing.
 */
START_TEST(migrate_applies_plugin_schemas)
{
    pmq_test_reset();
    PGconn *pg = pmq_test_pg();
    /* Forget what an earlier test (or the first setup) applied. */
    pmq_test_exec(pg, "SET client_min_messages = warning;"
                      " DROP TABLE IF EXISTS analytics_daily, analytics_campaign, billing_usage,"
                      " warmup_accounts;"
                      " DELETE FROM pmq_migrations WHERE component IN ('analytics', 'warmup')");
    char *config = plugins_config("migrate", NULL, NULL, NULL);
    char *out = pmq_test_ctl(config, NULL, "migrate");
    ck_assert_msg(strstr(out, "applied analytics 001 summaries\n") != NULL,
                  "no \"applied analytics 001 summaries\" in:\n%s", out);
    ck_assert_msg(strstr(out, "applied warmup 001 accounts\n") != NULL,
                  "no \"applied warmup 001 accounts\" in:\n%s", out);
    free(out);
    pmq_test_assert_sql(
        pg, "analytics:1:summaries warmup:1:accounts",
        "SELECT string_agg(component || ':' || version || ':' || name, ' ' ORDER BY component)"
        " FROM pmq_migrations WHERE component IN ('analytics', 'warmup')");
    pmq_test_assert_sql(pg, "analytics_campaign analytics_daily billing_usage warmup_accounts",
                        "SELECT string_agg(c::text, ' ' ORDER BY c::text) FROM unnest(ARRAY["
                        "to_regclass('analytics_daily'), to_regclass('analytics_campaign'),"
                        " to_regclass('billing_usage'), to_regclass('warmup_accounts')]) c");
    /* The primary keys the aggregations upsert on. */
    pmq_test_assert_sql(
        pg,
        "analytics_campaign:campaign_id analytics_daily:tenant_id,day"
        " billing_usage:tenant_id,month warmup_accounts:mailbox",
        "SELECT string_agg(t, ' ' ORDER BY t) FROM (SELECT c.conrelid::regclass || ':' ||"
        " (SELECT string_agg(a.attname, ',' ORDER BY k.ord) FROM unnest(c.conkey)"
        "  WITH ORDINALITY k (num, ord) JOIN pg_attribute a ON a.attrelid = c.conrelid"
        "  AND a.attnum = k.num) AS t FROM pg_constraint c WHERE c.contype = 'p' AND"
        " c.conrelid::regclass::text IN ('analytics_daily', 'analytics_campaign',"
        " 'billing_usage', 'warmup_accounts')) x");
    /* The queues the plugins serve are declared for producers. */
    pmq_test_assert_sql(pg,
                        "analytics:billing-calculate analytics:campaign-aggregate"
                        " analytics:daily-aggregate warmup:process",
                        "SELECT string_agg(name, ' ' ORDER BY name) FROM job_queues"
                        " WHERE name LIKE 'analytics:%%' OR name LIKE 'warmup:%%'");
    /* email_messages is the email plugin's: neither plugin creates it. */
    pmq_test_assert_sql(pg, "0",
                        "SELECT count(*) FROM pmq_migrations WHERE component IN"
                        " ('analytics', 'warmup') AND name LIKE '%%email%%'");

    out = pmq_test_ctl(config, NULL, "migrate");
    ck_assert_msg(strstr(out, "applied") == NULL || strstr(out, "(0 migrations applied)") != NULL,
                  "a second migrate applied something:\n%s", out);
    ck_assert_msg(strstr(out, "applied analytics") == NULL && strstr(out, "applied warmup") == NULL,
                  "a second migrate applied a plugin migration again:\n%s", out);
    free(out);
    pmq_test_assert_sql(pg, "2",
                        "SELECT count(*) FROM pmq_migrations WHERE component IN"
                        " ('analytics', 'warmup')");
    PQfinish(pg);
    free(config);
}
END_TEST

/*--- 2. analytics ---*/

/*
 * Hand-counted fixtures (all times UTC).  created_at is sent_at minus a
 * minute unless given: message 7, sent at midnight, was created the day
 * before and must count for the day it was sent.
 */
static void seed_messages(PGconn *pg)
{
    pmq_test_exec(
        pg,
        "INSERT INTO email_messages (id, tenant_id, campaign_id, lead_id, direction, message_id,"
        " from_addr, to_addr, subject, status, smtp_response, sent_at, created_at, updated_at)"
        " SELECT gen_random_uuid(), t, c, 'lead-' || n, d, '<m' || n || '@test>', 'news@acme.test',"
        "  'to' || n || '@x.test', 'subject ' || n, s, CASE WHEN s = 'failed' THEN '550 no' END,"
        "  sa::timestamptz, coalesce(ca::timestamptz, sa::timestamptz - interval '1 minute'), now()"
        " FROM (VALUES"
        "  (1,  'acme', 'c1', 'outbound', 'sent',      '2025-03-10 09:00:00+00', NULL),"
        "  (2,  'acme', 'c1', 'outbound', 'delivered', '2025-03-10 10:00:00+00', NULL),"
        "  (3,  'acme', 'c1', 'outbound', 'delivered', '2025-03-10 11:00:00+00', NULL),"
        "  (4,  'acme', 'c1', 'outbound', 'bounced',   '2025-03-10 12:00:00+00', NULL),"
        "  (5,  'acme', 'c1', 'outbound', 'failed',    NULL,                     '2025-03-10 13:00:00+00'),"
        "  (6,  'acme', 'c1', 'outbound', 'sent',      '2025-03-10 23:59:59.999+00', NULL),"
        "  (7,  'acme', 'c1', 'outbound', 'delivered', '2025-03-11 00:00:00+00', NULL),"
        "  (8,  'acme', 'c1', 'outbound', 'delivered', '2025-03-11 09:00:00+00', NULL),"
        "  (9,  'acme', 'c1', 'inbound',  'received',  '2025-03-11 10:00:00+00', NULL),"
        "  (10, 'beta', 'c2', 'outbound', 'sent',      '2025-03-10 08:00:00+00', NULL),"
        "  (11, 'beta', 'c2', 'outbound', 'delivered', '2025-03-10 14:00:00+00', NULL),"
        "  (12, 'beta', 'c2', 'outbound', 'delivered', '2025-02-28 23:59:59+00', NULL),"
        "  (13, 'beta', 'c2', 'outbound', 'sent',      '2025-04-01 00:00:00+00', NULL),"
        "  (14, NULL,   'c3', 'outbound', 'sent',      '2025-03-10 09:30:00+00', NULL),"
        "  (15, 'beta', 'c2', 'inbound',  'received',  '2025-03-10 15:00:00+00', NULL)"
        " ) v (n, t, c, d, s, sa, ca)");
}

#define DAILY_ROWS                                                                              \
    "SELECT coalesce(string_agg(concat_ws('|', tenant_id, day, sent, delivered, bounced, failed),"  \
    " ' ' ORDER BY tenant_id, day), '') FROM analytics_daily"
#define CAMPAIGN_ROWS                                                                           \
    "SELECT coalesce(string_agg(concat_ws('|', campaign_id, coalesce(tenant_id, '-'), sent,"        \
    " delivered, bounced, failed, to_char(first_sent_at AT TIME ZONE 'UTC', 'MM-DD HH24:MI:SS'),"   \
    " to_char(last_sent_at AT TIME ZONE 'UTC', 'MM-DD HH24:MI:SS')), ' ' ORDER BY campaign_id), '')" \
    " FROM analytics_campaign"
#define BILLING_ROWS                                                                            \
    "SELECT coalesce(string_agg(concat_ws('|', tenant_id, month, billable_sends), ' '"              \
    " ORDER BY tenant_id, month), '') FROM billing_usage"
/* Every column of every row, and the row version: "changes nothing" means this. */
#define SNAPSHOT(table, order)                                                                  \
    "SELECT coalesce(string_agg(t::text || '@' || t.xmin, ' ' ORDER BY " order "), '') FROM " table " t"

/* analytics_jobs rows of `queue` with `status`, for `payload`, fully filled. */
static void assert_tracked(PGconn *pg, const char *queue, const char *payload, const char *status,
                           int want)
{
    char n[16];
    snprintf(n, sizeof n, "%d", want);
    pmq_test_assert_sql(
        pg, n,
        "SELECT count(*) FROM analytics_jobs WHERE job_type = '%s' AND status = '%s'"
        " AND payload = '%s'::jsonb AND processed_at IS NOT NULL"
        " AND processed_at >= queued_at AND (error_message IS NULL) = (status = 'completed')",
        queue, status, payload);
}

/*
 * analytics:daily-aggregate: every tenant, then one; a re-run rewrites
 * nothing and adds an analytics_jobs row; changed messages are recomputed,
 * and a tenant left without messages loses its row.
 */
START_TEST(daily_aggregate)
{
    char *config = setup("daily", NULL, NULL);
    PGconn *pg = pmq_test_pg();
    seed_messages(pg);
    pid_t pid = pmq_test_pmqd_start(config, "daily");

    const char *d1 = "{\"day\": \"2025-03-10\"}";
    free(run_job(pg, "analytics:daily-aggregate", d1, "completed", "daily"));
    pmq_test_assert_sql(pg, "acme|2025-03-10|2|2|1|1 beta|2025-03-10|1|1|0|0", DAILY_ROWS);
    assert_tracked(pg, "analytics:daily-aggregate", d1, "completed", 1);
    /* queued_at is the job's enqueue time (to the second). */
    pmq_test_assert_sql(pg, "t",
                        "SELECT bool_and(abs(extract(epoch FROM a.queued_at - j.created_at)) < 1)"
                        " FROM analytics_jobs a, jobs j WHERE j.payload = a.payload");

    /* The same day again: no row rewritten, a second analytics_jobs row. */
    char *before = pmq_test_sqlf(pg, SNAPSHOT("analytics_daily", "tenant_id, day"));
    free(run_job(pg, "analytics:daily-aggregate", d1, "completed", "daily"));
    pmq_test_assert_sql(pg, before, SNAPSHOT("analytics_daily", "tenant_id, day"));
    assert_tracked(pg, "analytics:daily-aggregate", d1, "completed", 2);

    /* One tenant, another day: the other rows stay as they are. */
    const char *d2 = "{\"day\": \"2025-03-11\", \"tenant_id\": \"acme\"}";
    free(run_job(pg, "analytics:daily-aggregate", d2, "completed", "daily"));
    pmq_test_assert_sql(
        pg, "acme|2025-03-10|2|2|1|1 acme|2025-03-11|0|2|0|0 beta|2025-03-10|1|1|0|0", DAILY_ROWS);
    pmq_test_assert_sql(pg, before,
                        SNAPSHOT("analytics_daily", "tenant_id, day") " WHERE day = '2025-03-10'");
    assert_tracked(pg, "analytics:daily-aggregate", d2, "completed", 1);

    /* Messages change: a recomputation follows them. */
    pmq_test_exec(pg, "UPDATE email_messages SET status = 'delivered' WHERE lead_id = 'lead-1';"
                      " DELETE FROM email_messages WHERE tenant_id = 'beta'");
    free(run_job(pg, "analytics:daily-aggregate", d1, "completed", "daily"));
    pmq_test_assert_sql(pg, "acme|2025-03-10|1|3|1|1 acme|2025-03-11|0|2|0|0", DAILY_ROWS);
    assert_tracked(pg, "analytics:daily-aggregate", d1, "completed", 3);
    pmq_test_assert_sql(pg, "4", "SELECT count(*) FROM analytics_jobs");

    pmq_test_pmqd_stop_checked(pid, "daily", 0);
    free(before);
    PQfinish(pg);
    free(config);
}
END_TEST

/*
 * analytics:campaign-aggregate: inbound messages ignored, first/last send
 * over the campaign's life; a re-run rewrites nothing; a campaign without
 * messages has no row; one whose messages name two tenants fails.
 */
START_TEST(campaign_aggregate)
{
    char *config = setup("campaign", NULL, NULL);
    PGconn *pg = pmq_test_pg();
    seed_messages(pg);
    pid_t pid = pmq_test_pmqd_start(config, "campaign");

    const char *c1 = "{\"campaign_id\": \"c1\"}", *c2 = "{\"campaign_id\": \"c2\"}";
    free(run_job(pg, "analytics:campaign-aggregate", c1, "completed", "campaign"));
    free(run_job(pg, "analytics:campaign-aggregate", c2, "completed", "campaign"));
    pmq_test_assert_sql(pg,
                        "c1|acme|2|4|1|1|03-10 09:00:00|03-11 09:00:00"
                        " c2|beta|2|2|0|0|02-28 23:59:59|04-01 00:00:00",
                        CAMPAIGN_ROWS);
    assert_tracked(pg, "analytics:campaign-aggregate", c1, "completed", 1);

    char *before = pmq_test_sqlf(pg, SNAPSHOT("analytics_campaign", "campaign_id"));
    free(run_job(pg, "analytics:campaign-aggregate", c1, "completed", "campaign"));
    pmq_test_assert_sql(pg, before, SNAPSHOT("analytics_campaign", "campaign_id"));
    assert_tracked(pg, "analytics:campaign-aggregate", c1, "completed", 2);

    /* No messages: nothing to summarise, and no row. */
    free(run_job(pg, "analytics:campaign-aggregate", "{\"campaign_id\": \"c9\"}", "completed",
                 "campaign"));
    pmq_test_assert_sql(pg, "0",
                        "SELECT count(*) FROM analytics_campaign WHERE campaign_id = 'c9'");

    /* A campaign's messages must belong to one tenant. */
    pmq_test_exec(pg, "INSERT INTO email_messages (id, tenant_id, campaign_id, direction, status,"
                      " sent_at, created_at) VALUES (gen_random_uuid(), 'zeta', 'c1', 'outbound',"
                      " 'sent', '2025-03-12 10:00+00', '2025-03-12 10:00+00')");
    char *id = run_job(pg, "analytics:campaign-aggregate", c1, "failed", "campaign");
    const char *why = "campaign \"c1\" has outbound messages of 2 tenants (acme, zeta): a campaign "
                      "belongs to one tenant";
    assert_failed_with(pg, id, why);
    free(id);
    pmq_test_assert_sql(pg, before, SNAPSHOT("analytics_campaign", "campaign_id"));
    pmq_test_assert_sql(pg, "1",
                        "SELECT count(*) FROM analytics_jobs WHERE status = 'failed'"
                        " AND error_message = '%s'",
                        why);
    pmq_test_pmqd_stop_checked(pid, "campaign", 0);
    free(before);
    PQfinish(pg);
    free(config);
}
END_TEST

/*
 * analytics:billing-calculate: sent + delivered + bounced outbound messages
 * per tenant and month (failed, inbound and tenant-less ones are not
 * billed); month boundaries; the tenant filter; a re-run rewrites nothing.
 */
START_TEST(billing_calculate)
{
    char *config = setup("billing", NULL, NULL);
    PGconn *pg = pmq_test_pg();
    seed_messages(pg);
    pid_t pid = pmq_test_pmqd_start(config, "billing");

    const char *march = "{\"month\": \"2025-03\"}";
    free(run_job(pg, "analytics:billing-calculate", march, "completed", "billing"));
    pmq_test_assert_sql(pg, "acme|2025-03-01|7 beta|2025-03-01|2", BILLING_ROWS);
    assert_tracked(pg, "analytics:billing-calculate", march, "completed", 1);

    char *before = pmq_test_sqlf(pg, SNAPSHOT("billing_usage", "tenant_id, month"));
    free(run_job(pg, "analytics:billing-calculate", march, "completed", "billing"));
    pmq_test_assert_sql(pg, before, SNAPSHOT("billing_usage", "tenant_id, month"));
    assert_tracked(pg, "analytics:billing-calculate", march, "completed", 2);

    free(run_job(pg, "analytics:billing-calculate", "{\"month\": \"2025-02\", \"tenant_id\": \"beta\"}",
                 "completed", "billing"));
    free(run_job(pg, "analytics:billing-calculate", "{\"month\": \"2025-04\", \"tenant_id\": \"acme\"}",
                 "completed", "billing"));
    pmq_test_assert_sql(pg, "acme|2025-03-01|7 beta|2025-02-01|1 beta|2025-03-01|2", BILLING_ROWS);
    pmq_test_assert_sql(
        pg, before, SNAPSHOT("billing_usage", "tenant_id, month") " WHERE month = '2025-03-01'");
    pmq_test_pmqd_stop_checked(pid, "billing", 0);
    free(before);
    PQfinish(pg);
    free(config);
}
END_TEST

/* Bad payloads fail at once (no retry) with a clear message, tracked as failed. */
START_TEST(analytics_bad_payloads)
{
    char *config = setup("badpayload", NULL, NULL);
    PGconn *pg = pmq_test_pg();
    seed_messages(pg);
    pid_t pid = pmq_test_pmqd_start(config, "badpayload");
    static const struct {
        const char *queue, *payload, *error;
    } cases[] = {
        {"analytics:daily-aggregate", "{}",
         "invalid payload: \"day\" is required (a date \"YYYY-MM-DD\")"},
        {"analytics:daily-aggregate", "{\"day\": \"2025-02-29\"}",
         "invalid payload: \"day\" must be a date \"YYYY-MM-DD\", got \"2025-02-29\""},
        {"analytics:daily-aggregate", "{\"day\": 20250310}",
         "invalid payload: \"day\" must be a date \"YYYY-MM-DD\", got 20250310"},
        {"analytics:daily-aggregate", "{\"day\": \"2025-03-10\", \"tenant\": \"acme\"}",
         "invalid payload: unknown key \"tenant\" (expected \"day\", \"tenant_id\")"},
        {"analytics:campaign-aggregate", "{\"campaign_id\": \"\"}",
         "invalid payload: \"campaign_id\" must be a non-empty string, got \"\""},
        {"analytics:campaign-aggregate", "{\"campaign\": \"c1\"}",
         "invalid payload: unknown key \"campaign\" (expected \"campaign_id\")"},
        {"analytics:billing-calculate", "{\"month\": \"2025-13\"}",
         "invalid payload: \"month\" must be a month \"YYYY-MM\", got \"2025-13\""},
        {"analytics:billing-calculate", "{\"month\": \"2025-03-01\"}",
         "invalid payload: \"month\" must be a month \"YYYY-MM\", got \"2025-03-01\""},
        {"analytics:billing-calculate", "{\"month\": \"2025-03\", \"tenant_id\": 5}",
         "invalid payload: \"tenant_id\" must be a non-empty string, got 5"},
    };
    size_t n = sizeof cases / sizeof cases[0];
    for (size_t i = 0; i < n; i++) {
        char *id = run_job(pg, cases[i].queue, cases[i].payload, "failed", "badpayload");
        assert_failed_with(pg, id, cases[i].error);
        pmq_test_assert_sql(pg, "1",
                            "SELECT count(*) FROM analytics_jobs WHERE job_type = '%s'"
                            " AND status = 'failed' AND payload = '%s'::jsonb"
                            " AND error_message = $$%s$$ AND processed_at IS NOT NULL",
                            cases[i].queue, cases[i].payload, cases[i].error);
        free(id);
    }
    char want[16];
    snprintf(want, sizeof want, "%zu", n);
    pmq_test_assert_sql(pg, want, "SELECT count(*) FROM analytics_jobs WHERE status = 'failed'");
    pmq_test_assert_sql(pg, "0 0 0",
                        "SELECT (SELECT count(*) FROM analytics_daily) || ' ' ||"
                        " (SELECT count(*) FROM analytics_campaign) || ' ' ||"
                        " (SELECT count(*) FROM billing_usage)");
    pmq_test_pmqd_stop_checked(pid, "badpayload", 0);
    PQfinish(pg);
    free(config);
}
END_TEST

/*
 * [plugin analytics] time_zone: days and months are counted in that zone
 * (Asia/Tokyo, UTC+9, no daylight saving time).
 */
START_TEST(analytics_time_zone)
{
    char *config = setup("tz", "time_zone = Asia/Tokyo\n", NULL);
    PGconn *pg = pmq_test_pg();
    seed_messages(pg);
    pid_t pid = pmq_test_pmqd_start(config, "tz");
    /* 2025-03-10 in Tokyo: from 03-09 15:00 to 03-10 15:00 UTC. */
    free(run_job(pg, "analytics:daily-aggregate", "{\"day\": \"2025-03-10\"}", "completed", "tz"));
    pmq_test_assert_sql(pg, "acme|2025-03-10|1|2|1|1 beta|2025-03-10|1|1|0|0", DAILY_ROWS);
    /* Message 12 (02-28 23:59:59 UTC) is March in Tokyo; 13 (04-01 00:00 UTC) is April. */
    free(run_job(pg, "analytics:billing-calculate", "{\"month\": \"2025-03\"}", "completed", "tz"));
    pmq_test_assert_sql(pg, "acme|2025-03-01|7 beta|2025-03-01|3", BILLING_ROWS);
    pmq_test_pmqd_stop_checked(pid, "tz", 0);
    PQfinish(pg);
    free(config);
}
END_TEST

/*--- 3. warmup ---*/

/*
 * The email-sending jobs of `mailbox` for `day`: `volume` of them, numbered
 * 1..volume in their unique keys, each payload in the guide's email shape
 * with the seeds in turn (`seeds` is a SQL text[] literal) and the
 * account's tenant.
 */
static void assert_warmup_jobs(PGconn *pg, const char *mailbox, const char *day, int volume,
                               const char *seeds, const char *tenant, const char *from_name)
{
    char want[64];
    snprintf(want, sizeof want, "%d %d 1 %d", volume, volume, volume);
    pmq_test_assert_sql(
        pg, want,
        "SELECT count(*) || ' ' || count(DISTINCT split_part(unique_key, ':', 4)) || ' ' ||"
        " coalesce(min(split_part(unique_key, ':', 4)::int), 0) || ' ' ||"
        " coalesce(max(split_part(unique_key, ':', 4)::int), 0)"
        " FROM jobs WHERE queue_name = 'email-sending' AND unique_key LIKE 'warmup:%s:%s:%%'",
        mailbox, day);
    /* The first malformed payload, if any. */
    pmq_test_assert_sql(
        pg, "none",
        "SELECT coalesce(min(j.payload::text), 'none') FROM jobs j,"
        " LATERAL (SELECT split_part(j.unique_key, ':', 4)::int AS n) k"
        " WHERE j.queue_name = 'email-sending' AND j.unique_key LIKE 'warmup:%s:%s:%%'"
        " AND NOT coalesce(("
        "  (SELECT array_agg(x ORDER BY x) FROM jsonb_object_keys(j.payload) x)"
        "   = '{campaign_id,email_data,lead_id}'"
        "  AND (SELECT array_agg(x ORDER BY x) FROM jsonb_object_keys(j.payload->'email_data') x)"
        "   = %s"
        "  AND j.payload->>'campaign_id' = 'warmup'"
        "  AND j.payload->>'lead_id' = j.unique_key"
        "  AND j.payload->'email_data'->>'from' = '%s'"
        "  AND (j.payload->'email_data'->>'from_name') IS NOT DISTINCT FROM %s"
        "  AND j.payload->'email_data'->>'to' ="
        "   ('%s'::text[])[(k.n - 1) %% cardinality('%s'::text[]) + 1]"
        "  AND j.payload->'email_data'->>'subject' LIKE '%%(%s #' || k.n || ')'"
        "  AND length(j.payload->'email_data'->>'text') > 20"
        "  AND j.tenant_id IS NOT DISTINCT FROM %s"
        "  AND jsonb_typeof(j.payload->'email_data'->'subject') = 'string'), false)",
        mailbox, day, from_name ? "'{from,from_name,subject,text,to}'" : "'{from,subject,text,to}'",
        mailbox, from_name ? from_name : "NULL", seeds, seeds, day, tenant ? tenant : "NULL");
}

/*
 * Job n of N is due within the n-th of N equal slices of the window
 * [08:00, 18:00) of `day` in `zone` (the documented spread).
 */
static void assert_spread(PGconn *pg, const char *mailbox, const char *day, const char *zone)
{
    pmq_test_assert_sql(
        pg, "none",
        "WITH w AS (SELECT ('%s'::date + time '08:00') AT TIME ZONE '%s' AS lo,"
        "                  ('%s'::date + time '18:00') AT TIME ZONE '%s' AS hi),"
        " j AS (SELECT split_part(unique_key, ':', 4)::int AS n, run_at,"
        "  count(*) OVER () AS total FROM jobs WHERE queue_name = 'email-sending'"
        "  AND unique_key LIKE 'warmup:%s:%s:%%')"
        " SELECT coalesce(min(format('job %%s of %%s due %%s, not in [%%s, %%s)', n, total,"
        "  run_at, lo + (hi - lo) * (n - 1) / total, lo + (hi - lo) * n / total)), 'none')"
        " FROM j, w WHERE NOT (j.run_at >= w.lo + (w.hi - w.lo) * (j.n - 1) / j.total"
        "  AND j.run_at < w.lo + (w.hi - w.lo) * j.n / j.total)",
        day, zone, day, zone, mailbox, day);
}

/* The ids of the jobs of `mailbox` and `day`, in key order (caller frees). */
static char *warmup_ids(PGconn *pg, const char *mailbox, const char *day)
{
    char *v = pmq_test_sqlf(pg,
                            "SELECT coalesce(string_agg(id::text, ',' ORDER BY unique_key), '')"
                            " FROM jobs WHERE queue_name = 'email-sending'"
                            " AND unique_key LIKE 'warmup:%s:%s:%%'",
                            mailbox, day);
    ck_assert_ptr_nonnull(v);
    return v;
}

static char *warmup_payload(const char *mailbox, const char *day)
{
    return day ? pmq_asprintf("{\"mailbox\": \"%s\", \"day\": \"%s\"}", mailbox, day)
               : pmq_asprintf("{\"mailbox\": \"%s\"}", mailbox);
}

/*
 * warmup:process: the ramp's volume (growth, cap, exact formula), the
 * window and its spread (UTC and Asia/Tokyo), jobs already due run at once,
 * payloads well-formed, a second run enqueues nothing, a raised ramp adds
 * only the missing jobs, "day" defaults to today.
 */
START_TEST(warmup_ramp)
{
    char *config = setup("warmup", NULL, NULL);
    PGconn *pg = pmq_test_pg();
    /* Two days ahead: the whole window is in the future in any zone. */
    char *day = pmq_test_sqlf(pg, "SELECT (now() AT TIME ZONE 'UTC')::date + 2");
    char *today = pmq_test_sqlf(pg, "SELECT (now() AT TIME ZONE 'UTC')::date");
    char *yesterday = pmq_test_sqlf(pg, "SELECT (now() AT TIME ZONE 'UTC')::date - 1");
    ck_assert(day && today && yesterday);
    pmq_test_exec(pg, "INSERT INTO warmup_accounts (mailbox, tenant_id, from_name, start_volume,"
                      " daily_growth, max_volume, started_on, enabled, seed_recipients, time_zone)"
                      " SELECT m, t, f, s, g, x, d + o, true, r::text[], z FROM (VALUES"
                      /* 10 * 1.5^3 = 33.75 */
                      "  ('warm@example.com', 'acme', 'Warm Sender', 10, 1.5, 40, 2 - 3,"
                      "   '{s1@seed.test,s2@seed.test,s3@seed.test}', 'UTC'),"
                      /* 10 * 1.5^60, capped at 40 */
                      "  ('capped@example.com', 'acme', NULL, 10, 1.5, 40, 2 - 60,"
                      "   '{c@seed.test}', 'UTC'),"
                      /* 25 * 1.2^2 = 36 exactly (35.999... in binary floating point) */
                      "  ('tokyo@example.com', 'beta', 'Tokyo', 25, 1.2, 100, 2 - 2,"
                      "   '{t1@seed.test,t2@seed.test}', 'Asia/Tokyo'),"
                      /* yesterday, its first day: 3 jobs, all due already */
                      "  ('late@example.com', NULL, NULL, 3, 2, 100, -1,"
                      "   '{l@seed.test}', 'UTC'),"
                      /* today, its third day: 4 * 2^2 = 16 */
                      "  ('today@example.com', 'acme', NULL, 4, 2, 100, -2,"
                      "   '{d1@seed.test,d2@seed.test}', 'UTC')"
                      " ) v (m, t, f, s, g, x, o, r, z),"
                      " (SELECT (now() AT TIME ZONE 'UTC')::date AS d) base");
    pid_t pid = pmq_test_pmqd_start(config, "warmup");

    char *p = warmup_payload("warm@example.com", day);
    free(run_job(pg, "warmup:process", p, "completed", "warmup"));
    assert_warmup_jobs(pg, "warm@example.com", day, 33, "{s1@seed.test,s2@seed.test,s3@seed.test}",
                       "'acme'", "'Warm Sender'");
    assert_spread(pg, "warm@example.com", day, "UTC");
    pmq_test_assert_sql(pg, "t",
                        "SELECT bool_and(status = 'queued' AND run_at > now()) FROM jobs"
                        " WHERE queue_name = 'email-sending' AND unique_key LIKE 'warmup:warm@%%'");

    /* The same day again: nothing new, the same jobs. */
    char *ids = warmup_ids(pg, "warm@example.com", day);
    free(run_job(pg, "warmup:process", p, "completed", "warmup"));
    char *again = warmup_ids(pg, "warm@example.com", day);
    ck_assert_str_eq(again, ids);
    free(again);
    pmq_test_assert_sql(pg, "33", "SELECT count(*) FROM jobs WHERE queue_name = 'email-sending'");

    /* A ramp raised during the day adds only the missing jobs (now capped at 40). */
    pmq_test_exec(pg, "UPDATE warmup_accounts SET start_volume = 20, updated_at = now()"
                      " WHERE mailbox = 'warm@example.com'");
    free(run_job(pg, "warmup:process", p, "completed", "warmup"));
    pmq_test_assert_sql(pg, "40", "SELECT count(*) FROM jobs WHERE queue_name = 'email-sending'");
    pmq_test_assert_sql(pg, "33", "SELECT count(*) FROM jobs WHERE id = ANY('{%s}'::uuid[])", ids);
    pmq_test_assert_sql(pg, "t",
                        "SELECT bool_and(run_at >= ('%s'::date + time '08:00') AT TIME ZONE 'UTC'"
                        " AND run_at < ('%s'::date + time '18:00') AT TIME ZONE 'UTC') FROM jobs"
                        " WHERE queue_name = 'email-sending'",
                        day, day);
    free(ids);
    free(p);

    /* The cap, long after the start. */
    p = warmup_payload("capped@example.com", day);
    free(run_job(pg, "warmup:process", p, "completed", "warmup"));
    free(p);
    assert_warmup_jobs(pg, "capped@example.com", day, 40, "{c@seed.test}", "'acme'", NULL);
    assert_spread(pg, "capped@example.com", day, "UTC");

    /* The mailbox's time zone sets the window. */
    p = warmup_payload("tokyo@example.com", day);
    free(run_job(pg, "warmup:process", p, "completed", "warmup"));
    free(p);
    assert_warmup_jobs(pg, "tokyo@example.com", day, 36, "{t1@seed.test,t2@seed.test}", "'beta'",
                       "'Tokyo'");
    assert_spread(pg, "tokyo@example.com", day, "Asia/Tokyo");

    /* A day already over: every job is due at once. */
    p = warmup_payload("late@example.com", yesterday);
    free(run_job(pg, "warmup:process", p, "completed", "warmup"));
    free(p);
    assert_warmup_jobs(pg, "late@example.com", yesterday, 3, "{l@seed.test}", NULL, NULL);
    pmq_test_assert_sql(pg, "3",
                        "SELECT count(*) FROM jobs WHERE queue_name = 'email-sending'"
                        " AND unique_key LIKE 'warmup:late@%%' AND run_at = created_at");

    /* No "day": today in the mailbox's zone. */
    p = warmup_payload("today@example.com", NULL);
    free(run_job(pg, "warmup:process", p, "completed", "warmup"));
    free(p);
    char *after = pmq_test_sqlf(pg, "SELECT (now() AT TIME ZONE 'UTC')::date");
    if (!strcmp(today, after)) /* not across midnight */
        assert_warmup_jobs(pg, "today@example.com", today, 16, "{d1@seed.test,d2@seed.test}",
                           "'acme'", NULL);
    free(after);

    pmq_test_pmqd_stop_checked(pid, "warmup", 0);
    free(day);
    free(today);
    free(yesterday);
    PQfinish(pg);
    free(config);
}
END_TEST

/*
 * warmup:process refuses, at once and without enqueueing: a disabled or
 * unknown mailbox, one without seeds, a bad payload.  An invalid time zone
 * is refused when the account is written; before started_on nothing is due.
 */
START_TEST(warmup_refusals)
{
    char *config = setup("warmupno", NULL, NULL);
    PGconn *pg = pmq_test_pg();
    pmq_test_exec(pg, "INSERT INTO warmup_accounts (mailbox, start_volume, max_volume, started_on,"
                      " enabled, seed_recipients) VALUES"
                      " ('off@example.com', 10, 40, current_date - 3, false, '{o@seed.test}'),"
                      " ('noseed@example.com', 10, 40, current_date - 3, true, '{}'),"
                      " ('future@example.com', 10, 40, current_date + 30, true, '{f@seed.test}')");
    PGresult *res = PQexec(pg, "INSERT INTO warmup_accounts (mailbox, start_volume, max_volume,"
                               " seed_recipients, time_zone) VALUES ('mars@example.com', 1, 2,"
                               " '{m@seed.test}', 'Mars/Olympus_Mons')");
    ck_assert_msg(PQresultStatus(res) == PGRES_FATAL_ERROR &&
                      strstr(PQresultErrorMessage(res), "\"Mars/Olympus_Mons\"") != NULL,
                  "an unknown time zone was not refused: %s", PQresultErrorMessage(res));
    PQclear(res);
    pid_t pid = pmq_test_pmqd_start(config, "warmupno");
    static const struct {
        const char *payload, *error;
    } cases[] = {
        {"{\"mailbox\": \"off@example.com\"}",
         "warmup mailbox \"off@example.com\" is disabled (warmup_accounts.enabled)"},
        {"{\"mailbox\": \"nobody@example.com\", \"day\": \"2025-03-10\"}",
         "unknown warmup mailbox \"nobody@example.com\": no such row in warmup_accounts"},
        {"{\"mailbox\": \"noseed@example.com\"}",
         "warmup mailbox \"noseed@example.com\" has no seed_recipients to write to"},
        {"{\"day\": \"2025-03-10\"}", "invalid payload: \"mailbox\" is required (a mailbox address)"},
        {"{\"mailbox\": \"off@example.com\", \"day\": \"2025-02-29\"}",
         "invalid payload: \"day\" must be a date \"YYYY-MM-DD\", got \"2025-02-29\""},
        {"{\"mailbox\": \"off@example.com\", \"volume\": 3}",
         "invalid payload: unknown key \"volume\" (expected \"mailbox\", \"day\")"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char *id = run_job(pg, "warmup:process", cases[i].payload, "failed", "warmupno");
        assert_failed_with(pg, id, cases[i].error);
        free(id);
    }
    /* Before its start: done, nothing to send. */
    free(run_job(pg, "warmup:process", "{\"mailbox\": \"future@example.com\"}", "completed",
                 "warmupno"));
    pmq_test_assert_sql(pg, "0", "SELECT count(*) FROM jobs WHERE queue_name = 'email-sending'");
    pmq_test_pmqd_stop_checked(pid, "warmupno", 0);
    PQfinish(pg);
    free(config);
}
END_TEST

/*--- 4. settings ---*/

/* `pmqd --check` refuses bad plugin settings, naming the plugin and the key. */
START_TEST(plugin_settings_are_checked)
{
    static const struct {
        const char *analytics, *warmup, *message;
    } cases[] = {
        {NULL, NULL, NULL},
        {"time_zone = Europe Paris\n", NULL, "invalid time_zone \"Europe Paris\""},
        {NULL, "window_start = 18:00\nwindow_end = 08:00\n",
         "invalid window_end \"08:00\": it must be later than window_start"},
        {NULL, "window_start = 8h\n", "invalid window_start \"8h\""},
        {NULL, "priority = 0\n", "invalid value \"0\" for \"priority\""},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char name[32];
        snprintf(name, sizeof name, "check%zu", i);
        char *config = plugins_config(name, cases[i].analytics, cases[i].warmup, NULL);
        char *cmd = pmq_asprintf("'%s/core/pmqd' -c '%s' --check", builddir(), config);
        int st;
        char *out = pmq_test_run(cmd, &st);
        if (!cases[i].message)
            ck_assert_msg(st == 0, "the valid configuration was refused (%d):\n%s", st, out);
        else
            ck_assert_msg(st != 0 && strstr(out, cases[i].message) != NULL,
                          "case %zu: exit %d, expected a refusal with \"%s\":\n%s", i, st,
                          cases[i].message, out);
        free(out);
        free(cmd);
        free(config);
    }
}
END_TEST

/*--- the suite ---*/

static Suite *analytics_suite(void)
{
    Suite *s = suite_create("analytics");
    TCase *tc = pmq_test_case(s, "migrate", TEST_TIMEOUT_S);
    tcase_add_test(tc, migrate_applies_plugin_schemas);
    tc = pmq_test_case(s, "analytics", TEST_TIMEOUT_S);
    tcase_add_test(tc, daily_aggregate);
    tcase_add_test(tc, campaign_aggregate);
    tcase_add_test(tc, billing_calculate);
    tcase_add_test(tc, analytics_bad_payloads);
    tcase_add_test(tc, analytics_time_zone);
    tc = pmq_test_case(s, "warmup", TEST_TIMEOUT_S);
    tcase_add_test(tc, warmup_ramp);
    tcase_add_test(tc, warmup_refusals);
    tc = pmq_test_case(s, "settings", TEST_TIMEOUT_S);
    tcase_add_test(tc, plugin_settings_are_checked);
    return s;
}

int main(void)
{
    return pmq_test_main(analytics_suite(), NULL);
}
