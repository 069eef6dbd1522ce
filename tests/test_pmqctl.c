/*
 * test_pmqctl.c -- the operator's commands against real servers and a real
 * pmqd: health, stats, queues, pause/resume, cancel, workers, job show, each
 * in its table form and with --json.  (enqueue, migrate and dlq are in
 * test_flow.c.)
 */
#include <check.h>
#include <json-c/json.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>

#include "daemon.h"
#include "harness.h"
#include "util.h"

static json_object *ctl_json(const char *config, const char *args)
{
    char *out = pmq_test_ctl(config, NULL, "%s --json", args);
    json_object *o = json_tokener_parse(out);
    ck_assert_msg(o != NULL, "pmqctl %s --json printed no JSON:\n%s", args, out);
    free(out);
    return o;
}

static json_object *get(json_object *o, const char *path)
{
    char *copy = pmq_xstrdup(path), *save = NULL;
    for (char *k = strtok_r(copy, "/", &save); k && o; k = strtok_r(NULL, "/", &save))
        if (!json_object_object_get_ex(o, k, &o))
            o = NULL;
    free(copy);
    ck_assert_msg(o != NULL, "no \"%s\" in the JSON", path);
    return o;
}

static const char pool_ini[] = "[pool t]\nqueues = t.ok, t.fatal\nprocesses = 1\nthreads = 2\n";

START_TEST(health_table_and_json)
{
    char *config = pmq_test_behave_setup("health", pool_ini);
    PGconn *pg = pmq_test_pg();
    pmq_test_exec(pg, "SELECT pmq_enqueue('t.ok', '{}') FROM generate_series(1, 3)");

    /* No pmqd: jobs wait and nobody serves them -> degraded, exit 1. */
    int st;
    char *out = pmq_test_ctl(config, &st, "health");
    ck_assert_msg(st == 1, "health without workers exited %d:\n%s", st, out);
    ck_assert_ptr_nonnull(strstr(out, "status      degraded"));
    ck_assert_ptr_nonnull(strstr(out, "redis       healthy"));
    free(out);

    pid_t pid = pmq_test_pmqd_start(config, "pmqctl-health");
    pmq_test_await_sql(pg, "SELECT count(*) FROM jobs WHERE status = 'completed'", "3",
                       "pmqctl-health");
    out = pmq_test_ctl(config, NULL, "health");
    ck_assert_ptr_nonnull(strstr(out, "status      healthy"));
    ck_assert_ptr_nonnull(strstr(out, PMQ_TEST_KEY(pmq_key_queue, "", "t.ok", PMQ_BAND_HIGH)));
    free(out);
    json_object *h = ctl_json(config, "health");
    ck_assert_str_eq(json_object_get_string(get(h, "status")), "healthy");
    ck_assert_str_eq(json_object_get_string(get(h, "redis/status")), "healthy");
    ck_assert_str_eq(json_object_get_string(get(h, "redis/ping")), "PONG");
    get(h, "redis/memory_used");
    ck_assert_int_ge(json_object_get_int(get(h, "redis/connected_clients")), 1);
    char *depth = pmq_asprintf("queues/%s", PMQ_TEST_KEY(pmq_key_queue, "", "t.ok", PMQ_BAND_NORMAL));
    ck_assert_int_eq(json_object_get_int(get(h, depth)), 0);
    free(depth);
    ck_assert_int_eq(json_object_get_int(get(h, "workers/active_workers")), 1);
    ck_assert_int_eq(json_object_array_length(get(h, "workers/worker_ids")), 1);
    ck_assert_int_eq(json_object_get_int(get(h, "jobs/completed")), 3);
    get(h, "timestamp");
    json_object_put(h);
    pmq_test_pmqd_stop_checked(pid, "pmqctl-health", PMQ_TEST_NO_RESTART);

    /* Redis down (nothing listens at the socket): exit 2, at once. */
    char *down = pmq_test_write_config("health-down", "");
    char *cmd = pmq_asprintf("sed -i 's|^socket = .*|socket = %s/nothing.sock|' '%s'", pmq_test_dir(), down);
    free(pmq_test_run(cmd, NULL));
    free(cmd);
    out = pmq_test_ctl(down, &st, "health");
    ck_assert_msg(st == 2, "health with Redis down exited %d:\n%s", st, out);
    ck_assert_ptr_nonnull(strstr(out, "status      down"));
    free(out);
    h = NULL;
    out = pmq_test_ctl(down, &st, "health --json");
    h = json_tokener_parse(out);
    ck_assert_ptr_nonnull(h);
    ck_assert_str_eq(json_object_get_string(get(h, "redis/status")), "unhealthy");
    get(h, "redis/error");
    json_object_put(h);
    free(out);
    free(down);
    PQfinish(pg);
    free(config);
}
END_TEST

START_TEST(stats_queues_pause_resume)
{
    char *config = pmq_test_behave_setup("stats", pool_ini);
    PGconn *pg = pmq_test_pg();
    free(pmq_test_ctl(config, NULL, "pause t.ok"));
    pmq_test_exec(pg, "SELECT pmq_enqueue('t.ok', '{}') FROM generate_series(1, 5)");
    pid_t pid = pmq_test_pmqd_start(config, "pmqctl-stats");
    pmq_test_exec(pg, "SELECT pmq_enqueue('t.fatal', '{}')");
    pmq_test_await_sql(pg, "SELECT count(*) FROM jobs WHERE status = 'failed'", "1",
                       "pmqctl-stats");

    /* Paused: enqueue works, nothing is migrated or run. */
    char *v = pmq_test_query1(pg, "SELECT count(*) FROM jobs WHERE queue_name = 't.ok' AND status = 'queued'");
    ck_assert_str_eq(v, "5");
    free(v);
    char *out = pmq_test_ctl(config, NULL, "queues");
    ck_assert_ptr_nonnull(strstr(out, "QUEUE"));
    ck_assert_msg(strstr(out, "t.ok") && strstr(out, "yes"), "%s", out);
    free(out);
    json_object *qs = ctl_json(config, "queues");
    int seen = 0;
    for (size_t i = 0; i < json_object_array_length(qs); i++) {
        json_object *q = json_object_array_get_idx(qs, i);
        if (!strcmp(json_object_get_string(get(q, "name")), "t.ok")) {
            ck_assert(json_object_get_boolean(get(q, "paused")));
            seen = 1;
        }
    }
    ck_assert(seen);
    json_object_put(qs);

    out = pmq_test_ctl(config, NULL, "stats");
    ck_assert_ptr_nonnull(strstr(out, "t.ok (paused)"));
    free(out);
    json_object *st = ctl_json(config, "stats t.ok");
    ck_assert_int_eq(json_object_array_length(st), 1);
    json_object *q = json_object_array_get_idx(st, 0);
    ck_assert_int_eq(json_object_get_int(get(q, "jobs/queued")), 5);
    ck_assert(json_object_get_boolean(get(q, "paused")));
    ck_assert(json_object_get_double(get(q, "oldest_waiting_seconds")) > 0);
    get(q, "redis_depth/high");
    json_object_put(st);

    free(pmq_test_ctl(config, NULL, "resume t.ok"));
    pmq_test_await_sql(pg, "SELECT count(*) FROM jobs WHERE status = 'completed'", "5",
                       "pmqctl-stats");
    st = ctl_json(config, "stats t.ok");
    q = json_object_array_get_idx(st, 0);
    ck_assert_int_eq(json_object_get_int(get(q, "jobs/completed")), 5);
    ck_assert(!json_object_get_boolean(get(q, "paused")));
    json_object_put(st);
    int status;
    out = pmq_test_ctl(config, &status, "pause no.such.queue");
    ck_assert_int_ne(status, 0);
    ck_assert_ptr_nonnull(strstr(out, "queue \"no.such.queue\" does not exist"));
    free(out);
    pmq_test_pmqd_stop_checked(pid, "pmqctl-stats", PMQ_TEST_NO_RESTART);
    PQfinish(pg);
    free(config);
}
END_TEST

START_TEST(cancel_workers_job_show)
{
    char *config =
        pmq_test_behave_setup("cancel", "[redis]\nfinished_ttl = 1h\n\n" /* job show's hash */
                                         "[pool t]\nqueues = t.ok\nprocesses = 1\nthreads = 1\n");
    PGconn *pg = pmq_test_pg();
    /* A long job holds the only thread; the next one waits in Redis. */
    char *busy = pmq_test_query1(pg, "SELECT pmq_enqueue('t.ok', '{\"work_ms\": 10000}', priority => 10)");
    char *waiting = pmq_test_query1(pg, "SELECT pmq_enqueue('t.ok', '{}', priority => 100)");
    char *later = pmq_test_query1(pg, "SELECT pmq_enqueue('t.ok', '{}', run_at => now() + interval '1 hour')");
    pid_t pid = pmq_test_pmqd_start(config, "pmqctl-cancel");
    char *sql = pmq_asprintf("SELECT status FROM jobs WHERE id = '%s'", waiting);
    pmq_test_await_sql(pg, sql, "migrated", "pmqctl-cancel");
    free(sql);

    /* cancel: the waiting job (already in Redis) and the delayed one never run. */
    char *out = pmq_test_ctl(config, NULL, "cancel %s", waiting);
    ck_assert_ptr_nonnull(strstr(out, "it was migrated"));
    free(out);
    out = pmq_test_ctl(config, NULL, "cancel %s", later);
    ck_assert_ptr_nonnull(strstr(out, "it was queued"));
    free(out);
    /* workers: the table and the JSON show the running job. */
    json_object *ws = NULL;
    for (int i = 0; i < PMQ_TEST_WAIT_MS / 50; i++) {
        json_object_put(ws);
        ws = ctl_json(config, "workers");
        if (json_object_array_length(ws) == 1 &&
            json_object_array_length(get(json_object_array_get_idx(ws, 0), "current_jobs")) == 1)
            break;
        struct timespec ts = {0, 50 * 1000000L};
        nanosleep(&ts, NULL);
    }
    ck_assert_int_eq(json_object_array_length(ws), 1);
    json_object *w = json_object_array_get_idx(ws, 0);
    ck_assert_str_eq(json_object_get_string(json_object_array_get_idx(get(w, "current_jobs"), 0)), busy);
    ck_assert_int_gt(json_object_get_int(get(w, "pid")), 0);
    ck_assert_str_eq(json_object_get_string(json_object_array_get_idx(get(w, "queues"), 0)), "t.ok");
    json_object_put(ws);
    out = pmq_test_ctl(config, NULL, "workers");
    ck_assert_ptr_nonnull(strstr(out, busy));
    free(out);

    sql = pmq_asprintf("SELECT status FROM jobs WHERE id = '%s'", busy);
    pmq_test_await_sql(pg, sql, "completed", "pmqctl-cancel");
    free(sql);
    /* The worker is idle again and the cancelled job is gone from Redis. */
    redisContext *r = pmq_test_redis();
    for (int i = 0; i < PMQ_TEST_WAIT_MS / 50; i++) {
        redisReply *rep = redisCommand(r, "LLEN %s", PMQ_TEST_KEY(pmq_key_queue, "", "t.ok", PMQ_BAND_NORMAL));
        long long n = rep->integer;
        freeReplyObject(rep);
        if (n == 0)
            break;
        struct timespec ts = {0, 50 * 1000000L};
        nanosleep(&ts, NULL);
    }
    redisFree(r);
    sql = pmq_asprintf("SELECT status || '/' || attempt_count FROM jobs WHERE id = '%s'", waiting);
    char *v = pmq_test_query1(pg, sql);
    ck_assert_str_eq(v, "cancelled/0");
    free(v);
    free(sql);
    int status;
    out = pmq_test_ctl(config, &status, "cancel %s", busy);
    ck_assert_int_ne(status, 0);
    ck_assert_ptr_nonnull(strstr(out, "has already ended (completed)"));
    free(out);

    /* job show: the row, the Redis hash, every attempt. */
    out = pmq_test_ctl(config, NULL, "job show %s", busy);
    ck_assert_ptr_nonnull(strstr(out, "completed"));
    ck_assert_ptr_nonnull(strstr(out, "ATTEMPT"));
    ck_assert_ptr_nonnull(strstr(out, "ok on attempt 1"));
    free(out);
    char *args = pmq_asprintf("job show %s", busy);
    json_object *j = ctl_json(config, args);
    free(args);
    ck_assert_str_eq(json_object_get_string(get(j, "job/status")), "completed");
    ck_assert_str_eq(json_object_get_string(get(j, "redis/status")), "completed");
    json_object *logs = get(j, "logs");
    ck_assert_int_eq(json_object_array_length(logs), 1);
    ck_assert_int_eq(json_object_get_int(get(json_object_array_get_idx(logs, 0), "attempt_number")), 1);
    json_object_put(j);
    free(busy);
    free(waiting);
    free(later);
    pmq_test_pmqd_stop_checked(pid, "pmqctl-cancel", PMQ_TEST_NO_RESTART);
    PQfinish(pg);
    free(config);
}
END_TEST

/*--- values pmqctl refuses before SQL (one rule per value: core/config.h) ---*/

/* `pmqctl ARGS` must exit `want` and print `expect` (stdout and stderr). */
static void ctl_refuses(const char *config, int want, const char *expect, const char *args)
{
    int st;
    char *out = pmq_test_ctl(config, &st, "%s", args);
    ck_assert_msg(st == want, "pmqctl %s exited %d, expected %d:\n%s", args, st, want, out);
    ck_assert_msg(strstr(out, expect) != NULL, "pmqctl %s printed:\n%s\nexpected:\n%s", args, out,
                  expect);
    free(out);
}

START_TEST(enqueue_refuses_values_against_the_rules)
{
    char *config = pmq_test_behave_setup("rules", pool_ini);
    PGconn *pg = pmq_test_pg();
    ctl_refuses(config, 2, "pmqctl: priority must be between 0 and 1000\nDETAIL: Got \"-1\".\n",
                "enqueue t.ok '{}' --priority -1");
    ctl_refuses(config, 2, "pmqctl: priority must be between 0 and 1000\nDETAIL: Got \"1001\".\n",
                "enqueue t.ok '{}' --priority 1001");
    ctl_refuses(config, 2, "pmqctl: max_attempts must be between 1 and 1000\nDETAIL: Got \"0\".\n",
                "enqueue t.ok '{}' --max-attempts 0");
    ctl_refuses(config, 2, "pmqctl: max_attempts must be between 1 and 1000\n",
                "enqueue t.ok --max-attempts 1001 </dev/null");
    ctl_refuses(config, 2,
                "pmqctl: run_at must be a finite timestamp\nDETAIL: Got \"-infinity\".\n",
                "enqueue t.ok '{}' --run-at=-infinity");
    ctl_refuses(config, 2, "pmqctl: run_at must be a finite timestamp\n",
                "enqueue t.ok '{}' --run-at ' Infinity '");
    ctl_refuses(config, 2, "pmqctl: run_at must be a finite timestamp\n",
                "enqueue t.ok --run-at +infinity </dev/null");
    /* Was PostgreSQL's "interval out of range". */
    ctl_refuses(config, 2, "pmqctl: --delay must be at most 3650d\nDETAIL: Got \"100000000d\".\n",
                "enqueue t.ok '{}' --delay 100000000d");
    ctl_refuses(config, 2, "pmqctl: unique_key must be at most 2048 bytes\nDETAIL: Got 2049 bytes.\n",
                "enqueue t.ok '{}' --unique-key $(head -c 2049 /dev/zero | tr '\\0' k)");
    pmq_test_assert_sql(pg, "0", "SELECT count(*) FROM jobs");

    /* The bounds are accepted. */
    free(pmq_test_ctl(config, NULL, "enqueue t.ok '{}' --priority 0 --max-attempts 1000 --delay 3650d"));
    free(pmq_test_ctl(config, NULL, "enqueue t.ok '{}' --priority 1000 --max-attempts 1"
                                    " --unique-key $(head -c 2048 /dev/zero | tr '\\0' k)"));
    pmq_test_assert_sql(pg, "2", "SELECT count(*) FROM jobs");
    PQfinish(pg);
    free(config);
}
END_TEST

START_TEST(dlq_refuses_unknown_queues_and_huge_durations)
{
    char *config = pmq_test_behave_setup("dlq-rules", pool_ini);
    ctl_refuses(config, 1, "pmqctl: queue \"nope\" does not exist\n", "dlq list --queue nope");
    ctl_refuses(config, 1, "pmqctl: queue \"nope\" does not exist\n",
                "dlq replay --queue nope --all");
    ctl_refuses(config, 2, "pmqctl: --older-than must be at most 3650d\n",
                "dlq purge --older-than 100000000d");
    /* A known queue without dead letters is fine. */
    char *out = pmq_test_ctl(config, NULL, "dlq list --queue t.ok");
    ck_assert_msg(strstr(out, "(0 jobs)") != NULL, "dlq list printed:\n%s", out);
    free(out);
    out = pmq_test_ctl(config, NULL, "dlq replay --queue t.ok --all");
    ck_assert_msg(strstr(out, "replayed 0 jobs of queue \"t.ok\"") != NULL, "printed:\n%s", out);
    free(out);
    free(pmq_test_ctl(config, NULL, "dlq purge --older-than 3650d"));
    free(config);
}
END_TEST

static Suite *pmqctl_suite(void)
{
    Suite *s = suite_create("pmqctl");
    TCase *tc = pmq_test_case(s, "pmqctl", 180);
    tcase_add_test(tc, health_table_and_json);
    tcase_add_test(tc, stats_queues_pause_resume);
    tcase_add_test(tc, cancel_workers_job_show);
    tcase_add_test(tc, enqueue_refuses_values_against_the_rules);
    tcase_add_test(tc, dlq_refuses_unknown_queues_and_huge_durations);
    return s;
}

int main(void)
{
    return pmq_test_main(pmqctl_suite(), NULL);
}
