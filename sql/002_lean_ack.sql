-- 002_lean_ack.sql -- less work per job on the path every job takes
-- (claim -> ack), measured in doc/performance.md section 6.3.

-- (status, updated_at, queue_name) took a new entry at every state change
-- of every job.  What it served (pruning and audit of finished jobs) needs
-- finished jobs only; in-flight ones have idx_jobs_in_flight.
DROP INDEX idx_jobs_status_timestamps;
CREATE INDEX idx_jobs_finished ON jobs (updated_at)
    WHERE status IN ('completed', 'failed', 'cancelled');

-- The foreign key checked and share-locked the jobs row once per job_logs
-- row.  pmq writes job_logs only in the statement that updates that jobs
-- row, so the check can never fail; deleting a job still deletes its
-- attempts, by this trigger, once per statement.
ALTER TABLE job_logs DROP CONSTRAINT job_logs_job_id_fkey;

-- A random uuid key put every new row on a random leaf of the key's index;
-- an increasing one appends at the right edge.  Nothing refers to it.
ALTER TABLE job_logs DROP COLUMN id;
ALTER TABLE job_logs ADD COLUMN id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY;

CREATE FUNCTION pmq_jobs_delete_logs() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    DELETE FROM job_logs l USING pmq_gone_jobs g WHERE l.job_id = g.id;
    RETURN NULL;
END
$$;

CREATE TRIGGER jobs_delete_logs AFTER DELETE ON jobs
    REFERENCING OLD TABLE AS pmq_gone_jobs
    FOR EACH STATEMENT EXECUTE FUNCTION pmq_jobs_delete_logs();
