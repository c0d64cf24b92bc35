"""Allocation failures: every raw allocation of a scenario fails in turn.

The module and the core allocate only through CPython's raw domain
(PyMem_Raw*, the core through cg_set_allocator), so the test extension
_fault (tests/python/capi/_fault.c) hooks that one domain and fails
allocation number n, counted from the hook, for n = 0, 1, 2, ... until a
run no longer reaches n.  CPython's own raw allocations in the scenario
(large blocks pymalloc hands on, thread states) fail in turn as well.

Each scenario runs in a subprocess, so a crash is a test failure, and
requires for every n: the scenario completes or fails with MemoryError
(raised, or reported through sys.unraisablehook / the thread's
excepthook), the same scenario then runs normally without the hook, and
afterwards no more greenlets or frames exist than before.  The number of
faults injected is printed to stderr.
"""
import os
import sys
import textwrap
import unittest

from support import GreenletTest, run_python

try:
    import _fault  # noqa: F401 (only the subprocesses use it)
except ImportError as exc:
    raise ImportError(
        "the fault injection extension _fault is missing; build it next to "
        "the greenlet package with: sh tests/python/capi/build.sh PYTHON DIR (%s)" % exc
    ) from exc

# Attempts per scenario: a run that still reaches allocation MAX_N fails
# the test (the scenarios need a few dozen).
MAX_N = 2000

# The driver run in each subprocess; a scenario defines scenario(ctx),
# run with the hook, and may define prepare(ctx), run just before without
# it (CPython's threading hangs when a new thread's bootstrap fails), where ctx.unraisable lists what sys.unraisablehook received during the
# run (a kill's error goes there, S78) and ctx.failing tells whether a
# fault is being injected.
DRIVER = r"""
import gc, json, os, sys, threading
import greenlet, _fault

if "prepare" not in globals():
    def prepare(ctx):
        pass

class Ctx:
    failing = False
    def __init__(self):
        self.unraisable = []
        self.thread_errors = []
        self.not_killed = 0     # kills a scenario saw not happen

ctx = Ctx()

def unraisable_hook(u):
    ctx.unraisable.append(u.exc_type)
sys.unraisablehook = unraisable_hook

def thread_hook(a):
    ctx.thread_errors.append(a.exc_type)
threading.excepthook = thread_hook

def settle():
    greenlet.getcurrent()
    for _ in range(3):
        gc.collect()

def census():
    settle()
    n = {"greenlet": 0, "frame": 0}
    for o in gc.get_objects():
        if isinstance(o, greenlet.greenlet):
            n["greenlet"] += 1
        elif type(o).__name__ == "frame":
            n["frame"] += 1
    return n

# Runs the scenario, failing raw allocation n (None: none); returns
# (what it raised, (counted, failed)).
def run_once(n=None):
    ctx.failing = n is not None
    ctx.not_killed = 0
    del ctx.unraisable[:], ctx.thread_errors[:]
    prepare(ctx)            # outside the hook: e.g. starting a thread
    if n is not None:
        _fault.fail_raw(n)
    try:
        scenario(ctx)
        raised = None
    except MemoryError:
        raised = MemoryError
    except BaseException as e:
        raised = repr(e)    # not the exception: its traceback holds frames
    finally:
        counts = _fault.restore()
        greenlet.settrace(None)
    return raised, counts

for _ in range(2):      # warm up: caches, the thread's main greenlet, ...
    r, _ = run_once()
    if r is not None or ctx.unraisable or ctx.thread_errors:
        print(json.dumps({"warmup": repr(r)}))
        sys.exit(3)
if MAX_N == 0:
    sys.exit(0)
base = census()
bad = []
faults = 0
# CG_FAULT_ONLY=n: that one attempt (to reproduce a finding).
n = int(os.environ.get("CG_FAULT_ONLY", 0))
per_run = None
while n < MAX_N:
    sys.stderr.write("attempt %d\n" % n)
    sys.stderr.flush()
    raised, (counted, failed) = run_once(n)
    errors = [t for t in ctx.unraisable + ctx.thread_errors if t is not MemoryError]
    if (raised is not None and raised is not MemoryError) or errors:
        bad.append((n, "fault: raised %r, reported %r" % (raised, errors)))
    if failed == 0 and (raised is not None or ctx.unraisable or ctx.thread_errors):
        bad.append((n, "no fault but raised %r, reported %r"
                    % (raised, ctx.unraisable + ctx.thread_errors)))
    # The module keeps working: the same scenario, without faults.
    again, _ = run_once()
    if again is not None or ctx.unraisable or ctx.thread_errors:
        bad.append((n, "after the fault: raised %r, reported %r"
                    % (again, ctx.unraisable + ctx.thread_errors)))
    now = census()
    if any(now[k] > base[k] for k in base) or ctx.not_killed:
        bad.append(
            (n, "leaked: before %r after %r, %d not killed" % (base, now, ctx.not_killed)))
        base = now
    faults += failed
    if failed == 0 or "CG_FAULT_ONLY" in os.environ:
        per_run = counted
        break
    n += 1
print(json.dumps({"faults": faults, "attempts": n + 1, "per_run": per_run,
                  "bad": [(i, str(m)) for i, m in bad[:20]], "nbad": len(bad)}))
"""


class FaultInjectionTest(GreenletTest):
    totals = {}
    notes = []

    @classmethod
    def tearDownClass(cls):
        # Printed at the end: a line of unittest -v must end in "ok".
        sys.stderr.write("".join("fault injection: %s\n" % n for n in cls.notes))
        sys.stderr.write("fault injection: %d faults injected in total (%s)\n" % (
            sum(cls.totals.values()),
            ", ".join("%s %d" % kv for kv in sorted(cls.totals.items()))))

    def inject(self, name, code):
        """Runs scenario `code` under the driver; asserts no crash and no
        anomaly (a leak is one); records the number of faults."""
        import json
        program = textwrap.dedent(code) + "\nMAX_N = %d\n" % MAX_N + DRIVER
        rc, out, err = run_python(program, timeout=600)
        tail = "\n".join(err.splitlines()[-40:])
        self.assertEqual(rc, 0, "%s: exit status %r (a crash at the last attempt):\n%s"
                         % (name, rc, tail))
        result = json.loads(out.splitlines()[-1])
        self.assertEqual(result["bad"], [], "%s: %d anomalies" % (name, result["nbad"]))
        self.assertIsNotNone(result["per_run"], "%s: still failing after %d attempts"
                             % (name, MAX_N))
        self.assertGreater(result["faults"], 0, name)
        type(self).totals[name] = result["faults"]
        self.notes.append("%s: %d faults, %d raw allocations per run"
                          % (name, result["faults"], result["per_run"]))

    def test_switch_args_kwargs(self):  # S17 S20 S21
        self.inject("switch", r"""
        def scenario(ctx):
            main = greenlet.getcurrent()
            def f(a, b=None):
                x = main.switch(a + 1, k=b)
                y = main.switch(x)
                return [x, y, a, b]
            for _ in range(3):
                g = greenlet.greenlet(f)
                assert g.switch(1, b=[2]) == ((2,), {"k": [2]})
                assert g.switch("x") == "x"
                assert g.switch(y=1) == ["x", {"y": 1}, 1, [2]]
                assert g.dead
            # Nested: a child of a greenlet switches to main; main resumes
            # the parent, which finishes; the child is killed when dropped.
            def outer():
                inner = greenlet.greenlet(lambda v: main.switch(v) * 2)
                return inner.switch(3) + 1
            g = greenlet.greenlet(outer)
            assert g.switch() == 3
            assert g.switch(5) == 6
            assert g.dead
        """)

    def test_many_alive(self):  # S20 S77
        # More live greenlets than the core keeps spare records (64), so
        # core creation (cg_create) allocates even after the warm-up.
        self.inject("many", r"""
        def scenario(ctx):
            main = greenlet.getcurrent()
            def f(i, k=None):
                try:
                    return main.switch(i) + k
                finally:
                    pass
            gs = []
            for i in range(100):
                g = greenlet.greenlet(f)
                assert g.switch(i, k=1) == i
                gs.append(g)
            for i, g in enumerate(gs[:50]):
                assert g.switch(i) == i + 1
            del gs[:]                   # the other half killed (S77)
        """)

    def test_throw(self):  # S57 S58 S60
        self.inject("throw", r"""
        class Boom(Exception):
            pass
        def scenario(ctx):
            main = greenlet.getcurrent()
            def f():
                try:
                    main.switch(1)
                except Boom as e:
                    return ("caught", e.args)
            g = greenlet.greenlet(f)
            assert g.switch() == 1
            assert g.throw(Boom, "x") == ("caught", ("x",))
            # Into a not-started greenlet: it dies at once, the error
            # comes back.
            g = greenlet.greenlet(f)
            try:
                g.throw(Boom("y"))
            except Boom:
                pass
            else:
                raise AssertionError("throw into a new greenlet returned")
            # GreenletExit into a suspended one: returned as a value.
            g = greenlet.greenlet(f)
            g.switch()
            r = g.throw()
            assert isinstance(r, greenlet.GreenletExit), r
            assert g.dead
        """)

    def test_kill_last_reference(self):  # S77 S78
        self.inject("kill", r"""
        def scenario(ctx):
            main = greenlet.getcurrent()
            ran = []
            def f(a, k=None):
                try:
                    main.switch(a)
                finally:
                    ran.append(k)
            for i in range(3):
                g = greenlet.greenlet(f)
                g.switch(i, k=[i])
                del g
            # A kill that switches to another greenlet while unwinding.
            def g2():
                try:
                    main.switch()
                finally:
                    greenlet.greenlet(lambda: ran.append("helper")).switch()
            g = greenlet.greenlet(g2)
            g.switch()
            del g
            # An error from the kill goes to sys.unraisablehook (S78).
            assert len(ran) == 4 and ran[-1] == "helper" or ctx.unraisable, ran
        """)

    def test_gc_cycle(self):  # S80
        self.inject("gc_cycle", code=r"""
        def scenario(ctx):
            main = greenlet.getcurrent()
            ran = []
            def f(*args, **kw):
                me = greenlet.getcurrent()   # a cycle through the frame
                try:
                    main.switch()
                finally:
                    ran.append(len(args))
                    [object() for _ in range(100)]
            for i in range(3):
                g = greenlet.greenlet(f)
                g.switch(*range(i), k=[i])
                g.self = g                    # and through the dict
                del g
            gc.collect()
            if sorted(ran) != [0, 1, 2] and not ctx.unraisable:
                assert ctx.failing, ran
                ctx.not_killed += 3 - len(ran)
        """)

    def test_thread_exit(self):  # S85 S86
        self.inject("thread_exit", code=r"""
        def prepare(ctx):
            ctx.go = go = threading.Event()
            ctx.box = box = []
            def worker():
                go.wait()
                main = greenlet.getcurrent()
                def f(n):
                    try:
                        raise KeyError(n)
                    except KeyError:
                        main.switch()   # suspended inside except
                for i in range(3):
                    g = greenlet.greenlet(f)
                    g.switch(i)
                    box.append(g)
            ctx.thread = threading.Thread(target=worker)
            ctx.thread.start()
        def scenario(ctx):
            box = ctx.box
            ctx.go.set()
            ctx.thread.join()
            greenlet.getcurrent()
            for g in box:
                assert g.dead and g.gr_frame is None, g
            try:
                box and box[0].switch()
            except greenlet.error:
                pass
            else:
                assert not box, "switched into a dead thread's greenlet"
            del box[:]
            del ctx.thread, ctx.go, ctx.box
        """)

    def test_settrace(self):  # S100 S101
        self.inject("settrace", r"""
        def scenario(ctx):
            events = []
            def tracer(event, args):
                events.append((event, args[0] is not None))
                if event == "throw":
                    [object() for _ in range(50)]
            old = greenlet.settrace(tracer)
            try:
                main = greenlet.getcurrent()
                g = greenlet.greenlet(lambda: main.switch(1) + 1)
                assert g.switch() == 1
                assert g.switch(2) == 3
                g = greenlet.greenlet(lambda: main.switch())
                g.switch()
                try:
                    g.throw(ValueError)
                except ValueError:
                    pass
            finally:
                greenlet.settrace(old)
            # The error dying through g into main is traced as a second throw.
            assert events == [("switch", True)] * 6 + [("throw", True)] * 2, events
        """)

    def test_gr_frame(self):  # S44 H15
        self.inject("gr_frame", r"""
        def scenario(ctx):
            main = greenlet.getcurrent()
            def a(n):
                return b(n) + 1
            def b(n):
                return sorted([n], key=lambda x: main.switch(x))[0]
            g = greenlet.greenlet(a)
            assert g.switch(5) == 5
            names = []
            f = g.gr_frame
            while f is not None:
                names.append(f.f_code.co_name)
                f = f.f_back
            assert names[-2:] == ["b", "a"], names
            greenlet.greenlet(lambda: [0] * 1000).switch()
            assert g.gr_frame.f_back.f_code.co_name == "b", names
            assert g.switch(7) == 6
            assert g.gr_frame is None
        """)

    def test_deep_recursion(self):  # H10
        self.inject("recursion", r"""
        def scenario(ctx):
            main = greenlet.getcurrent()
            def deep(n, pad):
                if n == 0:
                    return main.switch(pad) + 1
                return deep(n - 1, pad) + 1
            # Deep stacks saved and restored in turn (copy-stack slices).
            gs = [greenlet.greenlet(deep) for _ in range(3)]
            for i, g in enumerate(gs):
                assert g.switch(200 + 50 * i, i) == i
            for i, g in enumerate(gs):
                assert g.switch(0) == 201 + 50 * i
            # RecursionError inside a greenlet is an ordinary exception.
            def forever(n):
                return forever(n + 1)
            try:
                greenlet.greenlet(forever).switch(0)
            except RecursionError:
                pass
            else:
                raise AssertionError("no RecursionError")
            # A chain of greenlets each starting the next; the bottom one
            # returns through all of them.
            chain_ = []
            def chain(n):
                chain_.append(greenlet.getcurrent())
                if n == 0:
                    return main.switch("bottom")
                return greenlet.greenlet(chain).switch(n - 1)
            top = greenlet.greenlet(chain)
            assert top.switch(30) == "bottom"
            assert chain_[-1].switch("up") == "up"
            assert all(g.dead for g in chain_)
        """)


if __name__ == "__main__":
    unittest.main()
