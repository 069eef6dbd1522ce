# tests/entry.mk -- reading the job entries the migrator writes to Redis
# (core/entry.c); no servers.
check_PROGRAMS += tests/test_entry
tests_test_entry_SOURCES = tests/test_entry.c
tests_test_entry_CFLAGS = $(test_cflags)
tests_test_entry_LDADD = $(test_ldadd)
TESTS += tests/test_entry
