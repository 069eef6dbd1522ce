/*
 * db.h -- PostgreSQL connections from [database] and PostgreSQL errors turned
 * into pmq messages (primary, DETAIL, HINT).  Owns no queue logic.
 */
#ifndef PMQ_DB_H
#define PMQ_DB_H

#include <libpq-fe.h>

#include "config.h"
#include "errors.h"

/* Connect as [database] says; NULL after adding the reason to `errs`. */
PGconn *pmq_db_connect(const pmq_config *cfg, pmq_errors *errs);

/*
 * Add an error "<what>: <server's primary message>" with the server's DETAIL
 * and HINT, from a failed result (or the connection's message when `res` is
 * NULL).  printf-style `what`.
 */
pmq_error *pmq_db_error(pmq_errors *errs, PGconn *conn, const PGresult *res, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/*
 * The check after PQexec or PQexecParams: 0 when `res` has status `want`
 * (the caller keeps it); else -1 after pmq_db_error() with `fmt` and
 * PQclear(res).
 */
int pmq_db_check(PGconn *conn, PGresult *res, ExecStatusType want, pmq_errors *errs,
                 const char *fmt, ...) __attribute__((format(printf, 5, 6)));

/*
 * A statement pmqd runs on every batch, prepared once per connection:
 * planning one of these costs more than running it for a small batch.
 */
typedef struct pmq_stmt {
    const char *name; /* unique among pmq's statements */
    const char *sql;
    int nparams;
} pmq_stmt;

/*
 * Prepare `st` on `pg` unless it already is (again after a PQreset).  The
 * first one also fixes how the session plans them: generic plans, no
 * sequential scans, no nested loops, no JIT.  Call it outside a transaction, since a rollback would
 * undo that.  0, or -1 after adding the reason to `errs`.
 */
int pmq_db_prepare(PGconn *pg, const pmq_stmt *st, pmq_errors *errs);

/* PQexecParams(pg, st->sql, ...) with text parameters, prepared on first use. */
PGresult *pmq_db_exec_stmt(PGconn *pg, const pmq_stmt *st, const char *const *params);

#endif /* PMQ_DB_H */
