/*
 * fuzz_bounce.c -- the bounce reader (plugins/bounce/report.c) on any
 * message: no crash or leak; a bounce has recipients, each a non-empty
 * lower-case address; every string it gives (and so stores) is valid UTF-8
 * without NULs; a message that is not a bounce says why.
 */
#include <gmime/gmime.h>
#include <string.h>

#include "bounce/report.h"
#include "common/utf8.h"
#include "fuzz.h"

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    g_mime_init();
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    bounce_report r;
    char *why = NULL;
    int rc = bounce_report_parse((const char *)data, size, &r, &why);
    if (rc == 1) {
        FUZZ_CHECK(r.nrcpts > 0 && !why, "a bounce with %zu recipients", r.nrcpts);
        FUZZ_CHECK_TEXT("the original Message-ID", r.original_message_id);
        for (size_t i = 0; i < r.nrcpts; i++) {
            const bounce_recipient *b = &r.rcpts[i];
            FUZZ_CHECK(b->email && *b->email && strchr(b->email, '@'), "recipient %zu", i);
            for (const char *c = b->email; *c; c++)
                FUZZ_CHECK(!(*c >= 'A' && *c <= 'Z'), "recipient %s is not lower-case", b->email);
            FUZZ_CHECK_TEXT("an address", b->email);
            FUZZ_CHECK_TEXT("a status", b->status);
            FUZZ_CHECK_TEXT("a reply code", b->smtp_code);
            FUZZ_CHECK_TEXT("a diagnostic", b->diagnostic);
        }
        bounce_report_clear(&r);
    } else {
        FUZZ_CHECK(rc == 0 && why && r.nrcpts == 0, "not a bounce, rc %d", rc);
        FUZZ_CHECK_TEXT("the reason", why);
        free(why);
    }
    return 0;
}
