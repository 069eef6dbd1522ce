# conf.d/local.mk -- example configuration: pmqd.ini goes to $(sysconfdir)/pmq,
# each plugin's file to $(sysconfdir)/pmq/conf.d, where pmqd reads them.
pmqconf_DATA = conf.d/pmqd.ini
pmqconfddir = $(pmqconfdir)/conf.d
pmqconfd_DATA = conf.d/example.ini conf.d/analytics.ini conf.d/warmup.ini
EXTRA_DIST += $(pmqconf_DATA) $(pmqconfd_DATA)
