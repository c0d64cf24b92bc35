#!/bin/sh
# Builds the module for one interpreter into build/fuzz-LABEL and runs the
# fuzzer (run_fuzz.py) on it; output goes to build/fuzz-LABEL/fuzz.log.
# usage: tests/fuzz/run.sh LABEL PYTHON [SECONDS] [run_fuzz.py options...]
# SECONDS empty or 0: until interrupted.  Environment: PYG_CFLAGS (extra
# compiler flags, e.g. sanitizers), PYG_ENV (extra VAR=value settings for
# the fuzzer), FUZZ_EXCLUDE (see machine.py).
# hypothesis comes from the interpreter itself when it has it (Debian's
# python3-hypothesis), else from a venv build/venv-fuzz-LABEL made with
# PYTHON and filled by pip; an interpreter without it is skipped.
# Counts go to build/results/fuzz-LABEL (1 0 0, 0 1 0 or 0 0 1).
label=$1
py=$2
seconds=${3:-0}
shift 3 2>/dev/null || shift $#
out=build/fuzz-$label
res=build/results/fuzz-$label
sh tests/build-package.sh "fuzz-$label" "$out" "$py" || exit 0
runner=$py
if ! "$py" -c 'import hypothesis' 2>/dev/null; then
    venv=build/venv-fuzz-$label
    if ! "$venv/bin/python" -c 'import hypothesis' 2>/dev/null; then
        rm -rf "$venv"
        if ! { "$py" -m venv "$venv" && "$venv/bin/python" -m pip install -q hypothesis; } \
                >"$out/venv.log" 2>&1; then
            tail -5 "$out/venv.log"
            echo "SKIPPED: fuzz-$label (no hypothesis for $py)"
            echo "0 0 1" > "$res"
            exit 0
        fi
    fi
    runner=$venv/bin/python
fi
log=$out/fuzz.log
env PYTHONPATH="$PWD/$out" $PYG_ENV "$runner" tests/fuzz/run_fuzz.py --label "$label" \
    --seconds "$seconds" --result "$res" "$@" >"$log" 2>&1
rc=$?
[ -f "$res" ] || echo "0 1 0" > "$res"
if [ "$rc" -ne 0 ]; then
    # The failures and their reproducers (the full output is in $log).
    awk '/^fuzz\[/ || /^---- reproducer/ {p = /^----/} p || /^fuzz\[/ {print} /^----$/ {p = 0}' "$log" |
        grep -v '^state.states_match()$' | sed 's|^|    |'
fi
echo "[fuzz-$label] $(tail -n 1 "$log")"
