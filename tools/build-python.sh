#!/bin/sh
# Builds greenlet/_greenlet<EXT_SUFFIX> in python/ for one interpreter:
#   tools/build-python.sh PYTHON [extra cc flags...]
# Needs only a C compiler and the interpreter's headers (no setuptools).
# CC, OPT and PYG_OUT (output directory, default python/greenlet) may be set.
# Every file of src/arch is compiled: src/arch/select.h picks the backend.
set -e
py=$1
shift
inc=$("$py" -c 'import sysconfig; print(sysconfig.get_paths()["include"])')
suffix=$("$py" -c 'import sysconfig; print(sysconfig.get_config_var("EXT_SUFFIX"))')
out=${PYG_OUT:-python/greenlet}
mkdir -p "$out"
${CC:-cc} -shared -fPIC ${OPT:--O2} -g -std=c11 -Wall -Wextra -Werror -Wno-missing-field-initializers \
    -fvisibility=hidden -fasynchronous-unwind-tables -pthread -D_GNU_SOURCE \
    -I"$inc" -Iinclude -Ipython/greenlet "$@" \
    python/greenlet/*.c src/core/*.c src/stack/*.c src/arch/*.c src/arch/*.S \
    -o "$out/_greenlet$suffix"
echo "built $out/_greenlet$suffix"
