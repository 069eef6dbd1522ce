/*
 * fuzz_entry.c -- the job-entry reader (core/entry.c) on any text: no
 * crash or leak; an entry read has a 36-character id, a queue and a payload
 * inside the text; and an entry as pmq writes it (a uuid-shaped id, a JSON
 * payload, a timestamp in years 1..9999) round-trips: written again and
 * read back, every member is the same, and the written text is JSON.
 */
#include <json-c/json.h>
#include <stdlib.h>
#include <string.h>

#include "entry.h"
#include "fuzz.h"

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    return 0;
}

static int uuid_shaped(const char *id)
{
    return strlen(id) == 36 && strspn(id, "0123456789abcdefABCDEF-") == 36;
}

static int is_json(const char *s, size_t len)
{
    json_tokener *tok = json_tokener_new();
    json_object *o = json_tokener_parse_ex(tok, s, (int)len);
    int ok = o && json_tokener_get_error(tok) == json_tokener_success &&
             json_tokener_get_parse_end(tok) == len;
    json_object_put(o);
    json_tokener_free(tok);
    return ok;
}

static int same(const char *a, const char *b)
{
    return (!a && !b) || (a && b && !strcmp(a, b));
}

/* Year 1 to 9999, the range PostgreSQL's timestamps and the writer's %04d share. */
#define MIN_US (-62135596800LL * 1000000)
#define MAX_US (253402300799LL * 1000000 + 999999)

static void round_trip(const pmq_entry *e)
{
    char *payload = strndup(e->payload, e->payload_len);
    if (!payload)
        abort();
    pmq_entry_job job = {e->id,           e->queue,        e->priority,     payload,
                         e->created_us,   e->attempt_count, e->max_attempts, e->tenant};
    char *buf = NULL;
    size_t cap = 0;
    size_t len = pmq_entry_write(&buf, &cap, &job);
    FUZZ_CHECK(len == strlen(buf), "written length %zu, text length %zu", len, strlen(buf));
    FUZZ_CHECK(is_json(buf, len), "the written entry is not JSON: %s", buf);
    pmq_entry back;
    FUZZ_CHECK(pmq_entry_read(buf, &back) == 0, "the written entry is not read back: %s", buf);
    FUZZ_CHECK(!strcmp(back.id, e->id), "id \"%s\" read back as \"%s\"", e->id, back.id);
    FUZZ_CHECK(same(back.queue, e->queue), "queue \"%s\" read back as \"%s\"", e->queue,
               back.queue);
    FUZZ_CHECK(same(back.tenant, e->tenant), "tenant \"%s\" read back as \"%s\"",
               e->tenant ? e->tenant : "(null)", back.tenant ? back.tenant : "(null)");
    FUZZ_CHECK(back.priority == e->priority && back.attempt_count == e->attempt_count &&
                   back.max_attempts == e->max_attempts,
               "numbers %d %d %d read back as %d %d %d", e->priority, e->attempt_count,
               e->max_attempts, back.priority, back.attempt_count, back.max_attempts);
    FUZZ_CHECK(back.created_us == e->created_us, "created %lld read back as %lld",
               (long long)e->created_us, (long long)back.created_us);
    FUZZ_CHECK(back.payload_len == e->payload_len &&
                   !memcmp(back.payload, e->payload, e->payload_len),
               "payload %s read back as %.*s", payload, (int)back.payload_len, back.payload);
    char id[PMQ_JOB_ID_SIZE];
    FUZZ_CHECK(pmq_entry_id(buf, id) == 0 && !strcmp(id, e->id), "pmq_entry_id() of %s", buf);
    size_t plen = 0;
    const char *p = pmq_entry_payload(buf, &plen);
    FUZZ_CHECK(p && plen == e->payload_len && !memcmp(p, e->payload, plen),
               "pmq_entry_payload() of %s", buf);
    pmq_entry_clear(&back);
    free(buf);
    free(payload);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *text = malloc(size + 1);
    if (!text)
        abort();
    memcpy(text, data, size);
    text[size] = '\0';
    pmq_entry e;
    if (pmq_entry_read(text, &e) == 0) {
        FUZZ_CHECK(strlen(e.id) == 36, "id \"%s\"", e.id);
        FUZZ_CHECK(e.queue != NULL, "no queue");
        FUZZ_CHECK(e.payload && (!strcmp(e.payload, "{}") ||
                                 (e.payload >= text && e.payload + e.payload_len <= text + size)),
                   "the payload lies outside the text");
        if (uuid_shaped(e.id) && is_json(e.payload, e.payload_len) && e.created_us >= MIN_US &&
            e.created_us <= MAX_US)
            round_trip(&e);
        pmq_entry_clear(&e);
    }
    free(text);
    return 0;
}
