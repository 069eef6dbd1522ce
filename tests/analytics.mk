# tests/analytics.mk -- the analytics and warmup plugins end to end: pmqd
# loading plugins/analytics and plugins/warmup against the private servers,
# their migrations through `pmqctl migrate`, their jobs and the rows they
# write.  Uses tests/libdaemon.la from tests/flow.mk.
check_PROGRAMS += tests/test_analytics
tests_test_analytics_SOURCES = tests/test_analytics.c
tests_test_analytics_CFLAGS = $(test_cflags)
tests_test_analytics_LDADD = tests/libdaemon.la tests/libharness.la $(test_ldadd) \
	$(LIBPQ_LIBS) $(HIREDIS_LIBS)

TESTS += tests/test_analytics
