"""Dedicated stacks (a cgreenlet extension, docs/python-module.md,
"Dedicated stacks"): greenlet.set_stack_size(), get_stack_size(),
gr_stack_size and CGREENLET_STACK_SIZE.  A greenlet's stack is chosen when
it starts: its own gr_stack_size, else its thread's default, else the
process's; 0 is the shared, copied stack."""
import gc
import os
import threading

import greenlet
from greenlet import GreenletExit, getcurrent
from support import GreenletTest, QEMU, run_python

MIB = 1 << 20
# Like a thread's stack: deep enough for the interpreter's own recursion
# limits on every version, and only the pages touched cost memory.
SIZE = 8 * MIB


def pingpong(n):
    """Runs in a greenlet: echoes what it gets, plus one, n times."""
    main = getcurrent().parent
    x = main.switch("ready")
    for _ in range(n):
        x = main.switch(x + 1)
    return "done"


def mappings():
    with open("/proc/self/maps") as f:
        return sum(1 for _ in f)


class StackTest(GreenletTest):

    def setUp(self):
        super().setUp()
        # The suite may run with a process default (make check-python-dedicated).
        self._process = greenlet.set_stack_size(0)
        self._thread = greenlet.set_stack_size(None, thread=True)

    def tearDown(self):
        greenlet.set_stack_size(self._process)
        greenlet.set_stack_size(self._thread, thread=True)
        super().tearDown()

    def start(self, size, fn=pingpong):
        g = greenlet.greenlet(fn)
        g.gr_stack_size = size
        return g


class AttributeTest(StackTest):

    def test_not_started_follows_default(self):
        g = greenlet.greenlet(pingpong)
        self.assertIsNone(g.gr_stack_size)
        g.gr_stack_size = SIZE
        self.assertEqual(g.gr_stack_size, SIZE)
        g.gr_stack_size = None
        self.assertIsNone(g.gr_stack_size)
        g.gr_stack_size = SIZE
        del g.gr_stack_size
        self.assertIsNone(g.gr_stack_size)

    def test_started_reports_the_stack_it_got(self):
        shared = greenlet.greenlet(pingpong)
        own = self.start(SIZE)
        self.assertEqual(shared.switch(0), "ready")
        self.assertEqual(own.switch(0), "ready")
        self.assertEqual(shared.gr_stack_size, 0)
        self.assertEqual(own.gr_stack_size, SIZE)
        self.assertEqual(shared.switch(0), "done")
        self.assertEqual(own.switch(0), "done")
        self.assertEqual(own.gr_stack_size, SIZE)     # dead: what it ran on

    def test_main_runs_on_the_thread_stack(self):
        main = getcurrent()
        self.assertEqual(main.gr_stack_size, 0)
        with self.assertRaises(ValueError):
            main.gr_stack_size = SIZE

    def test_fixed_once_started(self):
        g = self.start(SIZE)
        g.switch(0)
        for value in (0, SIZE * 2, None):
            with self.assertRaises(ValueError):
                g.gr_stack_size = value
        self.assertEqual(g.gr_stack_size, SIZE)
        g.switch(0)

    def test_choice_made_while_run_is_looked_up(self):
        # The run attribute is looked up as the greenlet starts, before
        # its stack is made: a choice made there still counts.
        class G(greenlet.greenlet):
            @property
            def run(self):
                self.gr_stack_size = SIZE
                return lambda: getcurrent().gr_stack_size

        self.assertEqual(G().switch(), SIZE)

    def test_bad_sizes(self):
        g = greenlet.greenlet(pingpong)
        for bad in (-1, 1, 4096, 65535, 1 << 41, 1 << 80):
            with self.assertRaises(ValueError, msg=bad):
                g.gr_stack_size = bad
        for bad in ("8M", 1.5, [], True.__class__):
            with self.assertRaises(TypeError, msg=bad):
                g.gr_stack_size = bad
        self.assertIsNone(g.gr_stack_size)
        g.gr_stack_size = 65536
        g.gr_stack_size = 0
        self.assertEqual(g.gr_stack_size, 0)

    def test_subclass_and_gevent_style_use(self):
        class Worker(greenlet.greenlet):
            def __init__(self, fn):
                super().__init__(fn)
                self.gr_stack_size = SIZE

        w = Worker(pingpong)
        self.assertEqual(w.switch(1), "ready")
        self.assertEqual(w.switch(41), 42)
        self.assertEqual(w.gr_stack_size, SIZE)
        self.assertEqual(w.switch(0), "done")


class DefaultsTest(StackTest):

    def test_process_default(self):
        self.assertEqual(greenlet.set_stack_size(SIZE), 0)
        self.assertEqual(greenlet.get_stack_size(), SIZE)
        made_before = greenlet.greenlet(pingpong)
        made_before.switch(0)       # the choice is made as it starts
        self.assertEqual(made_before.gr_stack_size, SIZE)
        self.assertEqual(greenlet.set_stack_size(0), SIZE)
        g = greenlet.greenlet(pingpong)
        g.switch(0)
        self.assertEqual(g.gr_stack_size, 0)
        made_before.switch(0)
        g.switch(0)

    def test_thread_default_overrides_process_default(self):
        greenlet.set_stack_size(SIZE)
        self.assertIsNone(greenlet.set_stack_size(0, thread=True))
        self.assertEqual(greenlet.get_stack_size(), 0)
        seen = {}

        def other_thread():
            g = greenlet.greenlet(pingpong)
            g.switch(0)
            seen["other"] = g.gr_stack_size
            g.switch(0)
            seen["other dead"] = g.dead
            del g

        t = threading.Thread(target=other_thread)
        t.start()
        t.join()
        self.assertEqual(seen, {"other": SIZE, "other dead": True})
        g = greenlet.greenlet(pingpong)
        g.switch(0)
        self.assertEqual(g.gr_stack_size, 0)
        g.switch(0)
        self.assertEqual(greenlet.set_stack_size(None, thread=True), 0)
        self.assertEqual(greenlet.get_stack_size(), SIZE)

    def test_own_choice_overrides_defaults(self):
        greenlet.set_stack_size(SIZE)
        greenlet.set_stack_size(2 * SIZE, thread=True)
        g = self.start(0)
        g.switch(0)
        self.assertEqual(g.gr_stack_size, 0)
        g.switch(0)

    def test_bad_defaults(self):
        for bad in (-1, 4096, 1 << 41):
            with self.assertRaises(ValueError):
                greenlet.set_stack_size(bad)
            with self.assertRaises(ValueError):
                greenlet.set_stack_size(bad, thread=True)
        with self.assertRaises(TypeError):
            greenlet.set_stack_size(None)       # only a thread's may be cleared
        with self.assertRaises(TypeError):
            greenlet.set_stack_size("1M")
        with self.assertRaises(TypeError):
            greenlet.set_stack_size()
        self.assertEqual(greenlet.get_stack_size(), 0)

    def test_environment(self):
        code = """
            import warnings
            warnings.simplefilter("always")
            import greenlet
            g = greenlet.greenlet(lambda: greenlet.getcurrent().gr_stack_size)
            print(greenlet.get_stack_size(), g.switch())
        """
        for value, expect in (("1048576", "1048576 1048576"), ("64k", "65536 65536"),
                              ("8M", "8388608 8388608"), ("0", "0 0"), ("", "0 0")):
            rc, out, err = run_python(code, env={"CGREENLET_STACK_SIZE": value})
            self.assertEqual((rc, out.strip()), (0, expect), err)
            self.assertNotIn("Warning", err)
        for bad in ("8X", "-1", "1000", "k", "99999999999999999999M"):
            rc, out, err = run_python(code, env={"CGREENLET_STACK_SIZE": bad})
            self.assertEqual((rc, out.strip()), (0, "0 0"), err)
            self.assertIn("RuntimeWarning: CGREENLET_STACK_SIZE=%s ignored" % bad, err)


class DedicatedBehaviourTest(StackTest):

    def test_values_both_ways(self):
        g = self.start(SIZE)
        self.assertEqual(g.switch(1000), "ready")
        for i in range(1000):
            self.assertEqual(g.switch(i), i + 1)
        self.assertEqual(g.switch(0), "done")
        self.assertTrue(g.dead)

    def test_mixed_stacks_nested(self):
        # Shared and dedicated greenlets start one another and switch
        # around, at Python and C depth.
        main = getcurrent()

        def leaf(tag):
            while True:
                tag = main.switch(("leaf", tag, getcurrent().gr_stack_size))

        def middle(size):
            inner = greenlet.greenlet(leaf)
            inner.gr_stack_size = size
            # sorted() calls the key from C: a switch out of the middle
            # of a C call on either kind of stack.
            return sorted([3, 1, 2], key=lambda k: (inner.switch(k), k)[1])

        for outer_size, inner_size in ((0, SIZE), (SIZE, 0), (SIZE, SIZE), (0, 0)):
            g = self.start(outer_size, middle)
            msgs = []
            r = g.switch(inner_size)
            while not g.dead:
                msgs.append(r)
                r = g.switch()
            self.assertEqual(r, [1, 2, 3])
            self.assertEqual(msgs, [("leaf", k, inner_size) for k in (3, 1, 2)])
            self.assertEqual(g.gr_stack_size, outer_size)

    def test_finish_returns_to_parent_and_throw(self):
        def child():
            try:
                getcurrent().parent.switch("in")
            except KeyError as e:
                return ("caught", e.args)

        def parent_fn():
            c = self.start(SIZE, child)
            self.assertEqual(c.switch(), "in")
            return c.throw(KeyError, "k")

        p = self.start(SIZE, parent_fn)
        self.assertEqual(p.switch(), ("caught", ("k",)))

    def test_recursion_error_not_crash(self):
        # With a stack like a thread's, the interpreter's own limits stop
        # Python and C recursion first.
        rc, out, err = run_python("""
            import greenlet
            def rec(n=0):
                return rec(n + 1)
            def nested():
                x = []
                for _ in range(100000):
                    x = [x]
                return repr(x)
            def run(fn):
                try:
                    fn()
                except RecursionError:
                    return "RecursionError"
            for fn in (rec, nested, rec):
                g = greenlet.greenlet(run)
                g.gr_stack_size = %d
                print(g.switch(fn))
        """ % SIZE, timeout=120)
        self.assertEqual((rc, out.split()), (0, ["RecursionError"] * 3), err[-2000:])

    def test_killed_when_dropped_and_collected(self):
        counts = {"exit": 0}

        def parked():
            try:
                getcurrent().parent.switch()
            except GreenletExit:
                counts["exit"] += 1
                raise

        g = self.start(SIZE, parked)
        g.switch()
        del g
        self.assertEqual(counts["exit"], 1)
        g = self.start(SIZE, parked)
        g.switch()
        g.cycle = g
        del g
        gc.collect()
        getcurrent()
        self.assertEqual(counts["exit"], 2)

    def test_stacks_are_pooled(self):
        # Sequential create/finish reuses pooled stacks: the mappings stay
        # bounded by the pool, not by the number of greenlets.
        def short():
            return 1

        for _ in range(10):
            self.start(SIZE, short).switch()
        before = mappings()
        for _ in range(2000):
            self.assertEqual(self.start(SIZE, short).switch(), 1)
        self.assertLess(mappings() - before, 16)

    def test_thread_exit_with_suspended_dedicated_greenlets(self):
        kept = []

        def worker():
            for _ in range(50):
                g = self.start(SIZE)
                g.switch(5)
                kept.append(g)

        t = threading.Thread(target=worker)
        t.start()
        t.join()
        self.assertTrue(all(g.gr_stack_size == SIZE for g in kept))
        del kept[:]
        gc.collect()
        getcurrent()

    def test_frames_outlive_their_thread(self):
        # A suspended greenlet's frames, entered from C in between, stay
        # walkable after its thread has exited and its stack is gone.
        for size in (0, SIZE):
            kept = []

            def inner():
                # sorted() calls the key from C: an evaluator entered
                # from C between the two frames.
                sorted([2, 1], key=lambda k: getcurrent().parent.switch() or k)

            def names(f):
                out = []
                while f is not None and len(out) < 10:
                    out.append(f.f_code.co_name)
                    f = f.f_back
                return out

            def worker():
                for _ in range(10):
                    g = self.start(size, inner)
                    g.switch()
                    # Kept alive, so it is abandoned at thread exit, not killed.
                    kept.append((g, g.gr_frame, names(g.gr_frame)))
                    del g

            t = threading.Thread(target=worker)
            t.start()
            t.join()
            gc.collect()
            getcurrent()
            for g, frame, before in kept:
                self.assertTrue(g.dead)
                self.assertEqual(before, ["<lambda>", "inner"])
                self.assertEqual(names(frame), before, size)
            del kept[:]

    def test_out_of_mappings_is_memory_error(self):
        if os.environ.get("CG_TEST_ASAN"):
            self.skipTest("AddressSanitizer reserves the address space a limit would cap")
        if QEMU:
            # qemu-user applies the guest's RLIMIT_AS to its own process:
            # its own allocations and the guest's small ones fail near the
            # limit before a stack's mapping does, at random ("GSlice:
            # failed to allocate", then a crash; 1 run in 3).
            self.skipTest("under qemu-user RLIMIT_AS caps the emulator's own memory too")
        rc, out, err = run_python("""
            import resource, greenlet
            main = greenlet.getcurrent()
            def body():
                main.switch()
            with open("/proc/self/statm") as f:
                vm = int(f.read().split()[0]) * resource.getpagesize()
            resource.setrlimit(resource.RLIMIT_AS, (vm + (256 << 20),) * 2)
            kept, error = [], None
            for i in range(100000):
                g = greenlet.greenlet(body)
                g.gr_stack_size = 8 << 20
                try:
                    g.switch()
                except MemoryError as e:
                    error = e
                    break
                kept.append(g)
            assert error is not None and not g.dead and not g, (error, g)
            n = len(kept)
            # Everything still works: the refused greenlet can start once
            # stacks are free, the parked ones resume and finish.
            del kept[:4]
            g.switch()
            assert g and not g.dead
            for k in kept:
                k.switch()
                assert k.dead
            g.switch()
            assert g.dead
            h = greenlet.greenlet(lambda: 7)
            print("ok", n > 5, h.switch())
        """, timeout=120)
        self.assertEqual((rc, out.split()), (0, ["ok", "True", "7"]), err[-2000:])


if __name__ == "__main__":
    import unittest
    unittest.main()
