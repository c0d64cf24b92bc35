"""Greenlet trace callbacks and Python-level tracing across switches
(docs/behaviour.md: S67-S69, S97-S106, H6)."""
import json
import sys
import threading
import unittest

import greenlet
from greenlet import getcurrent
from support import GreenletTest, run_python


class Recorder:
    """A greenlet trace callback keeping (event, origin, target, current)."""

    def __init__(self):
        self.events = []

    def __call__(self, event, args):
        origin, target = args
        self.events.append((event, origin, target, getcurrent()))

    def pairs(self):
        return [(e, o, t) for e, o, t, _ in self.events]


class SettraceApiTest(GreenletTest):
    def test_settrace_returns_previous(self):  # S67 S68
        def a(event, args):
            pass

        def b(event, args):
            pass

        self.assertIsNone(greenlet.gettrace())
        self.assertIsNone(greenlet.settrace(a))
        self.assertIs(greenlet.gettrace(), a)
        self.assertIs(greenlet.settrace(b), a)
        self.assertIs(greenlet.gettrace(), b)
        self.assertIs(greenlet.settrace(None), b)
        self.assertIsNone(greenlet.gettrace())
        self.assertIsNone(greenlet.settrace(None))

    def test_settrace_none_stops_events(self):  # S67
        rec = Recorder()
        greenlet.settrace(rec)
        greenlet.greenlet(lambda: None).switch()
        self.assertEqual(len(rec.events), 2)
        greenlet.settrace(None)
        greenlet.greenlet(lambda: None).switch()
        self.assertEqual(len(rec.events), 2)

    def test_same_object_twice(self):  # S67
        rec = Recorder()
        self.assertIsNone(greenlet.settrace(rec))
        self.assertIs(greenlet.settrace(rec), rec)
        self.assertIs(greenlet.gettrace(), rec)
        greenlet.greenlet(lambda: None).switch()
        self.assertEqual(len(rec.events), 2)

    def test_any_object_accepted(self):  # S67
        obj = object()
        self.assertIsNone(greenlet.settrace(obj))
        self.assertIs(greenlet.gettrace(), obj)
        self.assertIs(greenlet.settrace(42), obj)
        self.assertEqual(greenlet.gettrace(), 42)
        self.assertEqual(greenlet.settrace(None), 42)

    def test_arity(self):  # S67
        def f(event, args):
            pass

        with self.assertRaises(TypeError):
            greenlet.settrace()
        with self.assertRaises(TypeError):
            greenlet.settrace(f, f)
        with self.assertRaises(TypeError):
            greenlet.settrace(callback=f)
        self.assertIsNone(greenlet.gettrace())

    def test_class_attributes(self):  # S4 S67
        rec = Recorder()
        self.assertIsNone(greenlet.greenlet.settrace(rec))
        self.assertIs(greenlet.greenlet.gettrace(), rec)

    def test_new_thread_starts_without_callback(self):  # S68 S76
        mine = Recorder()
        greenlet.settrace(mine)
        seen = {}

        def thread_main():
            seen["initial"] = greenlet.gettrace()
            theirs = Recorder()
            seen["prev"] = greenlet.settrace(theirs)
            greenlet.greenlet(lambda: None).switch()
            seen["theirs"] = len(theirs.events)
            seen["after"] = greenlet.settrace(None)
            seen["theirs_obj"] = theirs

        t = threading.Thread(target=thread_main)
        t.start()
        t.join()
        self.assertIsNone(seen["initial"])
        self.assertIsNone(seen["prev"])
        self.assertEqual(seen["theirs"], 2)
        self.assertIs(seen["after"], seen["theirs_obj"])
        # The other thread's switches were never reported here, and our
        # callback is still installed.
        self.assertEqual(mine.events, [])
        self.assertIs(greenlet.gettrace(), mine)


class TraceEventsTest(GreenletTest):
    def setUp(self):
        super().setUp()
        self.rec = Recorder()

    def tearDown(self):
        self.rec = None     # it holds greenlets
        super().tearDown()

    def trace(self):
        greenlet.settrace(self.rec)

    def test_start_and_return(self):  # S97 S98 S99
        m = getcurrent()
        g = greenlet.greenlet(lambda: 7)
        self.trace()
        self.assertEqual(g.switch(), 7)
        greenlet.settrace(None)
        self.assertEqual(self.rec.pairs(),
                         [("switch", m, g), ("switch", g, m)])

    def test_switch_back_and_forth(self):  # S97 S98
        m = getcurrent()

        def run():
            m.switch(1)
            return 2

        g = greenlet.greenlet(run)
        self.trace()
        self.assertEqual(g.switch(), 1)
        self.assertEqual(g.switch(), 2)
        greenlet.settrace(None)
        self.assertEqual(self.rec.pairs(),
                         [("switch", m, g), ("switch", g, m),
                          ("switch", m, g), ("switch", g, m)])

    def test_finish_with_exception(self):  # S98 S99
        m = getcurrent()

        def run():
            raise ValueError("boom")

        g = greenlet.greenlet(run)
        self.trace()
        with self.assertRaises(ValueError):
            g.switch()
        greenlet.settrace(None)
        self.assertEqual(self.rec.pairs(),
                         [("switch", m, g), ("throw", g, m)])

    def test_throw_not_started(self):  # S99 S59
        m = getcurrent()
        called = []
        g = greenlet.greenlet(lambda: called.append(1))
        self.trace()
        with self.assertRaises(KeyError):
            g.throw(KeyError)
        greenlet.settrace(None)
        self.assertEqual(called, [])
        self.assertTrue(g.dead)
        self.assertEqual(self.rec.pairs(),
                         [("throw", m, g), ("throw", g, m)])

    def test_throw_suspended_and_caught(self):  # S98
        m = getcurrent()

        def run():
            try:
                m.switch()
            except KeyError:
                return "caught"

        g = greenlet.greenlet(run)
        g.switch()
        self.trace()
        self.assertEqual(g.throw(KeyError), "caught")
        greenlet.settrace(None)
        self.assertEqual(self.rec.pairs(),
                         [("throw", m, g), ("switch", g, m)])

    def test_greenletexit_death_is_switch(self):  # S98 S28
        m = getcurrent()
        g = greenlet.greenlet(lambda: m.switch())
        g.switch()
        self.trace()
        res = g.throw()
        greenlet.settrace(None)
        self.assertIsInstance(res, greenlet.GreenletExit)
        self.assertEqual(self.rec.pairs(),
                         [("throw", m, g), ("switch", g, m)])

    def test_self_switch(self):  # S98 S22
        m = getcurrent()
        self.trace()
        self.assertEqual(m.switch(5), 5)
        greenlet.settrace(None)
        self.assertEqual(self.rec.pairs(), [("switch", m, m)])

    def test_self_switch_in_greenlet(self):  # S98 S22
        m = getcurrent()
        g = greenlet.greenlet(lambda: getcurrent().switch("x") * 2)
        self.trace()
        self.assertEqual(g.switch(), "xx")
        greenlet.settrace(None)
        self.assertEqual(self.rec.pairs(),
                         [("switch", m, g), ("switch", g, g),
                          ("switch", g, m)])

    def test_switch_to_dead_reaches_ancestor(self):  # S98 S21
        m = getcurrent()
        dead = greenlet.greenlet(lambda: None)
        dead.switch()
        # From g (a child of m), switching to the dead greenlet arrives
        # in m, its parent: the event names m, not the dead greenlet.
        g = greenlet.greenlet(lambda: dead.switch("via dead"))
        self.trace()
        self.assertEqual(g.switch(), "via dead")
        self.assertEqual(self.rec.pairs(),
                         [("switch", m, g), ("switch", g, m)])
        del self.rec.events[:]
        # From m itself, the value comes straight back.
        self.assertEqual(dead.switch(3), 3)
        self.assertEqual(self.rec.pairs(), [("switch", m, m)])
        del self.rec.events[:]
        g.switch()   # finish it
        greenlet.settrace(None)
        self.assertTrue(g.dead)
        self.assertEqual(self.rec.pairs(),
                         [("switch", m, g), ("switch", g, m)])

    def test_finish_into_dead_parent(self):  # S98 S29
        m = getcurrent()
        parent = greenlet.greenlet(lambda: None)
        parent.switch()

        def run():
            return "to grandparent"

        g = greenlet.greenlet(run, parent)
        self.trace()
        self.assertEqual(g.switch(), "to grandparent")
        greenlet.settrace(None)
        self.assertEqual(self.rec.pairs(),
                         [("switch", m, g), ("switch", g, m)])

    def test_exception_through_not_started_parents(self):  # S97 S29
        # Upstream traces one hop into and one out of every not-started
        # greenlet the exception passes through (it dies unrun).
        m = getcurrent()
        q = greenlet.greenlet(lambda: "q ran")
        p = greenlet.greenlet(lambda: "p ran", q)

        def boom():
            raise KeyError("boom")

        g = greenlet.greenlet(boom, p)
        self.trace()
        with self.assertRaises(KeyError):
            g.switch()
        greenlet.settrace(None)
        self.assertEqual(self.rec.pairs(),
                         [("switch", m, g), ("throw", g, p), ("throw", p, q),
                          ("throw", q, m)])
        self.assertTrue(p.dead and q.dead)

    def test_throw_into_dying_into_not_started_parent(self):  # S97 S29
        m = getcurrent()
        p = greenlet.greenlet(lambda: "p ran")
        g = greenlet.greenlet(lambda: m.switch(), p)
        g.switch()
        self.trace()
        with self.assertRaises(ValueError):
            g.throw(ValueError)
        greenlet.settrace(None)
        self.assertEqual(self.rec.pairs(),
                         [("throw", m, g), ("throw", g, p), ("throw", p, m)])

    def test_hops_traced_where_a_started_greenlet_finishes_safely(self):  # S97 S102
        # A callback that runs a throwaway greenlet during the hop events:
        # it must finish back into the callback's greenlet, and the
        # exception must still arrive where it was going (the fuzzer saw
        # the throwaway's result arrive at main instead).
        m = getcurrent()
        seen = []

        def cb(event, args):
            if greenlet.gettrace() is cb:
                greenlet.settrace(None)
                try:
                    seen.append(greenlet.greenlet(lambda: event).switch())
                finally:
                    greenlet.settrace(cb)

        p = greenlet.greenlet(lambda: "p ran")
        g = greenlet.greenlet(lambda: "g ran", p)
        greenlet.settrace(cb)
        with self.assertRaises(KeyError):
            g.throw(KeyError("k"))
        greenlet.settrace(None)
        self.assertEqual(seen, ["throw", "throw", "throw"])
        self.assertTrue(g.dead and p.dead)
        self.assertIs(getcurrent(), m)

    def test_throw_past_dead_into_not_started_reaches_self(self):  # S97 S21
        m = getcurrent()
        p = greenlet.greenlet(lambda: "p ran")
        g = greenlet.greenlet(lambda: None, p)
        g.parent = m
        g.switch()
        g.parent = p        # dead g, then not-started p, then main itself
        self.trace()
        with self.assertRaises(ValueError):
            g.throw(ValueError)
        greenlet.settrace(None)
        self.assertEqual(self.rec.pairs(), [("throw", m, p), ("throw", p, m)])

    def test_callback_runs_with_target_current(self):  # S99
        m = getcurrent()
        progress = []
        seen = []

        def cb(event, args):
            seen.append((getcurrent() is args[1], list(progress)))

        def run():
            progress.append("started")
            m.switch()
            progress.append("resumed")

        g = greenlet.greenlet(run)
        greenlet.settrace(cb)
        g.switch()
        g.switch()
        greenlet.settrace(None)
        # Events: m->g (start), g->m, m->g (resume), g->m (finish).  The
        # target's own code has not yet run when the callback sees it.
        self.assertEqual(seen, [
            (True, []),
            (True, ["started"]),
            (True, ["started"]),
            (True, ["started", "resumed"]),
        ])

    def test_raising_callback_into_suspended(self):  # S100
        m = getcurrent()

        class Boom(Exception):
            pass

        def run():
            try:
                m.switch()
            except Boom as e:
                return ("run got", type(e).__name__)
            return "no exception"

        g = greenlet.greenlet(run)
        g.switch()

        def cb(event, args):
            if args[1] is g:
                raise Boom

        greenlet.settrace(cb)
        self.assertEqual(g.switch("lost value"), ("run got", "Boom"))
        self.assertIsNone(greenlet.gettrace())
        self.assertTrue(g.dead)

    def test_raising_callback_into_parent(self):  # S100
        m = getcurrent()

        def run():
            return "lost value"

        def cb(event, args):
            if args[1] is m:
                raise IndexError("from callback")

        g = greenlet.greenlet(run)
        greenlet.settrace(cb)
        with self.assertRaises(IndexError) as ctx:
            g.switch()
        self.assertEqual(str(ctx.exception), "from callback")
        self.assertIsNone(greenlet.gettrace())
        self.assertTrue(g.dead)

    def test_raising_callback_on_start(self):  # S100
        m = getcurrent()
        called = []
        rec = Recorder()

        def cb(event, args):
            rec(event, args)
            if args[1] is not m:
                raise LookupError("at start")

        g = greenlet.greenlet(lambda *a: called.append(a))
        greenlet.settrace(cb)
        with self.assertRaises(LookupError):
            g.switch(1, 2)
        self.assertEqual(called, [])
        self.assertTrue(g.dead)
        self.assertIsNone(greenlet.gettrace())
        # The callback was removed: the death of g was not reported.
        self.assertEqual(rec.pairs(), [("switch", m, g)])

    def test_raising_callback_replaces_throw(self):  # S100
        m = getcurrent()

        def run():
            try:
                m.switch()
            except KeyError:
                return "KeyError"
            except OSError:
                return "OSError"

        g = greenlet.greenlet(run)
        g.switch()

        def cb(event, args):
            raise OSError("callback")

        greenlet.settrace(cb)
        self.assertEqual(g.throw(KeyError), "OSError")
        self.assertIsNone(greenlet.gettrace())

    def test_throw_survives_normal_callback(self):  # S101
        m = getcurrent()

        def run():
            try:
                m.switch()
            except KeyError as e:
                return ("KeyError", e.args)

        g = greenlet.greenlet(run)
        g.switch()
        self.trace()
        self.assertEqual(g.throw(KeyError("k")), ("KeyError", ("k",)))
        greenlet.settrace(None)
        self.assertEqual([e for e, _, _ in self.rec.pairs()],
                         ["throw", "switch"])

    def test_throw_not_started_survives_normal_callback(self):  # S101 S59
        g = greenlet.greenlet(lambda: None)
        self.trace()
        with self.assertRaises(ValueError) as ctx:
            g.throw(ValueError("v"))
        greenlet.settrace(None)
        self.assertEqual(ctx.exception.args, ("v",))
        self.assertEqual([e for e, _, _ in self.rec.pairs()],
                         ["throw", "throw"])

    def test_exc_info_inside_callback(self):  # S101
        m = getcurrent()
        seen = []

        def cb(event, args):
            seen.append((event, args[1] is m, sys.exc_info()[0]))

        def run():
            try:
                raise KeyError
            except KeyError:
                try:
                    m.switch()
                except ValueError:
                    pass
                m.switch()

        g = greenlet.greenlet(run)
        g.switch()
        greenlet.settrace(cb)
        g.throw(ValueError)     # g handles KeyError while suspended
        try:
            raise OSError
        except OSError:
            g.switch()          # back into g from inside main's except
        greenlet.settrace(None)
        self.assertEqual(seen, [
            ("throw", False, KeyError),     # not the ValueError in transit
            ("switch", True, None),          # main handles nothing here
            ("switch", False, KeyError),     # not main's OSError
            ("switch", True, OSError),       # main's own state restored
        ])

    def test_reentrant_switch_from_callback(self):  # S102 S103 H6
        m = getcurrent()
        rec = Recorder()
        state = {"busy": False, "third": None}

        def third_run(x):
            return ("third saw", x)

        def cb(event, args):
            rec(event, args)
            if state["busy"] or state["third"] is not None:
                return
            state["busy"] = True
            try:
                # A new greenlet whose parent is the target (now current).
                state["third"] = greenlet.greenlet(third_run)
                state["third_result"] = state["third"].switch("hello")
            finally:
                state["busy"] = False

        def run(a, b):
            return a + b

        g = greenlet.greenlet(run)
        greenlet.settrace(cb)
        self.assertEqual(g.switch(2, 3), 5)
        greenlet.settrace(None)
        third = state["third"]
        self.assertEqual(state["third_result"], ("third saw", "hello"))
        self.assertEqual(rec.pairs(), [
            ("switch", m, g),
            ("switch", g, third),
            ("switch", third, g),
            ("switch", g, m),
        ])

    def test_reentrant_wrong_arity_start(self):  # S102 S100 H6
        m = getcurrent()
        ran = []

        def takes_nothing():
            ran.append("third")

        third = []

        def cb(event, args):
            if args[1] is not m and not third:
                # Starting with a wrong number of arguments raises in the
                # third greenlet, which dies into its parent (the target,
                # current here); it escapes the callback (S100).
                third.append(greenlet.greenlet(takes_nothing))
                third[0].switch(1)

        g = greenlet.greenlet(lambda: ran.append("g"))
        greenlet.settrace(cb)
        with self.assertRaises(TypeError):
            g.switch()
        self.assertIsNone(greenlet.gettrace())
        self.assertEqual(ran, [])
        self.assertTrue(g.dead)
        self.assertTrue(third[0].dead)
        del third[:]

    def test_reentrant_switching_subprocess(self):  # S102 H6
        # A callback that bounces through a helper greenlet on every
        # event, with a recursion guard, while two greenlets exchange
        # values: nothing is lost, duplicated or misdelivered.
        code = r"""
        import json, greenlet
        from greenlet import getcurrent
        m = getcurrent()
        bounces = [0]
        busy = [False]
        helper = None

        def helper_run(back):
            while True:
                # go back to whoever switched here; it sends itself again
                back = back.switch("bounced")

        def cb(event, pair):
            global helper
            if busy[0]:
                return
            busy[0] = True
            try:
                if helper is None or helper.dead:
                    helper = greenlet.greenlet(helper_run)
                r = helper.switch(getcurrent())
                assert r == "bounced", r
                bounces[0] += 1
            finally:
                busy[0] = False

        def ping():
            total = 0
            v = m.switch("ready")
            while v is not None:
                total += v
                v = m.switch(("ack", v))
            return ("total", total)

        g = greenlet.greenlet(ping)
        greenlet.settrace(cb)
        out = [g.switch()]
        for i in range(200):
            out.append(g.switch(i))
        out.append(g.switch(None))
        greenlet.settrace(None)
        ok = (out[0] == "ready"
              and out[1:-1] == [("ack", i) for i in range(200)]
              and out[-1] == ("total", sum(range(200))))
        print(json.dumps({"ok": ok, "bounces": bounces[0],
                          "dead": g.dead}))
        """
        rc, out, err = run_python(code)
        self.assertEqual(rc, 0, err)
        res = json.loads(out)
        self.assertTrue(res["ok"], out)
        self.assertTrue(res["dead"])
        # At least one bounce per transfer of the 202 round trips.
        self.assertGreaterEqual(res["bounces"], 2 * 202)

    def test_python_tracing_suspended_in_callback(self):  # S103
        calls = []

        def helper_in_callback():
            return 1

        def py_tracer(frame, event, arg):
            if event == "call":
                calls.append(frame.f_code.co_name)
            return None

        def cb(event, args):
            helper_in_callback()

        def run():
            helper_in_run()

        def helper_in_run():
            return 2

        g = greenlet.greenlet(run)
        greenlet.settrace(cb)
        old = sys.gettrace()
        sys.settrace(py_tracer)
        try:
            g.switch()
        finally:
            sys.settrace(old)
            greenlet.settrace(None)
        self.assertIn("run", calls)
        self.assertIn("helper_in_run", calls)
        self.assertNotIn("helper_in_callback", calls)
        self.assertNotIn("cb", calls)

    def test_python_profiling_suspended_in_callback(self):  # S103
        calls = []

        def helper_in_callback():
            return 1

        def profiler(frame, event, arg):
            if event == "call":
                calls.append(frame.f_code.co_name)

        def cb(event, args):
            helper_in_callback()

        g = greenlet.greenlet(lambda: None)
        greenlet.settrace(cb)
        sys.setprofile(profiler)
        try:
            g.switch()
        finally:
            sys.setprofile(None)
            greenlet.settrace(None)
        self.assertIn("<lambda>", calls)
        self.assertNotIn("helper_in_callback", calls)
        self.assertNotIn("cb", calls)


NAMES = {"switch", "run_body", "inner", "after"}


class PythonTracingTest(GreenletTest):
    def setUp(self):
        super().setUp()
        self.events = []
        self.addCleanup(sys.setprofile, None)
        self.addCleanup(sys.settrace, sys.gettrace())

    def profiler(self, frame, event, arg):
        name = arg.__name__ if event.startswith("c_") else frame.f_code.co_name
        if name in NAMES:
            self.events.append((event, name))

    def tracer(self, frame, event, arg):
        if frame.f_code.co_name in NAMES and event in ("call", "return"):
            self.events.append((event, frame.f_code.co_name))
        return self.tracer

    def test_settrace_sees_run(self):  # S104
        def inner():
            return 1

        def run_body():
            inner()
            return 2

        g = greenlet.greenlet(run_body)
        sys.settrace(self.tracer)
        g.switch()
        sys.settrace(None)
        self.assertEqual(self.events, [("call", "run_body"), ("call", "inner"),
                                       ("return", "inner"),
                                       ("return", "run_body")])

    def test_settrace_is_per_thread_not_per_greenlet(self):  # S104
        m = getcurrent()

        def after():
            return 3

        def run_body():
            sys.settrace(self.tracer)
            m.switch()
            # Removed in main: gone here too.
            self.assertIsNone(sys.gettrace())
            return "done"

        g = greenlet.greenlet(run_body)
        g.switch()
        self.assertIs(sys.gettrace().__func__, PythonTracingTest.tracer)
        after()
        sys.settrace(None)
        self.assertEqual(g.switch(), "done")
        self.assertEqual(self.events, [("call", "after"), ("return", "after")])

    def test_setprofile_is_per_thread_not_per_greenlet(self):  # S104
        m = getcurrent()
        seen = []

        def run_body():
            sys.setprofile(self.profiler)
            m.switch()
            seen.append(sys.getprofile())
            inner()

        def inner():
            return 1

        g = greenlet.greenlet(run_body)
        g.switch()
        self.assertIsNotNone(sys.getprofile())
        g.switch()
        sys.setprofile(None)
        self.assertIsNotNone(seen[0])
        self.assertIn(("call", "inner"), self.events)
        # Removing it in one greenlet removes it for all of them.
        def report():
            m.switch(sys.getprofile())
            return sys.getprofile()

        g2 = greenlet.greenlet(report)
        sys.setprofile(self.profiler)
        self.assertIsNotNone(g2.switch())
        sys.setprofile(None)
        self.assertIsNone(g2.switch())

    def test_setprofile_event_order(self):  # S105
        def inner():
            return 1

        def run_body():
            inner()
            return 2

        g = greenlet.greenlet(run_body)
        sys.setprofile(self.profiler)
        g.switch()
        sys.setprofile(None)
        self.assertEqual(self.events, [
            ("c_call", "switch"),
            ("call", "run_body"),
            ("call", "inner"),
            ("return", "inner"),
            ("return", "run_body"),
            ("c_return", "switch"),
        ])

    def test_profiler_installed_inside_run(self):  # S105
        def inner():
            return 1

        def after():
            return 3

        def run_body():
            sys.setprofile(self.profiler)
            inner()
            return 2

        g = greenlet.greenlet(run_body)
        g.switch()
        after()
        sys.setprofile(None)
        self.assertEqual(self.events, [
            ("call", "inner"),
            ("return", "inner"),
            ("return", "run_body"),
            ("call", "after"),
            ("return", "after"),
        ])

    def test_profiler_across_suspended_greenlets(self):  # S104 S105
        m = getcurrent()

        def inner():
            return 1

        def run_body():
            m.switch()
            inner()

        g = greenlet.greenlet(run_body)
        g.switch()
        sys.setprofile(self.profiler)
        g.switch()
        sys.setprofile(None)
        self.assertEqual(self.events, [
            ("c_call", "switch"),
            ("call", "inner"),
            ("return", "inner"),
            ("return", "run_body"),
            ("c_return", "switch"),
        ])


@unittest.skipIf(sys.version_info < (3, 12), "sys.monitoring is 3.12+")
class MonitoringTest(GreenletTest):
    def test_monitoring_across_switches(self):  # S106
        # In a subprocess: a broken implementation trips interpreter
        # assertions (greenlet#368).  Tools are turned on and off while
        # greenlets are suspended, so they resume under a different
        # instrumentation version.
        code = r"""
        import sys, greenlet
        from greenlet import getcurrent
        mon = sys.monitoring
        E = mon.events
        TOOL = 3
        mon.use_tool_id(TOOL, "cgreenlet-test")
        starts = []
        def on_start(code, offset):
            starts.append(code.co_name)
        def on_return(code, offset, retval):
            pass
        def on_call(code, offset, callable, arg0):
            pass
        mon.register_callback(TOOL, E.PY_START, on_start)
        mon.register_callback(TOOL, E.PY_RETURN, on_return)
        mon.register_callback(TOOL, E.CALL, on_call)
        m = getcurrent()

        def leaf(i):
            return i + 1

        def worker(n):
            total = 0
            for i in range(n):
                total += leaf(i)
                m.switch(total)
            return total

        def gen_worker():
            def gen():
                for i in range(20):
                    yield m.switch(i)
            return sum(x or 0 for x in gen())

        ws = [greenlet.greenlet(worker) for _ in range(5)]
        for w in ws:
            w.switch(50)                    # suspended, not monitored yet
        gw = greenlet.greenlet(gen_worker)
        gw.switch()
        for rnd in range(50):
            if rnd % 10 == 0:
                mon.set_events(TOOL, E.PY_START | E.PY_RETURN | E.CALL)
            elif rnd % 10 == 5:
                mon.set_events(TOOL, 0)
            elif rnd % 10 == 7:
                mon.set_events(TOOL, E.PY_START)
            for w in ws:
                w.switch()
            if not gw.dead:
                gw.switch(rnd)
        for w in ws:
            while not w.dead:
                w.switch()
        while not gw.dead:
            gw.switch(0)
        mon.set_events(TOOL, E.PY_START)
        greenlet.greenlet(worker).switch(0)
        mon.set_events(TOOL, 0)
        mon.free_tool_id(TOOL)
        print("worker" in starts, "leaf" in starts, all(w.dead for w in ws))
        """
        rc, out, err = run_python(code)
        self.assertEqual(rc, 0, err)
        self.assertEqual(out.split(), ["True", "True", "True"], err)


if __name__ == "__main__":
    unittest.main()
