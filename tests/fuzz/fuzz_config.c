/*
 * fuzz_config.c -- the INI loader (core/config.c) on any bytes: no crash,
 * no leak, and a configuration exactly when no error was reported, every
 * error with a message.  The input is written to pmqd.ini in a private
 * directory (pmq_config_load() reads a path).
 */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config.h"
#include "errors.h"
#include "fuzz.h"

static char dir[64], path[96];

static void cleanup(void)
{
    unlink(path);
    rmdir(dir);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    snprintf(dir, sizeof dir, "%s", "/tmp/pmq-fuzz-config.XXXXXX");
    if (!mkdtemp(dir))
        abort();
    snprintf(path, sizeof path, "%s/pmqd.ini", dir);
    atexit(cleanup);
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    if (fd < 0 || write(fd, data, size) != (ssize_t)size || close(fd) < 0)
        abort();
    pmq_errors errs = PMQ_ERRORS_INIT;
    pmq_config *cfg = pmq_config_load(path, &errs);
    FUZZ_CHECK((cfg != NULL) == (errs.count == 0), "%zu error(s), configuration %s", errs.count,
               cfg ? "returned" : "refused");
    for (size_t i = 0; i < errs.count; i++)
        FUZZ_CHECK(errs.items[i].message && *errs.items[i].message, "error %zu has no message", i);
    pmq_config_free(cfg);
    pmq_errors_clear(&errs);
    return 0;
}
