"""Garbage collection of greenlets: the kill on last reference and its
outcomes, cycles, main greenlets of exited threads, scale
(docs/behaviour.md: S77-S81; H11, H20, H23, H24)."""
import gc
import os
import re
import sys
import threading
import textwrap
import time
import unittest
import weakref

import greenlet
from greenlet import GreenletExit, getcurrent
from support import DEDICATED, GreenletTest, run_python

LIGHT = bool(os.environ.get("CG_TEST_LIGHT"))
TIMEOUT = 60
KILL_TEXT = "Killing the greenlet because all references have vanished."


def suspended(run, *args):
    """A greenlet that has started `run(*args)` and switched back here
    (run must switch to the creating greenlet first)."""
    g = greenlet.greenlet(run)
    g.switch(*args)
    return g


class KillTest(GreenletTest):
    def test_kill_raises_greenlet_exit_and_runs_finally(self):  # S77 S78
        main = getcurrent()
        log = []

        def run():
            try:
                main.switch()
                log.append("resumed normally")
            except GreenletExit as e:
                log.append((type(e), str(e), getcurrent() is me()))
                raise
            finally:
                log.append("finally")

        g = suspended(run)
        me = weakref.ref(g)
        self.assertTrue(g and not g.dead)
        del g
        self.assertEqual(log, [(GreenletExit, KILL_TEXT, True), "finally"])
        self.assertIsNone(me())
        self.assertIs(getcurrent(), main)

    def test_temporary_parent_is_the_releaser(self):  # S77
        main = getcurrent()
        seen = []

        def run():
            try:
                main.switch()
            except GreenletExit:
                seen.append(("parent during kill", getcurrent().parent))
                raise

        p = suspended(lambda: main.switch())     # the original parent
        holder = [suspended(run)]
        holder[0].parent = p

        def releaser():
            holder.clear()                  # the kill runs, then comes back
            seen.append("releaser continues")
            return "released"

        r = greenlet.greenlet(releaser)
        self.assertEqual(r.switch(), "released")
        self.assertEqual(seen, [("parent during kill", r), "releaser continues"])
        # The original parent was never resumed.
        self.assertTrue(p and not p.dead)
        p.switch()
        self.assertTrue(p.dead)
        del seen[:]

    def test_resurrection_keeps_it_alive_with_original_parent(self):  # S77 S78
        main = getcurrent()
        keep = []
        seen = []

        def run():
            try:
                main.switch()
            except GreenletExit:
                me = getcurrent()
                keep.append(me)                 # a new reference
                seen.append(me.parent)
                tmp = me.parent
                del me
                v = tmp.switch("away")          # back to the releaser
                return ("finished with", v)

        p = greenlet.greenlet(lambda: ("p got", main.switch()))
        p.switch()
        g = suspended(run)
        g.parent = p
        wr = weakref.ref(g)

        def releaser():
            del holder[:]
            return "released"

        holder = [g]
        del g
        r = greenlet.greenlet(releaser)
        self.assertEqual(r.switch(), "released")
        self.assertEqual(seen, [r])             # temporary parent
        g = wr()
        self.assertIs(g, keep[0])
        self.assertTrue(g)
        self.assertFalse(g.dead)
        self.assertIs(g.parent, p)              # original parent restored
        # When it finishes, its value goes to the original parent.
        self.assertEqual(g.switch(7), ("p got", ("finished with", 7)))
        self.assertTrue(g.dead and p.dead)
        del keep[:], seen[:], g

    def test_kill_that_returns_is_freed_silently(self):  # S78
        main = getcurrent()
        log = []

        def run():
            try:
                main.switch()
            except GreenletExit:
                log.append("caught")
            return "a value nobody receives"

        g = suspended(run)
        wr = weakref.ref(g)
        del g                                   # nothing raised here
        self.assertEqual(log, ["caught"])
        self.assertIsNone(wr())

    def test_kill_dying_with_other_exception_is_unraisable(self):  # S78
        main = getcurrent()
        hooked = []
        old = sys.unraisablehook
        sys.unraisablehook = lambda u: hooked.append((u.exc_type, str(u.exc_value)))
        self.addCleanup(setattr, sys, "unraisablehook", old)

        def run():
            try:
                main.switch()
            except GreenletExit:
                raise ValueError("raised while being killed")

        g = suspended(run)
        wr = weakref.ref(g)
        del g                                   # not raised here
        self.assertEqual(hooked, [(ValueError, "raised while being killed")])
        self.assertIsNone(wr())

    def test_releasers_handled_exception_preserved(self):  # S78
        main = getcurrent()

        def run():
            try:
                main.switch()
            except GreenletExit:
                try:
                    raise KeyError("inside the kill")
                except KeyError:
                    pass
                raise

        g = suspended(run)
        try:
            raise IndexError("handled by the releaser")
        except IndexError:
            del g
            self.assertIs(sys.exc_info()[0], IndexError)
            self.assertEqual(str(sys.exc_info()[1]), "handled by the releaser")

    def test_release_while_exception_propagates(self):  # S78
        main = getcurrent()
        log = []

        def run():
            try:
                main.switch()
            finally:
                log.append("finally")

        def f():
            g = suspended(run)      # released as f's frame unwinds
            raise KeyError("in flight")

        with self.assertRaises(KeyError) as cm:
            f()
        self.assertEqual(cm.exception.args, ("in flight",))
        self.assertEqual(log, ["finally"])
        del cm

    def test_switch_away_without_dying_is_leaked_not_crashed(self):  # S78 (subprocess: leaks on purpose)
        rc, out, err = run_python(r"""
            import gc, weakref, greenlet
            main = greenlet.getcurrent()
            log = []
            def run():
                try:
                    main.switch()
                except greenlet.GreenletExit:
                    log.append("caught")
                    main.switch("went away")
                log.append("resumed again")
            g = greenlet.greenlet(run)
            g.switch()
            wr = weakref.ref(g)
            addr = "%x" % id(g)
            del g
            gc.collect()
            print("log", log)
            g = wr()
            print("alive", g is not None, "addr", addr)
            print("state", bool(g), g.dead)
            del g
            print("end")
        """)
        self.assertEqual(rc, 0, err)
        lines = out.splitlines()
        self.assertEqual(lines[0], "log ['caught']")
        m = re.match(r"alive True addr ([0-9a-f]+)$", lines[1])
        self.assertTrue(m, out)
        self.assertEqual(lines[2:], ["state True False", "end"])
        said = re.findall(r"GreenletExit did not kill <greenlet\.greenlet object at 0x0*([0-9a-f]+)[^\n]*>\n",
                          err)
        self.assertEqual(said, [m.group(1)], err)

    def test_leaking_killed_greenlets_repeatedly(self):  # H20 S78 (subprocess: leaks on purpose)
        rc, out, err = run_python(r"""
            import gc, greenlet
            main = greenlet.getcurrent()
            caught = [0]
            def stubborn():
                while True:
                    try:
                        main.switch()
                    except greenlet.GreenletExit:
                        caught[0] += 1
            for i in range(100):
                g = greenlet.greenlet(stubborn)
                g.switch()
                del g
                gc.collect()
                x = greenlet.greenlet(lambda: 5).switch()
                assert x == 5
            print("caught", caught[0])
        """, timeout=120)
        self.assertEqual(rc, 0, err)
        self.assertEqual(out, "caught 100\n")
        self.assertEqual(err.count("GreenletExit did not kill "), 100, err[:2000])


class ManyTest(GreenletTest):
    def test_ten_thousand_released_at_once(self):  # H11 S77
        n = 1000 if LIGHT else 10000
        main = getcurrent()
        counts = {"exit": 0, "finally": 0, "wrong": 0}

        def run(i):
            try:
                main.switch()
            except GreenletExit as e:
                counts["exit"] += 1
                if str(e) != KILL_TEXT:
                    counts["wrong"] += 1
                raise
            finally:
                counts["finally"] += 1

        gs = [suspended(run, i) for i in range(n)]
        refs = [weakref.ref(g) for g in gs]
        del gs
        self.assertEqual(counts, {"exit": n, "finally": n, "wrong": 0})
        self.assertEqual(sum(r() is not None for r in refs), 0)

    def test_released_by_collecting_a_cycle(self):  # H11 S77 S80
        n = 1000 if LIGHT else 10000
        main = getcurrent()
        counts = {"finally": 0}

        def run():
            try:
                main.switch()
            finally:
                counts["finally"] += 1

        gs = [suspended(run) for _ in range(n)]
        gs.append(gs)               # only the collector can free the list
        del gs
        gc.collect()
        self.assertEqual(counts["finally"], n)

    def test_chain_of_fifty_thousand_via_frames(self):  # H24 S77 (subprocess: may overflow)
        self._chain("frame")

    def test_chain_of_fifty_thousand_via_attributes(self):  # H24 S77 (subprocess: may overflow)
        self._chain("attr")

    def _chain(self, how):
        n = 5000 if LIGHT else 20000 if DEDICATED else 50000
        rc, out, err = run_python(r"""
            import greenlet
            N, HOW = %d, %r
            main = greenlet.getcurrent()
            counts = {"exit": 0, "finally": 0}
            def link(nxt):
                try:
                    main.switch()
                except greenlet.GreenletExit:
                    counts["exit"] += 1
                    raise
                finally:
                    counts["finally"] += 1
            head = None
            for i in range(N):
                g = greenlet.greenlet(link)
                if HOW == "frame":
                    g.switch(head)          # the next link is a local of g's frame
                else:
                    g.switch(None)
                    g.next = head           # the next link is in g's dict
                head = g
            del g
            del head
            # Deferred kills, if any, run at the next greenlet operation.
            for i in range(N + 10):
                if counts["finally"] == N:
                    break
                greenlet.getcurrent()
            print(counts["exit"], counts["finally"])
        """ % (n, how), timeout=300)
        self.assertEqual(rc, 0, err[-3000:])
        self.assertEqual(out, "%d %d\n" % (n, n))
        self.assertNotIn("did not kill", err)


class SpareMemoryTest(GreenletTest):
    # A thread keeps the internals of up to 32 freed greenlets for its next
    # ones (docs/python-module.md, "Spare greenlet internals").
    # tracemalloc traces the module's raw allocations to the Python line
    # that made them: make()'s greenlet(...) call.  Run in a fresh
    # interpreter, whose lists start empty.
    TRACED = """
        import gc, threading, tracemalloc
        import greenlet
        def make(run):
            return greenlet.greenlet(run)
        line = make.__code__.co_firstlineno + 1
        def kept():
            snap = tracemalloc.take_snapshot().filter_traces(
                [tracemalloc.Filter(True, "<string>", line)])
            return sum(t.size for t in snap.traces)
        def run_64():
            gs = [make(lambda: None) for _ in range(64)]
            for g in gs:
                g.switch()
            return gs
        tracemalloc.start()
    """

    def run_traced(self, code):
        rc, out, err = run_python(textwrap.dedent(self.TRACED) + textwrap.dedent(code))
        self.assertEqual(rc, 0, err)
        return [int(w) for w in out.split()]

    def test_full_collection_gives_back_what_is_kept_for_reuse(self):
        # As CPython's free lists: by a full collection, not a young one.
        before, young, after = self.run_traced("""
            greenlet.getcurrent()
            del run_64()[:]
            before = kept()
            gc.collect(1)
            young = kept()
            gc.collect()
            print(before, young, kept())
        """)
        self.assertGreaterEqual(before, 32 * 200)    # 32 kept, ~300 B each
        self.assertEqual(young, before)
        self.assertLess(after, 200)

    def test_exiting_thread_gives_back_what_it_kept(self):
        # Even while a greenlet of the thread lives on (which keeps the
        # thread's main greenlet, and so its state, alive).
        left, = self.run_traced("""
            survivor = []
            t = threading.Thread(target=lambda: survivor.append(run_64().pop()))
            t.start()
            t.join()
            print(kept())
        """)
        # Left: the survivor and what its thread's state holds (its main
        # greenlet), 1.4 KB on 3.13; the 32 kept records alone are 9.5 KB.
        self.assertLess(left, 32 * 200)


class CycleTest(GreenletTest):
    def setUp(self):
        super().setUp()
        gc.collect()
        self.assertEqual(gc.garbage, [])

    def test_cycles_through_not_started_and_dead_are_collected(self):  # S79
        main = getcurrent()
        refs = []
        ran = []

        # not started, cycle through its dict
        g = greenlet.greenlet(lambda: ran.append("a"))
        g.me = g
        refs.append(weakref.ref(g))

        # not started, cycle through its run (a closure naming it)
        def closure_cycle():
            g = greenlet.greenlet()
            g.run = lambda: (ran.append("b"), g)
            return weakref.ref(g)

        refs.append(closure_cycle())

        # not started, cycle through its parent's dict
        p = greenlet.greenlet(lambda: ran.append("c"))
        g = greenlet.greenlet(lambda: ran.append("d"), p)
        p.child = g
        refs += [weakref.ref(p), weakref.ref(g)]
        del p

        # dead, referenced from the frame it returned
        def f():
            me = getcurrent()
            return sys._getframe()

        g = greenlet.greenlet(f)
        g.frame = g.switch()
        self.assertTrue(g.dead)
        refs.append(weakref.ref(g))

        # dead, holding the exception it died with, which names it
        def h():
            raise KeyError(getcurrent())

        g = greenlet.greenlet(h)
        try:
            g.switch()
        except KeyError as e:
            g.exc = e
        refs.append(weakref.ref(g))

        # dead, cycle through its child's parent
        d = greenlet.greenlet(lambda: main.switch())
        d.switch()
        c = greenlet.greenlet(lambda: None, d)
        d.switch()
        self.assertTrue(d.dead)
        d.child = c
        refs += [weakref.ref(d), weakref.ref(c)]
        del g, c, d
        gc.collect()
        self.assertEqual([r() for r in refs], [None] * len(refs))
        self.assertEqual(gc.garbage, [])
        self.assertEqual(ran, [])

    def test_suspended_in_dict_cycle_is_killed_not_freed(self):  # S80 S77
        main = getcurrent()
        log = []

        def run():
            try:
                main.switch()
            except GreenletExit:
                log.append("exit")
                raise
            finally:
                log.append("finally")

        g = suspended(run)
        g.me = g
        wr = weakref.ref(g)
        del g
        self.assertEqual(log, [])
        gc.collect()
        # Collected (S80 SHOULD) and then killed (S80 MUST), never freed
        # with live frames.
        self.assertIsNone(wr())
        self.assertEqual(log, ["exit", "finally"])
        self.assertEqual(gc.garbage, [])

    def test_suspended_in_frame_or_exception_cycle_never_freed_live(self):  # S80 S118
        main = getcurrent()

        for how in ("frame", "exception"):
            log = []

            def run():
                me = getcurrent()       # a cycle through its own frame
                try:
                    raise KeyError("handled")
                except KeyError as e:
                    e.me = me           # and through its handled exception
                    if how == "frame":
                        del e
                    try:
                        v = main.switch()
                    except GreenletExit:
                        log.append("exit")
                        raise
                    finally:
                        log.append("finally")
                    log.append(("resumed", v, sys.exc_info()[0]))
                return "done"

            g = suspended(run)
            wr = weakref.ref(g)
            del g
            gc.collect()
            g = wr()
            if g is None:
                # Collected: then it must have been killed (S80).
                self.assertEqual(log, ["exit", "finally"], how)
            else:
                # Not collected (allowed): intact and resumable.
                self.assertEqual(log, [], how)
                self.assertTrue(g and not g.dead)
                self.assertEqual(g.switch(5), "done")
                self.assertEqual(log, ["finally", ("resumed", 5, KeyError)], how)
                del g
            self.assertEqual(gc.garbage, [])


class MainGreenletTest(GreenletTest):
    def _in_thread(self, fn):
        out = []
        t = threading.Thread(target=lambda: out.append(fn()), daemon=True)
        t.start()
        t.join(TIMEOUT)
        self.assertFalse(t.is_alive())
        self.assertEqual(len(out), 1, "the thread failed")
        return out[0]

    def _settled(self, cond):
        # The thread's cleanup may finish just after join(): bounded retry.
        for _ in range(500):
            getcurrent()
            gc.collect()
            if cond():
                return True
            time.sleep(0.01)
        return cond()

    def test_main_of_exited_thread_collected(self):  # S81
        def body():
            return weakref.ref(getcurrent())

        wr = self._in_thread(body)
        self.assertTrue(self._settled(lambda: wr() is None))

    def test_main_of_exited_thread_collected_with_greenlets(self):  # S81 S85
        def body():
            main = getcurrent()
            g = greenlet.greenlet(lambda: main.switch())
            g.switch()
            g.me = g            # a cycle through a suspended greenlet's dict
            d = greenlet.greenlet(lambda: None)
            d.switch()
            return weakref.ref(main), weakref.ref(g), weakref.ref(d)

        refs = self._in_thread(body)
        self.assertTrue(self._settled(lambda: all(r() is None for r in refs)),
                        [r() for r in refs])

    def test_main_of_exited_thread_kept_while_referenced(self):  # S81 S86 S33
        def body():
            main = getcurrent()
            g = greenlet.greenlet(lambda: None)
            return main, g

        main, g = self._in_thread(body)
        wr = weakref.ref(main)
        self.assertTrue(self._settled(lambda: main.dead))
        self.assertIs(g.parent, main)
        del main
        gc.collect()
        self.assertIsNotNone(wr())          # still g's parent (S41)
        self.assertFalse(wr())
        self.assertTrue(repr(wr()).endswith(" (thread exited) dead>"))
        del g
        self.assertTrue(self._settled(lambda: wr() is None))

    def test_main_kept_while_thread_lives(self):  # S81
        ready = threading.Event()
        go = threading.Event()
        box = []

        def body():
            box.append(weakref.ref(getcurrent()))
            ready.set()
            go.wait(TIMEOUT)
            gc.collect()
            return box[0]() is getcurrent()

        t_out = []
        t = threading.Thread(target=lambda: t_out.append(body()), daemon=True)
        t.start()
        try:
            self.assertTrue(ready.wait(TIMEOUT))
            gc.collect()
            m = box[0]()
            self.assertIsNotNone(m)
            self.assertFalse(m.dead)
            self.assertTrue(m)
            del m
        finally:
            go.set()
            t.join(TIMEOUT)
        self.assertFalse(t.is_alive())
        self.assertEqual(t_out, [True])


class RunningGreenletTest(GreenletTest):
    def test_dropping_only_reference_while_running(self):  # H23 S77
        holder = []
        log = []

        def run():
            me = getcurrent()
            wr = weakref.ref(me)
            del me
            holder.clear()                  # the only reference
            gc.collect()
            g = wr()
            log.append(g is not None and not g.dead and bool(g))
            g.attr = "still usable"
            log.append(g.attr)
            del g
            return wr

        holder.append(greenlet.greenlet(run))
        wr = holder[0].switch()
        self.assertEqual(log, [True, "still usable"])
        self.assertEqual(holder, [])
        # It finished: now it is gone.
        gc.collect()
        self.assertIsNone(wr())

    def test_dropping_only_reference_then_switching_away(self):  # H23 S77
        main = getcurrent()
        holder = []
        log = []

        def run():
            holder.clear()
            try:
                main.switch("switched away")
            except GreenletExit as e:
                log.append(str(e))
                raise
            finally:
                log.append("finally")

        holder.append(greenlet.greenlet(run))
        wr = weakref.ref(holder[0])
        self.assertEqual(holder[0].switch(), "switched away")
        # Suspended with no reference left: killed (S77), then freed.
        self.assertEqual(log, [KILL_TEXT, "finally"])
        self.assertIsNone(wr())


if __name__ == "__main__":
    unittest.main()
