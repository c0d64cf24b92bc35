"""Runs every test_*.py module here, verbosely, and ends with one line:
``integration: N passed, N failed, N skipped``.  Exit status 1 on any
failure or error.  Used by run.sh, which sets PYTHONPATH and CG_INTEG_BUILD.

First it prints what is tested, one line each: the interpreter, our
greenlet, and the version and place of each package the tests use (or
"not installed"), e.g. ``integration: gevent 26.9.0 (/venv/.../gevent)``.
"""
import importlib.util
import os
import platform
import sys
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
PACKAGES = ("gevent", "eventlet", "gunicorn", "sqlalchemy", "aiosqlite")


def describe_packages():
    """Lines naming the interpreter and the versions found, without
    importing the packages (find_spec does not run them)."""
    from integ_support import dist_version, stock_greenlet_dir
    import greenlet
    lines = ["integration: Python %s (%s)" % (platform.python_version(), sys.executable),
             "integration: greenlet %s (%s)" % (greenlet.__version__,
                                                os.path.dirname(greenlet.__file__))]
    for name in PACKAGES:
        try:
            spec = importlib.util.find_spec(name)
        except (ImportError, ValueError):
            spec = None
        if spec is None:
            lines.append("integration: %s not installed" % name)
            continue
        where = os.path.dirname(spec.origin) if spec.origin else "?"
        lines.append("integration: %s %s (%s)" % (name, dist_version(name) or "(version unknown)",
                                                   where))
    stock = stock_greenlet_dir()
    lines.append("integration: stock greenlet for comparison: %s" % (stock or "none"))
    return lines


def main():
    print("\n".join(describe_packages()))
    sys.stdout.flush()
    suite = unittest.defaultTestLoader.discover(HERE, pattern="test_*.py", top_level_dir=HERE)
    result = unittest.TextTestRunner(verbosity=2, stream=sys.stderr).run(suite)
    bad = len(result.failures) + len(result.errors) + len(result.unexpectedSuccesses)
    skipped = len(result.skipped)
    passed = result.testsRun - bad - skipped - len(result.expectedFailures)
    sys.stderr.flush()
    print("integration: %d passed, %d failed, %d skipped" % (passed, bad, skipped))
    return 0 if result.wasSuccessful() and result.testsRun else 1


if __name__ == "__main__":
    sys.exit(main())
