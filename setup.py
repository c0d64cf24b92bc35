"""Builds the greenlet extension with setuptools (pip install ., wheels).

The Makefile (make python) builds the same sources without setuptools;
tools/build-python.sh is the reference for the file list and flags.  The
version comes from the headers (include/cgreenlet.h: the library's;
python/greenlet/pyg.h: the greenlet API level implemented), so the
library, its .pc file and this distribution never disagree.
"""
import glob
import re

from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext


class BuildExt(build_ext):
    """Lets the C compiler take the assembly file too."""

    def build_extensions(self):
        self.compiler.src_extensions.append(".S")
        super().build_extensions()


# Every file of src/arch is compiled: src/arch/select.h, the one place that
# picks the switching backend, makes all but the chosen one empty.
sources = sorted(glob.glob("python/greenlet/*.c") + glob.glob("src/core/*.c") +
                 glob.glob("src/stack/*.c") + glob.glob("src/arch/*.c") +
                 glob.glob("src/arch/*.S"))
define_macros = [("_GNU_SOURCE", "1")]


def header_defines(path):
    """#define NAME value lines of a header, as a dict of strings."""
    with open(path) as f:
        return dict(re.findall(r"^#define\s+(\w+)\s+(.+?)\s*$", f.read(), re.M))


def version():
    """'<greenlet API level>+cgreenlet.<library version>': pip compares the
    public part with what gevent, eventlet and SQLAlchemy require."""
    core = header_defines("include/cgreenlet.h")
    api = header_defines("python/greenlet/pyg.h")["PYG_GREENLET_API_VERSION"]
    lib = ".".join(core["CG_VERSION_" + part] for part in ("MAJOR", "MINOR", "PATCH"))
    return "%s+cgreenlet.%s" % (api.strip('"'), lib)


setup(
    version=version(),
    cmdclass={"build_ext": BuildExt},
    ext_modules=[Extension(
        "greenlet._greenlet",
        sources=sources,
        include_dirs=["include", "python/greenlet"],
        define_macros=define_macros,
        extra_compile_args=["-std=c11", "-fvisibility=hidden", "-pthread",
                            "-fasynchronous-unwind-tables"],
        extra_link_args=["-pthread"],
    )],
    headers=["python/greenlet/greenlet.h"],
)
