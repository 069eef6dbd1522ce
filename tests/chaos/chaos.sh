#!/bin/sh
# chaos.sh -- the chaos suite (doc/operations.md, "The chaos suite").
# Installs pmq into a private prefix inside the build tree, builds the
# "chaos" plugin (tests/chaos/record.c) against it as a plugin author
# would, with `pkg-config pmq-plugin`, then runs the driver
# (tests/chaos/chaos.c) with the installed pmqd and pmqctl.
#
#   chaos.sh [check|full|soak] [driver options: --seed N, --jobs N, --faults K,...]
#
# Without a mode it runs `check`, the short variant that `make check` runs;
# `make chaos` runs `full`, `make chaos CHAOS_MODE=soak` the soak.  The
# pmqd log and the execution record of the last run of each mode stay in
# tests/chaos/<mode>/.  Exits 77 (skip) only without a C compiler.
set -u

me=chaos.sh
mode=${1:-check}
[ $# -eq 0 ] || shift
top_builddir=$(cd "${top_builddir:-.}" && pwd)
top_srcdir=$(cd "${top_srcdir:-$(dirname "$0")/../..}" && pwd)
MAKE=${MAKE:-make}
PKG_CONFIG=${PKG_CONFIG:-pkg-config}

fail() {
    echo "$me: $*" >&2
    exit 99
}

cc=
for c in ${CC:-} cc gcc clang; do
    if command -v "$c" >/dev/null 2>&1; then
        cc=$c
        break
    fi
done
[ -n "$cc" ] || {
    echo "$me: no C compiler found, skipped"
    exit 77
}
# json-c comes from the system, not from the private prefix.
json=$($PKG_CONFIG --cflags --libs json-c) || fail "pkg-config cannot find json-c"

# 1. The private prefix: one per mode, so that make check and make chaos may run at once.
work=$top_builddir/tests/chaos
dest=$work/prefix-$mode
rm -rf "$dest"
mkdir -p "$work" || fail "cannot create $work"
if ! $MAKE -C "$top_builddir" install DESTDIR="$dest" >"$dest.log" 2>&1; then
    cat "$dest.log" >&2
    fail "make install DESTDIR=$dest failed"
fi
pc=$(find "$dest" -name pmq-plugin.pc -type f | head -n 1)
pmqd=$(find "$dest" -name pmqd -type f | head -n 1)
pmqctl=$(find "$dest" -name pmqctl -type f | head -n 1)
if [ -z "$pc" ] || [ -z "$pmqd" ] || [ -z "$pmqctl" ]; then
    fail "make install left no pmq-plugin.pc, pmqd or pmqctl in $dest"
fi

# 2. The plugin, built outside the tree against the installed header.
PKG_CONFIG_PATH=$(dirname "$pc")
PKG_CONFIG_LIBDIR=$PKG_CONFIG_PATH
PKG_CONFIG_SYSROOT_DIR=$dest
export PKG_CONFIG_PATH PKG_CONFIG_LIBDIR PKG_CONFIG_SYSROOT_DIR
cflags=$($PKG_CONFIG --cflags pmq-plugin) || fail "pkg-config --cflags pmq-plugin failed"
pluginsdir=$($PKG_CONFIG --variable=pluginsdir pmq-plugin) || fail "no pluginsdir in pmq-plugin.pc"
unset PKG_CONFIG_PATH PKG_CONFIG_LIBDIR PKG_CONFIG_SYSROOT_DIR
plugin=$dest$pluginsdir/chaos.so
mkdir -p "$dest$pluginsdir" || fail "cannot create $dest$pluginsdir"
# shellcheck disable=SC2086 # word splitting of the flags is meant
"$cc" -shared -fPIC -O2 -Wall -Wextra $cflags -o "$plugin" "$top_srcdir/tests/chaos/record.c" $json ||
    fail "could not build $plugin"

# 3. The run.
"$work/chaos" --mode "$mode" --plugin "$plugin" --pmqd "$pmqd" --pmqctl "$pmqctl" \
    --keep "$work/$mode" "$@"
rc=$?
rm -rf "$dest" "$dest.log"
exit $rc
