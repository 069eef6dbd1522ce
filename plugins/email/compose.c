/*
 * compose.c -- builds the message of an email-sending job with GMime: the
 * headers (RFC 2047 where they are not ASCII), one text part or a
 * multipart/alternative, 7-bit safe transfer encodings, CRLF line endings.
 */
#include <gmime/gmime.h>
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "address.h"
#include "compose.h"
#include "xalloc.h"

/* A string member, NULL when absent; -1 when present but not a string. */
static int get_string(json_object *o, const char *key, const char **out)
{
    json_object *v;
    *out = NULL;
    if (!json_object_object_get_ex(o, key, &v) || v == NULL)
        return 0;
    if (!json_object_is_type(v, json_type_string))
        return -1;
    *out = json_object_get_string(v);
    return 0;
}

/* Headers the message gets from the payload's own fields or from GMime. */
static int reserved_header(const char *name)
{
    static const char *const names[] = {"from", "to",         "cc",           "bcc",   "subject",
                                        "date", "message-id", "mime-version", "sender"};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        if (!strcasecmp(name, names[i]))
            return 1;
    return !strncasecmp(name, "content-", 8);
}

static int valid_header_name(const char *name)
{
    if (!*name)
        return 0;
    for (const unsigned char *p = (const unsigned char *)name; *p; p++)
        if (*p <= 32 || *p >= 127 || *p == ':')
            return 0;
    return 1;
}

/* Parse one address field into mailboxes (appended to `dst`); -1 when none or invalid. */
static int parse_mailboxes(const char *text, InternetAddressList *dst)
{
    if (strpbrk(text, "\r\n"))
        return -1;
    InternetAddressList *list = internet_address_list_parse(NULL, text);
    if (!list)
        return -1;
    int before = internet_address_list_length(dst);
    email_address_flatten(list, dst);
    g_object_unref(list);
    int after = internet_address_list_length(dst);
    for (int i = before; i < after; i++) {
        const char *addr = internet_address_mailbox_get_addr(
            INTERNET_ADDRESS_MAILBOX(internet_address_list_get_address(dst, i)));
        if (!addr || !strchr(addr, '@') || addr[0] == '@' || addr[strlen(addr) - 1] == '@')
            return -1;
    }
    return after > before ? 0 : -1;
}

/* Body text as given, without CRs: the output filter writes CRLF itself. */
static char *strip_cr(const char *s)
{
    char *d = plugin_xstrdup(s), *o = d;
    for (const char *p = s; *p; p++)
        if (*p != '\r')
            *o++ = *p;
    *o = '\0';
    return d;
}

static GMimeObject *text_part(const char *subtype, const char *text)
{
    char *body = strip_cr(text);
    GMimeTextPart *tp = g_mime_text_part_new_with_subtype(subtype);
    GMimeStream *s = g_mime_stream_mem_new_with_buffer(body, strlen(body));
    GMimeDataWrapper *w = g_mime_data_wrapper_new_with_stream(s, GMIME_CONTENT_ENCODING_DEFAULT);
    g_mime_part_set_content(GMIME_PART(tp), w);
    g_object_unref(w);
    g_object_unref(s);
    /* UTF-8 in, UTF-8 out (GMime's set_text would pick Latin-1 when it can). */
    int ascii = !g_mime_utils_text_is_8bit((const unsigned char *)body, strlen(body));
    g_mime_text_part_set_charset(tp, ascii ? "us-ascii" : "utf-8");
    /* Quoted-printable or base64 past 7 bits or 998 columns: any relay takes it. */
    g_mime_part_set_content_encoding(
        GMIME_PART(tp),
        g_mime_part_get_best_content_encoding(GMIME_PART(tp), GMIME_ENCODING_CONSTRAINT_7BIT));
    free(body);
    return GMIME_OBJECT(tp);
}

/* "<id>" from "id" or "<id>"; NULL when it cannot be a msg-id. */
static char *normalize_message_id(const char *given)
{
    size_t n = strlen(given);
    if (n >= 2 && given[0] == '<' && given[n - 1] == '>') {
        given++;
        n -= 2;
    }
    if (n == 0 || n > 900)
        return NULL;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)given[i];
        if (c <= 32 || c >= 127 || c == '<' || c == '>')
            return NULL;
    }
    char *id;
    if (asprintf(&id, "<%.*s>", (int)n, given) < 0)
        abort();
    return id;
}

static int add_recipients(json_object *to, InternetAddressList *rcpts, char **err)
{
    if (json_object_is_type(to, json_type_string)) {
        if (parse_mailboxes(json_object_get_string(to), rcpts) < 0)
            return plugin_fail(err, "\"to\" is not a list of email addresses: \"%s\"",
                        json_object_get_string(to));
        return 0;
    }
    if (!json_object_is_type(to, json_type_array) || json_object_array_length(to) == 0)
        return plugin_fail(err, "\"to\" must be an address or a non-empty array of addresses");
    for (size_t i = 0; i < json_object_array_length(to); i++) {
        json_object *v = json_object_array_get_idx(to, i);
        if (!json_object_is_type(v, json_type_string) ||
            parse_mailboxes(json_object_get_string(v), rcpts) < 0)
            return plugin_fail(err, "\"to\"[%zu] is not an email address: %s", i,
                        json_object_to_json_string(v));
    }
    return 0;
}

static int add_headers(GMimeMessage *msg, json_object *headers, char **err)
{
    if (!headers)
        return 0;
    if (!json_object_is_type(headers, json_type_object))
        return plugin_fail(err, "\"headers\" must be an object of strings");
    json_object_object_foreach(headers, name, value)
    {
        if (!valid_header_name(name))
            return plugin_fail(err, "\"headers\" has an invalid header name \"%s\"", name);
        if (reserved_header(name))
            return plugin_fail(err, "\"headers\" sets \"%s\", which the plugin writes from the payload",
                        name);
        if (!json_object_is_type(value, json_type_string))
            return plugin_fail(err, "header \"%s\" must be a string", name);
        const char *v = json_object_get_string(value);
        if (strpbrk(v, "\r\n"))
            return plugin_fail(err, "header \"%s\" contains a line break", name);
        g_mime_object_append_header(GMIME_OBJECT(msg), name, v, "utf-8");
    }
    return 0;
}

/* The domain of the last mailbox's address ("" when it has none). */
static const char *domain_of(const char *addr)
{
    const char *at = strrchr(addr, '@');
    return at ? at + 1 : "";
}

static char *join_addresses(char **addrs, size_t n)
{
    size_t len = 1;
    for (size_t i = 0; i < n; i++)
        len += strlen(addrs[i]) + 2;
    char *s = calloc(1, len);
    if (!s)
        abort();
    for (size_t i = 0; i < n; i++) {
        if (i)
            strcat(s, ", ");
        strcat(s, addrs[i]);
    }
    return s;
}

int email_compose(json_object *email_data, const char *job_id, const char *msgid_domain, time_t now,
                  email_outgoing *out, char **err)
{
    memset(out, 0, sizeof *out);
    *err = NULL;
    if (!email_data || !json_object_is_type(email_data, json_type_object))
        return plugin_fail(err, "\"email_data\" must be an object");

    const char *from, *from_name, *subject, *text, *html, *given_id;
    json_object *to, *headers = NULL;
    if (get_string(email_data, "from", &from) < 0 || !from)
        return plugin_fail(err, "\"from\" must be an email address");
    if (get_string(email_data, "from_name", &from_name) < 0)
        return plugin_fail(err, "\"from_name\" must be a string");
    if (from_name && strpbrk(from_name, "\r\n"))
        return plugin_fail(err, "\"from_name\" contains a line break");
    if (!json_object_object_get_ex(email_data, "to", &to) || !to)
        return plugin_fail(err, "\"to\" is missing");
    if (get_string(email_data, "subject", &subject) < 0)
        return plugin_fail(err, "\"subject\" must be a string");
    if (get_string(email_data, "text", &text) < 0)
        return plugin_fail(err, "\"text\" must be a string");
    if (get_string(email_data, "html", &html) < 0)
        return plugin_fail(err, "\"html\" must be a string");
    if (!text && !html)
        return plugin_fail(err, "no body: give \"text\", \"html\" or both");
    if (get_string(email_data, "message_id", &given_id) < 0)
        return plugin_fail(err, "\"message_id\" must be a string");
    json_object_object_get_ex(email_data, "headers", &headers);
    if (subject && strpbrk(subject, "\r\n"))
        return plugin_fail(err, "\"subject\" contains a line break");

    GMimeMessage *msg = g_mime_message_new(TRUE);
    InternetAddressList *from_list = internet_address_list_new();
    InternetAddressList *rcpts = internet_address_list_new();
    int rc = -1;

    if (parse_mailboxes(from, from_list) < 0 || internet_address_list_length(from_list) != 1) {
        plugin_fail(err, "\"from\" is not one email address: \"%s\"", from);
        goto done;
    }
    if (add_recipients(to, rcpts, err) < 0)
        goto done;
    InternetAddressMailbox *sender =
        INTERNET_ADDRESS_MAILBOX(internet_address_list_get_address(from_list, 0));
    const char *from_addr = internet_address_mailbox_get_addr(sender);
    out->from_addr = plugin_xstrdup(from_addr ? from_addr : "");
    if (from_name)
        internet_address_set_name(INTERNET_ADDRESS(sender), from_name);
    internet_address_set_charset(INTERNET_ADDRESS(sender), "utf-8");

    if (given_id) {
        out->message_id = normalize_message_id(given_id);
        if (!out->message_id) {
            plugin_fail(err, "\"message_id\" is not a Message-ID: \"%s\"", given_id);
            goto done;
        }
    } else {
        const char *domain =
            msgid_domain && *msgid_domain ? msgid_domain : domain_of(out->from_addr);
        if (asprintf(&out->message_id, "<%s@%s>", job_id, domain) < 0)
            abort();
    }

    internet_address_list_append(g_mime_message_get_from(msg), from_list);
    internet_address_list_append(g_mime_message_get_to(msg), rcpts);
    if (subject)
        g_mime_message_set_subject(msg, subject, "utf-8");
    GDateTime *date = now ? g_date_time_new_from_unix_utc((gint64)now) : g_date_time_new_now_utc();
    g_mime_message_set_date(msg, date);
    g_date_time_unref(date);
    /* GMime wants the msg-id without its angle brackets. */
    char *bare = g_strndup(out->message_id + 1, strlen(out->message_id) - 2);
    g_mime_message_set_message_id(msg, bare);
    g_free(bare);
    if (add_headers(msg, headers, err) < 0)
        goto done;

    GMimeObject *body;
    if (text && html) {
        GMimeMultipart *alt = g_mime_multipart_new_with_subtype("alternative");
        GMimeObject *p = text_part("plain", text);
        g_mime_multipart_add(alt, p);
        g_object_unref(p);
        p = text_part("html", html);
        g_mime_multipart_add(alt, p);
        g_object_unref(p);
        body = GMIME_OBJECT(alt);
    } else {
        body = text ? text_part("plain", text) : text_part("html", html);
    }
    g_mime_message_set_mime_part(msg, body);
    g_object_unref(body);

    out->nrcpts = (size_t)internet_address_list_length(rcpts);
    out->rcpts = calloc(out->nrcpts + 1, sizeof *out->rcpts);
    if (!out->rcpts)
        abort();
    for (size_t i = 0; i < out->nrcpts; i++) {
        InternetAddressMailbox *mb =
            INTERNET_ADDRESS_MAILBOX(internet_address_list_get_address(rcpts, (int)i));
        const char *addr = internet_address_mailbox_get_idn_addr(mb);
        out->rcpts[i] = plugin_xstrdup(addr ? addr : "");
    }
    out->to_addr = join_addresses(out->rcpts, out->nrcpts);
    out->subject = subject ? plugin_xstrdup(subject) : NULL;

    GMimeFormatOptions *fo = g_mime_format_options_new();
    g_mime_format_options_set_newline_format(fo, GMIME_NEWLINE_FORMAT_DOS);
    GMimeStream *mem = g_mime_stream_mem_new();
    g_mime_object_write_to_stream(GMIME_OBJECT(msg), fo, mem);
    GByteArray *bytes = g_mime_stream_mem_get_byte_array(GMIME_STREAM_MEM(mem));
    out->len = bytes->len;
    out->data = plugin_xmalloc(bytes->len + 1);
    memcpy(out->data, bytes->data, bytes->len);
    out->data[bytes->len] = '\0';
    g_object_unref(mem);
    g_mime_format_options_free(fo);
    rc = 0;

done:
    g_object_unref(from_list);
    g_object_unref(rcpts);
    g_object_unref(msg);
    if (rc < 0) {
        email_outgoing_clear(out);
        plugin_fail_default(err, "out of memory");
    }
    return rc;
}

void email_outgoing_clear(email_outgoing *out)
{
    free(out->message_id);
    free(out->from_addr);
    for (size_t i = 0; out->rcpts && i < out->nrcpts; i++)
        free(out->rcpts[i]);
    free(out->rcpts);
    free(out->to_addr);
    free(out->subject);
    free(out->data);
    memset(out, 0, sizeof *out);
}
