# conf.d/local.mk -- example configuration, installed under $(sysconfdir)/pmq.
pmqconf_DATA = conf.d/pmqd.ini
EXTRA_DIST += conf.d/pmqd.ini
