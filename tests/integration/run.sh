#!/bin/sh
# Integration tests: gevent, eventlet, gunicorn and SQLAlchemy (Debian's
# packages, or PyPI's in a venv made by pypi-venv.sh) on cgreenlet's
# greenlet module.
#   sh tests/integration/run.sh BUILD_DIR
# BUILD_DIR holds our greenlet package (BUILD_DIR/greenlet/__init__.py and
# _greenlet*.so): a build directory, or a venv's site-packages with our
# wheel installed. It goes first on PYTHONPATH of /usr/bin/python3 (or
# $PYTHON, e.g. VENV/bin/python) and every test checks that greenlet is
# imported from it and has cgreenlet's version.
# CG_TEST_LIGHT=1 runs the lighter variant (fewer clients and greenlets).
set -e
if [ $# -ne 1 ]; then
    echo "usage: sh $0 BUILD_DIR" >&2
    exit 2
fi
here=$(cd "$(dirname "$0")" && pwd)
build=$(cd "$1" 2>/dev/null && pwd) || { echo "run.sh: no directory $1" >&2; exit 2; }
if [ ! -f "$build/greenlet/__init__.py" ] || ! ls "$build"/greenlet/_greenlet*.so >/dev/null 2>&1; then
    echo "run.sh: $build has no greenlet package (greenlet/__init__.py and _greenlet*.so)" >&2
    exit 2
fi
py=${PYTHON:-/usr/bin/python3}
if [ ! -x "$py" ]; then
    echo "run.sh: $py not found" >&2
    exit 2
fi
echo "integration: $py, greenlet from $build"
PYTHONPATH="$build:$here" CG_INTEG_BUILD="$build" PYTHONDONTWRITEBYTECODE=1 \
    exec "$py" "$here/run_all.py"
