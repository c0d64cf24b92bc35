"""contextvars per greenlet and the gr_context attribute (docs/behaviour.md:
S107-S114, H16).

The main greenlet's context is never touched here: creating it would
count as a leaked Context for the base class.  Each test body runs in a
greenlet of its own (`self.inside`), which starts with an empty context.
"""
import contextvars
import json
import sys
import threading
import unittest
from contextvars import Context, ContextVar, copy_context

import greenlet
from greenlet import getcurrent
from support import GreenletTest, run_python

VAR = ContextVar("VAR", default="default")
OTHER = ContextVar("OTHER")

TYPE_TEXT = "greenlet context must be a contextvars.Context or None"
DEL_TEXT = "can't delete context attribute"


class ContextTest(GreenletTest):
    def inside(self, func, *args):
        """Runs func(*args) in a fresh greenlet; returns its result."""
        g = greenlet.greenlet(func)
        res = g.switch(*args)
        self.assertTrue(g.dead, "test body did not finish")
        return res


class IsolationTest(ContextTest):
    def test_new_greenlet_starts_empty(self):  # S107
        def body():
            VAR.set("outer")
            seen = []

            def child():
                seen.append(getcurrent().gr_context)
                seen.append(VAR.get())
                seen.append(OTHER.get("no OTHER"))
                # Reading does not create a context; setting does.
                seen.append(getcurrent().gr_context)
                VAR.set("child")
                ctx = getcurrent().gr_context
                seen.append(isinstance(ctx, Context))
                seen.append(ctx is not outer_ctx)
                seen.append(ctx[VAR])
                seen.append(VAR.get())

            outer_ctx = getcurrent().gr_context
            greenlet.greenlet(child).switch()
            seen.append(VAR.get())
            return seen

        self.assertEqual(self.inside(body), [
            None, "default", "no OTHER", None,
            True, True, "child", "child", "outer"])

    def test_started_from_inside_context_run(self):  # S107
        def child():
            return VAR.get()

        def body():
            ctx = Context()
            ctx.run(VAR.set, "in ctx")
            return ctx.run(lambda: greenlet.greenlet(child).switch())

        self.assertEqual(self.inside(body), "default")

    def test_isolation_between_greenlets(self):  # S107 S108
        def body():
            m = getcurrent()
            VAR.set("main side")

            def child(name):
                VAR.set(name)
                m.switch(VAR.get())
                return VAR.get()

            a = greenlet.greenlet(child)
            b = greenlet.greenlet(child)
            out = [a.switch("a"), VAR.get(), b.switch("b"), VAR.get(),
                   a.switch(), VAR.get(), b.switch(), VAR.get()]
            return out

        self.assertEqual(self.inside(body), [
            "a", "main side", "b", "main side",
            "a", "main side", "b", "main side"])

    def test_cache_invalidation_alternating(self):  # S108
        # ContextVar.get caches its last lookup per thread state; every
        # switch must invalidate that cache.
        def body():
            m = getcurrent()
            VAR.set(-1)

            def child(k):
                VAR.set(k)
                for i in range(200):
                    # read twice: the second read is served by the cache
                    if VAR.get() != k or VAR.get() != k:
                        return ("wrong", k, i, VAR.get())
                    m.switch()
                    VAR.set(k)   # sets in this greenlet only
                return ("ok", k)

            kids = [greenlet.greenlet(child) for _ in range(3)]
            for k, g in enumerate(kids):
                g.switch(k)
            results = []
            for i in range(201):
                for g in kids:
                    if VAR.get() != -1:
                        return ("main saw", VAR.get())
                    if g.dead:
                        continue
                    r = g.switch()
                    if g.dead:
                        results.append(r)
            return results

        self.assertEqual(self.inside(body),
                         [("ok", 0), ("ok", 1), ("ok", 2)])

    def test_cache_invalidation_with_empty_context(self):  # S108
        def body():
            m = getcurrent()
            VAR.set("set in body")

            def child():
                out = []
                for _ in range(50):
                    out.append(VAR.get())   # this greenlet never sets VAR
                    m.switch()
                return out

            g = greenlet.greenlet(child)
            for _ in range(50):
                if VAR.get() != "set in body":   # caches the value
                    return "main lost its value"
                g.switch()
            return g.switch()

        self.assertEqual(self.inside(body), ["default"] * 50)

    def test_many_vars_many_switches(self):  # S108
        vars_ = [ContextVar("v%d" % i) for i in range(10)]

        def body():
            m = getcurrent()

            def child(tag):
                for i, v in enumerate(vars_):
                    v.set((tag, i))
                for _ in range(100):
                    for i, v in enumerate(vars_):
                        if v.get() != (tag, i):
                            return "bad"
                    m.switch()
                return "good"

            gs = [greenlet.greenlet(child) for _ in range(4)]
            for t, g in enumerate(gs):
                g.switch(t)
            res = []
            for _ in range(101):
                for g in gs:
                    if g.dead:
                        continue
                    r = g.switch()
                    if g.dead:
                        res.append(r)
            return res

        self.assertEqual(self.inside(body), ["good"] * 4)


class GrContextReadTest(ContextTest):
    def test_not_started(self):  # S109
        def body():
            g = greenlet.greenlet(lambda: None)
            first = g.gr_context
            ctx = Context()
            g.gr_context = ctx
            return first, g.gr_context is ctx

        self.assertEqual(self.inside(body), (None, True))

    def test_running_is_current_context(self):  # S109
        def body():
            before = getcurrent().gr_context
            VAR.set(1)
            ctx_after_set = getcurrent().gr_context
            other = Context()
            inner = other.run(lambda: getcurrent().gr_context)
            return (before, ctx_after_set[VAR], inner is other,
                    getcurrent().gr_context is ctx_after_set)

        self.assertEqual(self.inside(body), (None, 1, True, True))

    def test_suspended(self):  # S109
        def body():
            m = getcurrent()
            ctx = Context()

            def plain():
                VAR.set("plain")
                m.switch()

            def in_run():
                ctx.run(m.switch)

            a = greenlet.greenlet(plain)
            a.switch()
            b = greenlet.greenlet(in_run)
            b.switch()
            res = (a.gr_context[VAR], b.gr_context is ctx)
            a.switch()
            b.switch()
            return res + (a.dead, b.dead)

        self.assertEqual(self.inside(body), ("plain", True, True, True))

    def test_dead_keeps_final_context(self):  # S109
        def body():
            def child():
                VAR.set("final")
                return getcurrent().gr_context

            g = greenlet.greenlet(child)
            final = g.switch()
            return g.dead, g.gr_context is final, g.gr_context[VAR]

        self.assertEqual(self.inside(body), (True, True, "final"))

    def test_dead_after_context_run_has_none(self):  # S109
        def body():
            ctx = Context()
            g = greenlet.greenlet(ctx.run)
            r = g.switch(VAR.set, "inside run")
            assert isinstance(r, contextvars.Token)
            return g.dead, g.gr_context, ctx[VAR]

        self.assertEqual(self.inside(body), (True, None, "inside run"))

    def test_dead_after_context_run_keeps_underlying(self):  # S109
        def body():
            base = Context()
            ctx = Context()
            g = greenlet.greenlet(ctx.run)
            g.gr_context = base
            g.switch(VAR.set, "inside run")
            return g.dead, g.gr_context is base

        self.assertEqual(self.inside(body), (True, True))

    def test_killed_inside_context_run(self):  # S109 S77
        def body():
            m = getcurrent()
            ctx = Context()
            g = greenlet.greenlet(lambda: ctx.run(m.switch))
            g.switch()
            suspended = g.gr_context is ctx
            g.throw()
            return suspended, g.dead, g.gr_context

        self.assertEqual(self.inside(body), (True, True, None))


class GrContextAssignTest(ContextTest):
    def test_wrong_type(self):  # S110
        g = greenlet.greenlet(lambda: None)
        for bad in (1, "ctx", {}, object(), contextvars):
            with self.assertRaises(TypeError) as cm:
                g.gr_context = bad
            self.assertEqual(str(cm.exception), TYPE_TEXT)
        self.assertIsNone(g.gr_context)

    def test_wrong_type_running(self):  # S110
        def body():
            with self.assertRaises(TypeError) as cm:
                getcurrent().gr_context = {}
            return str(cm.exception)

        self.assertEqual(self.inside(body), TYPE_TEXT)

    def test_delete(self):  # S110
        g = greenlet.greenlet(lambda: None)
        with self.assertRaises(AttributeError) as cm:
            del g.gr_context
        self.assertEqual(str(cm.exception), DEL_TEXT)

        def body():
            with self.assertRaises(AttributeError) as cm:
                del getcurrent().gr_context
            return str(cm.exception)

        self.assertEqual(self.inside(body), DEL_TEXT)

    def test_assign_before_start(self):  # S110 S112
        def body():
            ctx = Context()
            ctx.run(VAR.set, "assigned")
            g = greenlet.greenlet(lambda: (VAR.get(), getcurrent().gr_context))
            g.gr_context = ctx
            val, seen = g.switch()
            g2 = greenlet.greenlet(VAR.get)
            g2.gr_context = ctx
            g2.gr_context = None
            return val, seen is ctx, g2.switch()

        self.assertEqual(self.inside(body), ("assigned", True, "default"))

    def test_assign_while_suspended(self):  # S110
        def body():
            m = getcurrent()
            ctx = Context()
            ctx.run(VAR.set, "replacement")

            def child():
                VAR.set("own")
                out = [VAR.get()]
                m.switch()
                out.append(VAR.get())
                m.switch()
                out.append(VAR.get())
                return out

            g = greenlet.greenlet(child)
            g.switch()
            g.gr_context = ctx
            g.switch()
            g.gr_context = None
            return g.switch()

        self.assertEqual(self.inside(body), ["own", "replacement", "default"])

    def test_assign_running(self):  # S110
        def body():
            ctx = Context()
            ctx.run(VAR.set, "from ctx")
            VAR.set("own")
            me = getcurrent()
            out = [VAR.get()]
            me.gr_context = ctx
            out.append(VAR.get())
            out.append(me.gr_context is ctx)
            me.gr_context = None
            out.append(VAR.get())
            out.append(me.gr_context)
            VAR.set("again")   # the context is re-created lazily
            out.append(isinstance(me.gr_context, Context))
            out.append(me.gr_context is not ctx)
            out.append(ctx[VAR])
            return out

        self.assertEqual(self.inside(body), [
            "own", "from ctx", True, "default", None, True, True, "from ctx"])

    def test_assign_dead(self):  # S110 H16
        def body():
            g = greenlet.greenlet(lambda: VAR.set(1))
            g.switch()
            ctx = Context()
            g.gr_context = ctx
            same = g.gr_context is ctx
            g.gr_context = None
            return same, g.gr_context, g.dead

        self.assertEqual(self.inside(body), (True, None, True))


class CrossThreadTest(ContextTest):
    def test_running_in_other_thread(self):  # S111 H16
        started = threading.Event()
        release = threading.Event()
        box = {}

        def thread_main():
            box["main"] = getcurrent()
            started.set()
            release.wait(30)

        t = threading.Thread(target=thread_main)
        t.start()
        try:
            self.assertTrue(started.wait(30))
            with self.assertRaises(ValueError):
                box["main"].gr_context
            with self.assertRaises(ValueError):
                box["main"].gr_context = Context()
            with self.assertRaises(ValueError):
                box["main"].gr_context = None
        finally:
            release.set()
            t.join()
        box.clear()

    def test_suspended_in_other_thread(self):  # S111
        parked = threading.Event()
        resume = threading.Event()
        box = {}

        def thread_main():
            m = getcurrent()

            def child():
                VAR.set("thread child")
                m.switch()
                return VAR.get()

            g = greenlet.greenlet(child)
            g.switch()
            box["g"] = g
            parked.set()
            resume.wait(30)
            box["result"] = g.switch()
            del g

        t = threading.Thread(target=thread_main)
        t.start()
        try:
            self.assertTrue(parked.wait(30))
            g = box["g"]
            box["read"] = g.gr_context[VAR]
            ctx = Context()
            ctx.run(VAR.set, "from main thread")
            g.gr_context = ctx
            del g, ctx
        finally:
            resume.set()
            t.join()
        self.assertEqual(box["read"], "thread child")
        self.assertEqual(box["result"], "from main thread")
        box.clear()

    def test_not_started_from_other_thread(self):  # S111
        box = {}

        def thread_main():
            box["g"] = greenlet.greenlet(VAR.get)

        t = threading.Thread(target=thread_main)
        t.start()
        t.join()
        g = box.pop("g")
        self.assertIsNone(g.gr_context)
        ctx = Context()
        g.gr_context = ctx
        self.assertIs(g.gr_context, ctx)


class PatternsTest(ContextTest):
    def test_inherit_a_copy(self):  # S112
        def body():
            VAR.set("parent value")

            def child():
                out = VAR.get()
                VAR.set("child value")
                return out, VAR.get()

            g = greenlet.greenlet(child)
            g.gr_context = copy_context()
            return g.switch() + (VAR.get(),)

        self.assertEqual(self.inside(body),
                         ("parent value", "child value", "parent value"))

    def test_share_one_context(self):  # S112
        def body():
            m = getcurrent()
            VAR.set("shared")

            def child():
                out = VAR.get()
                OTHER.set("set by child")
                m.switch(out)
                return OTHER.get()

            g = greenlet.greenlet(child)
            g.gr_context = getcurrent().gr_context
            first = g.switch()
            seen_here = OTHER.get()
            OTHER.set("set by parent")
            return first, seen_here, g.switch(), g.gr_context is getcurrent().gr_context

        self.assertEqual(self.inside(body),
                         ("shared", "set by child", "set by parent", True))

    def test_run_inside_a_copy(self):  # S112
        def body():
            VAR.set("origin")

            def func(a, b):
                out = (VAR.get(), a + b)
                VAR.set("changed in copy")
                return out

            g = greenlet.greenlet(copy_context().run)
            res = g.switch(func, 1, 2)
            return res, VAR.get(), g.dead

        self.assertEqual(self.inside(body),
                         (("origin", 3), "origin", True))

    def test_run_inside_a_copy_across_switches(self):  # S112
        def body():
            m = getcurrent()
            VAR.set("origin")

            def func():
                VAR.set("copy")
                m.switch(VAR.get())
                return VAR.get()

            g = greenlet.greenlet(copy_context().run)
            first = g.switch(func)
            mid = VAR.get()
            return first, mid, g.switch()

        self.assertEqual(self.inside(body), ("copy", "origin", "copy"))


class InterleavedRunTest(ContextTest):
    def test_same_context_entered_twice(self):  # S113 H16
        def body():
            m = getcurrent()
            ctx = Context()
            a = greenlet.greenlet(lambda: ctx.run(m.switch, "a in ctx"))
            first = a.switch()
            b = greenlet.greenlet(ctx.run)
            try:
                b.switch(VAR.get)
            except RuntimeError:
                err = "RuntimeError"
            else:
                err = "no error"
            a.switch()
            return first, err, a.dead, b.dead

        self.assertEqual(self.inside(body),
                         ("a in ctx", "RuntimeError", True, True))

    def test_context_replaced_while_inside_run(self):  # S113 H16
        def body():
            m = getcurrent()
            ctx = Context()
            g = greenlet.greenlet(lambda: ctx.run(m.switch))
            g.switch()
            g.gr_context = Context()     # exit of ctx.run sees another
            try:
                g.switch()
            except RuntimeError:
                return "RuntimeError", g.dead
            return "no error", g.dead

        self.assertEqual(self.inside(body), ("RuntimeError", True))

    def test_running_context_replaced_inside_run(self):  # S113 H16
        def body():
            def inner():
                getcurrent().gr_context = Context()

            try:
                Context().run(inner)
            except RuntimeError:
                return "RuntimeError"
            return "no error"

        self.assertEqual(self.inside(body), "RuntimeError")

    def test_interleavings_subprocess(self):  # S113 H16
        # Many non-nested interleavings of Context.run across greenlets,
        # including a shared context and reassigned gr_context: only
        # RuntimeError, never a crash.
        code = r"""
        import json, greenlet
        from contextvars import Context, ContextVar
        from greenlet import getcurrent
        V = ContextVar("V", default=0)
        m = getcurrent()
        counts = {"ok": 0, "RuntimeError": 0, "other": 0}
        ctxs = [Context() for _ in range(3)]

        def step(i):
            V.set(V.get() + 1)
            m.switch(i)
            V.set(V.get() + 1)

        def worker(j):
            ctx = ctxs[j % 3]
            try:
                ctx.run(step, j)
            except RuntimeError:
                counts["RuntimeError"] += 1
                m.switch(j)
            else:
                counts["ok"] += 1

        for rnd in range(200):
            gs = [greenlet.greenlet(worker) for _ in range(4)]
            for j, g in enumerate(gs):
                try:
                    g.switch(j + rnd)
                except RuntimeError:
                    counts["RuntimeError"] += 1
                except Exception:
                    counts["other"] += 1
                if rnd % 3 == 0 and j % 2:
                    g.gr_context = ctxs[rnd % 3]
            for g in reversed(gs):
                while not g.dead:
                    try:
                        g.switch()
                    except RuntimeError:
                        counts["RuntimeError"] += 1
                    except Exception:
                        counts["other"] += 1
        print(json.dumps(counts))
        """
        rc, out, err = run_python(code)
        self.assertEqual(rc, 0, err)
        counts = json.loads(out)
        self.assertEqual(counts["other"], 0, out)
        self.assertGreater(counts["RuntimeError"], 0, out)
        self.assertGreater(counts["ok"], 0, out)


class ReferencesTest(ContextTest):
    def test_assigned_context_released(self):  # S114
        ctx = Context()
        ctx.run(VAR.set, "x")
        base = sys.getrefcount(ctx)
        for i in range(100):
            g = greenlet.greenlet(lambda: VAR.set(VAR.get() + "y"))
            g.gr_context = ctx
            g.gr_context = None
            g.gr_context = ctx
            g.gr_context = ctx
            g.switch()
            self.assertIs(g.gr_context, ctx)
            del g
        self.assertEqual(sys.getrefcount(ctx), base)
        self.assertEqual(ctx[VAR], "x" + "y" * 100)

    def test_context_of_suspended_released_on_kill(self):  # S114 S77
        ctx = Context()
        base = sys.getrefcount(ctx)

        def body():
            m = getcurrent()
            gs = []
            for i in range(50):
                g = greenlet.greenlet(lambda: (VAR.set(i), m.switch()))
                g.gr_context = ctx      # all of them share ctx
                g.switch()
                gs.append(g)
            del g
            during = sys.getrefcount(ctx)
            del gs[:]
            return during

        self.assertGreater(self.inside(body), base)
        self.assertEqual(sys.getrefcount(ctx), base)

    def test_running_context_replacement_released(self):  # S114
        ctx = Context()
        base = sys.getrefcount(ctx)

        def body():
            me = getcurrent()
            for _ in range(100):
                me.gr_context = ctx
                VAR.set("v")
                me.gr_context = Context()
                me.gr_context = None
            me.gr_context = ctx

        self.inside(body)
        self.assertEqual(ctx[VAR], "v")
        self.assertEqual(sys.getrefcount(ctx), base)

    def test_contexts_of_dead_greenlets_collected(self):  # S114
        # The base class counts Context objects: every context created in
        # these greenlets must be gone once they are.
        def child(i):
            VAR.set(i)
            copy_context().run(OTHER.set, i)
            return i

        for i in range(100):
            self.assertEqual(greenlet.greenlet(child).switch(i), i)


if __name__ == "__main__":
    unittest.main()
