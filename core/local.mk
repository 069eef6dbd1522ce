# core/local.mk -- the host: libpmqcore (shared by pmqd, pmqctl and tests),
# pmqd, pmqctl and the public plugin header.

noinst_LTLIBRARIES += core/libpmqcore.la
core_libpmqcore_la_SOURCES = \
	core/util.c core/util.h \
	core/errors.c core/errors.h \
	core/log.c core/log.h \
	core/config.c core/config.h \
	core/plugin_loader.c core/plugin_loader.h \
	core/host_api.c core/job.c core/job.h \
	core/host_api.h core/plugin_registry.c core/plugin_registry.h \
	core/plugin_keys.c core/plugin_keys.h \
	core/db.c core/db.h \
	core/migrate.c core/migrate.h \
	core/supervisor.c core/supervisor.h \
	core/redis.c core/redis.h \
	core/queue_settings.c core/queue_settings.h \
	core/backoff.c core/backoff.h \
	core/migrator.c core/migrator.h \
	core/entry.c core/entry.h \
	core/claim.c core/claim.h \
	core/ack.c core/ack.h \
	core/recovery.c core/recovery.h \
	core/worker.c core/worker.h \
	core/maintenance.c core/maintenance.h \
	core/deadletter.c core/deadletter.h \
	core/metrics.c core/metrics.h \
	core/http.c core/http.h \
	core/health.c core/health.h \
	core/control.c core/control.h \
	core/errand.c core/errand.h \
	core/served.c core/served.h \
	core/keys.c core/keys.h \
	core/config_reader.c core/config_reader.h \
	core/config_schema.c core/config_schema.h \
	core/cron.c core/cron.h \
	core/secrets.c core/secrets.h \
	core/buf.c core/buf.h \
	core/session.c core/session.h
nodist_core_libpmqcore_la_SOURCES = core/schema_sql.c core/lua_scripts.c
core_libpmqcore_la_CFLAGS = $(AM_CFLAGS) $(LIBPQ_CFLAGS) $(HIREDIS_CFLAGS) $(JSONC_CFLAGS) \
	$(MHD_CFLAGS)
core_libpmqcore_la_LIBADD = $(LIBPQ_LIBS) $(HIREDIS_LIBS) $(JSONC_LIBS) $(MHD_LIBS)

# The core schema is compiled into the binaries: no path to get wrong.
core/schema_sql.c: $(CORE_SQL) $(srcdir)/build-aux/embed-sql.sh
	$(AM_V_GEN)$(SHELL) $(srcdir)/build-aux/embed-sql.sh pmq_migration migrate.h pmq_core_sql $(CORE_SQL) > $@.tmp && mv $@.tmp $@
BUILT_SOURCES += core/schema_sql.c
CLEANFILES += core/schema_sql.c
EXTRA_DIST += build-aux/embed-sql.sh

# So are the Redis scripts (lua/local.mk).
core/lua_scripts.c: $(CORE_LUA) $(srcdir)/build-aux/embed-lua.sh
	$(AM_V_GEN)$(SHELL) $(srcdir)/build-aux/embed-lua.sh $(CORE_LUA) > $@.tmp && mv $@.tmp $@
BUILT_SOURCES += core/lua_scripts.c
CLEANFILES += core/lua_scripts.c
EXTRA_DIST += build-aux/embed-lua.sh

pmqincludedir = $(includedir)/pmq
pmqinclude_HEADERS = core/pmq/plugin.h

sbin_PROGRAMS += core/pmqd
core_pmqd_SOURCES = core/pmqd.c
core_pmqd_CFLAGS = $(core_libpmqcore_la_CFLAGS)
core_pmqd_LDADD = core/libpmqcore.la

bin_PROGRAMS += core/pmqctl
core_pmqctl_SOURCES = core/pmqctl.c
core_pmqctl_CFLAGS = $(core_libpmqcore_la_CFLAGS)
core_pmqctl_LDADD = core/libpmqcore.la
