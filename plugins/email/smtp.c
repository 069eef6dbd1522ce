/*
 * smtp.c -- one SMTP transaction through libcurl: envelope, DATA, the
 * server's reply lines captured from curl's debug stream, and the reply
 * classified as accepted, temporary (4xx, no reply) or permanent (5xx).
 */
#include <curl/curl.h>
#include <stdio.h>
#include <string.h>

#include "smtp.h"

typedef struct upload {
    const char *data;
    size_t len, off;
} upload;

/*
 * The reply being received, and the last complete ones: curl may send QUIT
 * after a refusal, so the reply that matters is the last one with the code
 * curl reports, not necessarily the last one.
 */
#define KEPT_REPLIES 4
typedef struct capture {
    char partial[1024];
    char replies[KEPT_REPLIES][1024];
    unsigned count;
} capture;

static size_t read_cb(char *buf, size_t size, size_t nitems, void *arg)
{
    upload *u = arg;
    size_t n = size * nitems;
    if (n > u->len - u->off)
        n = u->len - u->off;
    memcpy(buf, u->data + u->off, n);
    u->off += n;
    return n;
}

static void append(char *dst, size_t size, const char *src, size_t n)
{
    size_t have = strlen(dst);
    if (have && have + 1 < size)
        dst[have++] = ' ';
    if (n > size - 1 - have)
        n = size - 1 - have;
    memcpy(dst + have, src, n);
    dst[have + n] = '\0';
}

/* One server reply line: "NNN-text" continues a reply, "NNN text" ends it. */
static void reply_line(capture *c, const char *line, size_t n)
{
    append(c->partial, sizeof c->partial, line, n);
    int final = n < 4 || line[3] != '-';
    if (final) {
        memcpy(c->replies[c->count++ % KEPT_REPLIES], c->partial, sizeof c->partial);
        c->partial[0] = '\0';
    }
}

static int debug_cb(CURL *curl, curl_infotype type, char *data, size_t size, void *arg)
{
    (void)curl;
    if (type != CURLINFO_HEADER_IN)
        return 0;
    capture *c = arg;
    size_t start = 0;
    for (size_t i = 0; i <= size; i++) {
        if (i == size || data[i] == '\n') {
            size_t end = i;
            while (end > start && (data[end - 1] == '\r' || data[end - 1] == '\n'))
                end--;
            if (end > start)
                reply_line(c, data + start, end - start);
            start = i + 1;
        }
    }
    return 0;
}

static email_smtp_outcome classify(CURLcode rc, long code)
{
    if (rc == CURLE_OK)
        return EMAIL_SMTP_SENT;
    /* A refused login is the operator's to fix, not the message's fault. */
    if (rc == CURLE_LOGIN_DENIED)
        return EMAIL_SMTP_TEMPORARY;
    if (code >= 500 && code <= 599)
        return EMAIL_SMTP_PERMANENT;
    return EMAIL_SMTP_TEMPORARY;
}

int email_smtp_send(const email_smtp_config *cfg, const char *mail_from, char *const *rcpts,
                    size_t nrcpts, const char *data, size_t len, email_smtp_result *res)
{
    memset(res, 0, sizeof *res);
    CURL *curl = curl_easy_init();
    if (!curl) {
        res->outcome = EMAIL_SMTP_TEMPORARY;
        snprintf(res->error, sizeof res->error, "could not start libcurl");
        return -1;
    }
    struct curl_slist *list = NULL;
    for (size_t i = 0; i < nrcpts; i++)
        list = curl_slist_append(list, rcpts[i]);
    char from[1024];
    snprintf(from, sizeof from, "<%s>", mail_from ? mail_from : "");
    upload up = {data, len, 0};
    capture cap;
    memset(&cap, 0, sizeof cap);
    char errbuf[CURL_ERROR_SIZE] = "";

    curl_easy_setopt(curl, CURLOPT_URL, cfg->url);
    curl_easy_setopt(curl, CURLOPT_MAIL_FROM, from);
    curl_easy_setopt(curl, CURLOPT_MAIL_RCPT, list);
    curl_easy_setopt(curl, CURLOPT_UPLOAD, 1L);
    curl_easy_setopt(curl, CURLOPT_READFUNCTION, read_cb);
    curl_easy_setopt(curl, CURLOPT_READDATA, &up);
    curl_easy_setopt(curl, CURLOPT_INFILESIZE_LARGE, (curl_off_t)len);
    curl_easy_setopt(curl, CURLOPT_ERRORBUFFER, errbuf);
    curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, cfg->timeout_ms);
    curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT_MS, cfg->timeout_ms);
    /* The debug stream is where curl shows the server's reply lines. */
    curl_easy_setopt(curl, CURLOPT_VERBOSE, 1L);
    curl_easy_setopt(curl, CURLOPT_DEBUGFUNCTION, debug_cb);
    curl_easy_setopt(curl, CURLOPT_DEBUGDATA, &cap);
    if (cfg->starttls)
        curl_easy_setopt(curl, CURLOPT_USE_SSL, (long)CURLUSESSL_ALL);
    if (cfg->ca_file)
        curl_easy_setopt(curl, CURLOPT_CAINFO, cfg->ca_file);
    if (cfg->username) {
        curl_easy_setopt(curl, CURLOPT_USERNAME, cfg->username);
        curl_easy_setopt(curl, CURLOPT_PASSWORD, cfg->password ? cfg->password : "");
    }

    CURLcode rc = curl_easy_perform(curl);
    curl_easy_setopt(curl, CURLOPT_VERBOSE, 0L); /* the cleanup's QUIT is of no interest */
    curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &res->code);
    char code[8];
    snprintf(code, sizeof code, "%03ld", res->code);
    for (unsigned i = 0; i < cap.count && i < KEPT_REPLIES; i++) {
        const char *r = cap.replies[(cap.count - 1 - i) % KEPT_REPLIES];
        if (i == 0 || !strncmp(r, code, 3)) {
            snprintf(res->reply, sizeof res->reply, "%s", r);
            if (!strncmp(r, code, 3))
                break;
        }
    }
    res->outcome = classify(rc, res->code);
    if (rc != CURLE_OK)
        snprintf(res->error, sizeof res->error, "%s", *errbuf ? errbuf : curl_easy_strerror(rc));
    curl_slist_free_all(list);
    curl_easy_cleanup(curl);
    return rc == CURLE_OK ? 0 : -1;
}

void email_smtp_describe(const email_smtp_result *res, char *buf, size_t size)
{
    if (res->code && res->reply[0])
        snprintf(buf, size, "the SMTP server replied \"%s\" (%s)", res->reply,
                 res->error[0] ? res->error : "accepted");
    else
        snprintf(buf, size, "could not talk to the SMTP server: %s",
                 res->error[0] ? res->error : "no reply");
}
