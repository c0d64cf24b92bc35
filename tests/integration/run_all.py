"""Runs every test_*.py module here, verbosely, and ends with one line:
``integration: N passed, N failed, N skipped``.  Exit status 1 on any
failure or error.  Used by run.sh, which sets PYTHONPATH and CG_INTEG_BUILD.
"""
import os
import sys
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))


def main():
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
