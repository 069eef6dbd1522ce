/*
 * pgsql.h -- the libpq calls the email and bounce plugins' stores share:
 * statements with text parameters, a transaction's begin, commit and
 * rollback, and errors as one-line `*err` messages ("what: PostgreSQL's
 * primary message").  Compiled into each plugin, like utf8.c.
 */
#ifndef PLUGIN_PGSQL_H
#define PLUGIN_PGSQL_H

#include <libpq-fe.h>

/* *err = "what: why" on one line (caller frees); clears `res`; returns -1. */
int plugin_db_fail(char **err, PGconn *pg, PGresult *res, const char *what);

/* `sql` with `n` text parameters, text results. */
PGresult *plugin_db_exec(PGconn *pg, const char *sql, int n, const char *const *values);

/* A statement whose rows are not needed: 0, or -1 with *err = "what: why". */
int plugin_db_command(PGconn *pg, const char *sql, int n, const char *const *values,
                      const char *what, char **err);

/* BEGIN: 0, or -1 with *err. */
int plugin_db_begin(PGconn *pg, char **err);
/* COMMIT: 0, or -1 with *err = "what: why" after rolling back. */
int plugin_db_commit(PGconn *pg, const char *what, char **err);
void plugin_db_rollback(PGconn *pg);

/* Does relation `name` exist (in the search path)?  1, 0, or -1 with *err. */
int plugin_db_relation_exists(PGconn *pg, const char *name, char **err);

#endif /* PLUGIN_PGSQL_H */
