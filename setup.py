"""Builds the greenlet extension with setuptools (pip install ., wheels).

The Makefile (make python) builds the same sources without setuptools;
tools/build-python.sh is the reference for the file list and flags.  The
version comes from the headers (include/cgreenlet.h: the library's;
python/greenlet/pyg.h: the greenlet API level implemented), so the
library, its .pc file and this distribution never disagree.
"""
import glob
import os
import re
import tempfile

from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext


def lto_flags(compiler):
    """The link-time optimisation flag the compiler and its linker take, as
    a list ([] if none: then the module is built without).  Switching and
    creating cross files -- the core's switch, the module's switch and
    state code -- and inlining across them saves about 5 % of both.
    CGREENLET_NO_LTO=1 in the environment turns it off."""
    if os.environ.get("CGREENLET_NO_LTO", "") not in ("", "0"):
        return []
    with tempfile.TemporaryDirectory() as tmp:
        src = os.path.join(tmp, "probe.c")
        with open(src, "w") as f:
            f.write("int cgreenlet_lto_probe(int x) { return x + 1; }\n")
        for flag in ("-flto=auto", "-flto"):
            try:
                objs = compiler.compile([src], output_dir=tmp, extra_postargs=[flag, "-fPIC"])
                compiler.link_shared_object(objs, os.path.join(tmp, "probe.so"),
                                            extra_postargs=[flag])
            except Exception:  # CompileError, LinkError: not this flag
                continue
            return [flag]
    return []


class BuildExt(build_ext):
    """Lets the C compiler take the assembly file too, and adds link-time
    optimisation where the toolchain has it (tools/build-python.sh does the
    same)."""

    def build_extensions(self):
        self.compiler.src_extensions.append(".S")
        flags = lto_flags(self.compiler)
        for ext in self.extensions:
            ext.extra_compile_args = list(ext.extra_compile_args or []) + flags
            ext.extra_link_args = list(ext.extra_link_args or []) + flags
        super().build_extensions()


# Every file of src/arch is compiled: src/arch/select.h, the one place that
# picks the switching backend, makes all but the chosen one empty.
sources = sorted(glob.glob("python/greenlet/*.c") + glob.glob("src/core/*.c") +
                 glob.glob("src/stack/*.c") + glob.glob("src/arch/*.c") +
                 glob.glob("src/arch/*.S"))
# CG_EMBEDDED: the core's API stays private to the module (include/cgreenlet.h).
define_macros = [("_GNU_SOURCE", "1"), ("CG_EMBEDDED", "1")]


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
