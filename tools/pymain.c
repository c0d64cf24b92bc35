/* The whole of an aarch64 `python3` for tests under qemu-user: Debian
   ships the arm64 libpython (multiarch, beside the amd64 one) but its arm64
   interpreter binary conflicts with the amd64 one, so this stands in for
   it.  tools/aarch64-python.sh builds it. */
#include <Python.h>

int
main(int argc, char **argv)
{
    return Py_BytesMain(argc, argv);
}
