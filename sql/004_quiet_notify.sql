-- 004_quiet_notify.sql -- producers stop notifying while a migrator is
-- awake and polling (measured in doc/performance.md section 5.2).
--
-- PostgreSQL serialises the commits of all transactions that NOTIFY in a
-- database, WAL flush included: four producers made 1,480 single enqueues/s
-- with the notify, 2,822/s without.  A migrator that has just found work
-- keeps polling for a moment anyway, so it says so with an advisory lock,
-- and producers notify only when no migrator holds it.
--
-- The locks (class 1886220544, 'pmq\0'):
--   1 "awake": held (session, exclusive) by a migrator that is polling.
--   2 "enqueueing": held (transaction, shared) by every enqueueing
--     transaction.  A migrator that stops polling first takes it, without
--     waiting, and looks once more: a producer that saw it awake and did not
--     notify has ended by then, so its jobs are found (core/migrator.c).
-- The producer only tests lock 1 (try, then release at once): holding it
-- would keep a waking migrator out for as long as the producer's
-- transaction lasts.  (A producer cancelled between the two calls keeps a
-- shared hold until it disconnects; migrators then stay in LISTEN and every
-- enqueue notifies, as before this file: slower, nothing lost.)
CREATE OR REPLACE FUNCTION pmq_jobs_notify() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF EXISTS (SELECT 1 FROM pmq_new_jobs) THEN
        PERFORM pg_advisory_xact_lock_shared(1886220544, 2);
        IF pg_try_advisory_lock_shared(1886220544, 1) THEN
            PERFORM pg_advisory_unlock_shared(1886220544, 1);
            PERFORM pg_notify('pmq_jobs', '');
        END IF;
    END IF;
    RETURN NULL;
END
$$;
