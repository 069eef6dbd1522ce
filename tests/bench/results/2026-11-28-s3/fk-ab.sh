#!/bin/sh
# pgbench: the jobs -> job_queues foreign key's cost for single-job enqueues, 4 clients.
PGB=/usr/lib/postgresql/15/bin/pgbench
C="-h 127.0.0.1 -p 55432 -U postgres"
P="psql -qAt $C peerbench"
echo "SELECT pmq_enqueue('bench', '{\"t\":1}'::jsonb);" > /tmp/enq.sql
( $P -c "select pg_advisory_lock(1886220544,1), pg_sleep(40)" >/dev/null & ); sleep 0.5
for i in 1 2; do
  printf "with FK:    "; $PGB -n $C -f /tmp/enq.sql -c 4 -T 5 -M prepared peerbench 2>&1 | grep -E "^tps" | cut -d' ' -f3
  $P -c "alter table jobs drop constraint jobs_queue_name_fkey"
  printf "without FK: "; $PGB -n $C -f /tmp/enq.sql -c 4 -T 5 -M prepared peerbench 2>&1 | grep -E "^tps" | cut -d' ' -f3
  $P -c "alter table jobs add constraint jobs_queue_name_fkey foreign key (queue_name) references job_queues(name) on delete restrict"
done
$P -c "delete from jobs where queue_name='bench'" >/dev/null
