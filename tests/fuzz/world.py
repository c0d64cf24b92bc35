"""The real side of the fuzzer: greenlets whose run functions are a small
script interpreter, trace callbacks, and the hooks that record what
happens, for comparison with model.py.

Every greenlet of the fuzzer runs `World.script`: it logs what it
received, takes its next instruction from the plan the model made, and
performs it.  Script frames never keep a greenlet in a local variable
(only ids), so the only references between greenlets are the ones the
model knows: parents, `__dict__` links, and the switch() call a
suspended greenlet is in.
"""
import contextvars
import sys
import weakref

import greenlet
from greenlet import GreenletExit

from model import KILL_TEXT

VAR = contextvars.ContextVar("fuzz_var")


class FuzzError(Exception):
    pass


class FuzzExit(GreenletExit):
    pass


class TracerError(Exception):
    pass


EXC = {"ValueError": ValueError, "KeyError": KeyError, "FuzzError": FuzzError,
       "KeyboardInterrupt": KeyboardInterrupt, "SystemExit": SystemExit,
       "GreenletExit": GreenletExit, "FuzzExit": FuzzExit}
SENTINEL = "<fuzz: script left the plan>"


def norm(x):
    """A comparable description of a value or exception."""
    if isinstance(x, BaseException):
        t = type(x)
        args = () if t in (greenlet.error, RecursionError) else norm(x.args)
        return ("E", t.__name__, args)
    if type(x) is tuple:
        return tuple(norm(i) for i in x)
    if type(x) is dict:
        return {k: norm(v) for k, v in x.items()}
    return x


def payload(kind, x):
    return (kind, norm(x))


def exc_instance(spec):
    """Builds the arguments of throw() for a model exception spec."""
    name, form, tok, _ = spec
    cls = EXC[name]
    return ((cls,), (cls, tok), (cls(tok),), ())[form]


def _recurse():
    _recurse()


class World:
    def __init__(self):
        self.main = greenlet.getcurrent()
        self.main.fuzz_gid = 0
        self.refs = {0: self.main}
        self.wrefs = {0: weakref.ref(self.main)}
        self.policy = {}
        self.plan = []
        self.log = []
        self.kills = []
        self.events = []
        self.unraisable = []
        self.kill_expected = set()
        self.teardown = False
        self.in_tracer = False
        self.off_plan = []

    # ---- helpers that hold no greenlet in a local ----------------------

    def switch(self, gid, args, kwargs):
        try:
            return ("val", self.refs[gid].switch(*args, **kwargs))
        except BaseException as e:
            return ("exc", e)

    def throw(self, gid, spec):
        try:
            return ("val", self.refs[gid].throw(*exc_instance(spec)))
        except BaseException as e:
            return ("exc", e)

    def release(self, gid):
        del self.refs[gid]

    def at_depth(self, n, fn, *args):
        if n > 0:
            return self.at_depth(n - 1, fn, *args)
        return fn(*args)

    def make_run(self, gid):
        def run(*args, **kwargs):
            return self.script(gid, args, kwargs)
        return run

    # ---- the script interpreter ----------------------------------------

    def script(self, gid, args, kwargs):
        if kwargs:
            got = ("val", (args, kwargs) if args else kwargs)
        else:
            got = ("val", args[0] if len(args) == 1 else args)
        while True:
            if self.teardown:
                raise GreenletExit("teardown")
            if getattr(greenlet.getcurrent(), "fuzz_gid", None) != gid:
                self.off_plan.append((gid, "is not current"))
            exc = got[1] if got[0] == "exc" else None
            if (exc is not None and (
                    (type(exc) is GreenletExit and exc.args == (KILL_TEXT,))
                    or gid in self.kill_expected)
                    and not (self.plan and self.plan[0][0] == gid)):
                self.kills.append((gid, payload(*got), VAR.get(None)))
                policy = self.policy.get(gid, "reraise")
                if policy == "reraise":
                    raise exc
                if policy == "return":
                    return "killed"
                if policy == "raise":
                    raise FuzzError("killed")
                # swallow: back to the releaser, its temporary parent.
                del exc
                got = self.swallowed()
                continue
            del exc
            self.log.append((gid, payload(*got), VAR.get(None)))
            if not self.plan or self.plan[0][0] != gid:
                self.off_plan.append((gid, got))
                got = self.switch(0, (SENTINEL,), {})
                continue
            instr = self.plan.pop(0)[1]
            if instr[-1] is not None:
                VAR.set(instr[-1])
            op = instr[0]
            if op == "switch":
                got = self.at_depth(instr[4], self.switch, instr[1], instr[2], instr[3])
            elif op == "throw":
                got = self.at_depth(instr[3], self.throw, instr[1], instr[2])
            elif op == "return":
                return instr[1]
            elif op == "raise":
                raise EXC[instr[1]](instr[2])
            elif op == "reraise":
                if got[0] == "exc":
                    raise got[1]
                got = self.switch(0, (), {})
            elif op == "recurse":
                try:
                    _recurse()
                    got = ("val", "no recursion error")
                except RecursionError as e:
                    got = ("exc", e)
            else:
                raise AssertionError(instr)

    def swallowed(self):
        try:
            return ("val", greenlet.getcurrent().parent.switch("swallowed"))
        except BaseException as e:
            return ("exc", e)

    # ---- trace callbacks -------------------------------------------------

    def record_tracer(self, event, args):
        o, t = args
        self.events.append((event, getattr(o, "fuzz_gid", "?"),
                            getattr(t, "fuzz_gid", "?")))

    def raise_tracer(self, event, args):
        # The traceback keeps this frame: it must not keep the greenlets.
        del event, args
        raise TracerError("trace")

    def switch_tracer(self, event, args):
        """Starts and finishes a throwaway greenlet inside the callback
        (S102); its own events are not traced again."""
        if self.in_tracer:
            return
        self.in_tracer = True
        try:
            greenlet.greenlet(_noop).switch(event)
        finally:
            self.in_tracer = False

    def unraisable_hook(self, u):
        self.unraisable.append(type(u.exc_value).__name__)


def _noop(*args):
    return args
