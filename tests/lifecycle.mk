# tests/lifecycle.mk -- the promises of pmqd's life cycle against the real
# pmqd: handler timeouts, SIGHUP reloads, configuration errors, throttling,
# the grace period, an old Redis, a vanished host, pause and cancel.  Uses
# the "behave" plugin and tests/libdaemon.la from tests/flow.mk.
check_PROGRAMS += tests/test_lifecycle
tests_test_lifecycle_SOURCES = tests/test_lifecycle.c
tests_test_lifecycle_CFLAGS = $(test_cflags)
tests_test_lifecycle_LDADD = tests/libdaemon.la tests/libharness.la $(test_ldadd) \
	$(LIBPQ_LIBS) $(HIREDIS_LIBS)

TESTS += tests/test_lifecycle
EXTRA_DIST += tests/redis_old_proxy.py
