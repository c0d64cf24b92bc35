#!/bin/sh
# The demo (`make demo`), in three parts:
#   1. gevent's HTTP server under load on cgreenlet, then on the stock
#      greenlet, side by side (examples/gevent_demo/run.sh);
#   2. every example program in DIR (as built by `make examples`), each
#      under a header line;
#   3. a one-line verdict: which greenlet served gevent faster, by how much.
#
#   sh examples/run-demo.sh DIR [PYDIR]
#
# PYDIR is a directory on which `import greenlet` finds cgreenlet's module
# for /usr/bin/python3 (or $DEMO_PYTHON).  Without PYDIR, or when python3
# or gevent is missing, part 1 says so and is skipped; the C examples run
# regardless.  Exits nonzero if part 1 fails, if any example fails, or if
# none is found.

dir=${1:?usage: run-demo.sh DIR [PYDIR]}
pydir=$2
here=$(dirname "$0")
status=0

verdict_file=$(mktemp) || exit 1
trap 'rm -f "$verdict_file"' EXIT
trap 'exit 130' INT TERM

echo "=== 1. gevent on cgreenlet and on the stock greenlet ==="
if [ -z "$pydir" ]; then
    echo "gevent demo skipped: no module directory given (run-demo.sh DIR PYDIR)"
    echo "verdict: none -- the gevent part was skipped" >"$verdict_file"
else
    sh "$here/gevent_demo/run.sh" "$pydir" --verdict-file "$verdict_file"
    rc=$?
    case $rc in
        0) ;;
        77) echo "verdict: none -- the gevent part was skipped (see above)" >"$verdict_file" ;;
        *)
            echo "verdict: none -- the gevent part FAILED (exit status $rc)" >"$verdict_file"
            status=1
            ;;
    esac
fi
echo

echo "=== 2. the C examples of libcgreenlet ==="
count=0
failed=0
for prog in "$dir"/*; do
    # Skip anything that is not a runnable program (directories, objects).
    if [ ! -f "$prog" ] || [ ! -x "$prog" ]; then
        continue
    fi
    count=$((count + 1))
    echo "--- $(basename "$prog") ---"
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
    status=1
elif [ "$failed" -ne 0 ]; then
    echo "run-demo: $failed of $count examples failed" >&2
    status=1
else
    echo "run-demo: all $count examples ran"
fi
echo

echo "=== 3. verdict ==="
cat "$verdict_file"
exit $status
