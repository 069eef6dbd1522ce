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

/* The core schema, generated from sql/*.sql; ends with {0, NULL, NULL}. */
extern const pmq_migration pmq_core_sql[];

#endif /* PMQ_MIGRATE_H */
