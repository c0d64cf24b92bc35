#!/bin/sh
# Builds the module for one interpreter into build/py-LABEL and runs the
# unittest suite of tests/python on it.
# usage: run-python-tests.sh LABEL PYTHON
# Environment: PYG_CFLAGS (extra compiler flags, e.g. sanitizers),
# PYG_RUN (a prefix command, e.g. valgrind), PYG_ENV (extra VAR=value
# settings for the test process), PYG_PATTERN (test file pattern) or
# PYG_TESTS (test module names).
# Counts go to build/results/python-LABEL; a crash of the runner counts
# as one more failure.
# PYG_VENV=DIR: test the package installed in that virtual environment
# instead (tests/install-wheel.sh made it); only the test extensions are
# built, into build/py-LABEL, against the header the installation put in
# DIR/include/site/pythonX.Y, where compiled users find it.
label=$1
py=$2
out=build/py-$label
if [ -n "$PYG_VENV" ]; then
    py=$PYG_VENV/bin/python
    rm -rf "$out" && mkdir -p "$out"
    export GREENLET_INC
    GREENLET_INC=$(echo "$PYG_VENV"/include/site/python*)
else
    sh tests/build-package.sh "python-$label" "$out" "$py" || exit 0
fi
# The C API test extension of test_capi, next to the package it uses.
sh tests/python/capi/build.sh "$py" "$out" $PYG_CFLAGS >>"$out/build.log" 2>&1 || cat "$out/build.log"
log=$out/test.log
if [ -n "$PYG_TESTS" ]; then
    set -- -m unittest -v $PYG_TESTS
else
    set -- -m unittest discover -s tests/python -p "${PYG_PATTERN:-test_*.py}" -v
fi
env PYTHONPATH="$PWD/$out:$PWD/tests/python" $PYG_ENV timeout 1800 $PYG_RUN "$py" "$@" >"$log" 2>&1
rc=$?
# unittest -v: one "... ok|FAIL|ERROR|skipped|expected failure" per test.
pass=$(grep -cE '\.\.\. (ok|expected failure)$' "$log")
fail=$(grep -cE '\.\.\. (FAIL|ERROR|unexpected success)$' "$log")
skip=$(grep -cE '\.\.\. skipped' "$log")
grep -E '\.\.\. (FAIL|ERROR|unexpected success)$' "$log" | sed "s|^|[python-$label] not ok - |"
if [ "$fail" -gt 0 ] || [ "$rc" -ne 0 ]; then
    grep -vE '\.\.\. (ok|skipped.*|expected failure)$' "$log" | tail -n 60 | sed 's|^|    |'
fi
if [ "$rc" -ne 0 ] && [ "$fail" -eq 0 ]; then
    echo "[python-$label] not ok - test run exited with status $rc"
    fail=1
fi
echo "$pass $fail $skip" > "build/results/python-$label"
echo "[python-$label] $pass passed, $fail failed, $skip skipped"
