# tests/email.mk -- the email and bounce plugins: message building, the
# inbound and bounce samples of tests/data/ read by the plugins' own parsing
# code (their convenience libraries, linked in), and pmqd end to end with an
# SMTP server of the test's own (tests/smtp_sink.py, python3-aiosmtpd).
check_PROGRAMS += tests/test_email
TESTS += tests/test_email
tests_test_email_SOURCES = tests/test_email.c
tests_test_email_CFLAGS = $(test_cflags) $(GMIME_CFLAGS) -I$(top_srcdir)/plugins
tests_test_email_LDADD = tests/libdaemon.la tests/libharness.la \
	plugins/email/libemailmime.la plugins/bounce/libbouncereport.la $(test_ldadd) \
	$(LIBPQ_LIBS) $(HIREDIS_LIBS) $(JSONC_LIBS) $(GMIME_LIBS)
EXTRA_DIST += tests/smtp_sink.py tests/data/email tests/data/bounce
