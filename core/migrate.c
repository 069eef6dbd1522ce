/*
 * migrate.c -- applies the core's compiled-in migrations and the plugins'
 * ones once each, in version order, under an advisory lock; and declares
 * the configured and served queues in job_queues.
 */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libpq-fe.h>

#include "config.h"
#include "db.h"
#include "errors.h"
#include "migrate.h"
#include "plugin_loader.h"
#include "util.h"

/*
 * The session-level advisory lock that serialises migrations across hosts:
 * "pmqmigr" in ASCII.  Other pmq locks must use other keys.
 */
#define MIGRATE_LOCK_KEY "31645531325949810"

/* One migration to consider, core or plugin. */
typedef struct step {
    const char *component;
    int version;
    const char *name;
    const char *sql;
    size_t order; /* component's first appearance, to keep plugins apart */
} step;

/* (component, version) pairs already recorded in pmq_migrations. */
typedef struct applied_set {
    char **component;
    int *version;
    size_t n;
} applied_set;

/*--- small helpers ---*/

/* Run `sql`; 0 when it returned `want`, else -1 after reporting. */
static int exec_expect(PGconn *conn, const char *sql, ExecStatusType want, pmq_errors *errs,
                       const char *what)
{
    PGresult *res = PQexec(conn, sql);
    int rc = 0;
    if (PQresultStatus(res) != want) {
        pmq_db_error(errs, conn, res, "%s", what);
        rc = -1;
    }
    PQclear(res);
    return rc;
}

/* Leave a failed transaction so the connection stays usable. */
static void rollback_if_needed(PGconn *conn)
{
    PGTransactionStatusType ts = PQtransactionStatus(conn);
    if (ts == PQTRANS_INTRANS || ts == PQTRANS_INERROR)
        PQclear(PQexec(conn, "ROLLBACK"));
}

static int applied_has(const applied_set *set, const char *component, int version)
{
    for (size_t i = 0; i < set->n; i++)
        if (set->version[i] == version && strcmp(set->component[i], component) == 0)
            return 1;
    return 0;
}

static void applied_free(applied_set *set)
{
    for (size_t i = 0; i < set->n; i++)
        free(set->component[i]);
    free(set->component);
    free(set->version);
    set->component = NULL;
    set->version = NULL;
    set->n = 0;
}

static int load_applied(PGconn *conn, applied_set *set, pmq_errors *errs)
{
    PGresult *res = PQexec(conn, "SELECT component, version FROM pmq_migrations");
    if (pmq_db_check(conn, res, PGRES_TUPLES_OK, errs, "could not read pmq_migrations") < 0)
        return -1;
    int n = PQntuples(res);
    set->component = pmq_xcalloc((size_t)n, sizeof *set->component);
    set->version = pmq_xcalloc((size_t)n, sizeof *set->version);
    for (int i = 0; i < n; i++) {
        set->component[i] = pmq_xstrdup(PQgetvalue(res, i, 0));
        set->version[i] = atoi(PQgetvalue(res, i, 1));
    }
    set->n = (size_t)n;
    PQclear(res);
    return 0;
}

static int step_cmp(const void *a, const void *b)
{
    const step *x = a, *y = b;
    if (x->order != y->order)
        return x->order < y->order ? -1 : 1;
    return (x->version > y->version) - (x->version < y->version);
}

/*--- migrations ---*/

/* Apply one migration and record it, in one transaction. */
static int apply_step(PGconn *conn, const step *s, pmq_errors *errs)
{
    char version[16];
    snprintf(version, sizeof version, "%d", s->version);
    /* Migrations are DDL: their NOTICEs ("... does not exist, skipping")
     * are noise to whoever runs `pmqctl migrate`. */
    if (exec_expect(conn, "BEGIN; SET LOCAL client_min_messages = warning", PGRES_COMMAND_OK, errs,
                    "could not start a transaction") < 0) {
        rollback_if_needed(conn);
        return -1;
    }
    PGresult *res = PQexec(conn, s->sql);
    ExecStatusType st = PQresultStatus(res);
    if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK && st != PGRES_EMPTY_QUERY) {
        pmq_db_error(errs, conn, res, "could not apply migration %s %03d \"%s\"", s->component,
                     s->version, s->name);
        PQclear(res);
        rollback_if_needed(conn);
        return -1;
    }
    PQclear(res);
    if (PQtransactionStatus(conn) != PQTRANS_INTRANS) {
        pmq_errors_add(errs, "could not apply migration %s %03d \"%s\": it ended its transaction",
                       s->component, s->version, s->name);
        rollback_if_needed(conn);
        return -1;
    }
    const char *params[] = {s->component, version, s->name};
    res = PQexecParams(conn,
                       "INSERT INTO pmq_migrations (component, version, name) VALUES ($1, $2, $3)",
                       3, NULL, params, NULL, NULL, 0);
    if (pmq_db_check(conn, res, PGRES_COMMAND_OK, errs, "could not record migration %s %03d \"%s\"",
                     s->component, s->version, s->name) < 0) {
        rollback_if_needed(conn);
        return -1;
    }
    PQclear(res);
    res = PQexec(conn, "COMMIT");
    if (pmq_db_check(conn, res, PGRES_COMMAND_OK, errs, "could not commit migration %s %03d \"%s\"",
                     s->component, s->version, s->name) < 0) {
        rollback_if_needed(conn);
        return -1;
    }
    PQclear(res);
    return 0;
}

/* Every migration there is: the core's, then each plugin's, in order. */
static step *collect_steps(const pmq_registry *reg, size_t *count, pmq_errors *errs)
{
    size_t ncore = 0;
    while (pmq_core_sql[ncore].sql)
        ncore++;
    size_t nplug = reg ? pmq_registry_migration_count(reg) : 0;
    step *steps = pmq_xcalloc(ncore + nplug, sizeof *steps);
    size_t n = 0;
    for (size_t i = 0; i < ncore; i++, n++)
        steps[n] = (step){"core", pmq_core_sql[i].version, pmq_core_sql[i].name,
                          pmq_core_sql[i].sql, 0};
    for (size_t i = 0; i < nplug; i++, n++) {
        const pmq_plugin_migration *m = pmq_registry_migration_at(reg, i);
        size_t order = n + 1;
        for (size_t j = 0; j < n; j++)
            if (strcmp(steps[j].component, m->component) == 0) {
                order = steps[j].order;
                break;
            }
        steps[n] = (step){m->component, m->version, m->name, m->sql, order};
    }
    qsort(steps, n, sizeof *steps, step_cmp);
    for (size_t i = 1; i < n; i++)
        if (steps[i].order == steps[i - 1].order && steps[i].version == steps[i - 1].version) {
            pmq_error *err = pmq_errors_add(errs, "%s declares migration %03d twice (\"%s\" and \"%s\")",
                                            steps[i].component, steps[i].version,
                                            steps[i - 1].name, steps[i].name);
            pmq_error_hint(err, "Give each migration of a component its own version number.");
            free(steps);
            return NULL;
        }
    *count = n;
    return steps;
}

int pmq_migrate(PGconn *conn, const pmq_registry *reg, FILE *report, pmq_errors *errs)
{
    size_t nsteps = 0;
    step *steps = collect_steps(reg, &nsteps, errs);
    if (!steps)
        return -1;

    const char *key[] = {MIGRATE_LOCK_KEY};
    PGresult *res = PQexecParams(conn, "SELECT pg_advisory_lock($1::bigint)", 1, NULL, key, NULL,
                                 NULL, 0);
    if (pmq_db_check(conn, res, PGRES_TUPLES_OK, errs, "could not take the migration lock") < 0) {
        free(steps);
        return -1;
    }
    PQclear(res);

    int applied = 0;
    applied_set done = {NULL, NULL, 0};
    /* Only under the lock: two concurrent CREATE TABLE IF NOT EXISTS race. */
    if (exec_expect(conn,
                    "BEGIN; SET LOCAL client_min_messages = warning;"
                    " CREATE TABLE IF NOT EXISTS pmq_migrations ("
                    " component text NOT NULL, version integer NOT NULL, name text NOT NULL,"
                    " applied_at timestamptz NOT NULL DEFAULT now(),"
                    " PRIMARY KEY (component, version)); COMMIT",
                    PGRES_COMMAND_OK, errs, "could not create pmq_migrations") < 0 ||
        load_applied(conn, &done, errs) < 0) {
        rollback_if_needed(conn);
        applied = -1;
    }
    for (size_t i = 0; applied >= 0 && i < nsteps; i++) {
        const step *s = &steps[i];
        if (applied_has(&done, s->component, s->version))
            continue;
        if (apply_step(conn, s, errs) < 0) {
            applied = -1;
            break;
        }
        applied++;
        if (report) {
            fprintf(report, "applied %s %03d %s\n", s->component, s->version, s->name);
            fflush(report);
        }
    }

    if (PQstatus(conn) == CONNECTION_OK)
        PQclear(PQexecParams(conn, "SELECT pg_advisory_unlock($1::bigint)", 1, NULL, key, NULL,
                             NULL, 0));
    applied_free(&done);
    free(steps);
    return applied;
}

/*--- queues ---*/

int pmq_sync_queues(PGconn *conn, const pmq_config *cfg, const pmq_registry *reg,
                    pmq_errors *errs)
{
    size_t ncfg = cfg ? cfg->nqueues : 0;
    size_t nreg = reg ? pmq_registry_queue_count(reg) : 0;
    if (ncfg + nreg == 0)
        return 0;
    if (exec_expect(conn, "BEGIN", PGRES_COMMAND_OK, errs, "could not start a transaction") < 0)
        return -1;
    int rc = 0;
    /* Configured values win and reactivate the queue; rewrite only on change,
     * so that updated_at says when the settings last changed. */
    for (size_t i = 0; rc == 0 && i < ncfg; i++) {
        const pmq_queue_config *q = &cfg->queues[i];
        char prio[16], attempts[16], bytes[16];
        snprintf(prio, sizeof prio, "%d", q->priority);
        snprintf(attempts, sizeof attempts, "%d", q->max_attempts);
        snprintf(bytes, sizeof bytes, "%d", q->max_payload_bytes);
        const char *params[] = {q->name, prio, attempts, bytes};
        PGresult *res = PQexecParams(
            conn,
            "INSERT INTO job_queues AS j (name, default_priority, max_attempts, max_payload_bytes)"
            " VALUES ($1, $2, $3, $4)"
            " ON CONFLICT (name) DO UPDATE SET default_priority = EXCLUDED.default_priority,"
            " max_attempts = EXCLUDED.max_attempts, max_payload_bytes = EXCLUDED.max_payload_bytes,"
            " is_active = true, updated_at = now()"
            " WHERE (j.default_priority, j.max_attempts, j.max_payload_bytes, j.is_active)"
            " IS DISTINCT FROM (EXCLUDED.default_priority, EXCLUDED.max_attempts,"
            " EXCLUDED.max_payload_bytes, true)",
            4, NULL, params, NULL, NULL, 0);
        /* Where the queue was declared, when it was in a file. */
        char *where = q->origin.file ? pmq_asprintf("%s:%d: ", q->origin.file, q->origin.line)
                                     : pmq_xstrdup("");
        if (pmq_db_check(conn, res, PGRES_COMMAND_OK, errs, "%scould not declare queue \"%s\"",
                         where, q->name) < 0)
            rc = -1;
        else
            PQclear(res);
        free(where);
    }
    /* Queues a plugin serves without a [queue] section get the defaults. */
    for (size_t i = 0; rc == 0 && i < nreg; i++) {
        const pmq_queue_handler *h = pmq_registry_queue_at(reg, i);
        const char *params[] = {h->queue};
        PGresult *res = PQexecParams(conn,
                                     "INSERT INTO job_queues (name) VALUES ($1)"
                                     " ON CONFLICT (name) DO NOTHING",
                                     1, NULL, params, NULL, NULL, 0);
        if (PQresultStatus(res) != PGRES_COMMAND_OK) {
            pmq_db_error(errs, conn, res, "could not declare queue \"%s\" of plugin \"%s\"",
                         h->queue, h->plugin ? pmq_plugin_name(h->plugin) : "?");
            rc = -1;
        }
        PQclear(res);
    }
    if (rc == 0 && exec_expect(conn, "COMMIT", PGRES_COMMAND_OK, errs,
                               "could not declare the queues") < 0)
        rc = -1;
    if (rc < 0)
        rollback_if_needed(conn);
    return rc;
}
