-- 005_input_rules.sql -- one rule per value, the same here as in the INI
-- files and pmqctl (core/config.h): run_at is finite, priority 0 to 1000,
-- max_attempts 1 to 1000, unique_key at most 2048 bytes, queue names of 1
-- to 63 letters, digits, "_", "-", "." or ":".
--
-- Before this file pmq_enqueue() took any of these, and one row was enough
-- to hurt everybody: run_at => '-infinity' made the migrator's claim fail
-- ("cannot subtract infinite timestamps") for every queue, 'infinity' made
-- its next-due query fail at every poll, a unique_key over about 2.7 kB
-- failed with a raw btree error, and a queue name with a newline broke
-- `pmqctl stats`.

-- A waiting job's run_at must be finite.  Rows already written with an
-- infinite one are repaired, not refused, so that no job is lost:
--   * '-infinity' means "as early as possible": it becomes the job's
--     created_at, and the job runs;
--   * a waiting job with 'infinity' would never run and never show: it is
--     dead-lettered (status failed, with the reason), where `pmqctl dlq
--     list` shows it and `pmqctl dlq replay` runs it if wanted; a finished
--     one keeps its outcome, its run_at becomes its created_at.
-- jobs gets no CHECK for these rules: PostgreSQL rebuilds a table's check
-- expressions at the start of every INSERT, which cost each single enqueue
-- about 5 us (10%) for three of them.  pmq_enqueue() checks instead, and the
-- migrator copes with rows written around it (core/migrator.c).
UPDATE jobs SET status = 'failed', failed_at = now(), updated_at = now(),
                last_error_message = 'run_at was infinity (dead-lettered by migration 005: '
                                     'a job must run at a finite time)'
WHERE run_at = 'infinity' AND status = 'queued';
UPDATE jobs SET run_at = created_at WHERE NOT isfinite(run_at);

-- Queues are declared by pmqctl migrate from the INI files, which already
-- keep these ranges; other writers now must too.
UPDATE job_queues SET default_priority = least(greatest(default_priority, 0), 1000),
                      updated_at = now()
WHERE default_priority NOT BETWEEN 0 AND 1000;
UPDATE job_queues SET max_attempts = least(max_attempts, 1000), updated_at = now()
WHERE max_attempts > 1000;
-- 8 MiB: what a claim moves through Redis well within [redis] timeout
-- (doc/operations.md, "Payload size"); the INI caps max_payload there too.
UPDATE job_queues SET max_payload_bytes = 8388608, updated_at = now()
WHERE max_payload_bytes > 8388608;
ALTER TABLE job_queues
    ADD CONSTRAINT job_queues_priority_range CHECK (default_priority BETWEEN 0 AND 1000),
    ADD CONSTRAINT job_queues_max_attempts_range CHECK (max_attempts BETWEEN 1 AND 1000),
    ADD CONSTRAINT job_queues_max_payload_range CHECK (max_payload_bytes BETWEEN 1 AND 8388608);

-- A queue's name is its jobs' key (jobs.queue_name refers to it), so a bad
-- one cannot be renamed here.  Such queues are deactivated (nothing new
-- enters them; their jobs stay and can be listed, cancelled or replayed)
-- and the rule holds for every new queue (NOT VALID: old rows are not
-- checked).  [A-Za-z] is by code point in PostgreSQL's regular
-- expressions, whatever the collation.
UPDATE job_queues SET is_active = false, updated_at = now()
WHERE name !~ '^[A-Za-z0-9_.:-]{1,63}$' AND is_active;
ALTER TABLE job_queues
    ADD CONSTRAINT job_queues_name_valid CHECK (name ~ '^[A-Za-z0-9_.:-]{1,63}$') NOT VALID;

-- Why these options cannot be a job's, or nothing.  `priority` and
-- `attempts` are the values after the queue's defaults were applied.
-- Callers test the same rule inline first and call this only to word the
-- error: a PERFORM per enqueue cost about 6 us (12%).
CREATE FUNCTION pmq_check_job_options(priority integer, run_at timestamptz, attempts integer)
RETURNS void
LANGUAGE plpgsql IMMUTABLE AS $$
BEGIN
    IF NOT isfinite(run_at) THEN
        RAISE EXCEPTION 'run_at must be a finite timestamp'
            USING ERRCODE = 'invalid_parameter_value', DETAIL = format('Got %s.', run_at),
                  HINT = 'Give now() for "as soon as possible".';
    END IF;
    IF priority NOT BETWEEN 0 AND 1000 THEN
        RAISE EXCEPTION 'priority must be between 0 and 1000'
            USING ERRCODE = 'invalid_parameter_value', DETAIL = format('Got %s.', priority);
    END IF;
    IF attempts NOT BETWEEN 1 AND 1000 THEN
        RAISE EXCEPTION 'max_attempts must be between 1 and 1000'
            USING ERRCODE = 'invalid_parameter_value', DETAIL = format('Got %s.', attempts);
    END IF;
END
$$;

-- As in 004, with pmq_check_job_options() and the unique_key's length.
CREATE OR REPLACE FUNCTION pmq_enqueue(queue text, payload jsonb, priority integer DEFAULT NULL,
                                       run_at timestamptz DEFAULT now(),
                                       max_attempts integer DEFAULT NULL,
                                       unique_key text DEFAULT NULL, tenant_id text DEFAULT NULL)
RETURNS uuid
LANGUAGE plpgsql AS $$
#variable_conflict use_column
DECLARE
    q job_queues := pmq_queue_for_enqueue(pmq_enqueue.queue);
    attempts integer := coalesce(pmq_enqueue.max_attempts, q.max_attempts);
    prio integer := coalesce(pmq_enqueue.priority, q.default_priority);
    due timestamptz := coalesce(pmq_enqueue.run_at, now());
    job_id uuid;
BEGIN
    PERFORM pmq_check_payload(q, pmq_enqueue.payload, 'payload');
    IF NOT isfinite(due) OR prio NOT BETWEEN 0 AND 1000 OR attempts NOT BETWEEN 1 AND 1000 THEN
        PERFORM pmq_check_job_options(prio, due, attempts);
    END IF;
    IF pmq_enqueue.unique_key IS NULL THEN
        INSERT INTO jobs (queue_name, payload, priority, run_at, max_attempts, tenant_id)
        VALUES (q.name, pmq_enqueue.payload, prio, due, attempts, pmq_enqueue.tenant_id)
        RETURNING id INTO job_id;
        RETURN job_id;
    END IF;
    IF octet_length(pmq_enqueue.unique_key) > 2048 THEN
        RAISE EXCEPTION 'unique_key must be at most 2048 bytes'
            USING ERRCODE = 'invalid_parameter_value',
                  DETAIL = format('Got %s bytes.', octet_length(pmq_enqueue.unique_key)),
                  HINT = 'Use a digest of the long key, such as md5() or sha256().';
    END IF;
    -- ON CONFLICT waits for a concurrent insert of the same key; the SELECT
    -- (a new snapshot in READ COMMITTED) then sees the winner.  Loop in case
    -- that job is deleted in between.
    LOOP
        INSERT INTO jobs (queue_name, payload, priority, run_at, max_attempts, tenant_id, unique_key)
        VALUES (q.name, pmq_enqueue.payload, prio, due, attempts, pmq_enqueue.tenant_id,
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

CREATE OR REPLACE FUNCTION pmq_enqueue_many(queue text, payloads jsonb, priority integer DEFAULT NULL,
                                            run_at timestamptz DEFAULT now(),
                                            max_attempts integer DEFAULT NULL,
                                            tenant_id text DEFAULT NULL)
RETURNS SETOF uuid
LANGUAGE plpgsql AS $$
#variable_conflict use_column
DECLARE
    q job_queues := pmq_queue_for_enqueue(pmq_enqueue_many.queue);
    attempts integer := coalesce(pmq_enqueue_many.max_attempts, q.max_attempts);
    prio integer := coalesce(pmq_enqueue_many.priority, q.default_priority);
    due timestamptz := coalesce(pmq_enqueue_many.run_at, now());
    bad record;
BEGIN
    IF payloads IS NULL OR jsonb_typeof(payloads) <> 'array' THEN
        RAISE EXCEPTION 'payloads must be a JSON array of objects'
            USING ERRCODE = 'invalid_parameter_value',
                  DETAIL = CASE WHEN payloads IS NULL THEN 'Got NULL.'
                                ELSE format('Got a JSON %s.', jsonb_typeof(payloads)) END;
    END IF;
    IF NOT isfinite(due) OR prio NOT BETWEEN 0 AND 1000 OR attempts NOT BETWEEN 1 AND 1000 THEN
        PERFORM pmq_check_job_options(prio, due, attempts);
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
    SELECT q.name, e.value, prio, due, attempts, pmq_enqueue_many.tenant_id
    FROM jsonb_array_elements(payloads) WITH ORDINALITY AS e (value, ord)
    ORDER BY e.ord
    RETURNING id;
END
$$;
