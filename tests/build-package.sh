#!/bin/sh
# Builds the greenlet package (module, __init__.py, greenlet.h) for one
# interpreter into OUT/greenlet, for a test run named NAME.
# usage: build-package.sh NAME OUT PYTHON   (PYG_CFLAGS: extra cc flags)
# On failure it shows the build log, counts one failure in
# build/results/NAME and exits 1.
name=$1
out=$2
py=$3
mkdir -p build/results "$out/greenlet"
if ! PYG_OUT=$out/greenlet sh tools/build-python.sh "$py" $PYG_CFLAGS >"$out/build.log" 2>&1; then
    cat "$out/build.log"
    echo "[$name] not ok - build failed"
    echo "0 1 0" > "build/results/$name"
    exit 1
fi
cp python/greenlet/__init__.py python/greenlet/greenlet.h "$out/greenlet/"
