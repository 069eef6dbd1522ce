/*
 * store.c -- the SQL of the email plugin: suppression look-ups, the outbound
 * row keyed on the Message-ID, and received messages written in one
 * transaction.
 */
#include <libpq-fe.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pgsql.h"
#include "store.h"
#include "xalloc.h"

#define BYTEAOID 17

/* A PostgreSQL text[] literal of `items`. */
static char *text_array(char *const *items, size_t n)
{
    size_t len = 3;
    for (size_t i = 0; i < n; i++)
        len += 2 * strlen(items[i]) + 3;
    char *s = plugin_xmalloc(len), *o = s;
    *o++ = '{';
    for (size_t i = 0; i < n; i++) {
        if (i)
            *o++ = ',';
        *o++ = '"';
        for (const char *p = items[i]; *p; p++) {
            if (*p == '"' || *p == '\\')
                *o++ = '\\';
            *o++ = *p;
        }
        *o++ = '"';
    }
    *o++ = '}';
    *o = '\0';
    return s;
}

static char *value_or_null(PGresult *res, int col)
{
    return PQgetisnull(res, 0, col) ? NULL : plugin_xstrdup(PQgetvalue(res, 0, col));
}

int email_store_suppressed(PGconn *pg, const char *tenant, char *const *rcpts, size_t nrcpts,
                           email_suppression *sup, char **err)
{
    memset(sup, 0, sizeof *sup);
    int exists = plugin_db_relation_exists(pg, "suppressions", err);
    if (exists <= 0)
        return exists;
    char *array = text_array(rcpts, nrcpts);
    const char *v[2] = {array, tenant ? tenant : ""};
    /* The tenant's own entry first, then one that holds for every tenant. */
    PGresult *res = plugin_db_exec(pg,
                                   "SELECT email, bounce_type, status_code, diagnostic"
                                   " FROM suppressions"
                                   " WHERE email = ANY (SELECT lower(r) FROM unnest($1::text[]) r)"
                                   "   AND tenant_id IN ($2, '')"
                                   " ORDER BY tenant_id DESC, updated_at DESC LIMIT 1",
                                   2, v);
    free(array);
    if (PQresultStatus(res) != PGRES_TUPLES_OK)
        return plugin_db_fail(err, pg, res, "could not read the suppression list");
    int found = PQntuples(res) > 0;
    if (found) {
        sup->email = value_or_null(res, 0);
        sup->bounce_type = value_or_null(res, 1);
        sup->status_code = value_or_null(res, 2);
        sup->diagnostic = value_or_null(res, 3);
    }
    PQclear(res);
    return found;
}

void email_suppression_clear(email_suppression *sup)
{
    free(sup->email);
    free(sup->bounce_type);
    free(sup->status_code);
    free(sup->diagnostic);
    memset(sup, 0, sizeof *sup);
}

int email_store_already_sent(PGconn *pg, const char *message_id, char **status, char **err)
{
    *status = NULL;
    const char *v[1] = {message_id};
    PGresult *res =
        plugin_db_exec(pg,
                       "SELECT status FROM email_messages WHERE message_id = $1"
                       " AND direction = 'outbound' AND status IN ('sent', 'delivered', 'bounced')",
                       1, v);
    if (PQresultStatus(res) != PGRES_TUPLES_OK)
        return plugin_db_fail(err, pg, res, "could not look for an earlier send");
    int found = PQntuples(res) > 0;
    if (found)
        *status = plugin_xstrdup(PQgetvalue(res, 0, 0));
    PQclear(res);
    return found;
}

int email_store_outbound(PGconn *pg, const email_outbound_row *row, char **err)
{
    const char *v[10] = {row->tenant_id,     row->campaign_id, row->lead_id, row->message_id,
                         row->from_addr,     row->to_addr,     row->subject, row->status,
                         row->smtp_response, row->job_id};
    PGresult *res =
        plugin_db_exec(pg,
                       "INSERT INTO email_messages (tenant_id, campaign_id, lead_id, direction,"
                       "  message_id, from_addr, to_addr, subject, status, smtp_response, job_id,"
                       "  sent_at)"
                       " VALUES ($1, $2, $3, 'outbound', $4, $5, $6, $7, $8::text, $9, $10::uuid,"
                       "  CASE WHEN $8::text = 'sent' THEN now() END)"
                       " ON CONFLICT (message_id, direction) WHERE message_id IS NOT NULL"
                       " DO UPDATE SET"
                       "  status = EXCLUDED.status, smtp_response = EXCLUDED.smtp_response,"
                       "  job_id = EXCLUDED.job_id, sent_at = EXCLUDED.sent_at, updated_at = now()",
                       10, v);
    if (PQresultStatus(res) != PGRES_COMMAND_OK)
        return plugin_db_fail(err, pg, res, "could not record the message in \"email_messages\"");
    PQclear(res);
    return 0;
}

/*--- received messages ---*/

/* Is this inbound message stored already?  1, 0 or -1. */
static int find_inbound(PGconn *pg, const email_inbound *msg, const char *job_id, char **err)
{
    const char *v[2] = {msg->message_id, job_id};
    PGresult *res = plugin_db_exec(pg,
                                   "SELECT 1 FROM email_messages WHERE direction = 'inbound' AND"
                                   " (message_id = $1 OR ($1 IS NULL AND message_id IS NULL"
                                   "  AND job_id = $2::uuid))",
                                   2, v);
    if (PQresultStatus(res) != PGRES_TUPLES_OK)
        return plugin_db_fail(err, pg, res, "could not look for the message in \"email_messages\"");
    int found = PQntuples(res) > 0;
    PQclear(res);
    return found;
}

static int insert_attachments(PGconn *pg, const email_inbound *msg, const char *row_id, char **err)
{
    for (size_t i = 0; i < msg->nattachments; i++) {
        const email_attachment *a = &msg->attachments[i];
        char size[24];
        snprintf(size, sizeof size, "%zu", a->len);
        const char *v[6] = {row_id, a->filename, a->content_type,
                            size,   a->sha256,   (const char *)a->data};
        int lengths[6] = {0, 0, 0, 0, 0, (int)a->len};
        int formats[6] = {0, 0, 0, 0, 0, 1};
        Oid types[6] = {0, 0, 0, 0, 0, BYTEAOID};
        PGresult *res = PQexecParams(pg,
                                     "INSERT INTO attachments (message_row, filename,"
                                     " content_type, size_bytes, sha256, content)"
                                     " VALUES ($1::uuid, $2, $3, $4::int, $5, $6)",
                                     6, types, v, lengths, formats, 0);
        if (PQresultStatus(res) != PGRES_COMMAND_OK)
            return plugin_db_fail(err, pg, res, "could not store an attachment");
        PQclear(res);
    }
    return 0;
}

int email_store_inbound(PGconn *pg, const email_inbound *msg, const char *tenant,
                        const char *job_id, char **err)
{
    if (plugin_db_begin(pg, err) < 0)
        return -1;
    int found = find_inbound(pg, msg, job_id, err);
    if (found != 0) {
        plugin_db_rollback(pg);
        return found > 0 ? 0 : -1;
    }
    const char *v[7] = {tenant,       msg->message_id, msg->from_addr, msg->to_addr,
                        msg->subject, job_id,          msg->date};
    PGresult *res = plugin_db_exec(pg,
                                   "INSERT INTO email_messages (tenant_id, direction,"
                                   "  message_id, from_addr, to_addr, subject, status, job_id,"
                                   "  sent_at)"
                                   " VALUES ($1, 'inbound', $2, $3, $4, $5, 'received',"
                                   "  $6::uuid, $7::timestamptz)"
                                   " ON CONFLICT (message_id, direction)"
                                   "  WHERE message_id IS NOT NULL DO NOTHING"
                                   " RETURNING id",
                                   7, v);
    if (PQresultStatus(res) != PGRES_TUPLES_OK) {
        plugin_db_fail(err, pg, res, "could not store the message in \"email_messages\"");
        plugin_db_rollback(pg);
        return -1;
    }
    if (PQntuples(res) == 0) { /* another worker stored it meanwhile */
        PQclear(res);
        plugin_db_rollback(pg);
        return 0;
    }
    char *row_id = plugin_xstrdup(PQgetvalue(res, 0, 0));
    PQclear(res);

    const char *c[4] = {row_id, msg->text_body, msg->html_body, msg->headers_json};
    int rc = plugin_db_command(pg,
                               "INSERT INTO email_content (message_row, text_body, html_body,"
                               " headers) VALUES ($1::uuid, $2, $3, $4::jsonb)",
                               4, c, "could not store the message in \"email_content\"", err);
    if (rc == 0)
        rc = insert_attachments(pg, msg, row_id, err);
    free(row_id);
    if (rc < 0) {
        plugin_db_rollback(pg);
        return -1;
    }
    return plugin_db_commit(pg, "could not commit the message", err) < 0 ? -1 : 1;
}
