/*
 * schema.h -- the bounce plugin's schema, compiled in from sql/NNN_name.sql
 * by build-aux/embed-sql.sh and registered with pmq_register_migration().
 */
#ifndef BOUNCE_SCHEMA_H
#define BOUNCE_SCHEMA_H

typedef struct bounce_migration {
    int version;
    const char *name;
    const char *sql;
} bounce_migration;

/* Ends with {0, NULL, NULL}. */
extern const bounce_migration bounce_schema[];

#endif /* BOUNCE_SCHEMA_H */
