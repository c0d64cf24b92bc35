#!/bin/sh
# Makes a virtualenv with the newest gevent, eventlet, gunicorn[gevent],
# sqlalchemy[asyncio] and aiosqlite from PyPI, for the integration tests:
#   sh tests/integration/pypi-venv.sh PYTHON VENV_DIR
# PYTHON creates VENV_DIR (an existing venv there is reused). Each package
# that is not installed yet is installed on its own, from wheels only
# (--only-binary :all:, nothing is compiled), in the newest version that
# has a wheel for PYTHON; a package with none is left out and said so, not
# a failure. Then the stock greenlet that pip pulled in is uninstalled
# (never a cgreenlet one, whose version ends in +cgreenlet.N), after a copy
# of that same stock version is put in VENV_DIR/stock-greenlet (not on
# sys.path; test_scale.py compares ours with it). Install our wheel into
# the venv afterwards, then run
#   PYTHON=VENV_DIR/bin/python sh tests/integration/run.sh SITE_PACKAGES
# Ends by printing the versions found in the venv. Running it again with
# everything in place touches nothing (no pip install, no download).
set -e
if [ $# -ne 2 ]; then
    echo "usage: sh $0 PYTHON VENV_DIR" >&2
    exit 2
fi
py=$1
venv=$2
packages="gevent eventlet gunicorn sqlalchemy aiosqlite"

if [ ! -x "$venv/bin/python" ]; then
    "$py" -m venv "$venv"
    echo "pypi-venv: created $venv with $py"
else
    echo "pypi-venv: reusing $venv"
fi
vpy=$venv/bin/python

# The installed version of distribution $1 in the venv, or nothing.
installed() {
    "$vpy" - "$1" <<'EOF'
import sys
from importlib import metadata
try:
    print(metadata.version(sys.argv[1]))
except metadata.PackageNotFoundError:
    pass
EOF
}

left_out=
for pkg in $packages; do
    # What to install, and what must be there for it to count as installed
    # (gunicorn 27's gevent worker imports packaging, declared only by the
    # gevent extra; the asyncio extra's greenlet is not checked, it is the
    # one removed below).
    spec=$pkg
    need=$pkg
    case "$pkg" in
        gunicorn) spec="gunicorn[gevent]"; need="gunicorn packaging" ;;
        sqlalchemy) spec="sqlalchemy[asyncio]" ;;
    esac
    missing=
    for dist in $need; do
        [ -n "$(installed "$dist")" ] || missing=yes
    done
    [ -n "$missing" ] || continue
    if "$vpy" -m pip install --disable-pip-version-check --quiet --only-binary :all: "$spec"; then
        echo "pypi-venv: installed $pkg $(installed "$pkg")"
    else
        echo "pypi-venv: no wheel of $pkg for $("$vpy" -V 2>&1): left out"
        left_out="$left_out $pkg"
    fi
done
gv=$(installed greenlet)
case "$gv" in
    "") ;;
    *+cgreenlet*)
        echo "pypi-venv: greenlet $gv is cgreenlet's: kept" ;;
    *)
        if [ ! -f "$venv/stock-greenlet/greenlet/__init__.py" ]; then
            "$vpy" -m pip install --disable-pip-version-check --quiet --only-binary :all: \
                --no-deps --target "$venv/stock-greenlet" "greenlet==$gv" ||
                echo "pypi-venv: could not keep a copy of the stock greenlet $gv"
        fi
        "$vpy" -m pip uninstall --disable-pip-version-check --quiet -y greenlet
        echo "pypi-venv: uninstalled the stock greenlet $gv (a copy is in $venv/stock-greenlet)" ;;
esac

echo "pypi-venv: $venv ($("$vpy" -V 2>&1)):"
for pkg in $packages greenlet; do
    v=$(installed "$pkg")
    echo "  $pkg ${v:-(not installed)}"
done
[ -z "$left_out" ] || echo "pypi-venv: left out (no wheel for this interpreter):$left_out"
echo "pypi-venv: site-packages: $("$vpy" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')"
