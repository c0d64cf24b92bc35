"""`pip install .` builds and installs the module (issue: the package is
installable with setuptools, and its metadata matches __version__, S5)."""
import importlib.util
import os
import shutil
import subprocess
import sys
import tempfile
import unittest

from support import GreenletTest

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def _have(module):
    return importlib.util.find_spec(module) is not None


def _setuptools_major():
    # From the metadata: importing setuptools here would disturb distutils.
    try:
        from importlib.metadata import version
        return int(version("setuptools").split(".")[0])
    except Exception:
        return 0


# pyproject.toml's [project] table needs setuptools 61 or newer.
@unittest.skipUnless(_have("pip") and _have("wheel") and _setuptools_major() >= 61,
                     "needs pip, wheel and setuptools >= 61 for this interpreter "
                     "(Debian: python3-pip, python3-setuptools)")
@unittest.skipIf(os.environ.get("CG_TEST_ASAN"),
                 "a build under the preloaded ASan runtime proves nothing more")
class PipInstallTest(GreenletTest):
    def test_pip_install_builds_and_imports(self):  # S5 S8
        with tempfile.TemporaryDirectory() as tmp:
            src = os.path.join(tmp, "src")
            # A copy, so that the build leaves nothing in the checkout.
            shutil.copytree(REPO, src, ignore=shutil.ignore_patterns(
                "build", ".git", "*.so", "__pycache__", "*.egg-info"))
            target = os.path.join(tmp, "site")
            p = subprocess.run(
                [sys.executable, "-m", "pip", "install", "--quiet", "--no-build-isolation",
                 "--no-index", "--no-deps", "--target", target, src],
                stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=600)
            self.assertEqual(p.returncode, 0, p.stdout.decode()[-3000:])
            code = ("import greenlet, importlib.metadata as m; "
                    "g = greenlet.greenlet(lambda x: x * 2); "
                    "print(greenlet.__file__); print(g.switch(21)); "
                    "print(greenlet.__version__ == m.version('greenlet'))")
            env = dict(os.environ, PYTHONPATH=target)
            out = subprocess.run([sys.executable, "-c", code], env=env, cwd=tmp,
                                 stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                 timeout=60).stdout.decode().split()
            self.assertEqual(len(out), 3, out)
            self.assertTrue(out[0].startswith(target), out)
            self.assertEqual(out[1:], ["42", "True"])
            self.assertTrue(os.path.exists(os.path.join(target, "greenlet", "greenlet.h")))


if __name__ == "__main__":
    unittest.main()
