#!/bin/sh
# run.sh BINDIR CORPUSDIR SECONDS TARGET... -- fuzz each target for SECONDS
# (make fuzz).  New inputs that add coverage go to a scratch corpus under
# BINDIR/work/<target>, not into the tree: minimise and copy the ones worth
# keeping (doc/fuzzing.md).  A crash leaves BINDIR/crash-<target>-* and
# makes the run fail.
set -u
bindir=$1 corpus=$2 seconds=$3
shift 3
status=0
for t in "$@"; do
    work="$bindir/work/$t"
    mkdir -p "$work"
    echo "fuzz: $t for ${seconds}s (seeds: $corpus/$t, new inputs: $work)"
    "$bindir/fuzz-$t" -max_total_time="$seconds" -timeout=25 -rss_limit_mb=2048 \
        -print_final_stats=1 -artifact_prefix="$bindir/crash-$t-" \
        "$work" "$corpus/$t" || { status=1; echo "fuzz: $t FAILED (reproducer: $bindir/crash-$t-*)"; }
done
exit $status
