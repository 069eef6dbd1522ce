/*
 * report.c -- reads a bounce with GMime.  An RFC 3464 report gives its
 * recipients in message/delivery-status field groups; otherwise the
 * message must look like a delivery failure notice (sender, subject or
 * wording) and the failed recipients and the server's reply are found in
 * its text, before the copy of the original message.
 */
#include <ctype.h>
#include <gmime/gmime.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "classify.h"
#include "report.h"
#include "utf8.h"
#include "xalloc.h"

static char *lower(char *s)
{
    for (char *c = s; c && *c; c++)
        *c = (char)tolower((unsigned char)*c);
    return s;
}

static int has_word(const char *hay, const char *needle)
{
    size_t n = strlen(needle);
    for (const char *p = hay; p && *p; p++)
        if (!strncasecmp(p, needle, n))
            return 1;
    return 0;
}

static int has_any(const char *text, const char *const *words)
{
    for (size_t i = 0; text && words[i]; i++)
        if (has_word(text, words[i]))
            return 1;
    return 0;
}

/*--- collecting the parts ---*/

typedef struct scan {
    GString *dsn;  /* message/delivery-status contents */
    GString *text; /* text/plain parts outside attached messages, UTF-8 */
    GString *html; /* text/html parts outside attached messages, UTF-8 */
    char *orig_id; /* Message-ID of the attached original, "<...>" */
} scan;

/* "<id>", valid UTF-8 (a Message-ID may carry 8-bit bytes), or NULL. */
static char *bracketed(const char *id)
{
    if (!id || !*id)
        return NULL;
    char *clean = plugin_utf8_clean(id, strlen(id));
    char *s = plugin_xmalloc(strlen(clean) + 3);
    sprintf(s, "<%s>", clean);
    free(clean);
    return s;
}

static GByteArray *decoded(GMimePart *part)
{
    GMimeStream *mem = g_mime_stream_mem_new();
    GMimeDataWrapper *w = g_mime_part_get_content(part);
    if (w)
        g_mime_data_wrapper_write_to_stream(w, mem);
    GByteArray *bytes = g_byte_array_new();
    GByteArray *src = g_mime_stream_mem_get_byte_array(GMIME_STREAM_MEM(mem));
    g_byte_array_append(bytes, src->data, src->len);
    g_object_unref(mem);
    return bytes;
}

/* The Message-ID in a block of header fields (text/rfc822-headers). */
static char *id_from_headers(const guint8 *data, size_t len)
{
    GString *s = g_string_new_len((const char *)data, (gssize)len);
    g_string_append(s, "\n\n");
    GMimeStream *stream = g_mime_stream_mem_new_with_buffer(s->str, s->len);
    GMimeParser *parser = g_mime_parser_new_with_stream(stream);
    GMimeMessage *msg = g_mime_parser_construct_message(parser, NULL);
    char *id = msg ? bracketed(g_mime_message_get_message_id(msg)) : NULL;
    if (msg)
        g_object_unref(msg);
    g_object_unref(parser);
    g_object_unref(stream);
    g_string_free(s, TRUE);
    return id;
}

static void append_text(GString *dst, GMimeObject *obj)
{
    char *t = GMIME_IS_TEXT_PART(obj) ? g_mime_text_part_get_text(GMIME_TEXT_PART(obj)) : NULL;
    if (!t)
        return;
    char *valid = g_utf8_make_valid(t, -1);
    if (dst->len)
        g_string_append_c(dst, '\n');
    g_string_append(dst, valid);
    g_free(valid);
    g_free(t);
}

static void visit(scan *s, GMimeObject *obj)
{
    if (GMIME_IS_MULTIPART(obj)) {
        GMimeMultipart *mp = GMIME_MULTIPART(obj);
        for (int i = 0; i < g_mime_multipart_get_count(mp); i++)
            visit(s, g_mime_multipart_get_part(mp, i));
        return;
    }
    GMimeContentType *ct = g_mime_object_get_content_type(obj);
    if (GMIME_IS_MESSAGE_PART(obj)) {
        GMimeMessage *inner = g_mime_message_part_get_message(GMIME_MESSAGE_PART(obj));
        if (inner && !s->orig_id)
            s->orig_id = bracketed(g_mime_message_get_message_id(inner));
        return;
    }
    if (!GMIME_IS_PART(obj))
        return;
    if (g_mime_content_type_is_type(ct, "message", "delivery-status") ||
        g_mime_content_type_is_type(ct, "message", "global-delivery-status")) {
        /*
         * RFC 3464 fields are ASCII, but a Diagnostic-Code quotes the remote
         * server, whatever bytes it sent: read in the part's charset (else
         * UTF-8, else windows-1252) so that every field is valid UTF-8.
         */
        GByteArray *b = decoded(GMIME_PART(obj));
        char *text = plugin_utf8_convert((const char *)b->data, b->len,
                                         g_mime_object_get_content_type_parameter(obj, "charset"));
        g_string_append(s->dsn, text);
        g_string_append_c(s->dsn, '\n');
        free(text);
        g_byte_array_unref(b);
    } else if (g_mime_content_type_is_type(ct, "text", "rfc822-headers") ||
               g_mime_content_type_is_type(ct, "text", "global-headers")) {
        GByteArray *b = decoded(GMIME_PART(obj));
        if (!s->orig_id)
            s->orig_id = id_from_headers(b->data, b->len);
        g_byte_array_unref(b);
    } else if (g_mime_content_type_is_type(ct, "text", "plain")) {
        append_text(s->text, obj);
    } else if (g_mime_content_type_is_type(ct, "text", "html")) {
        append_text(s->html, obj);
    }
}

/* HTML as lines of text: tags dropped, block ends as newlines, a few entities. */
static void html_to_text(const char *html, GString *out)
{
    static const struct {
        const char *entity, *text;
    } entities[] = {{"&lt;", "<"},   {"&gt;", ">"},    {"&amp;", "&"},
                    {"&nbsp;", " "}, {"&quot;", "\""}, {"&#39;", "'"}};
    for (const char *p = html; *p;) {
        if (*p == '<') {
            const char *end = strchr(p, '>');
            if (!end)
                break;
            if (!strncasecmp(p, "<br", 3) || !strncasecmp(p, "</p", 3) ||
                !strncasecmp(p, "</div", 5) || !strncasecmp(p, "</tr", 4) ||
                !strncasecmp(p, "</li", 4) || !strncasecmp(p, "</h", 3))
                g_string_append_c(out, '\n');
            p = end + 1;
            continue;
        }
        int done = 0;
        for (size_t i = 0; *p == '&' && i < sizeof entities / sizeof entities[0]; i++) {
            size_t n = strlen(entities[i].entity);
            if (!strncasecmp(p, entities[i].entity, n)) {
                g_string_append(out, entities[i].text);
                p += n;
                done = 1;
                break;
            }
        }
        if (!done)
            g_string_append_c(out, *p++);
    }
}

/*--- addresses in text ---*/

static int local_char(int c)
{
    return isalnum(c) || strchr(".!#$%&'*+/=?^_`{|}~-", c) != NULL;
}

static int domain_char(int c)
{
    return isalnum(c) || c == '.' || c == '-';
}

/*
 * The next address in [p, end): sets *start and *len and returns 1, or 0.
 * An address is local@domain with a dot in the domain.
 */
static int next_address(const char *p, const char *end, const char **start, size_t *len)
{
    for (const char *at = p; at < end; at++) {
        if (*at != '@')
            continue;
        const char *a = at;
        while (a > p && local_char((unsigned char)a[-1]))
            a--;
        /* A quote ends or starts a local part only as a delimiter. */
        while (a < at && (*a == '\'' || *a == '.'))
            a++;
        const char *b = at + 1;
        while (b < end && domain_char((unsigned char)*b))
            b++;
        while (b > at + 1 && (b[-1] == '.' || b[-1] == '-'))
            b--;
        if (a == at || b == at + 1 || !memchr(at + 1, '.', (size_t)(b - at - 1)))
            continue;
        *start = a;
        *len = (size_t)(b - a);
        return 1;
    }
    return 0;
}

/*--- RFC 3464 ---*/

/* The address of a recipient field ("rfc822; user@example.com"), lower-cased. */
static char *field_address(const char *value)
{
    const char *semi = strchr(value, ';');
    const char *p = semi ? semi + 1 : value;
    const char *start;
    size_t len;
    if (!next_address(p, p + strlen(p), &start, &len))
        return NULL;
    return lower(plugin_xstrndup(start, len));
}

/*
 * The recipients being collected: a set of their addresses keeps adding
 * linear in their number (a report may list hundreds of thousands).
 */
typedef struct rcpt_list {
    bounce_report *r;
    size_t cap;
    GHashTable *seen; /* email -> itself, borrowed from r->rcpts */
} rcpt_list;

static void add_recipient(rcpt_list *l, char *email, const char *status, const char *smtp,
                          const char *diagnostic, int delayed)
{
    bounce_report *r = l->r;
    if (g_hash_table_contains(l->seen, email)) {
        free(email);
        return;
    }
    if (r->nrcpts == l->cap) {
        l->cap = l->cap ? l->cap * 2 : 8;
        r->rcpts = plugin_xrealloc(r->rcpts, l->cap * sizeof *r->rcpts);
    }
    bounce_recipient *b = &r->rcpts[r->nrcpts++];
    b->email = email;
    g_hash_table_add(l->seen, email);
    b->status = status && *status ? plugin_xstrdup(status) : NULL;
    b->smtp_code = smtp && *smtp ? plugin_xstrdup(smtp) : NULL;
    /* Valid already (read as UTF-8 above); cleaned again as the last word before SQL. */
    b->diagnostic = diagnostic && *diagnostic ? plugin_utf8_clean(diagnostic, strlen(diagnostic))
                                              : NULL;
    b->delayed = delayed;
    b->hard = bounce_is_hard(b->status, b->smtp_code, b->diagnostic, delayed);
}

typedef struct dsn_group {
    char *final_rcpt, *original_rcpt, *action, *status, *diagnostic;
} dsn_group;

static void group_field(dsn_group *g, const char *name, const char *value)
{
    char **slot = !strcasecmp(name, "Final-Recipient")      ? &g->final_rcpt
                  : !strcasecmp(name, "Original-Recipient") ? &g->original_rcpt
                  : !strcasecmp(name, "Action")             ? &g->action
                  : !strcasecmp(name, "Status")             ? &g->status
                  : !strcasecmp(name, "Diagnostic-Code")    ? &g->diagnostic
                                                            : NULL;
    if (slot && !*slot)
        *slot = g_strstrip(g_strdup(value));
}

static void group_free(dsn_group *g)
{
    g_free(g->final_rcpt);
    g_free(g->original_rcpt);
    g_free(g->action);
    g_free(g->status);
    g_free(g->diagnostic);
    memset(g, 0, sizeof *g);
}

/* A group ends: keep its recipient when the delivery failed or is delayed. */
static void group_end(rcpt_list *r, dsn_group *g)
{
    char *email = NULL;
    if (g->original_rcpt)
        email = field_address(g->original_rcpt);
    if (!email && g->final_rcpt)
        email = field_address(g->final_rcpt);
    const char *action = g->action ? g->action : "";
    int failed = !strncasecmp(action, "failed", 6), delayed = !strncasecmp(action, "delayed", 7);
    /* No Action: the Status class says whether it failed. */
    if (!g->action && g->status && (g->status[0] == '4' || g->status[0] == '5'))
        failed = 1;
    if (email && (failed || delayed)) {
        /* "smtp; 550 5.1.1 ...": the server's words after the type. */
        const char *diag = g->diagnostic;
        if (diag && strchr(diag, ';'))
            diag = strchr(diag, ';') + 1;
        while (diag && (*diag == ' ' || *diag == '\t'))
            diag++;
        bounce_codes codes;
        bounce_find_codes(diag, &codes);
        char status[16] = "";
        if (g->status)
            sscanf(g->status, "%15[0-9.]", status);
        /* A generic X.0.0 says less than the server's own code of the same class. */
        if (codes.status[0] && status[0] == codes.status[0] && !strcmp(status + 1, ".0.0"))
            memcpy(status, codes.status, sizeof status);
        add_recipient(r, email, status[0] ? status : codes.status, codes.smtp, diag, delayed);
        email = NULL;
    }
    free(email);
    group_free(g);
}

/* The per-recipient field groups of a message/delivery-status body. */
static void parse_dsn(const char *text, rcpt_list *r)
{
    dsn_group g = {0};
    GString *field = g_string_new(NULL);
    /*
     * Line by line with strchr(), not g_strsplit(): its strstr() makes
     * ASan's interceptor measure the rest of the text at every line, which
     * is quadratic in a report of many recipients.  p is NULL past the end.
     */
    for (const char *p = text;;) {
        const char *nl = p ? strchr(p, '\n') : NULL;
        size_t n = !p ? 0 : nl ? (size_t)(nl - p) : strlen(p);
        if (n && p[n - 1] == '\r')
            n--;
        if (p && n > 0 && (p[0] == ' ' || p[0] == '\t')) { /* a continuation line */
            const char *a = p, *b = p + n;
            while (a < b && g_ascii_isspace(*a))
                a++;
            while (b > a && g_ascii_isspace(b[-1]))
                b--;
            g_string_append_c(field, ' ');
            g_string_append_len(field, a, b - a);
        } else {
            if (field->len) { /* the previous field is complete */
                char *colon = strchr(field->str, ':');
                if (colon) {
                    *colon = '\0';
                    group_field(&g, g_strstrip(field->str), colon + 1);
                }
                g_string_truncate(field, 0);
            }
            if (!p || n == 0)
                group_end(r, &g); /* a blank line ends a group */
            else
                g_string_append_len(field, p, (gssize)n);
        }
        if (!p)
            break;
        p = nl ? nl + 1 : NULL;
    }
    g_string_free(field, TRUE);
}

/*--- provider notices ---*/

/* Where the notice ends and the copy of the original message begins. */
static size_t explanation_length(const char *text)
{
    /* A dashed rule announcing the copy ("------ This is a copy of the message"). */
    static const char *const copy_words[] = {"original message", "copy of the message",
                                             "returned message", "undelivered message", NULL};
    /* Or the copy's first header field. */
    static const char *const starts[] = {
        "Original message headers", "Received: from", "Return-Path:",
        "DKIM-Signature:",          "X-Received:",    NULL};
    for (const char *line = text; *line;) {
        const char *p = line;
        size_t n = strcspn(line, "\n");
        while (*p == ' ' || *p == '\t')
            p++;
        char *l = plugin_xstrndup(p, n - (size_t)(p - line));
        int copy = (!strncmp(l, "--", 2) && has_any(l, copy_words));
        for (size_t i = 0; !copy && starts[i]; i++)
            copy = !strncasecmp(l, starts[i], strlen(starts[i]));
        free(l);
        if (copy)
            return (size_t)(line - text);
        line += n;
        if (*line)
            line++;
    }
    return strlen(text);
}

typedef struct found {
    char *email;
    size_t offset; /* of its line in the explanation */
    int rank;      /* 1 "<a>:" opens the line, 2 the line is the address, 3 anywhere */
} found;

static int ignored_address(const char *email, const char *const *skip)
{
    if (!strncmp(email, "postmaster@", 11) || !strncmp(email, "mailer-daemon@", 14) ||
        !strncmp(email, "double-bounce@", 14))
        return 1;
    for (size_t i = 0; skip[i]; i++)
        if (!strcmp(email, skip[i]))
            return 1;
    return 0;
}

/* How the address sits in its line: see found.rank. */
static int rank_of(const char *line, size_t line_len, const char *addr, size_t len)
{
    const char *p = line;
    while (p < line + line_len && (*p == ' ' || *p == '\t'))
        p++;
    if (*p == '<' && p + 1 == addr && addr[len] == '>' && addr[len + 1] == ':')
        return 1;
    /* "a@b", "<a@b>", "a@b (a@b)", "a@b:" alone on the line. */
    const char *q = p;
    if (*q == '<')
        q++;
    if (q == addr) {
        const char *rest = addr + len;
        if (*rest == '>')
            rest++;
        if (*rest == ':')
            rest++;
        while (*rest == ' ' || *rest == '\t' || *rest == '\r')
            rest++;
        if (rest >= line + line_len || *rest == '(')
            return 2;
    }
    return 3;
}

/* Failed recipients named in the explanation, best rank only (the first at rank 3). */
static size_t find_recipients(const char *text, size_t len, const char *const *skip, found *out,
                              size_t max)
{
    size_t n = 0;
    int best = 4;
    for (const char *line = text; line < text + len && n < max;) {
        size_t line_len = strcspn(line, "\n");
        if (line + line_len > text + len)
            line_len = (size_t)(text + len - line);
        const char *p = line, *start;
        size_t alen;
        while (next_address(p, line + line_len, &start, &alen)) {
            char *email = lower(plugin_xstrndup(start, alen));
            int rank = rank_of(line, line_len, start, alen);
            int dup = 0;
            for (size_t i = 0; i < n; i++)
                dup |= !strcmp(out[i].email, email);
            if (ignored_address(email, skip) || dup || rank > best || (rank == 3 && best == 3)) {
                free(email);
            } else {
                if (rank < best) { /* a better kind of mention: start again */
                    for (size_t i = 0; i < n; i++)
                        free(out[i].email);
                    n = 0;
                    best = rank;
                }
                out[n++] = (found){email, (size_t)(line - text), rank};
            }
            p = start + alen;
            if (n == max)
                break;
        }
        line += line_len;
        if (*line)
            line++;
    }
    return n;
}

/* The diagnostic line at `line_start`, from its first code on, without quotes. */
static char *diagnostic_line(const char *text, int line_start, const bounce_codes *codes)
{
    const char *line = text + line_start;
    size_t n = strcspn(line, "\r\n");
    const char *p = line;
    const char *code = codes->smtp[0] ? codes->smtp : codes->status;
    for (const char *c = line; c + strlen(code) <= line + n; c++)
        if (!strncmp(c, code, strlen(code))) {
            p = c;
            break;
        }
    const char *end = line + n;
    int open = 0;
    for (const char *c = p; c < end; c++)
        open += *c == '(' ? 1 : *c == ')' ? -1 : 0;
    /* Trailing quotes, blanks, and a ")" closing what opened before the code. */
    while (end > p && (strchr(" \t'\"", end[-1]) || (end[-1] == ')' && open < 0))) {
        open += end[-1] == ')';
        end--;
    }
    return plugin_xstrndup(p, (size_t)(end - p));
}

/* The first non-blank line after the recipient's own, trimmed, or NULL. */
static char *line_after(const char *section)
{
    const char *line = section + strcspn(section, "\n");
    while (*line) {
        line++;
        size_t n = strcspn(line, "\r\n");
        const char *p = line, *end = line + n;
        while (p < end && (*p == ' ' || *p == '\t'))
            p++;
        while (end > p && (end[-1] == ' ' || end[-1] == '\t'))
            end--;
        if (end > p)
            return plugin_xstrndup(p, (size_t)(end - p));
        line += n;
    }
    return NULL;
}

/* One recipient of a notice: codes from its own paragraph, else from the whole notice. */
static void notice_recipient(rcpt_list *l, const char *text, size_t len, found *f,
                             size_t section_end)
{
    char *section = plugin_xstrndup(text + f->offset, section_end - f->offset);
    bounce_codes codes;
    bounce_find_codes(section, &codes);
    const char *where = section;
    char *whole = NULL;
    if (codes.line_start < 0) {
        whole = plugin_xstrndup(text, len);
        bounce_find_codes(whole, &codes);
        where = whole;
    }
    int coded = codes.line_start >= 0;
    char *diag = coded ? diagnostic_line(where, codes.line_start, &codes) : line_after(section);
    bounce_report *r = l->r;
    size_t before = r->nrcpts;
    add_recipient(l, f->email, codes.status, codes.smtp, diag, 0);
    if (!coded && r->nrcpts > before) {
        /* Without a code the wording decides, so give it the whole notice. */
        char *all = plugin_xstrndup(text, len);
        r->rcpts[r->nrcpts - 1].hard = bounce_is_hard(NULL, NULL, all, 0);
        free(all);
    }
    f->email = NULL;
    free(diag);
    free(whole);
    free(section);
}

static int found_cmp(const void *a, const void *b)
{
    const found *x = a, *y = b;
    return x->offset < y->offset ? -1 : x->offset > y->offset;
}

static const char *const notice_subjects[] = {"delivery status notification",
                                              "undeliverable",
                                              "undelivered mail",
                                              "mail delivery failed",
                                              "delivery failure",
                                              "failure notice",
                                              "returned mail",
                                              "delivery has failed",
                                              "could not be delivered",
                                              "non-delivery",
                                              "nondeliverable",
                                              "unable to deliver",
                                              "delivery notification",
                                              "mail delivery system",
                                              NULL};

static const char *const notice_words[] = {"qmail-send program",
                                           "created automatically by mail delivery software",
                                           "delivery has failed to these recipients",
                                           "unable to deliver your message",
                                           "wasn't delivered to",
                                           "delivery to the following recipient",
                                           "could not be delivered to",
                                           "the following address(es) failed",
                                           "permanent fatal errors",
                                           "undeliverable",
                                           "mail delivery failed",
                                           "delivery to the following recipients failed",
                                           "message could not be delivered",
                                           NULL};

static const char *const auto_reply_subjects[] = {
    "automatic reply", "auto:", "out of office", "autoreply", "auto-reply", "away from", NULL};

/* Does the message present itself as a delivery failure notice? */
static int is_notice(GMimeMessage *msg, const char *from, const char *text)
{
    if (g_mime_object_get_header(GMIME_OBJECT(msg), "X-Failed-Recipients"))
        return 1;
    if (from && (!strncasecmp(from, "mailer-daemon@", 14) || !strncasecmp(from, "postmaster@", 11)))
        return 1;
    const char *subject = g_mime_message_get_subject(msg);
    if (subject && has_any(subject, notice_subjects))
        return 1;
    return has_any(text, notice_words);
}

static int starts_with_any(const char *s, const char *const *prefixes)
{
    while (s && (*s == ' ' || *s == '\t'))
        s++;
    for (size_t i = 0; s && prefixes[i]; i++)
        if (!strncasecmp(s, prefixes[i], strlen(prefixes[i])))
            return 1;
    return 0;
}

/* The first "Message-ID: <...>" line of the copied original in the text. */
static char *id_in_text(const char *text)
{
    for (const char *line = text; line && *line;) {
        const char *p = line;
        while (*p == ' ' || *p == '\t' || *p == '>')
            p++;
        if (!strncasecmp(p, "Message-ID:", 11)) {
            const char *lt = strchr(p, '<'), *eol = p + strcspn(p, "\r\n");
            const char *gt = lt ? strchr(lt, '>') : NULL;
            if (lt && gt && gt < eol && gt > lt + 1)
                return plugin_xstrndup(lt, (size_t)(gt - lt + 1));
        }
        line += strcspn(line, "\n");
        if (*line)
            line++;
    }
    return NULL;
}

/* Bare address of the first mailbox of a list, lower-cased, or NULL. */
static char *first_mailbox(InternetAddressList *list)
{
    for (int i = 0; list && i < internet_address_list_length(list); i++) {
        InternetAddress *ia = internet_address_list_get_address(list, i);
        if (INTERNET_ADDRESS_IS_MAILBOX(ia))
            return lower(plugin_xstrdup(internet_address_mailbox_get_addr(INTERNET_ADDRESS_MAILBOX(ia))));
    }
    return NULL;
}

/* Offset of the first line of the notice that names `email` (0 when none does). */
static size_t line_naming(const char *text, size_t len, const char *email)
{
    for (const char *line = text; line < text + len;) {
        size_t ll = strcspn(line, "\n");
        char *l = lower(plugin_xstrndup(line, ll));
        int here = strstr(l, email) != NULL;
        free(l);
        if (here)
            return (size_t)(line - text);
        line += ll + (line[ll] ? 1 : 0);
    }
    return 0;
}

static void notice_recipients(rcpt_list *r, GMimeMessage *msg, const char *text,
                              const char *const *skip)
{
    size_t len = explanation_length(text);
    found f[32];
    size_t n = 0;
    /* Exim and Gmail name them in a header. */
    const char *failed = g_mime_object_get_header(GMIME_OBJECT(msg), "X-Failed-Recipients");
    const char *start;
    size_t alen;
    for (const char *p = failed; p && n < 32 && next_address(p, p + strlen(p), &start, &alen);
         p = start + alen) {
        char *email = lower(plugin_xstrndup(start, alen));
        f[n++] = (found){email, line_naming(text, len, email), 0};
    }
    if (n == 0)
        n = find_recipients(text, len, skip, f, 32);
    qsort(f, n, sizeof f[0], found_cmp);
    for (size_t i = 0; i < n; i++) {
        size_t end = len;
        for (size_t j = i + 1; j < n; j++)
            if (f[j].offset > f[i].offset) {
                end = f[j].offset;
                break;
            }
        notice_recipient(r, text, len, &f[i], end);
    }
}

/*--- the report ---*/

int bounce_report_parse(const char *raw, size_t len, bounce_report *out, char **why)
{
    memset(out, 0, sizeof *out);
    *why = NULL;
    GMimeParserOptions *opts = g_mime_parser_options_new();
    const char *fallback[] = {"utf-8", "windows-1252", NULL};
    g_mime_parser_options_set_fallback_charsets(opts, fallback);
    GMimeStream *stream = g_mime_stream_mem_new_with_buffer(raw ? raw : "", raw ? len : 0);
    GMimeParser *parser = g_mime_parser_new_with_stream(stream);
    GMimeMessage *msg = g_mime_parser_construct_message(parser, opts);
    g_object_unref(parser);
    g_object_unref(stream);
    if (!msg ||
        g_mime_header_list_get_count(g_mime_object_get_header_list(GMIME_OBJECT(msg))) == 0) {
        *why = plugin_xstrdup("the message could not be parsed as RFC 5322");
        if (msg)
            g_object_unref(msg);
        g_mime_parser_options_free(opts);
        return 0;
    }

    scan s = {g_string_new(NULL), g_string_new(NULL), g_string_new(NULL), NULL};
    GMimeObject *body = g_mime_message_get_mime_part(msg);
    if (body)
        visit(&s, body);
    if (!s.text->len && s.html->len)
        html_to_text(s.html->str, s.text);

    rcpt_list rcpts = {out, 0, g_hash_table_new(g_str_hash, g_str_equal)};
    if (s.dsn->len) {
        parse_dsn(s.dsn->str, &rcpts);
        out->dsn = out->nrcpts > 0;
    }
    char *from = first_mailbox(g_mime_message_get_from(msg));
    char *to = first_mailbox(g_mime_message_get_to(msg));
    if (!out->dsn) {
        const char *subject = g_mime_message_get_subject(msg);
        if (s.dsn->len)
            *why = plugin_xstrdup("the delivery status report lists no failed or delayed recipient");
        else if (starts_with_any(subject, auto_reply_subjects))
            *why = plugin_xstrdup("an automatic reply, not a delivery failure notice");
        else if (!is_notice(msg, from, s.text->str))
            *why = plugin_xstrdup("neither a delivery status report nor a delivery failure notice");
        else {
            const char *skip[] = {from ? from : "", to ? to : "", NULL};
            notice_recipients(&rcpts, msg, s.text->str, skip);
            if (out->nrcpts == 0)
                *why = plugin_xstrdup("a delivery failure notice without a recognisable recipient");
        }
    }
    g_hash_table_destroy(rcpts.seen);
    if (out->nrcpts > 0)
        out->original_message_id = s.orig_id ? s.orig_id : id_in_text(s.text->str);
    else
        free(s.orig_id);
    free(from);
    free(to);
    g_string_free(s.dsn, TRUE);
    g_string_free(s.text, TRUE);
    g_string_free(s.html, TRUE);
    g_object_unref(msg);
    g_mime_parser_options_free(opts);
    if (out->nrcpts == 0) {
        bounce_report_clear(out);
        return 0;
    }
    return 1;
}

void bounce_report_clear(bounce_report *report)
{
    for (size_t i = 0; i < report->nrcpts; i++) {
        free(report->rcpts[i].email);
        free(report->rcpts[i].status);
        free(report->rcpts[i].smtp_code);
        free(report->rcpts[i].diagnostic);
    }
    free(report->rcpts);
    free(report->original_message_id);
    memset(report, 0, sizeof *report);
}

const char *bounce_status_code(const bounce_recipient *r)
{
    return r->status ? r->status : r->smtp_code;
}
