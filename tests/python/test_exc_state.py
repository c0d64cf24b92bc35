"""Exception state, recursion depth and other per-greenlet interpreter
state (docs/behaviour.md: S115-S121, H2, H10)."""
import gc
import os
import sys
import threading
import unittest
import weakref

import greenlet
from greenlet import getcurrent
from support import GreenletTest, run_python

HAS_EXCEPTION = hasattr(sys, "exception")   # 3.11+

EMPTY = (None, None, None)


def handled():
    """The exception being handled, as a type (None if none)."""
    return sys.exc_info()[0]


class ExcInfoTest(GreenletTest):
    def test_empty_at_start_from_except(self):  # S115
        seen = []

        def run():
            seen.append(sys.exc_info())
            if HAS_EXCEPTION:
                seen.append(sys.exception())

        try:
            raise KeyError("main's")
        except KeyError:
            greenlet.greenlet(run).switch()
            after = handled()
        expected = [EMPTY] + ([None] if HAS_EXCEPTION else [])
        self.assertEqual(seen, expected)
        self.assertIs(after, KeyError)

    def test_empty_at_start_from_except_in_greenlet(self):  # S115
        def child():
            return sys.exc_info()

        def parent():
            try:
                raise OSError
            except OSError:
                return greenlet.greenlet(child).switch(), handled()

        self.assertEqual(greenlet.greenlet(parent).switch(), (EMPTY, OSError))

    def test_empty_at_start_from_generator_except(self):  # S115
        def gen():
            try:
                raise IndexError
            except IndexError:
                yield greenlet.greenlet(sys.exc_info).switch()
                yield handled()

        it = gen()
        self.assertEqual(next(it), EMPTY)
        self.assertIs(next(it), IndexError)
        it.close()

    def test_switch_from_except_and_back(self):  # S116
        m = getcurrent()

        def run():
            try:
                raise KeyError("g's")
            except KeyError as e:
                m.switch(e)
                inside = sys.exc_info()[1]
            return inside, sys.exc_info()

        g = greenlet.greenlet(run)
        held = g.switch()
        self.assertIsInstance(held, KeyError)
        self.assertEqual(sys.exc_info(), EMPTY)   # not g's
        try:
            raise ValueError("main's")
        except ValueError as ve:
            inside, after_block = g.switch()
            self.assertIs(sys.exc_info()[1], ve)
        self.assertIs(inside, held)
        self.assertEqual(after_block, EMPTY)
        self.assertEqual(sys.exc_info(), EMPTY)
        del held, inside

    def test_interleaved_handlers(self):  # S116
        m = getcurrent()
        kinds = [KeyError, ValueError, OSError]

        def run(kind):
            try:
                raise kind
            except kind:
                for _ in range(20):
                    if handled() is not kind:
                        return ("saw", handled())
                    m.switch()
            return ("ok", handled())

        gs = [greenlet.greenlet(run) for _ in kinds]
        for g, k in zip(gs, kinds):
            g.switch(k)
        results = []
        for rnd in range(21):
            for g in gs:
                if handled() is not None:
                    self.fail("main sees %r" % (handled(),))
                if g.dead:
                    continue
                r = g.switch()
                if g.dead:
                    results.append(r)
        self.assertEqual(results, [("ok", None)] * 3)

    def test_main_handler_invisible_to_resumed(self):  # S116
        m = getcurrent()
        seen = []

        def run():
            for _ in range(3):
                seen.append(sys.exc_info())
                m.switch()

        g = greenlet.greenlet(run)
        for exc in (KeyError, ValueError, OSError):
            try:
                raise exc
            except exc:
                g.switch()
                self.assertIs(handled(), exc)
        g.switch()
        self.assertEqual(seen, [EMPTY] * 3)


class ExceptionContextTest(GreenletTest):
    def test_no_context_from_switcher(self):  # S117
        m = getcurrent()

        def run():
            m.switch()
            try:
                raise ValueError("in g")
            except ValueError as e:
                return e.__context__

        g = greenlet.greenlet(run)
        g.switch()
        try:
            raise KeyError("main")
        except KeyError:
            ctx = g.switch()
        self.assertIsNone(ctx)

    def test_no_context_in_fresh_greenlet(self):  # S117 S115
        def run():
            try:
                raise ValueError
            except ValueError as e:
                return e.__context__

        try:
            raise KeyError
        except KeyError:
            self.assertIsNone(greenlet.greenlet(run).switch())

    def test_no_context_from_suspended_handler(self):  # S117
        m = getcurrent()

        def run():
            try:
                raise KeyError("suspended in handler")
            except KeyError:
                m.switch()

        g = greenlet.greenlet(run)
        g.switch()
        try:
            raise ValueError
        except ValueError as e:
            self.assertIsNone(e.__context__)
        g.switch()

    def test_thrown_exception_context(self):  # S117
        m = getcurrent()

        def run():
            try:
                m.switch()
            except ValueError as e:
                return e.__context__

        g = greenlet.greenlet(run)
        g.switch()
        try:
            raise KeyError("main handles this")
        except KeyError:
            ctx = g.throw(ValueError)
        self.assertIsNone(ctx)

    def test_propagated_keeps_context_cause_traceback(self):  # S117 S27
        def failing_run():
            try:
                raise KeyError("original")
            except KeyError:
                raise ValueError("propagated") from OSError("cause")

        g = greenlet.greenlet(failing_run)
        try:
            raise TypeError("main handles this")
        except TypeError:
            try:
                g.switch()
            except ValueError as e:
                err = e
        self.assertIsInstance(err.__context__, KeyError)
        self.assertEqual(err.__context__.args, ("original",))
        self.assertIsInstance(err.__cause__, OSError)
        self.assertEqual(err.__cause__.args, ("cause",))
        names = []
        tb = err.__traceback__
        while tb is not None:
            names.append(tb.tb_frame.f_code.co_name)
            tb = tb.tb_next
        self.assertIn("failing_run", names)
        self.assertEqual(names[0], "test_propagated_keeps_context_cause_traceback")
        del err, tb

    def test_propagated_without_context_stays_without(self):  # S117
        def run():
            raise ValueError("plain")

        try:
            raise TypeError("main handles this")
        except TypeError:
            try:
                greenlet.greenlet(run).switch()
            except ValueError as e:
                err = e
        self.assertIsNone(err.__context__)
        self.assertIsNone(err.__cause__)
        del err


class SuspendedInHandlerTest(GreenletTest):
    def test_killed_while_in_handler(self):  # S118 S77
        m = getcurrent()
        log = []

        def run():
            try:
                raise KeyError("held")
            except KeyError:
                try:
                    m.switch()
                except greenlet.GreenletExit:
                    log.append(("killed", handled()))
                    raise
                finally:
                    log.append(("finally", handled()))

        g = greenlet.greenlet(run)
        g.switch()
        try:
            raise ValueError("main's")
        except ValueError:
            del g
            self.assertIs(handled(), ValueError)
        self.assertEqual(log[0], ("killed", greenlet.GreenletExit))
        self.assertEqual(log[1][0], "finally")
        self.assertEqual(len(log), 2)
        self.assertEqual(sys.exc_info(), EMPTY)

    def test_thrown_into_handler(self):  # S118 S116
        m = getcurrent()

        def run():
            try:
                raise KeyError("held")
            except KeyError:
                try:
                    m.switch()
                except ValueError:
                    inner = handled()
                return inner, handled()

        g = greenlet.greenlet(run)
        g.switch()
        self.assertEqual(g.throw(ValueError), (ValueError, KeyError))

    def test_outlives_thread(self):  # S118 S85
        box = {}

        class Local:
            pass

        def thread_main():
            m = getcurrent()

            def run():
                local = Local()
                box["local"] = weakref.ref(local)
                try:
                    raise KeyError("held by a dying thread")
                except KeyError:
                    m.switch()
                    box["resumed"] = True

            g = greenlet.greenlet(run)
            g.switch()
            box["g"] = g

        t = threading.Thread(target=thread_main)
        t.start()
        t.join()
        getcurrent()
        g = box.pop("g")
        self.assertTrue(g.dead)
        self.assertNotIn("resumed", box)
        del g
        getcurrent()
        gc.collect()
        # The suspended frame was released with its locals (S85).
        self.assertIsNone(box.pop("local")())

    def test_left_suspended_at_exit(self):  # S118 S90
        code = r"""
        import sys, threading, greenlet
        from greenlet import getcurrent
        m = getcurrent()
        keep = []

        def nested(n):
            try:
                raise KeyError(n)
            except KeyError:
                if n < 12:
                    greenlet.greenlet(nested).switch(n + 1)
                m.switch()

        def in_thread():
            t_main = getcurrent()

            def run():
                try:
                    raise OSError
                except OSError:
                    t_main.switch()

            g = greenlet.greenlet(run)
            g.switch()
            keep.append(g)

        greenlet.greenlet(nested).switch(0)
        for i in range(5):
            g = greenlet.greenlet(nested)
            g.switch(i)
            keep.append(g)
        t = threading.Thread(target=in_thread)
        t.start()
        t.join()
        print("exiting", sys.exc_info() == (None, None, None))
        """
        rc, out, err = run_python(code)
        self.assertEqual(rc, 0, err)
        self.assertEqual(out.strip(), "exiting True")


class RecursionTest(GreenletTest):
    def test_deep_recursion_in_greenlet(self):  # S119 H10
        code = r"""
        import sys, functools, greenlet

        def rec(n):
            return rec(n + 1)

        def crec(n):        # through C: map and list
            return list(map(crec, [n + 1]))

        def catch(f):
            def run():
                try:
                    f(0)
                except RecursionError:
                    return "RecursionError"
                return "no error"
            return run

        print(greenlet.greenlet(catch(rec)).switch())
        print(greenlet.greenlet(catch(crec)).switch())
        try:
            greenlet.greenlet(lambda: rec(0)).switch()
        except RecursionError:
            print("propagated")
        # Repeated: nothing is left over from earlier overflows.
        for _ in range(20):
            assert greenlet.greenlet(catch(rec)).switch() == "RecursionError"

        def down(n):
            return 0 if n == 0 else down(n - 1) + 1

        print(down(800), greenlet.greenlet(down).switch(800))
        """
        rc, out, err = run_python(code)
        self.assertEqual(rc, 0, err)
        self.assertEqual(out.split("\n")[:4], [
            "RecursionError", "RecursionError", "propagated", "800 800"], err)

    def test_chain_of_greenlets(self):  # S119 H10
        code = r"""
        import sys, greenlet
        sys.setrecursionlimit(1000)
        reached = [0]

        def run(n, limit):
            reached[0] = max(reached[0], n)
            if n == limit:
                return "bottom"
            return greenlet.greenlet(run).switch(n + 1, limit)

        print(greenlet.greenlet(run).switch(1, 100))
        for attempt in range(3):
            reached[0] = 0
            try:
                r = greenlet.greenlet(run).switch(1, 1000)
            except RecursionError:
                print("RecursionError", 1 < reached[0] < 1000)
            else:
                print("no error", r)
        print(greenlet.greenlet(run).switch(1, 100))
        """
        rc, out, err = run_python(code)
        self.assertEqual(rc, 0, err)
        self.assertEqual(out.split("\n")[:5], [
            "bottom", "RecursionError True", "RecursionError True",
            "RecursionError True", "bottom"], err)

    def test_depth_is_per_greenlet(self):  # S119
        code = r"""
        import sys, greenlet
        from greenlet import getcurrent
        sys.setrecursionlimit(1000)
        m = getcurrent()

        def down(n, at_bottom):
            if n == 0:
                return at_bottom()
            return down(n - 1, at_bottom)

        def try_down(n):
            try:
                return down(n, lambda: "ok")
            except RecursionError:
                return "RecursionError"

        def a_run():
            def bottom():
                m.switch("A parked")
                # Still 600 deep: another 600 do not fit.
                return try_down(600)
            return down(600, bottom)

        a = greenlet.greenlet(a_run)
        print(a.switch())
        print("main", try_down(600))
        print("B", greenlet.greenlet(try_down).switch(600))
        print("A", a.switch())
        print("main", try_down(900))
        """
        rc, out, err = run_python(code)
        self.assertEqual(rc, 0, err)
        self.assertEqual(out.split("\n")[:5], [
            "A parked", "main ok", "B ok", "A RecursionError", "main ok"], err)

    def test_depth_survives_limit_change(self):  # S119
        code = r"""
        import sys, greenlet
        from greenlet import getcurrent
        sys.setrecursionlimit(1000)
        m = getcurrent()

        def down(n, at_bottom):
            if n == 0:
                return at_bottom()
            return down(n - 1, at_bottom)

        def try_down(n):
            try:
                return down(n, lambda: "ok")
            except RecursionError:
                return "RecursionError"

        def a_run():
            def bottom():
                m.switch("parked")
                first = try_down(600)     # 1200 deep: fits under 2000
                m.switch(first)
                return try_down(600)      # limit back at 1000
            return down(600, bottom)

        a = greenlet.greenlet(a_run)
        print(a.switch())
        sys.setrecursionlimit(2000)
        print(a.switch())
        sys.setrecursionlimit(1000)
        print(a.switch())
        print(try_down(900))
        """
        rc, out, err = run_python(code)
        self.assertEqual(rc, 0, err)
        self.assertEqual(out.split("\n")[:4],
                         ["parked", "ok", "RecursionError", "ok"], err)


TRASH_COMMON = r"""
import gc, sys, greenlet
from greenlet import getcurrent

made = [0]
deleted = []


class Fin:
    __slots__ = ("tag", "hop")

    def __init__(self, hop):
        self.tag = made[0]
        made[0] += 1
        self.hop = hop

    def __del__(self):
        deleted.append(self.tag)
        if self.hop is not None:
            self.hop()


KINDS = ("tuple", "list", "dict")


def chain(depth, every, hop, kind):
    # depth-deep nesting, a finalizer every `every` levels
    x = None
    for i in range(depth):
        fin = Fin(hop) if i % every == 0 else None
        if kind == "tuple":
            x = (x, fin)
        elif kind == "list":
            x = [x, fin]
        else:
            x = {"next": x, "fin": fin}
    return x


late = []


def freeing(depth, every, hop, kind):
    # Builds a chain and drops it: when `del` returns, every finalizer of
    # the chain has run (deferred deallocation ends with the outermost
    # one of *this* greenlet, whatever other greenlets are in the middle of).
    start = made[0]
    x = chain(depth, every, hop, kind)
    end = made[0]
    del x
    done = set(deleted)
    if any(t not in done for t in range(start, end)):
        late.append((start, end))


def check():
    gc.collect()
    tags = sorted(deleted)
    ok = tags == list(range(made[0]))
    print("late", len(late))
    print("freed", ok, made[0], len(deleted))
"""


HUB = r"""
hub = getcurrent()
ready = []

def hop():
    me = getcurrent()
    if me is hub:
        return
    ready.append(me)
    hub.switch()

def task(n):
    for r in range(3):
        # Not freeing(): the list of deferred deallocations is per thread,
        # so a greenlet parked while finalizing part of this chain may
        # still hold it when `del` returns.  Exactly once is checked.
        x = chain(DEPTH, 5, hop, KINDS[(n + r) % 3])
        del x
        ready.append(getcurrent())
        hub.switch()

tasks = [greenlet.greenlet(task) for n in range(6)]
for n, t in enumerate(tasks):
    t.switch(n)
rounds = 0
while ready and rounds < 1000000:
    rounds += 1
    ready.pop(0).switch()
    if rounds % 50 == 0 and rounds <= 1000:
        y = chain(DEPTH, 13, hop, "tuple")   # the hub frees too
        del y
print("tasks dead", all(t.dead for t in tasks))
check()
"""


class TrashCanTest(GreenletTest):
    def run_trash(self, body):
        rc, out, err = run_python(TRASH_COMMON + body, timeout=300)
        self.assertEqual(rc, 0, err)
        lines = out.split("\n")
        self.assertTrue(lines[-2].startswith("freed True"), out + err)
        self.assertEqual(lines[-3], "late 0", out)
        if "tasks dead" in out:
            self.assertIn("tasks dead True", out)
        self.assertGreater(int(lines[-2].split()[2]), 100, out)
        return lines

    def test_finalizer_switches_to_worker(self):  # S120 H2
        self.run_trash(r"""
def worker_run(back):
    n = 0
    while True:
        freeing(1000, 10, None, KINDS[n % 3])
        n += 1
        back = back.switch()

worker = greenlet.greenlet(worker_run)

def hop():
    worker.switch(getcurrent())

for kind in KINDS:
    for _ in range(3):
        freeing(1000, 7, hop, kind)
check()
""")

    def test_finalizer_starts_fresh_greenlet(self):  # S120 H2
        self.run_trash(r"""
def fresh(kind):
    freeing(1000, 50, None, kind)
    return "done"

def hop():
    assert greenlet.greenlet(fresh).switch(KINDS[len(deleted) % 3]) == "done"

for kind in KINDS:
    freeing(1000, 9, hop, kind)
# inside a greenlet too
def run():
    for kind in KINDS:
        freeing(1000, 9, hop, kind)
greenlet.greenlet(run).switch()
check()
""")

    def test_hub_pattern(self):  # S120 H2 (gevent#1909)
        # Deallocation runs in task greenlets; finalizers switch to the
        # hub, which resumes other tasks (also deep in deallocation)
        # before coming back.
        self.run_trash("DEPTH = 1000\n" + HUB)

    def test_hub_pattern_deeper(self):  # S120 H2
        # 3.13 defers deallocation by C recursion budget (10000 in release
        # builds), so only deeper chains reach its trash can there.
        self.run_trash("DEPTH = 20000\n" + HUB)

    def test_gc_finalizers_switch(self):  # S120 H2
        self.run_trash(r"""
hub = getcurrent()
ready = []

def hop():
    me = getcurrent()
    if me is hub:
        return
    ready.append(me)
    hub.switch()

def cyclic_chain(kind):
    x = chain(1000, 20, hop, kind)
    holder = [x]
    holder.append(holder)     # a cycle: only the collector frees it
    return holder

def task(n):
    for r in range(2):
        c = cyclic_chain(KINDS[(n + r) % 3])
        del c
        gc.collect()
        ready.append(getcurrent())
        hub.switch()

gc.disable()
tasks = [greenlet.greenlet(task) for n in range(4)]
for n, t in enumerate(tasks):
    t.switch(n)
rounds = 0
while ready and rounds < 1000000:
    rounds += 1
    ready.pop(0).switch()
gc.enable()
print("tasks dead", all(t.dead for t in tasks))
check()
""")

    def test_very_deep_chain_in_greenlet(self):  # S120
        self.run_trash(r"""
def run():
    for kind in KINDS:
        freeing(100000, 1000, None, kind)
    return "done"
print(greenlet.greenlet(run).switch())
check()
""")


class MemoryTest(GreenletTest):
    @unittest.skipIf(os.environ.get("CG_TEST_ASAN"),
                     "RSS is meaningless under AddressSanitizer (freed memory "
                     "is held in its quarantine)")
    def test_create_switch_finish_is_flat(self):  # S121 H11
        n = 100000 if os.environ.get("CG_TEST_LIGHT") else 1000000
        code = r"""
        import gc, os, greenlet
        from greenlet import getcurrent
        N = %d
        PAGE = os.sysconf("SC_PAGE_SIZE")

        def rss():
            with open("/proc/self/statm") as f:
                return int(f.read().split()[1]) * PAGE

        m = getcurrent()

        def leaf(x):
            return [x] * 4

        def work(x):
            return len(leaf(x))

        def parked():
            leaf(0)
            m.switch()

        def cycles(count):
            for i in range(count):
                g = greenlet.greenlet(work)
                g.switch(i)
                if i %% 8 == 0:
                    h = greenlet.greenlet(parked)
                    h.switch()
                    del h       # killed (S77)

        cycles(N // 10)
        gc.collect()
        before = rss()
        cycles(N)
        gc.collect()
        after = rss()
        print(before, after)
        """ % n
        rc, out, err = run_python(code, timeout=1800)
        self.assertEqual(rc, 0, err)
        before, after = map(int, out.split())
        bound = 16 * 2**20 + 16 * n
        self.assertLess(after - before, bound,
                        "RSS grew by %d bytes over %d cycles" % (after - before, n))


if __name__ == "__main__":
    unittest.main()
