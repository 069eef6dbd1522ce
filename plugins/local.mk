# plugins/local.mk -- the handler plugins shipped with pmq.
EXTRA_DIST += plugins/email/README.md plugins/analytics/README.md \
	plugins/warmup/README.md plugins/bounce/README.md

plugins_LTLIBRARIES += plugins/example/example.la
plugins_example_example_la_SOURCES = plugins/example/example.c
plugins_example_example_la_CFLAGS = $(AM_CFLAGS) $(JSONC_CFLAGS) -I$(top_srcdir)/core
plugins_example_example_la_LDFLAGS = $(plugin_ldflags)
plugins_example_example_la_LIBADD = $(JSONC_LIBS)
