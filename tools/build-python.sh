#!/bin/sh
# Builds greenlet/_greenlet<EXT_SUFFIX> in python/ for one interpreter:
#   tools/build-python.sh PYTHON [extra cc flags...]
# Needs only a C compiler and the interpreter's headers (no setuptools).
# CC, OPT and PYG_OUT (output directory, default python/greenlet) may be set;
# PYG_LTO (default: link-time optimisation, as setup.py does when the
# compiler can) gives the LTO flags, empty for none.
# Every file of src/arch is compiled: src/arch/select.h picks the backend.
set -e
py=$1
shift
if [ -z "${PYG_LTO+set}" ]; then
    # Switching and creating cross files (the core's switch, the module's
    # switch and state code): inlining across them saves ~5 % of both.
    if ${CC:-cc} --version 2>/dev/null | grep -qi clang; then PYG_LTO=-flto; else PYG_LTO=-flto=auto; fi
fi
inc=$("$py" -c 'import sysconfig; print(sysconfig.get_paths()["include"])')
suffix=$("$py" -c 'import sysconfig; print(sysconfig.get_config_var("EXT_SUFFIX"))')
out=${PYG_OUT:-python/greenlet}
mkdir -p "$out"
${CC:-cc} -shared -fPIC ${OPT:--O2} $PYG_LTO -g -std=c11 -Wall -Wextra -Werror -Wno-missing-field-initializers \
    -fvisibility=hidden -fasynchronous-unwind-tables -pthread -D_GNU_SOURCE -DCG_EMBEDDED \
    -I"$inc" -Iinclude -Ipython/greenlet "$@" \
    python/greenlet/*.c src/core/*.c src/stack/*.c src/arch/*.c src/arch/*.S \
    -o "$out/_greenlet$suffix"
echo "built $out/_greenlet$suffix"
