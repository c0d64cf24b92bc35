"""One measurement of one metric, in a fresh process (run by driver.py).

usage: worker.py EXPECT METRIC N [--count]

EXPECT  which greenlet must be imported: ours (cgreenlet: has
        greenlet._greenlet.CGREENLET_VERSION), pypi (the PyPI wheel), debian
        (Debian's python3-greenlet); anything else aborts the run.
METRIC  one of the functions below (METRICS).
N       number of operations.
--count instruction-count mode (under valgrind): no warm-up, no output;
        the process ends with os._exit so that teardown is not counted.

Without --count, prints one JSON object: the metric's figures (elapsed ns
for the N operations, and for the memory metrics bytes) plus which greenlet
ran.  Every metric is a function taking N; the setup it does is the same
for any N, so that instructions(N) - instructions(0) is the cost of N
operations.  Each loop is bounded by N (or by a fixed size).
"""
import gc
import os
import sys
import time

EXPECT, METRIC, N = sys.argv[1], sys.argv[2], int(sys.argv[3])
COUNT = "--count" in sys.argv[4:]

import greenlet  # noqa: E402
from greenlet import greenlet as Greenlet, getcurrent  # noqa: E402

_gmod = sys.modules.get("greenlet._greenlet")
IS_OURS = hasattr(_gmod, "CGREENLET_VERSION")
_where = os.path.realpath(greenlet.__file__)
if EXPECT == "ours":
    ok = IS_OURS
elif EXPECT == "pypi":
    ok = not IS_OURS and "/dist-packages/" not in _where
elif EXPECT == "debian":
    ok = not IS_OURS and _where.startswith("/usr/lib/python3/dist-packages/")
else:
    ok = False
if not ok:
    sys.stderr.write("worker: wanted %s greenlet, got %s (%s)\n"
                     % (EXPECT, greenlet.__version__, _where))
    sys.exit(3)

now = time.perf_counter_ns


def rss_bytes():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def recurse(depth, fn):
    """fn() called depth-1 Python frames below this one (all Python-level
    calls: no C frame in between on 3.11+, one eval loop per frame before)."""
    if depth <= 1:
        return fn()
    return recurse(depth - 1, fn)


def crecurse(depth, fn):
    """fn() called through `depth` levels of C recursion: each level is
    next(map(crecurse, ...)), so builtin next -> map_next -> the vectorcall
    of a Python function -> a new _PyEval_EvalFrameDefault C frame (on every
    version: calls from C into Python always enter a fresh eval loop)."""
    if depth <= 0:
        return fn()
    return next(map(crecurse, (depth - 1,), (fn,)))


# ---- switching -------------------------------------------------------------

def _pingpong(n, park):
    """Two greenlets a and b, each parked by park(body) (depth), switch to
    each other n times in all (n // 2 each way)."""
    half = n // 2
    main = getcurrent()

    def body_a():
        main.switch()
        s = gb.switch
        for _ in range(half):
            s()

    def body_b():
        main.switch()
        s = ga.switch
        for _ in range(half):
            s()

    ga = Greenlet(lambda: park(body_a))
    gb = Greenlet(lambda: park(body_b))
    ga.switch()
    gb.switch()
    t0 = now()
    ga.switch()       # a: n switches a<->b, then a returns to main
    t1 = now()
    gb.switch()       # b finishes
    assert ga.dead and gb.dead
    return {"elapsed": t1 - t0, "ops": 2 * half}


def m_switch(n):
    return _pingpong(n, lambda body: body())


def m_switch_depth500(n):
    sys.setrecursionlimit(max(sys.getrecursionlimit(), 3000))
    return _pingpong(n, lambda body: recurse(500, body))


def m_switch_c50(n):
    sys.setrecursionlimit(max(sys.getrecursionlimit(), 3000))
    return _pingpong(n, lambda body: crecurse(50, body))


def m_getcurrent(n):
    g = getcurrent
    t0 = now()
    for _ in range(n):
        g()
    return {"elapsed": now() - t0, "ops": n}


# ---- lifecycle ---------------------------------------------------------------

def _ret():
    return None


def m_create(n):
    """greenlet(f).switch(): create, switch in, f returns, back in main,
    the dead greenlet freed."""
    G = Greenlet
    f = _ret
    t0 = now()
    for _ in range(n):
        G(f).switch()
    return {"elapsed": now() - t0, "ops": n}


def m_throw_caught(n):
    """g.throw(ValueError) into a parked greenlet that catches it and
    switches back: per op one throw in + one switch out."""
    main = getcurrent()

    def body():
        s = main.switch
        for _ in range(n + 1):
            try:
                s()
            except ValueError:
                pass

    g = Greenlet(body)
    g.switch()
    t0 = now()
    for _ in range(n):
        g.throw(ValueError)
    t1 = now()
    g.switch()
    assert g.dead
    return {"elapsed": t1 - t0, "ops": n}


BATCH = 1000


def _park_body():
    getcurrent().parent.switch()


def _parked(k):
    out = []
    for _ in range(k):
        g = Greenlet(_park_body)
        g.switch()
        out.append(g)
    return out


def m_throw_out(n):
    """g.throw(ValueError) into a parked greenlet that does not catch it:
    the greenlet dies and the exception reaches main.  Timed: the throws
    only; the parked greenlets are made in untimed batches of 1000 (their
    instructions are subtracted by the driver: the `park` metric)."""
    elapsed = 0
    done = 0
    while done < n:
        k = min(BATCH, n - done)
        gs = _parked(k)
        t0 = now()
        for g in gs:
            try:
                g.throw(ValueError)
            except ValueError:
                pass
        elapsed += now() - t0
        done += k
    return {"elapsed": elapsed, "ops": n}


def m_kill(n):
    """Drop the last reference to a parked greenlet: GreenletExit is thrown
    into it and it dies.  Parked greenlets made in untimed batches as in
    throw_out."""
    elapsed = 0
    done = 0
    while done < n:
        k = min(BATCH, n - done)
        gs = _parked(k)
        pop = gs.pop
        t0 = now()
        for _ in range(k):
            pop()
        elapsed += now() - t0
        done += k
    return {"elapsed": elapsed, "ops": n}


def m_chain10k(n):
    """A chain of n greenlets (10,000 in the table), each the parent of the
    next, all parked at depth 1 beforehand (untimed; the driver subtracts
    the `park` metric's instructions).  Timed: main switches into the
    first, each switches into the next, the last returns, and each in turn
    finishes back into its parent, down to main.  Per greenlet of the
    chain: one switch forward + one finish.  (A chain whose greenlets
    create the next from inside the previous one stops at the interpreter's
    C recursion limit, ~1500 on 3.12, so it cannot reach 10,000.)"""
    main = getcurrent()
    gs = []

    def link(i):
        main.switch()
        if i + 1 < n:
            gs[i + 1].switch()
        return i

    prev = main
    for i in range(n):
        g = Greenlet(link, prev)
        g.switch(i)
        gs.append(g)
        prev = g
    t0 = now()
    if n:
        gs[0].switch()
    t1 = now()
    assert all(g.dead for g in gs)
    return {"elapsed": t1 - t0, "ops": n}


def _park_many(n, depth, trace):
    main = getcurrent()
    if depth <= 1:
        def body():
            main.switch()
    else:
        def body():
            recurse(depth - 1, main.switch)
    gc.collect()
    if trace:
        import tracemalloc
        tracemalloc.start()
        tm0 = tracemalloc.get_traced_memory()[0]
    r0 = rss_bytes()
    keep = []
    append = keep.append
    G = Greenlet
    t0 = now()
    for _ in range(n):
        g = G(body)
        g.switch()
        append(g)
    t1 = now()
    r1 = rss_bytes()
    res = {"elapsed": t1 - t0, "ops": n,
           "rss_per": (r1 - r0) / n if n else 0.0}
    if trace:
        res["tracemalloc_per"] = (tracemalloc.get_traced_memory()[0] - tm0) / n if n else 0.0
    if not COUNT:
        # leave at once: killing n parked greenlets is not measured
        emit(res)
        os._exit(0)
    return res


def m_park(n):
    """Create a greenlet, switch in, it switches back (parked at depth 1),
    keep it: time and resident memory per parked greenlet (1,000,000 in
    the table)."""
    return _park_many(n, 1, False)


def m_rss_d1(n):
    return _park_many(n, 1, False)


def m_rss_d50(n):
    sys.setrecursionlimit(max(sys.getrecursionlimit(), 1000))
    return _park_many(n, 50, False)


def m_tm_d1(n):
    return _park_many(n, 1, True)


def m_tm_d50(n):
    sys.setrecursionlimit(max(sys.getrecursionlimit(), 1000))
    return _park_many(n, 50, True)


# ---- gevent ------------------------------------------------------------------

def m_gevent_echo(n):
    """Round trips through a gevent StreamServer on 127.0.0.1: 10 clients
    (gevent sockets in the same process), n // 10 messages of 64 bytes each,
    every message echoed back before the next is sent."""
    import gevent
    from gevent.server import StreamServer
    from gevent import socket

    def handle(sock, addr):
        for _ in range(n + 1):           # bounded: at most every message
            data = sock.recv(4096)
            if not data:
                break
            sock.sendall(data)
        sock.close()

    server = StreamServer(("127.0.0.1", 0), handle)
    server.start()
    port = server.server_port
    clients = 10
    per = n // clients
    msg = b"x" * 64

    def client():
        s = socket.create_connection(("127.0.0.1", port))
        for _ in range(per):
            s.sendall(msg)
            got = 0
            for _ in range(64):
                got += len(s.recv(4096))
                if got >= 64:
                    break
        s.close()

    with gevent.Timeout(120):
        t0 = now()
        gevent.joinall([gevent.spawn(client) for _ in range(clients)], raise_error=True)
        t1 = now()
    server.stop()
    return {"elapsed": t1 - t0, "ops": per * clients}


def m_gevent_spawn(n):
    """gevent.spawn of n greenlets (a function that returns at once), then
    gevent.joinall of them."""
    import gevent
    spawn = gevent.spawn
    f = _ret
    t0 = now()
    gs = [spawn(f) for _ in range(n)]
    gevent.joinall(gs)
    t1 = now()
    return {"elapsed": t1 - t0, "ops": n}


def m_gevent_queue(n):
    """A producer puts n items into gevent.queue.Queue(maxsize=1) and a
    consumer gets them: every item is a hand-off between the two."""
    import gevent
    from gevent.queue import Queue
    q = Queue(maxsize=1)

    def producer():
        put = q.put
        for i in range(n):
            put(i)

    def consumer():
        get = q.get
        for _ in range(n):
            get()

    with gevent.Timeout(120):
        t0 = now()
        gevent.joinall([gevent.spawn(producer), gevent.spawn(consumer)], raise_error=True)
        t1 = now()
    return {"elapsed": t1 - t0, "ops": n}


# ---- dedicated stacks (ours only) ----------------------------------------

def _on_dedicated_stacks(fn):
    """The metric fn with every greenlet ours starts on a dedicated stack
    of 8 MiB (greenlet.set_stack_size); a reference greenlet, which has
    only the shared stack, runs fn as it is."""
    def metric(n):
        if IS_OURS:
            greenlet.set_stack_size(8 << 20)
        return fn(n)
    return metric


m_switch_ded = _on_dedicated_stacks(m_switch)
m_switch_c50_ded = _on_dedicated_stacks(m_switch_c50)
m_switch_depth500_ded = _on_dedicated_stacks(m_switch_depth500)
m_create_ded = _on_dedicated_stacks(m_create)
m_rss_d1_ded = _on_dedicated_stacks(m_rss_d1)

METRICS = {k[2:]: v for k, v in list(globals().items()) if k.startswith("m_")}


def emit(res):
    if COUNT:
        return
    import json
    res.update(metric=METRIC, impl=EXPECT, greenlet_version=greenlet.__version__,
               cgreenlet=getattr(_gmod, "CGREENLET_VERSION", None),
               greenlet_file=_where, python=sys.version.split()[0])
    sys.stdout.write(json.dumps(res) + "\n")
    sys.stdout.flush()


def main():
    fn = METRICS[METRIC]
    if not COUNT and not METRIC.startswith(("park", "rss", "tm", "gevent")) and N:
        fn(max(1, N // 10))          # warm-up (caches, freelists)
    res = fn(N)
    emit(res)
    sys.stdout.flush()
    os._exit(0)                       # teardown is never measured


if __name__ == "__main__":
    main()
