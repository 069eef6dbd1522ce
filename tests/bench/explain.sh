#!/bin/sh
# tests/bench/explain.sh -- EXPLAIN (ANALYZE, BUFFERS) of the two statements
# every job goes through, on the benchmark's database: the migrator's claim
# (claim_stmt in core/migrator.c) and the ack's batch UPDATE + job_logs INSERT
# (apply_stmt in core/ack.c), both taken verbatim from the C sources.
#
#   tests/bench/explain.sh [QUEUED [BATCH [ACK]]]     (100000 500 1000)
#
# Plans are shown in three states of the jobs table:
#   1. QUEUED jobs just enqueued (what the drain starts from), no ANALYZE yet
#      (pmq-bench TRUNCATEs before each run, as the peers reset theirs);
#   2. the same after ANALYZE (a long-lived table);
#   3. half of them completed and not yet vacuumed (mid-drain: the partial
#      index on status = 'queued' still holds the dead entries).
# The claims and the ack are rolled back; the pmq tables are emptied first
# and at the end.  pmq-bench must have run once (schema, queue "bench");
# no pmqd may run.  Connection: PEERBENCH_PG_URL as for the peers.
set -eu
QUEUED=${1:-100000}
BATCH=${2:-500}
ACK=${3:-1000}
URL=${PEERBENCH_PG_URL:-postgres://postgres@127.0.0.1:55432/peerbench}
SRC=${top_srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}

# The SQL of a pmq_stmt constant (its adjacent literals after the name).
c_string() { # file name
    python3 - "$1" "$2" <<'EOF'
import ast, re, sys
src = open(sys.argv[1]).read()
m = re.search(r'static const pmq_stmt ' + sys.argv[2] + r' = \{(.*?)\};\n', src, re.S)
print(''.join(ast.literal_eval(s) for s in re.findall(r'"(?:[^"\\]|\\.)*"', m.group(1))[1:]))
EOF
}
CLAIM=$(c_string "$SRC/core/migrator.c" claim_stmt)
APPLY=$(c_string "$SRC/core/ack.c" apply_stmt)

ack_block() {
    cat <<EOSQL
WITH s AS (SELECT id FROM jobs WHERE status = 'queued' ORDER BY priority, created_at LIMIT $ACK),
  u AS (UPDATE jobs j SET status = 'migrated' WHERE j.id IN (SELECT id FROM s) RETURNING j.id)
INSERT INTO c SELECT id FROM u;
SELECT array_agg(id)::text AS ids, array_agg(1)::text AS att, array_agg('done'::text)::text AS outc,
  array_agg(NULL::text)::text AS nulls, array_agg(0::bigint)::text AS zeros,
  array_agg((extract(epoch FROM now()) * 1e6)::bigint)::text AS started,
  array_agg((extract(epoch FROM now()) * 1e6)::bigint + 5)::text AS finished,
  array_agg(NULL::real)::text AS progress FROM c \\gset
EXPLAIN (ANALYZE, BUFFERS, COSTS OFF) EXECUTE ack(:'ids', :'att', :'outc', :'nulls', :'nulls',
  :'started', :'finished', :'zeros', :'progress', 'vm:1:bench');
EOSQL
}

psql "$URL" -X -q -v ON_ERROR_STOP=1 <<EOF
\pset pager off
TRUNCATE jobs, job_logs CASCADE;
UPDATE job_queues SET is_paused = false WHERE name = 'bench';
DO \$\$
BEGIN
  FOR c IN 0 .. ($QUEUED - 1) / 1000 LOOP
    PERFORM count(*) FROM pmq_enqueue_many('bench',
      (SELECT jsonb_agg(jsonb_build_object('i', c * 1000 + g))
       FROM generate_series(1, least(1000, $QUEUED - c * 1000)) g));
  END LOOP;
END \$\$;
CHECKPOINT;
PREPARE claim(int) AS $CLAIM;
PREPARE ack(uuid[], int[], text[], text[], text[], bigint[], bigint[], bigint[], real[], text) AS $APPLY;

\echo '=== 1. claim of $BATCH, $QUEUED queued, no statistics (as at the start of a drain)'
BEGIN;
EXPLAIN (ANALYZE, BUFFERS, COSTS OFF) EXECUTE claim($BATCH);
ROLLBACK;
\echo '=== 1b. ack of $ACK done outcomes, no statistics (jobs migrated in the same transaction)'
BEGIN;
CREATE TEMP TABLE c (id uuid) ON COMMIT DROP;
$(ack_block)
ROLLBACK;
ANALYZE jobs;
\echo '=== 2. claim of $BATCH after ANALYZE'
BEGIN;
EXPLAIN (ANALYZE, BUFFERS, COSTS OFF) EXECUTE claim($BATCH);
ROLLBACK;
\echo '=== 2b. ack of $ACK after ANALYZE, twice in one transaction (planning warm the second time)'
BEGIN;
CREATE TEMP TABLE c (id uuid) ON COMMIT DROP;
$(ack_block)
TRUNCATE c;
$(ack_block)
ROLLBACK;

\echo '=== 3. claim of $BATCH with half of the jobs completed (committed), not vacuumed (mid-drain)'
UPDATE jobs SET status = 'completed', updated_at = now()
  WHERE id IN (SELECT id FROM jobs ORDER BY priority, created_at LIMIT $QUEUED / 2);
BEGIN;
EXPLAIN (ANALYZE, BUFFERS, COSTS OFF) EXECUTE claim($BATCH);
ROLLBACK;
\echo '--- the same claim again (the first scan marked the dead index entries)'
BEGIN;
EXPLAIN (ANALYZE, BUFFERS, COSTS OFF) EXECUTE claim($BATCH);
ROLLBACK;
TRUNCATE jobs, job_logs CASCADE;
EOF
