"""Scale: 100,000 concurrent gevent greenlets (20,000 with CG_TEST_LIGHT).

The same script (scale_child.py) runs twice, in child processes: with our
build first on PYTHONPATH, and without it, on a stock greenlet: Debian's
(/usr/lib/python3/dist-packages/greenlet) on /usr/bin/python3, the copy
that pypi-venv.sh keeps in VENV/stock-greenlet in a virtualenv, or the one
in $CG_INTEG_STOCK_DIR (the stock run is left out if there is none); each
run's greenlet is checked.  The test asserts that every greenlet was alive at once, woke up
as often as it should, and was joined with its result; it prints wall time
and peak RSS of both runs on one line and asserts nothing about them.
"""
import os
import sys
import unittest

from integ_support import (LIGHT, assert_ours, is_our_version, run_script, skip_unless_module,
                           stock_greenlet_dir)

N = 20000 if LIGHT else 100000
ITERATIONS = 3


@skip_unless_module("gevent", "python3-gevent")
class TestScale(unittest.TestCase):
    def check_run(self, result):
        self.assertEqual(result["n"], N)
        self.assertEqual(result["joined"], N)
        self.assertEqual(result["finished"], N)
        self.assertTrue(result["values_ok"])
        self.assertEqual(result["wakeups"], N * ITERATIONS)
        self.assertEqual(result["peak_alive"], N)

    def test_many_concurrent_sleeping_greenlets(self):
        ours = run_script(self, "scale_child.py", N, ITERATIONS, timeout=400)
        assert_ours(self, ours["greenlet"], version=ours["greenlet_version"])
        self.check_run(ours)
        stock_dir = stock_greenlet_dir()
        stock = None
        if stock_dir:
            stock_pkg = os.path.join(stock_dir, "greenlet")
            stock = run_script(self, "scale_child.py", N, ITERATIONS, ours=False, timeout=400,
                               stock=stock_dir)
            self.assertTrue(os.path.realpath(stock["greenlet"]).startswith(stock_pkg + os.sep),
                            stock["greenlet"])
            self.assertFalse(is_our_version(stock["greenlet_version"]))
            self.check_run(stock)

        def fig(r):
            return "%.2f s %d MiB" % (r["wall"], round(r["maxrss_kib"] / 1024))
        label = "scale%dk" % (N // 1000)
        line = "%s ours: %s; stock: %s" % (label, fig(ours), fig(stock) if stock else
                                           "not run (no stock greenlet for this interpreter)")
        detail = "%s detail: ours %s, cpu %.2f s, all started after %.2f s" % (
            label, ours["greenlet_version"], ours["cpu"], ours["start_phase"])
        if stock:
            detail += "; stock %s, cpu %.2f s, all started after %.2f s" % (
                stock["greenlet_version"], stock["cpu"], stock["start_phase"])
        sys.stderr.write("\n%s\n%s\n" % (line, detail))
        sys.stderr.flush()


if __name__ == "__main__":
    unittest.main()
