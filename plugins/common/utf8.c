/*
 * utf8.c -- mail text to valid UTF-8 without NULs (see utf8.h).
 */
#include <gmime/gmime.h>
#include <stdlib.h>
#include <string.h>

#include "utf8.h"

/* windows-1252's 0x80..0x9F; the five holes read as U+FFFD. */
static const unsigned short cp1252_high[32] = {
    0x20AC, 0xFFFD, 0x201A, 0x0192, 0x201E, 0x2026, 0x2020, 0x2021, 0x02C6, 0x2030, 0x0160,
    0x2039, 0x0152, 0xFFFD, 0x017D, 0xFFFD, 0xFFFD, 0x2018, 0x2019, 0x201C, 0x201D, 0x2022,
    0x2013, 0x2014, 0x02DC, 0x2122, 0x0161, 0x203A, 0x0153, 0xFFFD, 0x017E, 0x0178};

static char *from_cp1252(const char *bytes, size_t len)
{
    char *out = malloc(len * 3 + 1), *o = out;
    if (!out)
        abort();
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)bytes[i];
        unsigned cp = c >= 0x80 && c < 0xA0 ? cp1252_high[c - 0x80] : c;
        if (cp == 0)
            continue;
        o += g_unichar_to_utf8(cp, o);
    }
    *o = '\0';
    return out;
}

/* UTF-8 as it is, invalid sequences as U+FFFD (`s` holds no NUL), malloc'd. */
static char *utf8_made_valid(const char *s, size_t len)
{
    char *valid = g_utf8_make_valid(s, (gssize)len);
    char *out = strdup(valid);
    if (!out)
        abort();
    g_free(valid);
    return out;
}

/* Text that is UTF-8 or a single-byte charset: NULs dropped first. */
static char *single_byte_or_utf8(const char *bytes, size_t len, int utf8_label, int cp1252_label)
{
    char *tmp = malloc(len + 1), *o = tmp;
    if (!tmp)
        abort();
    for (size_t i = 0; i < len; i++)
        if (bytes[i])
            *o++ = bytes[i];
    *o = '\0';
    size_t n = (size_t)(o - tmp);
    char *out = !cp1252_label && (utf8_label || g_utf8_validate_len(tmp, n, NULL))
                    ? utf8_made_valid(tmp, n)
                    : from_cp1252(tmp, n);
    free(tmp);
    return out;
}

char *plugin_utf8_convert(const char *bytes, size_t len, const char *charset)
{
    if (!bytes)
        len = 0, bytes = "";
    const char *canon = charset ? g_mime_charset_canon_name(charset) : NULL;
    if (!canon || !g_ascii_strcasecmp(canon, "us-ascii"))
        /* 8-bit text labelled ASCII is UTF-8 when it decodes as such, else cp1252. */
        return single_byte_or_utf8(bytes, len, 0, 0);
    if (!g_ascii_strcasecmp(canon, "utf-8"))
        return single_byte_or_utf8(bytes, len, 1, 0);
    if (!g_ascii_strcasecmp(canon, "iso-8859-1") || !g_ascii_strcasecmp(canon, "windows-1252") ||
        !g_ascii_strcasecmp(canon, "cp1252"))
        return single_byte_or_utf8(bytes, len, 0, 1);
    gsize written = 0;
    char *utf8 = g_convert(bytes, (gssize)len, "UTF-8", g_mime_charset_iconv_name(canon), NULL,
                           &written, NULL);
    if (utf8) {
        char *out = single_byte_or_utf8(utf8, written, 1, 0);
        g_free(utf8);
        return out;
    }
    /* An unknown charset or bytes it cannot hold: the common guesses. */
    return single_byte_or_utf8(bytes, len, 0, 0);
}

char *plugin_utf8_clean(const char *s, size_t len)
{
    return plugin_utf8_convert(s, len, NULL);
}

int plugin_utf8_valid(const char *s)
{
    return s && g_utf8_validate(s, -1, NULL);
}
