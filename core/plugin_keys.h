/*
 * plugin_keys.h -- the keys a plugin declares for its [plugin NAME] section
 * (ABI 1.1, pmq_plugin_key): checks the declaration, checks the section
 * against it with the file and line of each bad key, and reads a checked
 * value or its default.  It knows neither the loader nor the host table.
 */
#ifndef PMQ_PLUGIN_KEYS_H
#define PMQ_PLUGIN_KEYS_H

#include <stddef.h>
#include <stdint.h>

#include "config.h"
#include "errors.h"
#include "pmq/plugin.h"

/* More keys than this is a table without its NULL end, not a real section. */
#define PMQ_PLUGIN_KEYS_MAX 256

/* The pmq_section a plugin sees: its section and what it declared of it. */
typedef struct pmq_plugin_section {
    const pmq_plugin_config *config; /* borrowed from the pmq_config */
    const pmq_plugin_key *keys;      /* borrowed from the plugin; NULL: nothing declared */
    size_t nkeys;
    size_t key_size;                 /* the plugin's sizeof(pmq_plugin_key) */
} pmq_plugin_section;

/*
 * Why the plugin's key table (`key_size` bytes an entry) cannot be used
 * (caller frees), or NULL when it is sound; then *nkeys is its length.
 */
char *pmq_plugin_keys_invalid(const pmq_plugin_key *keys, size_t key_size, size_t *nkeys);

/*
 * Check every key of the section against the declaration: one error per
 * unknown key (with the nearest declared name) or bad value, each naming
 * its file and line.  Returns how many were added; 0 when nothing is
 * declared.
 */
size_t pmq_plugin_section_check(const pmq_plugin_section *s, pmq_errors *errs);

/* The section's value of `key`; for a declared key it does not set, the default. */
const char *pmq_plugin_section_get(const pmq_plugin_section *s, const char *key);
/* A declared number or bool, parsed (see config_number in <pmq/plugin.h>). */
int pmq_plugin_section_number(const pmq_plugin_section *s, const char *key, int64_t *out);

/* util.c's parsers with the ABI's 64-bit bounds, for the host table. */
int pmq_plugin_parse_int(const char *text, int64_t min, int64_t max, int64_t *out);
int pmq_plugin_parse_duration_ms(const char *text, int64_t unit_ms, int64_t *out);
int pmq_plugin_parse_bytes(const char *text, int64_t max, int64_t *out);
int pmq_plugin_parse_bool(const char *text, int *out);

#endif /* PMQ_PLUGIN_KEYS_H */
