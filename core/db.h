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

#endif /* PMQ_DB_H */
