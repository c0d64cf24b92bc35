#!/bin/sh
# Runs the Python suite as two shards side by side (LABEL-1, LABEL-2:
# alternate test modules), for the slow runs (valgrind, qemu) on a
# machine with two cores; each shard is one run-python-tests.sh, with
# its own counts in build/results.
# usage: run-python-shards.sh LABEL PYTHON [MODULE...]   (default: all)
# The PYG_* variables of run-python-tests.sh apply to both shards.
label=$1
py=$2
shift 2
[ $# -gt 0 ] || set -- $(ls tests/python/test_*.py | sed 's|.*/||; s|\.py$||' | sort)
a= b= i=0
for t in "$@"; do
    if [ $((i % 2)) = 0 ]; then a="$a $t"; else b="$b $t"; fi
    i=$((i + 1))
done
PYG_TESTS="$a" sh tests/run-python-tests.sh "$label-1" "$py" > "build/$label-1.out" 2>&1 &
PYG_TESTS="$b" sh tests/run-python-tests.sh "$label-2" "$py" > "build/$label-2.out" 2>&1
wait
cat "build/$label-1.out" "build/$label-2.out"
