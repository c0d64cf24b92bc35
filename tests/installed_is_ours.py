"""Exits non-zero unless the running interpreter's greenlet is cgreenlet's,
installed in this environment (sys.prefix) the way its wheel installs it:
no C sources beside the module, greenlet.h where compiled users look for
it.  Prints one line naming it, after the label given as argument.
Used by tests/run-installed.sh and tests/integration/pypi-check.sh."""
import os
import sys

import greenlet
import greenlet._greenlet as module

assert greenlet.__file__.startswith(sys.prefix), greenlet.__file__
assert "+cgreenlet." in greenlet.__version__, greenlet.__version__
assert hasattr(module, "CGREENLET_VERSION"), "not cgreenlet"
here = os.path.dirname(greenlet.__file__)
assert not [f for f in os.listdir(here) if f.endswith(".c")], os.listdir(here)
header = os.path.join(sys.prefix, "include", "site", "python%d.%d" % sys.version_info[:2],
                      "greenlet", "greenlet.h")
assert os.path.exists(header), header
print("%s: greenlet %s (%s)" % (sys.argv[1] if len(sys.argv) > 1 else "installed",
                                greenlet.__version__, greenlet.__file__))
