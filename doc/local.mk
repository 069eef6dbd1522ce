# doc/local.mk -- manual pages and the operator's guide.
man_MANS = doc/pmqd.8 doc/pmqctl.1
EXTRA_DIST += $(man_MANS) doc/operations.md
