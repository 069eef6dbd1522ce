# tests/config.mk -- the configuration loader's libcheck suite.  It writes its
# INI files into a temporary directory; PMQ_TOP_SRCDIR finds the shipped
# conf.d/pmqd.ini when the program is run by hand, outside make check.  Its
# reload test runs pmqd against private servers (tests/libdaemon.la from
# tests/flow.mk).
check_PROGRAMS += tests/test_config
TESTS += tests/test_config
tests_test_config_SOURCES = tests/test_config.c
tests_test_config_CPPFLAGS = $(AM_CPPFLAGS) -DPMQ_TOP_SRCDIR='"$(abs_top_srcdir)"'
tests_test_config_CFLAGS = $(test_cflags)
tests_test_config_LDADD = tests/libdaemon.la tests/libharness.la $(test_ldadd) $(LIBPQ_LIBS) \
	$(HIREDIS_LIBS)
