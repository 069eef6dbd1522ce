# tests/flow.mk -- the queue contract end to end: pmqd with the "behave"
# test plugin against the private servers.
check_LTLIBRARIES += tests/plugins/behave.la
tests_plugins_behave_la_SOURCES = tests/plugins/behave.c
tests_plugins_behave_la_CFLAGS = $(AM_CFLAGS) $(JSONC_CFLAGS)
tests_plugins_behave_la_LDFLAGS = $(AM_LDFLAGS) $(plugin_ldflags) -rpath /nowhere
tests_plugins_behave_la_LIBADD = $(JSONC_LIBS)

noinst_LTLIBRARIES += tests/libdaemon.la
tests_libdaemon_la_SOURCES = tests/daemon.c tests/daemon.h
tests_libdaemon_la_CFLAGS = $(test_cflags)

check_PROGRAMS += tests/test_flow
TESTS += tests/test_flow
tests_test_flow_SOURCES = tests/test_flow.c
tests_test_flow_CFLAGS = $(test_cflags)
tests_test_flow_LDADD = tests/libdaemon.la tests/libharness.la $(test_ldadd) $(LIBPQ_LIBS) \
	$(HIREDIS_LIBS) $(JSONC_LIBS)
