/*
 * migrate.h -- applies numbered schema migrations (the core's, compiled in,
 * and those plugins register) once each, in order, recorded in
 * pmq_migrations, under an advisory lock so two hosts can run it at once.
 */
#ifndef PMQ_MIGRATE_H
#define PMQ_MIGRATE_H

/* One migration: sql/NNN_name.sql becomes {NNN, "name", "<sql>"}. */
typedef struct pmq_migration {
    int version;
    const char *name;
    const char *sql;
} pmq_migration;

/* The core schema, generated from sql/NNN_NAME.sql; ends with {0, NULL, NULL}. */
extern const pmq_migration pmq_core_sql[];

#include <stdio.h>

#include "config.h"
#include "errors.h"
#include "plugin_loader.h"

struct pg_conn;

/*
 * Apply every pending migration: the core's first, then each plugin's that
 * `reg` holds (NULL: core only).  One transaction per migration.  Prints one
 * line per applied migration to `report` (NULL: silent).  Returns how many
 * were applied, or -1 after adding the reason to `errs`.
 */
int pmq_migrate(struct pg_conn *conn, const pmq_registry *reg, FILE *report, pmq_errors *errs);

/*
 * Upsert job_queues from the [queue] sections of `cfg` and the queues the
 * plugins of `reg` serve (either may be NULL), so pmq_enqueue() accepts them.
 * Returns 0, or -1 after adding the reason to `errs`.
 */
int pmq_sync_queues(struct pg_conn *conn, const pmq_config *cfg, const pmq_registry *reg,
                    pmq_errors *errs);

#endif /* PMQ_MIGRATE_H */
