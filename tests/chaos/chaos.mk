# tests/chaos/chaos.mk -- the chaos suite (tests/chaos/chaos.sh): jobs
# pushed through the installed pmqd while faults hit it, checked against
# the executions an out-of-tree plugin recorded.  `make check` runs the
# short variant (2,000 jobs, three faults); `make chaos` the full one
# (20,000 jobs, every fault); `make chaos CHAOS_MODE=soak` pushes 1,000,000
# jobs and compares memory before and after.  doc/operations.md explains
# the figures.
check_PROGRAMS += tests/chaos/chaos
tests_chaos_chaos_SOURCES = tests/chaos/chaos.c
tests_chaos_chaos_CFLAGS = $(test_cflags)
tests_chaos_chaos_LDADD = tests/libharness.la $(test_ldadd) $(LIBPQ_LIBS) $(HIREDIS_LIBS)

TESTS += tests/chaos/chaos.sh
EXTRA_DIST += tests/chaos/chaos.sh tests/chaos/record.c

CHAOS_MODE = full
chaos: tests/chaos/chaos
	@$(AM_TESTS_ENVIRONMENT) MAKE='$(MAKE)' CC='$(CC)'; export MAKE CC; \
	$(SHELL) $(srcdir)/tests/chaos/chaos.sh $(CHAOS_MODE) $(CHAOS_ARGS)
.PHONY: chaos

clean-local: clean-chaos
clean-chaos:
	rm -rf tests/chaos/prefix-* tests/chaos/check tests/chaos/full tests/chaos/soak
.PHONY: clean-chaos
