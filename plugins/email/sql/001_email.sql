-- 001_email.sql -- the email plugin's tables: every message sent or received
-- (email_messages), the bodies and headers of received ones (email_content)
-- and their attachments.  The analytics and warmup plugins read these
-- tables, the bounce plugin updates email_messages: the columns are a
-- contract.  Applied by `pmqctl migrate` in one transaction.

-- One row per message and direction.  message_id is the RFC 5322 msg-id
-- with its angle brackets ("<id@domain>"), as in the header.
CREATE TABLE email_messages (
    id            uuid        PRIMARY KEY DEFAULT gen_random_uuid(),
    tenant_id     text,
    campaign_id   text,
    lead_id       text,
    direction     text        NOT NULL CHECK (direction IN ('outbound', 'inbound')),
    message_id    text,
    from_addr     text,
    to_addr       text,
    subject       text,
    status        text        NOT NULL
        CHECK (status IN ('sent', 'delivered', 'bounced', 'failed', 'received')),
    smtp_response text,
    bounce_type   text        CHECK (bounce_type IN ('hard', 'soft')),
    job_id        uuid,
    sent_at       timestamptz,
    created_at    timestamptz NOT NULL DEFAULT now(),
    updated_at    timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX email_messages_tenant_created ON email_messages (tenant_id, created_at);
CREATE INDEX email_messages_campaign ON email_messages (campaign_id);
-- Period reports (the analytics plugin) over every tenant.
CREATE INDEX email_messages_sent_at ON email_messages (sent_at);
CREATE INDEX email_messages_created_at ON email_messages (created_at);
-- A retried job or a re-delivered inbound message finds its row again.
CREATE UNIQUE INDEX email_messages_message_id ON email_messages (message_id, direction)
    WHERE message_id IS NOT NULL;
-- The bounce plugin's fallback match: the latest message sent to an address.
CREATE INDEX email_messages_outbound_to ON email_messages (lower(to_addr), created_at)
    WHERE direction = 'outbound';

-- What a received message says: bodies converted to UTF-8, its top-level
-- headers as a JSON object (a header seen several times: an array).
CREATE TABLE email_content (
    message_row uuid  PRIMARY KEY REFERENCES email_messages (id) ON DELETE CASCADE,
    text_body   text,
    html_body   text,
    headers     jsonb
);

-- The attachments of a received message, decoded.
CREATE TABLE attachments (
    id           uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    message_row  uuid REFERENCES email_messages (id) ON DELETE CASCADE,
    filename     text,
    content_type text,
    size_bytes   int,
    sha256       text,
    content      bytea
);
CREATE INDEX attachments_message_row ON attachments (message_row);
