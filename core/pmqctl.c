/*
 * pmqctl.c -- the operator's command line: one binary, a table of
 * subcommands, each reading the same INI files as pmqd (-c).  The work is
 * done by the modules (migrate, deadletter, ...); this file parses
 * arguments and prints.
 */
#include <ctype.h>
#include <getopt.h>
#include <json-c/json.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "config.h"
#include "db.h"
#include "control.h"
#include "deadletter.h"
#include "health.h"
#include "keys.h"
#include "errors.h"
#include "migrate.h"
#include "plugin_loader.h"
#include "redis.h"
#include "util.h"

/* What every subcommand gets. */
typedef struct ctl {
    const char *config_path;
    pmq_config *cfg;
    pmq_errors errs;
    int json;
} ctl;

typedef struct command {
    const char *name;
    int (*run)(ctl *c, const struct command *self, int argc, char **argv);
    const char *usage;
    const char *summary;
} command;

static int fail(ctl *c)
{
    pmq_errors_print(&c->errs, stderr, "pmqctl");
    pmq_errors_clear(&c->errs);
    return 1;
}

static int usage_error(const command *cmd, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static int usage_error(const command *cmd, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "pmqctl: ");
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fprintf(stderr, "\nUsage: pmqctl %s\n", cmd->usage);
    return 2;
}

/*
 * An option's value that breaks its rule, worded as pmq_enqueue() words it
 * (core/config.h has the rules): `rule`, then what was given.  Exit 2.
 */
static int bad_option(ctl *c, const char *given, const char *rule, ...)
    __attribute__((format(printf, 3, 4)));

static int bad_option(ctl *c, const char *given, const char *rule, ...)
{
    va_list ap;
    va_start(ap, rule);
    char *msg = pmq_vasprintf(rule, ap);
    va_end(ap);
    pmq_error_detail(pmq_errors_add(&c->errs, "%s", msg), "Got \"%s\".", given);
    free(msg);
    fail(c);
    return 2;
}

/* PostgreSQL's spellings of an infinite timestamp ("-infinity", " Infinity "). */
static int infinite_timestamp(const char *s)
{
    while (isspace((unsigned char)*s))
        s++;
    if (*s == '+' || *s == '-')
        s++;
    size_t n = strlen("infinity");
    if (strncasecmp(s, "infinity", n) != 0)
        return 0;
    for (s += n; isspace((unsigned char)*s); s++)
        ;
    return *s == '\0';
}

/* Fails (queue "Q" does not exist) unless job_queues has `queue`. */
static int known_queue(ctl *c, PGconn *pg, const char *queue)
{
    const char *params[1] = {queue};
    PGresult *res = PQexecParams(pg, "SELECT 1 FROM job_queues WHERE name = $1", 1, NULL, params,
                                 NULL, NULL, 0);
    int rc = 0;
    if (PQresultStatus(res) != PGRES_TUPLES_OK) {
        pmq_db_error(&c->errs, pg, res, "could not look up queue \"%s\"", queue);
        rc = -1;
    } else if (PQntuples(res) == 0) {
        pmq_error *e = pmq_errors_add(&c->errs, "queue \"%s\" does not exist", queue);
        pmq_error_hint(e, "\"pmqctl queues\" lists the queues.");
        rc = -1;
    }
    PQclear(res);
    return rc;
}

static int load_config(ctl *c)
{
    if (c->cfg)
        return 0;
    c->cfg = pmq_config_load(c->config_path, &c->errs);
    return c->cfg ? 0 : -1;
}

static PGconn *connect_pg(ctl *c)
{
    if (load_config(c) < 0)
        return NULL;
    return pmq_db_connect(c->cfg, &c->errs);
}

/*--- migrate ---*/

static int cmd_migrate(ctl *c, const command *self, int argc, char **argv)
{
    (void)argc;
    (void)argv;
    PGconn *pg = connect_pg(c);
    if (!pg)
        return fail(c);
    /* Plugins carry their own migrations: load them (init only, no jobs). */
    pmq_registry *reg = pmq_registry_load(c->cfg, &c->errs);
    int plugin_errors = (int)c->errs.count;
    int applied = pmq_migrate(pg, reg, stdout, &c->errs);
    int rc = applied >= 0 && pmq_sync_queues(pg, c->cfg, reg, &c->errs) == 0 ? 0 : 1;
    if (rc == 0)
        printf("pmqctl: schema is up to date (%d migration%s applied)\n", applied,
               applied == 1 ? "" : "s");
    pmq_registry_free(reg);
    PQfinish(pg);
    if (rc || plugin_errors)
        return fail(c);
    return 0;
}

/*--- enqueue ---*/

static int print_ids(PGresult *res)
{
    for (int i = 0; i < PQntuples(res); i++)
        printf("%s\n", PQgetvalue(res, i, 0));
    return PQntuples(res);
}

/*
 * Enqueue the JSON lines of stdin, a thousand per statement; `opts` are
 * priority, run_at, max_attempts, delay (ms) and tenant, for every line.
 */
static int enqueue_stdin(ctl *c, PGconn *pg, const char *queue, const char *const opts[5])
{
    char *line = NULL;
    size_t cap = 0;
    ssize_t len;
    long lineno = 0, total = 0;
    json_object *batch = json_object_new_array();
    int rc = 0;
    for (;;) {
        len = getline(&line, &cap, stdin);
        if (len > 0) {
            lineno++;
            while (len > 0 && (line[len - 1] == '\n' || line[len - 1] == '\r'))
                line[--len] = '\0';
            if (len == 0)
                continue;
            json_object *o = json_tokener_parse(line);
            if (!o || !json_object_is_type(o, json_type_object)) {
                pmq_error *e = pmq_errors_add(&c->errs, "stdin:%ld: invalid job payload", lineno);
                pmq_error_detail(e, "Each line must be one JSON object.");
                json_object_put(o);
                rc = -1;
                break;
            }
            json_object_array_add(batch, o);
        }
        if (json_object_array_length(batch) >= 1000 || (len < 0 && json_object_array_length(batch))) {
            const char *params[7] = {queue,
                                     json_object_to_json_string_ext(batch, JSON_C_TO_STRING_PLAIN),
                                     opts[0], opts[1], opts[2], opts[3], opts[4]};
            PGresult *res = PQexecParams(pg,
                                         "SELECT pmq_enqueue_many($1, $2::jsonb, $3::int,"
                                         " COALESCE($4::timestamptz, now() + $6::bigint"
                                         " * interval '1 millisecond'), $5::int, $7)",
                                         7, NULL, params, NULL, NULL, 0);
            if (PQresultStatus(res) != PGRES_TUPLES_OK) {
                pmq_db_error(&c->errs, pg, res, "could not enqueue jobs on queue \"%s\"", queue);
                PQclear(res);
                rc = -1;
                break;
            }
            total += print_ids(res);
            PQclear(res);
            json_object_put(batch);
            batch = json_object_new_array();
        }
        if (len < 0)
            break;
    }
    json_object_put(batch);
    free(line);
    if (rc == 0)
        fprintf(stderr, "pmqctl: enqueued %ld job%s on \"%s\"\n", total, total == 1 ? "" : "s",
                queue);
    return rc;
}

static int cmd_enqueue(ctl *c, const command *self, int argc, char **argv)
{
    static const struct option options[] = {
        {"priority", required_argument, NULL, 'p'}, {"delay", required_argument, NULL, 'd'},
        {"run-at", required_argument, NULL, 'r'},   {"max-attempts", required_argument, NULL, 'm'},
        {"unique-key", required_argument, NULL, 'u'}, {"tenant", required_argument, NULL, 't'},
        {NULL, 0, NULL, 0}};
    const char *priority = NULL, *run_at = NULL, *max_attempts = NULL, *unique_key = NULL,
               *tenant = NULL;
    char delay[32] = "0";
    int o;
    optind = 1;
    while ((o = getopt_long(argc, argv, "p:d:r:m:u:t:", options, NULL)) != -1) {
        long v;
        int64_t ms;
        switch (o) {
        case 'p':
            if (pmq_parse_int(optarg, PMQ_PRIORITY_MIN, PMQ_PRIORITY_MAX, &v) < 0)
                return bad_option(c, optarg, "priority must be between %d and %d",
                                  PMQ_PRIORITY_MIN, PMQ_PRIORITY_MAX);
            priority = optarg;
            break;
        case 'm':
            if (pmq_parse_int(optarg, PMQ_MAX_ATTEMPTS_MIN, PMQ_MAX_ATTEMPTS_MAX, &v) < 0)
                return bad_option(c, optarg, "max_attempts must be between %d and %d",
                                  PMQ_MAX_ATTEMPTS_MIN, PMQ_MAX_ATTEMPTS_MAX);
            max_attempts = optarg;
            break;
        case 'd':
            if (pmq_parse_duration_ms(optarg, 1000, &ms) < 0)
                return usage_error(self, "invalid --delay \"%s\": use 500ms, 30s, 5m, 2h", optarg);
            if (ms > PMQ_DELAY_MAX_MS)
                return bad_option(c, optarg, "--delay must be at most %dd", PMQ_DELAY_MAX_DAYS);
            snprintf(delay, sizeof delay, "%lld", (long long)ms);
            break;
        case 'r':
            if (infinite_timestamp(optarg))
                return bad_option(c, optarg, "run_at must be a finite timestamp");
            run_at = optarg;
            break;
        case 'u':
            if (strlen(optarg) > PMQ_UNIQUE_KEY_MAX_BYTES) {
                pmq_error *e = pmq_errors_add(&c->errs, "unique_key must be at most %d bytes",
                                              PMQ_UNIQUE_KEY_MAX_BYTES);
                pmq_error_detail(e, "Got %zu bytes.", strlen(optarg));
                pmq_error_hint(e, "Use a digest of the long key, such as its SHA-256.");
                fail(c);
                return 2;
            }
            unique_key = optarg;
            break;
        case 't':
            tenant = optarg;
            break;
        default:
            fprintf(stderr, "Usage: pmqctl %s\n", self->usage);
            return 2;
        }
    }
    if (optind >= argc)
        return usage_error(self, "%s", "enqueue needs a queue name");
    const char *queue = argv[optind];
    const char *payload = optind + 1 < argc ? argv[optind + 1] : NULL;
    if (optind + 2 < argc)
        return usage_error(self, "unexpected argument \"%s\"", argv[optind + 2]);
    if (!payload && unique_key)
        return usage_error(self, "%s", "--unique-key names one job: give its JSON as an argument, "
                                       "not on standard input");

    PGconn *pg = connect_pg(c);
    if (!pg)
        return fail(c);
    int rc = 0;
    if (!payload) {
        const char *opts[5] = {priority, run_at, max_attempts, delay, tenant};
        rc = enqueue_stdin(c, pg, queue, opts) < 0;
    } else {
        const char *params[8] = {queue, payload, priority, run_at, max_attempts, unique_key, tenant,
                                 delay};
        PGresult *res = PQexecParams(pg,
                                     "SELECT pmq_enqueue($1, $2::jsonb, $3::int, COALESCE($4::timestamptz,"
                                     " now() + $8::bigint * interval '1 millisecond'), $5::int, $6, $7)",
                                     8, NULL, params, NULL, NULL, 0);
        if (PQresultStatus(res) != PGRES_TUPLES_OK) {
            pmq_db_error(&c->errs, pg, res, "could not enqueue a job on queue \"%s\"", queue);
            rc = 1;
        } else {
            print_ids(res);
        }
        PQclear(res);
    }
    PQfinish(pg);
    return rc ? fail(c) : 0;
}

/*--- dlq ---*/

static int dlq_list(ctl *c, PGconn *pg, const char *queue, int limit)
{
    PGresult *res = pmq_dlq_list(pg, queue, limit, &c->errs);
    if (!res)
        return -1;
    int n = PQntuples(res);
    if (c->json) {
        json_object *arr = json_object_new_array();
        for (int i = 0; i < n; i++) {
            json_object *o = json_object_new_object();
            json_object_object_add(o, "id", json_object_new_string(PQgetvalue(res, i, 0)));
            json_object_object_add(o, "queue_name", json_object_new_string(PQgetvalue(res, i, 1)));
            json_object_object_add(o, "attempt_count", json_object_new_int(atoi(PQgetvalue(res, i, 2))));
            json_object_object_add(o, "failed_at", PQgetisnull(res, i, 3) ? NULL
                                   : json_object_new_string(PQgetvalue(res, i, 3)));
            json_object_object_add(o, "error", PQgetisnull(res, i, 4) ? NULL
                                   : json_object_new_string(PQgetvalue(res, i, 4)));
            json_object_object_add(o, "payload", json_tokener_parse(PQgetvalue(res, i, 5)));
            json_object_array_add(arr, o);
        }
        printf("%s\n", json_object_to_json_string_ext(arr, JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_SPACED));
        json_object_put(arr);
    } else {
        printf("%-36s  %-24s  %8s  %-32s  %s\n", "ID", "QUEUE", "ATTEMPTS", "FAILED AT", "ERROR");
        for (int i = 0; i < n; i++)
            printf("%-36s  %-24s  %8s  %-32s  %.60s\n", PQgetvalue(res, i, 0), PQgetvalue(res, i, 1),
                   PQgetvalue(res, i, 2), PQgetvalue(res, i, 3), PQgetvalue(res, i, 4));
        printf("(%d job%s)\n", n, n == 1 ? "" : "s");
    }
    PQclear(res);
    return 0;
}

static int cmd_dlq(ctl *c, const command *self, int argc, char **argv)
{
    static const struct option options[] = {{"queue", required_argument, NULL, 'q'},
                                            {"all", no_argument, NULL, 'a'},
                                            {"older-than", required_argument, NULL, 'o'},
                                            {"limit", required_argument, NULL, 'l'},
                                            {"json", no_argument, NULL, 'j'},
                                            {NULL, 0, NULL, 0}};
    if (argc < 2)
        return usage_error(self, "%s", "dlq needs an action: list, replay or purge");
    const char *action = argv[1];
    const char *queue = NULL, *older = NULL;
    int all = 0;
    long limit = 100;
    int o;
    optind = 2;
    while ((o = getopt_long(argc, argv, "q:ao:l:j", options, NULL)) != -1) {
        switch (o) {
        case 'q':
            queue = optarg;
            break;
        case 'a':
            all = 1;
            break;
        case 'o':
            older = optarg;
            break;
        case 'l':
            if (pmq_parse_int(optarg, 1, 1000000, &limit) < 0)
                return usage_error(self, "invalid --limit \"%s\"", optarg);
            break;
        case 'j':
            c->json = 1;
            break;
        default:
            fprintf(stderr, "Usage: pmqctl %s\n", self->usage);
            return 2;
        }
    }
    const char *id = optind < argc ? argv[optind] : NULL;

    if (!strcmp(action, "list")) {
        PGconn *pg = connect_pg(c);
        int rc = pg && (!queue || known_queue(c, pg, queue) == 0) ? dlq_list(c, pg, queue, (int)limit)
                                                                  : -1;
        PQfinish(pg);
        return rc < 0 ? fail(c) : 0;
    }
    int64_t older_ms = 0;
    if (!strcmp(action, "replay")) {
        if (!id && !(queue && all))
            return usage_error(self, "%s", "dlq replay needs a job id, or --queue Q --all");
    } else if (!strcmp(action, "purge")) {
        if (!older || pmq_parse_duration_ms(older, 1000, &older_ms) < 0)
            return usage_error(self, "dlq purge needs --older-than DURATION (e.g. 7d, 12h)%s", "");
        if (older_ms > PMQ_DELAY_MAX_MS)
            return bad_option(c, older, "--older-than must be at most %dd", PMQ_DELAY_MAX_DAYS);
    } else {
        return usage_error(self, "unknown dlq action \"%s\"", action);
    }

    PGconn *pg = connect_pg(c);
    pmq_redis *r = pg ? pmq_redis_connect(c->cfg, &c->errs) : NULL;
    int rc = -1;
    if (r && !strcmp(action, "replay") && id) {
        rc = pmq_dlq_replay(pg, r, id, &c->errs);
        if (rc == 0) {
            pmq_error *e = pmq_errors_add(&c->errs, "job \"%s\" is not in the dead letter", id);
            pmq_error_hint(e, "\"pmqctl dlq list\" shows the dead-lettered jobs.");
            rc = -1;
        } else if (rc > 0) {
            printf("replayed %s\n", id);
        }
    } else if (r && !strcmp(action, "replay")) {
        rc = known_queue(c, pg, queue) < 0 ? -1 : pmq_dlq_replay_queue(pg, r, queue, &c->errs);
        if (rc >= 0)
            printf("replayed %d job%s of queue \"%s\"\n", rc, rc == 1 ? "" : "s", queue);
    } else if (r) {
        rc = pmq_dlq_purge(pg, r, older_ms, &c->errs);
        if (rc >= 0)
            printf("purged %d dead-lettered job%s\n", rc, rc == 1 ? "" : "s");
    }
    pmq_redis_free(r);
    PQfinish(pg);
    return rc < 0 ? fail(c) : 0;
}

/*--- health, stats, queues, workers, job show ---*/

static void print_json(json_object *o)
{
    printf("%s\n", json_object_to_json_string_ext(o, JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_SPACED));
}

/* Parse the shared read options (--json) of the commands without others. */
static int read_options(ctl *c, const command *self, int argc, char **argv, int max_args)
{
    int nargs = 0;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--json"))
            c->json = 1;
        else if (argv[i][0] == '-')
            return usage_error(self, "unknown option \"%s\"", argv[i]);
        else if (++nargs > max_args)
            return usage_error(self, "unexpected argument \"%s\"", argv[i]);
    }
    return 0;
}

static const char *first_arg(int argc, char **argv)
{
    for (int i = 1; i < argc; i++)
        if (argv[i][0] != '-')
            return argv[i];
    return NULL;
}

static int cmd_health(ctl *c, const command *self, int argc, char **argv)
{
    if (read_options(c, self, argc, argv, 0))
        return 2;
    if (load_config(c) < 0)
        return fail(c);
    pmq_health_level level;
    json_object *h = pmq_health_report(c->cfg, &level);
    if (c->json) {
        print_json(h);
    } else {
        json_object *redis = json_object_object_get(h, "redis");
        json_object *pg = json_object_object_get(h, "postgres");
        json_object *workers = json_object_object_get(h, "workers");
        printf("status      %s\n", json_object_get_string(json_object_object_get(h, "status")));
        printf("timestamp   %s\n", json_object_get_string(json_object_object_get(h, "timestamp")));
        printf("redis       %s", json_object_get_string(json_object_object_get(redis, "status")));
        json_object *v;
        if (json_object_object_get_ex(redis, "error", &v))
            printf(" (%s)", json_object_get_string(v));
        else
            printf(" (memory %s, %d clients)",
                   json_object_get_string(json_object_object_get(redis, "memory_used")),
                   json_object_get_int(json_object_object_get(redis, "connected_clients")));
        printf("\npostgres    %s", json_object_get_string(json_object_object_get(pg, "status")));
        if (json_object_object_get_ex(pg, "error", &v))
            printf(" (%s)", json_object_get_string(v));
        printf("\nworkers     %d active\n",
               json_object_get_int(json_object_object_get(workers, "active_workers")));
        printf("\n%-40s %10s\n", "QUEUE", "DEPTH");
        json_object_object_foreach(json_object_object_get(h, "queues"), key, val)
            printf("%-40s %10s\n", key, json_object_get_string(val));
        printf("\n%-40s %10s\n", "JOBS", "COUNT");
        json_object_object_foreach(json_object_object_get(h, "jobs"), skey, sval)
            printf("%-40s %10s\n", skey, json_object_get_string(sval));
    }
    json_object_put(h);
    return (int)level;
}

/* Per queue: Redis depth per band, PostgreSQL counts per status, rate, oldest waiting. */
static int cmd_stats(ctl *c, const command *self, int argc, char **argv)
{
    if (read_options(c, self, argc, argv, 1))
        return 2;
    const char *only = first_arg(argc, argv);
    PGconn *pg = connect_pg(c);
    pmq_redis *r = pg ? pmq_redis_connect(c->cfg, &c->errs) : NULL;
    if (!r) {
        PQfinish(pg);
        return fail(c);
    }
    const char *params[1] = {only};
    PGresult *res = PQexecParams(
        pg,
        "SELECT q.name, q.is_paused,"
        " count(*) FILTER (WHERE j.status = 'queued'),"
        " count(*) FILTER (WHERE j.status = 'migrated'),"
        " count(*) FILTER (WHERE j.status = 'running'),"
        " count(*) FILTER (WHERE j.status = 'completed'),"
        " count(*) FILTER (WHERE j.status = 'failed'),"
        " count(*) FILTER (WHERE j.status = 'cancelled'),"
        " round(count(*) FILTER (WHERE j.status IN ('completed', 'failed')"
        "   AND j.updated_at > now() - interval '1 minute') / 60.0, 2),"
        " COALESCE(extract(epoch FROM now() - min(j.run_at) FILTER (WHERE j.status IN"
        "   ('queued', 'migrated') AND j.run_at <= now())), 0)::numeric(12,3)"
        " FROM job_queues q LEFT JOIN jobs j ON j.queue_name = q.name"
        " WHERE $1::text IS NULL OR q.name = $1 GROUP BY q.name, q.is_paused ORDER BY q.name",
        1, NULL, params, NULL, NULL, 0);
    if (PQresultStatus(res) != PGRES_TUPLES_OK) {
        pmq_db_error(&c->errs, pg, res, "could not read queue statistics");
        PQclear(res);
        pmq_redis_free(r);
        PQfinish(pg);
        return fail(c);
    }
    if (only && PQntuples(res) == 0) {
        pmq_errors_add(&c->errs, "queue \"%s\" does not exist", only);
        PQclear(res);
        pmq_redis_free(r);
        PQfinish(pg);
        return fail(c);
    }
    static const char *const statuses[] = {"queued", "migrated", "running", "completed", "failed", "cancelled"};
    json_object *all = json_object_new_array();
    if (!c->json)
        printf("%-24s %6s %6s %6s %8s %8s %8s %10s %8s %8s %9s %9s\n", "QUEUE", "HIGH", "NORMAL",
               "LOW", "QUEUED", "MIGRATED", "RUNNING", "COMPLETED", "FAILED", "CANCELED", "JOBS/S",
               "OLDEST(S)");
    for (int i = 0; i < PQntuples(res); i++) {
        const char *name = PQgetvalue(res, i, 0);
        long depth[PMQ_NBANDS];
        char key[PMQ_KEY_MAX];
        for (int b = 0; b < PMQ_NBANDS; b++) {
            redisReply *rep = pmq_redis_command(r, "LLEN %s", pmq_key_queue(key, r->prefix, name, b));
            depth[b] = rep && rep->type == REDIS_REPLY_INTEGER ? (long)rep->integer : -1;
            if (rep)
                freeReplyObject(rep);
        }
        if (c->json) {
            json_object *q = json_object_new_object();
            json_object_object_add(q, "queue", json_object_new_string(name));
            json_object_object_add(q, "paused", json_object_new_boolean(PQgetvalue(res, i, 1)[0] == 't'));
            json_object *d = json_object_new_object();
            for (int b = 0; b < PMQ_NBANDS; b++)
                json_object_object_add(d, pmq_band_name(b), json_object_new_int64(depth[b]));
            json_object_object_add(q, "redis_depth", d);
            json_object *st = json_object_new_object();
            for (int k = 0; k < 6; k++)
                json_object_object_add(st, statuses[k], json_object_new_int64(atol(PQgetvalue(res, i, 2 + k))));
            json_object_object_add(q, "jobs", st);
            json_object_object_add(q, "jobs_per_second", json_object_new_double(atof(PQgetvalue(res, i, 8))));
            json_object_object_add(q, "oldest_waiting_seconds", json_object_new_double(atof(PQgetvalue(res, i, 9))));
            json_object_array_add(all, q);
        } else {
            char label[64];
            snprintf(label, sizeof label, "%s%s", name, PQgetvalue(res, i, 1)[0] == 't' ? " (paused)" : "");
            printf("%-24s %6ld %6ld %6ld %8s %8s %8s %10s %8s %8s %9s %9s\n", label, depth[0],
                   depth[1], depth[2], PQgetvalue(res, i, 2), PQgetvalue(res, i, 3),
                   PQgetvalue(res, i, 4), PQgetvalue(res, i, 5), PQgetvalue(res, i, 6),
                   PQgetvalue(res, i, 7), PQgetvalue(res, i, 8), PQgetvalue(res, i, 9));
        }
    }
    if (c->json)
        print_json(all);
    json_object_put(all);
    PQclear(res);
    pmq_redis_free(r);
    PQfinish(pg);
    return 0;
}

static int cmd_queues(ctl *c, const command *self, int argc, char **argv)
{
    if (read_options(c, self, argc, argv, 0))
        return 2;
    PGconn *pg = connect_pg(c);
    if (!pg)
        return fail(c);
    PGresult *res = PQexec(pg, "SELECT name, default_priority, max_attempts, max_payload_bytes,"
                               " is_active, is_paused FROM job_queues ORDER BY name");
    if (PQresultStatus(res) != PGRES_TUPLES_OK) {
        pmq_db_error(&c->errs, pg, res, "could not list queues");
        PQclear(res);
        PQfinish(pg);
        return fail(c);
    }
    json_object *all = json_object_new_array();
    if (!c->json)
        printf("%-32s %8s %12s %12s %7s %7s\n", "QUEUE", "PRIORITY", "MAX_ATTEMPTS", "MAX_PAYLOAD",
               "ACTIVE", "PAUSED");
    for (int i = 0; i < PQntuples(res); i++) {
        int active = PQgetvalue(res, i, 4)[0] == 't', paused = PQgetvalue(res, i, 5)[0] == 't';
        if (c->json) {
            json_object *q = json_object_new_object();
            json_object_object_add(q, "name", json_object_new_string(PQgetvalue(res, i, 0)));
            json_object_object_add(q, "default_priority", json_object_new_int(atoi(PQgetvalue(res, i, 1))));
            json_object_object_add(q, "max_attempts", json_object_new_int(atoi(PQgetvalue(res, i, 2))));
            json_object_object_add(q, "max_payload_bytes", json_object_new_int(atoi(PQgetvalue(res, i, 3))));
            json_object_object_add(q, "active", json_object_new_boolean(active));
            json_object_object_add(q, "paused", json_object_new_boolean(paused));
            json_object_array_add(all, q);
        } else {
            printf("%-32s %8s %12s %12s %7s %7s\n", PQgetvalue(res, i, 0), PQgetvalue(res, i, 1),
                   PQgetvalue(res, i, 2), PQgetvalue(res, i, 3), active ? "yes" : "no",
                   paused ? "yes" : "no");
        }
    }
    if (c->json)
        print_json(all);
    json_object_put(all);
    PQclear(res);
    PQfinish(pg);
    return 0;
}

static int pause_or_resume(ctl *c, const command *self, int argc, char **argv, int paused)
{
    if (read_options(c, self, argc, argv, 1))
        return 2;
    const char *queue = first_arg(argc, argv);
    if (!queue)
        return usage_error(self, "%s needs a queue name", self->name);
    PGconn *pg = connect_pg(c);
    pmq_redis *r = pg ? pmq_redis_connect(c->cfg, &c->errs) : NULL;
    int rc = r ? pmq_queue_set_paused(pg, r, queue, paused, &c->errs) : -1;
    if (rc == 0)
        printf("queue \"%s\" %s\n", queue, paused ? "paused" : "resumed");
    pmq_redis_free(r);
    PQfinish(pg);
    return rc < 0 ? fail(c) : 0;
}

static int cmd_pause(ctl *c, const command *self, int argc, char **argv)
{
    return pause_or_resume(c, self, argc, argv, 1);
}

static int cmd_resume(ctl *c, const command *self, int argc, char **argv)
{
    return pause_or_resume(c, self, argc, argv, 0);
}

static int cmd_cancel(ctl *c, const command *self, int argc, char **argv)
{
    if (read_options(c, self, argc, argv, 1))
        return 2;
    const char *id = first_arg(argc, argv);
    if (!id)
        return usage_error(self, "%s", "cancel needs a job id");
    PGconn *pg = connect_pg(c);
    pmq_redis *r = pg ? pmq_redis_connect(c->cfg, &c->errs) : NULL;
    char was[16] = "";
    int rc = r ? pmq_job_cancel(pg, r, id, was, &c->errs) : -1;
    if (rc > 0) {
        printf("cancelled %s (it was %s)\n", id, was);
    } else if (rc == 0) {
        pmq_errors_add(&c->errs, "job \"%s\" has already ended (%s)", id, was);
        rc = -1;
    }
    pmq_redis_free(r);
    PQfinish(pg);
    return rc < 0 ? fail(c) : 0;
}

/* "a,b,c" as a JSON array of strings. */
static json_object *comma_list(const char *s)
{
    json_object *arr = json_object_new_array();
    char *copy = pmq_xstrdup(s), *save = NULL;
    for (char *t = strtok_r(copy, ",", &save); t; t = strtok_r(NULL, ",", &save))
        json_object_array_add(arr, json_object_new_string(t));
    free(copy);
    return arr;
}

static int cmd_workers(ctl *c, const command *self, int argc, char **argv)
{
    if (read_options(c, self, argc, argv, 0))
        return 2;
    if (load_config(c) < 0)
        return fail(c);
    pmq_redis *r = pmq_redis_connect(c->cfg, &c->errs);
    if (!r)
        return fail(c);
    redisReply *m = pmq_heartbeat_members(r);
    json_object *all = json_object_new_array();
    if (!c->json)
        printf("%-40s %-16s %7s %-24s %-20s %s\n", "WORKER", "HOST", "PID", "QUEUES", "SINCE", "CURRENT JOBS");
    for (size_t i = 0; m && m->type == REDIS_REPLY_ARRAY && i < m->elements; i++) {
        const char *id = m->element[i]->str;
        pmq_heartbeat hb;
        if (pmq_heartbeat_read(r, id, &hb) <= 0)
            continue; /* heartbeat expired: not alive */
        time_t since = (time_t)(hb.started_at_ms / 1000);
        struct tm tm;
        char when[32];
        gmtime_r(&since, &tm);
        strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%SZ", &tm);
        if (c->json) {
            json_object *o = json_object_new_object();
            json_object_object_add(o, "id", json_object_new_string(id));
            json_object_object_add(o, "host", json_object_new_string(hb.host));
            json_object_object_add(o, "pid", json_object_new_int(hb.pid));
            json_object_object_add(o, "pool", json_object_new_string(hb.pool));
            json_object_object_add(o, "queues", comma_list(hb.queues));
            json_object_object_add(o, "since", json_object_new_string(when));
            json_object_object_add(o, "current_jobs", comma_list(hb.current));
            json_object_array_add(all, o);
        } else {
            printf("%-40s %-16s %7d %-24s %-20s %s\n", id, hb.host, hb.pid, hb.queues, when,
                   hb.current[0] ? hb.current : "-");
        }
        pmq_heartbeat_clear(&hb);
    }
    if (m)
        freeReplyObject(m);
    if (c->json)
        print_json(all);
    json_object_put(all);
    pmq_redis_free(r);
    return 0;
}

static int cmd_job(ctl *c, const command *self, int argc, char **argv)
{
    if (read_options(c, self, argc, argv, 2))
        return 2;
    const char *action = first_arg(argc, argv);
    const char *id = NULL;
    for (int i = 1, seen = 0; i < argc; i++)
        if (argv[i][0] != '-' && seen++ == 1)
            id = argv[i];
    if (!action || strcmp(action, "show") != 0 || !id)
        return usage_error(self, "%s", "usage: job show ID");
    PGconn *pg = connect_pg(c);
    pmq_redis *r = pg ? pmq_redis_connect(c->cfg, &c->errs) : NULL;
    if (!r) {
        PQfinish(pg);
        return fail(c);
    }
    const char *params[1] = {id};
    PGresult *job = PQexecParams(pg,
                                 "SELECT to_json(j)::text FROM jobs j WHERE id = $1::uuid",
                                 1, NULL, params, NULL, NULL, 0);
    if (PQresultStatus(job) != PGRES_TUPLES_OK || PQntuples(job) == 0) {
        if (PQresultStatus(job) != PGRES_TUPLES_OK)
            pmq_db_error(&c->errs, pg, job, "could not read job \"%s\"", id);
        else
            pmq_errors_add(&c->errs, "job \"%s\" does not exist", id);
        PQclear(job);
        pmq_redis_free(r);
        PQfinish(pg);
        return fail(c);
    }
    PGresult *logs = PQexecParams(pg,
                                  "SELECT COALESCE(json_agg(json_build_object('attempt_number', attempt_number,"
                                  " 'status', status, 'message', log_message, 'worker_id', worker_id,"
                                  " 'started_at', started_at, 'finished_at', finished_at,"
                                  " 'duration_ms', round(extract(epoch FROM duration) * 1000, 3))"
                                  " ORDER BY created_at, attempt_number), '[]')::text"
                                  " FROM job_logs WHERE job_id = $1::uuid",
                                  1, NULL, params, NULL, NULL, 0);
    char key[PMQ_KEY_MAX];
    redisReply *h = pmq_redis_command(r, "HGETALL %s", pmq_key_job(key, r->prefix, id));
    json_object *out = json_object_new_object();
    json_object_object_add(out, "job", json_tokener_parse(PQgetvalue(job, 0, 0)));
    json_object *redis = json_object_new_object();
    for (size_t i = 0; h && h->type == REDIS_REPLY_ARRAY && i + 1 < h->elements; i += 2)
        json_object_object_add(redis, h->element[i]->str, json_object_new_string(h->element[i + 1]->str));
    json_object_object_add(out, "redis", redis);
    json_object_object_add(out, "logs", PQresultStatus(logs) == PGRES_TUPLES_OK
                                            ? json_tokener_parse(PQgetvalue(logs, 0, 0)) : json_object_new_array());
    if (c->json) {
        print_json(out);
    } else {
        json_object *j = json_object_object_get(out, "job");
        json_object_object_foreach(j, k, v)
            printf("%-20s %s\n", k, v ? json_object_get_string(v) : "");
        printf("\nredis %s\n", pmq_key_job(key, "", id));
        if (json_object_object_length(redis) == 0)
            printf("  (no hash)\n");
        json_object_object_foreach(redis, rk, rv)
            printf("  %-18s %s\n", rk, json_object_get_string(rv));
        printf("\n%-8s %-10s %-30s %10s  %s\n", "ATTEMPT", "STATUS", "FINISHED AT", "MS", "MESSAGE");
        json_object *l = json_object_object_get(out, "logs");
        for (size_t i = 0; i < json_object_array_length(l); i++) {
            json_object *e = json_object_array_get_idx(l, i);
            json_object *msg = json_object_object_get(e, "message");
            printf("%-8s %-10s %-30s %10s  %s\n", json_object_get_string(json_object_object_get(e, "attempt_number")),
                   json_object_get_string(json_object_object_get(e, "status")),
                   json_object_get_string(json_object_object_get(e, "finished_at")),
                   json_object_get_string(json_object_object_get(e, "duration_ms")),
                   msg ? json_object_get_string(msg) : "");
        }
    }
    json_object_put(out);
    if (h)
        freeReplyObject(h);
    PQclear(logs);
    PQclear(job);
    pmq_redis_free(r);
    PQfinish(pg);
    return 0;
}

/*--- dispatch ---*/

static const command commands[] = {
    {"migrate", cmd_migrate, "[-c FILE] migrate",
     "apply pending schema migrations (core and plugins) and declare the configured queues"},
    {"enqueue", cmd_enqueue,
     "[-c FILE] enqueue QUEUE [JSON] [--priority N] [--delay DURATION | --run-at TIMESTAMP]\n"
     "              [--max-attempts N] [--unique-key KEY] [--tenant ID]",
     "enqueue one job, or one per JSON line of standard input; prints the job ids"},
    {"dlq", cmd_dlq,
     "[-c FILE] dlq list [--queue Q] [--limit N] [--json]\n"
     "       pmqctl dlq replay ID | dlq replay --queue Q --all\n"
     "       pmqctl dlq purge --older-than DURATION",
     "list, replay or purge dead-lettered jobs"},
    {"health", cmd_health, "[-c FILE] health [--json]",
     "Redis, PostgreSQL, queue depths, workers and job counts; exit 0 healthy, 1 degraded, 2 down"},
    {"stats", cmd_stats, "[-c FILE] stats [QUEUE] [--json]",
     "per queue: Redis depth per band, jobs per status, jobs/s over the last minute, oldest wait"},
    {"queues", cmd_queues, "[-c FILE] queues [--json]", "list the queues and their settings"},
    {"pause", cmd_pause, "[-c FILE] pause QUEUE",
     "stop migrating and claiming a queue's jobs (enqueue still works)"},
    {"resume", cmd_resume, "[-c FILE] resume QUEUE", "undo pause"},
    {"cancel", cmd_cancel, "[-c FILE] cancel ID",
     "cancel a job: a waiting one never runs, a running one is told (pmq_cancelled)"},
    {"workers", cmd_workers, "[-c FILE] workers [--json]",
     "live workers from their heartbeats: host, pid, queues, since, current jobs"},
    {"job", cmd_job, "[-c FILE] job show ID [--json]",
     "a job's row, its Redis state and every attempt in job_logs"},
    {NULL, NULL, NULL, NULL}};

static void usage(FILE *out)
{
    fprintf(out, "Usage: pmqctl [-c FILE] COMMAND [ARGS]\n\nCommands:\n");
    for (const command *cmd = commands; cmd->name; cmd++)
        fprintf(out, "  %-10s %s\n", cmd->name, cmd->summary);
    fprintf(out, "\n  -c, --config FILE  pmqd's configuration (default %s/pmqd.ini)\n"
                 "  pmqctl COMMAND --help shows a command's usage.\n",
            PMQ_CONF_DIR);
}

int main(int argc, char **argv)
{
    ctl c = {PMQ_CONF_DIR "/pmqd.ini", NULL, PMQ_ERRORS_INIT, 0};
    int i = 1;
    for (; i < argc && argv[i][0] == '-'; i++) {
        if ((!strcmp(argv[i], "-c") || !strcmp(argv[i], "--config")) && i + 1 < argc) {
            c.config_path = argv[++i];
        } else if (!strncmp(argv[i], "--config=", 9)) {
            c.config_path = argv[i] + 9;
        } else if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
            usage(stdout);
            return 0;
        } else if (!strcmp(argv[i], "-V") || !strcmp(argv[i], "--version")) {
            printf("pmqctl %s\n", PMQ_VERSION);
            return 0;
        } else {
            fprintf(stderr, "pmqctl: unknown option \"%s\"\n", argv[i]);
            usage(stderr);
            return 2;
        }
    }
    if (i >= argc) {
        usage(stderr);
        return 2;
    }
    for (const command *cmd = commands; cmd->name; cmd++) {
        if (strcmp(cmd->name, argv[i]) != 0)
            continue;
        for (int k = i + 1; k < argc; k++)
            if (!strcmp(argv[k], "--help") || !strcmp(argv[k], "-h")) {
                printf("Usage: pmqctl %s\n\n%s\n", cmd->usage, cmd->summary);
                return 0;
            }
        int rc = cmd->run(&c, cmd, argc - i, argv + i);
        pmq_config_free(c.cfg);
        pmq_errors_clear(&c.errs);
        return rc;
    }
    fprintf(stderr, "pmqctl: unknown command \"%s\"\n", argv[i]);
    usage(stderr);
    return 2;
}
