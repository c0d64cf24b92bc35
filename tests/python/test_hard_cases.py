"""Hard cases: switching, throwing and killing from inside nested calls,
descriptors, imports, C callbacks, generators, coroutines, finalizers,
class creation, exception handlers, signal handlers, locks and deep
recursion (docs/behaviour.md: H1-H5, H7, H17, H19; rules S16-S30, S56-S62,
S77, S84, S96, S115-S119).

Most cases share one harness: a *site* is a function `site(data, suspend)`
that reaches `suspend(tag)` from inside some construct (a sort key, a
descriptor, a metaclass, ...) and returns a result built from what
`suspend` returned.  Run directly with `suspend = reply` it gives the
reference result; run in greenlets, `suspend` switches to the main
greenlet, which answers `reply(tag)`.  Several greenlets are suspended
inside the same construct at once and resumed in different orders; each
must end with the reference result.  Throwing into, and killing, a
greenlet suspended there must unwind through the construct.

Crash-prone scenarios are module-level functions taking a TestCase; their
tests run them in a fresh interpreter first (hard_data.isolate), so a crash
or a hang fails that test with the child's output.
"""
import asyncio
import contextvars
import functools
import gc
import importlib
import itertools
import json
import os
import pickle
import random
import sys
import threading
import traceback
import unittest
import weakref

import greenlet
import support
from support import GreenletTest
from hard_data import isolate

THIS = sys.modules[__name__]


# ---- the site harness ------------------------------------------------------

def reply(tag):
    """What the main greenlet answers to `tag` (distinct from the tag, so a
    switch returning its own argument is caught)."""
    return 3 * tag + 1


def _suspend(tag):
    return greenlet.getcurrent().parent.switch(("tag", tag))


def _data(i):
    """Distinct small ints, different for each greenlet index."""
    return random.Random(1000 + i).sample(range(1, 60), 6)


class Boom(Exception):
    pass


SITES = {}          # name -> (function, exceptions propagate out of it)


def site(propagates=True):
    def deco(fn):
        SITES[fn.__name__[len("site_"):]] = (fn, propagates)
        return fn
    return deco


@site()
def site_nested(data, suspend):
    # f calls g calls h; h switches and is resumed in h.
    def h(x):
        return suspend(x) + 1

    def g(x):
        return h(x) * 2

    def f(xs):
        out = []
        for x in xs:
            out.append(g(x))
        return out
    return f(data)


@site()
def site_sorted_key(data, suspend):
    return sorted(data, key=lambda x: -suspend(x))


@site()
def site_list_sort(data, suspend):
    lst = list(data)
    lst.sort(key=suspend, reverse=True)
    return lst


@site()
def site_sort_lt(data, suspend):
    # list.sort calling a Python __lt__ (no key function)
    class K:
        __slots__ = ("v",)

        def __init__(self, v):
            self.v = v

        def __lt__(self, other):
            return suspend(self.v) % 7 < suspend(other.v) % 7

    lst = [K(x) for x in data]
    lst.sort()
    return [k.v for k in lst]


@site()
def site_cmp_to_key(data, suspend):
    return sorted(data, key=functools.cmp_to_key(
        lambda a, b: (suspend(a) % 5) - (suspend(b) % 5)))


@site()
def site_min_max(data, suspend):
    return min(data, key=suspend), max(data, key=lambda x: -suspend(x))


@site()
def site_map(data, suspend):
    return list(map(suspend, data))


@site()
def site_filter(data, suspend):
    return list(filter(lambda x: suspend(x) % 2 == 0, data))


@site()
def site_reduce(data, suspend):
    return functools.reduce(lambda a, b: a * 31 + suspend(b), data, 7)


@site()
def site_partial(data, suspend):
    p = functools.partial(lambda k, x: k * suspend(x), 5)
    return [p(x) for x in data] + list(map(p, data))


@site()
def site_itertools(data, suspend):
    pairs = zip(data, data[1:] + data[:1])
    return list(itertools.accumulate(
        itertools.starmap(lambda a, b: suspend(a) - b, pairs),
        lambda acc, v: acc + suspend(v % 50)))


@site()
def site_dict_lookup(data, suspend):
    # __hash__ and __eq__ called by the dict lookup code; every hash
    # collides (reply(t) % 3 == 1), so lookups call __eq__ repeatedly.
    class Key:
        def __init__(self, v):
            self.v = v

        def __hash__(self):
            return suspend(self.v) % 3

        def __eq__(self, other):
            return suspend(self.v) == suspend(other.v)

    d = {Key(x): i for i, x in enumerate(data)}
    return [d[Key(x)] for x in reversed(data)] + [Key(100) in d]


@site()
def site_iter_protocol(data, suspend):
    # __iter__/__next__ driven by list(), sum(), tuple() (C loops)
    class It:
        def __init__(self):
            self.i = 0

        def __iter__(self):
            suspend(0)
            return self

        def __next__(self):
            if self.i == len(data):
                raise StopIteration
            self.i += 1
            return suspend(data[self.i - 1])

    return list(It()), sum(It()), tuple(It())


@site()
def site_descriptor(data, suspend):
    class D:
        def __get__(self, obj, typ=None):
            return suspend(obj.v)

        def __set__(self, obj, value):
            obj.__dict__["stored"] = suspend(value)

        def __delete__(self, obj):
            obj.__dict__["deleted"] = suspend(obj.v + 100)

    class O:
        attr = D()

        def __init__(self, v):
            self.v = v

    out = []
    for x in data:
        o = O(x)
        got = o.attr
        o.attr = x + 1
        del o.attr
        out.append((got, o.stored, o.deleted))
    return out


@site()
def site_property(data, suspend):
    class O:
        def __init__(self, v):
            self._v = v

        @property
        def p(self):
            return suspend(self._v)

        @p.setter
        def p(self, value):
            self._v = suspend(value % 50)

        @p.deleter
        def p(self):
            self._v = suspend(self._v % 40)

    out = []
    for x in data:
        o = O(x)
        a = o.p
        o.p = a
        b = o._v
        del o.p
        out.append((a, b, o._v))
    return out


@site()
def site_attribute_hooks(data, suspend):
    class A:
        def __init__(self, v):
            self.v = v

        def __getattr__(self, name):            # missing attributes only
            return suspend(self.v)

        def __setattr__(self, name, value):
            object.__setattr__(self, name, value)
            if name != "v":
                suspend(value % 50)

    class B:
        def __init__(self, v):
            self.v = v

        def __getattribute__(self, name):
            if name == "w":
                return suspend(object.__getattribute__(self, "v"))
            return object.__getattribute__(self, name)

    out = []
    for x in data:
        a = A(x)
        a.extra = x + 2
        out.append((a.missing, getattr(a, "other", None), B(x).w,
                    hasattr(B(x + 1), "w")))
    return out


@site()
def site_init(data, suspend):
    class O:
        def __init__(self, v):
            self.v = suspend(v)

    class N:
        def __new__(cls, v):
            self = object.__new__(cls)
            self.v = suspend(v + 1)
            return self

    return [(O(x).v, N(x).v) for x in data]


@site()
def site_class_creation(data, suspend):
    # metaclass __new__/__init__, __init_subclass__ and the class body
    # (run by the C builtin __build_class__) all switch.
    class Meta(type):
        def __new__(mcls, name, bases, ns):
            ns["from_new"] = suspend(ns["seed"])
            return super().__new__(mcls, name, bases, ns)

        def __init__(cls, name, bases, ns):
            super().__init__(name, bases, ns)
            cls.from_init = suspend(ns["seed"] + 1)

    class Base(metaclass=Meta):
        seed = data[0]

        def __init_subclass__(cls, **kw):
            super().__init_subclass__(**kw)
            cls.from_subclass = suspend(cls.seed + 2)

    out = [(Base.from_new, Base.from_init)]
    for x in data:
        class Sub(Base):
            seed = x
            body = suspend(x + 3)
        out.append((Sub.body, Sub.from_new, Sub.from_init, Sub.from_subclass))
    return out


@site()
def site_except_block(data, suspend):
    out = []
    for x in data:
        try:
            raise KeyError(x)
        except KeyError:
            v = suspend(x)
            # S116: the greenlet's handled exception is back after resuming
            out.append((v, sys.exc_info()[1].args[0]))
    return out


@site()
def site_finally_block(data, suspend):
    out = []
    for x in data:
        try:
            out.append(x)
        finally:
            out.append(suspend(x))
    return out


@site()
def site_with_exit(data, suspend):
    out = []

    class CM:
        def __init__(self, x):
            self.x = x

        def __enter__(self):
            return suspend(self.x)

        def __exit__(self, typ, val, tb):
            out.append(("exit", suspend(self.x + 1), typ is ValueError))
            return True

    for x in data:
        with CM(x) as v:
            out.append(v)
            if x % 2:
                raise ValueError(x)
    return out


@site()
def site_generator(data, suspend):
    def inner(xs):
        total = 0
        for x in xs:
            got = yield suspend(x)
            total += got
        return total

    def outer(xs):
        result = yield from inner(xs)
        yield -result

    gen = outer(data)
    out = [next(gen)]
    try:
        while True:
            out.append(gen.send(out[-1] % 11))
    except StopIteration:
        pass
    return out


@site()
def site_coroutine(data, suspend):
    # a coroutine driven by hand with send(); it switches from inside
    class Step:
        def __init__(self, v):
            self.v = v

        def __await__(self):
            return (yield self.v)

    async def inner(x):
        return suspend(x) + await Step(x)

    async def outer():
        out = []
        for x in data:
            out.append(await inner(x))
        return out

    coro = outer()
    sent = None
    try:
        while True:
            sent = coro.send(sent) * 2
    except StopIteration as e:
        return e.value


@site()
def site_lock_held(data, suspend):
    lock = threading.Lock()
    out = []
    for x in data:
        with lock:
            out.append((suspend(x), lock.locked()))
    out.append(lock.locked())
    return out


@site()
def site_pickle_json(data, suspend):
    # callbacks from the C pickler (__reduce__) and the C JSON encoder
    class R:
        def __init__(self, v):
            self.v = v

        def __reduce__(self):
            return int, (suspend(self.v),)

    dumped = pickle.loads(pickle.dumps([R(x) for x in data]))
    js = json.dumps([R(x) for x in data], default=lambda o: suspend(o.v + 1))
    return dumped, js


@site()
def site_format_protocols(data, suspend):
    # repr/format/len/bool/index/contains called from C
    class O:
        def __init__(self, v):
            self.v = v

        def __repr__(self):
            return "O%d" % suspend(self.v)

        def __format__(self, spec):
            return "F%d" % suspend(self.v + 1)

        def __len__(self):
            return abs(suspend(self.v + 2))

        def __bool__(self):
            return suspend(self.v + 3) % 2 == 0

        def __index__(self):
            return suspend(self.v + 4) % 7

        def __contains__(self, item):
            return suspend(item) % 3 == 0

    out = []
    for x in data:
        o = O(x)
        out.append(("{!r}/{}".format(o, o), len(o), bool(o),
                    "abcdefg"[o], x in o, "%r" % [o]))
    return out


@site()
def site_exec_eval(data, suspend):
    ns = {"s": suspend}
    exec("def f(x):\n    return s(x) * 2\n", ns)
    return [eval("f(x) + s(x)", ns, {"x": x}) for x in data]


@site(propagates=False)
def site_del(data, suspend):
    # __del__ runs when the greenlet drops the last reference (H2)
    got = []

    class D:
        def __init__(self, v):
            self.v = v

        def __del__(self):
            got.append(suspend(self.v))

    for x in data:
        d = D(x)
        del d
        got.append(-x)
    return got


@site(propagates=False)
def site_weakref_callback(data, suspend):
    got = []

    class T:
        pass

    refs = []
    for x in data:
        t = T()
        refs.append(weakref.ref(t, lambda r, x=x: got.append(suspend(x))))
        del t
        got.append(-x)
    return got


class _Runner:
    """The `run` of a site greenlet: records the type of an exception
    passing out of the site (S56, S77), nothing else."""

    def __init__(self, fn, data):
        self.fn = fn
        self.data = data
        self.seen = []

    def __call__(self):
        try:
            return ("done", self.fn(self.data, _suspend))
        except BaseException as e:
            self.seen.append(type(e))
            raise


def _reference(fn, data):
    tags = []

    def suspend(tag):
        tags.append(tag)
        return reply(tag)
    return fn(data, suspend), tags


def drive_site(tc, name, n, order, seed=0):
    """Runs n greenlets of one site, all suspended inside it at once, and
    resumes them in `order` ('fifo', 'lifo' or 'random'); checks every
    result and every tag sequence against the reference run (H1 H3)."""
    fn = SITES[name][0]
    datas = [_data(i) for i in range(n)]
    expect = [_reference(fn, d) for d in datas]
    runners = [_Runner(fn, d) for d in datas]
    gs = [greenlet.greenlet(r) for r in runners]
    tags = [[] for _ in gs]
    results = [None] * n
    pending = []
    for i, g in enumerate(gs):          # start all: each suspends inside
        kind, val = g.switch()
        tc.assertEqual(kind, "tag")
        tags[i].append(val)
        pending.append(i)
    rng = random.Random(seed)
    for _ in range(100000):
        if not pending:
            break
        pos = {"fifo": 0, "lifo": -1}.get(order)
        if pos is None:
            pos = rng.randrange(len(pending))
        i = pending.pop(pos)
        kind, val = gs[i].switch(reply(tags[i][-1]))
        if kind == "tag":
            tags[i].append(val)
            pending.append(i)
        else:
            tc.assertTrue(gs[i].dead)
            results[i] = val
    tc.assertEqual(pending, [])
    for i in range(n):
        tc.assertEqual((results[i], tags[i]), expect[i],
                       "%s greenlet %d (%s)" % (name, i, order))
        tc.assertEqual(runners[i].seen, [])


def throw_into_site(tc, name, at):
    """Three greenlets suspended in the site; the middle one gets Boom at
    its `at`-th suspension: Boom unwinds through the construct and out of
    run into the main greenlet (S56 S62 S27); the others still finish
    with the reference result."""
    fn = SITES[name][0]
    datas = [_data(i) for i in range(3)]
    runners = [_Runner(fn, d) for d in datas]
    gs = [greenlet.greenlet(r) for r in runners]
    last = [g.switch()[1] for g in gs]
    for _ in range(at - 1):
        kind, val = gs[1].switch(reply(last[1]))
        tc.assertEqual(kind, "tag", "%s suspends fewer than %d times" % (name, at))
        last[1] = val
    with tc.assertRaises(Boom) as cm:
        gs[1].throw(Boom, (name, at))
    tc.assertEqual(cm.exception.args, (name, at))
    tc.assertTrue(gs[1].dead)
    tc.assertEqual(runners[1].seen, [Boom])
    del cm
    for i in (0, 2):
        for _ in range(100000):
            kind, val = gs[i].switch(reply(last[i]))
            if kind == "done":
                break
            last[i] = val
        tc.assertEqual(val, _reference(fn, datas[i])[0])


def kill_in_site(tc, name, at):
    """A greenlet suspended in the site at its `at`-th suspension loses its
    last reference: GreenletExit unwinds through the construct, the
    greenlet dies and is freed (S77 S78)."""
    fn = SITES[name][0]
    runner = _Runner(fn, _data(7))
    g = greenlet.greenlet(runner)
    kind, val = g.switch()
    for _ in range(at - 1):
        kind, val = g.switch(reply(val))
        tc.assertEqual(kind, "tag", "%s suspends fewer than %d times" % (name, at))
    ref = weakref.ref(g)
    del g
    tc.assertIsNone(ref())
    tc.assertEqual(runner.seen, [greenlet.GreenletExit])


def scenario_site(tc, name):
    """Everything the harness checks for one site."""
    for order in ("fifo", "lifo", "random"):
        drive_site(tc, name, 4, order, seed=len(name))
    if SITES[name][1]:
        for at in (1, 3):
            throw_into_site(tc, name, at)
            kill_in_site(tc, name, at)


class SwitchInsideConstructsTest(GreenletTest):
    """One test per site (see the module docstring).  Each resumes four
    greenlets suspended in the site in three orders (S20 S23), and, where
    exceptions propagate out of the construct, throws into (S56 S62) and
    kills (S77) a greenlet suspended there."""

    def check(self, name):
        isolate.scenario(self, THIS, "scenario_site", name)

    def test_nested_calls(self):  # S20 S23 S56 S77: f -> g -> h switches
        self.check("nested")

    def test_sorted_key(self):  # H1
        self.check("sorted_key")

    def test_list_sort_interleaved(self):  # H1: several list.sort at once
        self.check("list_sort")

    def test_list_sort_rich_compare(self):  # H1
        self.check("sort_lt")

    def test_cmp_to_key(self):  # H1
        self.check("cmp_to_key")

    def test_min_max_key(self):  # H1
        self.check("min_max")

    def test_map(self):  # H1
        self.check("map")

    def test_filter(self):  # H1
        self.check("filter")

    def test_reduce(self):  # H1
        self.check("reduce")

    def test_partial(self):  # H1
        self.check("partial")

    def test_itertools(self):  # H1
        self.check("itertools")

    def test_dict_lookup_eq_hash(self):  # H1
        self.check("dict_lookup")

    def test_iter_next_driven_by_c(self):  # H1: list(obj), sum(obj)
        self.check("iter_protocol")

    def test_descriptor_get_set_delete(self):  # H3
        self.check("descriptor")

    def test_property(self):  # H3
        self.check("property")

    def test_getattr_getattribute_setattr(self):  # H3 S14
        self.check("attribute_hooks")

    def test_init_and_new(self):  # S20 S23
        self.check("init")

    def test_metaclass_init_subclass_class_body(self):  # S20 S23
        self.check("class_creation")

    def test_except_block(self):  # S116
        self.check("except_block")

    def test_finally_block(self):  # S23 S77
        self.check("finally_block")

    def test_with_exit(self):  # S23 S56
        self.check("with_exit")

    def test_generator_yield_from(self):  # H5
        self.check("generator")

    def test_coroutine_send_by_hand(self):  # H5 H17
        self.check("coroutine")

    def test_lock_held(self):  # S23 S77
        self.check("lock_held")

    def test_pickle_json_callbacks(self):  # H1
        self.check("pickle_json")

    def test_repr_format_len_bool_index_contains(self):  # H1
        self.check("format_protocols")

    def test_exec_eval(self):  # S20 S23
        self.check("exec_eval")

    def test_del(self):  # H2
        self.check("del")

    def test_weakref_callback(self):  # H7
        self.check("weakref_callback")



class SiteHarnessTest(GreenletTest):
    """Checks of the harness itself, so that no site passes vacuously."""

    def test_every_site_is_tested(self):  # H1 H3 (harness)
        tested = set()
        for n in dir(SwitchInsideConstructsTest):
            if n.startswith("test_"):
                code = getattr(SwitchInsideConstructsTest, n).__code__
                tested.update(c for c in code.co_consts if isinstance(c, str))
        self.assertEqual(set(SITES) - tested, set())

    def test_results_depend_on_switched_values(self):  # S20 (harness)
        # Every site's result or tag sequence changes when the answers to
        # its switches change, and each site switches at least 3 times.
        others = (lambda t: reply(t) + 1, lambda t: -reply(t),
                  lambda t: reply(t) * 7 % 13)
        for name, (fn, _) in SITES.items():
            with self.subTest(site=name):
                base = _reference(fn, _data(0))
                self.assertGreaterEqual(len(base[1]), 3)
                changed = []
                for other in others:
                    tags = []

                    def suspend(t):
                        tags.append(t)
                        return other(t)
                    changed.append((fn(_data(0), suspend), tags) != base)
                self.assertIn(True, changed)


# ---- descriptors and run lookup (H3, S14, S17, S18) -------------------------

class RunLookupTest(GreenletTest):
    def test_property_used_as_run(self):  # S14 S17 H3
        class G(greenlet.greenlet):
            @property
            def run(self):
                return self.target

        g = G()
        g.target = lambda a, b=0: ("ran", a, b)
        self.assertEqual(g.switch(1, b=2), ("ran", 1, 2))
        self.assertTrue(g.dead)

    def test_property_run_getter_switches_away_and_back(self):  # S17 S18 H3
        main = greenlet.getcurrent()
        log = []

        def helper():
            while True:
                log.append(("helper", main.switch("from-helper")))

        h = greenlet.greenlet(helper)

        class G(greenlet.greenlet):
            @property
            def run(self):
                log.append(("getter", h.switch()))     # lookup switches
                return lambda x: ("ran", x)

        g = G()
        self.assertEqual(g.switch(5), ("ran", 5))
        self.assertEqual(log, [("getter", "from-helper")])
        del h                       # killed with GreenletExit (S77)

    def test_property_run_getter_raises_then_succeeds(self):  # S17 S25
        calls = []

        class G(greenlet.greenlet):
            @property
            def run(self):
                calls.append(1)
                if len(calls) == 1:
                    raise Boom("lookup")
                return lambda: "second"

        g = G()
        with self.assertRaises(Boom):
            g.switch()
        self.assertFalse(g)
        self.assertFalse(g.dead)        # still not started
        self.assertEqual(g.switch(), "second")

    def test_throw_survives_run_lookup_that_switches(self):  # S17 S59 H3
        isolate.scenario(self, THIS, "scenario_throw_lookup_switches")

    def test_getattribute_run_starts_greenlet_nested(self):  # S18 H3
        isolate.scenario(self, THIS, "scenario_getattribute_nested_start")

    def test_getattribute_run_finishes_greenlet_nested(self):  # S18 S21 H3
        isolate.scenario(self, THIS, "scenario_getattribute_nested_finish")

    def test_getattribute_run_reparents_into_other_thread(self):  # S18 S73 H3
        isolate.scenario(self, THIS, "scenario_getattribute_reparent_thread")


def scenario_throw_lookup_switches(tc):
    """throw() at a not-started greenlet whose run lookup (a property)
    switches to another greenlet and back: the exception being thrown
    survives the lookup, the greenlet dies without running, the exception
    reaches the caller (S17 S59).  A failing lookup raises its own error
    and leaves the greenlet not started."""
    main = greenlet.getcurrent()
    ran = []

    def helper_run():
        while True:
            main.switch("helper")

    helper = greenlet.greenlet(helper_run)

    class G(greenlet.greenlet):
        fail = False

        @property
        def run(self):
            tc.assertEqual(helper.switch(), "helper")
            if self.fail:
                raise AttributeError("run lookup failed")
            return lambda *a: ran.append(a)

    g = G()
    with tc.assertRaises(Boom):
        g.throw(Boom)
    tc.assertTrue(g.dead)
    tc.assertEqual(ran, [])

    g = G()
    tc.assertIsInstance(g.throw(), greenlet.GreenletExit)    # S28 S59
    tc.assertTrue(g.dead)

    g = G()
    g.fail = True
    with tc.assertRaises(AttributeError):
        g.throw(Boom)
    tc.assertFalse(g.dead)
    tc.assertFalse(g)
    g.fail = False
    g.switch(1)
    tc.assertEqual(ran, [(1,)])
    del helper


def scenario_getattribute_nested_start(tc):
    """A subclass __getattribute__('run') starts the greenlet being started
    (nested start): the outer start becomes an ordinary switch carrying
    its own arguments (S18 H3)."""
    main = greenlet.getcurrent()
    log = []

    class G(greenlet.greenlet):
        nested = False

        def __getattribute__(self, name):
            if name == "run" and not G.nested:
                G.nested = True
                # start this very greenlet by a nested route
                log.append(("nested switch returned", self.switch("inner")))
            return greenlet.greenlet.__getattribute__(self, name)

        def run(self, *args):
            log.append(("run", args))
            got = main.switch("suspended in run")
            log.append(("resumed with", got))
            return ("finished", got)

    g = G()
    # The outer start becomes an ordinary switch carrying 42 (S18).
    tc.assertEqual(g.switch(42), ("finished", 42))
    tc.assertEqual(log, [("run", ("inner",)),
                         ("nested switch returned", "suspended in run"),
                         ("resumed with", 42)])


def scenario_getattribute_nested_finish(tc):
    """The nested start runs the greenlet to its end during the lookup: the
    outer switch goes to the dead greenlet's parent, the caller (S18 S21)."""
    class G(greenlet.greenlet):
        nested = False

        def __getattribute__(self, name):
            if name == "run" and not G.nested:
                G.nested = True
                self.log = self.switch("inner")   # runs to the end
            return greenlet.greenlet.__getattribute__(self, name)

        def run(self, arg):
            return ("ran once", arg)

    g = G()
    # g died during the lookup: the outer switch goes to g's parent,
    # which is the caller, so the caller's own arguments come back.
    tc.assertEqual(g.switch(42), 42)
    tc.assertEqual(g.log, ("ran once", "inner"))
    tc.assertTrue(g.dead)


def scenario_getattribute_reparent_thread(tc):
    """The lookup re-parents the greenlet into a live other thread: the
    start fails with greenlet.error and the greenlet stays not started
    (S18 S39 S73)."""
    ready = threading.Event()
    release = threading.Event()
    box = []

    def thread_main():
        box.append(greenlet.getcurrent())
        ready.set()
        release.wait()

    t = threading.Thread(target=thread_main)
    t.start()
    try:
        ready.wait()

        class G(greenlet.greenlet):
            def __getattribute__(self, name):
                if name == "run":
                    self.parent = box[0]         # S39: allowed now
                return greenlet.greenlet.__getattribute__(self, name)

            def run(self):
                return "must not run"

        g = G()
        with tc.assertRaises(greenlet.error):
            g.switch()
        tc.assertFalse(g)
        tc.assertIs(g.parent, box[0])
    finally:
        release.set()
        t.join()
    del g, box[:]


# ---- imports (H4) -----------------------------------------------------------

_IMPORTED = ("hard_data.switch_on_import", "hard_data.outer_import")


def _forget_imports():
    import hard_data
    for name in _IMPORTED:
        sys.modules.pop(name, None)
        short = name.rpartition(".")[2]
        if short in vars(hard_data):
            delattr(hard_data, short)


def scenario_import_partial(tc):
    """A greenlet is suspended in a module's top-level code; a second
    greenlet imports the same module meanwhile and gets the partially
    initialised module at once (no deadlock); resuming the first finishes
    the import."""
    _forget_imports()
    name = "hard_data.switch_on_import"
    try:
        g1 = greenlet.greenlet(lambda: importlib.import_module(name))
        tc.assertEqual(g1.switch(), "mid-import")
        partial = sys.modules[name]
        tc.assertEqual(partial.BEFORE, "before")
        tc.assertFalse(hasattr(partial, "AFTER"))

        def second():
            mod = importlib.import_module(name)
            try:
                from hard_data.switch_on_import import AFTER  # noqa: F401
            except ImportError as e:
                return mod, "partially initialized" in str(e)
            return mod, "imported AFTER"

        g2 = greenlet.greenlet(second)
        mod, outcome = g2.switch()
        tc.assertTrue(g2.dead)
        tc.assertIs(mod, partial)
        tc.assertIs(outcome, True)
        # the main greenlet sees the same partial module
        tc.assertIs(importlib.import_module(name), partial)

        done = g1.switch("resumed")
        tc.assertTrue(g1.dead)
        tc.assertIs(done, partial)
        tc.assertEqual((done.RECEIVED, done.AFTER), ("resumed", "after"))
        tc.assertIs(sys.modules[name], done)
    finally:
        _forget_imports()


def scenario_import_nested(tc):
    """Suspended inside two nested imports; both finish on resume."""
    _forget_imports()
    try:
        g = greenlet.greenlet(
            lambda: importlib.import_module("hard_data.outer_import"))
        tc.assertEqual(g.switch(), "mid-import")
        outer = sys.modules["hard_data.outer_import"]
        tc.assertTrue(outer.OUTER_BEFORE)
        tc.assertFalse(hasattr(outer, "OUTER_AFTER"))
        tc.assertIs(g.switch(("resumed", 2)), outer)
        tc.assertEqual(outer.OUTER_AFTER, ("resumed", 2))
        tc.assertIs(outer.inner, sys.modules["hard_data.switch_on_import"])
    finally:
        _forget_imports()


def scenario_import_throw_and_kill(tc):
    """Throwing into, and killing, a greenlet suspended mid-import unwinds
    the import: the module is gone from sys.modules and a later import
    starts afresh (S56 S77)."""
    name = "hard_data.switch_on_import"
    _forget_imports()
    try:
        g = greenlet.greenlet(lambda: importlib.import_module(name))
        tc.assertEqual(g.switch(), "mid-import")
        with tc.assertRaises(Boom):
            g.throw(Boom)
        tc.assertTrue(g.dead)
        tc.assertNotIn(name, sys.modules)

        seen = []

        def importer():
            try:
                importlib.import_module(name)
            except greenlet.GreenletExit:
                seen.append(name in sys.modules)
                raise
        g = greenlet.greenlet(importer)
        tc.assertEqual(g.switch(), "mid-import")
        ref = weakref.ref(g)
        del g
        tc.assertIsNone(ref())
        tc.assertEqual(seen, [False])

        g = greenlet.greenlet(lambda: importlib.import_module(name))
        tc.assertEqual(g.switch(), "mid-import")
        tc.assertEqual(g.switch(3).RECEIVED, 3)
    finally:
        _forget_imports()


class ImportTest(GreenletTest):
    def test_second_greenlet_gets_partial_module(self):  # H4
        isolate.scenario(self, THIS, "scenario_import_partial", timeout=60)

    def test_suspended_in_nested_imports(self):  # H4
        isolate.scenario(self, THIS, "scenario_import_nested", timeout=60)

    def test_throw_and_kill_mid_import(self):  # H4 S56 S77
        isolate.scenario(self, THIS, "scenario_import_throw_and_kill",
                         timeout=60)


# ---- generators and coroutines (H5, H17) -----------------------------------

class GeneratorTest(GreenletTest):
    def test_next_from_other_greenlet_while_executing(self):  # H5
        main = greenlet.getcurrent()

        def gen():
            yield 1
            got = main.switch("suspended in generator")
            yield got

        it = gen()

        def consumer():
            return next(it), next(it), next(it, "end")

        g = greenlet.greenlet(consumer)
        self.assertEqual(g.switch(), "suspended in generator")
        # the generator's frame is executing inside suspended g
        with self.assertRaises(ValueError) as cm:
            next(it)
        self.assertIn("generator already executing", str(cm.exception))
        for op in (lambda: it.send(None), lambda: it.throw(Boom),
                   lambda: it.close()):
            with self.assertRaises(ValueError):
                op()
        del cm
        self.assertEqual(g.switch("resumed"), (1, "resumed", "end"))

    def test_coroutine_send_while_executing(self):  # H5
        main = greenlet.getcurrent()

        async def coro():
            return main.switch("inside")

        c = coro()
        g = greenlet.greenlet(lambda: c.send(None))
        self.assertEqual(g.switch(), "inside")
        with self.assertRaises(ValueError) as cm:
            c.send(None)
        self.assertIn("already executing", str(cm.exception))
        del cm
        with self.assertRaises(StopIteration) as cm:
            g.switch("value")
        self.assertEqual(cm.exception.value, "value")
        del cm

    def test_kill_greenlet_suspended_in_generator(self):  # H5 S77
        main = greenlet.getcurrent()
        closed = []

        def gen():
            try:
                yield 1
                main.switch("in gen")
                yield 2
            finally:
                closed.append(True)

        it = gen()
        g = greenlet.greenlet(lambda: list(it))
        self.assertEqual(g.switch(), "in gen")
        del g
        self.assertEqual(closed, [True])
        self.assertEqual(list(it), [])          # finished, not executing

    def test_greenlets_created_and_finished_in_generator_bodies(self):  # H5
        main = greenlet.getcurrent()

        def gen(n):
            pending = None
            for i in range(n):
                child = greenlet.greenlet(lambda x: x * 10)
                yield child.switch(i)                  # finishes at once
                if pending is not None:
                    yield pending.switch("late")       # started in an earlier step
                pending = greenlet.greenlet(
                    lambda: ("resumed", greenlet.getcurrent().parent.switch("parked")))
                yield pending.switch()
            yield pending.switch("last")

        def consumer():
            return list(gen(3))

        out = greenlet.greenlet(consumer).switch()
        self.assertEqual(out, [0, "parked", 10, ("resumed", "late"), "parked",
                               20, ("resumed", "late"), "parked",
                               ("resumed", "last")])
        # driven alternately from two greenlets (never at the same time)
        it = gen(2)

        def step():
            while True:
                main.switch(next(it))
        a, b = greenlet.greenlet(step), greenlet.greenlet(step)
        got = [a.switch(), b.switch(), a.switch(), b.switch(), a.switch()]
        self.assertEqual(got, [0, "parked", 10, ("resumed", "late"), "parked"])
        del a, b, it

    def test_genlet_with_class_attribute_parent(self):  # H5 S33
        class Genlet(greenlet.greenlet):
            parent = None       # shadows the base descriptor on instances

            def __init__(self, fn, *args):
                self.fn = fn
                self.args = args

            def run(self):
                self.fn(*self.args)

            def __iter__(self):
                return self

            def __next__(self):
                self.parent = greenlet.getcurrent()     # a plain attribute
                value = self.switch()
                if self:
                    return value
                raise StopIteration

        def gyield(value):
            g = greenlet.getcurrent()
            g.parent.switch(value)          # the attribute, not the real parent

        def counter(n):
            for i in range(n):
                gyield(i)

        def doubled(n):
            for v in Genlet(counter, n):     # a genlet inside a genlet
                gyield(2 * v)

        main = greenlet.getcurrent()
        gl = Genlet(doubled, 4)
        self.assertIs(greenlet.greenlet.parent.__get__(gl), main)
        self.assertEqual(list(gl), [0, 2, 4, 6])
        self.assertTrue(gl.dead)
        # the real parent (used when run finished) was never changed
        self.assertIs(greenlet.greenlet.parent.__get__(gl), main)
        self.assertIs(gl.parent, main)

        # consumed from a greenlet other than the creator: the value
        # stream goes to the consumer, the end of run to the creator
        gl2 = Genlet(counter, 3)
        g = greenlet.greenlet(lambda: [next(gl2), next(gl2)])
        self.assertEqual(g.switch(), [0, 1])
        # the next value goes to the dead consumer, hence to its parent,
        # main (S21); then run ends into the creator, main
        self.assertEqual(gl2.switch(), 2)
        self.assertIsNone(gl2.switch())
        self.assertTrue(gl2.dead)
        del g

        # the plain attribute never decides where a finished run goes
        other = greenlet.greenlet(lambda *a: ("other ran", a))
        gl3 = Genlet(lambda: None)
        gl3.parent = other
        self.assertIsNone(gl3.switch())
        self.assertTrue(gl3.dead)
        self.assertFalse(other.dead or other)      # never started
        self.assertIsNone(Genlet(lambda: None).switch())   # attribute None


# H17: the SQLAlchemy / greenback bridge.

def await_only(awaitable):
    """Called in a bridged greenlet: hands the awaitable to the driver."""
    return greenlet.getcurrent().parent.switch(awaitable)


async def greenlet_spawn(fn, *args):
    g = greenlet.greenlet(fn)
    result = g.switch(*args)
    while not g.dead:
        try:
            value = await result
        except BaseException:
            result = g.throw(*sys.exc_info())
        else:
            result = g.switch(value)
    return result


class Oops(Exception):
    pass


async def _ok(i):
    await asyncio.sleep(0)
    return i


async def _failing(i):
    await asyncio.sleep(0)
    raise Oops(i)


def _bridged_work(n):
    total = caught = 0
    for i in range(n):
        if i % 7 == 3:
            try:
                await_only(_failing(i))
            except Oops as e:
                # the traceback passed with throw() reaches the raise (S57)
                tb = e.__traceback__
                while tb.tb_next is not None:
                    tb = tb.tb_next
                if tb.tb_frame.f_code.co_name != "_failing" or e.args != (i,):
                    return ("bad exception", i)
                caught += 1
        elif i % 7 == 5:
            fut = asyncio.get_running_loop().create_future()
            asyncio.get_running_loop().call_soon(fut.set_result, i)
            total += await_only(fut)
        else:
            total += await_only(_ok(i))
    return total, caught


def scenario_asyncio_bridge(tc, n):
    expect_total = sum(i for i in range(n) if i % 7 != 3)
    expect_caught = sum(1 for i in range(n) if i % 7 == 3)

    async def main():
        got = await greenlet_spawn(_bridged_work, n)
        # an exception escaping the bridged greenlet reaches the task
        try:
            await greenlet_spawn(lambda: await_only(_failing(-1)))
        except Oops as e:
            escaped = e.args
        return got, escaped

    got, escaped = asyncio.run(main())
    tc.assertEqual(got, (expect_total, expect_caught))
    tc.assertEqual(escaped, (-1,))


class AsyncioBridgeTest(GreenletTest):
    def setUp(self):
        # asyncio copies the thread's context, which creates the main
        # greenlet's own context once; that one is not a leak.
        contextvars.copy_context()
        super().setUp()

    def test_asyncio_bridge(self):  # H17 S56 S57
        n = 1000 if os.environ.get("CG_TEST_LIGHT") else 10000
        isolate.scenario(self, THIS, "scenario_asyncio_bridge", n)


# ---- finalizers and weakref callbacks (H2, H7, S84) -------------------------

class Finalizable:
    """A cycle member whose __del__ runs `hook` once."""
    calls = 0

    def __init__(self, hook):
        self.hook = hook
        self.me = self

    def __del__(self):
        Finalizable.calls += 1
        self.hook(self)


def scenario_kill_in_del(tc):
    """A greenlet suspended inside __del__ loses its last reference: the
    GreenletExit ends __del__ (CPython reports it as unraisable), the
    greenlet goes on after the del statement, finishes, and is freed
    (S77 S78, H2)."""
    main = greenlet.getcurrent()
    log = []
    reported = []

    class D:
        def __del__(self):
            main.switch("in __del__")

    def run():
        d = D()
        del d
        log.append(("after del", greenlet.getcurrent().parent is main))
        return "done"

    old = sys.unraisablehook
    sys.unraisablehook = lambda u: reported.append(type(u.exc_value))
    try:
        g = greenlet.greenlet(run)
        tc.assertEqual(g.switch(), "in __del__")
        ref = weakref.ref(g)
        del g
    finally:
        sys.unraisablehook = old
    tc.assertIsNone(ref())
    tc.assertEqual(log, [("after del", True)])
    tc.assertEqual(reported, [greenlet.GreenletExit])


def scenario_del_during_gc_collect(tc):
    """gc.collect() called in a greenlet runs finalizers that switch to the
    parent; the parent resumes them one by one; every object is finalized
    once and freed (H2)."""
    main = greenlet.getcurrent()
    Finalizable.calls = 0
    refs = []

    def make_garbage():
        for i in range(5):
            f = Finalizable(lambda self: main.switch(("finalizing", self.i)))
            f.i = i
            refs.append(weakref.ref(f))
        del f

    def collector():
        make_garbage()
        gc.collect()
        return "collected"

    gc.collect()
    g = greenlet.greenlet(collector)
    seen = []
    msg = g.switch()
    for _ in range(100):
        if msg == "collected":
            break
        seen.append(msg[1])
        msg = g.switch()
    tc.assertEqual(msg, "collected")
    tc.assertEqual(sorted(seen), list(range(5)))
    tc.assertEqual(Finalizable.calls, 5)
    gc.collect()
    tc.assertEqual([r() for r in refs], [None] * 5)
    tc.assertEqual(gc.garbage, [])


def scenario_gc_during_switches(tc, rounds):
    """S84 H7: with a collection on almost every allocation, garbage whose
    finalizers and weakref callbacks switch to a helper greenlet (and back)
    is collected in the middle of switches; the values of a ping-pong
    between main and a worker are never lost, duplicated or misdelivered."""
    main = greenlet.getcurrent()
    log = []
    errors = []

    def helper_run(origin):
        while True:
            log.append("helper")
            origin = origin.switch("helper-back")

    helper = greenlet.greenlet(helper_run)

    def visit_helper(_):
        cur = greenlet.getcurrent()
        if cur is helper or helper.dead:
            return
        try:
            r = helper.switch(cur)
            if r != "helper-back":
                errors.append(r)
        except BaseException as e:       # reported below, never lost
            errors.append(repr(e))

    class Node:
        pass

    def make_cycle():
        f = Finalizable(visit_helper)
        n = Node()
        n.cycle = n
        f.node = n
        keep.append(weakref.ref(n, visit_helper))

    keep = []

    def unpack(got, i):
        # odd rounds travel as switch(v, round=i): ((v,), {'round': i}) (S20)
        if i % 2:
            tc.assertEqual(got[1], {"round": i})
            return got[0][0]
        return got

    def send(target, v, i):
        if i % 2:
            return target.switch(v, round=i)
        return target.switch(v)

    def worker(x):
        for i in range(rounds):
            make_cycle()
            # a greenlet started and finished between the switches
            if greenlet.greenlet(lambda a, b: a + b).switch(i, b=1) != i + 1:
                errors.append(("short-lived", i))
            x = unpack(send(main, x + 1, i), i)
        return ("worker done", x)

    unraisable = []
    old_hook = sys.unraisablehook
    sys.unraisablehook = lambda u: unraisable.append(repr(u.exc_value))
    old = gc.get_threshold()
    Finalizable.calls = 0
    try:
        gc.collect()
        gc.set_threshold(1, 1, 1)
        g = greenlet.greenlet(worker)
        x = g.switch(0)
        for i in range(rounds):
            x = unpack(x, i)
            tc.assertEqual(x, 2 * i + 1)
            make_cycle()
            x = send(g, x + 1, i)
        tc.assertEqual(x, ("worker done", 2 * rounds))
    finally:
        gc.set_threshold(*old)
        sys.unraisablehook = old_hook
    gc.collect()
    tc.assertEqual(errors, [])
    tc.assertEqual(unraisable, [])
    tc.assertEqual(Finalizable.calls, 2 * rounds)
    tc.assertEqual([r for r in keep if r() is not None], [])
    tc.assertGreater(len(log), 0)
    del helper                          # killed (S77)


def scenario_weakref_callback_of_killed_greenlet(tc):
    """The weakref callback of a suspended greenlet that is killed (S77)
    switches to another greenlet and back while the dead greenlet is being
    freed (H7, S51)."""
    main = greenlet.getcurrent()
    log = []

    def other_run(arg):
        while True:
            log.append(("other", arg))
            arg = main.switch("other-back")

    other = greenlet.greenlet(other_run)

    def cb(ref):
        log.append(("cb", other.switch("from cb")))

    def victim():
        try:
            main.switch("parked")
        finally:
            log.append("finally")

    g = greenlet.greenlet(victim)
    tc.assertEqual(g.switch(), "parked")
    ref = weakref.ref(g, cb)
    del g
    tc.assertIsNone(ref())
    # the victim's finally ran, then the callback switched and came back
    tc.assertEqual(log, ["finally", ("other", "from cb"), ("cb", "other-back")])
    tc.assertEqual(other.switch("again"), "other-back")
    tc.assertEqual(log[-1], ("other", "again"))
    del other


class FinalizerTest(GreenletTest):
    def test_del_switches_to_parent_and_is_resumed(self):  # H2
        main = greenlet.getcurrent()
        events = []

        class D:
            def __del__(self):
                events.append(("del start", greenlet.getcurrent() is g))
                events.append(("del got", main.switch("in __del__")))

        def run():
            d = D()
            ref = weakref.ref(d)
            del d                       # __del__ runs here and switches
            events.append(("after del", ref() is None))
            return "done"

        g = greenlet.greenlet(run)
        self.assertEqual(g.switch(), "in __del__")
        self.assertEqual(g.switch("resume"), "done")
        self.assertEqual(events, [("del start", True), ("del got", "resume"),
                                  ("after del", True)])

    def test_throw_into_del_is_unraisable(self):  # H2 S56
        main = greenlet.getcurrent()
        reported = []

        class D:
            def __del__(self):
                main.switch("in __del__")

        def run():
            d = D()
            del d
            return "continued after del"

        old = sys.unraisablehook
        sys.unraisablehook = lambda u: reported.append(type(u.exc_value))
        try:
            g = greenlet.greenlet(run)
            self.assertEqual(g.switch(), "in __del__")
            # the exception ends __del__, which CPython reports, and the
            # greenlet continues after the del statement
            self.assertEqual(g.throw(Boom), "continued after del")
        finally:
            sys.unraisablehook = old
        self.assertEqual(reported, [Boom])

    def test_kill_while_suspended_in_del(self):  # H2 S77 S78
        isolate.scenario(self, THIS, "scenario_kill_in_del")

    def test_del_during_gc_collect(self):  # H2
        isolate.scenario(self, THIS, "scenario_del_during_gc_collect")

    def test_gc_during_switches(self):  # S84 H7
        isolate.scenario(self, THIS, "scenario_gc_during_switches", 300)

    def test_weakref_callback_of_killed_greenlet(self):  # H7 S51 S77
        isolate.scenario(self, THIS,
                         "scenario_weakref_callback_of_killed_greenlet")


# ---- except / finally / exc_info / tracebacks (S27 S56 S115-S117) -----------

def _tb_names(tb):
    names = []
    while tb is not None:
        names.append(tb.tb_frame.f_code.co_name)
        tb = tb.tb_next
    return names


class ExceptionStateTest(GreenletTest):
    def test_exc_info_is_per_greenlet(self):  # S115 S116
        main = greenlet.getcurrent()
        seen = {}

        def a():
            seen["a start"] = sys.exc_info()
            try:
                raise KeyError("a")
            except KeyError:
                main.switch()
                seen["a"] = sys.exc_info()[1]
            seen["a after"] = sys.exc_info()

        def b():
            try:
                raise IndexError("b")
            except IndexError:
                main.switch()
                seen["b"] = sys.exc_info()[1]

        ga, gb = greenlet.greenlet(a), greenlet.greenlet(b)
        try:
            raise ValueError("main")
        except ValueError as mine:
            ga.switch()                 # S115: nothing inherited
            gb.switch()
            self.assertIs(sys.exc_info()[1], mine)
            gb.switch()
            ga.switch()
            self.assertIs(sys.exc_info()[1], mine)
        self.assertEqual(sys.exc_info(), (None, None, None))
        self.assertEqual(seen["a start"], (None, None, None))
        self.assertEqual(seen["a"].args, ("a",))
        self.assertEqual(seen["b"].args, ("b",))
        self.assertEqual(seen["a after"], (None, None, None))
        seen.clear()

    def test_context_from_own_greenlet_only(self):  # S117
        main = greenlet.getcurrent()

        def run():
            try:
                raise KeyError("own")
            except KeyError:
                main.switch()
                raise Boom("from g")

        g = greenlet.greenlet(run)
        g.switch()
        try:
            raise ValueError("main's")
        except ValueError:
            with self.assertRaises(Boom) as cm:
                g.switch()
        self.assertIsInstance(cm.exception.__context__, KeyError)
        self.assertEqual(cm.exception.__context__.args, ("own",))
        del cm

    def test_throw_into_except_block_never_chains_callers(self):  # S56 S117
        main = greenlet.getcurrent()

        def run():
            try:
                raise KeyError("handled")
            except KeyError:
                main.switch()

        g = greenlet.greenlet(run)
        g.switch()
        try:
            raise ValueError("the thrower's")
        except ValueError:
            with self.assertRaises(Boom) as cm:
                g.throw(Boom)
        # chaining the greenlet's own KeyError is allowed, the thrower's
        # handled ValueError never
        ctx = cm.exception.__context__
        self.assertTrue(ctx is None or isinstance(ctx, KeyError), repr(ctx))
        del cm, ctx

    def test_kill_while_suspended_in_finally(self):  # S77 S23
        main = greenlet.getcurrent()
        log = []

        def run():
            try:
                try:
                    log.append("body")
                finally:
                    main.switch("in finally")
                    log.append("rest of finally")     # skipped by the kill
            finally:
                log.append(("outer finally", sys.exc_info()[0]))

        g = greenlet.greenlet(run)
        self.assertEqual(g.switch(), "in finally")
        del g
        self.assertEqual(log, ["body", ("outer finally", greenlet.GreenletExit)])

    def test_traceback_of_exception_out_of_dead_greenlet(self):  # S27
        main = greenlet.getcurrent()

        def innermost():
            main.switch("one")
            main.switch("two")
            raise Boom("late")

        def middle():
            return innermost()

        def run():
            return middle()

        g = greenlet.greenlet(run)
        g.switch()
        g.switch()
        try:
            g.switch()
        except Boom as e:
            names = _tb_names(e.__traceback__)
            lines = traceback.format_exception(type(e), e, e.__traceback__)
            tb = e.__traceback__
        self.assertEqual(names, ["test_traceback_of_exception_out_of_dead_greenlet",
                                 "run", "middle", "innermost"])
        self.assertIn("raise Boom(\"late\")", "".join(lines))
        # the dead greenlet's frames lead back to its run frame only (S16)
        while tb.tb_next is not None:
            tb = tb.tb_next
        back = []
        f = tb.tb_frame
        while f is not None and len(back) < 100:
            back.append(f.f_code.co_name)
            f = f.f_back
        self.assertEqual(back, ["innermost", "middle", "run"])
        del tb, f

    def test_traceback_through_two_greenlets(self):  # S27 S117
        main = greenlet.getcurrent()

        def g2_inner():
            main.switch()
            raise Boom("deep")

        def g2_run():
            g2_inner()

        def g1_inner():
            g2.switch()           # g2 raises after main resumes it

        def g1_run():
            g1_inner()

        g1 = greenlet.greenlet(g1_run)
        g2 = greenlet.greenlet(g2_run, parent=g1)
        g1.switch()
        try:
            g2.switch()
        except Boom as e:
            names = _tb_names(e.__traceback__)
        self.assertEqual(names, ["test_traceback_through_two_greenlets",
                                 "g1_run", "g1_inner", "g2_run", "g2_inner"])
        self.assertTrue(g1.dead and g2.dead)

    def test_traceback_of_thrown_exception(self):  # S56 S27
        main = greenlet.getcurrent()

        def innermost():
            main.switch()

        def run():
            sorted([2, 1], key=lambda x: innermost() or x)     # C in between

        g = greenlet.greenlet(run)
        g.switch()
        try:
            g.throw(Boom)
        except Boom as e:
            names = _tb_names(e.__traceback__)
        self.assertEqual(names, ["test_traceback_of_thrown_exception",
                                 "run", "<lambda>", "innermost"])

    def test_keyboard_interrupt_and_system_exit_reach_main(self):  # H19 S27
        for exc in (KeyboardInterrupt, SystemExit):
            with self.subTest(exc=exc.__name__):
                reached = []

                def inner():
                    raise exc("from inner")

                def outer():
                    try:
                        greenlet.greenlet(inner).switch()
                    finally:
                        reached.append("outer finally")

                g = greenlet.greenlet(outer)
                with self.assertRaises(exc) as cm:
                    g.switch()
                self.assertEqual(cm.exception.args, ("from inner",))
                self.assertEqual(reached, ["outer finally"])
                self.assertTrue(g.dead)
                del cm

                # through a suspended parent chain: main -> p -> c
                def c():
                    raise exc("from c")

                def p():
                    child = greenlet.greenlet(c)
                    child.switch()
                    reached.append("p continued")

                with self.assertRaises(exc):
                    greenlet.greenlet(p).switch()
                self.assertEqual(reached, ["outer finally"])


# ---- locks (S23 S77) --------------------------------------------------------

class LockTest(GreenletTest):
    def test_switch_while_holding_lock(self):  # S23 S77
        main = greenlet.getcurrent()
        lock = threading.Lock()

        def holder():
            with lock:
                main.switch("holding")
            return "released"

        g = greenlet.greenlet(holder)
        self.assertEqual(g.switch(), "holding")
        self.assertFalse(lock.acquire(blocking=False))  # held by g
        self.assertEqual(g.switch(), "released")
        self.assertTrue(lock.acquire(blocking=False))
        lock.release()

        # killing the holder releases the lock through the with statement
        g = greenlet.greenlet(holder)
        self.assertEqual(g.switch(), "holding")
        del g
        self.assertFalse(lock.locked())

    def test_other_thread_waits_for_lock_held_by_suspended_greenlet(self):  # S76
        main = greenlet.getcurrent()
        lock = threading.Lock()
        got = []

        def holder():
            with lock:
                main.switch("holding")

        g = greenlet.greenlet(holder)
        g.switch()
        t = threading.Thread(target=lambda: got.append(lock.acquire(timeout=30)))
        t.start()
        g.switch()                      # releases; the thread gets it
        t.join()
        self.assertEqual(got, [True])
        lock.release()


# ---- signals (S96, H19): subprocesses only ---------------------------------

SIGNAL_STRESS = r"""
import signal, sys
import greenlet

main = greenlet.getcurrent()
handled = [0]
errors = []

def handler(signum, frame):
    handled[0] += 1
    n = handled[0]          # handlers may nest: read the count once
    here = greenlet.getcurrent()
    # create a greenlet, switch into it, let it switch back, finish it
    def child(x):
        y = here.switch(x + 1)
        return y * 2
    g = greenlet.greenlet(child)
    if g.switch(n) != n + 1 or g.switch(21) != 42:
        errors.append("bad values in handler")
    if greenlet.getcurrent() is not here:
        errors.append("wrong current greenlet after handler")
    if here in workers:
        # park the interrupted worker: main resumes it later (S96)
        if main.switch(("parked by handler", workers.index(here))) != "unpark":
            errors.append("bad unpark value")

def worker(k):
    x = 0
    while True:
        x = main.switch((k, x + 1))

signal.signal(signal.SIGALRM, handler)
workers = [greenlet.greenlet(worker) for k in range(3)]
values = [w.switch(k) for k, w in enumerate(workers)]
signal.setitimer(signal.ITIMER_REAL, 0.001, 0.001)
rounds = parked = 0
try:
    while (handled[0] < 50 or parked < 3) and rounds < 3000000:
        k = rounds % 3
        got = workers[k].switch(values[k][1])
        while got[0] == "parked by handler":
            parked += 1
            got = workers[got[1]].switch("unpark")
        if got != (k, values[k][1] + 1):
            errors.append(("lost value", k, got, values[k]))
            break
        values[k] = got
        rounds += 1
finally:
    signal.setitimer(signal.ITIMER_REAL, 0, 0)
print("handled", handled[0] > 0, "errors", errors, "parked", parked > 0)
del workers
print("DONE")
"""

SIGNAL_INTERRUPT = r"""
import signal
import greenlet

main = greenlet.getcurrent()
log = []

def deep():
    signal.raise_signal(signal.SIGINT)      # default handler: KeyboardInterrupt
    log.append("not reached")

def middle():
    try:
        greenlet.greenlet(deep).switch()
    finally:
        log.append("middle finally")

try:
    greenlet.greenlet(middle).switch()
except KeyboardInterrupt:
    log.append("main caught")
print(log)

# a timer handler raising KeyboardInterrupt while greenlets switch
def alarm(signum, frame):
    raise KeyboardInterrupt("alarm")

def ping():
    while True:
        main.switch()

signal.signal(signal.SIGALRM, alarm)
gs = [greenlet.greenlet(ping) for _ in range(4)]
signal.setitimer(signal.ITIMER_REAL, 0.002)
where = None
try:
    for i in range(5000000):
        gs[i % 4].switch()
    where = "loop ended"
except KeyboardInterrupt as e:
    where = ("caught in main", e.args)
finally:
    signal.setitimer(signal.ITIMER_REAL, 0)
print(where, all(not g.dead for g in gs) or [g.dead for g in gs].count(True) == 1)
print("DONE")
"""


@unittest.skipUnless(hasattr(__import__("signal"), "setitimer"), "needs setitimer")
class SignalTest(GreenletTest):
    def test_sigalrm_handler_creates_and_switches_greenlets(self):  # S96 H19
        rc, out, err = support.run_python(SIGNAL_STRESS, timeout=120)
        self.assertEqual(rc, 0, err)
        self.assertIn("handled True errors [] parked True", out, err)
        self.assertIn("DONE", out)

    def test_keyboard_interrupt_from_signal_reaches_main(self):  # H19 S96 S27
        rc, out, err = support.run_python(SIGNAL_INTERRUPT, timeout=120)
        self.assertEqual(rc, 0, err)
        lines = out.splitlines()
        self.assertEqual(lines[0], "['middle finally', 'main caught']")
        self.assertEqual(lines[1], "('caught in main', ('alarm',)) True")
        self.assertEqual(lines[2], "DONE")


# ---- recursion (S119, H10) --------------------------------------------------

def _depth():
    n = 0
    f = sys._getframe()
    while f is not None:
        n += 1
        f = f.f_back
    return n


def _recurse(n, at_bottom):
    if n == 0:
        return at_bottom()
    return _recurse(n - 1, at_bottom) + 1


def _recurse_through_c(n, at_bottom):
    if n == 0:
        return at_bottom()
    if n % 2:
        return list(map(lambda k: _recurse_through_c(k, at_bottom), [n - 1]))[0] + 1
    return sorted([n - 1], key=lambda k: _recurse_through_c(k, at_bottom))[0] + 1


def scenario_recursion_limit_in_greenlets(tc):
    """S119 H10: RecursionError (never a crash) inside greenlets, through
    Python-only and through C-interleaved recursion, switching at every
    level on the way down; recursion depth is counted per greenlet."""
    main = greenlet.getcurrent()
    limit = sys.getrecursionlimit()

    for kind in ("python", "through C"):
        def run():
            try:
                if kind == "python":
                    unbounded_py(0)
                else:
                    unbounded_c(0)
            except RecursionError:
                return "RecursionError"
            return "no error"

        def unbounded_py(n):
            if n % 25 == 0:
                main.switch(n)
            return unbounded_py(n + 1) + 1

        def unbounded_c(n):
            if n % 25 == 0:
                main.switch(n)
            return list(map(unbounded_c, [n + 1]))[0] + 1

        gs = [greenlet.greenlet(run) for _ in range(3)]
        results = [g.switch() for g in gs]
        for _ in range(limit):          # resume them round-robin
            if all(r == "RecursionError" for r in results):
                break
            results = [r if r == "RecursionError" else g.switch()
                       for g, r in zip(gs, results)]
        tc.assertEqual(results, ["RecursionError"] * 3, kind)

    # per-greenlet depth: g goes deep and suspends there; main then goes
    # just as deep, which would overflow if depths added up
    room = limit - _depth() - 60
    deep = room * 2 // 3
    g = greenlet.greenlet(lambda: _recurse(deep, lambda: main.switch("deep")))
    tc.assertEqual(g.switch(), "deep")
    tc.assertEqual(_recurse(deep, lambda: 0), deep)      # main, just as deep
    g2 = greenlet.greenlet(
        lambda: _recurse_through_c(deep // 3, lambda: main.switch("c deep")))
    tc.assertEqual(g2.switch(), "c deep")
    tc.assertEqual(_recurse(deep, lambda: 0), deep)
    tc.assertEqual(_recurse_through_c(deep // 3, lambda: 0), deep // 3)
    tc.assertEqual(g2.switch(0), deep // 3)
    tc.assertEqual(g.switch(0), deep)


class RecursionTest(GreenletTest):
    def test_recursion_limit_in_greenlets(self):  # S119 H10
        isolate.scenario(self, THIS, "scenario_recursion_limit_in_greenlets")


if __name__ == "__main__":
    unittest.main()
