/*
 * test_entry.c -- the worker reads a claimed entry's id and payload without
 * decoding the payload (core/claim.c): the slice must be exactly the
 * payload's JSON text, whatever the other members hold.
 */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "claim.h"

/* The payload's text, or "(none)". */
static char *payload_of(const char *entry)
{
    size_t len;
    const char *p = pmq_entry_payload(entry, &len);
    if (!p)
        return strdup("(none)");
    char *s = malloc(len + 1);
    memcpy(s, p, len);
    s[len] = '\0';
    return s;
}

#define ASSERT_PAYLOAD(entry, want)                                                                \
    do {                                                                                           \
        char *got_ = payload_of(entry);                                                            \
        ck_assert_str_eq(got_, want);                                                              \
        free(got_);                                                                                \
    } while (0)

START_TEST(payload_is_sliced_exactly)
{
    /* As PostgreSQL's json_build_object writes it. */
    ASSERT_PAYLOAD("{\"id\" : \"0b7e4c38-9c1a-4d3e-8a57-3f0f6c1d2e4a\", \"queue_name\" : \"q\","
                   " \"priority\" : 100, \"payload\" : {\"i\": 1, \"s\": \"a}b\"}, \"created_at\" :"
                   " \"2026-11-28T03:00:00.1+00:00\", \"tenant_id\" : null}",
                   "{\"i\": 1, \"s\": \"a}b\"}");
    /* Nested values, escaped quotes and brackets inside strings. */
    ASSERT_PAYLOAD("{\"payload\":{\"a\":[1,{\"b\":\"x\\\"]}\"}],\"c\":{}},\"id\":\"x\"}",
                   "{\"a\":[1,{\"b\":\"x\\\"]}\"}],\"c\":{}}");
    /* A member named like it inside another value is not it. */
    ASSERT_PAYLOAD("{\"meta\": {\"payload\": 1}, \"note\": \"\\\"payload\\\": 2\", \"payload\": {}}",
                   "{}");
    ASSERT_PAYLOAD("{\"id\": \"x\", \"payload\": {\"k\": [true, false, null, -1.5e3]}}",
                   "{\"k\": [true, false, null, -1.5e3]}");
}
END_TEST

START_TEST(entries_without_a_payload_are_refused)
{
    ASSERT_PAYLOAD("{\"id\": \"x\"}", "(none)");
    ASSERT_PAYLOAD("{}", "(none)");
    ASSERT_PAYLOAD("[{\"payload\": {}}]", "(none)");
    ASSERT_PAYLOAD("{\"id\": \"x\", \"payload\": {\"unterminated\": \"}", "(none)");
    ASSERT_PAYLOAD("not json", "(none)");
    ASSERT_PAYLOAD("", "(none)");
}
END_TEST

int main(void)
{
    Suite *s = suite_create("entry");
    TCase *tc = tcase_create("payload");
    tcase_add_test(tc, payload_is_sliced_exactly);
    tcase_add_test(tc, entries_without_a_payload_are_refused);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
