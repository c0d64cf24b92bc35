"""Scale: 100,000 concurrent gevent greenlets (20,000 with CG_TEST_LIGHT).

The same script (scale_child.py) runs twice, in child processes: with our
build first on PYTHONPATH, and without it, so that Debian's stock greenlet
(/usr/lib/python3/dist-packages/greenlet) is used; each run's greenlet is
checked.  The test asserts that every greenlet was alive at once, woke up
as often as it should, and was joined with its result; it prints wall time
and peak RSS of both runs on one line and asserts nothing about them.
"""
import os
import sys
import unittest

from integ_support import LIGHT, STOCK_DIR, assert_ours, run_script, skip_unless_module

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
        assert_ours(self, ours["greenlet"])
        self.check_run(ours)
        stock_pkg = os.path.join(STOCK_DIR, "greenlet")
        stock = None
        if os.path.isdir(stock_pkg):
            stock = run_script(self, "scale_child.py", N, ITERATIONS, ours=False, timeout=400)
            self.assertTrue(stock["greenlet"].startswith(stock_pkg + os.sep), stock["greenlet"])
            self.check_run(stock)

        def fig(r):
            return "%.2f s %d MiB" % (r["wall"], round(r["maxrss_kib"] / 1024))
        label = "scale%dk" % (N // 1000)
        line = "%s ours: %s; stock: %s" % (label, fig(ours), fig(stock) if stock else
                                           "not run (python3-greenlet is not installed)")
        detail = "%s detail: ours %s, cpu %.2f s, all started after %.2f s" % (
            label, ours["greenlet_version"], ours["cpu"], ours["start_phase"])
        if stock:
            detail += "; stock %s, cpu %.2f s, all started after %.2f s" % (
                stock["greenlet_version"], stock["cpu"], stock["start_phase"])
        sys.stderr.write("\n%s\n%s\n" % (line, detail))
        sys.stderr.flush()


if __name__ == "__main__":
    unittest.main()
