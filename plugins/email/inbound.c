/*
 * inbound.c -- takes a received message apart with GMime: addresses,
 * decoded subject and headers, bodies converted to UTF-8, attachments
 * decoded and hashed.  The walk keeps the first text/plain and text/html
 * that are not attachments as the bodies; every other leaf is an attachment.
 */
#include <gmime/gmime.h>
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "address.h"
#include "inbound.h"
#include "utf8.h"
#include "xalloc.h"

/* Valid UTF-8 without NULs (PostgreSQL's text takes neither), malloc'd. */
static char *clean_utf8(const char *s, size_t len)
{
    return plugin_utf8_clean(s, len);
}

/*--- parts ---*/

/* The decoded content of a leaf part (transfer encoding undone), malloc'd. */
static unsigned char *decoded_content(GMimePart *part, size_t *len)
{
    GMimeStream *mem = g_mime_stream_mem_new();
    GMimeDataWrapper *w = g_mime_part_get_content(part);
    if (w)
        g_mime_data_wrapper_write_to_stream(w, mem);
    GByteArray *bytes = g_mime_stream_mem_get_byte_array(GMIME_STREAM_MEM(mem));
    unsigned char *data = plugin_xmalloc(bytes->len + 1);
    if (bytes->len) /* an empty part has no buffer at all: memcpy() from NULL is undefined */
        memcpy(data, bytes->data, bytes->len);
    data[bytes->len] = '\0';
    *len = bytes->len;
    g_object_unref(mem);
    return data;
}

typedef struct walker {
    email_inbound *out;
    size_t cap;
} walker;

static void add_attachment(walker *w, const char *filename, const char *content_type,
                           unsigned char *data, size_t len)
{
    email_inbound *out = w->out;
    if (out->nattachments == w->cap) {
        w->cap = w->cap ? w->cap * 2 : 4;
        out->attachments = plugin_xrealloc(out->attachments, w->cap * sizeof *out->attachments);
    }
    email_attachment *a = &out->attachments[out->nattachments++];
    a->filename = filename ? clean_utf8(filename, strlen(filename)) : NULL;
    a->content_type = clean_utf8(content_type, strlen(content_type));
    for (char *c = a->content_type; *c; c++)
        *c = g_ascii_tolower(*c);
    a->data = data;
    a->len = len;
    char *hex = g_compute_checksum_for_data(G_CHECKSUM_SHA256, data, len);
    snprintf(a->sha256, sizeof a->sha256, "%s", hex);
    g_free(hex);
}

static char *mime_type(GMimeObject *obj)
{
    char *t = g_mime_content_type_get_mime_type(g_mime_object_get_content_type(obj));
    char *out = plugin_xstrdup(t ? t : "application/octet-stream");
    g_free(t);
    return out;
}

static void visit(walker *w, GMimeObject *obj)
{
    if (GMIME_IS_MULTIPART(obj)) {
        GMimeMultipart *mp = GMIME_MULTIPART(obj);
        for (int i = 0; i < g_mime_multipart_get_count(mp); i++)
            visit(w, g_mime_multipart_get_part(mp, i));
        return;
    }
    if (GMIME_IS_MESSAGE_PART(obj)) {
        /* A forwarded message is kept whole, as it was received. */
        GMimeMessage *inner = g_mime_message_part_get_message(GMIME_MESSAGE_PART(obj));
        GMimeStream *mem = g_mime_stream_mem_new();
        if (inner)
            g_mime_object_write_to_stream(GMIME_OBJECT(inner), NULL, mem);
        GByteArray *bytes = g_mime_stream_mem_get_byte_array(GMIME_STREAM_MEM(mem));
        unsigned char *data = plugin_xmalloc(bytes->len + 1);
        if (bytes->len) /* as in decoded_content() */
            memcpy(data, bytes->data, bytes->len);
        size_t len = bytes->len;
        g_object_unref(mem);
        char *type = mime_type(obj);
        add_attachment(w, g_mime_object_get_content_disposition_parameter(obj, "filename"), type,
                       data, len);
        free(type);
        return;
    }
    if (!GMIME_IS_PART(obj))
        return;
    GMimePart *part = GMIME_PART(obj);
    GMimeContentType *ct = g_mime_object_get_content_type(obj);
    const char *disposition = g_mime_object_get_disposition(obj);
    const char *filename = g_mime_part_get_filename(part);
    int attached = (disposition && !g_ascii_strcasecmp(disposition, "attachment")) || filename;
    char **body = NULL;
    if (!attached && g_mime_content_type_is_type(ct, "text", "plain") && !w->out->text_body)
        body = &w->out->text_body;
    else if (!attached && g_mime_content_type_is_type(ct, "text", "html") && !w->out->html_body)
        body = &w->out->html_body;
    size_t len;
    unsigned char *data = decoded_content(part, &len);
    if (body) {
        *body = plugin_utf8_convert((const char *)data, len,
                                    g_mime_object_get_content_type_parameter(obj, "charset"));
        free(data);
        return;
    }
    char *type = mime_type(obj);
    add_attachment(w, filename, type, data, len);
    free(type);
}

/*--- headers and addresses ---*/

static char *headers_json(GMimeObject *obj)
{
    json_object *o = json_object_new_object();
    GMimeHeaderList *list = g_mime_object_get_header_list(obj);
    for (int i = 0; i < g_mime_header_list_get_count(list); i++) {
        GMimeHeader *h = g_mime_header_list_get_header_at(list, i);
        /* Names may hold 8-bit bytes too (RFC 5322 says they may not; mail does). */
        const char *raw_name = g_mime_header_get_name(h);
        const char *value = g_mime_header_get_value(h);
        char *name = clean_utf8(raw_name ? raw_name : "", strlen(raw_name ? raw_name : ""));
        char *v = clean_utf8(value ? value : "", strlen(value ? value : ""));
        json_object *prev;
        if (!json_object_object_get_ex(o, name, &prev)) {
            json_object_object_add(o, name, json_object_new_string(v));
        } else if (json_object_is_type(prev, json_type_array)) {
            json_object_array_add(prev, json_object_new_string(v));
        } else {
            json_object *arr = json_object_new_array();
            json_object_array_add(arr, json_object_get(prev));
            json_object_array_add(arr, json_object_new_string(v));
            json_object_object_add(o, name, arr);
        }
        free(name);
        free(v);
    }
    char *s = plugin_xstrdup(json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN));
    json_object_put(o);
    return s;
}

/* The bare addresses of a list, ", "-separated, or NULL when it has none. */
static char *addresses(InternetAddressList *list, int first_only)
{
    InternetAddressList *flat = internet_address_list_new();
    email_address_flatten(list, flat);
    GString *s = g_string_new(NULL);
    int n = internet_address_list_length(flat);
    for (int i = 0; i < n && (!first_only || i < 1); i++) {
        const char *addr = internet_address_mailbox_get_addr(
            INTERNET_ADDRESS_MAILBOX(internet_address_list_get_address(flat, i)));
        if (!addr || !*addr)
            continue;
        if (s->len)
            g_string_append(s, ", ");
        g_string_append(s, addr);
    }
    g_object_unref(flat);
    char *out = s->len ? clean_utf8(s->str, s->len) : NULL;
    g_string_free(s, TRUE);
    return out;
}

/*--- the message ---*/

int email_inbound_parse(const char *raw, size_t len, email_inbound *out, char **err)
{
    memset(out, 0, sizeof *out);
    *err = NULL;
    if (!raw || len == 0)
        return plugin_fail(err, "the message is empty");

    GMimeParserOptions *opts = g_mime_parser_options_new();
    /* Raw 8-bit headers: UTF-8 when they decode as such, else windows-1252. */
    const char *fallback[] = {"utf-8", "windows-1252", NULL};
    g_mime_parser_options_set_fallback_charsets(opts, fallback);
    GMimeStream *stream = g_mime_stream_mem_new_with_buffer(raw, len);
    GMimeParser *parser = g_mime_parser_new_with_stream(stream);
    g_mime_parser_set_format(parser, GMIME_FORMAT_MESSAGE);
    GMimeMessage *msg = g_mime_parser_construct_message(parser, opts);
    g_object_unref(parser);
    g_object_unref(stream);
    int rc = -1;
    if (!msg) {
        plugin_fail(err, "the message could not be parsed: it does not start with RFC 5322 header "
                  "fields");
        goto done;
    }
    if (g_mime_header_list_get_count(g_mime_object_get_header_list(GMIME_OBJECT(msg))) == 0) {
        plugin_fail(err, "the message has no header fields");
        goto done;
    }
    out->from_addr = addresses(g_mime_message_get_from(msg), 1);
    if (!out->from_addr) {
        plugin_fail(err, "the message has no From address");
        goto done;
    }
    out->to_addr = addresses(g_mime_message_get_to(msg), 0);
    const char *subject = g_mime_message_get_subject(msg);
    if (subject)
        out->subject = clean_utf8(subject, strlen(subject));
    const char *id = g_mime_message_get_message_id(msg);
    if (id && *id) {
        char *clean = clean_utf8(id, strlen(id));
        if (asprintf(&out->message_id, "<%s>", clean) < 0)
            abort();
        free(clean);
    }
    GDateTime *date = g_mime_message_get_date(msg);
    if (date) {
        char *iso = g_date_time_format_iso8601(date);
        out->date = plugin_xstrdup(iso);
        g_free(iso);
    }
    out->headers_json = headers_json(GMIME_OBJECT(msg));
    walker w = {out, 0};
    GMimeObject *body = g_mime_message_get_mime_part(msg);
    if (body)
        visit(&w, body);
    rc = 0;

done:
    if (msg)
        g_object_unref(msg);
    g_mime_parser_options_free(opts);
    if (rc < 0) {
        email_inbound_clear(out);
        plugin_fail_default(err, "out of memory");
    }
    return rc;
}

void email_inbound_clear(email_inbound *msg)
{
    free(msg->message_id);
    free(msg->from_addr);
    free(msg->to_addr);
    free(msg->subject);
    free(msg->date);
    free(msg->text_body);
    free(msg->html_body);
    free(msg->headers_json);
    for (size_t i = 0; i < msg->nattachments; i++) {
        free(msg->attachments[i].filename);
        free(msg->attachments[i].content_type);
        free(msg->attachments[i].data);
    }
    free(msg->attachments);
    memset(msg, 0, sizeof *msg);
}
