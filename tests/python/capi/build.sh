#!/bin/sh
# Builds the C API test extension _capi_test<EXT_SUFFIX> (and _fault, the
# raw-allocator fault injector of test_fault_injection) for one
# interpreter, against our header, with only a C compiler and the
# interpreter's sysconfig paths (no setuptools):
#   tests/python/capi/build.sh PYTHON OUTDIR [extra cc flags...]
# OUTDIR is a directory laid out like an installation: it holds the
# greenlet package with greenlet/greenlet.h, and receives the extension
# next to it (so PYTHONPATH=OUTDIR finds both).  CC and OPT may be set;
# GREENLET_INC names another directory holding greenlet/greenlet.h (an
# installation's include/site/pythonX.Y, for the installed-package runs).
set -e
py=${1:?usage: build.sh PYTHON OUTDIR [cc flags...]}
out=${2:?usage: build.sh PYTHON OUTDIR [cc flags...]}
shift 2
here=$(dirname "$0")
ginc=${GREENLET_INC:-$out}
if [ ! -f "$ginc/greenlet/greenlet.h" ]; then
    echo "build.sh: $ginc/greenlet/greenlet.h is missing (copy python/greenlet/greenlet.h there)" >&2
    exit 1
fi
inc=$("$py" -c 'import sysconfig; print(sysconfig.get_paths()["include"])')
suffix=$("$py" -c 'import sysconfig; print(sysconfig.get_config_var("EXT_SUFFIX"))')
# Ours first: another greenlet.h may be installed under the Python
# include directory, and the test must use ours.
${CC:-cc} -shared -fPIC ${OPT:--O2} -g -std=c11 -Wall -Wextra -Werror -pthread \
    -I"$ginc" -I"$inc" "$@" "$here/_capi_test.c" -o "$out/_capi_test$suffix"
${CC:-cc} -shared -fPIC ${OPT:--O2} -g -std=c11 -Wall -Wextra -Werror -pthread \
    -I"$inc" "$@" "$here/_fault.c" -o "$out/_fault$suffix"
echo "built $out/_capi_test$suffix $out/_fault$suffix"
