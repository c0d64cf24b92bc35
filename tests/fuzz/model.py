"""Pure-Python model of the greenlets of one fuzz example: who runs next,
what arrives where, which greenlets the garbage collector kills.

The model knows nothing of the greenlet module.  The state machine asks
it to simulate one operation; the simulation turns the drawn choices
into a concrete plan (what each greenlet does when it gets control) and
predicts everything observable: the arrival log of every greenlet, the
value or exception that reaches the main greenlet, the trace events,
the greenlets killed on last reference, the state of every greenlet.

Values are plain tokens; an exception is described as ("E", type name,
args).  A payload is ("val", v) or ("exc", E).
"""
import random

MAIN = 0
KILL_TEXT = "Killing the greenlet because all references have vanished."
EXC_TYPES = ("ValueError", "KeyError", "FuzzError", "KeyboardInterrupt",
             "SystemExit", "GreenletExit", "FuzzExit")
EXIT_TYPES = ("GreenletExit", "FuzzExit")
KILL_POLICIES = ("reraise", "return", "raise")
ERROR = ("exc", ("E", "error", ()))
# Python frames a greenlet's script spends below its switch, and the
# depth budget kept clear of the recursion limit (S119: a greenlet
# starts counting from the depth of the code that started it).
SCRIPT_FRAMES = 8
MAIN_DEPTH = 150
DEPTH_BUDGET = 600
MAX_HOPS = 14


def make_args(seed):
    """The (args, kwargs) of a switch, from one integer."""
    r = random.Random(seed)
    tok = [lambda: r.randrange(100), lambda: "s%d" % r.randrange(100),
           lambda: (r.randrange(100),), lambda: ()]
    args = tuple(r.choice(tok)() for _ in range(r.choice((0, 1, 1, 1, 2, 3))))
    kwargs = {}
    if r.random() < 0.25:
        for k in r.sample("abc", r.randint(0, 2)):
            kwargs[k] = r.randrange(100)
    return args, kwargs


def received(args, kwargs):
    """What a suspended greenlet gets from switch(*args, **kwargs) (S20)."""
    if kwargs:
        return (args, kwargs) if args else kwargs
    if len(args) == 1:
        return args[0]
    return args


def make_exc(seed):
    """(type name, form, args): form 0 throw(cls), 1 throw(cls, tok),
    2 throw(cls(tok)), 3 throw() (GreenletExit only)."""
    r = random.Random(seed)
    name = r.choice(EXC_TYPES)
    form = r.randrange(4 if name == "GreenletExit" else 3)
    tok = r.randrange(100)
    args = () if form in (0, 3) else (tok,)
    return name, form, tok, ("E", "GreenletExit" if form == 3 else name, args)


def is_exit(payload):
    return payload[0] == "exc" and payload[1][1] in EXIT_TYPES


class G:
    """One greenlet as the model sees it."""

    def __init__(self, gid, parent, thread="M", policy="reraise"):
        self.gid = gid
        self.parent = parent
        self.state = "new"          # new | active | dead | freed
        self.thread = thread        # "M" (ours) or a foreign thread label
        self.waiting = None         # greenlet its suspended switch() holds
        # ...and the greenlet that switch reached (past dead ones): the
        # module keeps it (pimpl->waiting_on, visible to the collector)
        # while suspended, so it is not killed before this one resumes.
        self.waiting_on = None
        self.links = []             # greenlets held in its __dict__
        self.policy = policy        # what it does when killed
        self.var = None             # its ContextVar value
        self.base = MAIN_DEPTH      # recursion depth its run starts at
        self.is_main = False


class Model:
    def __init__(self):
        self.gs = {MAIN: G(MAIN, None)}
        self.gs[MAIN].state = "active"
        self.gs[MAIN].is_main = True
        self.held = {MAIN}
        self.leaked = set()
        self.cur = MAIN
        self.tracer = None          # None | record | raise | switch
        self.next_gid = 1
        # True: model a collector that does not traverse suspended frames
        # (upstream before 3.15) instead of S80's MUST.
        self.opaque_frames = False
        self.deep = 0
        self.begin_op()

    # ---- bookkeeping of one operation --------------------------------

    def begin_op(self):
        self.log = []               # (gid, payload, var) in order
        self.kills = []             # (gid, payload, var), any order
        self.events = []            # (event, origin, target)
        self.events_reliable = True
        self.unraisable = 0
        self.plan = []              # (gid, instruction) for the scripts
        self.kill_expected = set()

    def new_gid(self):
        g = self.next_gid
        self.next_gid += 1
        return g

    def alive(self, gid):
        return self.gs[gid].state != "freed"

    def chain(self, gid):
        out = []
        while gid is not None:
            out.append(gid)
            gid = self.gs[gid].parent
        return out

    def thread_of(self, gid):
        """The thread a greenlet belongs to (for a new one: its chain's)."""
        for g in self.chain(gid):
            if self.gs[g].state != "new":
                return self.gs[g].thread
        return self.gs[gid].thread

    def tainted(self, gid):
        return self.thread_of(gid) != "M"

    def children(self, gid):
        return [g for g, m in self.gs.items()
                if m.state != "freed" and m.parent == gid]

    # ---- references and killing --------------------------------------

    def edges(self, m):
        if m.state == "freed":
            return []
        out = list(m.links)
        if m.parent is not None:
            out.append(m.parent)
        if m.waiting is not None:
            out.append(m.waiting)
        if m.waiting_on is not None:
            out.append(m.waiting_on)
        return out

    def reachable(self, collect=False):
        seen = set()
        todo = list(self.held | self.leaked | {MAIN, self.cur})
        if collect and self.opaque_frames:
            # The collector cannot see references held by suspended frames:
            # what they hold counts as referenced from outside.
            todo += [m.waiting for m in self.gs.values()
                     if m.state == "active" and m.waiting is not None]
        while todo:
            g = todo.pop()
            if g in seen:
                continue
            seen.add(g)
            todo.extend(self.edges(self.gs[g]))
        return seen

    def garbage(self, collect=False):
        live = self.reachable(collect)
        return [g for g, m in self.gs.items()
                if m.state != "freed" and g not in live]

    def peel(self, collect=False):
        """Frees the unreachable greenlets the way reference counting does
        (or the collector, with collect=True): suspended ones are killed
        first (S77)."""
        while True:
            garbage = set(self.garbage())
            if not garbage and collect:
                garbage = set(self.garbage(collect=True))
            if not garbage:
                return
            incoming = {g: 0 for g in garbage}
            for g in garbage:
                for t in self.edges(self.gs[g]):
                    if t in incoming:
                        incoming[t] += 1
            free = [g for g in sorted(garbage) if incoming[g] == 0]
            if not free:
                if not collect:
                    return      # cycles wait for gc.collect()
                free = sorted(self.garbage(collect=True))
                if not free:
                    return
            for g in free:
                m = self.gs[g]
                if m.state == "active":
                    self.kill(g)
            for g in free:
                if self.gs[g].state != "active":
                    self.gs[g].state = "freed"

    def cyclic_suspended_garbage(self):
        """Suspended greenlets that only gc.collect() would kill."""
        saved = {g: (m.state, m.waiting) for g, m in self.gs.items()}
        live = self.reachable(collect=True)
        garbage = [g for g, m in self.gs.items()
                   if m.state != "freed" and g not in live]
        # Peel without killing: what is left is cyclic.
        left = set(garbage)
        while True:
            incoming = {g: 0 for g in left}
            for g in left:
                for t in self.edges(self.gs[g]):
                    if t in incoming:
                        incoming[t] += 1
            free = [g for g in left if incoming[g] == 0]
            if not free:
                break
            left -= set(free)
        assert saved == {g: (m.state, m.waiting) for g, m in self.gs.items()}
        return [g for g in left if self.gs[g].state == "active"]

    def kill(self, gid):
        """S77: GreenletExit at its switch; its parent is temporarily the
        releaser; it dies by its policy (S78)."""
        m = self.gs[gid]
        self.events_reliable = False
        self.kill_expected.add(gid)
        payload = ("exc", ("E", "GreenletExit", (KILL_TEXT,)))
        m.waiting = m.waiting_on = None
        self.kills.append((gid, payload, m.var))
        if m.policy == "raise":
            self.unraisable += 1
        m.state = "dead"

    def swallow(self, gid):
        """S78: a killed greenlet that switches back to the releaser (main)
        stays alive forever."""
        m = self.gs[gid]
        payload = ("exc", ("E", "GreenletExit", (KILL_TEXT,)))
        self.kills.append((gid, payload, m.var))
        self.kill_expected.add(gid)
        self.events_reliable = False
        self.leaked.add(gid)
        m.waiting = m.waiting_on = None     # resumed: lets go of what it held
        self.peel()
        m.waiting = m.waiting_on = MAIN

    # ---- control transfers -------------------------------------------

    def event(self, kind, origin, target):
        """A transfer happened; returns True if the tracer raised (S100)."""
        if self.tracer == "record":
            self.events.append((kind, origin, target))
        elif self.tracer == "raise":
            self.tracer = None
            return True
        return False

    def landing(self, target):
        """First non-dead greenlet on target's chain, or None."""
        t = target
        while t is not None and self.gs[t].state == "dead":
            t = self.gs[t].parent
        return t

    def resume(self, gid):
        """gid gets control back from its switch: it lets go of the
        greenlet its switch() call held, which may now be garbage."""
        self.cur = gid
        m = self.gs[gid]
        m.waiting = m.waiting_on = None
        self.peel()

    def transfer(self, origin, target, payload):
        """origin calls target.switch/throw.  Returns (landing, payload)
        the next receiver and what it gets; the landing may be dying with
        a pending start or exception handled here."""
        if self.gs[target].thread != "M" and self.gs[target].state != "new":
            return origin, ERROR
        if payload[0] == "val" or self.gs[target].state != "dead":
            land = self.landing(target)
        else:
            # S60: throw at a dead greenlet.
            if is_exit(payload):
                payload = ("val", payload[1])
            land = self.landing(target)
        if land is None or self.tainted(land):
            return origin, ERROR
        if land == origin:
            # S22, S61: self switch or throw.
            raised = self.event("throw" if payload[0] == "exc" else "switch", origin, origin)
            if raised:
                payload = ("exc", ("E", "TracerError", ("trace",)))
            return origin, payload
        om = self.gs[origin]
        om.waiting, om.waiting_on = target, land
        lm = self.gs[land]
        kind = "throw" if payload[0] == "exc" else "switch"
        if lm.state == "new":
            lm.state = "active"
            lm.thread = "M"
            lm.base = self.gs[origin].base + SCRIPT_FRAMES + self.deep
            self.cur = land
            raised = self.event(kind, origin, land)
            if raised:
                payload = ("exc", ("E", "TracerError", ("trace",)))
            if payload[0] == "exc":
                # S59/S100: started and dead without running run.  Reached
                # through a dead greenlet, this is the known one-event
                # difference of S98: don't check events.
                if land != target:
                    self.events_reliable = False
                return self.finish(land, payload)
            return land, payload
        raised = self.event(kind, origin, land)
        if raised:
            payload = ("exc", ("E", "TracerError", ("trace",)))
        self.resume(land)
        return land, payload

    def finish(self, gid, payload, parent=None):
        """gid's run ended with payload (S26-S29): it dies; returns the
        (receiver, payload) up its chain."""
        m = self.gs[gid]
        m.state = "dead"
        m.waiting = m.waiting_on = None
        if is_exit(payload):
            payload = ("val", payload[1])
        t = m.parent if parent is None else parent
        origin = gid
        while True:
            tm = self.gs[t]
            if tm.state == "dead":
                t = tm.parent
                continue
            kind = "throw" if payload[0] == "exc" else "switch"
            if tm.state == "new":
                if payload[0] == "val":
                    tm.state = "active"
                    tm.thread = "M"
                    tm.base = m.base
                    self.cur = t
                    if self.event(kind, origin, t):
                        payload = ("exc", ("E", "TracerError", ("trace",)))
                        return self.finish(t, payload)
                    return t, ("val", payload[1])
                # An exception passes a parent that never ran: it dies
                # unrun (known trace-event difference: don't check events).
                self.events_reliable = False
                tm.state = "dead"
                t = tm.parent
                continue
            raised = self.event(kind, origin, t)
            if raised:
                payload = ("exc", ("E", "TracerError", ("trace",)))
            self.resume(t)
            return t, payload

    # ---- one operation from the main greenlet --------------------------

    def simulate(self, action, choices):
        """Runs one switch or throw from main, with the scripts' choices;
        returns the payload main receives.  Fills self.plan and the
        expectations."""
        choices = list(choices)
        self.deep = 0
        recv, payload = self.apply(MAIN, None, action)
        hops = 0
        while recv != MAIN:
            self.log.append((recv, payload, self.gs[recv].var))
            hops += 1
            instr = self.choose(recv, payload, choices, hops)
            self.plan.append((recv, instr))
            recv, payload = self.apply(recv, payload, instr)
        self.cur = MAIN
        self.deep = 0
        return payload

    def targets(self):
        return sorted(self.held)

    def choose(self, gid, payload, choices, hops):
        """Turns one drawn choice into the instruction gid executes."""
        if not choices or hops > MAX_HOPS:
            return ("switch", MAIN, (hops,), {}, 0, None)
        kind, ti, seed, extra = choices.pop(0)
        ts = self.targets()
        t = ts[ti % len(ts)]
        deep = (0, 0, 0, 40, 150)[extra % 5]
        setvar = None if (extra // 5) % 2 == 0 else 1000 + seed % 1000
        base = self.gs[gid].base
        if base + deep + 2 * SCRIPT_FRAMES > DEPTH_BUDGET:
            deep = 0
        land = self.landing(t) if self.gs[t].thread == "M" else None
        if (land is not None and self.gs[land].state == "new"
                and base + deep + 2 * SCRIPT_FRAMES > DEPTH_BUDGET):
            t = MAIN
        kind %= 9
        if kind <= 2:
            args, kwargs = make_args(seed)
            return ("switch", t, args, kwargs, deep, setvar)
        if kind == 3:
            return ("throw", t, make_exc(seed), deep, setvar)
        if kind == 4:
            args, kwargs = make_args(seed)
            return ("return", received(args, kwargs), setvar)
        if kind == 5:
            name, _, tok, _ = make_exc(seed)
            return ("raise", name, tok, setvar)
        if kind == 6:
            return ("reraise", setvar)
        if kind == 7 and base + 2 * SCRIPT_FRAMES < DEPTH_BUDGET:
            return ("recurse", setvar)
        return ("switch", MAIN, (seed,), {}, deep, setvar)

    def apply(self, gid, payload, instr):
        """What instr, run by gid, leads to: (receiver, payload)."""
        op = instr[0]
        setvar = instr[-1]
        if setvar is not None:
            self.gs[gid].var = setvar
        if op == "switch":
            self.deep = instr[4]
            return self.transfer(gid, instr[1], ("val", received(instr[2], instr[3])))
        if op == "throw":
            self.deep = instr[3]
            return self.transfer(gid, instr[1], ("exc", instr[2][3]))
        if op == "return":
            return self.finish(gid, ("val", instr[1]))
        if op == "raise":
            return self.finish(gid, ("exc", ("E", instr[1], (instr[2],))))
        if op == "reraise":
            if payload[0] == "exc":
                return self.finish(gid, payload)
            return self.transfer(gid, MAIN, ("val", ()))
        if op == "recurse":
            return gid, ("exc", ("E", "RecursionError", ()))
        raise AssertionError(instr)
