#!/bin/sh
# The integration tests on today's PyPI ecosystem, installed as a user
# would: a fresh venv, our wheel first, then the newest gevent, eventlet,
# gunicorn, SQLAlchemy and aiosqlite (pypi-venv.sh), which must keep our
# greenlet (their greenlet>=... requirements see our version), then
# tests/integration/run.sh on the venv's site-packages.
#   sh tests/integration/pypi-check.sh ROUTE LABEL PYTHON DIST
# ROUTE  wheels:       every package from PyPI's wheels
#        gevent-sdist: gevent compiled from its sdist against our installed
#                      greenlet.h (venv/include/site/pythonX.Y, where pip
#                      put it): gevent's build looks only in Python's own
#                      include directories and its bundled copy of the
#                      stock header, so ours is put first with CFLAGS; the
#                      compiler's include trace (-H) proves ours was used.
# Counts go to build/results/pypi-ROUTE-LABEL.
route=$1
label=$2
py=$3
dist=$4
name=pypi-$route-$label
venv=build/venv-$name
log=build/venv-$name.log
res=build/results/$name
mkdir -p build/results
fail() {
    tail -30 "$log" | sed 's|^|    |'
    echo "[$name] not ok - $1"
    echo "0 1 0" > "$res"
    exit 0
}
vpy=$venv/bin/python
pip="$vpy -m pip install --disable-pip-version-check"
ours() {
    "$vpy" tests/installed_is_ours.py "$1"
}
rm -rf "$venv"
{ "$py" -m venv "$venv" &&
  $pip --no-index --find-links "$dist" --only-binary :all: greenlet &&
  ours "our wheel installed"; } >"$log" 2>&1 || fail "venv with our wheel failed"
if [ "$route" = gevent-sdist ]; then
    inc=$(echo "$venv"/include/site/python*)
    $pip -q setuptools wheel 'cython>=3.2.4' 'cffi>=2.1.1' >>"$log" 2>&1 || fail "gevent's build requirements"
    # --no-build-isolation: an isolated build would fetch the stock greenlet
    # (gevent's build requirement); --no-cache-dir: a cached wheel would
    # skip the compilation this run is about.
    CFLAGS="-I$PWD/$inc -H" $pip -v --no-cache-dir --no-build-isolation --no-binary gevent gevent \
        >"$venv/gevent-build.log" 2>&1 || { tail -30 "$venv/gevent-build.log" >>"$log"; fail "gevent did not build"; }
    used=$(grep -E '^ *\.+ .*greenlet/greenlet\.h$' "$venv/gevent-build.log" | awk '{print $2}' | sort | uniq -c)
    echo "gevent built from its sdist; greenlet.h included: $used" >>"$log"
    if [ -z "$used" ] || echo "$used" | grep -qv "$PWD/$inc/greenlet/greenlet.h"; then
        fail "gevent was not compiled against our greenlet.h: $used"
    fi
    echo "[$name] gevent $("$vpy" -c 'import gevent; print(gevent.__version__)') compiled against $inc/greenlet/greenlet.h ($(echo "$used" | awk '{print $1}') units)"
fi
sh tests/integration/pypi-venv.sh "$vpy" "$venv" >>"$log" 2>&1 || fail "pypi-venv.sh failed"
{ ours "after pip installed gevent, eventlet, gunicorn, sqlalchemy" &&
  "$vpy" -m pip check --disable-pip-version-check; } >>"$log" 2>&1 ||
    fail "pip replaced our greenlet or left unmet requirements"
# The stock greenlet this interpreter would get, for test_scale's
# comparison (not on sys.path).
$pip -q --only-binary :all: --no-deps --target "$venv/stock-greenlet" greenlet >>"$log" 2>&1 || true
site=$("$vpy" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')
PYTHON=$vpy sh tests/integration/run.sh "$site" > "$venv/test.log" 2>&1
rc=$?
grep -E '^integration: (gevent|eventlet|gunicorn|sqlalchemy|aiosqlite) ' "$venv/test.log" |
    awk -v n="$name" '{v = v sep $2 " " $3; sep = ", "} END {print "[" n "] tested: " v}'
grep -E '^(FAIL|ERROR):' "$venv/test.log" | sed "s|^|[$name] not ok - |"
line=$(grep -E '^integration: [0-9]+ passed' "$venv/test.log" | tail -n 1)
if [ -z "$line" ] || [ $rc -ne 0 ]; then
    tail -40 "$venv/test.log" | sed 's|^|    |'
    [ -n "$line" ] || line="integration: 0 passed, 1 failed, 0 skipped"
    [ $rc -eq 0 ] || echo "[$name] not ok - the runner exited with status $rc"
fi
echo "$line" | sed -E 's/integration: ([0-9]+) passed, ([0-9]+) failed, ([0-9]+) skipped.*/\1 \2 \3/' > "$res"
[ $rc -eq 0 ] || [ "$(cut -d' ' -f2 "$res")" != 0 ] || echo "0 1 0" > "$res"
echo "[$name] ${line#integration: }"
