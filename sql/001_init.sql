-- 001_init.sql -- the core schema: queues, jobs, their audit trail, the
-- analytics job table, and pmq_enqueue()/pmq_enqueue_many() for producers.
-- Applied by pmq_migrate() inside one transaction; no BEGIN/COMMIT here.

-- Queues a producer may enqueue into.  pmq_sync_queues() fills this from the
-- [queue NAME] sections and from the queues plugins serve.
CREATE TABLE job_queues (
    name              varchar(100) PRIMARY KEY,
    default_priority  integer     NOT NULL DEFAULT 100,
    max_attempts      integer     NOT NULL DEFAULT 3 CHECK (max_attempts >= 1),
    max_payload_bytes integer     NOT NULL DEFAULT 1048576 CHECK (max_payload_bytes > 0),
    is_active         boolean     NOT NULL DEFAULT true,
    is_paused         boolean     NOT NULL DEFAULT false,
    created_at        timestamptz NOT NULL DEFAULT now(),
    updated_at        timestamptz NOT NULL DEFAULT now()
);

-- Every job, durably; the truth the Redis index is rebuilt from.
-- attempt_count counts FINISHED attempts: the running one is attempt_count+1.
CREATE TABLE jobs (
    id                 uuid         PRIMARY KEY DEFAULT gen_random_uuid(),
    queue_name         varchar(100) NOT NULL REFERENCES job_queues (name) ON DELETE RESTRICT,
    status             text         NOT NULL DEFAULT 'queued'
        CHECK (status IN ('queued', 'migrated', 'running', 'completed', 'failed', 'cancelled')),
    priority           integer      NOT NULL DEFAULT 100,
    payload            jsonb        NOT NULL CHECK (jsonb_typeof(payload) = 'object'),
    attempt_count      integer      NOT NULL DEFAULT 0 CHECK (attempt_count >= 0),
    max_attempts       integer      NOT NULL DEFAULT 3 CHECK (max_attempts >= 1),
    run_at             timestamptz  NOT NULL DEFAULT now(),
    tenant_id          text,
    unique_key         text,
    worker_id          text,
    started_at         timestamptz,
    completed_at       timestamptz,
    failed_at          timestamptz,
    cancelled_at       timestamptz,
    last_error_message text,
    progress           real,
    created_at         timestamptz  NOT NULL DEFAULT now(),
    updated_at         timestamptz  NOT NULL DEFAULT now()
);

-- One row per attempt (I5): the guide hard-coded attempt_number to 1.
CREATE TABLE job_logs (
    id             uuid        PRIMARY KEY DEFAULT gen_random_uuid(),
    job_id         uuid        NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,
    status         text        NOT NULL,
    log_message    text,
    attempt_number integer     NOT NULL,
    worker_id      text,
    started_at     timestamptz,
    finished_at    timestamptz,
    duration       interval,
    created_at     timestamptz NOT NULL DEFAULT now()
);

-- The OLAP pipeline's own tracking table, as the guide has it.
CREATE TABLE analytics_jobs (
    id            uuid         PRIMARY KEY DEFAULT gen_random_uuid(),
    job_type      varchar(100) NOT NULL,
    status        varchar(50)  NOT NULL DEFAULT 'queued',
    payload       jsonb        NOT NULL,
    priority      integer      NOT NULL DEFAULT 100,
    queued_at     timestamptz  NOT NULL DEFAULT now(),
    processed_at  timestamptz,
    error_message text,
    created_at    timestamptz  NOT NULL DEFAULT now()
);

-- The migrator claims with "status = 'queued' AND run_at <= now() ORDER BY
-- priority, created_at LIMIT n FOR UPDATE SKIP LOCKED": this index returns
-- rows in that order, run_at is a filter.  (The guide's index led with
-- status and run_at, so it could not serve the ORDER BY.)
CREATE INDEX idx_jobs_queuer ON jobs (priority, created_at) WHERE status = 'queued';
-- The migrator's timer: when is the next delayed job due?
CREATE INDEX idx_jobs_run_at ON jobs (run_at) WHERE status = 'queued';
-- The same claim restricted to some queues.
CREATE INDEX idx_jobs_queue_migration ON jobs (queue_name, priority, created_at)
    WHERE status = 'queued';
-- Audit, pruning and per-status counts.
CREATE INDEX idx_jobs_status_timestamps ON jobs (status, updated_at, queue_name);
-- The reconciler and recovery: what is between the migrator and a terminal state.
CREATE INDEX idx_jobs_in_flight ON jobs (status, worker_id)
    WHERE status IN ('migrated', 'running');
-- Idempotent enqueue.
CREATE UNIQUE INDEX jobs_queue_unique_key ON jobs (queue_name, unique_key)
    WHERE unique_key IS NOT NULL;
CREATE INDEX idx_job_logs_job ON job_logs (job_id, attempt_number, finished_at);
CREATE INDEX idx_analytics_jobs_type_status ON analytics_jobs (job_type, status, queued_at);

-- Wake the migrator once per enqueueing statement, and only at commit (NOTIFY
-- is transactional).  The transition table lets an INSERT that inserted
-- nothing (ON CONFLICT DO NOTHING) stay silent.
CREATE FUNCTION pmq_jobs_notify() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF EXISTS (SELECT 1 FROM pmq_new_jobs) THEN
        PERFORM pg_notify('pmq_jobs', '');
    END IF;
    RETURN NULL;
END
$$;

CREATE TRIGGER jobs_notify AFTER INSERT ON jobs
    REFERENCING NEW TABLE AS pmq_new_jobs
    FOR EACH STATEMENT EXECUTE FUNCTION pmq_jobs_notify();

-- The queue's settings, or an error a producer can act on.
CREATE FUNCTION pmq_queue_for_enqueue(queue text) RETURNS job_queues
LANGUAGE plpgsql STABLE AS $$
DECLARE
    q job_queues;
BEGIN
    IF queue IS NULL THEN
        RAISE EXCEPTION 'queue name must not be NULL' USING ERRCODE = 'null_value_not_allowed';
    END IF;
    SELECT * INTO q FROM job_queues WHERE name = queue;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'queue "%" does not exist', queue
            USING ERRCODE = 'undefined_object',
                  HINT = format('Declare it in a [queue %s] section or load the plugin that serves it, '
                                'then run "pmqctl migrate".', queue);
    END IF;
    IF NOT q.is_active THEN
        RAISE EXCEPTION 'queue "%" is not active', queue
            USING ERRCODE = 'object_not_in_prerequisite_state',
                  HINT = 'Declare the queue in the configuration again and run "pmqctl migrate".';
    END IF;
    RETURN q;
END
$$;

-- Why `payload` cannot be a job's payload in queue `q`, or NULL when it can.
-- `what` names the value in the message ("payload", "payloads[3]").
CREATE FUNCTION pmq_check_payload(q job_queues, payload jsonb, what text) RETURNS void
LANGUAGE plpgsql IMMUTABLE AS $$
DECLARE
    len integer;
BEGIN
    IF payload IS NULL OR jsonb_typeof(payload) <> 'object' THEN
        RAISE EXCEPTION '% must be a JSON object', what
            USING ERRCODE = 'invalid_parameter_value',
                  DETAIL = CASE WHEN payload IS NULL THEN 'Got NULL.'
                                ELSE format('Got a JSON %s.', jsonb_typeof(payload)) END;
    END IF;
    len := octet_length(payload::text);
    IF len > q.max_payload_bytes THEN
        RAISE EXCEPTION '% of % bytes exceeds the limit of % bytes of queue "%"',
                        what, len, q.max_payload_bytes, q.name
            USING ERRCODE = 'program_limit_exceeded',
                  HINT = 'Store large data elsewhere and put a reference to it in the payload, '
                         'or raise max_payload_bytes in the queue''s [queue] section.';
    END IF;
END
$$;

-- Enqueue one job; returns its id.  With a unique_key already used in the
-- queue, returns that job's id and inserts nothing.
CREATE FUNCTION pmq_enqueue(queue text, payload jsonb, priority integer DEFAULT NULL,
                            run_at timestamptz DEFAULT now(), max_attempts integer DEFAULT NULL,
                            unique_key text DEFAULT NULL, tenant_id text DEFAULT NULL)
RETURNS uuid
LANGUAGE plpgsql AS $$
#variable_conflict use_column
DECLARE
    q job_queues := pmq_queue_for_enqueue(pmq_enqueue.queue);
    attempts integer := coalesce(pmq_enqueue.max_attempts, q.max_attempts);
    job_id uuid;
BEGIN
    PERFORM pmq_check_payload(q, pmq_enqueue.payload, 'payload');
    IF attempts < 1 THEN
        RAISE EXCEPTION 'max_attempts must be at least 1'
            USING ERRCODE = 'invalid_parameter_value', DETAIL = format('Got %s.', attempts);
    END IF;
    IF pmq_enqueue.unique_key IS NULL THEN
        INSERT INTO jobs (queue_name, payload, priority, run_at, max_attempts, tenant_id)
        VALUES (q.name, pmq_enqueue.payload, coalesce(pmq_enqueue.priority, q.default_priority),
                coalesce(pmq_enqueue.run_at, now()), attempts, pmq_enqueue.tenant_id)
        RETURNING id INTO job_id;
        RETURN job_id;
    END IF;
    -- ON CONFLICT waits for a concurrent insert of the same key; the SELECT
    -- (a new snapshot in READ COMMITTED) then sees the winner.  Loop in case
    -- that job is deleted in between.
    LOOP
        INSERT INTO jobs (queue_name, payload, priority, run_at, max_attempts, tenant_id, unique_key)
        VALUES (q.name, pmq_enqueue.payload, coalesce(pmq_enqueue.priority, q.default_priority),
                coalesce(pmq_enqueue.run_at, now()), attempts, pmq_enqueue.tenant_id,
                pmq_enqueue.unique_key)
        ON CONFLICT (queue_name, unique_key) WHERE unique_key IS NOT NULL DO NOTHING
        RETURNING id INTO job_id;
        IF job_id IS NOT NULL THEN
            RETURN job_id;
        END IF;
        SELECT j.id INTO job_id FROM jobs j
        WHERE j.queue_name = q.name AND j.unique_key = pmq_enqueue.unique_key;
        IF job_id IS NOT NULL THEN
            RETURN job_id;
        END IF;
    END LOOP;
END
$$;

-- Enqueue every object of the JSON array `payloads` with one INSERT (one
-- notification); returns the ids in the array's order.
CREATE FUNCTION pmq_enqueue_many(queue text, payloads jsonb, priority integer DEFAULT NULL,
                                 run_at timestamptz DEFAULT now(), max_attempts integer DEFAULT NULL,
                                 tenant_id text DEFAULT NULL)
RETURNS SETOF uuid
LANGUAGE plpgsql AS $$
#variable_conflict use_column
DECLARE
    q job_queues := pmq_queue_for_enqueue(pmq_enqueue_many.queue);
    attempts integer := coalesce(pmq_enqueue_many.max_attempts, q.max_attempts);
    bad record;
BEGIN
    IF payloads IS NULL OR jsonb_typeof(payloads) <> 'array' THEN
        RAISE EXCEPTION 'payloads must be a JSON array of objects'
            USING ERRCODE = 'invalid_parameter_value',
                  DETAIL = CASE WHEN payloads IS NULL THEN 'Got NULL.'
                                ELSE format('Got a JSON %s.', jsonb_typeof(payloads)) END;
    END IF;
    IF attempts < 1 THEN
        RAISE EXCEPTION 'max_attempts must be at least 1'
            USING ERRCODE = 'invalid_parameter_value', DETAIL = format('Got %s.', attempts);
    END IF;
    -- Find the first bad element in one pass, then let pmq_check_payload
    -- word the error.
    SELECT e.value, e.ord - 1 AS idx INTO bad
    FROM jsonb_array_elements(payloads) WITH ORDINALITY AS e (value, ord)
    WHERE jsonb_typeof(e.value) <> 'object' OR octet_length(e.value::text) > q.max_payload_bytes
    ORDER BY e.ord
    LIMIT 1;
    IF FOUND THEN
        PERFORM pmq_check_payload(q, bad.value, format('payloads[%s]', bad.idx));
    END IF;
    RETURN QUERY
    INSERT INTO jobs (queue_name, payload, priority, run_at, max_attempts, tenant_id)
    SELECT q.name, e.value, coalesce(pmq_enqueue_many.priority, q.default_priority),
           coalesce(pmq_enqueue_many.run_at, now()), attempts, pmq_enqueue_many.tenant_id
    FROM jsonb_array_elements(payloads) WITH ORDINALITY AS e (value, ord)
    ORDER BY e.ord
    RETURNING id;
END
$$;
