#!/bin/sh
# The gevent part of the demo: a gevent HTTP server under load, on
# cgreenlet and on the stock greenlet, in interleaved rounds; prints a
# side-by-side table and a verdict line (see demo.py for what is measured).
#
#   sh examples/gevent_demo/run.sh PYDIR [demo.py options]
#
# PYDIR: the directory on which `import greenlet` finds cgreenlet's module
# built for the interpreter below.  Options go to demo.py, e.g.
# --rounds 4 --duration 3 --conns 200 --verdict-file FILE.
# DEMO_PYTHON picks the interpreter (default /usr/bin/python3, where
# Debian's python3-gevent lives).
#
# Exit status: 0 done, 77 skipped (no python3 or no gevent), 1 failed.

pydir=${1:?usage: run.sh PYDIR [demo.py options]}
shift
py=${DEMO_PYTHON:-/usr/bin/python3}
here=$(dirname "$0")

if [ ! -x "$py" ]; then
    echo "gevent demo skipped: no $py (on Debian: apt-get install python3 python3-gevent)"
    exit 77
fi
if ! env -u PYTHONPATH "$py" -c 'import gevent' 2>/dev/null; then
    echo "gevent demo skipped: $py cannot import gevent (on Debian: apt-get install python3-gevent)"
    exit 77
fi
if [ ! -d "$pydir" ]; then
    echo "gevent demo: no directory $pydir (cgreenlet's module for $py)" >&2
    exit 1
fi
# Our module must be the one found first on PYDIR, and must load.
where=$(PYTHONPATH=$pydir "$py" -c 'import os, greenlet; print(os.path.realpath(greenlet.__file__))') || {
    echo "gevent demo: $py cannot import greenlet with PYTHONPATH=$pydir" >&2
    exit 1
}
case "$where" in
    "$(cd "$pydir" && pwd -P)"/*) ;;
    *)
        echo "gevent demo: with PYTHONPATH=$pydir, $py imports greenlet from $where, not from $pydir" >&2
        exit 1
        ;;
esac

exec "$py" "$here/demo.py" --ours "$pydir" "$@"
