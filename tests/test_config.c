/*
 * test_config.c -- the configuration loader: every class of error with its
 * file and line, conf.d order, defaults, secrets, cron and JSON checks.
 */

#include <dirent.h>
#include <errno.h>
#include <ftw.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <check.h>
#include <libpq-fe.h>

#include "config.h"
#include "config_schema.h"
#include "daemon.h"
#include "errors.h"
#include "queue_settings.h"
#include "util.h"

/*--- scaffolding: a directory per test, files written by the tests ---*/

static char base_dir[] = "/tmp/pmq-test-config-XXXXXX";

/* What a test allocates, freed by the teardown (a failed test exits first). */
static pmq_config *cfg;
static pmq_errors errs = PMQ_ERRORS_INIT;
static char **garbage;
static size_t ngarbage;

static char *keep(char *s)
{
    garbage = pmq_xrealloc(garbage, (ngarbage + 1) * sizeof *garbage);
    garbage[ngarbage++] = s;
    return s;
}

static char *fmt(const char *f, ...) __attribute__((format(printf, 1, 2)));
static char *fmt(const char *f, ...)
{
    va_list ap;
    va_start(ap, f);
    char *s = pmq_vasprintf(f, ap);
    va_end(ap);
    return keep(s);
}

static void teardown(void)
{
    pmq_config_free(cfg);
    cfg = NULL;
    pmq_errors_clear(&errs);
    for (size_t i = 0; i < ngarbage; i++)
        free(garbage[i]);
    free(garbage);
    garbage = NULL;
    ngarbage = 0;
}

/* A fresh directory for this test. */
static char *new_dir(void)
{
    char *dir = fmt("%s/tXXXXXX", base_dir);
    ck_assert_msg(mkdtemp(dir) != NULL, "mkdtemp: %s", strerror(errno));
    return dir;
}

/* Write DIR/NAME (creating NAME's directories) and return its path. */
static char *write_file(const char *dir, const char *name, const char *text)
{
    char *path = fmt("%s/%s", dir, name);
    for (const char *slash = strchr(name, '/'); slash; slash = strchr(slash + 1, '/')) {
        char *sub = fmt("%s/%.*s", dir, (int)(slash - name), name);
        ck_assert_msg(mkdir(sub, 0700) == 0 || errno == EEXIST, "mkdir %s: %s", sub,
                      strerror(errno));
    }
    FILE *f = fopen(path, "w");
    ck_assert_msg(f != NULL, "cannot write %s: %s", path, strerror(errno));
    fputs(text, f);
    ck_assert(fclose(f) == 0);
    return path;
}

static char *all_messages(void)
{
    char *buf = NULL;
    size_t size = 0;
    FILE *out = open_memstream(&buf, &size);
    pmq_errors_print(&errs, out, "  ");
    fclose(out);
    return keep(buf);
}

static pmq_config *load(const char *path)
{
    pmq_config_free(cfg);
    pmq_errors_clear(&errs);
    cfg = pmq_config_load(path, &errs);
    ck_assert_msg((cfg == NULL) == (errs.count > 0), "the result disagrees with the errors");
    return cfg;
}

/* Load and insist that it worked. */
static pmq_config *load_ok(const char *path)
{
    load(path);
    ck_assert_msg(cfg != NULL, "unexpected errors in %s:\n%s", path, all_messages());
    return cfg;
}

/* The error whose primary message is exactly this; the test fails without one. */
static const pmq_error *expect_error(const char *f, ...) __attribute__((format(printf, 1, 2)));
static const pmq_error *expect_error(const char *f, ...)
{
    va_list ap;
    va_start(ap, f);
    char *want = keep(pmq_vasprintf(f, ap));
    va_end(ap);
    for (size_t i = 0; i < errs.count; i++)
        if (!strcmp(errs.items[i].message, want))
            return &errs.items[i];
    ck_abort_msg("no error\n  %s\namong:\n%s", want, all_messages());
    return NULL;
}

static void expect_hint(const pmq_error *e, const char *hint)
{
    ck_assert_msg(e->hint != NULL, "no hint for \"%s\"", e->message);
    ck_assert_str_eq(e->hint, hint);
}

static void expect_detail_has(const pmq_error *e, const char *part)
{
    ck_assert_msg(e->detail != NULL, "no detail for \"%s\"", e->message);
    ck_assert_msg(strstr(e->detail, part) != NULL, "detail \"%s\" lacks \"%s\"", e->detail, part);
}

/* A main file holding `text`, in a new directory. */
static char *main_file(const char *text)
{
    return write_file(new_dir(), "pmqd.ini", text);
}

/*--- files ---*/

START_TEST(test_missing_main_file)
{
    char *path = fmt("%s/nope.ini", new_dir());
    ck_assert_ptr_null(load(path));
    ck_assert_uint_eq(errs.count, 1);
    expect_error("could not open configuration file \"%s\": No such file or directory", path);
}
END_TEST

START_TEST(test_defaults)
{
    unsetenv("PMQ_REDIS_PASSWORD");
    char *dir = new_dir();
    char *path = write_file(dir, "pmqd.ini", "; nothing but defaults\n");
    load_ok(path);

    char host[256] = "";
    gethostname(host, sizeof host);
    ck_assert_uint_eq(cfg->nfiles, 1);
    ck_assert_str_eq(cfg->files[0], path);
    ck_assert_str_eq(cfg->daemon.conf_dir, fmt("%s/conf.d", dir));
    ck_assert_str_eq(cfg->daemon.log_level, "info");
    ck_assert_int_eq(cfg->daemon.log_format, PMQ_LOG_TEXT);
    ck_assert_str_eq(cfg->daemon.plugin_dir, PMQ_PLUGINS_DIR);
    ck_assert_str_eq(cfg->daemon.host_id, host);
    ck_assert_int_eq(cfg->daemon.grace_period_ms, 30000);
    ck_assert_int_eq(cfg->daemon.heartbeat_ttl_ms, 15000);

    ck_assert_ptr_null(cfg->database.conninfo);
    ck_assert_ptr_null(cfg->database.host);
    ck_assert_ptr_null(cfg->database.port);
    ck_assert_ptr_null(cfg->database.dbname);
    ck_assert_ptr_null(cfg->database.user);
    ck_assert_ptr_null(cfg->database.password);
    ck_assert_ptr_null(cfg->database.password_file);
    ck_assert_str_eq(cfg->database.password_env, "PGPASSWORD");
    ck_assert_int_eq(cfg->database.connect_timeout_s, 5);
    ck_assert_ptr_null(cfg->database.origin.file);

    ck_assert_str_eq(cfg->redis.host, "127.0.0.1");
    ck_assert_int_eq(cfg->redis.port, 6379);
    ck_assert_ptr_null(cfg->redis.socket);
    ck_assert_int_eq(cfg->redis.db, 0);
    ck_assert_ptr_null(cfg->redis.password);
    ck_assert_str_eq(cfg->redis.password_env, "PMQ_REDIS_PASSWORD");
    ck_assert_str_eq(cfg->redis.key_prefix, "");
    ck_assert_int_eq(cfg->redis.timeout_ms, 2000);

    ck_assert_int_eq(cfg->migrator.enabled, 1);
    ck_assert_int_eq(cfg->migrator.batch_size, 1000);
    ck_assert_int_eq(cfg->migrator.poll_interval_ms, 1000);
    ck_assert_ptr_null(cfg->http.listen);
    ck_assert_uint_eq(cfg->npools + cfg->nqueues + cfg->nplugins + cfg->nschedules, 0);
}
END_TEST

START_TEST(test_named_defaults)
{
    char *path = main_file("[queue q]\n"
                           "[pool p]\n"
                           "queues = q\n"
                           "[plugin x]\n"
                           "path = x.so\n"
                           "[schedule s]\n"
                           "cron = * * * * *\n"
                           "queue = q\n");
    load_ok(path);
    const pmq_queue_config *q = pmq_config_queue(cfg, "q");
    ck_assert_ptr_nonnull(q);
    ck_assert_int_eq(q->max_attempts, 3);
    ck_assert_int_eq(q->backoff_base_ms, 1000);
    ck_assert_int_eq(q->backoff_max_ms, 3600000);
    ck_assert_int_eq(q->timeout_ms, 30000);
    ck_assert_int_eq(q->rate_limit, 0);
    ck_assert_int_eq(q->priority, 100);
    ck_assert_int_eq(q->max_payload_bytes, 1048576);
    ck_assert_str_eq(q->origin.file, path);
    ck_assert_int_eq(q->origin.line, 1);
    ck_assert_ptr_null(pmq_config_queue(cfg, "nope"));

    ck_assert_uint_eq(cfg->npools, 1);
    ck_assert_str_eq(cfg->pools[0].name, "p");
    ck_assert_int_eq(cfg->pools[0].processes, 1);
    ck_assert_int_eq(cfg->pools[0].threads, 1);
    ck_assert_uint_eq(cfg->pools[0].nqueues, 1);
    ck_assert_str_eq(cfg->pools[0].queues[0], "q");
    ck_assert_ptr_null(cfg->pools[0].queues[1]);
    ck_assert_int_eq(cfg->pools[0].origin.line, 2);

    const pmq_plugin_config *p = pmq_config_plugin(cfg, "x");
    ck_assert_ptr_nonnull(p);
    ck_assert_str_eq(p->path, "x.so");
    ck_assert_int_eq(p->enabled, 1);
    ck_assert_uint_eq(p->nkeys, 1);
    ck_assert_str_eq(pmq_plugin_config_get(p, "path"), "x.so");
    ck_assert_ptr_null(pmq_config_plugin(cfg, "y"));

    ck_assert_uint_eq(cfg->nschedules, 1);
    ck_assert_str_eq(cfg->schedules[0].payload, "{}");
    ck_assert_str_eq(cfg->schedules[0].queue, "q");
}
END_TEST

/*--- one test per class of error ---*/

START_TEST(test_unknown_section)
{
    char *path = main_file("; comment\n"
                           "\n"
                           "[pol email]\n"
                           "queues = x\n"
                           "[databse]\n"
                           "[frobnicate]\n"
                           "key = 1\n");
    ck_assert_ptr_null(load(path));
    ck_assert_uint_eq(errs.count, 3);
    expect_hint(expect_error("%s:3: unknown section \"[pol email]\"", path),
                "Did you mean \"[pool ...]\"?");
    expect_hint(expect_error("%s:5: unknown section \"[databse]\"", path),
                "Did you mean \"[database]\"?");
    ck_assert_ptr_null(expect_error("%s:6: unknown section \"[frobnicate]\"", path)->hint);
}
END_TEST

START_TEST(test_unknown_key)
{
    char *path = main_file("[pmqd]\n"               /* 1 */
                           "log_level = info\n"     /* 2 */
                           "\n"                     /* 3 */
                           "[redis]\n"              /* 4 */
                           "host = 127.0.0.1\n"     /* 5 */
                           "; a comment\n"          /* 6 */
                           "# another\n"            /* 7 */
                           "port = 6379\n"          /* 8 */
                           "\n"                     /* 9 */
                           "[queue email]\n"        /* 10 */
                           "priority = 5\n"         /* 11 */
                           "[pool email]\n"         /* 12 */
                           "queues = email\n"       /* 13 */
                           "proceses = 4\n"         /* 14 */
                           "wibble = 1\n");         /* 15 */
    ck_assert_ptr_null(load(path));
    ck_assert_uint_eq(errs.count, 2);
    expect_hint(expect_error("%s:14: [pool email] unknown key \"proceses\"", path),
                "Did you mean \"processes\"?");
    ck_assert_ptr_null(expect_error("%s:15: [pool email] unknown key \"wibble\"", path)->hint);
}
END_TEST

START_TEST(test_invalid_values)
{
    char *path = main_file("[pool email]\n"              /* 1 */
                           "queues = email\n"            /* 2 */
                           "processes = many\n"          /* 3 */
                           "threads = 0\n"               /* 4 */
                           "[pmqd]\n"                    /* 5 */
                           "grace_period = 5 parsecs\n"  /* 6 */
                           "log_level = loud\n"          /* 7 */
                           "log_format = xml\n"          /* 8 */
                           "host_id = box:1\n"           /* 9 */
                           "[migrator]\n"                /* 10 */
                           "enabled = perhaps\n"         /* 11 */
                           "batch_size = 100001\n"       /* 12 */
                           "[queue q]\n"                 /* 13 */
                           "max_payload = 1G\n"          /* 14 */
                           "priority = 1001\n"           /* 15 */
                           "[database]\n"                /* 16 */
                           "port = 5432,abc\n"           /* 17 */
                           "connect_timeout = 1500ms\n"  /* 18 */
                           "[redis]\n"                   /* 19 */
                           "port = 5 # the port\n");     /* 20 */
    ck_assert_ptr_null(load(path));
    const pmq_error *e = expect_error("%s:3: [pool email] invalid value \"many\" for \"processes\"",
                                      path);
    ck_assert_str_eq(e->detail, "An integer from 1 to 256 is expected.");
    e = expect_error("%s:4: [pool email] invalid value \"0\" for \"threads\"", path);
    ck_assert_str_eq(e->detail, "An integer from 1 to 1024 is expected.");
    e = expect_error("%s:6: [pmqd] invalid value \"5 parsecs\" for \"grace_period\"", path);
    expect_detail_has(e, "from 0 to 1d");
    expect_detail_has(e, "a bare number counts seconds");
    expect_detail_has(expect_error("%s:7: [pmqd] invalid value \"loud\" for \"log_level\"", path),
                      "debug, info, warning or error");
    expect_detail_has(expect_error("%s:8: [pmqd] invalid value \"xml\" for \"log_format\"", path),
                      "text or json");
    expect_detail_has(expect_error("%s:9: [pmqd] invalid value \"box:1\" for \"host_id\"", path),
                      "<host_id>:<pid>:<pool>");
    expect_detail_has(
        expect_error("%s:11: [migrator] invalid value \"perhaps\" for \"enabled\"", path),
        "yes, no, true, false, on, off, 1 or 0");
    expect_detail_has(
        expect_error("%s:12: [migrator] invalid value \"100001\" for \"batch_size\"", path),
        "from 1 to 100000");
    expect_detail_has(
        expect_error("%s:14: [queue q] invalid value \"1G\" for \"max_payload\"", path),
                      "suffix k");
    expect_error("%s:15: [queue q] invalid value \"1001\" for \"priority\"", path);
    expect_error("%s:17: [database] invalid value \"5432,abc\" for \"port\"", path);
    expect_detail_has(
        expect_error("%s:18: [database] invalid value \"1500ms\" for \"connect_timeout\"", path),
        "whole seconds");
    e = expect_error("%s:20: [redis] invalid value \"5 # the port\" for \"port\"", path);
    ck_assert_ptr_nonnull(e->hint);
    ck_assert_ptr_nonnull(strstr(e->hint, "\";\""));
    ck_assert_uint_eq(errs.count, 13);
}
END_TEST

START_TEST(test_missing_required_keys)
{
    char *path = main_file("[queue email]\n"     /* 1 */
                           "\n"                  /* 2 */
                           "[plugin email]\n"    /* 3 */
                           "enabled = no\n"      /* 4 */
                           "template = x\n"      /* 5 */
                           "[pool email]\n"      /* 6 */
                           "threads = 2\n"       /* 7 */
                           "[schedule nightly]\n" /* 8 */
                           "[plugin other]\n"    /* 9 */
                           "path =\n");          /* 10 */
    ck_assert_ptr_null(load(path));
    expect_error("%s:3: [plugin email] missing required key \"path\"", path);
    expect_error("%s:6: [pool email] missing required key \"queues\"", path);
    expect_error("%s:8: [schedule nightly] missing required key \"cron\"", path);
    expect_error("%s:8: [schedule nightly] missing required key \"queue\"", path);
    expect_error("%s:10: [plugin other] invalid value \"\" for \"path\"", path);
    ck_assert_uint_eq(errs.count, 5);
}
END_TEST

START_TEST(test_duplicate_key_in_section)
{
    char *path = main_file("[pool email]\n"   /* 1 */
                           "queues = email\n" /* 2 */
                           "threads = 2\n"    /* 3 */
                           "threads = 4\n"    /* 4 */
                           "[plugin p]\n"     /* 5 */
                           "path = p.so\n"    /* 6 */
                           "color = red\n"    /* 7 */
                           "color = blue\n"); /* 8 */
    ck_assert_ptr_null(load(path));
    ck_assert_uint_eq(errs.count, 2);
    const pmq_error *e = expect_error("%s:4: [pool email] key \"threads\" is set twice", path);
    ck_assert_str_eq(e->detail, fmt("It is set at %s:3 and at %s:4.", path, path));
    e = expect_error("%s:8: [plugin p] key \"color\" is set twice", path);
    ck_assert_str_eq(e->detail, fmt("It is set at %s:7 and at %s:8.", path, path));
}
END_TEST

START_TEST(test_duplicate_section_across_files)
{
    char *dir = new_dir();
    char *path = write_file(dir, "pmqd.ini",
                            "[redis]\n"         /* 1 */
                            "port = 6380\n"     /* 2 */
                            "[queue x]\n"       /* 3 */
                            "max_attempts = 5\n" /* 4 */
                            "[queue x]\n");     /* 5 */
    char *a = write_file(dir, "conf.d/10-a.ini",
                         "\n"                /* 1 */
                         "[queue x]\n"       /* 2 */
                         "priority = 1\n"    /* 3 */
                         "[redis]\n"         /* 4 */
                         "port = 6381\n");   /* 5 */
    ck_assert_ptr_null(load(path));
    ck_assert_uint_eq(errs.count, 3);
    const pmq_error *e = expect_error("%s:5: [queue x] section is defined twice", path);
    ck_assert_str_eq(e->detail, fmt("It is defined at %s:3 and at %s:5.", path, path));
    e = expect_error("%s:2: [queue x] section is defined twice", a);
    ck_assert_str_eq(e->detail, fmt("It is defined at %s:3 and at %s:2.", path, a));
    e = expect_error("%s:5: [redis] key \"port\" is set twice", a);
    ck_assert_str_eq(e->detail, fmt("It is set at %s:2 and at %s:5.", path, a));
}
END_TEST

START_TEST(test_singleton_reopened)
{
    char *dir = new_dir();
    char *path = write_file(dir, "pmqd.ini", "[redis]\nhost = redis.example\n[pmqd]\n");
    write_file(dir, "conf.d/redis.ini", "[redis]\nport = 6390\n[pmqd]\nlog_level = debug\n");
    load_ok(path);
    ck_assert_str_eq(cfg->redis.host, "redis.example");
    ck_assert_int_eq(cfg->redis.port, 6390);
    ck_assert_str_eq(cfg->daemon.log_level, "debug");
    /* The first header is where [redis] is said to be. */
    ck_assert_str_eq(cfg->redis.origin.file, path);
    ck_assert_int_eq(cfg->redis.origin.line, 1);
}
END_TEST

START_TEST(test_section_headers)
{
    char *path = main_file("stray = 1\n"            /* 1 */
                           "[pool]\n"               /* 2 */
                           "queues = a\n"           /* 3 */
                           "[redis main]\n"         /* 4 */
                           "[queue a/b]\n"          /* 5 */
                           "[queue ok]\n"           /* 6 */
                           "this is not a pair\n"   /* 7 */
                           "[plugin p\n"            /* 8 */
                           "path = ignored.so\n"    /* 9 */
                           "[queue ok2]\n"          /* 10 */
                           "= 5\n");                /* 11 */
    ck_assert_ptr_null(load(path));
    expect_hint(expect_error("%s:1: key \"stray\" is outside of any section", path),
                "Put it under a section header such as \"[pmqd]\".");
    expect_hint(expect_error("%s:2: section \"[pool]\" needs a name", path),
                "Write it as \"[pool NAME]\".");
    expect_hint(expect_error("%s:4: section \"[redis main]\" takes no name", path),
                "Write it as \"[redis]\".");
    expect_detail_has(expect_error("%s:5: invalid name \"a/b\" in section \"[queue a/b]\"", path),
                      "letters, digits");
    expect_error("%s:7: [queue ok] could not parse line \"this is not a pair\"", path);
    expect_detail_has(expect_error("%s:8: invalid section header \"[plugin p\"", path),
                      "\"]\" is missing");
    expect_error("%s:11: [queue ok2] missing key name before \"=\"", path);
    ck_assert_uint_eq(errs.count, 7);
}
END_TEST

START_TEST(test_all_problems_reported_in_order)
{
    char *dir = new_dir();
    char *path = write_file(dir, "pmqd.ini",
                            "[pmqd]\n"                 /* 1 */
                            "heartbeat_ttl = 0\n"      /* 2 */
                            "[redis]\n"                /* 3 */
                            "pot = 6379\n"             /* 4 */
                            "[queue q]\n"              /* 5 */
                            "backoff_base = 2h\n"      /* 6 */
                            "backoff_max = 1h\n"       /* 7 */
                            "[pool p]\n"               /* 8 */
                            "queues = q, q\n"          /* 9 */
                            "[http]\n"                 /* 10 */
                            "listen = 0.0.0.0:99999\n" /* 11 */
                            "[nonsense]\n");           /* 12 */
    char *b = write_file(dir, "conf.d/b.ini", "[plugin b]\n");
    char *a = write_file(dir, "conf.d/a.ini", "[queue a]\ntimeout = never\n");
    ck_assert_ptr_null(load(path));
    const char *want[] = {
        fmt("%s:2: [pmqd] invalid value \"0\" for \"heartbeat_ttl\"", path),
        fmt("%s:4: [redis] unknown key \"pot\"", path),
        fmt("%s:7: [queue q] \"backoff_base\" (2h) is greater than \"backoff_max\" (1h)", path),
        fmt("%s:9: [pool p] queue \"q\" is listed twice in \"queues\"", path),
        fmt("%s:11: [http] invalid value \"0.0.0.0:99999\" for \"listen\"", path),
        fmt("%s:12: unknown section \"[nonsense]\"", path),
        fmt("%s:2: [queue a] invalid value \"never\" for \"timeout\"", a),
        fmt("%s:1: [plugin b] missing required key \"path\"", b),
    };
    size_t n = sizeof want / sizeof want[0];
    ck_assert_msg(errs.count == n, "%zu errors instead of %zu:\n%s", errs.count, n,
                  all_messages());
    for (size_t i = 0; i < n; i++)
        ck_assert_str_eq(errs.items[i].message, want[i]);
    expect_hint(&errs.items[1], "Did you mean \"port\"?");
}
END_TEST

/*--- conf.d ---*/

START_TEST(test_conf_dir_lexical_order)
{
    char *dir = new_dir();
    char *path = write_file(dir, "pmqd.ini", "[queue main]\n");
    char *b = write_file(dir, "conf.d/20-b.ini", "[queue b]\n[pool p]\nqueues = a b main\n");
    char *a = write_file(dir, "conf.d/10-a.ini", "[queue a]\n");
    write_file(dir, "conf.d/notes.txt", "[not ini]\n");
    write_file(dir, "conf.d/.hidden.ini", "[bad section]\n");
    write_file(dir, "conf.d/30-sub.ini/x.ini", "[bad section]\n");
    write_file(dir, "conf.d/10-a.ini~", "[bad section]\n");
    load_ok(path);
    ck_assert_uint_eq(cfg->nfiles, 3);
    ck_assert_str_eq(cfg->files[0], path);
    ck_assert_str_eq(cfg->files[1], a);
    ck_assert_str_eq(cfg->files[2], b);
    ck_assert_uint_eq(cfg->nqueues, 3);
    ck_assert_str_eq(cfg->queues[0].name, "main");
    ck_assert_str_eq(cfg->queues[1].name, "a");
    ck_assert_str_eq(cfg->queues[2].name, "b");
    const pmq_queue_config *q = pmq_config_queue(cfg, "b");
    ck_assert_ptr_eq(q->origin.file, cfg->files[2]);
    ck_assert_int_eq(q->origin.line, 1);
    ck_assert_uint_eq(cfg->pools[0].nqueues, 3);
    ck_assert_str_eq(cfg->pools[0].queues[2], "main");
}
END_TEST

START_TEST(test_conf_dir_setting)
{
    char *dir = new_dir();
    char *path = write_file(dir, "pmqd.ini", "[pmqd]\nconf_dir = extra\n");
    write_file(dir, "conf.d/a.ini", "[queue ignored]\n");
    char *x = write_file(dir, "extra/x.ini", "[queue x]\n[pmqd]\nconf_dir = /elsewhere\n");
    ck_assert_ptr_null(load(path));
    ck_assert_uint_eq(errs.count, 1);
    expect_error("%s:3: [pmqd] \"conf_dir\" can only be set in the main configuration file", x);

    /* A conf_dir that is named but missing is an error; the default is not. */
    path = write_file(dir, "pmqd.ini", "[pmqd]\nconf_dir = nowhere\n");
    ck_assert_ptr_null(load(path));
    expect_error("%s:2: [pmqd] could not open configuration directory \"%s/nowhere\": No such "
                 "file or directory",
                 path, dir);

    path = write_file(dir, "pmqd.ini", "[pmqd]\nconf_dir = extra\n");
    write_file(dir, "extra/x.ini", "[queue x]\n");
    load_ok(path);
    ck_assert_str_eq(cfg->daemon.conf_dir, fmt("%s/extra", dir));
    ck_assert_ptr_nonnull(pmq_config_queue(cfg, "x"));
    ck_assert_ptr_null(pmq_config_queue(cfg, "ignored"));

    /* conf_dir = . would read the main file twice: it is skipped. */
    path = write_file(dir, "pmqd.ini", "[pmqd]\nconf_dir = .\n[queue m]\n");
    load_ok(path);
    ck_assert_uint_eq(cfg->nfiles, 1);
}
END_TEST

START_TEST(test_conf_dir_unreadable_file)
{
    char *dir = new_dir();
    char *path = write_file(dir, "pmqd.ini", "");
    char *bad = fmt("%s/conf.d/dangling.ini", dir);
    ck_assert_int_eq(mkdir(fmt("%s/conf.d", dir), 0700), 0);
    ck_assert_int_eq(symlink("/nonexistent/file", bad), 0);
    write_file(dir, "conf.d/z.ini", "[queue z]\nprioriti = 1\n");
    write_file(dir, "conf.d/a.ini", "[queue a]\n");
    ck_assert_ptr_null(load(path));
    ck_assert_uint_eq(errs.count, 2);
    /* In the order the files are read. */
    ck_assert_ptr_eq(
        expect_error("could not open configuration file \"%s\": No such file or directory", bad),
        &errs.items[0]);
    ck_assert_ptr_eq(expect_error("%s/conf.d/z.ini:2: [queue z] unknown key \"prioriti\"", dir),
                     &errs.items[1]);
}
END_TEST

/*--- secrets ---*/

START_TEST(test_password_key_refused)
{
    char *path = main_file("[database]\n"                                 /* 1 */
                           "host = db\n"                                  /* 2 */
                           "password = hunter2\n"                         /* 3 */
                           "conninfo = host=db password=hunter2\n"        /* 4 */
                           "[redis]\n"                                    /* 5 */
                           "password = hunter2\n");                       /* 6 */
    ck_assert_ptr_null(load(path));
    ck_assert_uint_eq(errs.count, 3);
    const pmq_error *e = expect_error("%s:3: [database] key \"password\" is not accepted: secrets "
                                      "do not belong in the configuration file",
                                      path);
    ck_assert_ptr_nonnull(e->hint);
    ck_assert_ptr_nonnull(strstr(e->hint, "\"password_file\""));
    ck_assert_ptr_nonnull(strstr(e->hint, "\"password_env\""));
    expect_error("%s:4: [database] a password in \"conninfo\" is not accepted: secrets do not "
                 "belong in the configuration file",
                 path);
    expect_error("%s:6: [redis] key \"password\" is not accepted: secrets do not belong in the "
                 "configuration file",
                 path);
    for (size_t i = 0; i < errs.count; i++)
        ck_assert_ptr_null(strstr(errs.items[i].message, "hunter2"));
}
END_TEST

START_TEST(test_password_file_mode)
{
    char *dir = new_dir();
    char *pw = write_file(dir, "db.pw", "s3cret\nsecond line\n");
    ck_assert_int_eq(chmod(pw, 0644), 0);
    char *path = write_file(dir, "pmqd.ini",
                            "[pmqd]\n"                 /* 1 */
                            "log_level = info\n"       /* 2 */
                            "\n"                       /* 3 */
                            "[database]\n"             /* 4 */
                            "host = localhost\n"       /* 5 */
                            "dbname = pmq\n"           /* 6 */
                            "password_file = db.pw\n"); /* 7 */
    ck_assert_ptr_null(load(path));
    ck_assert_uint_eq(errs.count, 1);
    const pmq_error *e = expect_error(
        "%s:7: [database] password file \"%s\" is accessible by other users (mode 0644)", path,
        pw);
    expect_hint(e, fmt("Run chmod 600 \"%s\".", pw));

    ck_assert_int_eq(chmod(pw, 0600), 0);
    load_ok(path);
    ck_assert_str_eq(cfg->database.password, "s3cret");
    ck_assert_str_eq(cfg->database.password_file, pw);

    ck_assert_int_eq(chmod(pw, 0640), 0);
    ck_assert_ptr_null(load(path));
    expect_error("%s:7: [database] password file \"%s\" is accessible by other users (mode 0640)",
                 path, pw);
}
END_TEST

START_TEST(test_password_file_problems)
{
    char *dir = new_dir();
    char *redis_pw = write_file(dir, "redis.pw", "r3dis\r\n");
    ck_assert_int_eq(chmod(redis_pw, 0400), 0);
    char *empty = write_file(dir, "empty.pw", "");
    ck_assert_int_eq(chmod(empty, 0600), 0);
    char *path = write_file(dir, "pmqd.ini",
                            "[database]\n"                           /* 1 */
                            "password_file = /nonexistent/pw\n"      /* 2 */
                            "[redis]\n"                              /* 3 */
                            "password_file = redis.pw\n");           /* 4 */
    ck_assert_ptr_null(load(path));
    ck_assert_uint_eq(errs.count, 1);
    expect_error("%s:2: [database] could not open password file \"/nonexistent/pw\": No such "
                 "file or directory",
                 path);

    path = write_file(dir, "pmqd.ini", "[redis]\npassword_file = redis.pw\n");
    load_ok(path);
    ck_assert_str_eq(cfg->redis.password, "r3dis");

    path = write_file(dir, "pmqd.ini", "[redis]\npassword_file = empty.pw\n");
    ck_assert_ptr_null(load(path));
    expect_error("%s:2: [redis] password file \"%s\" is empty", path, empty);
}
END_TEST

START_TEST(test_password_env)
{
    setenv("PMQ_TEST_DB_PASSWORD", "from-env", 1);
    setenv("PMQ_REDIS_PASSWORD", "redis-env", 1);
    unsetenv("PMQ_TEST_UNSET");
    char *dir = new_dir();
    char *path = write_file(dir, "pmqd.ini", "[database]\npassword_env = PMQ_TEST_DB_PASSWORD\n");
    load_ok(path);
    ck_assert_str_eq(cfg->database.password, "from-env");
    ck_assert_str_eq(cfg->database.password_env, "PMQ_TEST_DB_PASSWORD");
    /* [redis] reads PMQ_REDIS_PASSWORD by default. */
    ck_assert_str_eq(cfg->redis.password, "redis-env");

    path = write_file(dir, "pmqd.ini", "[redis]\npassword_env =\n");
    load_ok(path);
    ck_assert_ptr_null(cfg->redis.password);

    unsetenv("PMQ_REDIS_PASSWORD");
    path = write_file(dir, "pmqd.ini", "[redis]\nhost = r\n");
    load_ok(path);
    ck_assert_ptr_null(cfg->redis.password);

    char *pw = write_file(dir, "pw", "x\n");
    ck_assert_int_eq(chmod(pw, 0600), 0);
    path = write_file(dir, "pmqd.ini",
                      "[redis]\n"                        /* 1 */
                      "password_env = PMQ_TEST_UNSET\n"  /* 2 */
                      "[database]\n"                     /* 3 */
                      "password_file = pw\n"             /* 4 */
                      "password_env = PGPASSWORD\n"      /* 5 */
                      "[redis]\n"                        /* 6 */
                      "password_file = ../no/such/file\n"); /* 7 */
    ck_assert_ptr_null(load(path));
    ck_assert_uint_eq(errs.count, 2);
    expect_error("%s:2: [redis] \"password_file\" and \"password_env\" cannot both be set", path);
    expect_error("%s:5: [database] \"password_file\" and \"password_env\" cannot both be set",
                 path);

    path = write_file(dir, "pmqd.ini", "[redis]\npassword_env = PMQ_TEST_UNSET\n");
    ck_assert_ptr_null(load(path));
    expect_error("%s:2: [redis] environment variable \"PMQ_TEST_UNSET\" named by "
                 "\"password_env\" is not set",
                 path);
}
END_TEST

/*--- valid configurations ---*/

START_TEST(test_full_configuration)
{
    unsetenv("PMQ_REDIS_PASSWORD");
    char *dir = new_dir();
    char *path;
    path = write_file(dir, "pmqd.ini",
                      "\xEF\xBB\xBF; a BOM, then every section\n"
                      "[pmqd]\n"
                      "log_level = WARNING\n"
                      "log_format = json\n"
                      "plugin_dir = plugins\n"
                      "host_id = box-1\n"
                      "grace_period = 45\n"
                      "heartbeat_ttl = 1m\n"
                      "[database]\n"
                      "conninfo = \"postgresql://app@db.example:5433/jobs?sslmode=require\"\n"
                      "host = db2.example\n"
                      "connect_timeout = 10s\n"
                      "[redis]\n"
                      "socket = /run/redis.sock\n"
                      "db = 3\n"
                      "key_prefix = \"staging:\"\n"
                      "timeout = 250\n"
                      "[migrator]\n"
                      "enabled = off\n"
                      "batch_size = 100000\n"
                      "poll_interval = 200 ; milliseconds\n"
                      "[http]\n"
                      "listen = [::1]:9187\n");
    write_file(dir, "conf.d/email.ini",
               "[plugin email]\n"
               "path = /opt/pmq/email.so\n"
               "enabled = false\n"
               "smtp_host = mail.example\n"
               "templates = a,\n"
               "   b, c\n"
               "[queue email]\n"
               "max_attempts = 1000\n"
               "backoff_base = 2\n"
               "backoff_max = 2m\n"
               "timeout = 90\n"
               "rate_limit = 50\n"
               "priority = 0\n"
               "max_payload = 64k\n"
               "[queue bulk]\n"
               "max_payload = 2M\n"
               "timeout = 1500ms\n"
               "[queue raw]\n"
               "max_payload = 1000\n"
               "[pool email]\n"
               "queues = email,bulk\n"
               "  raw\n"
               "processes = 256\n"
               "threads = 1024\n"
               "[schedule digest]\n"
               "cron = */15 8-18 * 1-6,9-12 1-5\n"
               "queue = email\n"
               "payload = {\"kind\": \"digest\",\n"
               "    \"to\": [\"a@example.com\"]}\n");
    load_ok(path);

    ck_assert_str_eq(cfg->daemon.log_level, "warning");
    ck_assert_int_eq(cfg->daemon.log_format, PMQ_LOG_JSON);
    ck_assert_str_eq(cfg->daemon.plugin_dir, fmt("%s/plugins", dir));
    ck_assert_str_eq(cfg->daemon.host_id, "box-1");
    ck_assert_int_eq(cfg->daemon.grace_period_ms, 45000);
    ck_assert_int_eq(cfg->daemon.heartbeat_ttl_ms, 60000);
    ck_assert_str_eq(cfg->database.conninfo,
                     "postgresql://app@db.example:5433/jobs?sslmode=require");
    ck_assert_str_eq(cfg->database.host, "db2.example");
    ck_assert_int_eq(cfg->database.connect_timeout_s, 10);
    ck_assert_int_eq(cfg->database.origin.line, 9);
    ck_assert_str_eq(cfg->redis.socket, "/run/redis.sock");
    ck_assert_int_eq(cfg->redis.db, 3);
    ck_assert_str_eq(cfg->redis.key_prefix, "staging:");
    ck_assert_int_eq(cfg->redis.timeout_ms, 250);
    ck_assert_int_eq(cfg->migrator.enabled, 0);
    ck_assert_int_eq(cfg->migrator.batch_size, 100000);
    ck_assert_int_eq(cfg->migrator.poll_interval_ms, 200);
    ck_assert_str_eq(cfg->http.listen, "[::1]:9187");
    ck_assert_int_eq(cfg->http.origin.line, 22);

    const pmq_plugin_config *p = pmq_config_plugin(cfg, "email");
    ck_assert_str_eq(p->path, "/opt/pmq/email.so");
    ck_assert_int_eq(p->enabled, 0);
    ck_assert_uint_eq(p->nkeys, 4);
    ck_assert_str_eq(pmq_plugin_config_get(p, "smtp_host"), "mail.example");
    ck_assert_str_eq(pmq_plugin_config_get(p, "templates"), "a,\nb, c");
    ck_assert_str_eq(pmq_plugin_config_get(p, "enabled"), "false");
    ck_assert_ptr_null(pmq_plugin_config_get(p, "nope"));
    ck_assert_int_eq(p->keys[2].origin.line, 4);

    const pmq_queue_config *q = pmq_config_queue(cfg, "email");
    ck_assert_int_eq(q->max_attempts, 1000);
    ck_assert_int_eq(q->backoff_base_ms, 2000);
    ck_assert_int_eq(q->backoff_max_ms, 120000);
    ck_assert_int_eq(q->timeout_ms, 90000);
    ck_assert_int_eq(q->rate_limit, 50);
    ck_assert_int_eq(q->priority, 0);
    ck_assert_int_eq(q->max_payload_bytes, 65536);
    ck_assert_int_eq(pmq_config_queue(cfg, "bulk")->max_payload_bytes, 2 * 1048576);
    ck_assert_int_eq(pmq_config_queue(cfg, "bulk")->timeout_ms, 1500);
    ck_assert_int_eq(pmq_config_queue(cfg, "raw")->max_payload_bytes, 1000);

    ck_assert_uint_eq(cfg->pools[0].nqueues, 3);
    ck_assert_str_eq(cfg->pools[0].queues[0], "email");
    ck_assert_str_eq(cfg->pools[0].queues[1], "bulk");
    ck_assert_str_eq(cfg->pools[0].queues[2], "raw");
    ck_assert_int_eq(cfg->pools[0].processes, 256);
    ck_assert_int_eq(cfg->pools[0].threads, 1024);

    ck_assert_str_eq(cfg->schedules[0].cron, "*/15 8-18 * 1-6,9-12 1-5");
    ck_assert_str_eq(cfg->schedules[0].payload,
                     "{\"kind\": \"digest\",\n\"to\": [\"a@example.com\"]}");
}
END_TEST

static const char *top_srcdir(void)
{
    const char *dir = getenv("top_srcdir");
    return dir && *dir ? dir : PMQ_TOP_SRCDIR;
}

static char *slurp(const char *path)
{
    FILE *f = fopen(path, "r");
    ck_assert_msg(f != NULL, "cannot read %s: %s", path, strerror(errno));
    char *buf = NULL;
    size_t size = 0;
    FILE *out = open_memstream(&buf, &size);
    int c;
    while ((c = fgetc(f)) != EOF)
        fputc(c, out);
    fclose(f);
    fclose(out);
    return keep(buf);
}

START_TEST(test_shipped_configuration)
{
    unsetenv("PMQ_REDIS_PASSWORD");
    char *shipped = fmt("%s/conf.d/pmqd.ini", top_srcdir());
    load_ok(shipped);
    ck_assert_str_eq(cfg->database.host, "localhost");
    ck_assert_str_eq(cfg->database.dbname, "pmq");
    ck_assert_str_eq(cfg->redis.host, "127.0.0.1");
    ck_assert_int_eq(cfg->redis.port, 6379);
    ck_assert_uint_eq(cfg->nplugins, 0);
    ck_assert_ptr_null(cfg->http.listen);

    /* As installed: pmqd.ini with the other shipped files in its conf.d. */
    char *dir = new_dir();
    char *path = write_file(dir, "pmqd.ini", slurp(shipped));
    struct dirent **names;
    int n = scandir(fmt("%s/conf.d", top_srcdir()), &names, NULL, alphasort);
    ck_assert_int_ge(n, 0);
    size_t copied = 0;
    for (int i = 0; i < n; i++) {
        const char *name = names[i]->d_name;
        size_t len = strlen(name);
        if (len > 4 && !strcmp(name + len - 4, ".ini") && strcmp(name, "pmqd.ini")) {
            write_file(dir, fmt("conf.d/%s", name),
                       slurp(fmt("%s/conf.d/%s", top_srcdir(), name)));
            copied++;
        }
        free(names[i]);
    }
    free(names);
    load_ok(path);
    ck_assert_uint_eq(cfg->nfiles, 1 + copied);
}
END_TEST

/*--- values with their own grammar ---*/

static char *schedule_file(const char *cron, const char *payload)
{
    return main_file(fmt("[schedule s]\n"
                         "queue = q\n"
                         "cron = %s\n"
                         "payload = %s\n",
                         cron, payload));
}

START_TEST(test_cron)
{
    static const char *const good[] = {
        "* * * * *",   "*/5 * * * *", "0 9-17 * * 1-5", "0,30 0 1 1,6 0-7",
        "59 23 31 12 7", "0-59/10 */2 1-31/3 * *", "5\t4  *  * 0",
    };
    for (size_t i = 0; i < sizeof good / sizeof good[0]; i++) {
        load(schedule_file(good[i], "{}"));
        ck_assert_msg(cfg != NULL, "\"%s\" refused:\n%s", good[i], all_messages());
        ck_assert_str_eq(cfg->schedules[0].cron, good[i]);
    }
    static const struct {
        const char *cron, *detail;
    } bad[] = {
        {"61 * * * *", "Field 1 (minute): \"61\" is out of range 0-59."},
        {"* 24 * * *", "Field 2 (hour): \"24\" is out of range 0-23."},
        {"* * 0 * *", "Field 3 (day of month): \"0\" is out of range 1-31."},
        {"* * * 13 *", "Field 4 (month): \"13\" is out of range 1-12."},
        {"* * * * 8", "Field 5 (day of week): \"8\" is out of range 0-7."},
        {"* * *", "Five fields are expected"},
        {"* * * * * *", "found more than 5"},
        {"5-1 * * * *", "range \"5-1\" goes backwards"},
        {"*/0 * * * *", "step \"*/0\" is not from 1 to 60"},
        {"a * * * *", "Field 1 (minute): \"a\" is not"},
        {"1,,2 * * * *", "Field 1 (minute): \"\" is not"},
        {"5/10 * * * *", "a step needs a range"},
        {"1-2-3 * * * *", "\"1-2-3\" is not"},
        {"@daily", "Five fields are expected"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char *path = schedule_file(bad[i].cron, "{}");
        ck_assert_msg(load(path) == NULL, "\"%s\" accepted", bad[i].cron);
        ck_assert_uint_eq(errs.count, 1);
        expect_detail_has(
            expect_error("%s:3: [schedule s] invalid value \"%s\" for \"cron\"", path, bad[i].cron),
            bad[i].detail);
    }
}
END_TEST

START_TEST(test_json_payload)
{
    load(schedule_file("* * * * *", "{\"a\": [1, 2], \"b\": {\"c\": null}}  "));
    ck_assert_msg(cfg != NULL, "%s", all_messages());
    ck_assert_str_eq(cfg->schedules[0].payload, "{\"a\": [1, 2], \"b\": {\"c\": null}}");

    static const struct {
        const char *payload, *detail;
    } bad[] = {
        {"[1]", "not a JSON array"},
        {"12", "not a JSON int"},
        {"\"\"x\"\"", "not a JSON string"},
        {"{\"a\":", "A JSON object is expected: "},
        {"{} x", "there is text after its end"},
        {"{a: 1}", "A JSON object is expected: "},
        {"", "A JSON object is expected"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char *path = schedule_file("* * * * *", bad[i].payload);
        ck_assert_msg(load(path) == NULL, "%s accepted", bad[i].payload);
        ck_assert_uint_eq(errs.count, 1);
        char *want = fmt("%s:4: [schedule s] invalid value", path);
        ck_assert_ptr_nonnull(strstr(errs.items[0].message, want));
        expect_detail_has(&errs.items[0], bad[i].detail);
    }
}
END_TEST

START_TEST(test_http_listen)
{
    static const char *const good[] = {"127.0.0.1:9187", "[::1]:80", "localhost:65535",
                                       "0.0.0.0:1"};
    for (size_t i = 0; i < sizeof good / sizeof good[0]; i++) {
        load(main_file(fmt("[http]\nlisten = %s\n", good[i])));
        ck_assert_msg(cfg != NULL, "%s refused:\n%s", good[i], all_messages());
        ck_assert_str_eq(cfg->http.listen, good[i]);
    }
    static const char *const bad[] = {"127.0.0.1:70000", "9187", "127.0.0.1:", ":9187",
                                      "::1:80", "[::1:80", "host:0", "host:80x"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char *path = main_file(fmt("[http]\nlisten = %s\n", bad[i]));
        ck_assert_msg(load(path) == NULL, "%s accepted", bad[i]);
        expect_detail_has(expect_error("%s:2: [http] invalid value \"%s\" for \"listen\"", path,
                                       bad[i]),
                          "port from 1 to 65535");
    }
    load(main_file("[http]\nlisten =\n"));
    ck_assert_ptr_nonnull(cfg);
    ck_assert_ptr_null(cfg->http.listen);
}
END_TEST

START_TEST(test_sizes_and_durations)
{
    static const struct {
        const char *text;
        int bytes;
    } sizes[] = {{"1", 1}, {"1k", 1024}, {"1K", 1024}, {"3kB", 3072}, {"1M", 1048576},
                 {"8M", 8388608}, {"8MB", 8388608}};
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        load(main_file(fmt("[queue q]\nmax_payload = %s\n", sizes[i].text)));
        ck_assert_msg(cfg != NULL, "%s refused:\n%s", sizes[i].text, all_messages());
        ck_assert_int_eq(cfg->queues[0].max_payload_bytes, sizes[i].bytes);
    }
    static const char *const bad_sizes[] = {"0", "9M", "8193k", "1G", "-1", "k", "1.5M", "1 M"};
    for (size_t i = 0; i < sizeof bad_sizes / sizeof bad_sizes[0]; i++)
        ck_assert_msg(load(main_file(fmt("[queue q]\nmax_payload = %s\n", bad_sizes[i]))) == NULL,
                      "%s accepted", bad_sizes[i]);

    /* Each key's bare unit. */
    load_ok(main_file("[pmqd]\ngrace_period = 0\nheartbeat_ttl = 2\n"
                      "[redis]\ntimeout = 1\n[migrator]\npoll_interval = 30m\n"
                      "[database]\nconnect_timeout = 0\n"
                      "[queue q]\nbackoff_base = 0\nbackoff_max = 7d\ntimeout = 1ms\n"));
    ck_assert_int_eq(cfg->daemon.grace_period_ms, 0);
    ck_assert_int_eq(cfg->daemon.heartbeat_ttl_ms, 2000);
    ck_assert_int_eq(cfg->redis.timeout_ms, 1);
    ck_assert_int_eq(cfg->migrator.poll_interval_ms, 1800000);
    ck_assert_int_eq(cfg->database.connect_timeout_s, 0);
    ck_assert_int_eq(cfg->queues[0].backoff_base_ms, 0);
    ck_assert_int_eq(cfg->queues[0].backoff_max_ms, 7 * 86400000);
    ck_assert_int_eq(cfg->queues[0].timeout_ms, 1);
}
END_TEST

START_TEST(test_duration_limits)
{
    char *path = main_file("[migrator]\npoll_interval = 2h\n[queue q]\nbackoff_max = 8d\n"
                           "timeout = 0\n[pmqd]\ngrace_period = 500\n");
    ck_assert_ptr_null(load(path));
    ck_assert_uint_eq(errs.count, 3);
    expect_detail_has(
        expect_error("%s:2: [migrator] invalid value \"2h\" for \"poll_interval\"", path),
        "from 1ms to 1h");
    expect_detail_has(
        expect_error("%s:4: [queue q] invalid value \"8d\" for \"backoff_max\"", path),
                      "from 0 to 7d");
    expect_detail_has(expect_error("%s:5: [queue q] invalid value \"0\" for \"timeout\"", path),
                      "from 1ms to 1d");

    load_ok(main_file("[pmqd]\ngrace_period = 500\n"));
    ck_assert_int_eq(cfg->daemon.grace_period_ms, 500000);
}
END_TEST

/*--- syntax: long lines, continuations, comments, quotes ---*/

START_TEST(test_long_lines)
{
    char *payload = fmt("{\"text\": \"%0400d\"}", 7);
    char *plugin_value = fmt("http://example.com/%0300d", 1);
    char *path = main_file(fmt("[schedule s]\n"                    /* 1 */
                               "cron = * * * * *\n"                /* 2 */
                               "payload = %s ; a comment\n"        /* 3 */
                               "queue = q\n"                       /* 4 */
                               "; %0300d\n"                        /* 5 */
                               "[plugin p]\n"                      /* 6 */
                               "path = p.so\n"                     /* 7 */
                               "url = %s\n"                        /* 8 */
                               "list = a\n"                        /* 9 */
                               "  %s\n",                           /* 10 */
                               payload, 0, plugin_value, plugin_value));
    load_ok(path);
    ck_assert_str_eq(cfg->schedules[0].payload, payload);
    ck_assert_str_eq(cfg->schedules[0].queue, "q");
    const pmq_plugin_config *p = pmq_config_plugin(cfg, "p");
    ck_assert_str_eq(pmq_plugin_config_get(p, "url"), plugin_value);
    ck_assert_str_eq(pmq_plugin_config_get(p, "list"), fmt("a\n%s", plugin_value));
    ck_assert_int_eq(p->keys[2].origin.line, 9);
    ck_assert_int_eq(p->origin.line, 6);

    /* Line numbers stay right after a long line. */
    path = main_file(fmt("[queue q]\n"
                         "; %0500d\n"
                         "priority = 1%0300d\n"
                         "max_attempts = x\n",
                         0, 1));
    ck_assert_ptr_null(load(path));
    ck_assert_uint_eq(errs.count, 2);
    expect_error("%s:3: [queue q] invalid value \"1%0300d\" for \"priority\"", path, 1);
    expect_error("%s:4: [queue q] invalid value \"x\" for \"max_attempts\"", path);
}
END_TEST

START_TEST(test_continuations_and_comments)
{
    char *path = main_file("[pool p]\n"                  /* 1 */
                           "queues = a, b ; inline\n"    /* 2 */
                           "\n"                          /* 3 */
                           "   c\n"                      /* 4 */
                           "processes = 4\n"             /* 5 */
                           "  threads = 2\n"             /* 6 */
                           "[queue a]\n"                 /* 7 */
                           "  priority = 7\n");          /* 8 */
    ck_assert_ptr_null(load(path));
    ck_assert_uint_eq(errs.count, 1);
    const pmq_error *e = expect_error(
        "%s:5: [pool p] invalid value \"4\\nthreads = 2\" for \"processes\"", path);
    expect_hint(e, "An indented line continues the value of the line above it.");

    path = main_file("[pool p]\n"
                     "queues = a, b ; inline\n"
                     "\n"
                     "   c\n"
                     "processes = 4\n"
                     "threads = \"2\"\n"
                     "[queue a]\n"
                     "  priority = 7\n");
    load_ok(path);
    ck_assert_uint_eq(cfg->pools[0].nqueues, 3);
    ck_assert_str_eq(cfg->pools[0].queues[2], "c");
    ck_assert_int_eq(cfg->pools[0].threads, 2);
    /* An indented key right after a header is a key. */
    ck_assert_int_eq(cfg->queues[0].priority, 7);
}
END_TEST

START_TEST(test_queue_names)
{
    char *path = main_file("[pool p]\nqueues = email, bad/name\n[pool r]\nqueues = ,\n"
                           "[schedule s]\ncron = * * * * *\nqueue = a b\n");
    ck_assert_ptr_null(load(path));
    ck_assert_uint_eq(errs.count, 3);
    expect_detail_has(
        expect_error("%s:2: [pool p] invalid value \"email, bad/name\" for \"queues\"", path),
                      "\"bad/name\"");
    expect_error("%s:4: [pool r] invalid value \",\" for \"queues\"", path);
    expect_error("%s:7: [schedule s] invalid value \"a b\" for \"queue\"", path);
}
END_TEST

/* ":" belongs to queue names only: a pool's name ends its worker ids "<host>:<pid>:<pool>". */
START_TEST(test_colon_only_in_queue_names)
{
    char *path = main_file("[queue email:processing]\n"
                           "[pool mail]\n"
                           "queues = email:processing, bounce:process\n"
                           "[schedule s]\n"
                           "cron = * * * * *\n"
                           "queue = email:processing\n");
    load_ok(path);
    ck_assert_str_eq(cfg->queues[0].name, "email:processing");
    ck_assert_str_eq(cfg->pools[0].queues[1], "bounce:process");
    ck_assert_str_eq(cfg->schedules[0].queue, "email:processing");

    path = main_file("[pool mail:eu]\n"           /* 1 */
                     "queues = email:processing\n" /* 2 */
                     "[plugin a:b]\n"              /* 3 */
                     "path = a.so\n"               /* 4 */
                     "[schedule s:1]\n"            /* 5 */
                     "cron = * * * * *\n"          /* 6 */
                     "queue = email:processing\n"  /* 7 */
                     "[pool x/y]\n");              /* 8 */
    ck_assert_ptr_null(load(path));
    const pmq_error *e =
        expect_error("%s:1: invalid name \"mail:eu\" in section \"[pool mail:eu]\"", path);
    expect_detail_has(e, "Only queue names may contain \":\"");
    expect_detail_has(e, "\"<host>:<pid>:<pool>\"");
    expect_hint(e, "Did you mean \"[pool mail-eu]\"?");
    e = expect_error("%s:3: invalid name \"a:b\" in section \"[plugin a:b]\"", path);
    expect_detail_has(e, "Only queue names may contain \":\"");
    expect_hint(e, "Did you mean \"[plugin a-b]\"?");
    expect_error("%s:5: invalid name \"s:1\" in section \"[schedule s:1]\"", path);
    /* Not a colon: the usual detail, which no longer offers ":". */
    e = expect_error("%s:8: invalid name \"x/y\" in section \"[pool x/y]\"", path);
    expect_detail_has(e, "letters, digits, \"_\", \"-\" or \".\" is expected");
    ck_assert_uint_eq(errs.count, 4);
}
END_TEST

/*--- conninfo ---*/

START_TEST(test_conninfo)
{
    char *dir = new_dir();
    char *pw = write_file(dir, "pw", "p'w\\x\n");
    ck_assert_int_eq(chmod(pw, 0600), 0);
    char *path = write_file(dir, "pmqd.ini",
                            "[database]\n"
                            "host = /run/postgresql\n"
                            "port = 5433\n"
                            "dbname = it's\n"
                            "user = a b\n"
                            "password_file = pw\n");
    load_ok(path);
    char *ci = keep(pmq_config_conninfo(cfg));
    ck_assert_str_eq(ci, "host='/run/postgresql' port='5433' dbname='it\\'s' user='a b' "
                         "password='p\\'w\\\\x' connect_timeout='5'");
    /* libpq reads it back as it was meant. */
    char *why = NULL;
    PQconninfoOption *opts = PQconninfoParse(ci, &why);
    ck_assert_msg(opts != NULL, "libpq: %s", why);
    for (PQconninfoOption *o = opts; o->keyword; o++) {
        if (!strcmp(o->keyword, "dbname"))
            ck_assert_str_eq(o->val, "it's");
        if (!strcmp(o->keyword, "password"))
            ck_assert_str_eq(o->val, "p'w\\x");
    }
    PQconninfoFree(opts);

    /* A URI is re-spelt so that the keys can override it. */
    path = write_file(dir, "pmqd.ini",
                      "[database]\n"
                      "conninfo = postgresql://app@db.example:5434/jobs?sslmode=require"
                      "&connect_timeout=7\n"
                      "host = other\n");
    load_ok(path);
    ck_assert_int_eq(cfg->database.connect_timeout_s, 7);
    ci = keep(pmq_config_conninfo(cfg));
    ck_assert_ptr_nonnull(strstr(ci, "host='other'"));
    ck_assert_ptr_null(strstr(ci, "db.example"));
    ck_assert_ptr_nonnull(strstr(ci, "user='app'"));
    ck_assert_ptr_nonnull(strstr(ci, "port='5434'"));
    ck_assert_ptr_nonnull(strstr(ci, "dbname='jobs'"));
    ck_assert_ptr_nonnull(strstr(ci, "sslmode='require'"));
    ck_assert_ptr_nonnull(strstr(ci, "connect_timeout='7'"));
    ck_assert_ptr_null(strstr(ci, "connect_timeout='5'"));

    load_ok(write_file(dir, "pmqd.ini", "[database]\n"));
    ci = keep(pmq_config_conninfo(cfg));
    ck_assert_str_eq(ci, "connect_timeout='5'");

    path = write_file(dir, "pmqd.ini", "[database]\nconninfo = host\n");
    ck_assert_ptr_null(load(path));
    expect_detail_has(expect_error("%s:2: [database] invalid value for \"conninfo\"", path),
                      "libpq says: missing \"=\" after \"host\"");
}
END_TEST

/*--- what messages never show, and what they show escaped ---*/

#define SECRET "S3cretPW"

/* The test fails when any message, detail or hint holds `secret`. */
static void expect_no_secret(const char *secret)
{
    char *all = all_messages();
    ck_assert_msg(strstr(all, secret) == NULL, "a message shows \"%s\":\n%s", secret, all);
}

/* `pmqd --check -c path`: its exit status, and its output in *out (kept). */
static int run_check(const char *path, char **out)
{
    const char *builddir = getenv("top_builddir");
    ck_assert_msg(builddir != NULL, "top_builddir is not set (run through make check)");
    FILE *p = popen(fmt("'%s/core/pmqd' --check -c '%s' 2>&1", builddir, path), "r");
    ck_assert_ptr_nonnull(p);
    char *buf = NULL;
    size_t size = 0;
    FILE *mem = open_memstream(&buf, &size);
    char chunk[4096];
    size_t n;
    while ((n = fread(chunk, 1, sizeof chunk, p)) > 0)
        fwrite(chunk, 1, n, mem);
    fclose(mem);
    *out = keep(buf);
    int st = pclose(p);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

/* A conninfo that libpq refuses is never echoed: it may hold a password. */
START_TEST(test_conninfo_secret_never_shown)
{
    static const char *const bad[] = {
        "host=db password=" SECRET " bogus=1",      /* a password, and a bad keyword */
        "host=db passwrod=" SECRET,                 /* a misspelt "password" */
        "host=db passwrod=" SECRET "x y",           /* ... and a stray token */
        "postgresql://app:" SECRET "@db/jobs?bogus=1",
        "postgresql://db/jobs?passwrd=" SECRET "%zz", /* libpq quotes the bad token */
        "postgresql://db/jobs?pass%77ord=" SECRET "&bogus=1",
        "host=db password=" SECRET " sslmode=bogus",
        "host=db sslpassword=" SECRET,
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char *path = main_file(fmt("[database]\nconninfo = %s\n", bad[i]));
        ck_assert_msg(load(path) == NULL, "accepted: %s", bad[i]);
        expect_no_secret(SECRET);
        char *out;
        ck_assert_int_eq(run_check(path, &out), 1);
        ck_assert_msg(strstr(out, SECRET) == NULL, "pmqd --check shows the secret:\n%s", out);
        ck_assert_msg(strstr(out, "conninfo") != NULL, "pmqd --check says:\n%s", out);
    }
    /* What is shown helps: libpq's reason, with the wrong keyword. */
    char *path = main_file("[database]\nconninfo = host=db passwrod=" SECRET "\n");
    load(path);
    expect_detail_has(expect_error("%s:2: [database] invalid value for \"conninfo\"", path),
                      "invalid connection option \"passwrod\"");
    path = main_file("[database]\nconninfo = host=db password=" SECRET " bogus=1\n");
    load(path);
    expect_error("%s:2: [database] a password in \"conninfo\" is not accepted: secrets do not "
                 "belong in the configuration file",
                 path);
    ck_assert_uint_eq(errs.count, 1);
}
END_TEST

/* libpq takes any text for these when it parses a conninfo, and fails at connect. */
START_TEST(test_conninfo_enumerations)
{
    char *path = main_file("[database]\nconninfo = host=db sslmode=bogus\n");
    ck_assert_ptr_null(load(path));
    ck_assert_uint_eq(errs.count, 1);
    expect_detail_has(
        expect_error("%s:2: [database] invalid value \"bogus\" for \"sslmode\" in \"conninfo\"",
                     path),
        "One of disable, allow, prefer, require, verify-ca, verify-full is expected.");
    path = main_file("[database]\nconninfo = postgresql://db/jobs?target_session_attrs=rw\n");
    ck_assert_ptr_null(load(path));
    expect_error("%s:2: [database] invalid value \"rw\" for \"target_session_attrs\" in "
                 "\"conninfo\"",
                 path);
    char *out;
    ck_assert_int_eq(run_check(main_file("[database]\nconninfo = sslmode=bogus\n"), &out), 1);
    load_ok(main_file("[database]\nconninfo = host=db sslmode=verify-full "
                      "target_session_attrs=read-write gssencmode=disable\n"));
}
END_TEST

/* max_payload stops at what a claim moves through Redis within its timeout. */
START_TEST(test_max_payload_cap)
{
    load_ok(main_file("[queue q]\nmax_payload = 8M\n"));
    ck_assert_int_eq(cfg->queues[0].max_payload_bytes, 8 << 20);
    char *path = main_file("[queue q]\nmax_payload = 16M\n");
    ck_assert_ptr_null(load(path));
    const pmq_error *e =
        expect_error("%s:2: [queue q] invalid value \"16M\" for \"max_payload\"", path);
    expect_detail_has(e, "A size from 1 to 8M bytes is expected");
    expect_hint(e, "A payload crosses Redis whole when a worker claims it, and a larger one holds "
                   "Redis past its timeout; store large data elsewhere and put a reference to it "
                   "in the payload.");
}
END_TEST

/* Write DIR/NAME with `len` bytes of `text` (NUL bytes included). */
static char *write_bytes(const char *dir, const char *name, const char *text, size_t len)
{
    char *path = fmt("%s/%s", dir, name);
    FILE *f = fopen(path, "w");
    ck_assert_msg(f != NULL, "cannot write %s: %s", path, strerror(errno));
    ck_assert_uint_eq(fwrite(text, 1, len, f), len);
    ck_assert(fclose(f) == 0);
    return path;
}

/* A FIFO is refused, not waited on (Check's timeout fails a test that hangs). */
START_TEST(test_fifo_refused)
{
    char *dir = new_dir();
    char *fifo = fmt("%s/fifo", dir);
    ck_assert_int_eq(mkfifo(fifo, 0600), 0);
    ck_assert_ptr_null(load(fifo));
    expect_error("configuration file \"%s\" is not a regular file", fifo);

    char *path = write_file(dir, "pmqd.ini", "[database]\npassword_file = fifo\n"
                                             "[redis]\npassword_file = fifo\n");
    ck_assert_ptr_null(load(path));
    ck_assert_uint_eq(errs.count, 2);
    expect_error("%s:2: [database] password file \"%s\" is not a regular file", path, fifo);
    expect_error("%s:4: [redis] password file \"%s\" is not a regular file", path, fifo);

    /* One in conf.d is not skipped in silence either. */
    path = write_file(dir, "pmqd.ini", "[pmqd]\nconf_dir = d\n");
    ck_assert_int_eq(mkdir(fmt("%s/d", dir), 0700), 0);
    ck_assert_int_eq(mkfifo(fmt("%s/d/a.ini", dir), 0600), 0);
    ck_assert_ptr_null(load(path));
    expect_error("configuration file \"%s/d/a.ini\" is not a regular file", dir);
}
END_TEST

/* -c /dev/zero, a huge file or line: refused at the reader's limits, memory bounded. */
START_TEST(test_reader_limits)
{
    ck_assert_ptr_null(load("/dev/zero"));
    expect_error("configuration file \"/dev/zero\" is not a regular file");

    char *dir = new_dir();
    size_t n = 70 * 1024;
    char *line = keep(pmq_xmalloc(n + 64));
    snprintf(line, n + 64, "[queue q]\n; %0*d\nmax_attempts = 2\n", (int)n, 7);
    char *path = write_file(dir, "pmqd.ini", line);
    ck_assert_ptr_null(load(path));
    ck_assert_uint_eq(errs.count, 1);
    expect_error("%s:2: line is longer than 65536 bytes", path);

    /* 40,000 lines of 31 bytes: over 1 MiB at line 33,826. */
    size_t lines = 40000;
    char *big = keep(pmq_xmalloc(lines * 31 + 1));
    for (size_t i = 0; i < lines; i++)
        memcpy(big + 31 * i, "; a comment of thirty-one byte\n", 31);
    big[lines * 31] = '\0';
    path = write_file(dir, "pmqd.ini", big);
    ck_assert_ptr_null(load(path));
    ck_assert_uint_eq(errs.count, 1);
    expect_error("%s:33826: configuration file \"%s\" is larger than 1048576 bytes", path, path);
    big[1048576 - 1] = '\n';
    big[1048576] = '\0'; /* exactly the limit */
    load_ok(write_file(dir, "pmqd.ini", big));

    /* A password file's first line has the same bound. */
    char *pw = write_file(dir, "pw", line + strlen("[queue q]\n"));
    ck_assert_int_eq(chmod(pw, 0600), 0);
    path = write_file(dir, "pmqd.ini", "[database]\npassword_file = pw\n");
    ck_assert_ptr_null(load(path));
    ck_assert_uint_eq(errs.count, 1);
    expect_error("%s:2: [database] the first line of password file \"%s\" is longer than 65536 "
                 "bytes",
                 path, pw);
}
END_TEST

START_TEST(test_nul_byte_refused)
{
    static const char text[] = "[queue q]\nmax_attempts = 5\0 junk\npriority = 7\n";
    char *dir = new_dir();
    char *path = write_bytes(dir, "pmqd.ini", text, sizeof text - 1);
    ck_assert_ptr_null(load(path));
    ck_assert_uint_eq(errs.count, 1);
    expect_error("%s:2: line holds a NUL byte", path);
}
END_TEST

/* Messages quote what files say with its control characters escaped. */
START_TEST(test_control_characters_escaped)
{
    char *path = main_file("[queue q]\n"
                           "max_attempts = 5\x1b[2J\r\n"
                           "prio\x07rity = 1\n"
                           "[pool p\x1b]\n");
    ck_assert_ptr_null(load(path));
    ck_assert_uint_eq(errs.count, 3);
    expect_error("%s:2: [queue q] invalid value \"5\\x1b[2J\" for \"max_attempts\"", path);
    expect_error("%s:3: [queue q] unknown key \"prio\\x07rity\"", path);
    expect_error("%s:4: invalid name \"p\\x1b\" in section \"[pool p\\x1b]\"", path);
    for (size_t i = 0; i < errs.count; i++)
        for (const char *p = errs.items[i].message; *p; p++)
            ck_assert_msg((unsigned char)*p >= 0x20 && *p != 0x7f, "raw control character in: %s",
                          errs.items[i].message);
}
END_TEST

/* A bad password_env is one error, not also the default variable's. */
START_TEST(test_password_env_invalid_name)
{
    unsetenv("PGPASSWORD");
    unsetenv("PMQ_REDIS_PASSWORD");
    char *path = main_file("[database]\npassword_env = 1ABC\n[redis]\npassword_env = A-B\n");
    ck_assert_ptr_null(load(path));
    ck_assert_msg(errs.count == 2, "not two errors:\n%s", all_messages());
    expect_error("%s:2: [database] invalid value \"1ABC\" for \"password_env\"", path);
    expect_error("%s:4: [redis] invalid value \"A-B\" for \"password_env\"", path);
}
END_TEST

/* What pmq_enqueue() would refuse, a schedule's payload must not hold. */
START_TEST(test_schedule_payload_as_enqueue_takes_it)
{
    char *path = main_file("[schedule a]\ncron = * * * * *\nqueue = q\n"
                           "payload = {\"text\": \"a\\u0000b\"}\n");
    ck_assert_ptr_null(load(path));
    expect_detail_has(expect_error("%s:4: [schedule a] invalid value \"{\"text\": "
                                   "\"a\\u0000b\"}\" for \"payload\"",
                                   path),
                      "unsupported Unicode escape sequence");
    /* An escaped backslash before "u0000" is text. */
    load_ok(main_file("[schedule a]\ncron = * * * * *\nqueue = q\n"
                      "payload = {\"path\": \"C:\\\\u0000\"}\n"));

    path = main_file("[schedule a]\ncron = * * * * *\nqueue = q\npayload = {\"t\": \"\xff\"}\n");
    ck_assert_ptr_null(load(path));
    expect_detail_has(
        expect_error("%s:4: [schedule a] invalid value \"{\"t\": \"\\xff\"}\" for \"payload\"",
                     path),
        "invalid byte sequence for encoding \"UTF8\": 0xff");
    load_ok(main_file("[schedule a]\ncron = * * * * *\nqueue = q\npayload = {\"t\": \"\xc3\xa9\"}\n"));

    /* Its size as PostgreSQL counts it (jsonb's text): {"a": "xx...", "b": [1, 2]}. */
    char *body = keep(pmq_xmalloc(101));
    memset(body, 'x', 100);
    body[100] = '\0';
    char *ini = fmt("[queue q]\nmax_payload = 122\n"
                    "[schedule a]\ncron = * * * * *\nqueue = q\npayload = {\"b\":[1,2],\"a\":\"%s\"}\n",
                    body);
    load_ok(main_file(ini));
    ini = fmt("[queue q]\nmax_payload = 121\n"
              "[schedule a]\ncron = * * * * *\nqueue = q\npayload = {\"b\":[1,2],\"a\":\"%s\"}\n",
              body);
    path = main_file(ini);
    ck_assert_ptr_null(load(path));
    ck_assert_uint_eq(errs.count, 1);
    expect_hint(expect_error("%s:6: [schedule a] payload of 122 bytes exceeds the limit of 121 "
                             "bytes of queue \"q\"",
                             path),
                "Store large data elsewhere and put a reference to it in the payload, or raise "
                "max_payload in the queue's [queue] section.");
}
END_TEST

/*--- reload: needs a running pmqd, hence servers ---*/

/* Wait (PMQ_TEST_WAIT_MS at most) until pmqd's log `log_name` holds `text`. */
static void await_log(const char *log_name, const char *text)
{
    for (int waited = 0;; waited += 20) {
        char *log = pmq_test_pmqd_log(log_name);
        int found = log && strstr(log, text);
        free(log);
        if (found)
            return;
        if (waited >= PMQ_TEST_WAIT_MS) {
            char *tail = pmq_test_pmqd_log_tail(log_name);
            ck_abort_msg("pmqd's log never said \"%s\":\n%s", text, keep(tail));
        }
        nanosleep(&(struct timespec){0, 20 * 1000000L}, NULL);
    }
}

/* A reload refused for a conninfo libpq rejects logs why, never the password. */
START_TEST(test_reload_hides_secret)
{
    char *config = keep(pmq_test_behave_setup("reload", "[pool p]\nqueues = t.ok\n"));
    pid_t pid = pmq_test_pmqd_start(config, "reload");
    await_log("reload", "started with");

    free(pmq_test_behave_config("reload", "[database]\nconninfo = password=" SECRET " bogus=1\n"
                                          "[queue t.ok]\n"
                                          "[schedule s]\ncron = * * * * *\nqueue = t.ok\n"
                                          "payload = {\"k\": \"\\u0000\"}\n"));
    ck_assert_int_eq(kill(pid, SIGHUP), 0);
    await_log("reload", "reload refused");
    char *log = keep(pmq_test_pmqd_log("reload"));
    ck_assert_msg(strstr(log, "conninfo") != NULL, "the refusal does not say why:\n%s", log);
    ck_assert_msg(strstr(log, "password=" SECRET) == NULL, "pmqd's log shows the password:\n%s",
                  log);
    pmq_test_pmqd_stop_checked(pid, "reload", 0);
}
END_TEST

START_TEST(test_free_null)
{
    pmq_config_free(NULL);
}
END_TEST

static int remove_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    return remove(path);
}

/*
 * The schema is what set_value, the defaults and the hints read: every row
 * is documented, found by its name, and a default fits its own row (a
 * required key has none).
 */
START_TEST(test_schema_rows)
{
    for (int kind = 0; kind < PMQ_SECTION_COUNT; kind++) {
        const pmq_section_spec *sp = &pmq_sections[kind];
        ck_assert_int_eq(pmq_schema_section_kind(sp->type), kind);
        ck_assert_uint_gt(sp->nkeys, 0);
        for (size_t i = 0; i < sp->nkeys; i++) {
            const pmq_key_spec *k = &sp->keys[i];
            ck_assert_msg(k->doc && *k->doc, "[%s] %s has no doc", sp->type, k->name);
            ck_assert_msg(pmq_schema_key(kind, k->name) == k, "[%s] %s is listed twice",
                          sp->type, k->name);
            if (k->flags & PMQ_KEY_REQUIRED)
                ck_assert_msg(k->dflt == NULL, "[%s] %s is required and has a default",
                              sp->type, k->name);
            if (k->type == PMQ_KEY_INT || k->type == PMQ_KEY_BYTES ||
                k->type == PMQ_KEY_DURATION || k->type == PMQ_KEY_SECONDS)
                ck_assert_msg(k->min <= k->max && k->dflt, "[%s] %s: bounds %ld..%ld, default %s",
                              sp->type, k->name, k->min, k->max, k->dflt ? k->dflt : "none");
        }
        union {
            pmq_daemon_config daemon;
            pmq_database_config database;
            pmq_redis_config redis;
            pmq_migrator_config migrator;
            pmq_http_config http;
            pmq_pool_config pool;
            pmq_queue_config queue;
            pmq_plugin_config plugin;
            pmq_schedule_config schedule;
        } base;
        memset(&base, 0, sizeof base);
        const char *bad = NULL;
        int rc = pmq_schema_defaults(kind, &base, "/etc/pmq/pmqd.ini", &bad);
        ck_assert_msg(rc == 0, "the default of [%s] %s does not fit its row", sp->type,
                      bad ? bad : "?");
        if (kind == PMQ_SECTION_QUEUE) {
            /* pmq_queue_settings() for a queue without a section says the same. */
            const pmq_queue_config *d = pmq_queue_settings(NULL, "q");
            ck_assert_int_eq(base.queue.max_attempts, d->max_attempts);
            ck_assert_int_eq(base.queue.backoff_base_ms, d->backoff_base_ms);
            ck_assert_int_eq(base.queue.backoff_max_ms, d->backoff_max_ms);
            ck_assert_int_eq(base.queue.timeout_ms, d->timeout_ms);
            ck_assert_int_eq(base.queue.rate_limit, d->rate_limit);
            ck_assert_int_eq(base.queue.priority, d->priority);
            ck_assert_int_eq(base.queue.max_payload_bytes, d->max_payload_bytes);
        }
        pmq_schema_free(kind, &base);
    }
    /* A secret is refused, never suggested. */
    ck_assert_str_eq(pmq_schema_nearest_key(PMQ_SECTION_REDIS, "passwrd_file"), "password_file");
    ck_assert_ptr_null(pmq_schema_nearest_key(PMQ_SECTION_REDIS, "passwrd"));
}
END_TEST

static Suite *config_suite(void)
{
    Suite *s = suite_create("config");
    TCase *tc = tcase_create("config");
    tcase_add_checked_fixture(tc, NULL, teardown);
    tcase_add_test(tc, test_missing_main_file);
    tcase_add_test(tc, test_defaults);
    tcase_add_test(tc, test_named_defaults);
    tcase_add_test(tc, test_unknown_section);
    tcase_add_test(tc, test_unknown_key);
    tcase_add_test(tc, test_invalid_values);
    tcase_add_test(tc, test_missing_required_keys);
    tcase_add_test(tc, test_duplicate_key_in_section);
    tcase_add_test(tc, test_duplicate_section_across_files);
    tcase_add_test(tc, test_singleton_reopened);
    tcase_add_test(tc, test_section_headers);
    tcase_add_test(tc, test_all_problems_reported_in_order);
    tcase_add_test(tc, test_conf_dir_lexical_order);
    tcase_add_test(tc, test_conf_dir_setting);
    tcase_add_test(tc, test_conf_dir_unreadable_file);
    tcase_add_test(tc, test_password_key_refused);
    tcase_add_test(tc, test_password_file_mode);
    tcase_add_test(tc, test_password_file_problems);
    tcase_add_test(tc, test_password_env);
    tcase_add_test(tc, test_full_configuration);
    tcase_add_test(tc, test_shipped_configuration);
    tcase_add_test(tc, test_cron);
    tcase_add_test(tc, test_json_payload);
    tcase_add_test(tc, test_http_listen);
    tcase_add_test(tc, test_sizes_and_durations);
    tcase_add_test(tc, test_duration_limits);
    tcase_add_test(tc, test_long_lines);
    tcase_add_test(tc, test_continuations_and_comments);
    tcase_add_test(tc, test_queue_names);
    tcase_add_test(tc, test_colon_only_in_queue_names);
    tcase_add_test(tc, test_conninfo);
    tcase_add_test(tc, test_conninfo_secret_never_shown);
    tcase_add_test(tc, test_conninfo_enumerations);
    tcase_add_test(tc, test_fifo_refused);
    tcase_add_test(tc, test_reader_limits);
    tcase_add_test(tc, test_nul_byte_refused);
    tcase_add_test(tc, test_control_characters_escaped);
    tcase_add_test(tc, test_password_env_invalid_name);
    tcase_add_test(tc, test_schedule_payload_as_enqueue_takes_it);
    tcase_add_test(tc, test_max_payload_cap);
    tcase_add_test(tc, test_free_null);
    tcase_add_test(tc, test_schema_rows);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    if (!mkdtemp(base_dir)) {
        fprintf(stderr, "test_config: mkdtemp: %s\n", strerror(errno));
        return 99;
    }
    SRunner *sr = srunner_create(config_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    nftw(base_dir, remove_entry, 16, FTW_DEPTH | FTW_PHYS);

    Suite *s = suite_create("config reload");
    tcase_add_test(pmq_test_case(s, "reload", 300), test_reload_hides_secret);
    int rc = pmq_test_main(s, NULL);
    return failed || rc != EXIT_SUCCESS ? 1 : 0;
}
