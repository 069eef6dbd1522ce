/*
 * http.c -- pmqd's "http" child (see http.h): GET /health and GET /metrics
 * served by libmicrohttpd.
 *
 * A small pool of event-driven threads (epoll where there is one): a client
 * that sends its request one byte at a time, or never finishes it, holds a
 * descriptor and a little memory, never a thread, so it cannot keep the
 * probes out.  The pool's size also bounds how many reports are built at
 * once, each with its own connections to both servers; a report waits on a
 * server at most its own short timeouts (health.c), and holds up only the
 * connections of its thread meanwhile.  The socket is bound here, not by
 * MHD, so that a port in use gets pmq's own message.
 */
#include <errno.h>
#include <netdb.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <unistd.h>

#include <json-c/json.h>
#include <microhttpd.h>

#include "health.h"
#include "http.h"
#include "log.h"
#include "metrics.h"
#include "served.h"
#include "util.h"

/*
 * The limits that keep /health and /metrics reachable whatever clients do.
 * Constants, not settings: a monitoring endpoint serves a few scrapers and
 * probes, one connection each, far below these limits: nothing to tune.
 *   - HTTP_THREADS: MHD's pool; see above.
 *   - HTTP_MAX_CONNECTIONS: the total, far above any monitoring need and
 *     well below the usual 1024 descriptors; at 32 KB of MHD memory each,
 *     16 MB at worst.
 *   - PMQ_HTTP_MAX_PER_IP (http.h): one address cannot take more, so it
 *     takes HTTP_MAX_CONNECTIONS / PMQ_HTTP_MAX_PER_IP addresses to fill
 *     the server.
 *   - HTTP_IDLE_TIMEOUT_S: a connection that sends nothing for this long is
 *     closed (a client that dribbles is bounded by the two limits instead);
 *     a scraper's idle keep-alive connection just reconnects.  MHD does not
 *     count the time a report takes as idle.
 *   - HTTP_LISTEN_BACKLOG: room for a burst of connections while the pool
 *     is busy accepting.
 */
#define HTTP_THREADS 4
#define HTTP_MAX_CONNECTIONS 512
#define HTTP_IDLE_TIMEOUT_S 10
#define HTTP_LISTEN_BACKLOG 128

static const char metrics_type[] = "text/plain; version=0.0.4; charset=utf-8";

/*--- listening ---*/

/* Split "host:port" / "[v6]:port" (validated by config.c). */
static void split_listen(const char *where, char *host, size_t hsize, char *port, size_t psize)
{
    const char *colon = strrchr(where, ':');
    const char *h = where;
    size_t hlen = (size_t)(colon - where);
    if (h[0] == '[') {
        h++;
        hlen -= 2;
    }
    snprintf(host, hsize, "%.*s", (int)hlen, h);
    snprintf(port, psize, "%s", colon + 1);
}

/* A listening socket on `where`, or -1 with errno-style `*err`. */
static int try_listen(const char *where, int *err)
{
    char host[256], port[16];
    split_listen(where, host, sizeof host, port, sizeof port);
    struct addrinfo hints = {0}, *ai = NULL;
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
    int rc = getaddrinfo(host[0] ? host : NULL, port, &hints, &ai);
    if (rc != 0) {
        log_error("could not resolve \"%s\": %s", where, gai_strerror(rc));
        *err = 0;
        return -1;
    }
    int fd = -1;
    *err = 0;
    for (struct addrinfo *a = ai; a; a = a->ai_next) {
        fd = socket(a->ai_family, a->ai_socktype | SOCK_CLOEXEC, a->ai_protocol);
        if (fd < 0) {
            *err = errno;
            continue;
        }
        int on = 1;
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof on);
        if (bind(fd, a->ai_addr, a->ai_addrlen) == 0 && listen(fd, HTTP_LISTEN_BACKLOG) == 0)
            break;
        *err = errno;
        close(fd);
        fd = -1;
    }
    freeaddrinfo(ai);
    return fd;
}

/*
 * After a reload (SIGHUP) the retiring child may still hold the port for a
 * moment: wait for it, briefly.  A port held by someone else is a start-up
 * failure: we exit before pmq_served(), and the supervisor throttles us.
 */
static int open_listener(const char *where, volatile int *stopping)
{
    int64_t give_up = pmq_now_ms() + 800;
    int err;
    for (;;) {
        int fd = try_listen(where, &err);
        if (fd >= 0)
            return fd;
        if (err != EADDRINUSE || *stopping || pmq_now_ms() > give_up)
            break;
        pmq_sleep_ms(100);
    }
    if (err)
        log_error("could not listen on \"%s\": %s", where, strerror(err));
    return -1;
}

/*--- answering ---*/

static enum MHD_Result respond(struct MHD_Connection *conn, unsigned status, const char *type,
                               char *body)
{
    struct MHD_Response *resp =
        MHD_create_response_from_buffer(strlen(body), body, MHD_RESPMEM_MUST_FREE);
    if (!resp) {
        free(body);
        return MHD_NO;
    }
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, type);
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
    if (status == MHD_HTTP_METHOD_NOT_ALLOWED)
        MHD_add_response_header(resp, MHD_HTTP_HEADER_ALLOW, "GET, HEAD");
    enum MHD_Result rc = MHD_queue_response(conn, status, resp);
    MHD_destroy_response(resp);
    return rc;
}

static enum MHD_Result health(struct MHD_Connection *conn, const pmq_config *cfg)
{
    pmq_health_level level;
    json_object *report = pmq_health_report(cfg, &level);
    char *body = pmq_asprintf(
        "%s\n", json_object_to_json_string_ext(report, JSON_C_TO_STRING_PRETTY |
                                                           JSON_C_TO_STRING_NOSLASHESCAPE));
    json_object_put(report);
    return respond(conn, level == PMQ_DOWN ? MHD_HTTP_SERVICE_UNAVAILABLE : MHD_HTTP_OK,
                   "application/json", body);
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url,
                                  const char *method, const char *version,
                                  const char *upload_data, size_t *upload_data_size,
                                  void **con_cls)
{
    static int seen;
    const pmq_config *cfg = cls;
    /* The first call only announces the request; a body is read and dropped. */
    if (*con_cls != &seen) {
        *con_cls = &seen;
        return MHD_YES;
    }
    if (*upload_data_size) {
        *upload_data_size = 0;
        return MHD_YES;
    }
    if (strcmp(method, MHD_HTTP_METHOD_GET) != 0 && strcmp(method, MHD_HTTP_METHOD_HEAD) != 0)
        return respond(conn, MHD_HTTP_METHOD_NOT_ALLOWED, "text/plain; charset=utf-8",
                       pmq_asprintf("method %s not allowed: use GET\n", method));
    if (!strcmp(url, "/health"))
        return health(conn, cfg);
    if (!strcmp(url, "/metrics"))
        return respond(conn, MHD_HTTP_OK, metrics_type, pmq_metrics_render(cfg));
    return respond(conn, MHD_HTTP_NOT_FOUND, "text/plain; charset=utf-8",
                   pmq_xstrdup("not found: try /health or /metrics\n"));
}

static void mhd_log(void *cls, const char *fmt, va_list ap) __attribute__((format(printf, 2, 0)));

/*
 * MHD logs each connection it refuses at a limit: a client that keeps
 * connecting would fill the log.  A message repeated within
 * HTTP_LOG_REPEAT_MS is counted instead, as syslog does.
 */
#define HTTP_LOG_REPEAT_MS 10000

static void mhd_log(void *cls, const char *fmt, va_list ap)
{
    static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
    static char last[1024];
    static int64_t last_ms;
    static long repeats;
    char line[sizeof last];
    vsnprintf(line, sizeof line, fmt, ap);
    line[strcspn(line, "\n")] = '\0'; /* MHD ends its messages with one */
    int64_t now = pmq_now_ms();
    pthread_mutex_lock(&mu);
    if (!strcmp(line, last) && now - last_ms < HTTP_LOG_REPEAT_MS) {
        repeats++;
    } else {
        if (repeats)
            log_warning("last message repeated %ld times", repeats);
        log_warning("%s", line);
        memcpy(last, line, sizeof last);
        last_ms = now;
        repeats = 0;
    }
    pthread_mutex_unlock(&mu);
}

int pmq_http_main(const pmq_config *cfg, volatile int *stopping)
{
    pmq_log_set_ident("pmqd: http");
    int fd = open_listener(cfg->http.listen, stopping);
    if (fd < 0)
        return *stopping ? 0 : 1;
    struct MHD_Daemon *d = MHD_start_daemon(
        MHD_USE_AUTO_INTERNAL_THREAD | MHD_USE_ERROR_LOG, 0, NULL, NULL, on_request, (void *)cfg,
        MHD_OPTION_EXTERNAL_LOGGER, mhd_log, NULL, MHD_OPTION_LISTEN_SOCKET, fd,
        MHD_OPTION_THREAD_POOL_SIZE, (unsigned)HTTP_THREADS, MHD_OPTION_CONNECTION_LIMIT,
        (unsigned)HTTP_MAX_CONNECTIONS, MHD_OPTION_PER_IP_CONNECTION_LIMIT,
        (unsigned)PMQ_HTTP_MAX_PER_IP, MHD_OPTION_CONNECTION_TIMEOUT,
        (unsigned)HTTP_IDLE_TIMEOUT_S, MHD_OPTION_END);
    if (!d) {
        log_error("could not start the HTTP server on \"%s\"", cfg->http.listen);
        close(fd);
        return 1;
    }
    pmq_served();
    log_info("serving /health and /metrics on \"%s\"", cfg->http.listen);
    while (!*stopping) {
        pmq_sleep_ms(100);
    }
    /* Waits for requests in progress (each bounded by the servers' timeouts)
     * and closes the listening socket. */
    MHD_stop_daemon(d);
    return 0;
}
