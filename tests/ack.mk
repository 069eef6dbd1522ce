# tests/ack.mk -- the outcome path (core/ack.c) against the private servers.
check_PROGRAMS += tests/test_ack
tests_test_ack_SOURCES = tests/test_ack.c
tests_test_ack_CFLAGS = $(test_cflags)
tests_test_ack_LDADD = tests/libdaemon.la tests/libharness.la $(test_ldadd) $(LIBPQ_LIBS) \
	$(HIREDIS_LIBS)
TESTS += tests/test_ack
