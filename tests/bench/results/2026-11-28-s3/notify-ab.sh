#!/bin/sh
# pgbench: pmq_enqueue() one job per transaction, 4 clients, prepared; three ways.
PGB=/usr/lib/postgresql/15/bin/pgbench
C="-h 127.0.0.1 -p 55432 -U postgres"
P="psql -qAt $C peerbench"
echo "SELECT pmq_enqueue('bench', '{\"t\":1}'::jsonb);" > /tmp/enq.sql
pct() { cat pgbench_log.* | awk '{print $3}' | sort -n | awk '{a[NR]=$1} END {printf "n %d p50 %.2f p95 %.2f p99 %.2f max %.2f ms\n", NR, a[int(NR*.5)]/1000, a[int(NR*.95)]/1000, a[int(NR*.99)]/1000, a[NR]/1000}'; }
run() { # label
  cd /tmp && rm -f pgbench_log.*
  printf "%-28s unthrottled: " "$1"; $PGB -n $C -f /tmp/enq.sql -c 4 -T 5 -M prepared peerbench 2>&1 | grep -E "^tps" | cut -d' ' -f3
  rm -f pgbench_log.*
  printf "%-28s 2000/s: " "$1"; $PGB -n $C -f /tmp/enq.sql -c 4 -R 2000 -T 5 -M prepared -l peerbench 2>&1 | grep -E "^tps" | cut -d' ' -f3 | tr '\n' ' '; pct
}
run "NOTIFY each commit"
( $P -c "select pg_advisory_lock(1886220544,1), pg_sleep(13)" >/dev/null & ); sleep 0.5
run "lock 1 held (no NOTIFY)"
sleep 3
$P -c "alter table jobs disable trigger jobs_notify"
run "trigger disabled"
$P -c "alter table jobs enable trigger jobs_notify"
$P -c "delete from jobs where queue_name='bench'" >/dev/null
