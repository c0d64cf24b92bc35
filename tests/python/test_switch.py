"""Starting, switching and finishing greenlets (docs/behaviour.md S16-S30,
H8, H9)."""
import gc
import sys
import unittest
import weakref

import greenlet
from greenlet import greenlet as Greenlet, getcurrent, GreenletExit
from support import GreenletTest


def _tb_code_names(tb):
    names = []
    while tb is not None:
        names.append(tb.tb_frame.f_code.co_name)
        tb = tb.tb_next
    return names


class StartTest(GreenletTest):
    def test_run_called_with_args_and_kwargs(self):  # S16
        seen = []

        def run(*args, **kwargs):
            seen.append((args, kwargs, getcurrent()))

        g = Greenlet(run)
        self.assertIsNone(g.switch(1, "two", three=3, four=[4]))
        self.assertEqual(len(seen), 1)
        args, kwargs, cur = seen[0]
        self.assertEqual(args, (1, "two"))
        self.assertEqual(kwargs, {"three": 3, "four": [4]})
        self.assertIs(cur, g)

    def test_run_called_without_args(self):  # S16
        seen = []

        def run(*args, **kwargs):
            seen.append((args, kwargs))

        Greenlet(run).switch()
        self.assertEqual(seen, [((), {})])

    def test_outermost_frame_has_no_back(self):  # S16
        main = getcurrent()
        seen = []

        def run():
            frame = sys._getframe()
            seen.append(frame.f_back)
            inner()

        def inner():
            main.switch()

        g = Greenlet(run)
        g.switch()
        self.assertEqual(seen, [None])
        # Walking the suspended greenlet's frames outward also ends at run.
        frame = g.gr_frame
        self.assertEqual(frame.f_code.co_name, "inner")
        names = []
        for _ in range(50):
            if frame is None:
                break
            names.append(frame.f_code.co_name)
            frame = frame.f_back
        self.assertEqual(names, ["inner", "run"])
        g.switch()
        self.assertTrue(g.dead)

    def test_switch_does_not_return_before_switched_back(self):  # S23
        main = getcurrent()
        log = []

        def run():
            log.append("g1")
            main.switch()
            log.append("g2")

        g = Greenlet(run)
        log.append("m1")
        g.switch()
        log.append("m2")
        g.switch()
        log.append("m3")
        self.assertEqual(log, ["m1", "g1", "m2", "g2", "m3"])


class RunLookupTest(GreenletTest):
    def test_subclass_method_wins_over_constructor_run(self):  # S17
        seen = []

        class G(Greenlet):
            def run(self, x):
                seen.append(("method", x))
                return "method"

        g = G(lambda x: seen.append(("ctor", x)))
        self.assertEqual(g.switch(1), "method")
        self.assertEqual(seen, [("method", 1)])

    def test_property_run_wins(self):  # S17
        seen = []

        class G(Greenlet):
            @property
            def run(self):
                seen.append("lookup")
                return lambda: "from property"

        g = G(lambda: "from ctor")
        self.assertEqual(seen, [])
        self.assertEqual(g.switch(), "from property")
        self.assertEqual(seen, ["lookup"])

    def test_getattribute_run_wins(self):  # S17
        seen = []

        class G(Greenlet):
            def __getattribute__(self, name):
                if name == "run":
                    seen.append("lookup")
                    return lambda *a: ("hooked", a)
                return Greenlet.__getattribute__(self, name)

        g = G(lambda *a: ("ctor", a))
        self.assertEqual(g.switch(5), ("hooked", (5,)))
        self.assertEqual(seen, ["lookup"])

    def test_lookup_happens_at_start_time(self):  # S17
        choice = ["first"]

        class G(Greenlet):
            @property
            def run(self):
                chosen = choice[0]
                return lambda: chosen

        g = G()
        choice[0] = "second"
        self.assertEqual(g.switch(), "second")

    def test_failing_lookup_raises_in_caller_and_stays_not_started(self):  # S17 S25
        main = getcurrent()
        fail = [True]
        seen = []

        class Boom(Exception):
            pass

        class G(Greenlet):
            @property
            def run(self):
                seen.append(getcurrent())
                if fail[0]:
                    raise Boom("no run yet")
                return lambda x: ("ran", x)

        g = G(parent=main)
        g.extra = "kept"
        with self.assertRaises(Boom):
            g.switch(1)
        self.assertIs(getcurrent(), main)
        self.assertEqual(seen, [main])
        self.assertFalse(g)
        self.assertFalse(g.dead)
        self.assertIsNone(g.gr_frame)
        self.assertIs(g.parent, main)
        self.assertEqual(g.extra, "kept")
        self.assertIn("pending", repr(g))
        # A later switch may succeed.
        fail[0] = False
        self.assertEqual(g.switch(2), ("ran", 2))
        self.assertTrue(g.dead)

    def test_missing_run_raises_attribute_error_and_stays_not_started(self):  # S17 S25
        main = getcurrent()
        g = Greenlet()
        with self.assertRaises(AttributeError) as cm:
            g.switch(1)
        self.assertIn("run", str(cm.exception))
        self.assertIs(getcurrent(), main)
        self.assertFalse(g.dead)
        self.assertFalse(g)
        del cm
        g.run = lambda x: x * 3
        self.assertEqual(g.switch(4), 12)
        self.assertTrue(g.dead)

    def test_pending_exception_preserved_across_lookup(self):  # S17
        seen = []

        class G(Greenlet):
            @property
            def run(self):
                # Lookup code that raises and handles its own exception.
                try:
                    raise KeyError("inside lookup")
                except KeyError:
                    seen.append("handled")
                return lambda: seen.append("run called")

        g = G()
        exc = ValueError("thrown")
        with self.assertRaises(ValueError) as cm:
            g.throw(exc)
        self.assertIs(cm.exception, exc)
        self.assertEqual(seen, ["handled"])
        self.assertTrue(g.dead)

    def test_lookup_starts_greenlet_by_nested_route(self):  # S18 H3
        main = getcurrent()
        state = {"nested": False, "runs": 0}
        log = []

        class G(Greenlet):
            def __getattribute__(self, name):
                if name == "run" and not state["nested"]:
                    state["nested"] = True
                    # Start ourselves from inside our own run lookup.
                    log.append(("nested returned", self.switch("nested")))
                return Greenlet.__getattribute__(self, name)

            def run(self, arg):
                state["runs"] += 1
                log.append(("run", arg))
                got = main.switch("from run")
                log.append(("resumed", got))
                return "finished"

        g = G()
        self.assertEqual(g.switch(42), "finished")
        self.assertEqual(state["runs"], 1)
        self.assertEqual(log, [
            ("run", "nested"),
            ("nested returned", "from run"),
            ("resumed", 42),
        ])
        self.assertTrue(g.dead)

    def test_lookup_starts_greenlet_nested_value_comes_back(self):  # S18 H3
        state = {"nested": False}

        class G(Greenlet):
            def __getattribute__(self, name):
                if name == "run" and not state["nested"]:
                    state["nested"] = True
                    self.switch(43)
                return Greenlet.__getattribute__(self, name)

            def run(self, value):
                for _ in range(3):
                    self.parent.switch(value)

        g = G()
        # The nested start's argument is what run keeps sending.
        # The nested start consumed the first parent.switch(); the outer
        # switch(42) resumes run, which sends 43 again.
        self.assertEqual(g.switch(42), 43)
        self.assertEqual(g.switch(), 43)
        self.assertIsNone(g.switch())
        self.assertTrue(g.dead)

    def test_lookup_runs_greenlet_to_death(self):  # S18 S21
        state = {"nested": False, "runs": 0}
        log = []

        class G(Greenlet):
            def __getattribute__(self, name):
                if name == "run" and not state["nested"]:
                    state["nested"] = True
                    log.append(("nested returned", self.switch("nested")))
                    log.append(("dead after nested", self.dead))
                return Greenlet.__getattribute__(self, name)

            def run(self, arg):
                state["runs"] += 1
                return ("early", arg)

        g = G()
        # g died during the lookup; the outer call's value goes to g's parent,
        # which is the caller, so switch simply returns it.
        self.assertEqual(g.switch(42), 42)
        self.assertEqual(state["runs"], 1)
        self.assertEqual(log, [
            ("nested returned", ("early", "nested")),
            ("dead after nested", True),
        ])
        self.assertTrue(g.dead)

    def test_lookup_kills_greenlet_then_not_started_parent_gets_args(self):  # S18 S21
        state = {"nested": False}
        got = []

        class G(Greenlet):
            def __getattribute__(self, name):
                if name == "run" and not state["nested"]:
                    state["nested"] = True
                    self.switch()
                return Greenlet.__getattribute__(self, name)

            def run(self):
                # Finish into the not-started parent; it returns to main.
                return "into parent"

        def parent_run(*args, **kwargs):
            got.append((args, kwargs))
            return "parent done"

        p = Greenlet(parent_run)
        g = G(parent=p)
        # Nested start: g returns "into parent", which starts p with it;
        # p returns to main, ending the nested switch.  Then g is dead and
        # the outer call's arguments go to p, now dead, hence to main.
        self.assertEqual(g.switch(1, k=2), ((1,), {"k": 2}))
        self.assertEqual(got, [(("into parent",), {})])
        self.assertTrue(g.dead)
        self.assertTrue(p.dead)


class RunDroppedTest(GreenletTest):
    def test_run_unreadable_after_start(self):  # S19
        main = getcurrent()
        seen = []

        def run():
            try:
                getcurrent().run
            except AttributeError as e:
                seen.append(str(e))
            main.switch()

        g = Greenlet(run)
        self.assertIs(g.run, run)
        g.switch()
        self.assertEqual(len(seen), 1)
        self.assertIn("run", seen[0])
        with self.assertRaises(AttributeError):
            g.run
        g.switch()
        with self.assertRaises(AttributeError):
            g.run

    def test_callable_kept_alive_while_running(self):  # S19
        main = getcurrent()
        seen = []

        class Runner:
            def __call__(self):
                ref = weakref.ref(self)
                # From here on only the greenlet can keep the object alive.
                del self
                gc.collect()
                seen.append(ref() is not None)
                main.switch(ref)
                gc.collect()
                seen.append(ref() is not None)
                return "done"

        g = Greenlet(Runner())
        ref = g.switch()
        gc.collect()
        self.assertIsNotNone(ref())
        self.assertEqual(g.switch(), "done")
        self.assertEqual(seen, [True, True])
        gc.collect()
        self.assertIsNone(ref())

    def test_bound_method_kept_alive_while_running(self):  # S19
        main = getcurrent()

        class Owner:
            def work(self, x):
                ref = weakref.ref(self)
                del self
                main.switch(ref)
                return x * 2

        g = Greenlet(Owner().work)
        ref = g.switch(21)
        gc.collect()
        self.assertIsNotNone(ref())
        self.assertEqual(g.switch(), 42)
        gc.collect()
        self.assertIsNone(ref())

    def test_running_callable_visible_to_gc(self):  # S19
        main = getcurrent()

        class Runner:
            def __call__(self):
                main.switch()

        runner = Runner()
        g = Greenlet(runner)
        g.switch()
        self.assertIn(runner, gc.get_referents(g))
        g.switch()
        self.assertTrue(g.dead)


class ValueTest(GreenletTest):
    def _echo(self):
        """A greenlet that sends back every value it receives, unchanged."""
        main = getcurrent()

        def run():
            value = main.switch("ready")
            for _ in range(100000):
                value = main.switch(value)

        g = Greenlet(run)
        self.assertEqual(g.switch(), "ready")
        return g

    def test_value_table_into_suspended_greenlet(self):  # S20
        g = self._echo()
        obj = object()
        one = (obj,)
        self.assertEqual(g.switch(), ())
        self.assertIs(g.switch(obj), obj)
        self.assertIs(g.switch(one), one)
        self.assertIs(g.switch(None), None)
        self.assertEqual(g.switch(()), ())
        self.assertEqual(g.switch(1, 2), (1, 2))
        self.assertEqual(g.switch(1, 2, 3), (1, 2, 3))
        v = g.switch(k=1)
        self.assertIs(type(v), dict)
        self.assertEqual(v, {"k": 1})
        self.assertEqual(g.switch(a=1, b=2), {"a": 1, "b": 2})
        self.assertEqual(g.switch(1, k=2), ((1,), {"k": 2}))
        self.assertEqual(g.switch(1, 2, k=3, j=4), ((1, 2), {"k": 3, "j": 4}))
        self.assertEqual(g.switch(**{}), ())
        self.assertEqual(g.switch(*(), **{}), ())
        self.assertIs(g.switch(obj, **{}), obj)
        self.assertEqual(g.switch(1, 2, **{}), (1, 2))
        g.throw()
        self.assertTrue(g.dead)

    def test_value_table_into_main(self):  # S20
        main = getcurrent()
        obj = object()
        one = (obj,)

        def run():
            main.switch()
            main.switch(obj)
            main.switch(one)
            main.switch(1, 2)
            main.switch(k=1)
            main.switch(1, k=2)
            main.switch(**{})

        g = Greenlet(run)
        self.assertEqual(g.switch(), ())
        self.assertIs(g.switch(), obj)
        self.assertIs(g.switch(), one)
        self.assertEqual(g.switch(), (1, 2))
        self.assertEqual(g.switch(), {"k": 1})
        self.assertEqual(g.switch(), ((1,), {"k": 2}))
        self.assertEqual(g.switch(), ())
        self.assertIsNone(g.switch())
        self.assertTrue(g.dead)

    def test_no_reference_leaks_over_many_switches(self):  # S20
        g = self._echo()
        a = object()
        b = object()
        t = (a, b)
        d = {"x": a}
        before = [sys.getrefcount(o) for o in (a, b, t, d)]
        for _ in range(200):
            g.switch(a)
            g.switch(a, b)
            g.switch(*t)
            g.switch(t)
            g.switch(x=a, y=b)
            g.switch(**d)
            g.switch(a, y=b)
            g.switch(*t, **d)
        # The echo greenlet still holds the last value; replace it.
        g.switch(None)
        after = [sys.getrefcount(o) for o in (a, b, t, d)]
        self.assertEqual(after, before)
        g.throw()
        self.assertTrue(g.dead)

    def test_no_reference_leaks_at_start_and_finish(self):  # S20 S26
        a = object()
        before = sys.getrefcount(a)
        for _ in range(100):
            Greenlet(lambda *x, **k: None).switch(a, k=a)
            Greenlet(lambda: (a, a)).switch()
            Greenlet(lambda x: x).switch(a)
        self.assertEqual(sys.getrefcount(a), before)

    def test_many_arguments(self):  # S24
        g = self._echo()
        args = tuple(range(300))
        kwargs = {"k%d" % i: i for i in range(100)}
        self.assertEqual(g.switch(*args, **kwargs), (args, kwargs))
        g.throw()


class DeadTargetTest(GreenletTest):
    def _dead(self, parent=None):
        g = Greenlet(lambda: None)
        g.switch()
        if parent is not None:
            g.parent = parent
        self.assertTrue(g.dead)
        return g

    def test_dead_switch_returns_to_caller(self):  # S21
        g = self._dead()
        self.assertEqual(g.switch(5), 5)
        self.assertEqual(g.switch(), ())
        self.assertEqual(g.switch(1, 2), (1, 2))
        self.assertEqual(g.switch(k=1), {"k": 1})
        self.assertEqual(g.switch(1, k=2), ((1,), {"k": 2}))
        obj = (1,)
        self.assertIs(g.switch(obj), obj)
        self.assertTrue(g.dead)

    def test_dead_switch_inside_greenlet_returns_to_it(self):  # S21
        seen = []

        def run():
            child = Greenlet(lambda: "child")
            self.assertEqual(child.switch(), "child")
            seen.append(child.switch(5))
            seen.append(child.switch())

        Greenlet(run).switch()
        self.assertEqual(seen, [5, ()])

    def test_dead_delivers_to_suspended_parent(self):  # S21
        main = getcurrent()
        seen = []

        def parent_run():
            seen.append(main.switch("parked"))
            seen.append(getcurrent())
            return "parent done"

        p = Greenlet(parent_run)
        self.assertEqual(p.switch(), "parked")
        dead = self._dead(parent=p)
        self.assertEqual(dead.switch("x", y=1), "parent done")
        self.assertEqual(seen, [(("x",), {"y": 1}), p])
        self.assertTrue(p.dead)

    def test_dead_chain_skips_dead_ancestors(self):  # S21
        main = getcurrent()
        seen = []

        def top_run():
            seen.append(main.switch("parked"))
            return "top done"

        top = Greenlet(top_run)
        top.switch()
        mid = self._dead(parent=top)
        low = self._dead(parent=mid)
        self.assertEqual(low.switch(7), "top done")
        self.assertEqual(seen, [7])

    def test_dead_chain_starts_not_started_ancestor_with_args(self):  # S21
        seen = []

        def ancestor(*args, **kwargs):
            seen.append((args, kwargs, getcurrent()))
            return "ancestor done"

        anc = Greenlet(ancestor)
        mid = self._dead(parent=anc)
        low = self._dead(parent=mid)
        self.assertEqual(low.switch(1, 2, k=3), "ancestor done")
        self.assertEqual(seen, [((1, 2), {"k": 3}, anc)])
        self.assertTrue(anc.dead)

    def test_dead_chain_not_started_ancestor_single_tuple_arg(self):  # S21
        seen = []
        arg = (1, 2)

        def ancestor(*args):
            seen.append(args)

        low = self._dead(parent=Greenlet(ancestor))
        low.switch(arg)
        self.assertEqual(len(seen), 1)
        self.assertIs(seen[0][0], arg)
        self.assertEqual(len(seen[0]), 1)


class SelfSwitchTest(GreenletTest):
    def test_main_self_switch(self):  # S22
        main = getcurrent()
        obj = (1,)
        self.assertEqual(main.switch(), ())
        self.assertIs(main.switch(obj), obj)
        self.assertEqual(main.switch(1, 2), (1, 2))
        self.assertEqual(main.switch(k=1), {"k": 1})
        self.assertEqual(main.switch(1, k=2), ((1,), {"k": 2}))
        self.assertIs(getcurrent(), main)

    def test_greenlet_self_switch(self):  # S22
        seen = []

        def run():
            me = getcurrent()
            seen.append(me.switch(3))
            seen.append(me.switch())
            seen.append(me.switch(a=1))
            seen.append(getcurrent() is me)
            return "end"

        self.assertEqual(Greenlet(run).switch(), "end")
        self.assertEqual(seen, [3, (), {"a": 1}, True])

    def test_self_switch_emits_trace_event(self):  # S22 S98
        main = getcurrent()
        events = []
        greenlet.settrace(lambda ev, args: events.append((ev, args)))
        try:
            self.assertEqual(main.switch(9), 9)
        finally:
            greenlet.settrace(None)
        self.assertEqual(events, [("switch", (main, main))])


class ArgumentShapeTest(GreenletTest):
    def test_unbound_switch_on_non_greenlet(self):  # S24
        for bad in (None, 42, object(), "x", Greenlet):
            with self.assertRaises(TypeError):
                Greenlet.switch(bad)

    def test_unbound_switch_on_greenlet(self):  # S24
        main = getcurrent()
        self.assertEqual(Greenlet.switch(main, 4), 4)
        g = Greenlet(lambda *a, **k: (a, k))
        self.assertEqual(Greenlet.switch(g, 1, k=2), ((1,), {"k": 2}))


class FinishTest(GreenletTest):
    def test_return_value_to_parent(self):  # S26
        one = (object(),)
        g = Greenlet(lambda: one)
        self.assertIs(g.switch(), one)
        self.assertTrue(g.dead)
        self.assertFalse(g)
        self.assertIsNone(Greenlet(lambda: None).switch())
        self.assertEqual(Greenlet(lambda: ()).switch(), ())
        self.assertEqual(Greenlet(lambda: (1, 2)).switch(), (1, 2))

    def test_return_value_to_suspended_parent(self):  # S26
        main = getcurrent()
        seen = []
        one = ("only",)

        def parent_run():
            child = Greenlet(lambda: one)
            seen.append(child.switch())
            seen.append(child.dead)
            main.switch()

        p = Greenlet(parent_run)
        p.switch()
        self.assertEqual(len(seen), 2)
        self.assertIs(seen[0], one)
        self.assertTrue(seen[1])
        p.switch()

    def test_exception_raised_in_parent_with_traceback(self):  # S27
        exc = ValueError("boom")

        def deep():
            raise exc

        def run_fails():
            deep()

        g = Greenlet(run_fails)
        # (assertRaises would strip the traceback.)
        caught = None
        try:
            g.switch()
        except ValueError as e:
            caught = e
        self.assertIs(caught, exc)
        names = _tb_code_names(caught.__traceback__)
        self.assertIn("run_fails", names)
        self.assertIn("deep", names)
        self.assertLess(names.index("run_fails"), names.index("deep"))
        self.assertTrue(g.dead)
        caught.__traceback__ = None
        del caught, exc

    def test_exception_raised_at_parents_suspension_point(self):  # S27
        main = getcurrent()
        seen = []

        def child_run():
            raise KeyError("child")

        def parent_run():
            child = Greenlet(child_run)
            try:
                child.switch()
            except KeyError as e:
                seen.append((e.args, child.dead, getcurrent() is p))
            main.switch("after")

        p = Greenlet(parent_run)
        self.assertEqual(p.switch(), "after")
        self.assertEqual(seen, [(("child",), True, True)])
        p.switch()

    def test_exception_keeps_context_and_cause(self):  # S27 S117
        def run():
            try:
                raise KeyError("inner")
            except KeyError as inner:
                raise ValueError("outer") from inner

        with self.assertRaises(ValueError) as cm:
            Greenlet(run).switch()
        self.assertIsInstance(cm.exception.__cause__, KeyError)
        self.assertIsInstance(cm.exception.__context__, KeyError)
        del cm

    def test_keyboard_interrupt_propagates(self):  # S27 H19
        def run():
            raise KeyboardInterrupt("ki")

        g = Greenlet(run)
        with self.assertRaises(KeyboardInterrupt):
            g.switch()
        self.assertTrue(g.dead)

    def test_system_exit_propagates(self):  # S27 H19
        main = getcurrent()

        def low():
            raise SystemExit(3)

        def mid():
            Greenlet(low).switch()
            main.switch("not reached")

        g = Greenlet(mid)
        with self.assertRaises(SystemExit) as cm:
            g.switch()
        self.assertEqual(cm.exception.code, 3)
        self.assertTrue(g.dead)
        del cm

    def test_greenlet_exit_becomes_value(self):  # S28
        exc = GreenletExit("bye")

        def run():
            raise exc

        g = Greenlet(run)
        self.assertIs(g.switch(), exc)
        self.assertTrue(g.dead)
        del exc

    def test_greenlet_exit_subclass_becomes_value(self):  # S28
        class MyExit(GreenletExit):
            pass

        def run():
            raise MyExit(1)

        g = Greenlet(run)
        got = g.switch()
        self.assertIs(type(got), MyExit)
        self.assertEqual(got.args, (1,))
        self.assertTrue(g.dead)

    def test_greenlet_exit_value_to_suspended_parent(self):  # S28
        main = getcurrent()
        seen = []

        def child_run():
            raise GreenletExit("child exit")

        def parent_run():
            got = Greenlet(child_run).switch()
            seen.append((type(got), got.args))
            main.switch()

        p = Greenlet(parent_run)
        p.switch()
        self.assertEqual(seen, [(GreenletExit, ("child exit",))])
        p.switch()


class DeliveryChainTest(GreenletTest):
    def test_finish_skips_dead_parent(self):  # S29
        main = getcurrent()
        holder = []

        def mid_run():
            child = Greenlet(lambda: "from child")
            holder.append(child)
            # child's parent is us; we die before it runs.

        mid = Greenlet(mid_run)
        mid.switch()
        self.assertTrue(mid.dead)
        child = holder.pop()
        self.assertIs(child.parent, mid)
        # Starting child from main: it finishes into mid (dead) -> main.
        self.assertEqual(child.switch(), "from child")
        self.assertTrue(child.dead)
        self.assertIs(getcurrent(), main)

    def test_exception_skips_dead_parent(self):  # S29
        def child_run():
            raise IndexError("x")

        mid = Greenlet(lambda: None)
        mid.switch()
        child = Greenlet(child_run, mid)
        with self.assertRaises(IndexError):
            child.switch()

    def test_finish_starts_not_started_parent_with_value(self):  # S29 S26
        seen = []
        value = (1, 2)

        def parent_run(*args, **kwargs):
            seen.append((args, kwargs))
            return "parent result"

        p = Greenlet(parent_run)
        g = Greenlet(lambda: value, p)
        self.assertEqual(g.switch(), "parent result")
        self.assertEqual(len(seen), 1)
        args, kwargs = seen[0]
        self.assertEqual(len(args), 1)
        self.assertIs(args[0], value)
        self.assertEqual(kwargs, {})
        self.assertTrue(p.dead)

    def test_greenlet_exit_starts_not_started_parent_with_instance(self):  # S29 S28
        seen = []
        exc = GreenletExit("going")

        def run():
            raise exc

        def parent_run(arg):
            seen.append(arg)
            return "parent result"

        g = Greenlet(run, Greenlet(parent_run))
        self.assertEqual(g.switch(), "parent result")
        self.assertEqual(len(seen), 1)
        self.assertIs(seen[0], exc)
        del seen, exc

    def test_exception_through_not_started_parent_kills_it_unrun(self):  # S29
        ran = []

        def parent_run(*args):
            ran.append(args)

        def run():
            raise LookupError("travels")

        p = Greenlet(parent_run)
        g = Greenlet(run, p)
        with self.assertRaises(LookupError) as cm:
            g.switch()
        self.assertEqual(cm.exception.args, ("travels",))
        self.assertEqual(ran, [])
        self.assertTrue(p.dead)
        self.assertFalse(p)
        with self.assertRaises(AttributeError):
            p.run
        del cm

    def test_exception_through_two_not_started_ancestors(self):  # S29
        ran = []
        top = Greenlet(lambda *a: ran.append("top"))
        mid = Greenlet(lambda *a: ran.append("mid"), top)
        g = Greenlet(lambda: 1 / 0, mid)
        with self.assertRaises(ZeroDivisionError):
            g.switch()
        self.assertEqual(ran, [])
        self.assertTrue(mid.dead)
        self.assertTrue(top.dead)

    def test_exception_through_not_started_to_suspended_ancestor(self):  # S29
        main = getcurrent()
        seen = []

        def top_run():
            try:
                main.switch("parked")
            except OSError as e:
                seen.append(e.args)
            return "top done"

        top = Greenlet(top_run)
        top.switch()
        mid = Greenlet(lambda *a: seen.append("mid ran"), top)

        def run():
            raise OSError("to top")

        g = Greenlet(run, mid)
        self.assertEqual(g.switch(), "top done")
        self.assertEqual(seen, [("to top",)])
        self.assertTrue(mid.dead)

    def test_failing_run_lookup_of_ancestor_continues_up(self):  # S29
        main = getcurrent()
        seen = []

        class Broken(Exception):
            pass

        class NoRun(Greenlet):
            @property
            def run(self):
                seen.append("lookup")
                raise Broken("no run here")

        def top_run():
            try:
                main.switch("parked")
            except Broken as e:
                seen.append(("top got", e.args))
            return "top done"

        top = Greenlet(top_run)
        top.switch()
        mid = NoRun(parent=top)
        g = Greenlet(lambda: "value", mid)
        self.assertEqual(g.switch(), "top done")
        self.assertEqual(seen, ["lookup", ("top got", ("no run here",))])
        self.assertTrue(g.dead)

    def test_failing_run_lookup_of_ancestor_reaches_main(self):  # S29
        class NoRun(Greenlet):
            pass  # no run at all

        mid = NoRun()
        g = Greenlet(lambda: "value", mid)
        with self.assertRaises(AttributeError) as cm:
            g.switch()
        self.assertIn("run", str(cm.exception))
        self.assertTrue(g.dead)
        del cm

    def test_receiver_sees_dead_during_value_delivery(self):  # S30
        seen = []
        holder = []

        def parent_run(value):
            g = holder[0]
            seen.append((value, g.dead, bool(g), g.gr_frame))

        g = Greenlet(lambda: "v", Greenlet(parent_run))
        holder.append(g)
        g.switch()
        self.assertEqual(seen, [("v", True, False, None)])

    def test_dead_during_ancestor_run_lookup(self):  # S30 S29
        seen = []
        holder = []

        class Ancestor(Greenlet):
            @property
            def run(self):
                g = holder[0]
                seen.append(("lookup", g.dead, bool(g)))
                return lambda value: seen.append(("run", value))

        g = Greenlet(lambda: "v", Ancestor())
        holder.append(g)
        g.switch()
        self.assertEqual(seen, [("lookup", True, False), ("run", "v")])

    def test_receiver_sees_dead_during_exception_delivery(self):  # S30
        main = getcurrent()
        seen = []

        def child_run():
            raise ValueError

        def parent_run():
            child = Greenlet(child_run)
            try:
                child.switch()
            except ValueError:
                seen.append((child.dead, bool(child)))
            main.switch()

        p = Greenlet(parent_run)
        p.switch()
        self.assertEqual(seen, [(True, False)])
        p.switch()

    def test_receiver_sees_dead_in_trace_callback(self):  # S30 S98
        main = getcurrent()
        seen = []
        g = Greenlet(lambda: "v")

        def trace(event, args):
            origin, target = args
            if origin is g and target is main:
                seen.append((event, g.dead))

        greenlet.settrace(trace)
        try:
            g.switch()
        finally:
            greenlet.settrace(None)
        self.assertEqual(seen, [("switch", True)])


class HardCaseTest(GreenletTest):
    def test_self_deleting_greenlet_reparents_initiator(self):  # H8 S77
        main = getcurrent()
        refs = {}
        finals = []

        def worker_run():
            value = main.switch("primed")
            # Drop every reference to ourselves; the last one is the
            # initiator's parent pointer.
            del refs["worker"]
            refs["initiator"].parent = main
            try:
                main.switch(value)
            except GreenletExit:
                finals.append("exit")
                raise
            finally:
                finals.append("finally")

        refs["worker"] = Greenlet(worker_run)
        wref = weakref.ref(refs["worker"])
        self.assertEqual(refs["worker"].switch(), "primed")
        refs["initiator"] = Greenlet(lambda: 42, refs["worker"])
        # The initiator returns 42 to its parent (the worker), which passes
        # it on to main while being collected.
        self.assertEqual(refs["initiator"].switch(), 42)
        self.assertEqual(finals, ["exit", "finally"])
        self.assertIsNone(wref())
        self.assertTrue(refs["initiator"].dead)
        refs.clear()

    def test_run_object_del_switches_at_start(self):  # H9 S19
        main = getcurrent()
        log = []

        class Dropped:
            def __del__(self):
                log.append("del")
                log.append(("del resumed", main.switch("from del")))

        class G(Greenlet):
            def run(self, *args):
                log.append(("run", args))
                return "ran"

        # The constructor's run object is stored but the subclass method
        # wins (S17); the stored object is dropped when g starts.
        g = G(Dropped())
        self.assertEqual(g.switch(1), "from del")
        self.assertEqual(log, ["del"])
        self.assertTrue(g)
        self.assertEqual(g.switch(2), "ran")
        self.assertEqual(log, ["del", ("del resumed", 2), ("run", (1,))])
        self.assertTrue(g.dead)


if __name__ == "__main__":
    unittest.main()
