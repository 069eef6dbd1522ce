# tests/schema.mk -- the core schema, pmq_enqueue(), the migration runner and
# the db helpers, against the private servers of tests/harness.c.
check_PROGRAMS += tests/test_schema
tests_test_schema_SOURCES = tests/test_schema.c
tests_test_schema_CFLAGS = $(test_cflags)
tests_test_schema_LDADD = tests/libharness.la $(test_ldadd) $(LIBPQ_LIBS) $(HIREDIS_LIBS)

TESTS += tests/test_schema
