#!/bin/sh
# make install / make uninstall, as a user of the library sees them:
# installs into a staging directory (DESTDIR, PREFIX=/usr/local), builds
# the README's C example against it through pkg-config, shared and static,
# runs both, then uninstalls and checks that only empty directories remain.
# Prints "ok - ..." / "not ok - ..." / "skip - ..." lines, like the C test
# programs, so tests/run-c-tests.sh counts it (make check-install).
# Environment: CC (default cc), MAKE (default make).
cd "$(dirname "$0")/../.." || exit 1
cc=${CC:-cc}
make=${MAKE:-make}

if ! command -v pkg-config >/dev/null 2>&1; then
    echo "skip - install and uninstall: needs pkg-config (Debian: pkg-config)"
    exit 0
fi

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
stage=$tmp/stage
prefix=/usr/local
failed=0

# The log of the step that failed goes to the output; run-c-tests.sh shows
# the tail of it.
ok() { echo "ok - $1"; }
notok() {
    echo "not ok - $1"
    [ -f "$tmp/log" ] && tail -n 20 "$tmp/log"
    failed=1
}
step() {    # step NAME COMMAND...: one counted line for a command
    name=$1
    shift
    if "$@" > "$tmp/log" 2>&1; then ok "$name"; else notok "$name"; fi
}

header_part() {
    sed -n "s/^#define CG_VERSION_$1  *\([0-9][0-9]*\).*/\1/p" include/cgreenlet.h
}
version=$(header_part MAJOR).$(header_part MINOR).$(header_part PATCH)
soname=libcgreenlet.so.$(header_part MAJOR)

step "make install DESTDIR=... PREFIX=$prefix" \
    "$make" --no-print-directory install DESTDIR="$stage" PREFIX="$prefix" CC="$cc"

missing=
for f in include/cgreenlet.h lib/libcgreenlet.a "lib/$soname" lib/libcgreenlet.so \
         lib/pkgconfig/cgreenlet.pc; do
    [ -f "$stage$prefix/$f" ] || missing="$missing $f"
done
if [ -z "$missing" ] && [ "$(readlink "$stage$prefix/lib/libcgreenlet.so")" = "$soname" ]; then
    ok "installed the header, both libraries, the .so -> $soname link and the .pc"
else
    : > "$tmp/log"
    notok "installed files (missing:${missing:- none}; libcgreenlet.so -> $(readlink "$stage$prefix/lib/libcgreenlet.so"))"
fi

# The staged .pc still says prefix=/usr/local, as it will once installed;
# the sysroot makes pkg-config point -I/-L into the staging directory.
# PKG_CONFIG_LIBDIR replaces the default search path, so an installed
# cgreenlet.pc elsewhere on the machine cannot answer instead.
export PKG_CONFIG_SYSROOT_DIR="$stage"
export PKG_CONFIG_LIBDIR="$stage$prefix/lib/pkgconfig"
export PKG_CONFIG_PATH="$PKG_CONFIG_LIBDIR"

got=$(pkg-config --modversion cgreenlet 2>&1)
if [ "$got" = "$version" ]; then
    ok "pkg-config --modversion is the header's version ($version)"
else
    : > "$tmp/log"
    notok "pkg-config --modversion says '$got', the header $version"
fi

# The README's example, exactly as it is there.
sed -n '/^```c$/,/^```$/p' README.md | sed '1d;$d' > "$tmp/demo.c"
want=$(printf '1\n2\n3')

build_and_run() {   # build_and_run NAME [cc flags before the source...] -- pkg-config args
    name=$1
    shift
    flags=
    while [ "$1" != -- ]; do flags="$flags $1"; shift; done
    shift
    pc=$(pkg-config "$@" cgreenlet) || { : > "$tmp/log"; notok "$name: pkg-config $*"; return; }
    # $flags and $pc are word lists: split on purpose.
    # shellcheck disable=SC2086
    if ! $cc -std=c11 -Wall -Wextra -Werror $flags "$tmp/demo.c" -o "$tmp/$name" $pc \
            > "$tmp/log" 2>&1; then
        notok "$name: README example builds with $cc and pkg-config $*"
        return
    fi
    ok "$name: README example builds with $cc and pkg-config $*"
    out=$(LD_LIBRARY_PATH="$stage$prefix/lib" "$tmp/$name" 2>"$tmp/log")
    rc=$?
    if [ $rc -eq 0 ] && [ "$out" = "$want" ]; then
        ok "$name: README example prints 1 2 3 and exits 0"
    else
        echo "$out" >> "$tmp/log"
        notok "$name: README example (exit status $rc)"
    fi
}

build_and_run shared -- --cflags --libs
# It must really use the installed shared library (by its soname).
if readelf -d "$tmp/shared" 2>/dev/null | grep -q "NEEDED.*\[$soname\]"; then
    ok "shared: the program needs $soname"
else
    readelf -d "$tmp/shared" > "$tmp/log" 2>&1
    notok "shared: the program needs $soname"
fi
out=$(LD_LIBRARY_PATH="$stage$prefix/lib" ldd "$tmp/shared" 2>&1 | grep libcgreenlet)
case $out in
    *"$stage$prefix/lib/$soname"*) ok "shared: it runs with the staged library" ;;
    *) echo "$out" > "$tmp/log"; notok "shared: it runs with the staged library" ;;
esac

# A fully static program: only what the .pc says (Libs.private included)
# may be needed to link it.
build_and_run static -static -- --static --cflags --libs
if readelf -d "$tmp/static" 2>/dev/null | grep -q NEEDED; then
    readelf -d "$tmp/static" > "$tmp/log" 2>&1
    notok "static: the program needs no shared library"
else
    ok "static: the program needs no shared library"
fi

step "make uninstall DESTDIR=... PREFIX=$prefix" \
    "$make" --no-print-directory uninstall DESTDIR="$stage" PREFIX="$prefix" CC="$cc"
left=$(cd "$stage" && find . ! -type d)
if [ -z "$left" ]; then
    ok "make uninstall left only empty directories"
else
    echo "$left" > "$tmp/log"
    notok "make uninstall left files behind"
fi

exit $failed
