/*
 * warmup.h -- the warmup plugin's schema as compiled into warmup.so:
 * plugins/warmup/sql/NNN_name.sql, embedded by build-aux/embed-sql.sh.
 * Owns nothing else; the handler lives in warmup.c.
 */
#ifndef PMQ_PLUGIN_WARMUP_H
#define PMQ_PLUGIN_WARMUP_H

/* One migration: sql/NNN_name.sql becomes {NNN, "name", "<sql>"}. */
typedef struct warmup_migration {
    int version;
    const char *name;
    const char *sql;
} warmup_migration;

/* Generated (warmup_sql.c); ends with {0, NULL, NULL}. */
extern const warmup_migration warmup_sql[];

#endif /* PMQ_PLUGIN_WARMUP_H */
