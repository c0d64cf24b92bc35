"""g.throw([typ[, val[, tb]]]) (docs/behaviour.md S56-S63)."""
import sys
import unittest

import greenlet
from greenlet import greenlet as Greenlet, getcurrent, GreenletExit
from support import GreenletTest


class Catcher:
    """A greenlet that waits in switch() and reports what arrives there:
    ("value", v) or ("raised", exception), for up to `rounds` arrivals."""

    def __init__(self, rounds=20):
        self.main = getcurrent()
        self.rounds = rounds
        self.g = Greenlet(self._run)
        if self.g.switch() != "ready":
            raise RuntimeError("Catcher did not start")

    def _run(self):
        report = "ready"
        for _ in range(self.rounds):
            try:
                report = ("value", self.main.switch(report))
            except BaseException as e:
                report = ("raised", e)
        return "done"

    def finish(self):
        while not self.g.dead:
            self.g.switch()


def _make_traceback():
    def marker_function():
        raise RuntimeError("for tb")
    try:
        marker_function()
    except RuntimeError as e:
        tb = e.__traceback__
    return tb


def _tb_entries(tb):
    entries = []
    while tb is not None:
        entries.append(tb)
        tb = tb.tb_next
    return entries


class ThrowIntoSuspendedTest(GreenletTest):
    def test_raises_at_suspension_point_and_returns_next_value(self):  # S56 S62
        main = getcurrent()
        seen = []

        def run():
            try:
                main.switch("parked")
                seen.append("not raised")
            except ValueError as e:
                seen.append(("caught", e, getcurrent() is g))
            return "after catch"

        g = Greenlet(run)
        self.assertEqual(g.switch(), "parked")
        exc = ValueError("in")
        self.assertEqual(g.throw(exc), "after catch")
        self.assertEqual(seen, [("caught", exc, True)])
        self.assertTrue(g.dead)
        seen.clear()
        del exc

    def test_raises_inside_nested_calls_and_finally_runs(self):  # S56
        main = getcurrent()
        log = []

        def inner():
            try:
                main.switch()
            finally:
                log.append("inner finally")

        def run():
            try:
                inner()
            finally:
                log.append("run finally")

        g = Greenlet(run)
        g.switch()
        with self.assertRaises(KeyError):
            g.throw(KeyError("k"))
        self.assertEqual(log, ["inner finally", "run finally"])
        self.assertTrue(g.dead)

    def test_caught_and_switched_back(self):  # S62
        c = Catcher()
        kind, exc = c.g.throw(IndexError)
        self.assertEqual(kind, "raised")
        self.assertIs(type(exc), IndexError)
        self.assertFalse(c.g.dead)
        # Later ordinary switches still work.
        self.assertEqual(c.g.switch(5), ("value", 5))
        c.finish()

    def test_caught_and_returned(self):  # S62
        main = getcurrent()

        def run():
            try:
                main.switch()
            except ArithmeticError as e:
                return ("recovered", type(e))

        g = Greenlet(run)
        g.switch()
        self.assertEqual(g.throw(ZeroDivisionError), ("recovered", ZeroDivisionError))
        self.assertTrue(g.dead)

    def test_uncaught_exception_propagates_to_caller(self):  # S62 S27
        main = getcurrent()

        def run():
            main.switch()
            self.fail("throw did not raise")

        g = Greenlet(run)
        g.switch()
        exc = LookupError("x")
        caught = None
        try:
            g.throw(exc)
        except LookupError as e:
            caught = e
        self.assertIs(caught, exc)
        self.assertIn("run", [t.tb_frame.f_code.co_name
                              for t in _tb_entries(caught.__traceback__)])
        self.assertTrue(g.dead)
        caught.__traceback__ = None
        del caught, exc

    def test_uncaught_greenlet_exit_returns_instance(self):  # S62 S28
        main = getcurrent()
        ran = []

        def run():
            main.switch()
            ran.append("after switch")

        g = Greenlet(run)
        g.switch()
        got = g.throw()
        self.assertIs(type(got), GreenletExit)
        self.assertEqual(ran, [])
        self.assertTrue(g.dead)

    def test_exception_delivered_to_parent_not_caller(self):  # S62 S27
        main = getcurrent()
        seen = []

        def parent_run():
            child = Greenlet(child_run)
            child.switch()
            try:
                main.switch("parent parked")
            except KeyError as e:
                seen.append(("parent caught", e.args))
            return "parent done"

        def child_run():
            getcurrent().parent.switch()

        p = Greenlet(parent_run)
        self.assertEqual(p.switch(), "parent parked")
        # The child's parent is p, suspended in main.switch().
        child = p.gr_frame.f_locals["child"]
        self.assertEqual(child.throw(KeyError("k")), "parent done")
        self.assertEqual(seen, [("parent caught", ("k",))])
        self.assertTrue(child.dead)
        del child


class ThrowFormsTest(GreenletTest):
    def setUp(self):
        super().setUp()
        self.c = Catcher()

    def tearDown(self):
        self.c.finish()
        del self.c
        super().tearDown()

    def arrived(self, *args):
        kind, exc = self.c.g.throw(*args)
        self.assertEqual(kind, "raised")
        return exc

    def test_no_args_is_greenlet_exit(self):  # S57
        exc = self.arrived()
        self.assertIs(type(exc), GreenletExit)
        self.assertEqual(exc.args, ())

    def test_class_only(self):  # S57
        exc = self.arrived(ValueError)
        self.assertIs(type(exc), ValueError)
        self.assertEqual(exc.args, ())

    def test_class_and_value(self):  # S57
        exc = self.arrived(ValueError, "text")
        self.assertIs(type(exc), ValueError)
        self.assertEqual(exc.args, ("text",))

    def test_class_and_none_value(self):  # S57
        exc = self.arrived(ValueError, None)
        self.assertIs(type(exc), ValueError)
        self.assertEqual(exc.args, ())

    def test_class_and_tuple_value_gives_constructor_args(self):  # S57
        exc = self.arrived(ValueError, (1, 2, 3))
        self.assertIs(type(exc), ValueError)
        self.assertEqual(exc.args, (1, 2, 3))

        class Two(Exception):
            def __init__(self, a, b):
                Exception.__init__(self, a, b)
                self.pair = (a, b)

        exc = self.arrived(Two, ("x", "y"))
        self.assertIs(type(exc), Two)
        self.assertEqual(exc.pair, ("x", "y"))

    def test_class_and_instance_value_used_as_is(self):  # S57
        inst = ValueError("mine")
        self.assertIs(self.arrived(ValueError, inst), inst)

        class Sub(ValueError):
            pass

        sub = Sub("sub")
        self.assertIs(self.arrived(ValueError, sub), sub)
        del inst, sub

    def test_class_and_foreign_value_becomes_argument(self):  # S57
        other = KeyError("k")
        exc = self.arrived(ValueError, other)
        self.assertIs(type(exc), ValueError)
        self.assertEqual(len(exc.args), 1)
        self.assertIs(exc.args[0], other)
        del other, exc

    def test_instance(self):  # S57
        inst = OSError(2, "gone")
        self.assertIs(self.arrived(inst), inst)
        self.assertIs(self.arrived(inst, None), inst)
        self.assertIs(self.arrived(inst, None, None), inst)
        del inst

    def test_greenlet_exit_instance_arrives_as_exception(self):  # S57
        inst = GreenletExit("by instance")
        self.assertIs(self.arrived(inst), inst)
        del inst

    def test_class_value_traceback_attached(self):  # S57
        tb = _make_traceback()
        exc = self.arrived(ValueError, "v", tb)
        self.assertIs(type(exc), ValueError)
        entries = _tb_entries(exc.__traceback__)
        self.assertTrue(any(t is tb for t in entries))
        self.assertIn("marker_function",
                      [t.tb_frame.f_code.co_name for t in entries])
        exc.__traceback__ = None
        del tb, exc, entries

    def test_instance_traceback_attached(self):  # S57
        tb = _make_traceback()
        inst = ValueError("i")
        exc = self.arrived(inst, None, tb)
        self.assertIs(exc, inst)
        self.assertTrue(any(t is tb for t in _tb_entries(exc.__traceback__)))
        exc.__traceback__ = None
        del tb, exc, inst

    def test_none_traceback(self):  # S57
        exc = self.arrived(ValueError, "v", None)
        self.assertIs(type(exc), ValueError)
        self.assertEqual(exc.args, ("v",))
        # Only frames of the receiving greenlet, nothing attached.
        self.assertNotIn("marker_function",
                         [t.tb_frame.f_code.co_name
                          for t in _tb_entries(exc.__traceback__)])

    def test_exc_info_forwarding(self):  # S57 H17
        def failing_helper():
            raise KeyError("forwarded")
        try:
            failing_helper()
        except KeyError:
            info = sys.exc_info()
            exc = self.arrived(*info)
        self.assertIs(exc, info[1])
        self.assertIn("failing_helper",
                      [t.tb_frame.f_code.co_name
                       for t in _tb_entries(exc.__traceback__)])
        exc.__traceback__ = None
        del info, exc

    def test_base_exception_subclasses(self):  # S57
        for cls in (KeyboardInterrupt, SystemExit, GeneratorExit, StopIteration):
            exc = self.arrived(cls)
            self.assertIs(type(exc), cls)


class ThrowArgumentErrorTest(GreenletTest):
    def setUp(self):
        super().setUp()
        self.c = Catcher()

    def tearDown(self):
        self.c.finish()
        del self.c
        super().tearDown()

    def refused(self, *args, **kwargs):
        """Asserts that throw raises TypeError in the caller without
        switching; returns the message."""
        main = getcurrent()
        events = []
        greenlet.settrace(lambda ev, a: events.append(ev))
        try:
            with self.assertRaises(TypeError) as cm:
                self.c.g.throw(*args, **kwargs)
        finally:
            greenlet.settrace(None)
        self.assertEqual(events, [])
        self.assertIs(getcurrent(), main)
        self.assertFalse(self.c.g.dead)
        # The target is still waiting, untouched.
        self.assertEqual(self.c.g.switch("probe"), ("value", "probe"))
        return str(cm.exception)

    def test_bad_traceback(self):  # S58
        text = "throw() third argument must be a traceback object"
        self.assertEqual(self.refused(ValueError, None, "tb"), text)
        self.assertEqual(self.refused(ValueError, "v", 42), text)
        self.assertEqual(self.refused(ValueError("x"), None, object()), text)

    def test_instance_with_value(self):  # S58
        text = "instance exception may not have a separate value"
        self.assertEqual(self.refused(ValueError("x"), "y"), text)
        self.assertEqual(self.refused(KeyError("x"), KeyError("y")), text)

    def test_not_an_exception(self):  # S58
        fmt = "exceptions must be classes, or instances, not %s"
        self.assertEqual(self.refused("abc"), fmt % "str")
        self.assertEqual(self.refused(int), fmt % "type")
        self.assertEqual(self.refused(1), fmt % "int")
        self.assertEqual(self.refused(object()), fmt % "object")
        self.assertEqual(self.refused(None), fmt % "NoneType")
        self.assertEqual(self.refused(object, "v"), fmt % "type")

    def test_keywords_refused(self):  # S57
        self.refused(typ=ValueError)
        self.refused(ValueError, val="v")
        self.refused(ValueError, None, tb=None)

    def test_too_many_arguments(self):  # S57
        self.refused(ValueError, "v", None, None)
        self.refused(ValueError, "v", None, None, None)

    def test_refused_on_not_started_target(self):  # S58
        ran = []
        g = Greenlet(lambda *a: ran.append(a))
        with self.assertRaises(TypeError):
            g.throw("not an exception")
        self.assertFalse(g.dead)
        self.assertFalse(g)
        self.assertEqual(ran, [])
        g.switch(1)
        self.assertEqual(ran, [(1,)])

    def test_unbound_throw_on_non_greenlet(self):  # S57 (as S24 for switch)
        with self.assertRaises(TypeError):
            Greenlet.throw(None)
        with self.assertRaises(TypeError):
            Greenlet.throw(42, ValueError)


class ThrowNotStartedTest(GreenletTest):
    def test_no_args_returns_greenlet_exit_without_running(self):  # S59
        ran = []
        g = Greenlet(lambda *a: ran.append(a))
        got = g.throw()
        self.assertIs(type(got), GreenletExit)
        self.assertEqual(ran, [])
        self.assertTrue(g.dead)
        self.assertFalse(g)
        with self.assertRaises(AttributeError):
            g.run

    def test_exception_raised_in_parent_without_running(self):  # S59
        ran = []
        g = Greenlet(lambda *a: ran.append(a))
        exc = ValueError("never ran")
        caught = None
        try:
            g.throw(exc)
        except ValueError as e:
            caught = e
        self.assertIs(caught, exc)
        self.assertEqual(ran, [])
        self.assertTrue(g.dead)
        caught.__traceback__ = None
        del caught, exc

    def test_exception_raised_in_suspended_parent(self):  # S59 S27
        main = getcurrent()
        seen = []

        def parent_run():
            try:
                main.switch("parked")
            except ValueError as e:
                seen.append(e.args)
            return "parent handled"

        p = Greenlet(parent_run)
        p.switch()
        ran = []
        g = Greenlet(lambda: ran.append("ran"), p)
        self.assertEqual(g.throw(ValueError, "to parent"), "parent handled")
        self.assertEqual(seen, [("to parent",)])
        self.assertEqual(ran, [])
        self.assertTrue(g.dead)
        self.assertTrue(p.dead)

    def test_greenlet_exit_value_to_not_started_parent(self):  # S59 S29
        seen = []

        def parent_run(*args):
            seen.append(args)
            return "parent ran"

        ran = []
        p = Greenlet(parent_run)
        g = Greenlet(lambda: ran.append("ran"), p)
        exc = GreenletExit("as value")
        self.assertEqual(g.throw(exc), "parent ran")
        self.assertEqual(len(seen), 1)
        self.assertEqual(len(seen[0]), 1)
        self.assertIs(seen[0][0], exc)
        self.assertEqual(ran, [])
        seen.clear()
        del exc

    def test_run_lookup_happens_first(self):  # S59 S17
        lookups = []
        ran = []

        class G(Greenlet):
            @property
            def run(self):
                lookups.append(getcurrent())
                return lambda: ran.append("ran")

        g = G()
        with self.assertRaises(KeyError):
            g.throw(KeyError)
        self.assertEqual(lookups, [getcurrent()])
        self.assertEqual(ran, [])
        self.assertTrue(g.dead)

    def test_failing_lookup_raises_in_caller_and_stays_not_started(self):  # S59 S17
        fail = [True]

        class Broken(Exception):
            pass

        class G(Greenlet):
            @property
            def run(self):
                if fail[0]:
                    raise Broken("lookup failed")
                return lambda x: ("ran", x)

        g = G()
        with self.assertRaises(Broken):
            g.throw(ValueError)
        self.assertFalse(g.dead)
        self.assertFalse(g)
        self.assertIn("pending", repr(g))
        fail[0] = False
        self.assertEqual(g.switch(3), ("ran", 3))

    def test_missing_run_raises_attribute_error(self):  # S59 S17
        g = Greenlet()
        with self.assertRaises(AttributeError):
            g.throw(ValueError)
        self.assertFalse(g.dead)
        g.run = lambda: "late run"
        self.assertEqual(g.switch(), "late run")

    def test_thrown_exception_survives_lookup_code(self):  # S59 S17
        class G(Greenlet):
            @property
            def run(self):
                try:
                    {}["missing"]
                except KeyError:
                    pass
                return lambda: None

        exc = ValueError("survives")
        caught = None
        try:
            G().throw(exc)
        except ValueError as e:
            caught = e
        self.assertIs(caught, exc)
        caught.__traceback__ = None
        del caught, exc

    def test_trace_events(self):  # S59 S99
        main = getcurrent()
        events = []
        g = Greenlet(lambda: None)
        greenlet.settrace(lambda ev, a: events.append((ev, a)))
        try:
            with self.assertRaises(ValueError):
                g.throw(ValueError)
        finally:
            greenlet.settrace(None)
        self.assertEqual(events, [("throw", (main, g)), ("throw", (g, main))])


class ThrowDeadTest(GreenletTest):
    def _dead(self):
        g = Greenlet(lambda: None)
        g.switch()
        self.assertTrue(g.dead)
        return g

    def test_greenlet_exit_becomes_value(self):  # S60
        g = self._dead()
        got = g.throw()
        self.assertIs(type(got), GreenletExit)
        inst = GreenletExit("mine")
        self.assertIs(g.throw(inst), inst)
        self.assertIs(type(g.throw(GreenletExit, "v")), GreenletExit)
        self.assertTrue(g.dead)
        del inst

    def test_greenlet_exit_subclass_becomes_value(self):  # S60
        class MyExit(GreenletExit):
            pass

        got = self._dead().throw(MyExit, "sub")
        self.assertIs(type(got), MyExit)
        self.assertEqual(got.args, ("sub",))

    def test_other_exception_raised_in_caller(self):  # S60
        g = self._dead()
        exc = ValueError("at caller")
        caught = None
        try:
            g.throw(exc)
        except ValueError as e:
            caught = e
        self.assertIs(caught, exc)
        self.assertTrue(g.dead)
        caught.__traceback__ = None
        del caught, exc

    def test_other_exception_raised_in_live_ancestor(self):  # S60
        main = getcurrent()
        seen = []

        def parent_run():
            try:
                main.switch("parked")
            except KeyError as e:
                seen.append(e.args)
            main.switch("handled")

        p = Greenlet(parent_run)
        p.switch()
        g = self._dead()
        g.parent = p
        self.assertEqual(g.throw(KeyError, "k"), "handled")
        self.assertEqual(seen, [("k",)])
        p.switch()
        self.assertTrue(p.dead)

    def test_greenlet_exit_value_to_live_ancestor(self):  # S60
        main = getcurrent()
        seen = []

        def parent_run():
            got = main.switch("parked")
            seen.append(type(got))
            return "received"

        p = Greenlet(parent_run)
        p.switch()
        g = self._dead()
        g.parent = p
        self.assertEqual(g.throw(), "received")
        self.assertEqual(seen, [GreenletExit])

    def test_exception_through_dead_to_not_started_ancestor(self):  # S60 S29
        ran = []
        anc = Greenlet(lambda *a: ran.append(a))
        g = self._dead()
        g.parent = anc
        with self.assertRaises(OSError):
            g.throw(OSError)
        self.assertEqual(ran, [])
        self.assertTrue(anc.dead)


class ThrowAtCurrentTest(GreenletTest):
    def test_throw_at_main(self):  # S61
        main = getcurrent()
        with self.assertRaises(GreenletExit):
            main.throw()
        with self.assertRaises(KeyError) as cm:
            main.throw(KeyError, "k")
        self.assertEqual(cm.exception.args, ("k",))
        exc = ValueError("v")
        caught = None
        try:
            main.throw(exc)
        except ValueError as e:
            caught = e
        self.assertIs(caught, exc)
        self.assertIs(getcurrent(), main)
        self.assertFalse(main.dead)
        caught.__traceback__ = None
        del cm, caught, exc

    def test_throw_at_running_greenlet(self):  # S61
        seen = []

        def run():
            me = getcurrent()
            try:
                me.throw(IndexError, "self")
            except IndexError as e:
                seen.append(("caught", e.args, getcurrent() is me))
            try:
                me.throw()
            except GreenletExit:
                seen.append("exit caught")
            return "still alive"

        g = Greenlet(run)
        self.assertEqual(g.switch(), "still alive")
        self.assertEqual(seen, [("caught", ("self",), True), "exit caught"])

    def test_uncaught_throw_at_self_finishes_greenlet(self):  # S61 S28
        def run():
            getcurrent().throw()
            return "not reached"

        got = Greenlet(run).switch()
        self.assertIs(type(got), GreenletExit)


if __name__ == "__main__":
    unittest.main()
