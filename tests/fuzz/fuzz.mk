# tests/fuzz/fuzz.mk -- fuzz targets (libFuzzer): the INI loader, the job
# entry reader, the bounce reader and the inbound message reader.
#  - make check replays each corpus (tests/fuzz/corpus/<target>/) once, the
#    target built with replay.c's main() and the normal compiler, so that it
#    runs under --enable-sanitizers too;
#  - make fuzz [FUZZ_SECONDS=60] [FUZZ_TARGETS="bounce ..."] builds each target
#    with clang -fsanitize=fuzzer,address,undefined (the sources it fuzzes
#    compiled in, instrumented) and runs it for FUZZ_SECONDS (tests/fuzz/run.sh).
# How to run a campaign and keep a reproducer: doc/fuzzing.md.

fuzz_corpus = $(abs_top_srcdir)/tests/fuzz/corpus
fuzz_replay_cflags = $(AM_CFLAGS) -I$(top_srcdir)/tests/fuzz -I$(top_srcdir)/plugins

check_PROGRAMS += tests/fuzz/replay-config tests/fuzz/replay-entry \
	tests/fuzz/replay-bounce tests/fuzz/replay-inbound
TESTS += tests/fuzz/replay-config tests/fuzz/replay-entry \
	tests/fuzz/replay-bounce tests/fuzz/replay-inbound

tests_fuzz_replay_config_SOURCES = tests/fuzz/fuzz_config.c tests/fuzz/replay.c tests/fuzz/fuzz.h
tests_fuzz_replay_config_CFLAGS = $(fuzz_replay_cflags) -DFUZZ_CORPUS='"$(fuzz_corpus)/config"'
tests_fuzz_replay_config_LDADD = core/libpmqcore.la

tests_fuzz_replay_entry_SOURCES = tests/fuzz/fuzz_entry.c tests/fuzz/replay.c tests/fuzz/fuzz.h
tests_fuzz_replay_entry_CFLAGS = $(fuzz_replay_cflags) $(JSONC_CFLAGS) \
	-DFUZZ_CORPUS='"$(fuzz_corpus)/entry"'
tests_fuzz_replay_entry_LDADD = core/libpmqcore.la $(JSONC_LIBS)

tests_fuzz_replay_bounce_SOURCES = tests/fuzz/fuzz_bounce.c tests/fuzz/replay.c tests/fuzz/fuzz.h
tests_fuzz_replay_bounce_CFLAGS = $(fuzz_replay_cflags) $(GMIME_CFLAGS) \
	-DFUZZ_CORPUS='"$(fuzz_corpus)/bounce"'
tests_fuzz_replay_bounce_LDADD = plugins/bounce/libbouncereport.la $(GMIME_LIBS)

tests_fuzz_replay_inbound_SOURCES = tests/fuzz/fuzz_inbound.c tests/fuzz/replay.c tests/fuzz/fuzz.h
tests_fuzz_replay_inbound_CFLAGS = $(fuzz_replay_cflags) $(GMIME_CFLAGS) $(JSONC_CFLAGS) \
	-DFUZZ_CORPUS='"$(fuzz_corpus)/inbound"'
tests_fuzz_replay_inbound_LDADD = plugins/email/libemailmime.la $(GMIME_LIBS) $(JSONC_LIBS)

# The fuzzing builds: each target with the sources it exercises, all
# instrumented (built from source here, not from libpmqcore, which the
# normal compiler built without coverage).  Not part of `all` or `check`.
FUZZ_CC = clang
FUZZ_SECONDS = 60
FUZZ_TARGETS = config entry bounce inbound
FUZZ_CFLAGS = -g -O1 -fno-omit-frame-pointer -fsanitize=fuzzer,address,undefined \
	-fno-sanitize-recover=undefined
fuzz_cc = $(FUZZ_CC) $(FUZZ_CFLAGS) $(DEFS) $(AM_CPPFLAGS) $(CPPFLAGS) \
	-I$(top_srcdir)/tests/fuzz -I$(top_srcdir)/plugins -I$(top_srcdir)/plugins/common

fuzz_config_sources = $(srcdir)/tests/fuzz/fuzz_config.c $(srcdir)/core/config.c \
	$(srcdir)/core/queue_settings.c \
	$(srcdir)/core/errors.c $(srcdir)/core/util.c \
	$(srcdir)/core/config_reader.c $(srcdir)/core/config_schema.c \
	$(srcdir)/core/cron.c $(srcdir)/core/secrets.c
fuzz_entry_sources = $(srcdir)/tests/fuzz/fuzz_entry.c $(srcdir)/core/entry.c $(srcdir)/core/util.c \
	$(srcdir)/core/buf.c
fuzz_bounce_sources = $(srcdir)/tests/fuzz/fuzz_bounce.c $(srcdir)/plugins/bounce/report.c \
	$(srcdir)/plugins/bounce/classify.c $(srcdir)/plugins/common/utf8.c \
	$(srcdir)/plugins/common/xalloc.c
fuzz_inbound_sources = $(srcdir)/tests/fuzz/fuzz_inbound.c $(srcdir)/plugins/email/inbound.c \
	$(srcdir)/plugins/common/utf8.c $(srcdir)/plugins/common/xalloc.c \
	$(srcdir)/plugins/email/address.c

tests/fuzz/fuzz-config: $(fuzz_config_sources) $(srcdir)/tests/fuzz/fuzz.h
	$(AM_V_CCLD)$(MKDIR_P) tests/fuzz && $(fuzz_cc) $(JSONC_CFLAGS) $(LIBPQ_CFLAGS) \
	-o $@ $(fuzz_config_sources) $(JSONC_LIBS) $(LIBPQ_LIBS)
tests/fuzz/fuzz-entry: $(fuzz_entry_sources) $(srcdir)/tests/fuzz/fuzz.h
	$(AM_V_CCLD)$(MKDIR_P) tests/fuzz && $(fuzz_cc) $(JSONC_CFLAGS) \
	-o $@ $(fuzz_entry_sources) $(JSONC_LIBS)
tests/fuzz/fuzz-bounce: $(fuzz_bounce_sources) $(srcdir)/tests/fuzz/fuzz.h
	$(AM_V_CCLD)$(MKDIR_P) tests/fuzz && $(fuzz_cc) $(GMIME_CFLAGS) \
	-o $@ $(fuzz_bounce_sources) $(GMIME_LIBS)
tests/fuzz/fuzz-inbound: $(fuzz_inbound_sources) $(srcdir)/tests/fuzz/fuzz.h
	$(AM_V_CCLD)$(MKDIR_P) tests/fuzz && $(fuzz_cc) $(GMIME_CFLAGS) $(JSONC_CFLAGS) \
	-o $@ $(fuzz_inbound_sources) $(GMIME_LIBS) $(JSONC_LIBS)

fuzz-build: tests/fuzz/fuzz-config tests/fuzz/fuzz-entry tests/fuzz/fuzz-bounce \
	tests/fuzz/fuzz-inbound
fuzz: fuzz-build
	$(SHELL) $(srcdir)/tests/fuzz/run.sh tests/fuzz $(srcdir)/tests/fuzz/corpus \
	$(FUZZ_SECONDS) $(FUZZ_TARGETS)
.PHONY: fuzz fuzz-build
CLEANFILES += tests/fuzz/fuzz-config tests/fuzz/fuzz-entry tests/fuzz/fuzz-bounce \
	tests/fuzz/fuzz-inbound
EXTRA_DIST += tests/fuzz/run.sh tests/fuzz/corpus doc/fuzzing.md
