/*
 * fuzz.h -- what every fuzz target of tests/fuzz/ defines (the libFuzzer
 * entry points), and FUZZ_CHECK for its invariants: unlike assert(), never
 * compiled out, and it names the broken invariant before aborting so that
 * libFuzzer (or the replay) keeps the input as a crash.
 */
#ifndef PMQ_FUZZ_H
#define PMQ_FUZZ_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FUZZ_CHECK(cond, ...)                                                                      \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            fprintf(stderr, "%s:%d: invariant broken: %s: ", __FILE__, __LINE__, #cond);           \
            fprintf(stderr, __VA_ARGS__);                                                          \
            fputc('\n', stderr);                                                                   \
            abort();                                                                               \
        }                                                                                          \
    } while (0)

/* A string a plugin gives (and so stores) is valid UTF-8 without NULs (plugins/common/utf8.h). */
#define FUZZ_CHECK_TEXT(what, s)                                                                   \
    FUZZ_CHECK(!(s) || plugin_utf8_valid(s), "%s is not UTF-8: %s", what, s)

#endif /* PMQ_FUZZ_H */
