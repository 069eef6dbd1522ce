/*
 * pmqd.c -- the host's command line: parse options, load the configuration
 * and the plugins, then either report on them (--check) or hand over to the
 * supervisor.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "errors.h"
#include "log.h"
#include "plugin_loader.h"
#include "pmq/plugin.h"
#include "supervisor.h"
#include "util.h"

static void usage(FILE *out)
{
    fprintf(out,
            "Usage: pmqd [-c FILE] [--check]\n"
            "\n"
            "Run the pmq job-queue host: migrator, worker pools and maintenance.\n"
            "\n"
            "  -c, --config FILE  main configuration file (default %s/pmqd.ini);\n"
            "                     conf.d/*.ini beside it is read too\n"
            "  -t, --check        load the configuration and every plugin, report\n"
            "                     every problem, touch no server, and exit\n"
            "  -V, --version      print the version and the plugin ABI\n"
            "  -h, --help         show this help\n",
            PMQ_CONF_DIR);
}

int main(int argc, char **argv)
{
    static const struct option options[] = {
        {"config", required_argument, NULL, 'c'}, {"check", no_argument, NULL, 't'},
        {"version", no_argument, NULL, 'V'},      {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0}};
    const char *path = PMQ_CONF_DIR "/pmqd.ini";
    int check = 0, c;

    while ((c = getopt_long(argc, argv, "c:tVh", options, NULL)) != -1) {
        switch (c) {
        case 'c':
            path = optarg;
            break;
        case 't':
            check = 1;
            break;
        case 'V':
            printf("pmqd %s (plugin ABI %d.%d)\n", PMQ_VERSION, PMQ_ABI_MAJOR, PMQ_ABI_MINOR);
            return 0;
        case 'h':
            usage(stdout);
            return 0;
        default:
            usage(stderr);
            return 2;
        }
    }
    if (optind < argc) {
        char *arg = pmq_escape_controls(argv[optind]);
        fprintf(stderr, "pmqd: unexpected argument \"%s\"\n", arg);
        free(arg);
        usage(stderr);
        return 2;
    }

    pmq_log_set_ident("pmqd");
    /* The path as messages show it. */
    char *shown = pmq_escape_controls(path);
    pmq_errors errs = PMQ_ERRORS_INIT;
    pmq_config *cfg = pmq_config_load(path, &errs);
    pmq_registry *reg = NULL;
    if (cfg) {
        reg = pmq_registry_load(cfg, &errs);
        pmq_registry_check_config(reg, cfg, &errs);
    }
    if (errs.count) {
        pmq_errors_print(&errs, stderr, "pmqd");
        fprintf(stderr, "pmqd: %zu problem%s found in \"%s\"\n", errs.count,
                errs.count == 1 ? "" : "s", shown);
        free(shown);
        pmq_errors_clear(&errs);
        pmq_registry_free(reg);
        pmq_config_free(cfg);
        return 1;
    }

    int rc = 0;
    if (check) {
        printf("pmqd: configuration \"%s\" is valid: %zu file%s, %zu plugin%s, %zu queue%s\n", shown,
               cfg->nfiles, cfg->nfiles == 1 ? "" : "s", cfg->nplugins,
               cfg->nplugins == 1 ? "" : "s", pmq_registry_queue_count(reg),
               pmq_registry_queue_count(reg) == 1 ? "" : "s");
    } else {
        /* The children load the plugins themselves (after fork). */
        pmq_registry_free(reg);
        reg = NULL;
        rc = pmq_supervisor_run(path, cfg);
    }
    free(shown);
    pmq_registry_free(reg);
    pmq_config_free(cfg);
    return rc;
}
