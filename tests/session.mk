# tests/session.mk -- staying connected (core/session.c) against the private servers.
check_PROGRAMS += tests/test_session
tests_test_session_SOURCES = tests/test_session.c
tests_test_session_CFLAGS = $(test_cflags)
tests_test_session_LDADD = $(tests_test_ack_LDADD)
TESTS += tests/test_session
