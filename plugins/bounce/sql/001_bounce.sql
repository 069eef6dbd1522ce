-- 001_bounce.sql -- the bounce plugin's tables: the suppression list the
-- email plugin checks before sending (suppressions) and every bounce the
-- plugin processed (bounce_events), from which soft bounces are counted.
-- Applied by `pmqctl migrate` in one transaction.  Nothing here refers to
-- the email plugin's tables: this applies whether or not they exist.

-- Addresses not to send to.  tenant_id '' holds for every tenant.  email is
-- stored lower-cased.  source_message_id is the Message-ID ("<id@domain>")
-- of the message whose bounce put the address here, when known.
CREATE TABLE suppressions (
    tenant_id         text        NOT NULL DEFAULT '',
    email             text        NOT NULL CHECK (email = lower(email)),
    bounce_type       text,
    status_code       text,
    diagnostic        text,
    source_message_id text,
    created_at        timestamptz NOT NULL DEFAULT now(),
    updated_at        timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, email)
);

-- One row per bounced recipient per bounce:process job (a re-run of the job
-- adds nothing).
CREATE TABLE bounce_events (
    id                uuid        PRIMARY KEY DEFAULT gen_random_uuid(),
    job_id            uuid,
    tenant_id         text        NOT NULL DEFAULT '',
    email             text        NOT NULL CHECK (email = lower(email)),
    bounce_type       text        NOT NULL CHECK (bounce_type IN ('hard', 'soft')),
    status_code       text,
    diagnostic        text,
    source_message_id text,
    created_at        timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX bounce_events_job_email ON bounce_events (job_id, email);
-- Counting an address's recent soft bounces.
CREATE INDEX bounce_events_address ON bounce_events (tenant_id, email, created_at);
