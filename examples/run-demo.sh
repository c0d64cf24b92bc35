#!/bin/sh
# Runs every example program in DIR (as built by `make examples`), each
# under a header line; exits nonzero if any example fails or none is found.
#
#   sh examples/run-demo.sh build/<variant>/examples

dir=${1:?usage: run-demo.sh DIR}
count=0
failed=0

for prog in "$dir"/*; do
    # Skip anything that is not a runnable program (directories, objects).
    if [ ! -f "$prog" ] || [ ! -x "$prog" ]; then
        continue
    fi
    count=$((count + 1))
    echo "=== $(basename "$prog") ==="
    "$prog"
    rc=$?
    if [ "$rc" -ne 0 ]; then
        echo "*** $(basename "$prog") FAILED (exit status $rc)"
        failed=$((failed + 1))
    fi
    echo
done

if [ "$count" -eq 0 ]; then
    echo "run-demo: no example programs in $dir" >&2
    exit 1
fi
if [ "$failed" -ne 0 ]; then
    echo "run-demo: $failed of $count examples failed" >&2
    exit 1
fi
echo "run-demo: all $count examples ran"
