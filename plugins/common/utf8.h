/*
 * utf8.h -- text from mail made fit for PostgreSQL's text and jsonb: valid
 * UTF-8 without NUL bytes, converted from the charset the message names,
 * else from windows-1252 (what 8-bit mail without a charset nearly always
 * is).  Shared by the email and bounce plugins: compiled into each, so
 * neither depends on the other.  GMime only (call g_mime_init() first).
 */
#ifndef PLUGIN_UTF8_H
#define PLUGIN_UTF8_H

#include <stddef.h>

/*
 * `len` bytes in `charset` (NULL: unknown) as valid UTF-8 without NULs
 * (caller frees with free()).  ISO-8859-1 and US-ASCII are read as
 * windows-1252, their superset in practice; bytes labelled UTF-8 that are
 * not become U+FFFD; an unknown or wrong charset falls back to UTF-8 when
 * the bytes are valid UTF-8, else to windows-1252.  Never fails.
 */
char *plugin_utf8_convert(const char *bytes, size_t len, const char *charset);

/* plugin_utf8_convert() without a charset: kept when valid UTF-8, else windows-1252. */
char *plugin_utf8_clean(const char *s, size_t len);

/* Is `s` valid UTF-8 (a NUL-terminated string, so without NULs)? */
int plugin_utf8_valid(const char *s);

#endif /* PLUGIN_UTF8_H */
