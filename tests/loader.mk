# tests/loader.mk -- the plugin loader and host table: one tiny plugin per
# rejection case (tests/plugins/), the libcheck suite, and an out-of-tree
# plugin built against the installed header (tests/outoftree.sh).

# check_LTLIBRARIES are not installed: -rpath makes libtool build them shared.
test_plugin_ldflags = $(AM_LDFLAGS) $(plugin_ldflags) -rpath /nowhere

check_LTLIBRARIES += tests/plugins/good.la tests/plugins/nomagic.la \
	tests/plugins/noinit.la tests/plugins/abi2.la tests/plugins/newminor.la \
	tests/plugins/dupqueue.la tests/plugins/initfail.la \
	tests/plugins/rollback.la tests/plugins/takeover.la tests/plugins/badqueue.la \
	tests/plugins/keys.la tests/plugins/abi10.la tests/plugins/badkeys.la

tests_plugins_good_la_SOURCES = tests/plugins/good.c
tests_plugins_good_la_CFLAGS = $(AM_CFLAGS) $(JSONC_CFLAGS)
tests_plugins_good_la_LDFLAGS = $(test_plugin_ldflags)
tests_plugins_good_la_LIBADD = $(JSONC_LIBS)
tests_plugins_nomagic_la_SOURCES = tests/plugins/nomagic.c
tests_plugins_nomagic_la_LDFLAGS = $(test_plugin_ldflags)
tests_plugins_noinit_la_SOURCES = tests/plugins/noinit.c
tests_plugins_noinit_la_LDFLAGS = $(test_plugin_ldflags)
tests_plugins_abi2_la_SOURCES = tests/plugins/abi2.c
tests_plugins_abi2_la_LDFLAGS = $(test_plugin_ldflags)
tests_plugins_newminor_la_SOURCES = tests/plugins/newminor.c
tests_plugins_newminor_la_LDFLAGS = $(test_plugin_ldflags)
tests_plugins_dupqueue_la_SOURCES = tests/plugins/dupqueue.c
tests_plugins_dupqueue_la_LDFLAGS = $(test_plugin_ldflags)
tests_plugins_initfail_la_SOURCES = tests/plugins/initfail.c
tests_plugins_initfail_la_LDFLAGS = $(test_plugin_ldflags)
tests_plugins_rollback_la_SOURCES = tests/plugins/rollback.c
tests_plugins_rollback_la_LDFLAGS = $(test_plugin_ldflags)
tests_plugins_takeover_la_SOURCES = tests/plugins/takeover.c
tests_plugins_takeover_la_LDFLAGS = $(test_plugin_ldflags)
tests_plugins_badqueue_la_SOURCES = tests/plugins/badqueue.c
tests_plugins_badqueue_la_LDFLAGS = $(test_plugin_ldflags)
tests_plugins_keys_la_SOURCES = tests/plugins/keys.c
tests_plugins_keys_la_LDFLAGS = $(test_plugin_ldflags)
tests_plugins_abi10_la_SOURCES = tests/plugins/abi10.c
tests_plugins_abi10_la_LDFLAGS = $(test_plugin_ldflags)
tests_plugins_badkeys_la_SOURCES = tests/plugins/badkeys.c
tests_plugins_badkeys_la_LDFLAGS = $(test_plugin_ldflags)

check_PROGRAMS += tests/test_loader
tests_test_loader_SOURCES = tests/test_loader.c
tests_test_loader_CFLAGS = $(test_cflags)
tests_test_loader_LDADD = $(test_ldadd)

TESTS += tests/test_loader tests/outoftree.sh
EXTRA_DIST += tests/outoftree.sh tests/plugins/hello-outoftree.c
