# tests/bench/bench.mk -- the benchmark: `make bench` (tests/bench/run.sh)
# runs pmqd with the no-op plugin against the peers' private servers
# (../shared/bench/peers/servers-up.sh) and prints a table.  Built by
# `make check` so that it cannot rot, but never run by it, never installed.
# Method and numbers: doc/performance.md.

# The no-op handler plugin (queue "bench").  -rpath: built shared, not installed.
check_LTLIBRARIES += tests/bench/noop.la
tests_bench_noop_la_SOURCES = tests/bench/noop.c
tests_bench_noop_la_LDFLAGS = $(AM_LDFLAGS) $(plugin_ldflags) -rpath /nowhere

# The driver: the peers' flags and RESULT lines (see its --help).
check_PROGRAMS += tests/bench/pmq-bench
tests_bench_pmq_bench_SOURCES = tests/bench/pmq-bench.c
tests_bench_pmq_bench_CFLAGS = $(AM_CFLAGS) $(LIBPQ_CFLAGS) $(HIREDIS_CFLAGS) \
	-DPMQ_BENCH_BUILDDIR=\"$(abs_top_builddir)\"
# core/libpmqcore.la: the key names (keys.h).
tests_bench_pmq_bench_LDADD = core/libpmqcore.la $(LIBPQ_LIBS) $(HIREDIS_LIBS) -lm

EXTRA_DIST += tests/bench/run.sh tests/bench/pmq-summary.mjs tests/bench/explain.sh tests/bench/waits.sh \
	doc/performance.md

# make bench [BENCH_ARGS="--quick"|"--peers"|...]: see tests/bench/run.sh --help.
bench: tests/bench/noop.la tests/bench/pmq-bench core/pmqd core/pmqctl
	top_builddir='$(abs_top_builddir)' top_srcdir='$(abs_top_srcdir)' \
	$(SHELL) $(srcdir)/tests/bench/run.sh $(BENCH_ARGS)
.PHONY: bench
