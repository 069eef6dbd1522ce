/*
 * plugin_keys.c -- a plugin's declared section keys (see plugin_keys.h):
 * the same parsers and the same messages as pmqd's own keys.
 */
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "plugin_keys.h"
#include "util.h"

/*--- the parsers, with 64-bit bounds ---*/

static long clamp_long(int64_t v)
{
    return v < LONG_MIN ? LONG_MIN : v > LONG_MAX ? LONG_MAX : (long)v;
}

int pmq_plugin_parse_int(const char *text, int64_t min, int64_t max, int64_t *out)
{
    long v;
    if (!text || !out || pmq_parse_int(text, clamp_long(min), clamp_long(max), &v) < 0)
        return -1;
    *out = v;
    return 0;
}

int pmq_plugin_parse_duration_ms(const char *text, int64_t unit_ms, int64_t *out)
{
    if (!text || !out || unit_ms < 1)
        return -1;
    return pmq_parse_duration_ms(text, unit_ms, out);
}

int pmq_plugin_parse_bytes(const char *text, int64_t max, int64_t *out)
{
    long v;
    if (!text || !out || max < 0 || pmq_parse_bytes(text, clamp_long(max), &v) < 0)
        return -1;
    *out = v;
    return 0;
}

int pmq_plugin_parse_bool(const char *text, int *out)
{
    return text && out ? pmq_parse_bool(text, out) : -1;
}

/*--- one key ---*/

/* Entry `i` of a table whose entries are `key_size` bytes (a newer header's may be larger). */
static const pmq_plugin_key *key_at(const pmq_plugin_key *keys, size_t key_size, size_t i)
{
    return (const pmq_plugin_key *)(const void *)((const char *)keys + i * key_size);
}

static int is_number(const pmq_plugin_key *k)
{
    return k->type == PMQ_KEY_INT || k->type == PMQ_KEY_DURATION || k->type == PMQ_KEY_BYTES ||
           k->type == PMQ_KEY_BOOL;
}

/* `v` read by the rules of `k`: 0 with *out (numbers and bools), or -1. */
static int parse_value(const pmq_plugin_key *k, const char *v, int64_t *out)
{
    int64_t n = 0;
    int b;
    switch (k->type) {
    case PMQ_KEY_STRING:
        return 0;
    case PMQ_KEY_INT:
        if (pmq_plugin_parse_int(v, k->min, k->max, &n) < 0)
            return -1;
        break;
    case PMQ_KEY_DURATION:
        if (pmq_plugin_parse_duration_ms(v, k->unit_ms, &n) < 0 || n < k->min || n > k->max)
            return -1;
        break;
    case PMQ_KEY_BYTES:
        if (pmq_plugin_parse_bytes(v, k->max, &n) < 0 || n < k->min)
            return -1;
        break;
    case PMQ_KEY_BOOL:
        if (pmq_plugin_parse_bool(v, &b) < 0)
            return -1;
        n = b;
        break;
    default:
        return -1;
    }
    *out = n;
    return 0;
}

/* "90s", "1d", "1500ms": the largest unit that divides `ms`. */
static char *shown_ms(int64_t ms)
{
    static const int64_t unit[] = {86400000, 3600000, 60000, 1000, 1};
    static const char *const suffix[] = {"d", "h", "m", "s", "ms"};
    if (ms == 0)
        return pmq_xstrdup("0");
    size_t i = 0;
    while (ms % unit[i])
        i++;
    return pmq_asprintf("%lld%s", (long long)(ms / unit[i]), suffix[i]);
}

/* What a bare number counts, in words. */
static char *bare_unit(int64_t unit_ms)
{
    static const int64_t unit[] = {1, 1000, 60000, 3600000, 86400000};
    static const char *const words[] = {"milliseconds", "seconds", "minutes", "hours", "days"};
    for (size_t i = 0; i < sizeof unit / sizeof unit[0]; i++)
        if (unit_ms == unit[i])
            return pmq_xstrdup(words[i]);
    return pmq_asprintf("units of %lld milliseconds", (long long)unit_ms);
}

/* The DETAIL of a value `k` refuses: what is expected. */
static char *expected(const pmq_plugin_key *k)
{
    char *lo, *hi, *unit, *s;
    switch (k->type) {
    case PMQ_KEY_INT:
        return pmq_asprintf("An integer from %lld to %lld is expected.", (long long)k->min,
                            (long long)k->max);
    case PMQ_KEY_DURATION:
        lo = shown_ms(k->min);
        hi = shown_ms(k->max);
        unit = bare_unit(k->unit_ms);
        s = pmq_asprintf("A duration from %s to %s is expected, such as \"500ms\", \"30s\", "
                         "\"5m\" or \"2h\"; a bare number counts %s.",
                         lo, hi, unit);
        free(lo);
        free(hi);
        free(unit);
        return s;
    case PMQ_KEY_BYTES:
        return pmq_asprintf("A size from %lld to %lld bytes is expected: a number of bytes, or "
                            "one with the suffix k (1024 bytes) or M (1048576 bytes).",
                            (long long)k->min, (long long)k->max);
    default:
        return pmq_xstrdup("One of yes, no, true, false, on, off, 1 or 0 is expected.");
    }
}

/*--- the declaration ---*/

static int host_key(const char *name)
{
    return !strcmp(name, "path") || !strcmp(name, "enabled");
}

/* Why entry `k` (the i-th) cannot be used, or NULL. */
static char *invalid_key(const pmq_plugin_key *keys, size_t key_size, size_t i)
{
    const pmq_plugin_key *k = key_at(keys, key_size, i);
    if (!*k->name)
        return pmq_asprintf("Key %zu has an empty name.", i + 1);
    if (host_key(k->name))
        return pmq_asprintf("Key \"%s\" is the host's: it is not declared.", k->name);
    for (size_t j = 0; j < i; j++)
        if (!strcmp(key_at(keys, key_size, j)->name, k->name))
            return pmq_asprintf("Key \"%s\" is declared twice.", k->name);
    if (k->type < PMQ_KEY_STRING || k->type > PMQ_KEY_BOOL)
        return pmq_asprintf("Key \"%s\" has an unknown type %d.", k->name, k->type);
    if ((k->type == PMQ_KEY_INT || k->type == PMQ_KEY_DURATION || k->type == PMQ_KEY_BYTES) &&
        k->min > k->max)
        return pmq_asprintf("Key \"%s\" has a minimum (%lld) above its maximum (%lld).", k->name,
                            (long long)k->min, (long long)k->max);
    if (k->type == PMQ_KEY_DURATION && k->unit_ms < 1)
        return pmq_asprintf("Key \"%s\" is a duration without a unit for a bare number.",
                            k->name);
    int64_t n;
    if (k->default_value && parse_value(k, k->default_value, &n) < 0)
        return pmq_asprintf("Key \"%s\" has a default \"%s\" that its own rules refuse.", k->name,
                            k->default_value);
    return NULL;
}

char *pmq_plugin_keys_invalid(const pmq_plugin_key *keys, size_t key_size, size_t *nkeys)
{
    *nkeys = 0;
    if (!keys)
        return NULL;
    if (key_size < sizeof(pmq_plugin_key))
        return pmq_asprintf("Its key table's entries are %zu bytes; ABI %d.%d's are %zu.",
                            key_size, PMQ_ABI_MAJOR, PMQ_ABI_MINOR, sizeof(pmq_plugin_key));
    size_t n = 0;
    while (key_at(keys, key_size, n)->name) {
        char *why = invalid_key(keys, key_size, n);
        if (why)
            return why;
        if (++n > PMQ_PLUGIN_KEYS_MAX)
            return pmq_asprintf("Its key table has more than %d entries: is it ended by an "
                                "entry whose name is NULL?",
                                PMQ_PLUGIN_KEYS_MAX);
    }
    *nkeys = n;
    return NULL;
}

/*--- the section ---*/

static const pmq_plugin_key *find_key(const pmq_plugin_section *s, const char *name)
{
    for (size_t i = 0; s && name && i < s->nkeys; i++)
        if (!strcmp(key_at(s->keys, s->key_size, i)->name, name))
            return key_at(s->keys, s->key_size, i);
    return NULL;
}

/* "file:line: [plugin NAME] what", as pmqd's own key errors read. */
static pmq_error *key_error(pmq_errors *errs, const pmq_plugin_section *s, const pmq_kv *kv,
                            const char *what)
{
    if (kv->origin.file)
        return pmq_errors_add(errs, "%s:%d: [plugin %s] %s", kv->origin.file, kv->origin.line,
                              s->config->name, what);
    return pmq_errors_add(errs, "[plugin %s] %s", s->config->name, what);
}

static void unknown_key(pmq_errors *errs, const pmq_plugin_section *s, const pmq_kv *kv)
{
    char *shown = pmq_escape_controls(kv->key);
    char *what = pmq_asprintf("unknown key \"%s\"", shown);
    pmq_error *e = key_error(errs, s, kv, what);
    const char **names = pmq_xcalloc(s->nkeys + 3, sizeof *names);
    size_t n = 0;
    names[n++] = "path";
    names[n++] = "enabled";
    for (size_t i = 0; i < s->nkeys; i++)
        names[n++] = key_at(s->keys, s->key_size, i)->name;
    const char *near = pmq_nearest_word(kv->key, names);
    if (near) {
        pmq_error_hint(e, "Did you mean \"%s\"?", near);
    } else {
        char *list = pmq_xstrdup("\"path\", \"enabled\"");
        for (size_t i = 2; i < n; i++) {
            char *longer = pmq_asprintf("%s, \"%s\"", list, names[i]);
            free(list);
            list = longer;
        }
        pmq_error_hint(e, "Plugin \"%s\" reads %s.", s->config->name, list);
        free(list);
    }
    free(names);
    free(what);
    free(shown);
}

static void bad_value(pmq_errors *errs, const pmq_plugin_section *s, const pmq_kv *kv,
                      const pmq_plugin_key *k)
{
    char *shown = pmq_escape_controls(kv->value);
    char *what = pmq_asprintf("invalid value \"%s\" for \"%s\"", shown, kv->key);
    pmq_error *e = key_error(errs, s, kv, what);
    char *detail = expected(k);
    pmq_error_detail(e, "%s", detail);
    if (k->doc && *k->doc)
        pmq_error_hint(e, "\"%s\": %s.", k->name, k->doc);
    free(detail);
    free(what);
    free(shown);
}

size_t pmq_plugin_section_check(const pmq_plugin_section *s, pmq_errors *errs)
{
    if (!s || !s->keys || !s->config)
        return 0;
    size_t before = errs->count;
    for (size_t i = 0; i < s->config->nkeys; i++) {
        const pmq_kv *kv = &s->config->keys[i];
        if (host_key(kv->key))
            continue;
        const pmq_plugin_key *k = find_key(s, kv->key);
        int64_t n;
        if (!k)
            unknown_key(errs, s, kv);
        else if (parse_value(k, kv->value, &n) < 0)
            bad_value(errs, s, kv, k);
    }
    return errs->count - before;
}

const char *pmq_plugin_section_get(const pmq_plugin_section *s, const char *key)
{
    if (!s || !key)
        return NULL;
    const char *v = pmq_plugin_config_get(s->config, key);
    if (v)
        return v;
    const pmq_plugin_key *k = find_key(s, key);
    return k ? k->default_value : NULL;
}

int pmq_plugin_section_number(const pmq_plugin_section *s, const char *key, int64_t *out)
{
    const pmq_plugin_key *k = find_key(s, key);
    const char *v = k && is_number(k) ? pmq_plugin_section_get(s, key) : NULL;
    int64_t n;
    if (!v || !out || parse_value(k, v, &n) < 0)
        return -1;
    *out = n;
    return 0;
}
