# plugins/local.mk -- the handler plugins shipped with pmq.
EXTRA_DIST += plugins/email/README.md plugins/analytics/README.md \
	plugins/warmup/README.md plugins/bounce/README.md
