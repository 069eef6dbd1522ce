/*
 * store.c -- the SQL of a processed bounce: find and mark the bounced
 * message, record the event, count soft bounces, upsert the suppression.
 */
#include <libpq-fe.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pgsql.h"
#include "store.h"

/* Mark the original message bounced: by its Message-ID, else the latest sent to the address. */
static int mark_message(PGconn *pg, const bounce_report *report, const bounce_recipient *r,
                        const char *tenant, bounce_outcome *o, char **err)
{
    static const char by_id[] =
        "UPDATE email_messages SET status = 'bounced', updated_at = now(),"
        "  bounce_type = CASE WHEN bounce_type = 'hard' THEN 'hard' ELSE $2 END"
        " WHERE id = (SELECT id FROM email_messages WHERE direction = 'outbound'"
        "  AND message_id = $1 LIMIT 1)"
        " RETURNING coalesce(tenant_id, ''), coalesce(message_id, '')";
    static const char by_address[] =
        "UPDATE email_messages SET status = 'bounced', updated_at = now(),"
        "  bounce_type = CASE WHEN bounce_type = 'hard' THEN 'hard' ELSE $2 END"
        " WHERE id = (SELECT id FROM email_messages WHERE direction = 'outbound'"
        "  AND lower(to_addr) = $1 AND ($3::text IS NULL OR tenant_id = $3::text)"
        "  ORDER BY created_at DESC LIMIT 1)"
        " RETURNING coalesce(tenant_id, ''), coalesce(message_id, '')";
    const char *type = r->hard ? "hard" : "soft";
    for (int pass = 0; pass < 2; pass++) {
        if (pass == 0 && !report->original_message_id)
            continue;
        const char *v[3] = {pass == 0 ? report->original_message_id : r->email, type, tenant};
        PGresult *res = plugin_db_exec(pg, pass == 0 ? by_id : by_address, pass == 0 ? 2 : 3, v);
        if (PQresultStatus(res) != PGRES_TUPLES_OK)
            return plugin_db_fail(err, pg, res,
                                  "could not mark the message bounced in \"email_messages\"");
        if (PQntuples(res) > 0) {
            o->matched = 1;
            if (!tenant)
                snprintf(o->tenant, sizeof o->tenant, "%s", PQgetvalue(res, 0, 0));
            snprintf(o->message_id, sizeof o->message_id, "%s", PQgetvalue(res, 0, 1));
            PQclear(res);
            return 0;
        }
        PQclear(res);
    }
    return 0;
}

static int soft_count(PGconn *pg, const char *tenant, const char *email, long window_s, int *n,
                      char **err)
{
    char window[32];
    snprintf(window, sizeof window, "%ld", window_s);
    const char *v[3] = {tenant, email, window};
    PGresult *res = plugin_db_exec(pg,
                                   "SELECT count(*) FROM bounce_events"
                                   " WHERE tenant_id = $1 AND email = $2 AND bounce_type = 'soft'"
                                   " AND created_at > now() - $3::bigint * interval '1 second'",
                                   3, v);
    if (PQresultStatus(res) != PGRES_TUPLES_OK)
        return plugin_db_fail(err, pg, res, "could not count soft bounces");
    *n = atoi(PQgetvalue(res, 0, 0));
    PQclear(res);
    return 0;
}

static int apply_one(PGconn *pg, const bounce_report *report, const bounce_recipient *r,
                     const char *job_id, const char *tenant, const bounce_policy *policy,
                     int have_messages, bounce_outcome *o, char **err)
{
    memset(o, 0, sizeof *o);
    snprintf(o->tenant, sizeof o->tenant, "%s", tenant ? tenant : "");
    if (report->original_message_id)
        snprintf(o->message_id, sizeof o->message_id, "%s", report->original_message_id);
    /* A delayed delivery may still succeed: the message is not marked. */
    if (have_messages && !r->delayed && mark_message(pg, report, r, tenant, o, err) < 0)
        return -1;
    const char *type = r->hard ? "hard" : "soft", *code = bounce_status_code(r);
    const char *source = o->message_id[0] ? o->message_id : NULL;
    const char *ev[7] = {job_id, o->tenant, r->email, type, code, r->diagnostic, source};
    if (plugin_db_command(pg,
                          "INSERT INTO bounce_events (job_id, tenant_id, email, bounce_type,"
                          "  status_code, diagnostic, source_message_id)"
                          " VALUES ($1::uuid, $2, $3, $4, $5, $6, $7)"
                          " ON CONFLICT (job_id, email) DO NOTHING",
                          7, ev, "could not record the bounce in \"bounce_events\"", err) < 0)
        return -1;

    char *diag = NULL;
    if (!r->hard) {
        int n = 0;
        if (policy->soft_limit <= 0)
            return 0;
        if (soft_count(pg, o->tenant, r->email, policy->soft_window_s, &n, err) < 0)
            return -1;
        if (n < policy->soft_limit)
            return 0;
        long w = policy->soft_window_s;
        int days = w % 86400 == 0;
        if (asprintf(&diag, "%d soft bounces within %ld %s; the last: %s", n, days ? w / 86400 : w,
                     days ? "day(s)" : "s", r->diagnostic ? r->diagnostic : "no diagnostic") < 0)
            diag = NULL;
    }
    /* A hard entry stays hard; otherwise the latest bounce describes it. */
    const char *sv[6] = {o->tenant, r->email, type, code, diag ? diag : r->diagnostic, source};
    int rc = plugin_db_command(pg,
                               "INSERT INTO suppressions (tenant_id, email, bounce_type,"
                               "  status_code, diagnostic, source_message_id)"
                               " VALUES ($1, $2, $3, $4, $5, $6)"
                               " ON CONFLICT (tenant_id, email) DO UPDATE SET"
                               "  bounce_type = EXCLUDED.bounce_type,"
                               "  status_code = EXCLUDED.status_code,"
                               "  diagnostic = EXCLUDED.diagnostic,"
                               "  source_message_id = coalesce(EXCLUDED.source_message_id,"
                               "   suppressions.source_message_id), updated_at = now()"
                               " WHERE suppressions.bounce_type IS DISTINCT FROM 'hard'"
                               "  OR EXCLUDED.bounce_type = 'hard'",
                               6, sv, "could not add the address to \"suppressions\"", err);
    free(diag);
    if (rc == 0)
        o->suppressed = 1;
    return rc;
}

int bounce_store_apply(PGconn *pg, const bounce_report *report, const char *job_id,
                       const char *tenant, const bounce_policy *policy, bounce_outcome *outcomes,
                       char **err)
{
    if (plugin_db_begin(pg, err) < 0)
        return -1;
    /* The email plugin may not be installed: then there is no message to mark. */
    int have_messages = plugin_db_relation_exists(pg, "email_messages", err);
    for (size_t i = 0; have_messages >= 0 && i < report->nrcpts; i++)
        if (apply_one(pg, report, &report->rcpts[i], job_id, tenant, policy, have_messages,
                      &outcomes[i], err) < 0)
            have_messages = -1;
    if (have_messages < 0) {
        plugin_db_rollback(pg);
        return -1;
    }
    return plugin_db_commit(pg, "could not commit the bounce", err);
}
