#!/bin/sh
# Runs C test programs and counts their "ok"/"not ok"/"skip" lines.
# usage: run-c-tests.sh VARIANT "RUNNER PREFIX" test...
# A program that exits nonzero without reporting a failed case (a crash)
# counts as one more failure.  Counts go to build/results/VARIANT.
variant=$1
runner=$2
shift 2
mkdir -p build/results
pass=0 fail=0 skip=0
for t in "$@"; do
    name=$(basename "$t")
    out=$(timeout 900 $runner "$t" 2>&1)
    rc=$?
    p=$(printf '%s\n' "$out" | grep -c '^ok - ')
    f=$(printf '%s\n' "$out" | grep -c '^not ok - ')
    s=$(printf '%s\n' "$out" | grep -c '^skip - ')
    printf '%s\n' "$out" | grep -E '^(ok|not ok|skip) - ' | sed "s|^|[$variant] $name: |"
    if [ "$f" -gt 0 ] || [ "$rc" -ne 0 ]; then
        printf '%s\n' "$out" | grep -vE '^(ok|skip) - ' | tail -n 40 | sed "s|^|    |"
    fi
    if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then
        echo "[$variant] $name: not ok - exited with status $rc"
        f=1
    fi
    pass=$((pass + p)); fail=$((fail + f)); skip=$((skip + s))
done
echo "$pass $fail $skip" > "build/results/$variant"
echo "[$variant] $pass passed, $fail failed, $skip skipped"
