"""The hypothesis state machine: random operations on real greenlets
(world.py), each checked against the model (model.py).

Rules take only ints, tuples and lists, so a failing example prints as
a standalone program (`state = GreenletMachine()`, `state.switch(...)`).
Every executed step is also appended to the file named by
FUZZ_STEPS_FILE before it runs, so that a crashed process still leaves
its program behind (run_fuzz.py prints it).

FUZZ_EXCLUDE (comma-separated) narrows what is checked while known
defects are being fixed: gc-cycles leaves out gc.collect() of suspended
greenlets in reference cycles (a crash);
tracer-record, tracer-raise, tracer-switch leave out that trace callback.
"""
import contextvars
import faulthandler
import functools
import gc
import io
import os
import sys
import threading
import time
import weakref

import greenlet
from hypothesis import HealthCheck, settings, strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

import model as M
from model import MAIN, Model, make_args, make_exc, received
from world import VAR, TracerError, World, norm

EXCLUDE = set(filter(None, os.environ.get("FUZZ_EXCLUDE", "").split(",")))
STEPS_FILE = os.environ.get("FUZZ_STEPS_FILE")
# An example running longer than this many seconds is a hang: the
# process prints every thread's stack and exits.
EXAMPLE_TIMEOUT = float(os.environ.get("FUZZ_EXAMPLE_TIMEOUT", "0"))
OPS = [0]

idx = st.integers(0, 40)
seed = st.integers(0, 10 ** 6)
choice = st.tuples(st.integers(0, 8), idx, seed, st.integers(0, 9))
choices = st.lists(choice, max_size=12)
# Python call depth at which main switches, drops or collects: with
# CPython's data stack (3.11+) the depth changes what the module must
# save and restore.
depth = st.one_of(st.just(0), st.integers(0, 40), st.just(70))


def step(fn):
    """Counts and records a rule's execution as a line of Python."""
    @functools.wraps(fn)
    def wrapper(self, **kw):
        OPS[0] += 1
        line = "state.%s(%s)" % (fn.__name__, ", ".join(
            "%s=%r" % kv for kv in sorted(kw.items())))
        self.steps.append(line)
        if STEPS_FILE:
            with open(STEPS_FILE, "a") as f:
                f.write(line + "\n")
        return fn(self, **kw)
    return wrapper


class Mismatch(AssertionError):
    pass



def collect_twice():
    gc.collect()
    gc.collect()

class GreenletMachine(RuleBasedStateMachine):
    def __init__(self):
        super().__init__()
        if EXAMPLE_TIMEOUT:
            faulthandler.dump_traceback_later(EXAMPLE_TIMEOUT, exit=True)
        self.steps = []
        if STEPS_FILE:
            with open(STEPS_FILE, "w") as f:
                f.write("state = GreenletMachine()\n")
        self.gc_was_enabled = gc.isenabled()
        gc.disable()
        gc.collect()
        # Collections then only look at what this example made: fast.
        gc.freeze()
        self.model = Model()
        # The world switches through g.switch(*args, **kwargs): the bound
        # method sits on the caller's value stack, a temporary the
        # collector is not told about (docs/python-module.md, Known
        # limits), so what a suspended switch() holds stays reachable.
        self.model.opaque_frames = True
        self.world = World()
        self.main_ctx = self.world.main.gr_context
        self.saved_hook = sys.unraisablehook
        sys.unraisablehook = self.world.unraisable_hook
        greenlet.settrace(None)

    # ---- helpers -------------------------------------------------------

    def fail(self, what, expected, got):
        raise Mismatch("%s:\n  expected %r\n  got      %r\n  steps:\n    %s" % (
            what, expected, got, "\n    ".join(self.steps)))

    def pick(self, i, pool=None):
        pool = sorted(self.model.held) if pool is None else pool
        return pool[i % len(pool)] if pool else None

    def start_op(self):
        self.model.begin_op()
        w = self.world
        w.log, w.kills, w.events, w.unraisable, w.off_plan = [], [], [], [], []

    def check_op(self, main_expected=None, main_got=None):
        m, w = self.model, self.world
        if w.off_plan:
            self.fail("a greenlet ran off the plan", m.plan, w.off_plan)
        if main_expected is not None and main_expected != main_got:
            self.fail("what arrived at main", main_expected, main_got)
        if m.log != w.log:
            self.fail("arrival log", m.log, w.log)
        if sorted(map(repr, m.kills)) != sorted(map(repr, w.kills)):
            self.fail("greenlets killed", m.kills, w.kills)
        if m.unraisable != len(w.unraisable):
            self.fail("unraisable exceptions", m.unraisable, w.unraisable)
        if m.tracer == "record" and m.events_reliable and m.events != w.events:
            self.fail("trace events", m.events, w.events)
        if w.plan:
            self.fail("plan left unexecuted", [], w.plan)

    def obj(self, gid):
        return self.world.wrefs[gid]()

    def add(self, gid, g):
        g.fuzz_gid = gid
        self.world.refs[gid] = g
        self.world.wrefs[gid] = weakref.ref(g)

    def run_op(self, action, depth=0):
        """One switch or throw from main: model first, then for real."""
        self.start_op()
        m, w = self.model, self.world
        expected = m.simulate(action, self.pending_choices)
        w.plan = list(m.plan)
        w.kill_expected = set(m.kill_expected)
        if action[0] == "switch":
            got = w.at_depth(depth, w.switch, action[1], action[2], action[3])
        else:
            got = w.at_depth(depth, w.throw, action[1], action[2])
        got = (got[0], norm(got[1]))
        self.check_op(expected, got)

    # ---- rules -----------------------------------------------------------

    # The stack it runs on must change nothing the model sees: the thread's
    # default (None), the shared stack (0) or a dedicated one as deep as a
    # thread's (docs/python-module.md, "Dedicated stacks").
    @rule(parent=st.one_of(st.none(), idx), policy=st.integers(0, 2),
          stack=st.sampled_from([None, None, 0, 8 << 20]))
    @step
    def create(self, parent, policy, stack):  # S9 S11
        gid = self.new_greenlet(None if parent is None else self.pick(parent), policy)
        if stack is not None:
            self.world.refs[gid].gr_stack_size = stack

    def new_greenlet(self, p, policy):
        m = self.model
        gid = m.new_gid()
        g = M.G(gid, MAIN if p is None else p, policy=M.KILL_POLICIES[policy])
        m.gs[gid] = g
        m.held.add(gid)
        self.world.policy[gid] = g.policy
        kw = {} if p is None else {"parent": self.world.refs[p]}
        self.add(gid, greenlet.greenlet(self.world.make_run(gid), **kw))
        return gid

    @rule(to=idx, args=seed, plan=choices, depth=depth)
    @step
    def switch(self, to, args, plan, depth=0):  # S16 S20 S21 S26-S30
        a, k = make_args(args)
        self.pending_choices = plan
        self.run_op(("switch", self.pick(to), a, k, depth, None), depth)

    @rule(to=idx, exc=seed, plan=choices, depth=depth)
    @step
    def throw(self, to, exc, plan, depth=0):  # S56-S62
        self.pending_choices = plan
        self.run_op(("throw", self.pick(to), make_exc(exc), depth, None), depth)

    @rule(n=st.integers(2, 40), args=seed)
    @step
    def chain(self, n, args):  # H10: a chain of nested starts
        m = self.model
        parent = MAIN
        first = m.next_gid
        for _ in range(n):
            parent = self.new_greenlet(parent, 0)
        # Each starts the next; the innermost switches back to main.
        order = sorted(m.held)
        plan = [(0, order.index(g + 1), args + g, 0) for g in range(first, first + n - 1)]
        self.pending_choices = plan + [(0, order.index(MAIN), args, 0)]
        a, k = make_args(args)
        self.run_op(("switch", first, a, k, 0, None))

    @precondition(lambda self: len(self.model.held) > 1)
    @rule(i=idx, depth=depth)
    @step
    def drop(self, i, depth=0):  # S77 S78 S79
        m = self.model
        gid = self.pick(i, sorted(m.held - {MAIN}))
        self.uninstall_raise_tracer()
        self.start_op()
        m.held.discard(gid)
        m.peel()
        self.world.at_depth(depth, self.world.release, gid)
        self.check_op()

    @rule(i=idx, j=idx)
    @step
    def link(self, i, j):  # S79 S80: cycles through __dict__
        self.add_link(self.pick(i), self.pick(j))

    def add_link(self, a, b):
        if a == MAIN:
            return
        self.model.gs[a].links.append(b)
        name = "selfref" if a == b else "link%d" % len(self.model.gs[a].links)
        setattr(self.world.refs[a], name, self.world.refs[b])

    @rule(i=idx)
    @step
    def selfref(self, i):  # S79 S80: g.selfref = g
        self.add_link(self.pick(i), self.pick(i))

    @rule(depth=depth)
    @step
    def collect(self, depth=0):  # S80
        m = self.model
        if "gc-cycles" in EXCLUDE and m.cyclic_suspended_garbage():
            return
        self.uninstall_raise_tracer()
        self.start_op()
        m.peel(collect=True)
        # The collection that finds a suspended greenlet in a cycle kills
        # it once it is done; the dead greenlet's cycle goes with the next
        # one (docs/python-module.md), which the model folds into this step.
        self.world.at_depth(depth, collect_twice)
        self.check_op()

    @precondition(lambda self: len(self.model.held) > 1)
    @rule(i=idx)
    @step
    def swallow(self, i):  # S78: GreenletExit did not kill
        m = self.model
        candidates = [g for g in sorted(m.held - {MAIN})
                      if m.gs[g].state == "active" and m.gs[g].thread == "M"
                      and not any(g in m.edges(x) for x in m.gs.values()
                                  if x.gid != g)
                      and g not in m.gs[g].links]
        gid = self.pick(i, candidates)
        if gid is None:
            return
        self.uninstall_raise_tracer()
        self.start_op()
        m.held.discard(gid)
        m.swallow(gid)
        self.world.policy[gid] = "swallow"
        err, sys.stderr = sys.stderr, io.StringIO()
        try:
            del self.world.refs[gid]
        finally:
            err, sys.stderr = sys.stderr, err
        self.check_op()
        if "GreenletExit did not kill" not in err.getvalue():
            self.fail("S78 message on stderr", "GreenletExit did not kill ...", err.getvalue())

    @rule(i=idx, j=idx, how=st.integers(0, 3))
    @step
    def set_parent(self, i, j, how):  # S34-S40
        m = self.model
        gid, p = self.pick(i), self.pick(j)
        g = self.world.refs[gid]
        if how == 2:
            expected = AttributeError   # S35
            value = None
        elif m.gs[gid].is_main:
            expected = AttributeError   # S36
        elif how == 1:
            expected = TypeError        # S34
        elif gid in m.chain(p):
            expected = ValueError       # S37
        elif m.gs[gid].state != "new" and m.thread_of(p) != m.thread_of(gid):
            expected = ValueError       # S38
        else:
            expected = None
            if m.thread_of(p) != "M" and m.children(gid):
                return                  # the model keeps started greenlets on our thread
        self.uninstall_raise_tracer()
        self.start_op()
        try:
            if how == 2:
                del g.parent
            elif how == 1:
                g.parent = 42
            else:
                g.parent = self.world.refs[p]
            got = None
        except BaseException as e:
            got = type(e)
        del g
        if got is not expected:
            self.fail("set parent %d -> %d" % (gid, p), expected, got)
        if expected is None:
            m.gs[gid].parent = p
            m.peel()
        self.check_op()

    @rule(i=idx, val=st.one_of(st.none(), seed))
    @step
    def context(self, i, val):  # S107-S110
        m = self.model
        gid = self.pick(i)
        if val is None:
            ctx = None
        else:
            ctx = contextvars.Context()
            ctx.run(VAR.set, val)
        self.world.refs[gid].gr_context = ctx
        m.gs[gid].var = val
        if self.world.refs[gid].gr_context is not ctx and ctx is not None:
            self.fail("gr_context read back", ctx, self.world.refs[gid].gr_context)

    @rule(kind=st.sampled_from([None, "record", "raise", "switch"]))
    @step
    def settrace(self, kind):  # S67 S97-S103
        w = self.world
        if "tracer-%s" % kind in EXCLUDE:
            kind = None
        fn = {None: None, "record": w.record_tracer, "raise": w.raise_tracer,
              "switch": w.switch_tracer}[kind]
        greenlet.settrace(fn)
        self.model.tracer = kind

    def uninstall_raise_tracer(self):
        if self.model.tracer == "raise":
            greenlet.settrace(None)
            self.model.tracer = None

    @rule(i=idx, how=st.integers(0, 3))
    @step
    def cross_thread(self, i, how):  # S73 S76 S111
        m, w = self.model, self.world
        gid = self.pick(i)
        target = w.refs[gid]
        out = []
        state = self.expected_state(gid)

        def run():
            try:
                if how == 0:
                    target.switch(1)
                elif how == 1:
                    target.throw(ValueError)
                elif how == 2:
                    greenlet.greenlet(target.switch, parent=target).switch()
                else:
                    greenlet.getcurrent().parent = target
                out.append("no error")
            except greenlet.error:
                out.append("error")
            except (ValueError, AttributeError):
                out.append("error" if how == 3 else "ValueError")
            except BaseException as e:
                out.append(repr(e))
            try:
                out.append((target.dead, bool(target)))
                ctx_err = None
                try:
                    target.gr_context
                except ValueError:
                    ctx_err = ValueError
                out.append(ctx_err)
            except BaseException as e:
                out.append(repr(e))

        t = threading.Thread(target=run)
        t.start()
        t.join()
        del target
        running = gid == MAIN
        expected = ["error", (state[0], state[1]), ValueError if running else None]
        if out != expected:
            self.fail("cross-thread use of %d" % gid, expected, out)

    @rule(n=st.integers(1, 4), with_main=st.booleans())
    @step
    def thread_exit(self, n, with_main):  # S85 S86 S74
        """A thread starts a chain of n greenlets, each left suspended, and
        exits: they and its main greenlet end up dead, and none of their
        code runs (no finally)."""
        m = self.model
        made = []
        ran = []

        def run():
            tmain = greenlet.getcurrent()

            def body(i):
                try:
                    tmain.switch(i)
                finally:
                    ran.append(i)
            made.append(tmain)
            for i in range(n):
                g = greenlet.greenlet(body, parent=made[-1])
                g.switch(i)
                made.append(g)
            del g, tmain
        t = threading.Thread(target=run)
        t.start()
        t.join()
        label = "T%d" % m.next_gid
        del t
        greenlet.getcurrent()
        prev = None
        for i, g in enumerate(made):
            gid = m.new_gid()
            mg = M.G(gid, prev, thread=label)
            mg.state = "dead"
            mg.is_main = i == 0
            m.gs[gid] = mg
            self.add(gid, g)
            if i > 0 or with_main:
                m.held.add(gid)
            else:
                del self.world.refs[gid]
            prev = gid
        del made, g
        deadline = time.time() + 2
        while time.time() < deadline and any(
                g is not None and not g.dead for g in
                (self.obj(x) for x in m.gs if m.gs[x].thread == label)):
            time.sleep(0.01)
            greenlet.getcurrent()
        if ran:
            self.fail("code of greenlets of an exited thread ran (S85)", [], ran)

    @precondition(lambda self: len(self.model.held) > 1)
    @rule(i=idx)
    @step
    def drop_in_thread(self, i):  # S82
        m = self.model
        gid = self.pick(i, sorted(m.held - {MAIN}))
        self.uninstall_raise_tracer()
        self.start_op()
        box = [self.world.refs.pop(gid)]
        m.held.discard(gid)
        t = threading.Thread(target=box.clear)
        del box
        t.start()
        t.join()
        greenlet.getcurrent()
        m.peel()
        self.check_op()

    # ---- invariants ------------------------------------------------------

    def expected_state(self, gid):
        """(dead, bool, repr suffix, has a frame) per S44-S47, S54."""
        g = self.model.gs[gid]
        if g.state == "new":
            return (False, False, " pending", False)
        if g.state == "dead":
            return (True, False, " dead", False)
        if gid == self.model.cur:
            return (False, True, " current active started" + (" main" if g.is_main else ""), False)
        return (False, True, " suspended active started", True)

    @invariant()
    def states_match(self):
        m, w = self.model, self.world
        for gid, g in sorted(m.gs.items()):
            obj = w.wrefs[gid]()
            if g.state == "freed":
                if obj is not None and g.thread == "M":
                    self.fail("greenlet %d should be freed" % gid, None, obj)
                continue
            if obj is None:
                self.fail("greenlet %d was freed" % gid, g.state, None)
            dead, alive, suffix, frame = self.expected_state(gid)
            r = repr(obj)
            got = (obj.dead, bool(obj), r.endswith(suffix + ">"),
                   obj.gr_frame is not None)
            if got != (dead, alive, True, frame):
                self.fail("state of greenlet %d (%s)" % (gid, r),
                          (dead, alive, suffix, frame), got)
            parent = obj.parent
            want = None if g.parent is None else w.wrefs[g.parent]()
            if parent is not want:
                self.fail("parent of greenlet %d" % gid, want, parent)
            del parent
            if g.thread == "M":
                ctx = obj.gr_context
                var = None if ctx is None else ctx.get(VAR)
                if var != g.var:
                    self.fail("context var of greenlet %d" % gid, g.var, var)
            del obj
        if VAR.get(None) != m.gs[MAIN].var:
            self.fail("context var of main", m.gs[MAIN].var, VAR.get(None))
        if greenlet.getcurrent() is not w.main:
            self.fail("current greenlet", w.main, greenlet.getcurrent())

    def teardown(self):
        """Kills every live greenlet explicitly, then lets everything go."""
        w = self.world
        greenlet.settrace(None)
        w.teardown = True
        w.plan = []
        for _ in range(3):
            for gid in sorted(w.wrefs):
                g = w.wrefs[gid]()
                if g is not None and g is not w.main and g:
                    try:
                        g.throw()
                    except BaseException:
                        pass
                del g
        w.main.gr_context = self.main_ctx
        w.refs.clear()
        self.model = None
        gc.collect()
        gc.unfreeze()
        sys.unraisablehook = self.saved_hook
        if self.gc_was_enabled:
            gc.enable()
        if EXAMPLE_TIMEOUT:
            faulthandler.cancel_dump_traceback_later()


# `python -m unittest machine` (from tests/fuzz, greenlet on PYTHONPATH):
# a short run; run_fuzz.py is the real driver.
TestGreenletMachine = GreenletMachine.TestCase
TestGreenletMachine.settings = settings(
    max_examples=20, deadline=None, database=None, stateful_step_count=30,
    suppress_health_check=list(HealthCheck))
