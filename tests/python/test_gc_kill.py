"""Suspended greenlets found unreachable by the cyclic collector are
killed with GreenletExit (S80, S77), and nothing they do while dying may
crash or corrupt the collector: arguments they were started with,
finally blocks that free and allocate, swallowing GreenletExit, tracers,
nested cycles, other threads, collections started by allocation.

Each scenario runs in a fresh interpreter: a regression here is a
segfault in the collector."""
import unittest

from support import GreenletTest, run_python

TIMEOUT = 120

# Shared prologue of the scenarios: `park(run, *args, **kwargs)` starts a
# greenlet that switches straight back and puts it in a cycle through its
# own __dict__.
PROLOGUE = """
import gc, sys, threading, weakref
import greenlet
from greenlet import GreenletExit, getcurrent
main = getcurrent()
def park(run, *args, **kwargs):
    g = greenlet.greenlet(run)
    g.switch(*args, **kwargs)
    g.selfref = g
    return weakref.ref(g)
"""


class CollectorKillTest(GreenletTest):
    def scenario(self, body, expect="ok"):
        rc, out, err = run_python(PROLOGUE + body, timeout=TIMEOUT)
        self.assertEqual(rc, 0, "exit status %d\nstdout: %s\nstderr: %s" % (rc, out, err[-3000:]))
        self.assertEqual(out.strip().splitlines()[-1:], [expect], err[-3000:])
        return out, err

    def test_started_with_positional_arguments(self):  # S80 (the fuzzer's segfault)
        self.scenario("""
T = {0: main}
def run(*args, **kwargs):
    T[0].switch()
for i in range(20):
    T[1] = greenlet.greenlet(run)
    T[1].switch(*["xyz", 69], **{})
    T[1].selfref = T[1]
    del T[1]
    gc.collect()
print("ok")
""")

    def test_arguments_and_kwargs_reach_finally_then_freed(self):  # S80 S77
        self.scenario("""
log = []
freed = [0]
class Arg:
    def __del__(self):
        freed[0] += 1
def run(a, b, *rest, key=None, **more):
    try:
        main.switch()
    finally:
        log.append((type(a), len(b), len(rest), type(key), sorted(more)))
for i in range(50):
    w = park(run, Arg(), [i] * 100, *range(10), key=Arg(), extra={"x": Arg()})
    gc.collect()
    assert log == [(Arg, 100, 10, Arg, ["extra"])], log
    del log[:]
    gc.collect()
    assert w() is None, "not freed"
assert freed[0] == 150, freed
print("ok")
""")

    def test_killed_by_the_collection_that_found_it(self):  # S80 S77
        self.scenario("""
log = []
def run():
    try:
        main.switch()
    except GreenletExit as e:
        log.append(str(e))
        raise
w = park(run)
gc.collect()
assert log == ["Killing the greenlet because all references have vanished."], log
assert w() is None
print("ok")
""")

    def test_finally_frees_and_allocates_cycles(self):  # S80 S84
        # The dying greenlet frees objects that were found in the same
        # garbage set and makes new cycles: the collector's lists must be
        # untouched by then.
        self.scenario("""
class Node:
    def __init__(self):
        self.me = self
        self.payload = [object() for _ in range(20)]
def run():
    try:
        main.switch()
    finally:
        getcurrent().nodes.clear()
        junk = [Node() for _ in range(200)]
        del junk
done = []
for i in range(100):
    g = greenlet.greenlet(run)
    g.switch()
    g.selfref = g
    w = weakref.ref(g)
    nodes = g.nodes = [Node() for _ in range(50)]
    nodes[0].back = g       # the garbage set holds the greenlet and nodes
    wn = weakref.ref(nodes[-1])
    del nodes, g
    gc.collect()
    assert wn() is None and not w(), (wn(), w())
    gc.collect()
    assert w() is None
print("ok")
""")

    def test_swallowing_greenlet_exit_and_switching_back(self):  # S80 S78
        out, err = self.scenario("""
count = [0]
def run():
    while True:
        try:
            main.switch()
        except GreenletExit:
            count[0] += 1
            junk = [[] for _ in range(100)]
for i in range(30):
    park(run)
    gc.collect()
    gc.collect()
print(count[0] >= 30)
print("ok")
""")
        self.assertEqual(out.split()[0], "True")
        self.assertIn("GreenletExit did not kill", err)

    def test_dying_greenlet_switches_to_others(self):  # S80
        self.scenario("""
log = []
def helper():
    caller, x = main.switch()
    while True:
        caller, x = caller.switch(x + 1)
def run(h):
    try:
        main.switch()
    finally:
        log.append(h.switch(getcurrent(), 41))
        other = greenlet.greenlet(lambda: [object() for _ in range(500)] and 7)
        log.append(other.switch())
for i in range(30):
    h = greenlet.greenlet(helper)
    h.switch()
    w = park(run, h)
    gc.collect()
    assert log == [42, 7], log
    del log[:]
print("ok")
""")

    def test_tracer_sees_the_kill(self):  # S80 S97
        self.scenario("""
events = []
def tracer(event, args):
    origin, target = args
    events.append((event, origin is main, target is main))
def run():
    main.switch()
greenlet.settrace(tracer)
for i in range(10):
    park(run)
    del events[:]
    gc.collect()
    assert events == [("throw", True, False), ("switch", False, True)], events
greenlet.settrace(None)
print("ok")
""")

    def test_tracer_that_raises_during_the_kill(self):  # S80 S100
        out, err = self.scenario("""
def tracer(event, args):
    raise ValueError("tracer")
def run():
    main.switch()
for i in range(10):
    w = park(run)
    greenlet.settrace(tracer)
    gc.collect()
    greenlet.settrace(None)
    gc.collect()
    assert w() is None
print("ok")
""")

    def test_nested_cycles_of_greenlets(self):  # S80
        # A tree of suspended greenlets: parents point up, __dict__s point
        # down, every one in its own cycle too.
        self.scenario("""
log = []
def run(depth):
    try:
        main.switch()
    finally:
        log.append(depth)
for i in range(10):
    root = greenlet.greenlet(run)
    root.switch(0)
    level = [root]
    for depth in range(1, 6):
        nxt = []
        for p in level:
            p.kids = []
            for k in range(2):
                g = greenlet.greenlet(run, parent=p)
                g.switch(depth)
                g.selfref = g
                p.kids.append(g)
                nxt.append(g)
        level = nxt
    w = weakref.ref(root)
    del root, level, nxt, p, g
    gc.collect()
    assert sorted(log) == sorted(d for d in range(6) for _ in range(2 ** d)), sorted(log)
    gc.collect()
    assert w() is None
    del log[:]
print("ok")
""")

    def test_collection_started_by_allocation(self):  # S80
        self.scenario("""
gc.set_threshold(5, 2, 2)
killed = [0]
def run(*args):
    try:
        main.switch()
    finally:
        killed[0] += 1
        garbage = [{} for _ in range(50)]
for i in range(2000):
    park(run, i, "x", *range(i % 7))
gc.collect()
assert killed[0] == 2000, killed
print("ok")
""")

    def test_collector_callback_removed_kill_comes_later(self):  # S80 S82
        self.scenario("""
gc.callbacks.clear()
log = []
def run():
    try:
        main.switch()
    finally:
        log.append("finally")
w = park(run, )
gc.collect()
getcurrent()    # the thread's next greenlet operation
assert log == ["finally"], log
gc.collect()
assert w() is None
print("ok")
""")

    def test_other_threads_greenlets_and_own_collections(self):  # S80 S82
        self.scenario("""
# Each worker parks greenlets in cycles while every thread collects;
# a greenlet found by another thread's collection is killed in its own
# thread at that thread's next greenlet operation (S82).
errors = []
killed = []
parked = threading.Barrier(5)
collected = threading.Barrier(5)
def worker(n):
    me = getcurrent()
    ident = threading.get_ident()
    try:
        def run(*a):
            try:
                me.switch()
            finally:
                killed.append(threading.get_ident() == ident)
        for i in range(200):
            park(run, i, *range(i % 5))
            if i % 7 == 0:
                gc.collect()
        parked.wait()
        collected.wait()
        getcurrent()
    except BaseException as e:
        errors.append(e)
threads = [threading.Thread(target=worker, args=(n,)) for n in range(4)]
for t in threads:
    t.start()
for i in range(20):
    gc.collect()
parked.wait()
gc.collect()
collected.wait()
for t in threads:
    t.join()
assert not errors, errors
assert killed == [True] * 800, (len(killed), killed.count(True))
print("ok")
""")


class FrameCycleTest(GreenletTest):
    """Cycles through a suspended greenlet's own frames (S80): the
    collector sees what the frames hold, finds the greenlet unreachable and
    it is killed like any other; a reachable one keeps its frames intact."""

    def scenario(self, body, expect="ok"):
        return CollectorKillTest.scenario(self, body, expect)

    def test_local_reference_to_itself_is_collected_and_killed(self):  # S80 S77
        self.scenario("""
log = []
def run(*args):
    me = getcurrent()
    try:
        main.switch()
    finally:
        log.append(("finally", me is getcurrent(), args))
for i in range(20):
    g = greenlet.greenlet(run)
    g.switch(i, "x")
    w = weakref.ref(g)
    del g
    gc.collect()
    assert log == [("finally", True, (i, "x"))], log
    del log[:]
    gc.collect()
    assert w() is None
print("ok")
""")

    def test_reference_deep_in_nested_calls(self):  # S80
        self.scenario("""
# (On 3.9/3.10 an argument also stays on the caller's value stack, which
# is not reported: the cycle goes through variables only.)
log = []
def c():
    holder = {"me": getcurrent()}
    try:
        main.switch()
    finally:
        log.append("c")
def b():
    c()
def a():
    me = getcurrent()
    b()
for i in range(20):
    g = greenlet.greenlet(a)
    g.switch()
    w = weakref.ref(g)
    del g
    gc.collect()
    assert log == ["c"], log
    del log[:]
    gc.collect()
    assert w() is None
print("ok")
""")

    def test_cycle_through_the_pending_switch_call(self):  # S80
        # The child is referenced only by the call outer is suspended in
        # (its value stack) and points back through its parent (found by
        # the stateful fuzzer).
        self.scenario("""
log = []
def inner():
    try:
        main.switch()
    finally:
        log.append("inner")
def outer():
    try:
        child.switch()
    finally:
        log.append("outer")
for i in range(10):
    outer_g = greenlet.greenlet(outer)
    child = greenlet.greenlet(inner, parent=outer_g)
    outer_g.switch()
    w = weakref.ref(child)
    del outer_g, child
    for k in range(3):
        gc.collect()
    assert w() is None, w()
    assert sorted(log) == ["inner", "outer"], log
    del log[:]
print("ok")
""")

    def test_reachable_greenlet_frames_stay_intact(self):  # S80
        # Collections while a suspended greenlet with frame cycles is
        # still referenced must leave its variables alone.
        self.scenario("""
def run():
    me = getcurrent()
    data = [me, {"k": me}, [object() for _ in range(10)]]
    cell = data
    def closure():
        return cell
    total = 0
    for i in range(100):
        got = main.switch(len(data))
        assert got == i, (got, i)
        assert data[0] is me and data[1]["k"] is me and closure() is data
        total += 1
    return total
g = greenlet.greenlet(run)
assert g.switch() == 3
for i in range(99):
    garbage = [[] for _ in range(100)]
    for x in garbage:
        x.append(x)
    gc.collect()
    assert g.switch(i) == 3
assert g.switch(99) == 100
print("ok")
""")

    def test_survivor_of_a_kill_stays_resumable(self):  # S80 S78
        # Finalized once (it swallowed GreenletExit): its frames are no
        # longer reported, it is never freed live and resumes intact.
        self.scenario("""
log = []
def run():
    me = getcurrent()
    data = ["intact", me]
    while True:
        try:
            v = main.switch()
            log.append((v, data[0]))
            if v == "stop":
                return "done"
        except GreenletExit:
            log.append("swallowed")
g = greenlet.greenlet(run)
g.switch()
ident = id(g)
del g
gc.collect()
assert log == ["swallowed"], log
for i in range(5):
    gc.collect()
# Found again without having kept a reference: its frames keep it.
found = [o for o in gc.get_objects()
         if isinstance(o, greenlet.greenlet) and id(o) == ident]
assert len(found) == 1, "freed while suspended"
g = found[0]
del found
g.switch(1)
assert log[-1] == (1, "intact"), log
assert g.switch("stop") == "done"
assert log[-1] == ("stop", "intact"), log
print("ok")
""")

    def test_other_threads_frame_cycle_killed_in_its_thread(self):  # S80 S82
        self.scenario("""
log = []
ready = threading.Event()
go = threading.Event()
def worker():
    me_main = getcurrent()
    def run():
        me = getcurrent()
        try:
            me_main.switch()
        finally:
            log.append(threading.current_thread().name)
    g = greenlet.greenlet(run)
    g.switch()
    del g
    ready.set()
    go.wait()
    getcurrent()    # the thread's next greenlet operation
t = threading.Thread(target=worker, name="worker")
t.start()
ready.wait()
gc.collect()        # found here, killed there
go.set()
t.join()
assert log == ["worker"], log
print("ok")
""")


if __name__ == "__main__":
    unittest.main()
