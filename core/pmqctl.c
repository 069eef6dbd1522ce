/*
 * pmqctl.c -- the operator's command line: one binary, a table of
 * subcommands, each reading the same INI files as pmqd (-c).  The work is
 * done by the modules (migrate, deadletter, ...); this file parses
 * arguments and prints.
 */
#include <getopt.h>
#include <json-c/json.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "db.h"
#include "deadletter.h"
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
    int (*run)(ctl *c, int argc, char **argv);
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

static int cmd_migrate(ctl *c, int argc, char **argv)
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

/* Enqueue the JSON lines of stdin, a thousand per statement. */
static int enqueue_stdin(ctl *c, PGconn *pg, const char *queue, const char *const opts[4])
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
            const char *params[6] = {queue,
                                     json_object_to_json_string_ext(batch, JSON_C_TO_STRING_PLAIN),
                                     opts[0], opts[1], opts[2], opts[3]};
            PGresult *res = PQexecParams(pg,
                                         "SELECT pmq_enqueue_many($1, $2::jsonb, $3::int,"
                                         " COALESCE($4::timestamptz, now() + $6::bigint"
                                         " * interval '1 millisecond'), $5::int)",
                                         6, NULL, params, NULL, NULL, 0);
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

static int cmd_enqueue(ctl *c, int argc, char **argv)
{
    static const struct option options[] = {
        {"priority", required_argument, NULL, 'p'}, {"delay", required_argument, NULL, 'd'},
        {"run-at", required_argument, NULL, 'r'},   {"max-attempts", required_argument, NULL, 'm'},
        {"unique-key", required_argument, NULL, 'u'}, {"tenant", required_argument, NULL, 't'},
        {NULL, 0, NULL, 0}};
    extern const command commands[];
    const command *self = &commands[1];
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
            if (pmq_parse_int(optarg, 0, 1000000, &v) < 0)
                return usage_error(self, "invalid priority \"%s\": a whole number is expected", optarg);
            priority = optarg;
            break;
        case 'm':
            if (pmq_parse_int(optarg, 1, 1000000, &v) < 0)
                return usage_error(self, "invalid --max-attempts \"%s\"", optarg);
            max_attempts = optarg;
            break;
        case 'd':
            if (pmq_parse_duration_ms(optarg, 1000, &ms) < 0)
                return usage_error(self, "invalid --delay \"%s\": use 500ms, 30s, 5m, 2h", optarg);
            snprintf(delay, sizeof delay, "%lld", (long long)ms);
            break;
        case 'r':
            run_at = optarg;
            break;
        case 'u':
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

    PGconn *pg = connect_pg(c);
    if (!pg)
        return fail(c);
    int rc = 0;
    if (!payload) {
        const char *opts[4] = {priority, run_at, max_attempts, delay};
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
        printf("%-36s  %-24s  %8s  %-29s  %s\n", "ID", "QUEUE", "ATTEMPTS", "FAILED AT", "ERROR");
        for (int i = 0; i < n; i++)
            printf("%-36s  %-24s  %8s  %-29s  %.60s\n", PQgetvalue(res, i, 0), PQgetvalue(res, i, 1),
                   PQgetvalue(res, i, 2), PQgetvalue(res, i, 3), PQgetvalue(res, i, 4));
        printf("(%d job%s)\n", n, n == 1 ? "" : "s");
    }
    PQclear(res);
    return 0;
}

static int cmd_dlq(ctl *c, int argc, char **argv)
{
    static const struct option options[] = {{"queue", required_argument, NULL, 'q'},
                                            {"all", no_argument, NULL, 'a'},
                                            {"older-than", required_argument, NULL, 'o'},
                                            {"limit", required_argument, NULL, 'l'},
                                            {"json", no_argument, NULL, 'j'},
                                            {NULL, 0, NULL, 0}};
    extern const command commands[];
    const command *self = &commands[2];
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
        int rc = pg ? dlq_list(c, pg, queue, (int)limit) : -1;
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
        rc = pmq_dlq_replay_queue(pg, r, queue, &c->errs);
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

/*--- dispatch ---*/

const command commands[] = {
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
        int rc = cmd->run(&c, argc - i, argv + i);
        pmq_config_free(c.cfg);
        pmq_errors_clear(&c.errs);
        return rc;
    }
    fprintf(stderr, "pmqctl: unknown command \"%s\"\n", argv[i]);
    usage(stderr);
    return 2;
}
