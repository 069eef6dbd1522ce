# tests/faults.mk -- fault injection against the real pmqd (the spirit of
# SQLite's *fault.test): workers killed with SIGKILL, Redis flushed, plugins
# that crash or hang, SIGTERM mid-run, two hosts sharing the work, an
# evicting Redis refused, a dead host recovered from its expired heartbeat.
# Uses the "behave" plugin and tests/libdaemon.la from tests/flow.mk.
check_PROGRAMS += tests/test_faults
tests_test_faults_SOURCES = tests/test_faults.c
tests_test_faults_CFLAGS = $(test_cflags)
tests_test_faults_LDADD = tests/libdaemon.la tests/libharness.la $(test_ldadd) \
	$(LIBPQ_LIBS) $(HIREDIS_LIBS)

TESTS += tests/test_faults
