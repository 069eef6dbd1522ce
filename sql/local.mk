# sql/local.mk -- core schema migrations, applied in order by `pmqctl migrate`.
CORE_SQL = $(srcdir)/sql/001_init.sql $(srcdir)/sql/002_lean_ack.sql \
	$(srcdir)/sql/003_time_ordered_ids.sql $(srcdir)/sql/004_quiet_notify.sql \
	$(srcdir)/sql/005_input_rules.sql
EXTRA_DIST += $(CORE_SQL)
