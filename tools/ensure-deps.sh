#!/bin/sh
# Installs the Debian packages a make target needs, when they are missing.
# usage: ensure-deps.sh CHECK:PACKAGE ...
#   CHECK is a command name, or a path (starting with /) that must exist.
#   PACKAGE may name another architecture (libpython3-dev:arm64): dpkg gets
#   that architecture (multiarch), and such packages are installed apart,
#   as multiarch can refuse them (both architectures need one version).
# Says what it installs; does nothing when all are present.  Without root
# (or apt-get) it names the missing packages and carries on: the targets
# that need them skip and say so.
missing=""
for pair in "$@"; do
    check=${pair%%:*}
    pkg=${pair#*:}
    case $check in
        /*) [ -e "$check" ] && continue ;;
        *) command -v "$check" >/dev/null 2>&1 && continue ;;
    esac
    case " $missing " in *" $pkg "*) ;; *) missing="$missing $pkg" ;; esac
done
[ -z "$missing" ] && exit 0
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "installing Debian packages:$missing"
    export DEBIAN_FRONTEND=noninteractive
    native="" foreign=""
    for pkg in $missing; do
        case $pkg in
            *:*) foreign="$foreign $pkg"
                 dpkg --print-foreign-architectures | grep -qx "${pkg##*:}" ||
                     dpkg --add-architecture "${pkg##*:}" ;;
            *) native="$native $pkg" ;;
        esac
    done
    apt-get update -qq >/dev/null || echo "warning: apt-get update failed"
    for set in "$native" "$foreign"; do
        [ -z "$set" ] || apt-get install -y -qq $set >/dev/null ||
            echo "warning: could not install:$set"
    done
else
    echo "missing Debian packages (install them as root):$missing"
fi
exit 0
