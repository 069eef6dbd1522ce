-- 003_time_ordered_ids.sql -- job ids that grow with time (UUID version 7
-- layout: 48 bits of Unix milliseconds, then random bits), measured in
-- doc/performance.md section 6.
--
-- A random id puts every job on a random leaf of jobs_pkey.  The claim
-- takes jobs in creation order and then looks each up by id, and each of
-- the two UPDATEs adds an index entry next to the old one: with random ids
-- every one of those touches a different page, and a table of 1,000,000
-- jobs no longer fits the CPU's caches.  Ids in creation order keep a
-- batch on a few neighbouring pages.  (PostgreSQL 17 has uuidv7(); 15 does
-- not.)
CREATE FUNCTION pmq_uuid7() RETURNS uuid
LANGUAGE sql VOLATILE AS $$
    SELECT encode(set_bit(set_bit(overlay(uuid_send(gen_random_uuid())
               PLACING substring(int8send((extract(epoch FROM clock_timestamp()) * 1000)::bigint)
                                 FROM 3)
               FROM 1 FOR 6), 52, 1), 53, 1), 'hex')::uuid
$$;

ALTER TABLE jobs ALTER COLUMN id SET DEFAULT pmq_uuid7();
