# lua/local.mk -- the Redis scripts, one per file, compiled into the binaries
# (core/lua_scripts.c, see core/local.mk); each opens with its KEYS/ARGV contract.
CORE_LUA = $(srcdir)/lua/claim.lua $(srcdir)/lua/return.lua $(srcdir)/lua/push.lua \
	$(srcdir)/lua/settle.lua $(srcdir)/lua/deadletter.lua
EXTRA_DIST += $(CORE_LUA)
