#!/bin/sh
# Installs the Debian packages a make target needs, when they are missing.
# usage: ensure-deps.sh CHECK:PACKAGE ...
#   CHECK is a command name, or a path (starting with /) that must exist.
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
    apt-get update -qq >/dev/null && apt-get install -y -qq $missing >/dev/null ||
        echo "warning: could not install:$missing"
else
    echo "missing Debian packages (install them as root):$missing"
fi
exit 0
