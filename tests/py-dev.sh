#!/bin/sh
# For developers: builds the module for every interpreter into DIR/LABEL
# (so several people can rebuild without touching each other's copies)
# and prints "LABEL PYTHON PYTHONPATH" for each.
# usage: tests/py-dev.sh DIR
dir=${1:?usage: tests/py-dev.sh DIR}
sh tests/pythons.sh 2>/dev/null | while read -r label py; do
    mkdir -p "$dir/$label/greenlet"
    PYG_OUT=$dir/$label/greenlet sh tools/build-python.sh "$py" >/dev/null || exit 1
    cp python/greenlet/__init__.py python/greenlet/greenlet.h "$dir/$label/greenlet/"
    sh tests/python/capi/build.sh "$py" "$dir/$label" >/dev/null || exit 1
    echo "$label $py $PWD/$dir/$label:$PWD/tests/python"
done
