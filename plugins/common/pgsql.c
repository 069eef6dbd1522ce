/*
 * pgsql.c -- libpq calls shared by the plugins' stores (see pgsql.h).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pgsql.h"
#include "xalloc.h"

int plugin_db_fail(char **err, PGconn *pg, PGresult *res, const char *what)
{
    const char *msg = res ? PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY) : NULL;
    if (!msg)
        msg = PQerrorMessage(pg);
    plugin_fail(err, "%s: %s", what, msg && *msg ? msg : "unknown error");
    for (char *c = *err; c && *c; c++)
        if (*c == '\n')
            *c = *(c + 1) ? ' ' : '\0';
    PQclear(res);
    return -1;
}

PGresult *plugin_db_exec(PGconn *pg, const char *sql, int n, const char *const *values)
{
    return PQexecParams(pg, sql, n, NULL, values, NULL, NULL, 0);
}

int plugin_db_command(PGconn *pg, const char *sql, int n, const char *const *values,
                      const char *what, char **err)
{
    PGresult *res = plugin_db_exec(pg, sql, n, values);
    ExecStatusType st = PQresultStatus(res);
    if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK)
        return plugin_db_fail(err, pg, res, what);
    PQclear(res);
    return 0;
}

int plugin_db_begin(PGconn *pg, char **err)
{
    return plugin_db_command(pg, "BEGIN", 0, NULL, "could not begin a transaction", err);
}

void plugin_db_rollback(PGconn *pg)
{
    PQclear(PQexec(pg, "ROLLBACK"));
}

int plugin_db_commit(PGconn *pg, const char *what, char **err)
{
    if (plugin_db_command(pg, "COMMIT", 0, NULL, what, err) == 0)
        return 0;
    plugin_db_rollback(pg);
    return -1;
}

int plugin_db_relation_exists(PGconn *pg, const char *name, char **err)
{
    const char *v[1] = {name};
    PGresult *res = plugin_db_exec(pg, "SELECT to_regclass($1) IS NOT NULL", 1, v);
    if (PQresultStatus(res) != PGRES_TUPLES_OK) {
        char *what;
        plugin_fail(&what, "could not look for table \"%s\"", name);
        plugin_db_fail(err, pg, res, what ? what : "could not look for a table");
        free(what);
        return -1;
    }
    int yes = !strcmp(PQgetvalue(res, 0, 0), "t");
    PQclear(res);
    return yes;
}
