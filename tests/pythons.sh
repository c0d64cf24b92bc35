#!/bin/sh
# Lists the interpreters to test, one "LABEL PATH" per line: the newest
# pyenv CPython of each of 3.9-3.13 that is present, and Debian's
# /usr/bin/python3.  Absent ones are named on stderr as "absent LABEL".
root=$(pyenv root 2>/dev/null || echo "${PYENV_ROOT:-$HOME/.pyenv}")
for minor in 3.9 3.10 3.11 3.12 3.13; do
    best=
    for d in $(ls -d "$root"/versions/$minor.* 2>/dev/null | sort -V); do
        case $(basename "$d") in *[!0-9.]*) continue ;; esac  # no dev/t builds
        [ -x "$d/bin/python$minor" ] && [ -f "$d/include/python$minor/Python.h" ] && best=$d
    done
    if [ -n "$best" ]; then
        echo "$(basename "$best") $best/bin/python$minor"
    else
        echo "absent pyenv-$minor" >&2
    fi
done
if [ -x /usr/bin/python3 ] && /usr/bin/python3 -c 'import sysconfig, os, sys; sys.exit(not os.path.exists(os.path.join(sysconfig.get_paths()["include"], "Python.h")))' 2>/dev/null; then
    echo "debian-$(/usr/bin/python3 -c 'import sys; print("%d.%d" % sys.version_info[:2])') /usr/bin/python3"
else
    echo "absent debian-python3 (needs python3-dev)" >&2
fi
