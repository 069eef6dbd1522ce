# tests/pmqctl.mk -- the operator's commands (health, stats, queues, pause,
# resume, cancel, workers, job show) against the private servers and pmqd.
check_PROGRAMS += tests/test_pmqctl
tests_test_pmqctl_SOURCES = tests/test_pmqctl.c
tests_test_pmqctl_CFLAGS = $(test_cflags)
tests_test_pmqctl_LDADD = tests/libdaemon.la tests/libharness.la $(test_ldadd) $(LIBPQ_LIBS) $(HIREDIS_LIBS) $(JSONC_LIBS)
TESTS += tests/test_pmqctl
