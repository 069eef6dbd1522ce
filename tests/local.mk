# tests/local.mk -- libcheck suites (make check).  Integration suites start a
# private PostgreSQL and Redis through tests/harness.c.
test_cflags = $(AM_CFLAGS) $(CHECK_CFLAGS) $(LIBPQ_CFLAGS) $(HIREDIS_CFLAGS) $(JSONC_CFLAGS)
test_ldadd = core/libpmqcore.la $(CHECK_LIBS)
AM_TESTS_ENVIRONMENT = \
	top_srcdir='$(abs_top_srcdir)' top_builddir='$(abs_top_builddir)' \
	PG_BINDIR='$(PG_BINDIR)' REDIS_SERVER='$(REDIS_SERVER)' \
	PMQ_SERVERS='$(abs_top_srcdir)/scripts/pmq-servers'; export top_srcdir top_builddir PG_BINDIR REDIS_SERVER PMQ_SERVERS;

noinst_LTLIBRARIES += tests/libharness.la
tests_libharness_la_SOURCES = tests/harness.c tests/harness.h
tests_libharness_la_CFLAGS = $(test_cflags)

include $(srcdir)/tests/config.mk
include $(srcdir)/tests/loader.mk
include $(srcdir)/tests/schema.mk
include $(srcdir)/tests/flow.mk
include $(srcdir)/tests/faults.mk
include $(srcdir)/tests/http.mk
include $(srcdir)/tests/bench/bench.mk
include $(srcdir)/tests/analytics.mk
include $(srcdir)/tests/ack.mk
include $(srcdir)/tests/entry.mk
include $(srcdir)/tests/email.mk
include $(srcdir)/tests/pmqctl.mk
include $(srcdir)/tests/lifecycle.mk
include $(srcdir)/tests/chaos/chaos.mk
include $(srcdir)/tests/fuzz/fuzz.mk
include $(srcdir)/tests/session.mk
