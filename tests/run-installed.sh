#!/bin/sh
# Installs our greenlet distribution into a fresh virtual environment the
# way a user would and runs the tests/python suite against that
# installation (not the build tree):
#   tests/run-installed.sh ROUTE LABEL PYTHON DIST
# ROUTE  wheel:   pip picks this interpreter's wheel from DIST (make wheels)
#        sdist:   pip builds DIST/greenlet-*.tar.gz, build requirements
#                 from PyPI in an isolated environment
#        offline: the same without index or isolation: the venv sees the
#                 interpreter's own setuptools (Debian: python3-setuptools,
#                 python3-wheel), the route for machines without PyPI
# Counts go to build/results/python-ROUTE-LABEL.
route=$1
label=$2
py=$3
dist=$4
name=$route-$label
venv=build/venv-$name
log=build/venv-$name.log
mkdir -p build/results
fail() {
    tail -30 "$log" | sed 's|^|    |'
    echo "[python-$name] not ok - $1"
    echo "0 1 0" > "build/results/python-$name"
    exit 0
}
rm -rf "$venv"
case $route in
    offline) "$py" -m venv --system-site-packages "$venv" >"$log" 2>&1 ;;
    *) "$py" -m venv "$venv" >"$log" 2>&1 ;;
esac || fail "venv failed"
pip="$venv/bin/python -m pip install --no-cache-dir"
case $route in
    wheel) $pip --no-index --find-links "$dist" --only-binary :all: greenlet ;;
    sdist) $pip "$dist"/greenlet-*.tar.gz ;;
    offline) $pip --no-index --no-build-isolation "$dist"/greenlet-*.tar.gz ;;
    *) echo "usage: $0 wheel|sdist|offline LABEL PYTHON DIST" >&2; exit 2 ;;
esac >>"$log" 2>&1 || fail "pip install failed"
# Ours, from the venv, with its header where compiled users look for it.
"$venv/bin/python" tests/installed_is_ours.py "$route install" >>"$log" 2>&1 || fail "the installation is not ours or is incomplete"
PYG_VENV=$venv sh tests/run-python-tests.sh "$name" "$py"
