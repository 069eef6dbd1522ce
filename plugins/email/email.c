/*
 * email.c -- the email plugin's entry points: its [plugin email] keys, its
 * schema, and the handlers of "email-sending" (build, check the suppression
 * list, deliver over SMTP, record) and "email:processing" (parse a received
 * message, store it).  Built on <pmq/plugin.h> alone.
 */
#include <curl/curl.h>
#include <errno.h>
#include <gmime/gmime.h>
#include <json-c/json.h>
#include <libpq-fe.h>
#include <pmq/plugin.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#include "compose.h"
#include "inbound.h"
#include "schema.h"
#include "smtp.h"
#include "store.h"


typedef struct email_plugin {
    pmq_host *host;
    email_smtp_config smtp;
    char *password;            /* from password_env or password_file */
    char *no_password;         /* why it is missing: each send reports it */
    const char *envelope_from; /* NULL: the From address */
    const char *message_id_domain;
} email_plugin;

/*--- configuration ---*/

#define DAY_MS 86400000

/* [plugin email]: pmqd checks these before init (conf.d/email.ini says more). */
static const pmq_plugin_key keys[] = {
    {"smtp_url", PMQ_KEY_STRING, 0, 0, 0, NULL,
     "the SMTP server (required): smtp://host[:port] or smtps://host[:port]"},
    {"starttls", PMQ_KEY_BOOL, 0, 0, 0, "no", "require STARTTLS on an smtp:// connection"},
    {"username", PMQ_KEY_STRING, 0, 0, 0, NULL, "log in (SMTP AUTH) as this user"},
    {"password_env", PMQ_KEY_STRING, 0, 0, 0, NULL,
     "the environment variable that holds the SMTP password"},
    {"password_file", PMQ_KEY_STRING, 0, 0, 0, NULL,
     "a file only its owner may read whose first line is the SMTP password"},
    {"password", PMQ_KEY_STRING, 0, 0, 0, NULL,
     "refused: use password_env or password_file, the INI file is no place for a secret"},
    {"ca_file", PMQ_KEY_STRING, 0, 0, 0, NULL, "CA certificates (PEM) to verify the server with"},
    {"timeout", PMQ_KEY_DURATION, 1, DAY_MS, 1000, "30s",
     "time allowed for one whole SMTP transaction"},
    {"envelope_from", PMQ_KEY_STRING, 0, 0, 0, NULL,
     "the envelope sender (MAIL FROM); default: the From address"},
    {"message_id_domain", PMQ_KEY_STRING, 0, 0, 0, NULL,
     "the domain of generated Message-IDs; default: the From address's"},
    {NULL}};

PMQ_PLUGIN_MAGIC_KEYS("email", "1.0.0", PMQ_PLUGIN_THREAD_SAFE, keys);

/*
 * The password in the first line of `path`, which only its owner may read.
 * Returns 0 (*out set), -1 after pmq_init_error() for a file that must not
 * hold a secret, or 1 with *why (caller frees) when it cannot be read now:
 * `pmqctl migrate` may run where pmqd's secrets are out of reach.
 */
static int read_secret(pmq_host *host, const char *path, char **out, char **why)
{
    struct stat st;
    FILE *f = fopen(path, "r");
    if (!f) {
        if (asprintf(why, "could not open password_file \"%s\": %s", path, strerror(errno)) < 0)
            *why = NULL;
        return 1;
    }
    if (fstat(fileno(f), &st) == 0 && (!S_ISREG(st.st_mode) || (st.st_mode & 077))) {
        if (S_ISREG(st.st_mode))
            pmq_init_error(host,
                           "password_file \"%s\" may be read by others (mode %03o): chmod "
                           "600 it",
                           path, (unsigned)(st.st_mode & 0777));
        else
            pmq_init_error(host, "password_file \"%s\" is not a regular file", path);
        fclose(f);
        return -1;
    }
    char buf[1024] = "";
    if (!fgets(buf, sizeof buf, f))
        buf[0] = '\0';
    fclose(f);
    buf[strcspn(buf, "\r\n")] = '\0';
    if (!buf[0]) {
        if (asprintf(why, "password_file \"%s\" is empty", path) < 0)
            *why = NULL;
        return 1;
    }
    *out = strdup(buf);
    memset(buf, 0, sizeof buf);
    return 0;
}

static int configure(pmq_host *host, const pmq_section *section, email_plugin *ep)
{
    ep->smtp.url = pmq_config_get(section, "smtp_url");
    if (!ep->smtp.url || !*ep->smtp.url) {
        pmq_init_error(host, "missing key \"smtp_url\": the SMTP server to send through, e.g. "
                             "smtp://mail.example.com:587");
        return -1;
    }
    int implicit_tls = !strncasecmp(ep->smtp.url, "smtps://", 8);
    if (!implicit_tls && strncasecmp(ep->smtp.url, "smtp://", 7)) {
        pmq_init_error(host, "invalid smtp_url \"%s\": an smtp:// or smtps:// URL is expected",
                       ep->smtp.url);
        return -1;
    }
    int64_t n;
    pmq_config_number(section, "starttls", &n);
    ep->smtp.starttls = (int)n;
    if (ep->smtp.starttls && implicit_tls) {
        pmq_init_error(host, "starttls = yes with smtps://: an smtps:// connection is TLS from "
                             "its start; use smtp:// for STARTTLS");
        return -1;
    }
    pmq_config_number(section, "timeout", &n);
    ep->smtp.timeout_ms = (long)n;
    ep->smtp.ca_file = pmq_config_get(section, "ca_file");

    if (pmq_config_get(section, "password")) {
        pmq_init_error(host, "the password does not belong in the INI file: name an environment "
                             "variable with password_env or a file with password_file");
        return -1;
    }
    ep->smtp.username = pmq_config_get(section, "username");
    const char *env = pmq_config_get(section, "password_env");
    const char *file = pmq_config_get(section, "password_file");
    if (env && file) {
        pmq_init_error(host, "password_env and password_file are both set: keep one");
        return -1;
    }
    if ((env || file) && !ep->smtp.username) {
        pmq_init_error(host, "%s is set without username", env ? "password_env" : "password_file");
        return -1;
    }
    /* A secret out of reach fails each send (retried), not the start: see read_secret(). */
    if (env) {
        const char *secret = getenv(env);
        if (secret && *secret)
            ep->password = strdup(secret);
        else if (asprintf(&ep->no_password,
                          "password_env names \"%s\", which is %s in the "
                          "environment",
                          env, secret ? "empty" : "not set") < 0)
            ep->no_password = NULL;
    } else if (file && read_secret(host, file, &ep->password, &ep->no_password) < 0) {
        return -1;
    }
    if (ep->smtp.username && !ep->password && !ep->no_password) {
        pmq_init_error(host, "username is set without password_env or password_file");
        return -1;
    }
    if (ep->no_password)
        pmq_host_log(host, PMQ_LOG_WARNING, "%s: messages cannot be sent", ep->no_password);
    ep->smtp.password = ep->password;
    ep->envelope_from = pmq_config_get(section, "envelope_from");
    ep->message_id_domain = pmq_config_get(section, "message_id_domain");
    return 0;
}

/*--- helpers ---*/

/* A payload member as text (strings as they are, numbers printed), or NULL. */
static const char *member_text(json_object *o, const char *key)
{
    json_object *v;
    if (!json_object_object_get_ex(o, key, &v) || !v)
        return NULL;
    return json_object_get_string(v);
}

/* The payload's "tenant_id", else the job's tenant, else NULL. */
static const char *tenant_of(const pmq_job *job, json_object *payload)
{
    json_object *v;
    if (json_object_object_get_ex(payload, "tenant_id", &v) &&
        json_object_is_type(v, json_type_string))
        return json_object_get_string(v);
    return pmq_job_tenant(job);
}

/*--- email-sending ---*/

static pmq_status suppressed(pmq_ctx *ctx, const email_suppression *sup)
{
    pmq_set_error(ctx,
                  "recipient \"%s\" is suppressed (%s bounce%s%s%s%s): the message was not sent",
                  sup->email, sup->bounce_type ? sup->bounce_type : "earlier",
                  sup->status_code ? " " : "", sup->status_code ? sup->status_code : "",
                  sup->diagnostic ? ": " : "", sup->diagnostic ? sup->diagnostic : "");
    return PMQ_FAIL;
}

static pmq_status send_email(pmq_ctx *ctx, const pmq_job *job, void *state)
{
    const email_plugin *ep = state;
    json_object *payload = pmq_job_payload_json(job), *email_data = NULL;
    json_object_object_get_ex(payload, "email_data", &email_data);
    email_outgoing out;
    char *err = NULL;
    if (email_compose(email_data, pmq_job_id(job), ep->message_id_domain, 0, &out, &err) < 0) {
        pmq_set_error(ctx, "invalid email-sending payload: %s", err);
        free(err);
        return PMQ_FAIL;
    }
    const char *tenant = tenant_of(job, payload);
    pmq_status status = PMQ_RETRY;
    PGconn *pg = pmq_pg(ctx);
    if (!pg) {
        pmq_set_error(ctx, "no PostgreSQL connection: message %s was not sent", out.message_id);
        goto done;
    }

    email_suppression sup;
    int r = email_store_suppressed(pg, tenant, out.rcpts, out.nrcpts, &sup, &err);
    if (r != 0) {
        if (r > 0) {
            status = suppressed(ctx, &sup);
            email_suppression_clear(&sup);
        } else {
            pmq_set_error(ctx, "%s", err);
        }
        goto done;
    }
    char *earlier = NULL;
    r = email_store_already_sent(pg, out.message_id, &earlier, &err);
    if (r != 0) {
        if (r > 0) {
            /* A crash after the server took it: sending again would duplicate it. */
            pmq_log(ctx,
                    "message %s was already handed to the server (status %s): not sending it "
                    "again",
                    out.message_id, earlier);
            status = PMQ_DONE;
        } else {
            pmq_set_error(ctx, "%s", err);
        }
        free(earlier);
        goto done;
    }

    if (ep->no_password) {
        pmq_set_error(ctx, "message %s was not sent: no SMTP password: %s", out.message_id,
                      ep->no_password);
        goto done;
    }
    email_smtp_result res;
    email_smtp_send(&ep->smtp, ep->envelope_from ? ep->envelope_from : out.from_addr, out.rcpts,
                    out.nrcpts, out.data, out.len, &res);
    char what[1700];
    email_smtp_describe(&res, what, sizeof what);
    if (res.outcome == EMAIL_SMTP_TEMPORARY) {
        pmq_set_error(ctx, "message %s to %s: %s", out.message_id, out.to_addr, what);
        goto done;
    }
    int sent = res.outcome == EMAIL_SMTP_SENT;
    email_outbound_row row = {
        .tenant_id = tenant,
        .campaign_id = member_text(payload, "campaign_id"),
        .lead_id = member_text(payload, "lead_id"),
        .message_id = out.message_id,
        .from_addr = out.from_addr,
        .to_addr = out.to_addr,
        .subject = out.subject,
        .status = sent ? "sent" : "failed",
        .smtp_response = res.reply[0] ? res.reply : res.error,
        .job_id = pmq_job_id(job),
    };
    if (email_store_outbound(pg, &row, &err) < 0) {
        /* Retrying would send the message twice: say so and go on. */
        pmq_log(ctx, "%s", err);
        pmq_host_log(ep->host, PMQ_LOG_WARNING, "message %s: %s", out.message_id, err);
        free(err);
        err = NULL;
    }
    if (sent) {
        pmq_log(ctx, "sent %s to %s: %s", out.message_id, out.to_addr, res.reply);
        status = PMQ_DONE;
    } else {
        pmq_set_error(ctx, "message %s to %s: %s", out.message_id, out.to_addr, what);
        status = PMQ_FAIL;
    }

done:
    free(err);
    email_outgoing_clear(&out);
    return status;
}

/*--- email:processing ---*/

static pmq_status process_email(pmq_ctx *ctx, const pmq_job *job, void *state)
{
    (void)state;
    json_object *payload = pmq_job_payload_json(job), *v;
    char *raw = NULL;
    size_t len = 0;
    if (json_object_object_get_ex(payload, "raw", &v) && json_object_is_type(v, json_type_string)) {
        len = (size_t)json_object_get_string_len(v);
        raw = g_memdup2(json_object_get_string(v), len + 1);
    } else if (json_object_object_get_ex(payload, "raw_base64", &v) &&
               json_object_is_type(v, json_type_string)) {
        gsize n = 0;
        raw = (char *)g_base64_decode(json_object_get_string(v), &n);
        len = n;
    } else {
        pmq_set_error(ctx, "invalid email:processing payload: \"raw\" (the message as a string) "
                           "or \"raw_base64\" is required");
        return PMQ_FAIL;
    }

    email_inbound msg;
    char *err = NULL;
    if (email_inbound_parse(raw, len, &msg, &err) < 0) {
        pmq_set_error(ctx, "the message was not stored: %s", err);
        free(err);
        g_free(raw);
        return PMQ_FAIL;
    }
    g_free(raw);
    pmq_status status = PMQ_RETRY;
    PGconn *pg = pmq_pg(ctx);
    if (!pg) {
        pmq_set_error(ctx, "no PostgreSQL connection: the message was not stored");
        goto done;
    }
    int r = email_store_inbound(pg, &msg, tenant_of(job, payload), pmq_job_id(job), &err);
    if (r < 0) {
        pmq_set_error(ctx, "%s", err);
        free(err);
        goto done;
    }
    if (r == 0)
        pmq_log(ctx, "message %s from %s is stored already", msg.message_id ? msg.message_id : "",
                msg.from_addr);
    else
        pmq_log(ctx, "stored message %s from %s with %zu attachment(s)",
                msg.message_id ? msg.message_id : "(no Message-ID)", msg.from_addr,
                msg.nattachments);
    status = PMQ_DONE;
done:
    email_inbound_clear(&msg);
    return status;
}

/*--- entry points ---*/

static void fini(void *state)
{
    email_plugin *ep = state;
    if (ep->password)
        memset(ep->password, 0, strlen(ep->password));
    free(ep->password);
    free(ep->no_password);
    free(ep);
}

int pmq_plugin_init(pmq_host *host, const pmq_api *api, const pmq_section *section)
{
    PMQ_API_INIT(api);
    email_plugin *ep = calloc(1, sizeof *ep);
    if (!ep) {
        pmq_init_error(host, "out of memory");
        return -1;
    }
    ep->host = host;
    if (configure(host, section, ep) < 0)
        goto fail;
    for (const email_migration *m = email_schema; m->name; m++)
        if (pmq_register_migration(host, m->version, m->name, m->sql) < 0)
            goto fail;
    if (pmq_register_queue(host, "email-sending", send_email, ep) < 0 ||
        pmq_register_queue(host, "email:processing", process_email, ep) < 0)
        goto fail;
    /* Once per process, before any handler thread runs. */
    g_mime_init();
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
        pmq_init_error(host, "could not initialise libcurl");
        goto fail;
    }
    pmq_register_fini(host, fini, ep);
    return 0;
fail:
    fini(ep);
    return -1;
}
