#!/bin/sh
# outoftree.sh -- a plugin author's view: install pmq into a temporary
# DESTDIR, build tests/plugins/hello-outoftree.c against the INSTALLED
# header with `pkg-config --cflags pmq-plugin`, and check that the installed
# pmqd --check accepts it; then rebuild it against copies of the header
# claiming ABI major+1 and minor+1 and check that pmqd refuses each, naming
# the file and both versions.  Exits 77 (skip) only without a C compiler.
set -u

me=outoftree.sh
top_builddir=${top_builddir:-.}
top_srcdir=${top_srcdir:-$(dirname "$0")/..}
MAKE=${MAKE:-make}
PKG_CONFIG=${PKG_CONFIG:-pkg-config}

cc=
for c in cc gcc clang; do
    if command -v "$c" >/dev/null 2>&1; then
        cc=$c
        break
    fi
done
if [ -z "$cc" ]; then
    echo "$me: no C compiler found, skipped"
    exit 77
fi

tmp=$(mktemp -d "${TMPDIR:-/tmp}/pmq-outoftree.XXXXXX") || exit 1
trap 'rm -rf "$tmp"' EXIT
trap 'exit 1' HUP INT TERM

fail() {
    echo "FAIL: $*" >&2
    exit 1
}

# 1. Install into the temporary DESTDIR (silently unless it fails).
dest=$tmp/dest
if ! $MAKE -C "$top_builddir" install DESTDIR="$dest" >"$tmp/install.log" 2>&1; then
    cat "$tmp/install.log" >&2
    fail "make install DESTDIR=$dest failed"
fi

pc=$(find "$dest" -name pmq-plugin.pc -type f | head -n 1)
[ -n "$pc" ] || fail "pmq-plugin.pc was not installed"
pmqd=$(find "$dest" -name pmqd -type f | head -n 1)
[ -n "$pmqd" ] || fail "pmqd was not installed"
[ -x "$pmqd" ] || fail "the installed $pmqd is not executable"

# 2. pkg-config sees the installed tree through the sysroot.
PKG_CONFIG_PATH=$(dirname "$pc")
PKG_CONFIG_LIBDIR=$PKG_CONFIG_PATH
PKG_CONFIG_SYSROOT_DIR=$dest
export PKG_CONFIG_PATH PKG_CONFIG_LIBDIR PKG_CONFIG_SYSROOT_DIR
cflags=$($PKG_CONFIG --cflags pmq-plugin) || fail "pkg-config --cflags pmq-plugin failed"
pluginsdir=$($PKG_CONFIG --variable=pluginsdir pmq-plugin) || fail "no pluginsdir variable"
[ -n "$pluginsdir" ] || fail "pkg-config --variable=pluginsdir pmq-plugin is empty"

header=
for flag in $cflags; do
    case $flag in
    -I*) [ -f "${flag#-I}/pmq/plugin.h" ] && header=${flag#-I}/pmq/plugin.h ;;
    esac
done
[ -n "$header" ] || fail "pkg-config --cflags ($cflags) does not reach the installed <pmq/plugin.h>"
case $header in
"$dest"/*) ;;
*) fail "the header found ($header) is not the installed one under $dest" ;;
esac

major=$(sed -n 's/^#define PMQ_ABI_MAJOR \([0-9][0-9]*\).*/\1/p' "$header")
minor=$(sed -n 's/^#define PMQ_ABI_MINOR \([0-9][0-9]*\).*/\1/p' "$header")
[ -n "$major" ] || fail "cannot read PMQ_ABI_MAJOR from $header"
[ -n "$minor" ] || fail "cannot read PMQ_ABI_MINOR from $header"

# 3. Build the plugin where an author would: outside the tree.
src=$tmp/hello.c
cp "$top_srcdir/tests/plugins/hello-outoftree.c" "$src" || fail "no hello-outoftree.c"
build() { # build OUTPUT CFLAGS...
    out=$1
    shift
    # shellcheck disable=SC2068
    "$cc" -shared -fPIC "$@" -o "$out" "$src" 2>"$tmp/cc.log" || {
        cat "$tmp/cc.log" >&2
        fail "could not build $out"
    }
}
mkdir -p "$dest$pluginsdir"
hello=$dest$pluginsdir/hello.so
# shellcheck disable=SC2086
build "$hello" $cflags

check() { # check INI-NAME PLUGIN-PATH -> output in $tmp/out, status in $rc
    ini=$tmp/$1
    printf '[plugin hello]\npath = %s\n\n[queue hello]\n' "$2" >"$ini"
    "$pmqd" --check -c "$ini" >"$tmp/out" 2>&1
    rc=$?
}

check good.ini "$hello"
[ $rc -eq 0 ] || {
    cat "$tmp/out" >&2
    fail "installed pmqd --check refused the out-of-tree plugin (exit $rc)"
}
echo "ok: installed pmqd accepts a plugin built with pkg-config --cflags pmq-plugin"

# 4. The same source against headers claiming another ABI.
host_abi="ABI $major.$minor"
refused() { # refused major|minor NEW-VALUE PLUGIN-ABI REASON
    mkdir -p "$tmp/$1/pmq"
    so=$tmp/$1/hello.so
    case $1 in
    major) macro=PMQ_ABI_MAJOR ;;
    *) macro=PMQ_ABI_MINOR ;;
    esac
    sed "s/^#define $macro [0-9][0-9]*/#define $macro $2/" <"$header" >"$tmp/$1/pmq/plugin.h"
    grep -Eq "^#define $macro $2([^0-9]|\$)" "$tmp/$1/pmq/plugin.h" ||
        fail "could not make a header with $macro $2"
    build "$so" -I"$tmp/$1"
    check "$1.ini" "$so"
    [ $rc -eq 1 ] || {
        cat "$tmp/out" >&2
        fail "pmqd --check exited $rc for a plugin built for ABI $3 (expected 1)"
    }
    for want in "from \"$so\"" "$4" "ABI $3" "$host_abi"; do
        grep -qF "$want" "$tmp/out" || {
            cat "$tmp/out" >&2
            fail "pmqd --check output for ABI $3 lacks \"$want\""
        }
    done
    echo "ok: installed pmqd refuses a plugin built for ABI $3"
}
refused major $((major + 1)) "$((major + 1)).$minor" "ABI version mismatch"
refused minor $((minor + 1)) "$major.$((minor + 1))" "built for a newer ABI"
exit 0
