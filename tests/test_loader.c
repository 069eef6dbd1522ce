/*
 * test_loader.c -- the plugin loader, the host function table and the job
 * handles: every rejection case, rollback of a failed init, the registry,
 * the config cross-check, the section keys a plugin declares (and a 1.0
 * plugin that declares none), a handler driven by hand, and pmqd --check.
 */
#include <check.h>
#include <errno.h>
#include <ftw.h>
#include <json-c/json.h>
#include <libpq-fe.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "config.h"
#include "errors.h"
#include "host_api.h"
#include "job.h"
#include "plugin_loader.h"
#include "pmq/plugin.h"
#include "util.h"

/*--- fixtures and helpers ---*/

static char basedir[] = "/tmp/pmq-loader-XXXXXX"; /* per test case, removed even on failure */
static char tmpdir[sizeof basedir + 16];           /* per test, inside basedir */
static char *ini_path;
static pmq_config *cfg;
static pmq_registry *reg;
static pmq_errors errs = PMQ_ERRORS_INIT;

static const char *builddir(void)
{
    const char *d = getenv("top_builddir");
    return d && *d ? d : ".";
}

/* A built test plugin (libtool puts the shared object under .libs). */
static char *plugin_so(const char *name)
{
    return pmq_asprintf("%s/tests/plugins/.libs/%s.so", builddir(), name);
}

static char *in_tmp(const char *name)
{
    return pmq_asprintf("%s/%s", tmpdir, name);
}

static void write_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    ck_assert_msg(f != NULL, "cannot write %s: %s", path, strerror(errno));
    fputs(text, f);
    ck_assert_int_eq(fclose(f), 0);
}

static char *read_file(const char *path)
{
    FILE *f = fopen(path, "r");
    if (!f)
        return NULL;
    char *buf = NULL;
    size_t len = 0;
    FILE *mem = open_memstream(&buf, &len);
    int c;
    while ((c = fgetc(f)) != EOF)
        fputc(c, mem);
    fclose(f);
    fclose(mem);
    return buf;
}

/* Every error as pmqd would print it, for assertions and failure messages. */
static char *errors_text(const pmq_errors *e)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *mem = open_memstream(&buf, &len);
    pmq_errors_print(e, mem, NULL);
    fclose(mem);
    return buf;
}

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    return remove(path);
}

/* Unchecked: runs in the parent, so a failed test leaves nothing behind. */
static void setup_case(void)
{
    strcpy(basedir, "/tmp/pmq-loader-XXXXXX");
    if (!mkdtemp(basedir)) {
        perror("mkdtemp");
        exit(EXIT_FAILURE);
    }
}

static void teardown_case(void)
{
    nftw(basedir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

static void setup(void)
{
    snprintf(tmpdir, sizeof tmpdir, "%s/t-XXXXXX", basedir);
    ck_assert_msg(mkdtemp(tmpdir) != NULL, "mkdtemp: %s", strerror(errno));
    ini_path = in_tmp("pmqd.ini");
    cfg = NULL;
    reg = NULL;
}

static void teardown(void)
{
    pmq_registry_free(reg);
    pmq_config_free(cfg);
    pmq_errors_clear(&errs);
    free(ini_path);
    nftw(tmpdir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

/* Write `ini` as pmqd.ini, load it (it must be valid), then its plugins. */
static void load(const char *ini)
{
    write_file(ini_path, ini);
    pmq_errors cerrs = PMQ_ERRORS_INIT;
    cfg = pmq_config_load(ini_path, &cerrs);
    char *text = errors_text(&cerrs);
    ck_assert_msg(cfg != NULL && cerrs.count == 0, "configuration refused:\n%s\n---\n%s", text,
                  ini);
    free(text);
    pmq_errors_clear(&cerrs);
    reg = pmq_registry_load(cfg, &errs);
    ck_assert_ptr_nonnull(reg);
}

/* The one error whose message mentions `needle`; fails when not exactly one. */
static const pmq_error *error_with(const char *needle)
{
    const pmq_error *found = NULL;
    int n = 0;
    for (size_t i = 0; i < errs.count; i++)
        if (strstr(errs.items[i].message, needle))
            found = &errs.items[i], n++;
    char *text = errors_text(&errs);
    ck_assert_msg(n == 1, "%d errors mention \"%s\":\n%s", n, needle, text);
    free(text);
    return found;
}

/* The configuration's plugin section `name`, for its origin. */
static const pmq_plugin_config *section(const char *name)
{
    const pmq_plugin_config *pc = pmq_config_plugin(cfg, name);
    ck_assert_msg(pc != NULL, "no [plugin %s] in the configuration", name);
    return pc;
}

/*
 * Check the single load error for plugin `name` from `path`: its message is
 * "FILE:LINE: [plugin NAME] could not load plugin "NAME" from "PATH": WHY"
 * with the section's origin.  Returns it for DETAIL and HINT checks.
 */
static const pmq_error *check_refused(const char *name, const char *path, const char *why)
{
    const pmq_plugin_config *pc = section(name);
    char *expect = pmq_asprintf("%s:%d: [plugin %s] could not load plugin \"%s\" from \"%s\": %s",
                                pc->origin.file, pc->origin.line, name, name, path, why);
    char *needle = pmq_asprintf("could not load plugin \"%s\"", name);
    const pmq_error *e = error_with(needle);
    ck_assert_str_eq(e->message, expect);
    free(expect);
    free(needle);
    return e;
}

static char *abi_text(int major, int minor)
{
    return pmq_asprintf("ABI %d.%d", major, minor);
}

/*--- loading: the good plugin ---*/

START_TEST(test_good_plugin_loads)
{
    char *good = plugin_so("good");
    char *ini = pmq_asprintf("[plugin good]\npath = %s\ngreeting = hi\n", good);
    load(ini);
    char *text = errors_text(&errs);
    ck_assert_msg(errs.count == 0, "unexpected errors:\n%s", text);
    free(text);

    ck_assert_uint_eq(pmq_registry_queue_count(reg), 2);
    const pmq_queue_handler *a = pmq_registry_handler(reg, "good-a");
    const pmq_queue_handler *b = pmq_registry_handler(reg, "good-b");
    ck_assert_ptr_nonnull(a);
    ck_assert_ptr_nonnull(b);
    ck_assert_str_eq(a->queue, "good-a");
    ck_assert_ptr_nonnull(a->handler);
    ck_assert_int_eq(*(const int *)a->state, 42);
    ck_assert_int_eq(a->thread_safe, 1);
    ck_assert_str_eq(pmq_plugin_name(a->plugin), "good");
    ck_assert_str_eq(pmq_plugin_version(a->plugin), "1.2.3");
    ck_assert_str_eq(pmq_plugin_path(a->plugin), good);
    ck_assert_ptr_eq(a->plugin, b->plugin);
    ck_assert_ptr_null(pmq_registry_handler(reg, "good-c"));
    ck_assert_ptr_null(pmq_registry_handler(reg, NULL));

    /* queue_at enumerates what handler() finds */
    ck_assert_ptr_eq(pmq_registry_queue_at(reg, 0), a);
    ck_assert_ptr_eq(pmq_registry_queue_at(reg, 1), b);
    ck_assert_ptr_null(pmq_registry_queue_at(reg, 2));

    ck_assert_uint_eq(pmq_registry_migration_count(reg), 1);
    const pmq_plugin_migration *m = pmq_registry_migration_at(reg, 0);
    ck_assert_str_eq(m->component, "good");
    ck_assert_int_eq(m->version, 1);
    ck_assert_str_eq(m->name, "create good_rows");
    ck_assert_str_eq(m->sql, "CREATE TABLE good_rows (id int)");
    ck_assert_ptr_null(pmq_registry_migration_at(reg, 1));
    free(ini);
    free(good);
}
END_TEST

START_TEST(test_relative_path_uses_plugin_dir)
{
    char *dir = pmq_asprintf("%s/tests/plugins/.libs", builddir());
    char *ini = pmq_asprintf("[pmqd]\nplugin_dir = %s\n\n[plugin good]\npath = good.so\n\n"
                             "[plugin ghost]\npath = ghost.so\n",
                             dir);
    load(ini);
    ck_assert_uint_eq(errs.count, 1);
    const pmq_queue_handler *a = pmq_registry_handler(reg, "good-a");
    ck_assert_ptr_nonnull(a);
    char *expect = pmq_asprintf("%s/good.so", dir);
    ck_assert_str_eq(pmq_plugin_path(a->plugin), expect);
    char *ghost = pmq_asprintf("%s/ghost.so", dir);
    check_refused("ghost", ghost, "file not found");
    free(ghost);
    free(expect);
    free(ini);
    free(dir);
}
END_TEST

START_TEST(test_disabled_plugin_is_skipped)
{
    char *ini = pmq_asprintf("[plugin ghost]\npath = %s/ghost.so\nenabled = no\n", tmpdir);
    load(ini);
    ck_assert_uint_eq(errs.count, 0);
    ck_assert_uint_eq(pmq_registry_queue_count(reg), 0);
    free(ini);
}
END_TEST

/*--- loading: one rejection each ---*/

START_TEST(test_missing_file)
{
    char *path = in_tmp("ghost.so");
    char *ini = pmq_asprintf("[plugin ghost]\npath = %s\n", path);
    load(ini);
    ck_assert_uint_eq(errs.count, 1);
    const pmq_error *e = check_refused("ghost", path, "file not found");
    ck_assert_ptr_nonnull(e->hint);
    ck_assert_uint_eq(pmq_registry_queue_count(reg), 0);
    free(ini);
    free(path);
}
END_TEST

START_TEST(test_not_a_shared_object)
{
    char *path = in_tmp("x.so");
    write_file(path, "this is a text file, not an ELF object\n");
    char *ini = pmq_asprintf("[plugin x]\npath = %s\n", path);
    load(ini);
    ck_assert_uint_eq(errs.count, 1);
    const pmq_error *e = check_refused("x", path, "not a loadable shared object");
    /* DETAIL is dlerror()'s text, which names the file */
    ck_assert_ptr_nonnull(e->detail);
    ck_assert_ptr_nonnull(strstr(e->detail, path));
    free(ini);
    free(path);
}
END_TEST

START_TEST(test_missing_magic)
{
    char *path = plugin_so("nomagic");
    char *ini = pmq_asprintf("[plugin nomagic]\npath = %s\n", path);
    load(ini);
    ck_assert_uint_eq(errs.count, 1);
    check_refused("nomagic", path, "missing entry point \"pmq_plugin_magic\"");
    ck_assert_ptr_null(pmq_registry_handler(reg, "nomagic"));
    free(ini);
    free(path);
}
END_TEST

START_TEST(test_missing_init)
{
    char *path = plugin_so("noinit");
    char *ini = pmq_asprintf("[plugin noinit]\npath = %s\n", path);
    load(ini);
    ck_assert_uint_eq(errs.count, 1);
    check_refused("noinit", path, "missing entry point \"pmq_plugin_init\"");
    free(ini);
    free(path);
}
END_TEST

START_TEST(test_abi_major_mismatch)
{
    char *path = plugin_so("abi2");
    char *ini = pmq_asprintf("[plugin abi2]\npath = %s\n", path);
    load(ini);
    ck_assert_uint_eq(errs.count, 1);
    const pmq_error *e = check_refused("abi2", path, "ABI version mismatch");
    char *detail = pmq_asprintf("The plugin was built for ABI 2.0; this pmqd provides ABI %d.%d.",
                                PMQ_ABI_MAJOR, PMQ_ABI_MINOR);
    ck_assert_ptr_nonnull(e->detail);
    ck_assert_str_eq(e->detail, detail);
    ck_assert_str_eq(e->hint, "Rebuild the plugin against the installed <pmq/plugin.h>.");
    /* init was never called: the queue it would register is absent */
    ck_assert_ptr_null(pmq_registry_handler(reg, "abi2"));
    free(detail);
    free(ini);
    free(path);
}
END_TEST

START_TEST(test_abi_minor_newer)
{
    char *path = plugin_so("newminor");
    char *ini = pmq_asprintf("[plugin newminor]\npath = %s\n", path);
    load(ini);
    ck_assert_uint_eq(errs.count, 1);
    const pmq_error *e = check_refused("newminor", path, "built for a newer ABI");
    char *plugin_abi = abi_text(PMQ_ABI_MAJOR, PMQ_ABI_MINOR + 1);
    char *host_abi = abi_text(PMQ_ABI_MAJOR, PMQ_ABI_MINOR);
    ck_assert_ptr_nonnull(e->detail);
    ck_assert_msg(strstr(e->detail, plugin_abi) && strstr(e->detail, host_abi),
                  "DETAIL \"%s\" lacks \"%s\" or \"%s\"", e->detail, plugin_abi, host_abi);
    ck_assert_ptr_null(pmq_registry_handler(reg, "newminor"));
    free(plugin_abi);
    free(host_abi);
    free(ini);
    free(path);
}
END_TEST

START_TEST(test_duplicate_queue)
{
    char *good = plugin_so("good"), *dup = plugin_so("dupqueue");
    char *ini =
        pmq_asprintf("[plugin good]\npath = %s\n\n[plugin dupqueue]\npath = %s\n", good, dup);
    load(ini);
    ck_assert_uint_eq(errs.count, 1);
    const pmq_error *e = check_refused("dupqueue", dup, "duplicate queue \"good-b\"");
    char *detail = pmq_asprintf("Queue \"good-b\" is already served by plugin \"good\" from \"%s\".",
                                good);
    ck_assert_ptr_nonnull(e->detail);
    ck_assert_str_eq(e->detail, detail);
    /* good keeps its queues; dupqueue's own queue went with it */
    ck_assert_uint_eq(pmq_registry_queue_count(reg), 2);
    ck_assert_str_eq(pmq_plugin_name(pmq_registry_handler(reg, "good-b")->plugin), "good");
    ck_assert_ptr_null(pmq_registry_handler(reg, "dup-own"));
    free(detail);
    free(ini);
    free(good);
    free(dup);
}
END_TEST

/*
 * A queue name is refused unless it follows the INI's rule (config.h): what
 * a plugin registers becomes a job_queues row, Redis keys and a line of
 * `pmqctl stats`.  The message stays on one line whatever the name holds.
 */
START_TEST(test_invalid_queue_name)
{
    static const char *const shown[] = {
        "mail\\x0aqueue", "mail queue", "mail{1}", "mail*", "mail\\\"q",
        "q123456789012345678901234567890123456789012345678901234567890123",
    };
    char *bad = plugin_so("badqueue"), *good = plugin_so("good");
    for (int i = 0; i < (int)(sizeof shown / sizeof *shown); i++) {
        char *ini = pmq_asprintf("[plugin good]\npath = %s\n\n[plugin badqueue]\npath = %s\n"
                                 "which = %d\n",
                                 good, bad, i);
        load(ini);
        ck_assert_uint_eq(errs.count, 1);
        char *why = pmq_asprintf("invalid queue name \"%s\"", shown[i]);
        const pmq_error *e = check_refused("badqueue", bad, why);
        ck_assert_ptr_null(strchr(e->message, '\n'));
        ck_assert_ptr_nonnull(e->detail);
        ck_assert_str_eq(e->detail, PMQ_QUEUE_NAME_DETAIL);
        /* good keeps its queues; badqueue's valid one went with it */
        ck_assert_uint_eq(pmq_registry_queue_count(reg), 2);
        ck_assert_ptr_null(pmq_registry_handler(reg, "badqueue-own"));
        free(why);
        free(ini);
        pmq_registry_free(reg);
        reg = NULL;
        pmq_config_free(cfg);
        cfg = NULL;
        pmq_errors_clear(&errs);
    }
    free(bad);
    free(good);
}
END_TEST

START_TEST(test_init_fails_with_reason)
{
    char *path = plugin_so("initfail");
    char *ini = pmq_asprintf("[plugin initfail]\npath = %s\n", path);
    load(ini);
    ck_assert_uint_eq(errs.count, 1);
    const pmq_error *e = check_refused("initfail", path, "initialization failed");
    ck_assert_ptr_nonnull(e->detail);
    ck_assert_str_eq(e->detail, "cannot reach the relay at smtp.invalid:25");
    free(ini);
    free(path);
}
END_TEST

START_TEST(test_init_fails_without_reason)
{
    char *path = plugin_so("initfail");
    char *ini = pmq_asprintf("[plugin initfail]\npath = %s\nsilent = 1\n", path);
    load(ini);
    ck_assert_uint_eq(errs.count, 1);
    const pmq_error *e = check_refused("initfail", path, "initialization failed");
    ck_assert_ptr_nonnull(e->detail);
    ck_assert_str_eq(e->detail, "pmq_plugin_init returned -1 without a reason");
    free(ini);
    free(path);
}
END_TEST

START_TEST(test_failed_init_is_rolled_back)
{
    char *rb = plugin_so("rollback"), *to = plugin_so("takeover"), *good = plugin_so("good");
    char *fini = in_tmp("fini.txt");
    char *ini = pmq_asprintf("[plugin good]\npath = %s\nfini_file = %s\n\n"
                             "[plugin rollback]\npath = %s\nfini_file = %s\n\n"
                             "[plugin takeover]\npath = %s\nfini_file = %s\n",
                             good, fini, rb, fini, to, fini);
    load(ini);
    ck_assert_uint_eq(errs.count, 1);
    const pmq_error *e = check_refused("rollback", rb, "initialization failed");
    ck_assert_str_eq(e->detail, "gave up after registering queue \"shared-q\"");

    /* the queue went back and another plugin took it */
    const pmq_queue_handler *h = pmq_registry_handler(reg, "shared-q");
    ck_assert_ptr_nonnull(h);
    ck_assert_str_eq(pmq_plugin_name(h->plugin), "takeover");
    ck_assert_str_eq(pmq_plugin_path(h->plugin), to);
    ck_assert_int_eq(h->thread_safe, 0);
    ck_assert_uint_eq(pmq_registry_queue_count(reg), 3);
    /* its migration is gone, good's remains */
    ck_assert_uint_eq(pmq_registry_migration_count(reg), 1);
    ck_assert_str_eq(pmq_registry_migration_at(reg, 0)->component, "good");

    /* the finis that remain run in reverse order of loading; rollback's never */
    pmq_registry_free(reg);
    reg = NULL;
    char *ran = read_file(fini);
    ck_assert_ptr_nonnull(ran);
    ck_assert_str_eq(ran, "fini takeover\nfini good 42\n");
    free(ran);
    free(ini);
    free(fini);
    free(good);
    free(rb);
    free(to);
}
END_TEST

START_TEST(test_failed_init_alone_leaves_nothing)
{
    char *rb = plugin_so("rollback");
    char *ini = pmq_asprintf("[plugin rollback]\npath = %s\n", rb);
    load(ini);
    ck_assert_uint_eq(errs.count, 1);
    ck_assert_uint_eq(pmq_registry_queue_count(reg), 0);
    ck_assert_uint_eq(pmq_registry_migration_count(reg), 0);
    ck_assert_ptr_null(pmq_registry_handler(reg, "shared-q"));
    free(ini);
    free(rb);
}
END_TEST

/* Every bad plugin at once: one error each, in order, and good still loads. */
START_TEST(test_bad_plugins_do_not_stop_good_ones)
{
    static const char *const bad[] = {"nomagic", "noinit", "abi2", "newminor",
                                      "initfail", "rollback"};
    enum { NBAD = sizeof bad / sizeof *bad };
    char *xso = in_tmp("x.so"), *ghost = in_tmp("ghost.so");
    write_file(xso, "not ELF\n");
    char *good = plugin_so("good"), *dup = plugin_so("dupqueue");
    char *buf = NULL;
    size_t len = 0;
    FILE *ini = open_memstream(&buf, &len);
    fprintf(ini, "[plugin ghost]\npath = %s\n\n[plugin x]\npath = %s\n\n", ghost, xso);
    for (int i = 0; i < NBAD; i++) {
        char *p = plugin_so(bad[i]);
        fprintf(ini, "[plugin %s]\npath = %s\n\n", bad[i], p);
        free(p);
    }
    fprintf(ini, "[plugin good]\npath = %s\n\n[plugin dupqueue]\npath = %s\n", good, dup);
    fclose(ini);
    load(buf);

    char *text = errors_text(&errs);
    ck_assert_msg(errs.count == NBAD + 3, "expected %d errors:\n%s", NBAD + 3, text);
    free(text);
    ck_assert_ptr_nonnull(strstr(errs.items[0].message, ghost));
    ck_assert_ptr_nonnull(strstr(errs.items[1].message, xso));
    for (int i = 0; i < NBAD; i++) {
        char *p = plugin_so(bad[i]);
        char *needle = pmq_asprintf("could not load plugin \"%s\" from \"%s\": ", bad[i], p);
        ck_assert_msg(strstr(errs.items[i + 2].message, needle), "error %d is \"%s\"", i + 2,
                      errs.items[i + 2].message);
        free(needle);
        free(p);
    }
    ck_assert_ptr_nonnull(strstr(errs.items[NBAD + 2].message, dup));
    ck_assert_uint_eq(pmq_registry_queue_count(reg), 2);
    ck_assert_ptr_nonnull(pmq_registry_handler(reg, "good-a"));
    ck_assert_ptr_nonnull(pmq_registry_handler(reg, "good-b"));
    free(buf);
    free(good);
    free(dup);
    free(xso);
    free(ghost);
}
END_TEST

/*--- the configuration cross-check ---*/

/*--- loading: the section keys a plugin declares (ABI 1.1) ---*/

/* Load test plugin `name` with the section's other lines `keys`. */
static void load_plugin_with(const char *name, const char *keys)
{
    char *path = plugin_so(name);
    char *ini = pmq_asprintf("[plugin %s]\npath = %s\n%s", name, path, keys);
    load(ini);
    free(ini);
    free(path);
}

/* The error about `key`, which must start "FILE:LINE: [plugin keys] " for line `line`. */
static const pmq_error *key_error_at(const char *key, int line)
{
    char *needle = pmq_asprintf("\"%s\"", key);
    char *where = pmq_asprintf("%s:%d: [plugin keys] ", ini_path, line);
    const pmq_error *e = error_with(needle);
    ck_assert_msg(!strncmp(e->message, where, strlen(where)), "\"%s\" does not start \"%s\"",
                  e->message, where);
    free(where);
    free(needle);
    return e;
}

START_TEST(test_declared_unknown_key_refused_with_hint)
{
    load_plugin_with("keys", "pauze = 2s\nfrobnicate = 1\n");
    ck_assert_uint_eq(errs.count, 2);
    const pmq_error *e = key_error_at("pauze", 3);
    ck_assert_str_eq(strstr(e->message, "] ") + 2, "unknown key \"pauze\"");
    ck_assert_ptr_nonnull(e->hint);
    ck_assert_str_eq(e->hint, "Did you mean \"pause\"?");
    /* nothing near: the hint lists what the plugin reads */
    e = key_error_at("frobnicate", 4);
    ck_assert_ptr_nonnull(e->hint);
    ck_assert_str_eq(e->hint, "Plugin \"keys\" reads \"path\", \"enabled\", \"greeting\", "
                              "\"pause\", \"limit\", \"buffer\", \"loud\".");
    /* refused before init: its queue is not there */
    ck_assert_ptr_null(pmq_registry_handler(reg, "keys"));
}
END_TEST

START_TEST(test_declared_bad_values_refused_with_file_line)
{
    load_plugin_with("keys", "pause = soon\nlimit = 11\nbuffer = 2M\nloud = maybe\n");
    ck_assert_uint_eq(errs.count, 4);
    const pmq_error *e = key_error_at("pause", 3);
    ck_assert_str_eq(strstr(e->message, "] ") + 2, "invalid value \"soon\" for \"pause\"");
    ck_assert_ptr_nonnull(e->detail);
    ck_assert_str_eq(e->detail, "A duration from 0 to 1m is expected, such as \"500ms\", \"30s\", "
                                "\"5m\" or \"2h\"; a bare number counts seconds.");
    ck_assert_ptr_nonnull(e->hint);
    ck_assert_str_eq(e->hint, "\"pause\": how long each job waits.");
    e = key_error_at("limit", 4);
    ck_assert_str_eq(e->detail, "An integer from 1 to 10 is expected.");
    ck_assert_ptr_nonnull(strstr(key_error_at("buffer", 5)->message, "invalid value \"2M\""));
    ck_assert_ptr_nonnull(strstr(key_error_at("loud", 6)->message, "invalid value \"maybe\""));
    ck_assert_ptr_null(pmq_registry_handler(reg, "keys"));
}
END_TEST

START_TEST(test_bad_key_declaration_refused)
{
    load_plugin_with("badkeys", "");
    ck_assert_uint_eq(errs.count, 1);
    char *path = plugin_so("badkeys");
    const pmq_error *e = check_refused("badkeys", path, "invalid key declaration");
    ck_assert_ptr_nonnull(e->detail);
    ck_assert_str_eq(e->detail,
                     "Key \"timeout\" has a default \"soon\" that its own rules refuse.");
    ck_assert_ptr_null(pmq_registry_handler(reg, "badkeys"));
    free(path);
}
END_TEST

START_TEST(test_abi10_plugin_loads_unchecked)
{
    load_plugin_with("abi10", "anything = goes\nwhatever = 1\n");
    char *text = errors_text(&errs);
    ck_assert_msg(errs.count == 0, "a 1.0 plugin was refused:\n%s", text);
    free(text);
    ck_assert_ptr_nonnull(pmq_registry_handler(reg, "abi10"));
}
END_TEST

START_TEST(test_check_config)
{
    char *good = plugin_so("good");
    char *ini = pmq_asprintf("[plugin good]\npath = %s\n\n"
                             "[queue good-a]\nmax_attempts = 5\n\n"
                             "[queue foo]\nmax_attempts = 2\n\n"
                             "[queue good-c]\n\n"
                             "[pool main]\nqueues = good-a, good-b, bar\n",
                             good);
    load(ini);
    ck_assert_uint_eq(errs.count, 0);
    pmq_registry_check_config(reg, cfg, &errs);
    char *text = errors_text(&errs);
    ck_assert_msg(errs.count == 3, "expected 3 errors:\n%s", text);
    free(text);

    const pmq_queue_config *foo = pmq_config_queue(cfg, "foo");
    ck_assert_ptr_nonnull(foo);
    char *expect = pmq_asprintf("%s:%d: [queue foo] no plugin serves queue \"foo\"",
                                foo->origin.file, foo->origin.line);
    const pmq_error *e = error_with("\"foo\"");
    ck_assert_str_eq(e->message, expect);
    ck_assert_ptr_nonnull(e->hint);
    free(expect);

    /* a near miss gets a suggestion */
    e = error_with("[queue good-c]");
    ck_assert_ptr_nonnull(e->hint);
    ck_assert_msg(strncmp(e->hint, "Did you mean \"good-", 19) == 0, "HINT: %s", e->hint);

    ck_assert_uint_eq(cfg->npools, 1);
    expect = pmq_asprintf("%s:%d: [pool main] no plugin serves queue \"bar\"",
                          cfg->pools[0].origin.file, cfg->pools[0].origin.line);
    e = error_with("\"bar\"");
    ck_assert_str_eq(e->message, expect);
    free(expect);
    free(ini);
    free(good);
}
END_TEST

START_TEST(test_check_config_without_plugins)
{
    load("[queue lonely]\n");
    pmq_registry_check_config(reg, cfg, &errs);
    ck_assert_uint_eq(errs.count, 1);
    error_with("no plugin serves queue \"lonely\"");
}
END_TEST

START_TEST(test_check_config_quiet_when_served)
{
    char *good = plugin_so("good");
    char *ini = pmq_asprintf("[plugin good]\npath = %s\n\n[queue good-a]\n\n[queue good-b]\n\n"
                             "[pool main]\nqueues = good-a, good-b\n",
                             good);
    load(ini);
    pmq_registry_check_config(reg, cfg, &errs);
    char *text = errors_text(&errs);
    ck_assert_msg(errs.count == 0, "unexpected errors:\n%s", text);
    free(text);
    free(ini);
    free(good);
}
END_TEST

/*--- the host table ---*/

START_TEST(test_host_table)
{
    const pmq_api *api = pmq_host_api();
    ck_assert_ptr_nonnull(api);
    ck_assert_ptr_eq(api, pmq_host_api());
    ck_assert_uint_eq(api->size, sizeof(pmq_api));
    ck_assert_int_eq(api->abi_major, PMQ_ABI_MAJOR);
    ck_assert_int_eq(api->abi_minor, PMQ_ABI_MINOR);

    /* every slot after the header is filled */
    const char *p = (const char *)api + offsetof(pmq_api, register_queue);
    const char *end = (const char *)api + sizeof *api;
    for (int i = 0; p + sizeof(void (*)(void)) <= end; p += sizeof(void (*)(void)), i++) {
        void (*fn)(void);
        memcpy(&fn, p, sizeof fn);
        ck_assert_msg(fn != NULL, "function %d of pmq_api is NULL", i);
    }

    ck_assert(PMQ_API_HAS(api, cancelled));
    ck_assert(PMQ_API_HAS(api, register_queue));
    /* an older host's shorter table lacks the last function */
    pmq_api older = *api;
    older.size = offsetof(pmq_api, cancelled);
    ck_assert(!PMQ_API_HAS(&older, cancelled));
    ck_assert(PMQ_API_HAS(&older, pg));
    older.size = sizeof older;
    older.pg = NULL;
    ck_assert(!PMQ_API_HAS(&older, pg));
}
END_TEST

START_TEST(test_register_outside_init_fails)
{
    const pmq_api *api = pmq_host_api();
    char *good = plugin_so("good");
    char *ini = pmq_asprintf("[plugin good]\npath = %s\n", good);
    load(ini);
    ck_assert_uint_eq(errs.count, 0);
    /* the host handle a plugin keeps is refused after init */
    const pmq_queue_handler *a = pmq_registry_handler(reg, "good-a");
    pmq_host *host = (pmq_host *)a->plugin;
    ck_assert_int_eq(api->register_queue(host, "late", a->handler, NULL), -1);
    ck_assert_int_eq(api->register_migration(host, 5, "late", "SELECT 1"), -1);
    ck_assert_ptr_null(pmq_registry_handler(reg, "late"));
    ck_assert_uint_eq(pmq_registry_migration_count(reg), 1);
    free(ini);
    free(good);
}
END_TEST

/*--- driving a handler by hand ---*/

static pmq_job job;
static pmq_ctx ctx;
static pmq_ctx_env env;

static void make_job(const char *queue, const char *payload)
{
    memset(&job, 0, sizeof job);
    snprintf(job.id, sizeof job.id, "%s", "0b4f6c3e-9a51-4c1e-8f55-3c2b8e0d7a11");
    job.queue = pmq_xstrdup(queue);
    job.attempt = 2;
    job.max_attempts = 5;
    job.priority = 10;
    job.tenant = pmq_xstrdup("acme");
    job.payload = pmq_xstrdup(payload);
    job.payload_len = strlen(payload);
    job.created_at = 1700000000;
    memset(&env, 0, sizeof env);
    pmq_ctx_init(&ctx, &job, &env);
}

static void drop_job(void)
{
    pmq_ctx_reset(&ctx);
    pmq_ctx_env_close(&env);
    pmq_job_clear(&job);
}

static void load_good(void)
{
    char *good = plugin_so("good");
    char *ini = pmq_asprintf("[plugin good]\npath = %s\ngreeting = hi\n", good);
    load(ini);
    ck_assert_uint_eq(errs.count, 0);
    free(ini);
    free(good);
}

static pmq_status run(const char *queue, const char *payload)
{
    make_job(queue, payload);
    const pmq_queue_handler *h = pmq_registry_handler(reg, queue);
    ck_assert_ptr_nonnull(h);
    return h->handler(&ctx, &job, h->state);
}

static void assert_log_has(const char *line)
{
    ck_assert_msg(ctx.log && strstr(ctx.log, line), "audit trail lacks \"%s\":\n%s", line,
                  ctx.log ? ctx.log : "(empty)");
}

START_TEST(test_ctx_init_and_reset)
{
    memset(&job, 0, sizeof job);
    memset(&ctx, 0x5a, sizeof ctx);
    pmq_ctx_init(&ctx, &job, &env);
    ck_assert_ptr_eq(ctx.job, &job);
    ck_assert_ptr_eq(ctx.env, &env);
    ck_assert_ptr_null(ctx.log);
    ck_assert_uint_eq(ctx.log_len, 0);
    ck_assert_ptr_null(ctx.error);
    ck_assert_int_eq(ctx.retry_delay_ms, -1);
    ck_assert(ctx.progress < 0);
    ck_assert_int_eq(ctx.cancelled, 0);

    const pmq_api *api = pmq_host_api();
    api->log(&ctx, "one");
    api->set_error(&ctx, "bad");
    api->retry_after(&ctx, 5);
    api->progress(&ctx, 0.5);
    pmq_ctx_reset(&ctx);
    ck_assert_ptr_eq(ctx.job, &job);
    ck_assert_ptr_null(ctx.log);
    ck_assert_uint_eq(ctx.log_len, 0);
    ck_assert_ptr_null(ctx.error);
    ck_assert_int_eq(ctx.retry_delay_ms, -1);
    ck_assert(ctx.progress < 0);
}
END_TEST

START_TEST(test_handler_done)
{
    load_good();
    const char *payload = "{\"outcome\": \"done\", \"progress\": 0.25}";
    ck_assert_int_eq(run("good-a", payload), PMQ_DONE);
    assert_log_has("hi from queue good-a, job 0b4f6c3e-9a51-4c1e-8f55-3c2b8e0d7a11, attempt 2 of "
                   "5, priority 10, tenant acme, state 42\n");
    char *line = pmq_asprintf("payload %zu bytes: %s, created at 1700000000\n", strlen(payload),
                              payload);
    assert_log_has(line);
    free(line);
    ck_assert_uint_eq(ctx.log_len, strlen(ctx.log));
    ck_assert_ptr_null(ctx.error);
    ck_assert_int_eq(ctx.retry_delay_ms, -1);
    ck_assert_double_eq(ctx.progress, 0.25);
    /* parsed once, cached in the job, freed by pmq_job_clear */
    ck_assert_ptr_nonnull(job.payload_json);
    ck_assert_str_eq(json_object_get_string(json_object_object_get(job.payload_json, "outcome")),
                     "done");
    drop_job();
    ck_assert_ptr_null(job.payload_json);
    ck_assert_ptr_null(job.payload);
}
END_TEST

START_TEST(test_handler_retry)
{
    load_good();
    ck_assert_int_eq(run("good-b", "{\"outcome\": \"retry\", \"delay\": 2500}"), PMQ_RETRY);
    ck_assert_str_eq(ctx.error, "asked to retry");
    ck_assert_int_eq(ctx.retry_delay_ms, 2500);
    assert_log_has("hi from queue good-b,");
    drop_job();

    /* a negative delay means "at once" */
    ck_assert_int_eq(run("good-b", "{\"outcome\": \"retry\", \"delay\": -40}"), PMQ_RETRY);
    ck_assert_int_eq(ctx.retry_delay_ms, 0);
    drop_job();

    /* no delay asked: the queue's back-off */
    ck_assert_int_eq(run("good-b", "{\"outcome\": \"retry\"}"), PMQ_RETRY);
    ck_assert_int_eq(ctx.retry_delay_ms, -1);
    drop_job();
}
END_TEST

START_TEST(test_handler_fail)
{
    load_good();
    ck_assert_int_eq(run("good-a", "{\"outcome\": \"fail\", \"reason\": \"bounced\", "
                                   "\"progress\": 7}"),
                     PMQ_FAIL);
    ck_assert_str_eq(ctx.error, "asked to fail: bounced");
    ck_assert_double_eq(ctx.progress, 1.0);
    drop_job();

    ck_assert_int_eq(run("good-a", "{\"outcome\": \"done\", \"progress\": -3}"), PMQ_DONE);
    ck_assert_double_eq(ctx.progress, 0.0);
    drop_job();
}
END_TEST

START_TEST(test_handler_bad_payload)
{
    load_good();
    ck_assert_int_eq(run("good-a", "{\"outcome\": "), PMQ_FAIL);
    ck_assert_str_eq(ctx.error, "payload is not JSON");
    ck_assert_ptr_null(job.payload_json);
    drop_job();

    /* trailing garbage is not a JSON object either */
    make_job("good-a", "{\"a\": 1} x");
    ck_assert_ptr_null(pmq_host_api()->job_payload_json(&job));
    drop_job();

    /* the payload length is the job's, not strlen()'s */
    make_job("good-a", "{\"a\": 1}");
    job.payload_len = 4;
    size_t len = 0;
    ck_assert_ptr_eq(pmq_host_api()->job_payload(&job, &len), job.payload);
    ck_assert_uint_eq(len, 4);
    ck_assert_ptr_null(pmq_host_api()->job_payload_json(&job));
    drop_job();
}
END_TEST

START_TEST(test_handler_cancelled)
{
    load_good();
    make_job("good-a", "{}");
    ctx.cancelled = 1;
    const pmq_queue_handler *h = pmq_registry_handler(reg, "good-a");
    ck_assert_int_eq(h->handler(&ctx, &job, h->state), PMQ_FAIL);
    ck_assert_str_eq(ctx.error, "cancelled by an operator");
    drop_job();
}
END_TEST

START_TEST(test_handler_config_and_late_registration)
{
    load_good();
    ck_assert_int_eq(run("good-a", "{\"config\": \"greeting\", \"late_register\": true}"),
                     PMQ_DONE);
    assert_log_has("config greeting = hi\n");
    assert_log_has("late registration: queue -1, fini -1, migration -1\n");
    ck_assert_ptr_null(pmq_registry_handler(reg, "late"));
    ck_assert_uint_eq(pmq_registry_queue_count(reg), 2);
    drop_job();

    ck_assert_int_eq(run("good-a", "{\"config\": \"nope\"}"), PMQ_DONE);
    assert_log_has("config nope = (null)\n");
    drop_job();
}
END_TEST

/*
 * Load test plugin `name` with the section's other lines `keys` (it must be
 * accepted), run its queue `name` once, and check that the audit trail
 * holds `expect`.
 */
static void run_plugin_with(const char *name, const char *keys, const char *expect)
{
    load_plugin_with(name, keys);
    char *text = errors_text(&errs);
    ck_assert_msg(errs.count == 0, "plugin \"%s\" was refused:\n%s", name, text);
    free(text);
    ck_assert_int_eq(run(name, "{}"), PMQ_DONE);
    assert_log_has(expect);
    drop_job();
}

START_TEST(test_declared_keys_read_through_the_host)
{
    run_plugin_with("keys", "greeting = hi\npause = 1500ms\nlimit = 7\nbuffer = 64k\nloud = yes\n",
                    "greeting=hi\npause=1500\nlimit=7\nbuffer=65536\nloud=1\n"
                    "greeting=unset\nundeclared=unset\n");
}
END_TEST

/* Unset keys read as their defaults; a bare duration counts the key's unit (seconds). */
START_TEST(test_declared_keys_defaults)
{
    run_plugin_with("keys", "pause = 3\n",
                    "greeting=hello\npause=3000\nlimit=5\nbuffer=unset\nloud=0\n");
}
END_TEST

/* A 1.0 plugin reads any key of its section, unchecked. */
START_TEST(test_abi10_plugin_reads_any_key)
{
    run_plugin_with("abi10", "anything = goes\n", "anything=goes\n");
}
END_TEST

/* The host's parsers in the table read what pmqd's INI files say. */
START_TEST(test_host_parsers)
{
    const pmq_api *api = pmq_host_api();
    int64_t v = -7;
    int b = -7;
    ck_assert_int_eq(api->parse_duration_ms("2m", 1000, &v), 0);
    ck_assert_int_eq(v, 120000);
    ck_assert_int_eq(api->parse_duration_ms("5", 1000, &v), 0);
    ck_assert_int_eq(v, 5000);
    ck_assert_int_eq(api->parse_duration_ms("1500ms", 1, &v), 0);
    ck_assert_int_eq(v, 1500);
    ck_assert_int_eq(api->parse_duration_ms("1d", 1, &v), 0);
    ck_assert_int_eq(v, 86400000);
    v = -7;
    ck_assert_int_eq(api->parse_duration_ms("soon", 1000, &v), -1);
    ck_assert_int_eq(api->parse_duration_ms("-1s", 1000, &v), -1);
    ck_assert_int_eq(api->parse_duration_ms("30 s", 1000, &v), -1);
    ck_assert_int_eq(api->parse_duration_ms(NULL, 1000, &v), -1);
    ck_assert_int_eq(api->parse_duration_ms("5", 0, &v), -1);
    ck_assert_int_eq(v, -7);

    ck_assert_int_eq(api->parse_bytes("64k", 1 << 20, &v), 0);
    ck_assert_int_eq(v, 65536);
    ck_assert_int_eq(api->parse_bytes("2M", 1 << 20, &v), -1);
    ck_assert_int_eq(api->parse_bytes(NULL, 1 << 20, &v), -1);
    ck_assert_int_eq(api->parse_int("-12", -100, 100, &v), 0);
    ck_assert_int_eq(v, -12);
    ck_assert_int_eq(api->parse_int("101", -100, 100, &v), -1);
    ck_assert_int_eq(api->parse_int("12x", -100, 100, &v), -1);
    ck_assert_int_eq(api->parse_bool("On", &b), 0);
    ck_assert_int_eq(b, 1);
    ck_assert_int_eq(api->parse_bool("off", &b), 0);
    ck_assert_int_eq(b, 0);
    ck_assert_int_eq(api->parse_bool("maybe", &b), -1);
    ck_assert_int_eq(api->parse_bool(NULL, &b), -1);
}
END_TEST

START_TEST(test_job_accessors)
{
    const pmq_api *api = pmq_host_api();
    make_job("q1", "{\"k\": [1, 2]}");
    ck_assert_str_eq(api->job_id(&job), "0b4f6c3e-9a51-4c1e-8f55-3c2b8e0d7a11");
    ck_assert_str_eq(api->job_queue(&job), "q1");
    ck_assert_int_eq(api->job_attempt(&job), 2);
    ck_assert_int_eq(api->job_max_attempts(&job), 5);
    ck_assert_int_eq(api->job_priority(&job), 10);
    ck_assert_str_eq(api->job_tenant(&job), "acme");
    ck_assert_int_eq(api->job_created_at(&job), 1700000000);
    size_t len = 0;
    ck_assert_str_eq(api->job_payload(&job, &len), "{\"k\": [1, 2]}");
    ck_assert_uint_eq(len, 13);
    ck_assert_ptr_nonnull(api->job_payload(&job, NULL));
    struct json_object *o = api->job_payload_json(&job);
    ck_assert_ptr_nonnull(o);
    ck_assert_ptr_eq(api->job_payload_json(&job), o);
    ck_assert_int_eq(json_object_array_length(json_object_object_get(o, "k")), 2);
    free(job.tenant);
    job.tenant = NULL;
    ck_assert_ptr_null(api->job_tenant(&job));
    drop_job();
}
END_TEST

/*
 * Deeper than json-c's default 32 levels: PostgreSQL stores such payloads
 * (about 13,000 levels of objects with its defaults), so the handler must
 * get them parsed, not NULL.
 */
START_TEST(test_deep_payload_json)
{
    const pmq_api *api = pmq_host_api();
    const int depth = 13000;
    size_t cap = (size_t)depth * 6 + 64, n = 0;
    char *text = pmq_xmalloc(cap);
    for (int i = 0; i < depth; i++)
        n += (size_t)snprintf(text + n, cap - n, "{\"a\":");
    n += (size_t)snprintf(text + n, cap - n, "\"}{[\\\"\"");
    for (int i = 0; i < depth; i++)
        text[n++] = '}';
    text[n] = '\0';
    make_job("q1", text);
    struct json_object *o = api->job_payload_json(&job);
    ck_assert_ptr_nonnull(o);
    for (int i = 1; i < depth; i++)
        o = json_object_object_get(o, "a");
    ck_assert_str_eq(json_object_get_string(json_object_object_get(o, "a")), "}{[\"");
    drop_job();
    free(text);

    /* Invalid JSON stays NULL, deep or not. */
    make_job("q1", "{\"a\":[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[}");
    ck_assert_ptr_null(api->job_payload_json(&job));
    drop_job();
}
END_TEST

START_TEST(test_ctx_log_and_error)
{
    const pmq_api *api = pmq_host_api();
    make_job("q1", "{}");
    api->log(&ctx, "first %d", 1);
    api->log(&ctx, "two\nlines");
    ck_assert_str_eq(ctx.log, "first 1\ntwo lines\n");
    ck_assert_uint_eq(ctx.log_len, strlen(ctx.log));
    api->set_error(&ctx, "first error");
    api->set_error(&ctx, "second error %s", "wins");
    ck_assert_str_eq(ctx.error, "second error wins");
    api->progress(&ctx, NAN);
    ck_assert_double_eq(ctx.progress, 0.0);
    ck_assert_int_eq(api->cancelled(&ctx), 0);
    ctx.cancelled = 1;
    ck_assert_int_ne(api->cancelled(&ctx), 0);
    drop_job();

    /* a handler logging in a loop gets a bounded trail that says so */
    make_job("q1", "{}");
    char chunk[101];
    memset(chunk, 'x', 100);
    chunk[100] = '\0';
    for (int i = 0; i < 5000; i++)
        api->log(&ctx, "%s", chunk);
    ck_assert_uint_le(ctx.log_len, 64 * 1024);
    ck_assert_uint_ge(ctx.log_len, 60 * 1024);
    ck_assert_uint_eq(ctx.log_len, strlen(ctx.log));
    const char *tail = "(audit trail truncated)\n";
    ck_assert_str_eq(ctx.log + ctx.log_len - strlen(tail), tail);
    drop_job();

    /* one huge line is cut, not dropped */
    make_job("q1", "{}");
    char *huge = pmq_xmalloc(100001);
    memset(huge, 'y', 100000);
    huge[100000] = '\0';
    api->log(&ctx, "%s", huge);
    api->log(&ctx, "after");
    free(huge);
    ck_assert_uint_le(ctx.log_len, 64 * 1024);
    ck_assert(ctx.log[0] == 'y');
    ck_assert_str_eq(ctx.log + ctx.log_len - strlen(tail), tail);
    ck_assert_ptr_null(strstr(ctx.log, "after"));
    drop_job();
}
END_TEST

START_TEST(test_enqueue_without_server)
{
    load_good();
    make_job("good-a", "{\"enqueue\": \"good-b\"}");
    /* a socket directory that does not exist: fails at once */
    char *conninfo = pmq_asprintf("host=%s/nowhere port=1 connect_timeout=2", tmpdir);
    env.conninfo = conninfo;
    const pmq_queue_handler *h = pmq_registry_handler(reg, "good-a");
    ck_assert_int_eq(h->handler(&ctx, &job, h->state), PMQ_RETRY);
    assert_log_has("could not connect to PostgreSQL: ");
    assert_log_has("enqueue returned -1, id \"\"\n");
    ck_assert_ptr_nonnull(ctx.error);
    ck_assert_msg(strstr(ctx.error, "could not enqueue on queue \"good-b\""), "error: %s",
                  ctx.error);
    ck_assert_ptr_null(pmq_host_api()->pg(&ctx));
    drop_job();
    ck_assert_ptr_null(env.plugin_conn);
    free(conninfo);
}
END_TEST

/* A delay past the rule (config.h) is refused before any SQL, in its words. */
START_TEST(test_enqueue_refuses_huge_delay)
{
    make_job("q1", "{}");
    pmq_enqueue_opts opts = PMQ_ENQUEUE_OPTS_INIT;
    opts.delay_ms = INT64_MAX;
    ck_assert_int_eq(pmq_host_api()->enqueue(&ctx, "q2", "{}", &opts, NULL), -1);
    ck_assert_ptr_nonnull(ctx.error);
    ck_assert_str_eq(ctx.error, "could not enqueue on queue \"q2\": delay must be at most 3650d");
    ck_assert_ptr_null(env.plugin_conn);
    drop_job();
}
END_TEST

/*--- enqueue and pg against a real PostgreSQL ---*/

static char *servers_dir;
static char *pg_conninfo;

/* Start a private server with scripts/pmq-servers; NULL (test skipped) without one. */
static int start_servers(void)
{
    const char *script = getenv("PMQ_SERVERS");
    if (!script || !*script)
        return -1;
    /* its own directory: PostgreSQL's user cannot enter the test's 0700 tmpdir */
    servers_dir = pmq_xstrdup("/tmp/pmq-loader-pg-XXXXXX");
    ck_assert_msg(mkdtemp(servers_dir) != NULL, "mkdtemp: %s", strerror(errno));
    char *cmd = pmq_asprintf("'%s' start '%s' --watch %d 2>&1", script, servers_dir, (int)getpid());
    FILE *out = popen(cmd, "r");
    ck_assert_ptr_nonnull(out);
    char line[1024], all[8192] = "";
    while (fgets(line, sizeof line, out)) {
        strncat(all, line, sizeof all - strlen(all) - 1);
        if (!strncmp(line, "PMQ_PG_CONNINFO='", 17)) {
            char *v = line + 17, *q = strrchr(v, '\'');
            if (q)
                *q = '\0';
            pg_conninfo = pmq_xstrdup(v);
        }
    }
    int st = pclose(out);
    free(cmd);
    ck_assert_msg(WIFEXITED(st) && WEXITSTATUS(st) == 0 && pg_conninfo, "pmq-servers failed:\n%s",
                  all);
    return 0;
}

static void stop_servers(void)
{
    if (!servers_dir)
        return;
    char *cmd = pmq_asprintf("'%s' stop '%s' >/dev/null 2>&1", getenv("PMQ_SERVERS"), servers_dir);
    int rc = system(cmd);
    (void)rc;
    free(cmd);
    nftw(servers_dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
    free(servers_dir);
    free(pg_conninfo);
    servers_dir = pg_conninfo = NULL;
}

static PGresult *sql(PGconn *c, const char *q, ExecStatusType want)
{
    PGresult *r = PQexec(c, q);
    ck_assert_msg(PQresultStatus(r) == want, "%s: %s", q, PQerrorMessage(c));
    return r;
}

START_TEST(test_enqueue_and_pg)
{
    if (start_servers() != 0) {
        fputs("test_enqueue_and_pg: PMQ_SERVERS not set, skipped\n", stderr);
        return;
    }
    /* the core schema, straight from sql/ */
    const char *src = getenv("top_srcdir");
    char *schema_path = pmq_asprintf("%s/sql/001_init.sql", src && *src ? src : "..");
    char *schema = read_file(schema_path);
    ck_assert_msg(schema != NULL, "cannot read %s", schema_path);
    PGconn *admin = PQconnectdb(pg_conninfo);
    ck_assert_msg(PQstatus(admin) == CONNECTION_OK, "%s", PQerrorMessage(admin));
    PQclear(sql(admin, schema, PGRES_COMMAND_OK));
    PQclear(sql(admin,
                "INSERT INTO job_queues (name, default_priority, max_attempts) "
                "VALUES ('good-b', 77, 4)",
                PGRES_COMMAND_OK));

    load_good();
    make_job("good-a", "{\"enqueue\": \"good-b\"}");
    env.conninfo = pg_conninfo;
    const pmq_api *api = pmq_host_api();

    /* pg(): opened once, then reused */
    PGconn *c = api->pg(&ctx);
    ck_assert_ptr_nonnull(c);
    ck_assert_ptr_eq(api->pg(&ctx), c);
    ck_assert_ptr_eq(env.plugin_conn, c);

    /* through the plugin: defaults for priority and attempts, the job's tenant */
    const pmq_queue_handler *h = pmq_registry_handler(reg, "good-a");
    ck_assert_int_eq(h->handler(&ctx, &job, h->state), PMQ_DONE);
    assert_log_has("enqueue returned 0, id \"");
    const char *id = strstr(ctx.log, "enqueue returned 0, id \"") + 24;
    char *q = pmq_asprintf("SELECT queue_name, payload->>'from', priority, max_attempts, "
                           "tenant_id, unique_key IS NULL, run_at > now() + interval '500 ms' "
                           "FROM jobs WHERE id = '%.36s'",
                           id);
    PGresult *r = sql(admin, q, PGRES_TUPLES_OK);
    free(q);
    ck_assert_int_eq(PQntuples(r), 1);
    ck_assert_str_eq(PQgetvalue(r, 0, 0), "good-b");
    ck_assert_str_eq(PQgetvalue(r, 0, 1), "good");
    ck_assert_str_eq(PQgetvalue(r, 0, 2), "77");
    ck_assert_str_eq(PQgetvalue(r, 0, 3), "4");
    ck_assert_str_eq(PQgetvalue(r, 0, 4), "acme");
    ck_assert_str_eq(PQgetvalue(r, 0, 5), "t");
    ck_assert_str_eq(PQgetvalue(r, 0, 6), "t");
    PQclear(r);

    /* every option, then an older, shorter opts: fields past its size are not read */
    char idbuf[37];
    pmq_enqueue_opts opts = PMQ_ENQUEUE_OPTS_INIT;
    opts.priority = 5;
    opts.max_attempts = 9;
    opts.unique_key = "k1";
    opts.tenant_id = "other";
    ck_assert_int_eq(api->enqueue(&ctx, "good-b", "{\"n\": 1}", &opts, idbuf), 0);
    ck_assert_uint_eq(strlen(idbuf), 36);
    q = pmq_asprintf("SELECT priority, max_attempts, unique_key, tenant_id, run_at <= now() "
                     "FROM jobs WHERE id = '%s'",
                     idbuf);
    r = sql(admin, q, PGRES_TUPLES_OK);
    free(q);
    ck_assert_int_eq(PQntuples(r), 1);
    ck_assert_str_eq(PQgetvalue(r, 0, 0), "5");
    ck_assert_str_eq(PQgetvalue(r, 0, 1), "9");
    ck_assert_str_eq(PQgetvalue(r, 0, 2), "k1");
    ck_assert_str_eq(PQgetvalue(r, 0, 3), "other");
    ck_assert_str_eq(PQgetvalue(r, 0, 4), "t");
    PQclear(r);

    opts.size = offsetof(pmq_enqueue_opts, unique_key);
    opts.unique_key = "must-not-be-read";
    opts.tenant_id = "must-not-be-read";
    ck_assert_int_eq(api->enqueue(&ctx, "good-b", "{\"n\": 2}", &opts, idbuf), 0);
    q = pmq_asprintf("SELECT unique_key IS NULL, tenant_id FROM jobs WHERE id = '%s'", idbuf);
    r = sql(admin, q, PGRES_TUPLES_OK);
    free(q);
    ck_assert_str_eq(PQgetvalue(r, 0, 0), "t");
    ck_assert_str_eq(PQgetvalue(r, 0, 1), "acme");
    PQclear(r);

    /* a server error: logged, recorded as the error, -1 */
    free(ctx.error);
    ctx.error = NULL;
    ck_assert_int_eq(api->enqueue(&ctx, "no-such-queue", "{}", NULL, NULL), -1);
    ck_assert_ptr_nonnull(ctx.error);
    ck_assert_msg(strstr(ctx.error, "could not enqueue on queue \"no-such-queue\": "), "%s",
                  ctx.error);
    assert_log_has("enqueue on queue \"no-such-queue\" failed: ");
    ck_assert_int_eq(api->enqueue(&ctx, "good-b", "[1, 2]", NULL, NULL), -1);

    /* a broken connection is reset on the next pg() */
    r = sql(admin,
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            "WHERE pid <> pg_backend_pid() AND datname = current_database()",
            PGRES_TUPLES_OK);
    PQclear(r);
    PQclear(PQexec(c, "SELECT 1")); /* notices the loss */
    ck_assert_int_ne(PQstatus(c), CONNECTION_OK);
    c = api->pg(&ctx);
    ck_assert_ptr_nonnull(c);
    ck_assert_int_eq(PQstatus(c), CONNECTION_OK);
    ck_assert_int_eq(api->enqueue(&ctx, "good-b", "{}", NULL, NULL), 0);

    drop_job();
    PQfinish(admin);
    free(schema);
    free(schema_path);
    stop_servers();
}
END_TEST

/*--- the pmqd binary ---*/

/* Run pmqd with `args`; returns its exit status and its output (both streams). */
static int run_pmqd(const char *args, char **output)
{
    char *cmd = pmq_asprintf("'%s/core/pmqd' %s 2>&1", builddir(), args);
    FILE *p = popen(cmd, "r");
    ck_assert_ptr_nonnull(p);
    char *buf = NULL;
    size_t len = 0;
    FILE *mem = open_memstream(&buf, &len);
    int c;
    while ((c = fgetc(p)) != EOF)
        fputc(c, mem);
    fclose(mem);
    int st = pclose(p);
    free(cmd);
    *output = buf;
    ck_assert_msg(WIFEXITED(st), "pmqd %s did not exit normally:\n%s", args, buf);
    return WEXITSTATUS(st);
}

START_TEST(test_pmqd_version)
{
    char *out;
    ck_assert_int_eq(run_pmqd("--version", &out), 0);
    char *abi = abi_text(PMQ_ABI_MAJOR, PMQ_ABI_MINOR);
    ck_assert_msg(strstr(out, abi), "pmqd --version lacks \"%s\": %s", abi, out);
    free(abi);
    free(out);
}
END_TEST

/* `pmqd --check` on `ini` as pmqd.ini: its output (caller frees); it must exit `want`. */
static char *pmqd_check(const char *ini, int want)
{
    write_file(ini_path, ini);
    char *args = pmq_asprintf("--check -c '%s'", ini_path), *out;
    int rc = run_pmqd(args, &out);
    ck_assert_msg(rc == want, "pmqd --check exited %d, not %d:\n%s", rc, want, out);
    free(args);
    return out;
}

/* Each of the `n` strings of `expect` is in `out`; frees them. */
static void assert_output_has(const char *out, char **expect, int n)
{
    for (int i = 0; i < n; i++) {
        ck_assert_msg(strstr(out, expect[i]), "pmqd --check output lacks \"%s\":\n%s", expect[i],
                      out);
        free(expect[i]);
    }
}

START_TEST(test_pmqd_check_good)
{
    char *good = plugin_so("good");
    char *ini = pmq_asprintf("[plugin good]\npath = %s\n\n[queue good-a]\n\n"
                             "[pool main]\nqueues = good-a, good-b\n",
                             good);
    char *out = pmqd_check(ini, 0);
    ck_assert_msg(strstr(out, "is valid"), "%s", out);
    free(out);
    free(ini);
    free(good);
}
END_TEST

START_TEST(test_pmqd_check_reports_every_problem)
{
    char *good = plugin_so("good"), *abi2 = plugin_so("abi2"), *fail = plugin_so("initfail");
    char *ini = pmq_asprintf("[plugin abi2]\npath = %s\n\n[plugin good]\npath = %s\n\n"
                             "[plugin initfail]\npath = %s\n\n[queue unserved]\n",
                             abi2, good, fail);
    char *out = pmqd_check(ini, 1);
    char *expect[6];
    expect[0] = pmq_asprintf("could not load plugin \"abi2\" from \"%s\": ABI version mismatch",
                             abi2);
    expect[1] = pmq_asprintf("DETAIL: The plugin was built for ABI 2.0; this pmqd provides ABI "
                             "%d.%d.",
                             PMQ_ABI_MAJOR, PMQ_ABI_MINOR);
    expect[2] = pmq_asprintf("could not load plugin \"initfail\" from \"%s\": initialization "
                             "failed",
                             fail);
    expect[3] = pmq_asprintf("DETAIL: cannot reach the relay at smtp.invalid:25");
    expect[4] = pmq_asprintf("no plugin serves queue \"unserved\"");
    expect[5] = pmq_asprintf("%s:", ini_path); /* problems point into the file */
    assert_output_has(out, expect, 6);
    free(out);
    free(ini);
    free(good);
    free(abi2);
    free(fail);
}
END_TEST

/* A plugin's declared keys are checked by pmqd --check, each bad one at its line. */
START_TEST(test_pmqd_check_reports_plugin_keys)
{
    char *path = plugin_so("keys");
    char *ini = pmq_asprintf("[plugin keys]\npath = %s\npauze = 2s\nlimit = lots\n\n"
                             "[queue keys]\n",
                             path);
    char *out = pmqd_check(ini, 1);
    char *expect[4];
    expect[0] = pmq_asprintf("%s:3: [plugin keys] unknown key \"pauze\"", ini_path);
    expect[1] = pmq_asprintf("HINT: Did you mean \"pause\"?");
    expect[2] = pmq_asprintf("%s:4: [plugin keys] invalid value \"lots\" for \"limit\"", ini_path);
    expect[3] = pmq_asprintf("DETAIL: An integer from 1 to 10 is expected.");
    assert_output_has(out, expect, 4);
    free(out);
    free(ini);
    free(path);
}
END_TEST

static Suite *loader_suite(void)
{
    Suite *s = suite_create("loader");

    TCase *tc = tcase_create("load");
    tcase_add_unchecked_fixture(tc, setup_case, teardown_case);
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, test_good_plugin_loads);
    tcase_add_test(tc, test_relative_path_uses_plugin_dir);
    tcase_add_test(tc, test_disabled_plugin_is_skipped);
    tcase_add_test(tc, test_missing_file);
    tcase_add_test(tc, test_not_a_shared_object);
    tcase_add_test(tc, test_missing_magic);
    tcase_add_test(tc, test_missing_init);
    tcase_add_test(tc, test_abi_major_mismatch);
    tcase_add_test(tc, test_abi_minor_newer);
    tcase_add_test(tc, test_duplicate_queue);
    tcase_add_test(tc, test_invalid_queue_name);
    tcase_add_test(tc, test_init_fails_with_reason);
    tcase_add_test(tc, test_init_fails_without_reason);
    tcase_add_test(tc, test_failed_init_is_rolled_back);
    tcase_add_test(tc, test_failed_init_alone_leaves_nothing);
    tcase_add_test(tc, test_bad_plugins_do_not_stop_good_ones);
    tcase_add_test(tc, test_declared_unknown_key_refused_with_hint);
    tcase_add_test(tc, test_declared_bad_values_refused_with_file_line);
    tcase_add_test(tc, test_bad_key_declaration_refused);
    tcase_add_test(tc, test_abi10_plugin_loads_unchecked);
    tcase_add_test(tc, test_check_config);
    tcase_add_test(tc, test_check_config_without_plugins);
    tcase_add_test(tc, test_check_config_quiet_when_served);
    tcase_add_test(tc, test_register_outside_init_fails);
    suite_add_tcase(s, tc);

    tc = tcase_create("host_api");
    tcase_add_unchecked_fixture(tc, setup_case, teardown_case);
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, test_host_table);
    tcase_add_test(tc, test_ctx_init_and_reset);
    tcase_add_test(tc, test_job_accessors);
    tcase_add_test(tc, test_deep_payload_json);
    tcase_add_test(tc, test_ctx_log_and_error);
    tcase_add_test(tc, test_handler_done);
    tcase_add_test(tc, test_handler_retry);
    tcase_add_test(tc, test_handler_fail);
    tcase_add_test(tc, test_handler_bad_payload);
    tcase_add_test(tc, test_handler_cancelled);
    tcase_add_test(tc, test_handler_config_and_late_registration);
    tcase_add_test(tc, test_declared_keys_read_through_the_host);
    tcase_add_test(tc, test_declared_keys_defaults);
    tcase_add_test(tc, test_abi10_plugin_reads_any_key);
    tcase_add_test(tc, test_host_parsers);
    tcase_add_test(tc, test_enqueue_without_server);
    tcase_add_test(tc, test_enqueue_refuses_huge_delay);
    suite_add_tcase(s, tc);

    tc = tcase_create("postgres");
    tcase_add_unchecked_fixture(tc, setup_case, teardown_case);
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_enqueue_and_pg);
    suite_add_tcase(s, tc);

    tc = tcase_create("pmqd");
    tcase_add_unchecked_fixture(tc, setup_case, teardown_case);
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_pmqd_version);
    tcase_add_test(tc, test_pmqd_check_good);
    tcase_add_test(tc, test_pmqd_check_reports_every_problem);
    tcase_add_test(tc, test_pmqd_check_reports_plugin_keys);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(loader_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
