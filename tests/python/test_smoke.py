"""Import and the basic round trip (S1, S16, S20, S26)."""
import unittest

import greenlet
from support import GreenletTest, PYTHON_DIR


class SmokeTest(GreenletTest):
    def test_ours(self):  # S1
        self.assertTrue(greenlet.__file__.startswith(PYTHON_DIR))

    def test_round_trip(self):  # S16 S20 S26
        main = greenlet.getcurrent()

        def f(x):
            y = main.switch(x + 1)
            return y * 2

        g = greenlet.greenlet(f)
        self.assertEqual(g.switch(1), 2)
        self.assertEqual(g.switch(10), 20)
        self.assertTrue(g.dead)


if __name__ == "__main__":
    unittest.main()
