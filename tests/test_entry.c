/*
 * test_entry.c -- the worker reads a claimed entry's id and payload without
 * decoding the payload (core/entry.c): the slice must be exactly the
 * payload's JSON text, whatever the other members hold.
 */
#include <check.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "entry.h"

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

START_TEST(written_entries_read_back)
{
    /* 2026-11-28T03:00:00.000123Z */
    int64_t created = (int64_t)1795834800 * 1000000 + 123;
    pmq_entry_job job = {"0b7e4c38-9c1a-4d3e-8a57-3f0f6c1d2e4a", "email:processing", 10,
                         "{\"to\": \"a@example.com\"}", created, 2, 5,
                         "acme \"west\"\\\n\x01\xc3\xa9"};
    char *buf = NULL;
    size_t cap = 0;
    size_t len = pmq_entry_write(&buf, &cap, &job);
    ck_assert_uint_eq(len, strlen(buf));
    ck_assert_msg(strncmp(buf, "{\"id\":\"0b7e4c38-", 16) == 0, "id is not first: %s", buf);
    pmq_entry e;
    ck_assert_int_eq(pmq_entry_read(buf, &e), 0);
    ck_assert_str_eq(e.id, job.id);
    ck_assert_str_eq(e.queue, job.queue);
    ck_assert_str_eq(e.tenant, job.tenant);
    ck_assert_int_eq(e.priority, 10);
    ck_assert_int_eq(e.attempt_count, 2);
    ck_assert_int_eq(e.max_attempts, 5);
    ck_assert_int_eq(e.created_us, created);
    ck_assert_uint_eq(e.payload_len, strlen(job.payload));
    ck_assert(memcmp(e.payload, job.payload, e.payload_len) == 0);
    pmq_entry_clear(&e);

    /* Without a tenant, and rewritten into the same buffer. */
    job.tenant = NULL;
    len = pmq_entry_write(&buf, &cap, &job);
    ck_assert_int_eq(pmq_entry_read(buf, &e), 0);
    ck_assert_ptr_null(e.tenant);
    pmq_entry_clear(&e);
    free(buf);
}
END_TEST

START_TEST(written_entries_are_exact)
{
    /* The bytes workers and older pmqd versions read: escapes, negative and large numbers. */
    pmq_entry_job job = {"0b7e4c38-9c1a-4d3e-8a57-3f0f6c1d2e4a", "email:processing", -7,
                         "{\"to\": \"a@example.com\"}", (int64_t)1795834800 * 1000000 + 123, 2, 5,
                         "acme \"west\"\\\n\x01\xc3\xa9"};
    char *buf = NULL;
    size_t cap = 0;
    size_t len = pmq_entry_write(&buf, &cap, &job);
    const char *want = "{\"id\":\"0b7e4c38-9c1a-4d3e-8a57-3f0f6c1d2e4a\","
                       "\"queue_name\":\"email:processing\",\"priority\":-7,"
                       "\"payload\":{\"to\": \"a@example.com\"},"
                       "\"created_at\":\"2026-11-28T03:00:00.000123+00:00\","
                       "\"attempt_count\":2,\"max_attempts\":5,"
                       "\"tenant_id\":\"acme \\\"west\\\"\\\\\\u000a\\u0001\xc3\xa9\"}";
    ck_assert_str_eq(buf, want);
    ck_assert_uint_eq(len, strlen(want));

    /* A shorter entry reuses the buffer: no allocation per job once it is large enough. */
    char *before = buf;
    size_t cap_before = cap;
    job.tenant = NULL;
    job.created_us = -1500000;
    job.priority = 2147483647;
    len = pmq_entry_write(&buf, &cap, &job);
    want = "{\"id\":\"0b7e4c38-9c1a-4d3e-8a57-3f0f6c1d2e4a\","
           "\"queue_name\":\"email:processing\",\"priority\":2147483647,"
           "\"payload\":{\"to\": \"a@example.com\"},"
           "\"created_at\":\"1969-12-31T23:59:58.500000+00:00\","
           "\"attempt_count\":2,\"max_attempts\":5,\"tenant_id\":null}";
    ck_assert_str_eq(buf, want);
    ck_assert_uint_eq(len, strlen(want));
    ck_assert_ptr_eq(buf, before);
    ck_assert_uint_eq(cap, cap_before);
    free(buf);
}
END_TEST

START_TEST(entries_as_postgresql_writes_them_are_read)
{
    /* json_build_object's spacing, an offset, escapes in strings. */
    pmq_entry e;
    ck_assert_int_eq(pmq_entry_read("{\"id\" : \"0b7e4c38-9c1a-4d3e-8a57-3f0f6c1d2e4a\","
                                    " \"queue_name\" : \"q\\u00e9\", \"priority\" : 200,"
                                    " \"payload\" : {\"i\": 1}, \"created_at\" :"
                                    " \"2026-11-28T05:30:00.5+02:30\", \"attempt_count\" : 0,"
                                    " \"max_attempts\" : 3, \"tenant_id\" : \"\\ud83d\\ude00\"}",
                                    &e),
                     0);
    ck_assert_str_eq(e.queue, "q\xc3\xa9");
    ck_assert_str_eq(e.tenant, "\xf0\x9f\x98\x80");
    ck_assert_int_eq(e.priority, 200);
    ck_assert_int_eq(e.max_attempts, 3);
    ck_assert_int_eq(e.created_us, (int64_t)1795834800 * 1000000 + 500000);
    pmq_entry_clear(&e);

    /* Members that are absent take their defaults; a payload-less entry runs with {}. */
    ck_assert_int_eq(pmq_entry_read("{\"id\": \"0b7e4c38-9c1a-4d3e-8a57-3f0f6c1d2e4a\","
                                    " \"queue_name\": \"q\"}",
                                    &e),
                     0);
    ck_assert_int_eq(e.priority, 100);
    ck_assert_int_eq(e.attempt_count, 0);
    ck_assert_int_eq(e.max_attempts, 1);
    ck_assert_int_eq(e.created_us, 0);
    ck_assert_uint_eq(e.payload_len, 2);
    ck_assert(memcmp(e.payload, "{}", 2) == 0);
    pmq_entry_clear(&e);
}
END_TEST

START_TEST(entries_that_are_not_jobs_are_refused)
{
    pmq_entry e;
    /* No id, no queue, not an object, truncated. */
    ck_assert_int_eq(pmq_entry_read("{\"queue_name\": \"q\", \"payload\": {}}", &e), -1);
    ck_assert_int_eq(pmq_entry_read("{\"id\": \"0b7e4c38-9c1a-4d3e-8a57-3f0f6c1d2e4a\"}", &e), -1);
    ck_assert_int_eq(pmq_entry_read("[1, 2]", &e), -1);
    ck_assert_int_eq(pmq_entry_read("{\"id\": \"0b7e4c38-9c1a-4d3e-8a57-3f0f6c1d2e4a\","
                                    " \"queue_name\": \"q\", \"payload\": {\"a\": ",
                                    &e),
                     -1);
    ck_assert_int_eq(pmq_entry_read("", &e), -1);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("entry");
    TCase *tc = tcase_create("payload");
    tcase_add_test(tc, payload_is_sliced_exactly);
    tcase_add_test(tc, entries_without_a_payload_are_refused);
    suite_add_tcase(s, tc);
    TCase *rw = tcase_create("read and write");
    tcase_add_test(rw, written_entries_read_back);
    tcase_add_test(rw, written_entries_are_exact);
    tcase_add_test(rw, entries_as_postgresql_writes_them_are_read);
    tcase_add_test(rw, entries_that_are_not_jobs_are_refused);
    suite_add_tcase(s, rw);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
