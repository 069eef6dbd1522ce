/*
 * db.c -- PostgreSQL connections from [database], and server errors turned
 * into pmq errors (primary message, DETAIL, HINT).  No queue logic here.
 */

#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include <libpq-events.h>
#include <libpq-fe.h>

#include "config.h"
#include "db.h"
#include "errors.h"
#include "util.h"

/* A copy of the first line of `msg`, without trailing blanks. */
static char *first_line(const char *msg)
{
    size_t n = strcspn(msg, "\n");
    while (n > 0 && (msg[n - 1] == ' ' || msg[n - 1] == '\t' || msg[n - 1] == '\r'))
        n--;
    char *line = pmq_xmalloc(n + 1);
    memcpy(line, msg, n);
    line[n] = '\0';
    return line;
}

/* The lines after the first, trimmed and joined by spaces, or NULL. */
static char *other_lines(const char *msg)
{
    const char *nl = strchr(msg, '\n');
    if (!nl)
        return NULL;
    size_t cap = strlen(nl) + 1, len = 0;
    char *out = pmq_xmalloc(cap);
    for (const char *p = nl + 1; *p;) {
        while (*p == ' ' || *p == '\t')
            p++;
        size_t n = strcspn(p, "\n");
        size_t m = n;
        while (m > 0 && (p[m - 1] == ' ' || p[m - 1] == '\t' || p[m - 1] == '\r'))
            m--;
        if (m > 0) {
            if (len > 0)
                out[len++] = ' ';
            memcpy(out + len, p, m);
            len += m;
        }
        p += n;
        if (*p == '\n')
            p++;
    }
    out[len] = '\0';
    if (len == 0) {
        free(out);
        return NULL;
    }
    return out;
}

/*
 * "host=... port=... dbname=..." for messages: what the connection tried,
 * never the password nor any other option.
 */
static char *describe_target(PGconn *conn)
{
    const char *host = conn ? PQhost(conn) : NULL;
    const char *port = conn ? PQport(conn) : NULL;
    const char *db = conn ? PQdb(conn) : NULL;
    char *s = pmq_xstrdup("");
    const char *keys[] = {"host", "port", "dbname"};
    const char *vals[] = {host, port, db};
    for (size_t i = 0; i < 3; i++) {
        if (!vals[i] || !*vals[i])
            continue;
        char *next = pmq_asprintf("%s%s%s=%s", s, *s ? " " : "", keys[i], vals[i]);
        free(s);
        s = next;
    }
    return s;
}

PGconn *pmq_db_connect(const pmq_config *cfg, pmq_errors *errs)
{
    char *conninfo = pmq_config_conninfo(cfg);
    /* The conninfo string is expanded as if it were the dbname; libpq
     * ignores empty values, so defaults and PG* variables still apply. */
    const char *keys[] = {"dbname", "fallback_application_name", NULL};
    const char *vals[] = {conninfo ? conninfo : "", "pmq", NULL};
    PGconn *conn = PQconnectdbParams(keys, vals, 1);
    if (conninfo) {
        /* It may hold a password. */
        memset(conninfo, 0, strlen(conninfo));
        free(conninfo);
    }
    if (conn && PQstatus(conn) == CONNECTION_OK)
        return conn;

    char *target = describe_target(conn);
    const char *msg = conn ? PQerrorMessage(conn) : "out of memory";
    char *primary = first_line(msg);
    char *rest = other_lines(msg);
    pmq_error *err = pmq_errors_add(errs, "could not connect to PostgreSQL at \"%s\": %s", target,
                                    *primary ? primary : "unknown error");
    if (rest)
        pmq_error_detail(err, "%s", rest);
    if (cfg && cfg->database.origin.file)
        pmq_error_hint(err, "Check the [database] section of %s.", cfg->database.origin.file);
    free(rest);
    free(primary);
    free(target);
    PQfinish(conn);
    return NULL;
}

static pmq_error *db_verror(pmq_errors *errs, PGconn *conn, const PGresult *res, const char *fmt,
                            va_list ap) __attribute__((format(printf, 4, 0)));

pmq_error *pmq_db_error(pmq_errors *errs, PGconn *conn, const PGresult *res, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    pmq_error *err = db_verror(errs, conn, res, fmt, ap);
    va_end(ap);
    return err;
}

int pmq_db_check(PGconn *conn, PGresult *res, ExecStatusType want, pmq_errors *errs,
                 const char *fmt, ...)
{
    if (PQresultStatus(res) == want)
        return 0;
    va_list ap;
    va_start(ap, fmt);
    db_verror(errs, conn, res, fmt, ap);
    va_end(ap);
    PQclear(res);
    return -1;
}

static pmq_error *db_verror(pmq_errors *errs, PGconn *conn, const PGresult *res, const char *fmt,
                            va_list ap)
{
    char *what = pmq_vasprintf(fmt, ap);
    const char *primary = res ? PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY) : NULL;
    const char *detail = res ? PQresultErrorField(res, PG_DIAG_MESSAGE_DETAIL) : NULL;
    const char *hint = res ? PQresultErrorField(res, PG_DIAG_MESSAGE_HINT) : NULL;
    char *line = NULL;
    if (!primary) {
        /* libpq's own errors (connection lost, ...) carry no fields. */
        const char *msg = res ? PQresultErrorMessage(res) : "";
        if (!*msg && conn)
            msg = PQerrorMessage(conn);
        line = first_line(msg);
        /* "ERROR:  ..." when libpq formatted a server message itself. */
        const char *p = line;
        if (strncmp(p, "ERROR:", 6) == 0 || strncmp(p, "FATAL:", 6) == 0)
            p += 6;
        while (*p == ' ')
            p++;
        if (*p) {
            primary = p;
        } else {
            char *status = pmq_asprintf("unexpected result %s",
                                        res ? PQresStatus(PQresultStatus(res)) : "(none)");
            free(line);
            primary = line = status;
        }
    }
    pmq_error *err = pmq_errors_add(errs, "%s: %s", what, primary);
    if (detail)
        pmq_error_detail(err, "%s", detail);
    if (hint)
        pmq_error_hint(err, "%s", hint);
    free(line);
    free(what);
    return err;
}

/*--- prepared statements, remembered per connection ---*/

#define MAX_STMTS 16

typedef struct prepared_set {
    const pmq_stmt *done[MAX_STMTS];
    int n;
} prepared_set;

/* Keeps a connection's prepared_set in step with its server session. */
static int prepared_events(PGEventId id, void *info, void *arg)
{
    (void)arg;
    if (id == PGEVT_CONNRESET) {
        prepared_set *set = PQinstanceData(((PGEventConnReset *)info)->conn, prepared_events);
        if (set)
            set->n = 0; /* a new session has none */
    } else if (id == PGEVT_CONNDESTROY) {
        free(PQinstanceData(((PGEventConnDestroy *)info)->conn, prepared_events));
    }
    return 1;
}

static prepared_set *prepared_of(PGconn *pg)
{
    prepared_set *set = PQinstanceData(pg, prepared_events);
    if (!set) {
        if (!PQregisterEventProc(pg, prepared_events, "pmq prepared statements", NULL))
            return NULL;
        set = pmq_xcalloc(1, sizeof *set);
        PQsetInstanceData(pg, prepared_events, set);
    }
    return set;
}

int pmq_db_prepare(PGconn *pg, const pmq_stmt *st, pmq_errors *errs)
{
    prepared_set *set = prepared_of(pg);
    if (!set) {
        pmq_errors_add(errs, "could not prepare %s: out of memory", st->name);
        return -1;
    }
    for (int i = 0; i < set->n; i++)
        if (set->done[i] == st)
            return 0;
    if (set->n == MAX_STMTS) {
        pmq_errors_add(errs, "could not prepare %s: more than %d statements", st->name, MAX_STMTS);
        return -1;
    }
    PGresult *res;
    if (set->n == 0) {
        /*
         * These statements reach jobs by id.  They are planned once, so the
         * plan must not depend on the table's size when it was made: a plan
         * made on a small table would scan the whole table forever after,
         * and a custom plan for 1,000 ids can prefer that too.  The primary
         * key is always the right way in, and a hash join the way to match
         * a batch's outcomes to its rows: planned on an empty table, the ack
         * joined them in a nested loop, 1,000 x 1,000 comparisons a batch.
         * No JIT: the cost that turns those plans off looks like a huge
         * query to it, and it then compiled every claim, at 100-500 ms each.
         */
        res = PQexec(pg, "SELECT set_config('plan_cache_mode', 'force_generic_plan', false),"
                         " set_config('enable_seqscan', 'off', false),"
                         " set_config('enable_nestloop', 'off', false),"
                         " set_config('jit', 'off', false)");
        if (pmq_db_check(pg, res, PGRES_TUPLES_OK, errs, "could not prepare %s", st->name) < 0)
            return -1;
        PQclear(res);
    }
    res = PQprepare(pg, st->name, st->sql, st->nparams, NULL);
    if (pmq_db_check(pg, res, PGRES_COMMAND_OK, errs, "could not prepare %s", st->name) < 0)
        return -1;
    PQclear(res);
    set->done[set->n++] = st;
    return 0;
}

PGresult *pmq_db_exec_stmt(PGconn *pg, const pmq_stmt *st, const char *const *params)
{
    pmq_errors errs = PMQ_ERRORS_INIT;
    if (pmq_db_prepare(pg, st, &errs) < 0) {
        /* Not prepared: run it plainly, and let its own error (if any) speak. */
        pmq_errors_clear(&errs);
        return PQexecParams(pg, st->sql, st->nparams, NULL, params, NULL, NULL, 0);
    }
    return PQexecPrepared(pg, st->name, st->nparams, params, NULL, NULL, 0);
}
