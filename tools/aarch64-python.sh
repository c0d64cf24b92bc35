#!/bin/sh
# Makes DIR/python3: Debian's python3, as an aarch64 interpreter run by
# qemu-user, for the Python tests on aarch64 (make check-python-aarch64).
#   tools/aarch64-python.sh DIR
# Needs aarch64-linux-gnu-gcc, qemu-aarch64 and the arm64 libpython of the
# same version as /usr/bin/python3 (libpython3-dev:arm64, multiarch): the
# stdlib's .py files are shared with the amd64 interpreter, the arm64
# lib-dynload modules sit beside the amd64 ones.  Exit status 2: one of
# these is missing; 1: the build failed.
set -e
dir=${1:?usage: aarch64-python.sh DIR}
for tool in aarch64-linux-gnu-gcc qemu-aarch64 /usr/bin/python3; do
    command -v "$tool" >/dev/null || { echo "aarch64-python.sh: no $tool" >&2; exit 2; }
done
ver=$(/usr/bin/python3 -c 'import sys; print("%d.%d" % sys.version_info[:2])')
if [ ! -f "/usr/include/aarch64-linux-gnu/python$ver/pyconfig.h" ]; then
    echo "aarch64-python.sh: no arm64 libpython$ver (libpython3-dev:arm64)" >&2
    exit 2
fi
mkdir -p "$dir"
dir=$(cd "$dir" && pwd)
# Debian's cross gcc searches /usr/include after its own sysroot, where
# Python.h's pyconfig.h finds the arm64 one, and links the multiarch
# libpython of /usr/lib/aarch64-linux-gnu.
aarch64-linux-gnu-gcc -std=c11 -O2 -Wall -Wextra -Werror -I"/usr/include/python$ver" \
    tools/pymain.c -o "$dir/python$ver-aarch64" -lpython"$ver"
# qemu's -0 makes this script the interpreter's argv[0], so sys.executable
# names it and the tests' subprocesses run under qemu too.  -L /: the
# arm64 loader and libraries are the multiarch ones of the host's /lib,
# never the cross libc of /usr/aarch64-linux-gnu that a default prefix
# (/etc/qemu-binfmt/aarch64) may name: one ld.so and libc, not a mix.
cat > "$dir/python3" <<EOT
#!/bin/sh
exec qemu-aarch64 -L / -0 "\$0" "$dir/python$ver-aarch64" "\$@"
EOT
chmod +x "$dir/python3"
"$dir/python3" -c 'import platform, sys; assert platform.machine() == "aarch64", platform.machine(); print("built %s: Python %s on %s" % (sys.executable, sys.version.split()[0], platform.machine()))'
