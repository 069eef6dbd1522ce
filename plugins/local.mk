# plugins/local.mk -- the handler plugins shipped with pmq.
EXTRA_DIST += plugins/email/README.md plugins/analytics/README.md \
	plugins/warmup/README.md plugins/bounce/README.md

plugins_LTLIBRARIES += plugins/example/example.la
plugins_example_example_la_SOURCES = plugins/example/example.c
plugins_example_example_la_CFLAGS = $(AM_CFLAGS) $(JSONC_CFLAGS) -I$(top_srcdir)/core
plugins_example_example_la_LDFLAGS = $(plugin_ldflags)
plugins_example_example_la_LIBADD = $(JSONC_LIBS)

# analytics: summary tables from email_messages; its schema is compiled in.
ANALYTICS_SQL = $(srcdir)/plugins/analytics/sql/001_summaries.sql
plugins_LTLIBRARIES += plugins/analytics/analytics.la
plugins_analytics_analytics_la_SOURCES = plugins/analytics/analytics.c plugins/analytics/analytics.h
nodist_plugins_analytics_analytics_la_SOURCES = plugins/analytics/analytics_sql.c
plugins_analytics_analytics_la_CFLAGS = $(AM_CFLAGS) $(JSONC_CFLAGS) $(LIBPQ_CFLAGS) \
	-I$(top_srcdir)/core -I$(top_srcdir)/plugins/analytics
plugins_analytics_analytics_la_LDFLAGS = $(plugin_ldflags)
plugins_analytics_analytics_la_LIBADD = $(JSONC_LIBS) $(LIBPQ_LIBS)
plugins/analytics/analytics_sql.c: $(ANALYTICS_SQL) $(srcdir)/build-aux/embed-sql.sh
	$(AM_V_GEN)$(MKDIR_P) $(@D) && $(SHELL) $(srcdir)/build-aux/embed-sql.sh analytics_migration \
	analytics.h analytics_sql $(ANALYTICS_SQL) > $@.tmp && mv $@.tmp $@
BUILT_SOURCES += plugins/analytics/analytics_sql.c
CLEANFILES += plugins/analytics/analytics_sql.c
EXTRA_DIST += $(ANALYTICS_SQL) conf.d/analytics.ini

# warmup: turns warmup_accounts ramps into delayed email-sending jobs.
WARMUP_SQL = $(srcdir)/plugins/warmup/sql/001_accounts.sql
plugins_LTLIBRARIES += plugins/warmup/warmup.la
plugins_warmup_warmup_la_SOURCES = plugins/warmup/warmup.c plugins/warmup/warmup.h
nodist_plugins_warmup_warmup_la_SOURCES = plugins/warmup/warmup_sql.c
plugins_warmup_warmup_la_CFLAGS = $(AM_CFLAGS) $(JSONC_CFLAGS) $(LIBPQ_CFLAGS) \
	-I$(top_srcdir)/core -I$(top_srcdir)/plugins/warmup
plugins_warmup_warmup_la_LDFLAGS = $(plugin_ldflags)
plugins_warmup_warmup_la_LIBADD = $(JSONC_LIBS) $(LIBPQ_LIBS)
plugins/warmup/warmup_sql.c: $(WARMUP_SQL) $(srcdir)/build-aux/embed-sql.sh
	$(AM_V_GEN)$(MKDIR_P) $(@D) && $(SHELL) $(srcdir)/build-aux/embed-sql.sh warmup_migration \
	warmup.h warmup_sql $(WARMUP_SQL) > $@.tmp && mv $@.tmp $@
BUILT_SOURCES += plugins/warmup/warmup_sql.c
CLEANFILES += plugins/warmup/warmup_sql.c
EXTRA_DIST += $(WARMUP_SQL) conf.d/warmup.ini

# Code the email and bounce plugins share, compiled into each (they are
# loaded separately and share no library): mail text to valid UTF-8 for
# PostgreSQL, allocation that aborts, and their stores' libpq calls.
PLUGIN_MAIL_COMMON = plugins/common/utf8.c plugins/common/utf8.h \
	plugins/common/xalloc.c plugins/common/xalloc.h
PLUGIN_PGSQL = plugins/common/pgsql.c plugins/common/pgsql.h

# email: sends over SMTP (libcurl), stores received messages (GMime).  The
# MIME half is a convenience library that tests/test_email links too.
EMAIL_SQL = $(srcdir)/plugins/email/sql/001_email.sql
noinst_LTLIBRARIES += plugins/email/libemailmime.la
plugins_email_libemailmime_la_SOURCES = plugins/email/compose.c plugins/email/compose.h \
	plugins/email/inbound.c plugins/email/inbound.h $(PLUGIN_MAIL_COMMON) \
	plugins/email/address.c plugins/email/address.h
plugins_email_libemailmime_la_CFLAGS = $(AM_CFLAGS) $(GMIME_CFLAGS) $(JSONC_CFLAGS) \
	-I$(top_srcdir)/plugins/common
plugins_email_libemailmime_la_LIBADD = $(GMIME_LIBS) $(JSONC_LIBS)
plugins_LTLIBRARIES += plugins/email/email.la
plugins_email_email_la_SOURCES = plugins/email/email.c plugins/email/schema.h \
	plugins/email/smtp.c plugins/email/smtp.h plugins/email/store.c plugins/email/store.h \
	$(PLUGIN_PGSQL)
nodist_plugins_email_email_la_SOURCES = plugins/email/email_sql.c
plugins_email_email_la_CFLAGS = $(AM_CFLAGS) $(GMIME_CFLAGS) $(LIBCURL_CFLAGS) $(LIBPQ_CFLAGS) \
	$(JSONC_CFLAGS) -I$(top_srcdir)/core -I$(top_srcdir)/plugins/email -I$(top_srcdir)/plugins/common
plugins_email_email_la_LDFLAGS = $(plugin_ldflags)
plugins_email_email_la_LIBADD = plugins/email/libemailmime.la $(GMIME_LIBS) $(LIBCURL_LIBS) \
	$(LIBPQ_LIBS) $(JSONC_LIBS)
plugins/email/email_sql.c: $(EMAIL_SQL) $(srcdir)/build-aux/embed-sql.sh
	$(AM_V_GEN)$(MKDIR_P) $(@D) && $(SHELL) $(srcdir)/build-aux/embed-sql.sh email_migration \
	schema.h email_schema $(EMAIL_SQL) > $@.tmp && mv $@.tmp $@
BUILT_SOURCES += plugins/email/email_sql.c
CLEANFILES += plugins/email/email_sql.c
EXTRA_DIST += $(EMAIL_SQL) conf.d/email.ini

# bounce: reads DSNs and providers' failure notices (GMime), suppresses
# hard-bounced addresses.  The reading half is a convenience library that
# tests/test_email links too.
BOUNCE_SQL = $(srcdir)/plugins/bounce/sql/001_bounce.sql
noinst_LTLIBRARIES += plugins/bounce/libbouncereport.la
plugins_bounce_libbouncereport_la_SOURCES = plugins/bounce/report.c plugins/bounce/report.h \
	plugins/bounce/classify.c plugins/bounce/classify.h $(PLUGIN_MAIL_COMMON)
plugins_bounce_libbouncereport_la_CFLAGS = $(AM_CFLAGS) $(GMIME_CFLAGS) -I$(top_srcdir)/plugins/common
plugins_bounce_libbouncereport_la_LIBADD = $(GMIME_LIBS)
plugins_LTLIBRARIES += plugins/bounce/bounce.la
plugins_bounce_bounce_la_SOURCES = plugins/bounce/bounce.c plugins/bounce/schema.h \
	plugins/bounce/store.c plugins/bounce/store.h $(PLUGIN_PGSQL)
nodist_plugins_bounce_bounce_la_SOURCES = plugins/bounce/bounce_sql.c
plugins_bounce_bounce_la_CFLAGS = $(AM_CFLAGS) $(GMIME_CFLAGS) $(LIBPQ_CFLAGS) $(JSONC_CFLAGS) \
	-I$(top_srcdir)/core -I$(top_srcdir)/plugins/bounce -I$(top_srcdir)/plugins/common
plugins_bounce_bounce_la_LDFLAGS = $(plugin_ldflags)
plugins_bounce_bounce_la_LIBADD = plugins/bounce/libbouncereport.la $(GMIME_LIBS) $(LIBPQ_LIBS) \
	$(JSONC_LIBS)
plugins/bounce/bounce_sql.c: $(BOUNCE_SQL) $(srcdir)/build-aux/embed-sql.sh
	$(AM_V_GEN)$(MKDIR_P) $(@D) && $(SHELL) $(srcdir)/build-aux/embed-sql.sh bounce_migration \
	schema.h bounce_schema $(BOUNCE_SQL) > $@.tmp && mv $@.tmp $@
BUILT_SOURCES += plugins/bounce/bounce_sql.c
CLEANFILES += plugins/bounce/bounce_sql.c
EXTRA_DIST += $(BOUNCE_SQL) conf.d/bounce.ini
