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
