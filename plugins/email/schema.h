/*
 * schema.h -- the email plugin's schema, compiled in from sql/NNN_name.sql
 * by build-aux/embed-sql.sh and registered with pmq_register_migration().
 */
#ifndef EMAIL_SCHEMA_H
#define EMAIL_SCHEMA_H

typedef struct email_migration {
    int version;
    const char *name;
    const char *sql;
} email_migration;

/* Ends with {0, NULL, NULL}. */
extern const email_migration email_schema[];

#endif /* EMAIL_SCHEMA_H */
