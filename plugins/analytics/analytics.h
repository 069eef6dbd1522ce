/*
 * analytics.h -- the analytics plugin's schema as compiled into analytics.so:
 * plugins/analytics/sql/NNN_name.sql, embedded by build-aux/embed-sql.sh.
 * Owns nothing else; the handlers live in analytics.c.
 */
#ifndef PMQ_PLUGIN_ANALYTICS_H
#define PMQ_PLUGIN_ANALYTICS_H

/* One migration: sql/NNN_name.sql becomes {NNN, "name", "<sql>"}. */
typedef struct analytics_migration {
    int version;
    const char *name;
    const char *sql;
} analytics_migration;

/* Generated (analytics_sql.c); ends with {0, NULL, NULL}. */
extern const analytics_migration analytics_sql[];

#endif /* PMQ_PLUGIN_ANALYTICS_H */
