# tests/http.mk -- pmqd's HTTP endpoint: the metrics renderer on hand-filled
# Redis, GET /metrics after a real workload (checked against PostgreSQL and
# by promtool, from the Debian package prometheus), GET /health up and with
# Redis hung or gone, beside slow clients, with PostgreSQL stopped under load
# or hung.  Uses the "behave" plugin and tests/libdaemon.la from
# tests/flow.mk.
check_PROGRAMS += tests/test_http
tests_test_http_SOURCES = tests/test_http.c
tests_test_http_CFLAGS = $(test_cflags)
tests_test_http_LDADD = tests/libdaemon.la tests/libharness.la $(test_ldadd) \
	$(LIBPQ_LIBS) $(HIREDIS_LIBS) $(JSONC_LIBS)

TESTS += tests/test_http
