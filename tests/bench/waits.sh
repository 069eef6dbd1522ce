#!/bin/sh
# tests/bench/waits.sh -- where PostgreSQL's sessions spend their time while a
# benchmark runs: samples pg_stat_activity every 100 ms for SECONDS and prints
# how often each (client, state, wait event, statement) was seen.  For
# profiling runs only: its own session costs PostgreSQL CPU.
#   tests/bench/waits.sh [SECONDS]        (20)
# pmqd's sessions are application_name "pmq", pmq-bench's "pmq-bench".
set -eu
SECONDS_=${1:-20}
URL=${PEERBENCH_PG_URL:-postgres://postgres@127.0.0.1:55432/peerbench}
psql "$URL" -X -q -v ON_ERROR_STOP=1 <<EOF
\pset pager off
CREATE TEMP TABLE s (app text, state text, wait text, query text);
DO \$\$
BEGIN
  FOR i IN 1 .. $SECONDS_ * 10 LOOP
    INSERT INTO s
    SELECT application_name, state, coalesce(wait_event_type || ':' || wait_event, 'CPU'),
           left(regexp_replace(query, '\s+', ' ', 'g'), 50)
    FROM pg_stat_activity
    WHERE datname = current_database() AND pid <> pg_backend_pid() AND backend_type = 'client backend';
    PERFORM pg_stat_clear_snapshot();
    PERFORM pg_sleep(0.1);
  END LOOP;
END \$\$;
SELECT app, state, wait, query, count(*) AS samples,
       round(100.0 * count(*) / sum(count(*)) OVER (PARTITION BY app), 1) AS pct_of_app
FROM s GROUP BY 1, 2, 3, 4 ORDER BY app, samples DESC;
EOF
