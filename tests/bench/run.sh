#!/bin/sh
# tests/bench/run.sh -- pmq's benchmark (what `make bench` runs): the peers'
# workloads against pmqd with the no-op plugin, on the peers' private
# PostgreSQL and Redis (their servers-up.sh), and a table at the end.
#
#   tests/bench/run.sh                 pmq, the peers' matrix (REPS=3)
#   tests/bench/run.sh --peers         BullMQ and graphile-worker in the same run,
#                                      interleaved (the peers' own run-all.sh)
#   tests/bench/run.sh --scaling       + worker processes 1,2,4,8; payloads 100 B,
#                                      1 KB, 10 KB; backlogs of 10,000 and 1,000,000
#   tests/bench/run.sh --quick         REPS=1, JOBS=20000, DURATION=5: a smoke run
#   tests/bench/run.sh --only-scaling  just the scaling curve
#   make bench BENCH_ARGS="--peers --scaling"
#
# Knobs (environment): REPS (3), JOBS (100000), DURATION (15), IDLE_SAMPLES (200),
# PEERS_SRC (the peers' harness, default ../shared/bench/peers beside the source
# tree), PEERS_RUN (/tmp/peers-run: a writable copy, where `npm ci` runs),
# RESULTS (directory for the .jsonl, .log and .summary.md; default
# tests/bench/results in the build tree), SCALING_CONCURRENCY (50: threads per
# process in the curve), SCALING_WORKERS (2: processes for the payload and
# backlog runs).
# Servers started here are stopped at the end; running ones are left alone.
set -u
top_builddir=${top_builddir:-$(pwd)}
top_srcdir=${top_srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}
BENCH=$top_builddir/tests/bench/pmq-bench
REPS=${REPS:-3}
JOBS=${JOBS:-100000}
DURATION=${DURATION:-15}
IDLE_SAMPLES=${IDLE_SAMPLES:-200}
SCALING_CONCURRENCY=${SCALING_CONCURRENCY:-50}
SCALING_WORKERS=${SCALING_WORKERS:-2}
PEERS_SRC=${PEERS_SRC:-$(cd "$top_srcdir/.." && pwd)/shared/bench/peers}
PEERS_RUN=${PEERS_RUN:-/tmp/peers-run}
RESULTS=${RESULTS:-$top_builddir/tests/bench/results}
with_peers=0 scaling=0 matrix=1

usage() { sed -n '2,/^set -u/p' "$0" | sed '$d; s/^# \{0,1\}//'; }
while [ $# -gt 0 ]; do
    case $1 in
    --peers) with_peers=1 ;;
    --scaling) scaling=1 ;;
    --only-scaling) scaling=1 matrix=0 ;;
    --quick) REPS=1 JOBS=20000 DURATION=5 IDLE_SAMPLES=50 ;;
    -h | --help) usage; exit 0 ;;
    *) echo "run.sh: unknown option $1" >&2; usage >&2; exit 2 ;;
    esac
    shift
done

[ -x "$BENCH" ] || { echo "run.sh: $BENCH is not built (make tests/bench/pmq-bench)" >&2; exit 1; }
[ -f "$PEERS_SRC/servers-up.sh" ] || { echo "run.sh: no peers' harness in $PEERS_SRC (set PEERS_SRC)" >&2; exit 1; }

# A writable copy of the peers' harness: never write into the shared one.
if [ ! -f "$PEERS_RUN/run-all.sh" ]; then
    mkdir -p "$PEERS_RUN" && cp -a "$PEERS_SRC/." "$PEERS_RUN/" || exit 1
fi
if [ $with_peers = 1 ] && [ ! -d "$PEERS_RUN/node_modules" ]; then
    (cd "$PEERS_RUN" && npm ci) || exit 1
fi

started=0
if ! redis-cli -p "${PEERBENCH_REDIS_PORT:-56379}" ping >/dev/null 2>&1 ||
   ! pg_isready -q -h 127.0.0.1 -p 55432 -U postgres -d peerbench; then
    "$PEERS_RUN/servers-up.sh" || exit 1
    started=1
fi

mkdir -p "$RESULTS"
STAMP=$(date -u +%Y%m%dT%H%M%SZ)
OUT=$RESULTS/run-$STAMP.jsonl
LOG=$RESULTS/run-$STAMP.log
echo "results -> $OUT   log -> $LOG"
echo "host: $(nproc) CPUs; $(uptime)" | tee -a "$LOG"

run() { # args...
    echo "=== $(date -u +%T) pmq $* [load $(cut -d' ' -f1-3 /proc/loadavg)]" | tee -a "$LOG"
    "$BENCH" "$@" --out "$OUT" >>"$LOG" 2>&1
    rc=$?
    tail -1 "$OUT" | cut -c1-300 | sed 's/^/    /'
    [ $rc = 0 ] || echo "    (exit $rc, see $LOG)"
}

if [ $matrix = 1 ]; then
    if [ $with_peers = 1 ]; then
        # The peers' own driver runs all three, interleaved within each repetition.
        (cd "$PEERS_RUN" && PEERS="bullmq graphile $BENCH" REPS=$REPS JOBS=$JOBS \
            DURATION=$DURATION IDLE_SAMPLES=$IDLE_SAMPLES OUT=$OUT ./run-all.sh) | tee -a "$LOG"
    else
        # The same matrix as the peers' run-all.sh, pmq only.
        for rep in $(seq 1 "$REPS"); do
            for w in 1 2; do
                run --mode throughput --jobs "$JOBS" --concurrency 50 --workers "$w" --tag "rep$rep"
            done
            run --mode latency --rates idle,500,2000 --duration "$DURATION" \
                --idle-samples "$IDLE_SAMPLES" --concurrency 50 --workers 1 --tag "rep$rep"
        done
        for c in 10 100; do
            run --mode throughput --jobs "$JOBS" --concurrency "$c" --workers 1 --tag once
        done
    fi
fi

if [ $scaling = 1 ]; then
    for w in 1 2 4 8; do
        run --mode throughput --jobs "$JOBS" --concurrency "$SCALING_CONCURRENCY" --workers "$w" --tag scaling
    done
    for b in 100 1000 10000; do
        run --mode throughput --jobs "$JOBS" --concurrency "$SCALING_CONCURRENCY" \
            --workers "$SCALING_WORKERS" --payload-bytes "$b" --tag scaling
    done
    # The drain rate over the first 10,000 completions, with 10,000 and with
    # 1,000,000 jobs queued when the workers start.
    for b in 10000 1000000; do
        run --mode throughput --jobs 10000 --backlog "$b" --concurrency "$SCALING_CONCURRENCY" \
            --workers "$SCALING_WORKERS" --timeout 1200 --tag scaling
    done
fi

echo
if command -v node >/dev/null 2>&1; then
    { node "$PEERS_RUN/summarize.mjs" "$OUT"; echo; node "$top_srcdir/tests/bench/pmq-summary.mjs" "$OUT"; } |
        tee "${OUT%.jsonl}.summary.md"
else
    echo "(node not found: raw results in $OUT)"
fi
[ $started = 1 ] && "$PEERS_RUN/servers-down.sh"
exit 0
