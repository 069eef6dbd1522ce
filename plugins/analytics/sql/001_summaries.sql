-- 001_summaries.sql -- the analytics plugin's summary tables, recomputed from
-- the email plugin's email_messages (outbound rows) by its three queues.
-- Applied by `pmqctl migrate` inside one transaction; no BEGIN/COMMIT here.
-- The email plugin owns email_messages: nothing here refers to it, so this
-- migration applies whether or not that table exists yet.

-- One row per tenant and day: outbound messages by their current status.
CREATE TABLE analytics_daily (
    tenant_id  text        NOT NULL,
    day        date        NOT NULL,
    sent       bigint      NOT NULL DEFAULT 0 CHECK (sent >= 0),
    delivered  bigint      NOT NULL DEFAULT 0 CHECK (delivered >= 0),
    bounced    bigint      NOT NULL DEFAULT 0 CHECK (bounced >= 0),
    failed     bigint      NOT NULL DEFAULT 0 CHECK (failed >= 0),
    created_at timestamptz NOT NULL DEFAULT now(),
    -- When the counts last changed (a recomputation that finds the same
    -- counts leaves the row alone).
    updated_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, day)
);
-- A day's recomputation for every tenant.
CREATE INDEX idx_analytics_daily_day ON analytics_daily (day);

-- One row per campaign, over its whole life.
CREATE TABLE analytics_campaign (
    campaign_id   text        PRIMARY KEY,
    tenant_id     text,
    sent          bigint      NOT NULL DEFAULT 0 CHECK (sent >= 0),
    delivered     bigint      NOT NULL DEFAULT 0 CHECK (delivered >= 0),
    bounced       bigint      NOT NULL DEFAULT 0 CHECK (bounced >= 0),
    failed        bigint      NOT NULL DEFAULT 0 CHECK (failed >= 0),
    first_sent_at timestamptz,
    last_sent_at  timestamptz,
    created_at    timestamptz NOT NULL DEFAULT now(),
    updated_at    timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX idx_analytics_campaign_tenant ON analytics_campaign (tenant_id);

-- One row per tenant and calendar month (`month` is its first day).
-- billable_sends counts outbound messages whose status is sent, delivered or
-- bounced: the ones an SMTP server accepted from us.
CREATE TABLE billing_usage (
    tenant_id      text        NOT NULL,
    month          date        NOT NULL CHECK (extract(day FROM month) = 1),
    billable_sends bigint      NOT NULL DEFAULT 0 CHECK (billable_sends >= 0),
    created_at     timestamptz NOT NULL DEFAULT now(),
    updated_at     timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, month)
);
CREATE INDEX idx_billing_usage_month ON billing_usage (month);
