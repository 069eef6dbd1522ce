/*
 * replay.c -- runs a fuzz target over its corpus once, without fuzzing
 * (libFuzzer's StandaloneFuzzTargetMain): `make check` builds each target
 * with this main() and the normal compiler, so an input that once crashed
 * stays fixed, under --enable-sanitizers too.  Arguments are files or
 * directories; without any, the target's corpus (FUZZ_CORPUS) is replayed.
 */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "fuzz.h"

/* Run the target on one file; 1 when it ran, 0 when the file could not be read. */
static int run_file(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        perror(path);
        return 0;
    }
    size_t cap = 4096, len = 0;
    unsigned char *buf = malloc(cap);
    size_t n;
    while (buf && (n = fread(buf + len, 1, cap - len, f)) > 0)
        if ((len += n) == cap)
            buf = realloc(buf, cap *= 2);
    fclose(f);
    if (!buf)
        abort();
    /* An exact-size copy, as libFuzzer passes: ASan sees any read past the end. */
    unsigned char *data = malloc(len ? len : 1);
    if (!data)
        abort();
    memcpy(data, buf, len);
    free(buf);
    LLVMFuzzerTestOneInput(data, len);
    free(data);
    return 1;
}

static int run_path(const char *path, int *count)
{
    struct stat st;
    if (stat(path, &st) < 0) {
        perror(path);
        return -1;
    }
    if (!S_ISDIR(st.st_mode))
        return run_file(path) ? (*count)++, 0 : -1;
    struct dirent **names;
    int n = scandir(path, &names, NULL, alphasort), rc = n < 0 ? -1 : 0;
    for (int i = 0; i < n; i++) {
        if (names[i]->d_name[0] != '.') {
            char *sub = malloc(strlen(path) + strlen(names[i]->d_name) + 2);
            if (!sub)
                abort();
            sprintf(sub, "%s/%s", path, names[i]->d_name);
            if (run_path(sub, count) < 0)
                rc = -1;
            free(sub);
        }
        free(names[i]);
    }
    if (n >= 0)
        free(names);
    return rc;
}

int main(int argc, char **argv)
{
    LLVMFuzzerInitialize(&argc, &argv);
    static char corpus_dir[] = FUZZ_CORPUS;
    char *corpus[] = {corpus_dir, NULL};
    char **paths = argc > 1 ? argv + 1 : corpus;
    int count = 0, rc = 0;
    for (char **p = paths; *p; p++)
        if (run_path(*p, &count) < 0)
            rc = 1;
    printf("%s: %d input(s) replayed\n", argv[0], count);
    return rc || count == 0; /* an empty corpus replays nothing: an error */
}
