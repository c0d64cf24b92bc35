"""Frames of suspended greenlets (H15, S46, S47, S49).

A *chain* greenlet recurses through a mix of plain Python calls and calls
through C (map, sorted keys, reduce, partial, generators, coroutines,
eval, properties, __hash__ from a dict, __init__) and parks in switch() at
the bottom.  Every frame it enters is recorded (name, and in one mode the
frame object from sys._getframe()), so the expected f_back chain of its
gr_frame is known exactly.  Several chains of different depths are
suspended at once; the main greenlet moves them up and down (each move
rebuilds part of a chain, and the chains overwrite each other's stack
region), and every chain is walked to its end after each switch, from the
main greenlet and from inside the other chains, with f_back, with
traceback.format_stack/extract_stack, and by a gc.get_objects() scan in
the style of gevent's format_run_info.

Walking frames is where stack-copying implementations crash on 3.12+
(P5), so each scenario first runs in a fresh interpreter
(hard_data.isolate) and only then in this process.
"""
import functools
import gc
import io
import random
import sys
import threading
import traceback
import unittest

import greenlet
from support import GreenletTest
from hard_data import isolate

THIS = sys.modules[__name__]

KINDS = ("py", "map", "sorted", "reduce", "partial", "gen", "coro", "eval",
         "prop", "hash", "init")


class Cmd:
    """Sent to a parked chain: unwind `up` levels, then descend `tail`."""

    def __init__(self, up, tail):
        self.up = up
        self.tail = tail


FINISH = 10 ** 9


class Chain:
    def __init__(self, name, plan, keep_frames, hook=None):
        self.name = name
        self.plan = list(plan)
        self.keep = keep_frames
        self.hook = hook            # called at the bottom, before parking
        self.stack = []             # [(co_name, frame or None, depth or None)]
        self.parks = 0
        self.g = greenlet.greenlet(self.run)

    # frames record themselves; `back` > 0 records a caller instead
    def push(self, name, depth=None, back=1):
        frame = sys._getframe(back) if self.keep else None
        self.stack.append((name, frame, depth))

    def pop(self):
        self.stack.pop()

    def run(self):
        self.push("run")
        try:
            cmd = level(self, 0)
            return ("finished", self.name, cmd.up)
        finally:
            self.pop()

    def expected(self):
        """(names, frames, depths) innermost first."""
        st = list(reversed(self.stack))
        return ([s[0] for s in st], [s[1] for s in st], [s[2] for s in st])


def bottom(chain):
    chain.push("bottom")
    try:
        if chain.hook is not None:
            chain.hook(chain)
        chain.parks += 1
        return greenlet.getcurrent().parent.switch(("parked", chain.name))
    finally:
        chain.pop()


def level(chain, depth):
    chain.push("level", depth)
    try:
        while True:
            if depth == len(chain.plan):
                cmd = bottom(chain)
            else:
                cmd = _through(chain.plan[depth], chain, depth + 1)
            if cmd.up > 0:
                cmd.up -= 1
                return cmd
            chain.plan[depth:] = cmd.tail      # re-descend from here
    finally:
        chain.pop()


def _through(kind, chain, depth):
    """Calls level(chain, depth) through the construct `kind`."""
    chain.push("_through")
    try:
        if kind == "py":
            return level(chain, depth)
        if kind == "map":
            return list(map(through_map, [(chain, depth)]))[0]
        if kind == "sorted":
            box = []
            sorted([(chain, depth, box)], key=through_sorted)
            return box[0]
        if kind == "reduce":
            return functools.reduce(through_reduce, [(chain, depth)], None)
        if kind == "partial":
            return functools.partial(through_partial, chain)(depth)
        if kind == "gen":
            return next(through_gen(chain, depth))
        if kind == "coro":
            try:
                through_coro(chain, depth).send(None)
            except StopIteration as e:
                return e.value
            raise AssertionError("coroutine did not finish")
        if kind == "eval":
            return eval("through_eval(chain, depth)",
                        {"through_eval": through_eval},
                        {"chain": chain, "depth": depth})
        if kind == "prop":
            return Through(chain, depth).prop
        if kind == "hash":
            key = Through(chain, depth)
            {key: None}
            return key.cmd
        if kind == "init":
            return ThroughInit(chain, depth).cmd
        raise AssertionError(kind)
    finally:
        chain.pop()


def through_map(arg):
    chain, depth = arg
    chain.push("through_map")
    try:
        return level(chain, depth)
    finally:
        chain.pop()


def through_sorted(arg):
    chain, depth, box = arg
    chain.push("through_sorted")
    try:
        box.append(level(chain, depth))
        return 0
    finally:
        chain.pop()


def through_reduce(_, arg):
    chain, depth = arg
    chain.push("through_reduce")
    try:
        return level(chain, depth)
    finally:
        chain.pop()


def through_partial(chain, depth):
    chain.push("through_partial")
    try:
        return level(chain, depth)
    finally:
        chain.pop()


def through_gen(chain, depth):
    chain.push("through_gen")
    try:
        cmd = level(chain, depth)
    finally:
        chain.pop()
    yield cmd


async def through_coro(chain, depth):
    chain.push("through_coro")
    try:
        return level(chain, depth)
    finally:
        chain.pop()


def through_eval(chain, depth):
    chain.push("<module>", back=2)      # the frame of the eval'ed code
    chain.push("through_eval")
    try:
        return level(chain, depth)
    finally:
        chain.pop()
        chain.pop()


class Through:
    def __init__(self, chain, depth):
        self.chain = chain
        self.depth = depth

    @property
    def prop(self):
        self.chain.push("prop")
        try:
            return level(self.chain, self.depth)
        finally:
            self.chain.pop()

    def __hash__(self):
        self.chain.push("__hash__")
        try:
            self.cmd = level(self.chain, self.depth)
            return 0
        finally:
            self.chain.pop()


class ThroughInit:
    def __init__(self, chain, depth):
        chain.push("__init__")
        try:
            self.cmd = level(chain, depth)
        finally:
            chain.pop()


# ---- walking -------------------------------------------------------------

def walk(frame, limit=100000):
    """The f_back chain from `frame`, reading each frame's code, line and
    locals on the way (S49); fails if the chain does not end."""
    out = []
    while frame is not None:
        if len(out) == limit:
            raise AssertionError("f_back chain longer than %d" % limit)
        frame.f_code.co_name, frame.f_lineno, frame.f_locals
        out.append(frame)
        frame = frame.f_back
    return out


def check_chain(tc, chain, frame, where):
    """The f_back walk from `frame` is exactly the chain's recorded frames,
    innermost first, ending at its run frame (S46)."""
    names, frames, depths = chain.expected()
    got = walk(frame)
    got_names = [f.f_code.co_name for f in got]
    tc.assertEqual(got_names, names, "%s: chain %s" % (where, chain.name))
    for f, d in zip(got, depths):
        if d is not None:
            tc.assertEqual(f.f_locals["depth"], d, where)
            tc.assertIs(f.f_locals["chain"], chain, where)
    if chain.keep:
        for f, want in zip(got, frames):
            tc.assertIs(f, want, "%s: chain %s" % (where, chain.name))


def check_finished_walk(tc, frame, names):
    """`frame` was the innermost frame of a chain whose names were `names`
    and has finished since: walking it ends, through the same frames.
    CPython cuts the f_back of finished generator and coroutine frames
    (on some versions), so the walk may stop at one of those."""
    got = [f.f_code.co_name for f in walk(frame)]
    stops = [i + 1 for i, n in enumerate(names)
             if n in ("through_gen", "through_coro")]
    tc.assertEqual(got, names[:len(got)])
    tc.assertGreaterEqual(len(got), min(stops + [len(names)]))


def check_stack_formatting(tc, chain, where):
    """traceback.extract_stack/format_stack of gr_frame list the same
    frames, outermost first (S49)."""
    names = chain.expected()[0]
    summary = traceback.extract_stack(chain.g.gr_frame)
    tc.assertEqual([fs.name for fs in summary], names[::-1], where)
    text = "".join(traceback.format_stack(chain.g.gr_frame))
    tc.assertEqual(text.count("\n  File "), len(names) - 1, where)
    tc.assertIn(", in bottom\n", text)
    tc.assertIn("parent.switch((\"parked\", chain.name))", summary[-1].line)


def run_info():
    """gevent's format_run_info, reduced: every greenlet found by a
    gc.get_objects() scan with its stack.  Returns (text, {id: names})."""
    out = io.StringIO()
    names = {}
    for ob in gc.get_objects():
        if not isinstance(ob, greenlet.greenlet):
            continue
        print(repr(ob), file=out)
        if ob and ob.gr_frame is not None:
            traceback.print_stack(ob.gr_frame, file=out)
            names[id(ob)] = [fs.name for fs in traceback.extract_stack(ob.gr_frame)]
    return out.getvalue(), names


def check_run_info(tc, chains, where, main=None, main_names=None):
    text, names = run_info()
    for c in chains:
        if c.g and c.g is not greenlet.getcurrent():
            tc.assertIn(repr(c.g), text)
            tc.assertEqual(names.get(id(c.g)), c.expected()[0][::-1], where)
    if main is not None:
        tc.assertEqual(names.get(id(main)), main_names, where)


def random_plan(rng, n):
    return [rng.choice(KINDS) for _ in range(n)]


# ---- scenarios -----------------------------------------------------------

def scenario_chains(tc, keep_frames, rounds, seed):
    """H15 S46 S49: several chains, 30-70 levels deep, suspended at once;
    after each switch every chain is walked from the main greenlet, and
    at each park from inside the parking chain (walking the others and the
    suspended main greenlet)."""
    rng = random.Random(seed)
    main = greenlet.getcurrent()
    state = {"main_frames": None}
    chains = []

    def hook(me):
        # runs inside `me`, on a stack that overlaps the others' regions
        tc.assertIsNone(me.g.gr_frame)                       # S47: running
        mf = state["main_frames"]
        if mf is not None:
            got = walk(main.gr_frame)
            tc.assertEqual([f.f_code.co_name for f in got],
                           [f.f_code.co_name for f in mf], "main from " + me.name)
            for a, b in zip(got, mf):
                tc.assertIs(a, b)
        for c in chains:
            if c is not me and c.g:
                check_chain(tc, c, c.g.gr_frame, "from " + me.name)
                if c.keep:
                    check_chain(tc, c, c.stack[-1][1], "recorded, from " + me.name)
        if me.parks % 3 == 0:
            check_run_info(tc, chains, "run_info from " + me.name, main,
                           [f.f_code.co_name for f in reversed(mf)] if mf else None)

    def resume(chain, *args):
        # recorded just before switching: main.gr_frame must be this frame
        here = sys._getframe()
        state["main_frames"] = walk(here)
        try:
            return chain.g.switch(*args)
        finally:
            state["main_frames"] = None

    def check_all(where):
        for c in chains:
            if c.g:
                check_chain(tc, c, c.g.gr_frame, where)
                if c.keep:
                    check_chain(tc, c, c.stack[-1][1], "recorded " + where)
                check_stack_formatting(tc, c, where)

    for i, depth in enumerate((31, 47, 38, 64, 33)):
        c = Chain("c%d" % i, random_plan(rng, depth), keep_frames, hook)
        chains.append(c)
        tc.assertEqual(resume(c), ("parked", c.name))
        check_all("after starting %s" % c.name)

    for r in range(rounds):
        c = rng.choice(chains)
        depth = len(c.plan)
        up = rng.randrange(0, depth + 1)
        keep = depth - up
        new_depth = rng.randrange(max(30, keep), max(30, keep) + 31)
        tail = random_plan(rng, new_depth - keep)
        old_innermost = c.stack[-1][1]
        old_names = c.expected()[0]
        tc.assertEqual(resume(c, Cmd(up, tail)), ("parked", c.name))
        tc.assertEqual(len(c.plan), new_depth)
        if old_innermost is not None:
            # the old innermost frame has finished; its f_back leads
            # through finished frames back into the live part of the chain
            check_finished_walk(tc, old_innermost, old_names)
        del old_innermost
        # scribble over the stack region with an unrelated deep call
        if r % 4 == 0:
            tc.assertEqual(sum(map(lambda k: len(sorted(range(k), key=lambda x: -x)),
                                   range(50))), sum(range(50)))
        check_all("round %d" % r)
        check_run_info(tc, chains, "run_info round %d" % r)

    # finish them in a shuffled order; the rest stay walkable
    order = chains[:]
    rng.shuffle(order)
    for c in order:
        innermost = c.stack[-1][1]
        before = c.expected()[0]
        tc.assertEqual(resume(c, Cmd(FINISH, [])), ("finished", c.name, FINISH - len(c.plan) - 1))
        tc.assertTrue(c.g.dead)
        tc.assertIsNone(c.g.gr_frame)                      # S47: dead
        if innermost is not None:
            # a frame kept from a finished greenlet still walks to an end
            check_finished_walk(tc, innermost, before)
        check_all("after finishing %s" % c.name)
    del chains[:], innermost


def scenario_frame_clear_refused(tc):
    """S49: frames of a suspended greenlet are executing frames:
    frame.clear() raises RuntimeError for every one of them, and the
    greenlet resumes intact."""
    plan = list(KINDS) * 3
    c = Chain("clear", plan, keep_frames=False)
    tc.assertEqual(c.g.switch(), ("parked", "clear"))
    frames = walk(c.g.gr_frame)
    tc.assertEqual(len(frames), len(c.stack))
    for f in frames:
        with tc.assertRaises(RuntimeError):
            f.clear()
    check_chain(tc, c, c.g.gr_frame, "after clear attempts")
    tc.assertEqual(c.g.switch(Cmd(FINISH, [])), ("finished", "clear", FINISH - len(plan) - 1))
    del frames, f


def scenario_frames_of_other_greenlet_from_getframe(tc):
    """H15: frames taken with sys._getframe() inside a greenlet are walked
    (f_back) from another greenlet while the first is suspended, after a
    third greenlet has run deeper on the same stack region."""
    main = greenlet.getcurrent()
    taken = {}

    def a_inner():
        taken["a"] = sys._getframe()
        main.switch("a parked")

    def a_outer():
        list(map(lambda _: a_inner(), [0]))

    def reader():
        f = taken["a"]
        names = [x.f_code.co_name for x in walk(f)]
        return main.switch(names)

    def deep(n):
        if n == 0:
            return main.switch("deep parked")
        return sorted([n], key=lambda k: deep(k - 1))[0]

    a = greenlet.greenlet(a_outer)
    tc.assertEqual(a.switch(), "a parked")
    d = greenlet.greenlet(lambda: deep(80))
    tc.assertEqual(d.switch(), "deep parked")
    r = greenlet.greenlet(reader)
    tc.assertEqual(r.switch(), ["a_inner", "<lambda>", "a_outer"])
    tc.assertIs(taken["a"], a.gr_frame)
    tc.assertEqual([x.f_code.co_name for x in walk(a.gr_frame)],
                   ["a_inner", "<lambda>", "a_outer"])
    for g in (r, d, a):
        g.switch(None)
    tc.assertTrue(a.dead and d.dead and r.dead)
    taken.clear()


def scenario_main_suspended_under_c_calls(tc):
    """S46 H15: the main greenlet switches from inside nested C calls
    (sorted key -> map -> reduce); a child recursing 150 levels through C
    (over the main greenlet's old stack region) walks main.gr_frame and
    finds exactly the frames the main greenlet recorded."""
    main = greenlet.getcurrent()
    box = {}

    def child_bottom():
        got = walk(main.gr_frame)
        return [f.f_code.co_name for f in got], [a is b for a, b in zip(got, box["want"])]

    def child_deep(n):
        if n == 0:
            return child_bottom()
        out = []
        sorted([n], key=lambda k: out.append(child_deep(k - 1)) or 0)
        return out[0]

    def child():
        return child_deep(150)

    def main_bottom(_):
        box["want"] = walk(sys._getframe())
        return greenlet.greenlet(child).switch()

    def main_reduce(_, x):
        return functools.reduce(main_bottom_acc, [x], None)

    def main_bottom_acc(_, x):
        return main_bottom(x)

    def main_map(x):
        return list(map(lambda y: main_reduce(None, y), [x]))[0]

    result = sorted([1], key=lambda x: box.__setitem__("res", main_map(x)) or 0)
    tc.assertEqual(result, [1])
    names, same = box["res"]
    tc.assertEqual(names, [f.f_code.co_name for f in box["want"]])
    tc.assertEqual(names[:5], ["main_bottom", "main_bottom_acc", "main_reduce",
                               "<lambda>", "main_map"])
    tc.assertEqual(same, [True] * len(names))
    box.clear()


def scenario_run_is_c_callable(tc):
    """S16 S46 S47: when run is a C callable (sorted, a functools.partial)
    the greenlet's outermost Python frame is the first Python function C
    called, and its f_back is None."""
    main = greenlet.getcurrent()

    def key(x):
        return main.switch(("in key", x))

    g = greenlet.greenlet(sorted)
    tc.assertEqual(g.switch([2, 1], key=key), ("in key", 2))
    tc.assertEqual([f.f_code.co_name for f in walk(g.gr_frame)], ["key"])
    tc.assertEqual(g.switch(5), ("in key", 1))
    tc.assertEqual(g.switch(4), [1, 2])

    def inner(a):
        return main.switch(a)

    def outer(a, b):
        return list(map(inner, [a + b]))

    g = greenlet.greenlet(functools.partial(outer, 1))
    tc.assertEqual(g.switch(2), 3)
    tc.assertEqual([f.f_code.co_name for f in walk(g.gr_frame)], ["inner", "outer"])
    tc.assertEqual(g.switch("x"), ["x"])

    # builtin run that switches without any Python frame of its own (S47)
    g = greenlet.greenlet(main.switch)
    tc.assertEqual(g.switch("bare"), "bare")
    tc.assertIsNone(g.gr_frame)
    g.switch()
    tc.assertTrue(g.dead)


def scenario_monitor_thread_scans(tc):
    """H15 S76: like gevent's monitor thread, another thread scans
    gc.get_objects() and prints every greenlet's stack while this thread
    keeps moving its chains; with a tiny switch interval the scans
    interleave with the switches.  Nothing crashes, and afterwards every
    chain walks exactly."""
    rng = random.Random(5)
    stop = []
    scans = [0]
    failures = []

    def monitor():
        while not stop:
            try:
                run_info()
            except Exception as e:          # reported below
                failures.append(repr(e))
                return
            scans[0] += 1

    chains = [Chain("m%d" % i, random_plan(rng, 30 + 7 * i), False)
              for i in range(5)]
    for c in chains:
        c.g.switch()
    old = sys.getswitchinterval()
    sys.setswitchinterval(1e-5)
    t = threading.Thread(target=monitor)
    t.start()
    try:
        for r in range(200000):
            if scans[0] >= 5 and r >= 500:
                break
            c = rng.choice(chains)
            depth = len(c.plan)
            up = rng.randrange(0, depth + 1)
            keep = depth - up
            new_depth = rng.randrange(max(30, keep), max(30, keep) + 31)
            tc.assertEqual(c.g.switch(Cmd(up, random_plan(rng, new_depth - keep))),
                           ("parked", c.name))
    finally:
        stop.append(True)
        t.join()
        sys.setswitchinterval(old)
    tc.assertEqual(failures, [])
    tc.assertGreaterEqual(scans[0], 5)
    for c in chains:
        check_chain(tc, c, c.g.gr_frame, "after the scans")
        tc.assertEqual(c.g.switch(Cmd(FINISH, []))[0], "finished")


class FramesTest(GreenletTest):
    def test_chains_with_recorded_frames(self):  # H15 S46 S49
        isolate.scenario(self, THIS, "scenario_chains", True, 24, 1)

    def test_chains_without_frame_objects(self):  # H15 S46 S49
        # no frame object exists before the walk creates it from gr_frame
        isolate.scenario(self, THIS, "scenario_chains", False, 24, 2)

    def test_frame_clear_refused(self):  # S49
        isolate.scenario(self, THIS, "scenario_frame_clear_refused")

    def test_getframe_walked_from_other_greenlet(self):  # H15 S46
        isolate.scenario(self, THIS, "scenario_frames_of_other_greenlet_from_getframe")

    def test_main_suspended_under_c_calls(self):  # S46 H15
        isolate.scenario(self, THIS, "scenario_main_suspended_under_c_calls")

    def test_run_is_c_callable(self):  # S16 S46 S47
        isolate.scenario(self, THIS, "scenario_run_is_c_callable")

    def test_monitor_thread_scans_stacks(self):  # H15 S76
        isolate.scenario(self, THIS, "scenario_monitor_thread_scans")

    def test_gr_frame_none_when_no_python_frame(self):  # S47
        main = greenlet.getcurrent()
        g = greenlet.greenlet(lambda: None)
        self.assertIsNone(g.gr_frame)                  # not started
        b = greenlet.greenlet(main.switch)             # builtin run
        self.assertEqual(b.switch(1), 1)
        self.assertTrue(b)
        self.assertIsNone(b.gr_frame)                  # suspended, no frame
        self.assertIsNone(main.gr_frame)               # running
        b.switch()
        self.assertIsNone(b.gr_frame)                  # dead
        del b

    def test_outermost_frame_of_greenlet_ends_chain(self):  # S16 S46
        main = greenlet.getcurrent()

        def run():
            main.switch(sys._getframe())

        g = greenlet.greenlet(run)
        f = g.switch()
        self.assertIsNone(f.f_back)
        self.assertIs(g.gr_frame, f)
        self.assertEqual(walk(g.gr_frame), [f])
        g.switch()
        del f

    def test_running_greenlet_sees_only_its_own_stack(self):  # S16 S46
        # a greenlet started from deep inside C calls of its starter walks
        # its own stack only, before and after switching around
        main = greenlet.getcurrent()

        def stack_names():
            return [fs.name for fs in traceback.extract_stack()]

        def run():
            first = list(map(lambda _: stack_names(), [0]))[0]
            main.switch()
            return first, list(map(lambda _: stack_names(), [0]))[0]

        g = greenlet.greenlet(run)
        sorted([0], key=lambda _: g.switch() or 0)
        first, second = g.switch()
        self.assertEqual(first, ["run", "<lambda>", "stack_names"])
        self.assertEqual(second, first)

    def test_main_greenlet_gr_frame_from_child(self):  # S46
        main = greenlet.getcurrent()
        here = walk(sys._getframe())

        def child():
            got = walk(main.gr_frame)
            return got

        got = greenlet.greenlet(child).switch()
        self.assertEqual(len(got), len(here))
        for a, b in zip(got, here):
            self.assertIs(a, b)
        self.assertIsNone(got[-1].f_back)
        del got, here


if __name__ == "__main__":
    unittest.main()
