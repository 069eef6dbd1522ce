/*
 * fuzz_inbound.c -- the inbound message reader (plugins/email/inbound.c)
 * on any message: no crash or leak; a message read has a From address,
 * headers that are a JSON object, attachments whose hash is that of their
 * content; every string it gives (and so stores) is valid UTF-8 without
 * NULs; a message refused says why.
 */
#include <gmime/gmime.h>
#include <json-c/json.h>
#include <string.h>

#include "common/utf8.h"
#include "email/inbound.h"
#include "fuzz.h"

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    g_mime_init();
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    email_inbound m;
    char *err = NULL;
    if (email_inbound_parse((const char *)data, size, &m, &err) < 0) {
        FUZZ_CHECK(err && *err, "refused without a reason");
        FUZZ_CHECK_TEXT("the reason", err);
        free(err);
        return 0;
    }
    FUZZ_CHECK(!err, "parsed, with an error: %s", err);
    FUZZ_CHECK(m.from_addr && *m.from_addr, "no From address");
    FUZZ_CHECK(!m.message_id || (m.message_id[0] == '<' &&
                                 m.message_id[strlen(m.message_id) - 1] == '>'),
               "Message-ID %s", m.message_id);
    FUZZ_CHECK_TEXT("the Message-ID", m.message_id);
    FUZZ_CHECK_TEXT("the From address", m.from_addr);
    FUZZ_CHECK_TEXT("the To addresses", m.to_addr);
    FUZZ_CHECK_TEXT("the subject", m.subject);
    FUZZ_CHECK_TEXT("the date", m.date);
    FUZZ_CHECK_TEXT("the text body", m.text_body);
    FUZZ_CHECK_TEXT("the html body", m.html_body);
    FUZZ_CHECK_TEXT("the headers", m.headers_json);
    json_object *h = json_tokener_parse(m.headers_json);
    FUZZ_CHECK(h && json_object_is_type(h, json_type_object), "headers %s", m.headers_json);
    json_object_put(h);
    for (size_t i = 0; i < m.nattachments; i++) {
        const email_attachment *a = &m.attachments[i];
        FUZZ_CHECK_TEXT("a filename", a->filename);
        FUZZ_CHECK(a->content_type && strchr(a->content_type, '/'), "attachment %zu's type", i);
        FUZZ_CHECK_TEXT("a content type", a->content_type);
        FUZZ_CHECK(a->data, "attachment %zu has no buffer", i);
        char *hex = g_compute_checksum_for_data(G_CHECKSUM_SHA256, a->data, a->len);
        FUZZ_CHECK(!strcmp(hex, a->sha256), "attachment %zu: sha256 %s, content's %s", i,
                   a->sha256, hex);
        g_free(hex);
    }
    email_inbound_clear(&m);
    return 0;
}
