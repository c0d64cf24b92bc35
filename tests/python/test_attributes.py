"""The attributes of a greenlet: run (S31, S32), parent (S33-S42), dead
and the truth value for every state (S44, S45), gr_frame (S46-S49)."""
import sys
import traceback
import unittest
import weakref

import greenlet
from greenlet import greenlet as Greenlet
from support import GreenletTest

RUN_AFTER_START = "run cannot be set after the start of the greenlet"

# The attributes defined by the base type (S45: each one a descriptor).
GETSETS = ("run", "parent", "dead", "gr_frame", "gr_context", "_stack_saved",
           "__dict__")


def codes(frame, limit=1000):
    """The code objects along frame's f_back chain, innermost first;
    fails on a chain that does not end within `limit` frames."""
    out = []
    while frame is not None:
        if len(out) >= limit:
            raise AssertionError("f_back chain longer than %d" % limit)
        out.append(frame.f_code)
        frame = frame.f_back
    return out


def fail():
    raise ValueError("from run")


class States:
    """Greenlets in each state of docs/behaviour.md ("Concepts"), made in the main greenlet."""

    def __init__(self):
        main = greenlet.getcurrent()
        self.not_started = Greenlet(lambda: None)
        self.suspended = Greenlet(lambda: main.switch())
        self.suspended.switch()
        self.returned = Greenlet(lambda: "r")
        self.returned.switch()
        self.raised = Greenlet(fail)
        try:
            self.raised.switch()
        except ValueError:
            pass
        self.killed = Greenlet(lambda: main.switch())
        self.killed.switch()
        self.killed.throw()
        self.thrown_unstarted = Greenlet(lambda: None)
        self.thrown_unstarted.throw()

    def dead(self):
        return [self.returned, self.raised, self.killed, self.thrown_unstarted]


class RunTest(GreenletTest):
    def test_run_readable_before_start(self):  # S31
        def f():
            pass
        g = Greenlet(f)
        self.assertIs(g.run, f)
        self.assertIs(g.run, f)   # reading does not consume it

    def test_run_missing(self):  # S31
        with self.assertRaises(AttributeError) as cm:
            Greenlet().run
        self.assertEqual(str(cm.exception), "run")
        self.assertFalse(hasattr(Greenlet(), "run"))

    def test_run_unreadable_once_started(self):  # S31
        main = greenlet.getcurrent()
        seen = []

        def f():
            try:
                greenlet.getcurrent().run
            except AttributeError as e:
                seen.append(str(e))
            main.switch()

        g = Greenlet(f)
        g.switch()
        self.assertEqual(seen, ["run"])              # running
        st = States()
        for h in [g, st.suspended] + st.dead():
            with self.assertRaises(AttributeError) as cm:
                h.run
            self.assertEqual(str(cm.exception), "run", repr(h))
        g.throw()
        with self.assertRaises(AttributeError) as cm:
            g.run
        self.assertEqual(str(cm.exception), "run")

    def test_run_set_and_delete_before_start(self):  # S31
        def f():
            return "f"

        def h():
            return "h"
        g = Greenlet()
        g.run = f
        self.assertIs(g.run, f)
        g.run = h
        self.assertIs(g.run, h)
        del g.run
        with self.assertRaises(AttributeError) as cm:
            g.run
        self.assertEqual(str(cm.exception), "run")
        with self.assertRaises(AttributeError) as cm:
            g.switch()
        self.assertIn("run", str(cm.exception))
        self.assertFalse(g.dead)
        g.run = f
        self.assertEqual(g.switch(), "f")

    def test_run_set_and_delete_after_start(self):  # S31
        main = greenlet.getcurrent()
        seen = []

        def f():
            me = greenlet.getcurrent()
            for action in (lambda: setattr(me, "run", f),
                           lambda: delattr(me, "run")):
                try:
                    action()
                except AttributeError as e:
                    seen.append(str(e))
            main.switch()
            return "finished"

        g = Greenlet(f)
        g.switch()
        self.assertEqual(seen, [RUN_AFTER_START] * 2)   # running
        st = States()
        for h in [g, st.suspended] + st.dead():
            with self.assertRaises(AttributeError) as cm:
                h.run = f
            self.assertEqual(str(cm.exception), RUN_AFTER_START, repr(h))
            with self.assertRaises(AttributeError) as cm:
                del h.run
            self.assertEqual(str(cm.exception), RUN_AFTER_START, repr(h))
        # The refused assignment changed nothing: g still finishes its own run.
        self.assertEqual(g.switch(), "finished")

    def test_main_has_no_run(self):  # S32
        main = greenlet.getcurrent()

        def check(target):
            out = []
            for action in (lambda: target.run,
                           lambda: setattr(target, "run", len),
                           lambda: delattr(target, "run")):
                try:
                    action()
                except AttributeError as e:
                    out.append(str(e))
            return out

        here = check(main)
        self.assertEqual(len(here), 3)
        for msg in here:
            self.assertIn("run", msg)
        from_child = Greenlet(lambda: check(main)).switch()   # suspended main
        self.assertEqual(from_child, here)
        self.assertFalse(hasattr(main, "run"))
        self.assertFalse(main.dead)


class ParentTest(GreenletTest):
    def test_parent_get(self):  # S33
        main = greenlet.getcurrent()
        self.assertIsNone(main.parent)
        p = Greenlet()
        g = Greenlet(lambda: greenlet.getcurrent().parent, p)
        self.assertIs(g.parent, p)
        g.parent = main
        self.assertIs(g.switch(), main)   # read while running
        self.assertTrue(g.dead)
        self.assertIs(g.parent, main)      # still there once dead
        inner = Greenlet(lambda: Greenlet(lambda: None))
        child = inner.switch()
        self.assertIs(child.parent, inner)

    def test_parent_must_be_greenlet(self):  # S34
        g = Greenlet()
        main = greenlet.getcurrent()
        for bad in (None, 1, "x", object(), Greenlet, weakref.proxy(main)):
            with self.assertRaises(TypeError) as cm:
                g.parent = bad
            self.assertIn(type(bad).__name__, str(cm.exception))
            self.assertIs(g.parent, main)

    def test_parent_any_greenlet_subclass(self):  # S34
        class Sub(Greenlet):
            pass
        p = Sub(lambda v: v * 2)
        g = Greenlet(lambda: 21)
        g.parent = p
        self.assertIs(g.parent, p)
        self.assertEqual(g.switch(), 42)   # p got 21 and returned to main

    def test_parent_not_deletable(self):  # S35
        g = Greenlet()
        with self.assertRaises(AttributeError) as cm:
            del g.parent
        self.assertEqual(str(cm.exception), "can't delete attribute")
        self.assertIs(g.parent, greenlet.getcurrent())

    def test_main_parent_not_settable(self):  # S36
        main = greenlet.getcurrent()
        for value in (Greenlet(), Greenlet(lambda: None), 1, None, main):
            with self.assertRaises(AttributeError) as cm:
                main.parent = value
            self.assertEqual(str(cm.exception),
                             "cannot set the parent of a main greenlet")
        self.assertIsNone(main.parent)

        def run():
            # main is suspended; a cycle check would say ValueError.
            try:
                main.parent = greenlet.getcurrent()
            except AttributeError as e:
                return str(e)

        self.assertEqual(Greenlet(run).switch(),
                         "cannot set the parent of a main greenlet")
        self.assertIsNone(main.parent)

    def test_cyclic_parent_chain(self):  # S37
        main = greenlet.getcurrent()
        a = Greenlet()
        b = Greenlet(parent=a)
        c = Greenlet(parent=b)
        for g, p in ((a, a), (a, b), (a, c), (b, c), (c, c)):
            before = g.parent
            with self.assertRaises(ValueError) as cm:
                g.parent = p
            self.assertEqual(str(cm.exception), "cyclic parent chain")
            self.assertIs(g.parent, before)
        self.assertIs(a.parent, main)
        c.parent = a      # not a cycle
        self.assertIs(c.parent, a)

    def test_cyclic_parent_chain_running(self):  # S37
        def run():
            me = greenlet.getcurrent()
            child = Greenlet(parent=me)
            try:
                me.parent = child
            except ValueError as e:
                return str(e), me.parent

        self.assertEqual(Greenlet(run).switch(),
                         ("cyclic parent chain", greenlet.getcurrent()))

    def test_change_parent_while_running(self):  # S40
        got = []
        main = greenlet.getcurrent()
        receiver = Greenlet(lambda v: got.append(v) or "receiver done")

        def run():
            greenlet.getcurrent().parent = receiver
            return "value"

        g = Greenlet(run)
        self.assertEqual(g.switch(), "receiver done")
        self.assertEqual(got, ["value"])
        self.assertIs(g.parent, receiver)
        self.assertIs(receiver.parent, main)

    def test_change_parent_while_suspended(self):  # S40
        main = greenlet.getcurrent()
        got = []
        g = Greenlet(lambda: main.switch() or "value")
        g.switch()
        g.parent = Greenlet(lambda v: got.append(v) or "receiver done")
        self.assertEqual(g.switch(), "receiver done")
        self.assertEqual(got, ["value"])

    def test_change_parent_of_dead(self):  # S40 S21
        g = Greenlet(lambda: None)
        g.switch()
        self.assertTrue(g.dead)
        got = []
        g.parent = Greenlet(lambda *a: got.append(a) or "receiver done")
        self.assertEqual(g.switch(5), "receiver done")
        self.assertEqual(got, [(5,)])
        g.parent = greenlet.getcurrent()
        self.assertEqual(g.switch(7), 7)

    def test_parent_is_strong_reference(self):  # S41
        got = []
        p = Greenlet(lambda v: got.append(v))
        ref = weakref.ref(p)
        g = Greenlet(lambda: "to parent", p)
        del p
        self.assertIs(ref(), g.parent)
        g.switch()
        self.assertEqual(got, ["to parent"])

    def test_old_parent_finalizer_sees_new_parent(self):  # S42
        seen = []

        class Finalizer:
            def __del__(self):
                seen.append(g.parent)

        old = Greenlet()
        old.fin = Finalizer()
        new = Greenlet()
        g = Greenlet(parent=old)
        del old
        self.assertEqual(seen, [])
        g.parent = new     # drops the old parent's last reference
        self.assertEqual(seen, [new])
        self.assertIs(g.parent, new)


class DeadAndBoolTest(GreenletTest):
    def test_not_started(self):  # S44 S45
        g = Greenlet(lambda: None)
        self.assertFalse(g)
        self.assertIs(g.dead, False)

    def test_running(self):  # S44 S45
        def run():
            me = greenlet.getcurrent()
            return bool(me), me.dead

        self.assertEqual(Greenlet(run).switch(), (True, False))

    def test_suspended(self):  # S44 S45
        st = States()
        self.assertTrue(st.suspended)
        self.assertIs(st.suspended.dead, False)

    def test_dead(self):  # S44 S45
        st = States()
        for g in st.dead():
            self.assertFalse(g, repr(g))
            self.assertIs(g.dead, True, repr(g))

    def test_main(self):  # S44 S45
        main = greenlet.getcurrent()
        self.assertTrue(main)
        self.assertIs(main.dead, False)
        self.assertEqual(Greenlet(lambda: (bool(main), main.dead)).switch(),
                         (True, False))

    def test_dead_read_only(self):  # S44
        st = States()
        for g in (st.not_started, st.suspended, st.returned, greenlet.getcurrent()):
            before = g.dead
            with self.assertRaises(AttributeError):
                g.dead = not before
            with self.assertRaises(AttributeError):
                del g.dead
            self.assertIs(g.dead, before)

    def test_dead_not_computed_through_bool(self):  # S45
        class Liar(Greenlet):
            def __bool__(self):
                raise AssertionError("dead must not call __bool__")

        main = greenlet.getcurrent()
        g = Liar(lambda: main.switch())
        self.assertIs(g.dead, False)
        g.switch()
        self.assertIs(g.dead, False)
        self.assertIs(Greenlet.dead.__get__(g), False)
        g.switch()
        self.assertIs(g.dead, True)
        self.assertIs(Greenlet.dead.__get__(g), True)

    def test_dead_descriptor_under_override(self):  # S45
        class Gevent(Greenlet):
            # gevent's pattern: its own `dead`, falling back to the base's.
            @property
            def dead(self):
                return "overridden"

            def __bool__(self):
                return True

        g = Gevent(lambda: None)
        self.assertEqual(g.dead, "overridden")
        self.assertIs(Greenlet.dead.__get__(g), False)
        self.assertIs(Greenlet.dead.__get__(g, Gevent), False)
        g.switch()
        self.assertIs(Greenlet.dead.__get__(g), True)
        self.assertTrue(g)
        self.assertIs(Greenlet.__bool__(g), False)

    def test_every_attribute_is_a_descriptor(self):  # S45
        main = greenlet.getcurrent()

        def run():
            main.switch()

        # A subclass hiding every base attribute behind its own property
        # (the run property still gives the callable to start with).
        shadows = {name: property(lambda self: "shadowed") for name in GETSETS}
        shadows["run"] = property(lambda self: run)
        Shadow = type("Shadow", (Greenlet,), shadows)

        g = Shadow()
        g.switch()
        for name in GETSETS:
            desc = Greenlet.__dict__[name]
            self.assertTrue(hasattr(type(desc), "__get__"), name)
            self.assertEqual(getattr(g, name), run if name == "run" else "shadowed")
        self.assertIs(Greenlet.parent.__get__(g), main)
        self.assertIs(Greenlet.dead.__get__(g), False)
        self.assertIsNotNone(Greenlet.gr_frame.__get__(g))
        self.assertGreater(Greenlet._stack_saved.__get__(g), 0)
        self.assertIs(type(Greenlet.__dict__["__dict__"].__get__(g)), dict)
        Greenlet.gr_context.__get__(g)   # readable: None or a Context
        with self.assertRaises(AttributeError):
            Greenlet.run.__get__(g)
        # Setters are reachable the same way.
        p = Greenlet()
        Greenlet.parent.__set__(g, p)
        self.assertIs(Greenlet.parent.__get__(g), p)
        Greenlet.parent.__set__(g, main)
        fresh = Shadow()
        Greenlet.run.__set__(fresh, len)
        self.assertIs(Greenlet.run.__get__(fresh), len)
        # Methods too.
        self.assertIsNone(Greenlet.switch.__get__(g)())
        self.assertTrue(Greenlet.dead.__get__(g))


class FrameTest(GreenletTest):
    def test_none_unless_suspended(self):  # S47
        main = greenlet.getcurrent()
        self.assertIsNone(main.gr_frame)              # running main
        st = States()
        self.assertIsNone(st.not_started.gr_frame)
        for g in st.dead():
            self.assertIsNone(g.gr_frame, repr(g))
        self.assertIsNone(Greenlet(lambda: greenlet.getcurrent().gr_frame).switch())
        self.assertIsNotNone(st.suspended.gr_frame)

    def test_builtin_run_has_no_frame(self):  # S47
        main = greenlet.getcurrent()
        g = Greenlet(main.switch)     # a builtin run that switches away
        self.assertEqual(g.switch(), ())
        self.assertTrue(g)
        self.assertFalse(g.dead)
        self.assertIsNone(g.gr_frame)
        self.assertEqual(g.switch("back"), "back")   # main.switch returned it
        self.assertTrue(g.dead)

    def test_chain_ends_at_run(self):  # S46
        main = greenlet.getcurrent()

        def inner():
            main.switch()

        def middle():
            inner()

        def run():
            middle()

        g = Greenlet(run)
        g.switch()
        self.assertEqual(codes(g.gr_frame),
                         [inner.__code__, middle.__code__, run.__code__])
        g.switch()
        self.assertTrue(g.dead)

    def test_chain_through_c_calls_after_stack_reuse(self):  # S46 H15
        main = greenlet.getcurrent()

        def deep(n):
            if n == 0:
                main.switch()
                return 0
            return deep(n - 1)

        def key(x):
            return deep(3)

        def run():
            return sorted([1], key=key)

        def churn(n):
            return churn(n - 1) + 1 if n else 0

        expected = [deep.__code__] * 4 + [key.__code__, run.__code__]
        gs = [Greenlet(run) for _ in range(3)]
        for g in gs:
            g.switch()
        # Other greenlets run deep calls over the same stack region.
        for _ in range(3):
            self.assertEqual(Greenlet(churn).switch(200), 200)
        for g in gs:
            self.assertEqual(codes(g.gr_frame), expected)
        for g in reversed(gs):
            self.assertEqual(g.switch(), [1])
            self.assertIsNone(g.gr_frame)

    def test_suspended_main_chain(self):  # S46
        main = greenlet.getcurrent()
        expected = codes(sys._getframe())

        def run():
            return codes(main.gr_frame), main.gr_frame.f_code

        g = Greenlet(run)
        got, innermost = g.switch()
        self.assertIs(innermost, self.test_suspended_main_chain.__code__)
        self.assertEqual(got, expected)
        self.assertNotIn(run.__code__, got)

    def test_read_only(self):  # S48
        main = greenlet.getcurrent()
        g = Greenlet(lambda: main.switch())
        g.switch()
        frame = g.gr_frame
        for target in (g, Greenlet(), main):
            with self.assertRaises(AttributeError) as cm:
                target.gr_frame = None
            self.assertIn("not writable", str(cm.exception))
            with self.assertRaises(AttributeError):
                del target.gr_frame
        self.assertIs(g.gr_frame, frame)
        g.switch()

    def test_frames_are_live(self):  # S49
        main = greenlet.getcurrent()
        where = {}

        def inner(a):
            b = a * 2
            where["line"] = sys._getframe().f_lineno + 1
            main.switch()
            return b

        def run():
            return inner(21)

        g = Greenlet(run)
        g.switch()
        frame = g.gr_frame
        self.assertIs(frame.f_code, inner.__code__)
        self.assertEqual(frame.f_locals["a"], 21)
        self.assertEqual(frame.f_locals["b"], 42)
        self.assertEqual(frame.f_lineno, where["line"])
        self.assertIs(frame.f_globals, globals())
        with self.assertRaises(RuntimeError):
            frame.clear()
        with self.assertRaises(RuntimeError):
            frame.f_back.clear()
        text = "".join(traceback.format_stack(frame))
        self.assertIn("in inner", text)
        self.assertIn("in run", text)
        self.assertLess(text.index("in run"), text.index("in inner"))
        summary = traceback.extract_stack(frame)
        self.assertEqual([f.name for f in summary], ["run", "inner"])
        self.assertEqual(summary[-1].lineno, where["line"])
        # Still executing normally afterwards.
        self.assertEqual(g.switch(), 42)


if __name__ == "__main__":
    unittest.main()
