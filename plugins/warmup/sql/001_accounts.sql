-- 001_accounts.sql -- the warmup plugin's mailboxes and their ramps.
-- Applied by `pmqctl migrate` inside one transaction; no BEGIN/COMMIT here.

-- One row per mailbox being warmed up.  On day D the plugin sends
--   volume(D) = min(max_volume, floor(start_volume * daily_growth ^ (D - started_on)))
-- messages (none before started_on), spread over the working day in
-- time_zone, to the seed_recipients in turn.  See plugins/warmup/README.md.
CREATE TABLE warmup_accounts (
    mailbox         text        PRIMARY KEY CHECK (mailbox LIKE '_%@_%'),
    tenant_id       text,
    -- The display name of the From: header (email_data.from_name), or NULL.
    from_name       text,
    start_volume    integer     NOT NULL CHECK (start_volume >= 1),
    -- Multiplicative: 1.2 means 20 % more every day; 1 keeps start_volume.
    daily_growth    numeric     NOT NULL DEFAULT 1.2 CHECK (daily_growth BETWEEN 1 AND 10),
    max_volume      integer     NOT NULL,
    started_on      date        NOT NULL DEFAULT current_date,
    enabled         boolean     NOT NULL DEFAULT true,
    -- Addresses the warmup mail goes to (cycled through).
    seed_recipients text[]      NOT NULL DEFAULT '{}'
        CHECK (array_position(seed_recipients, NULL) IS NULL),
    -- The working day (and "today") are reckoned in this zone; an unknown
    -- zone is refused here rather than at run time.
    time_zone       text        NOT NULL DEFAULT 'UTC'
        CHECK (now() AT TIME ZONE time_zone IS NOT NULL),
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now(),
    -- One run enqueues max_volume jobs at most: keep that bounded.
    CONSTRAINT warmup_accounts_volume_range
        CHECK (max_volume >= start_volume AND max_volume <= 10000)
);
