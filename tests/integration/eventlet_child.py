"""Child of test_eventlet: eventlet scenarios on our greenlet.

    python3 eventlet_child.py SCENARIO...

Prints one JSON line per scenario ("ok": true when it held, else the
traceback) and exits 0 only if all held.  Every wait is bounded.  The
scenario monkey_patch patches the whole process first, so it runs alone.
"""
import sys
import warnings

warnings.simplefilter("ignore", DeprecationWarning)

if "monkey_patch" in sys.argv[1:]:
    if sys.argv[1:] != ["monkey_patch"]:
        sys.exit("monkey_patch must run alone")
    import eventlet
    eventlet.monkey_patch()

import json  # noqa: E402
import traceback  # noqa: E402

import eventlet  # noqa: E402
import eventlet.event  # noqa: E402
import eventlet.queue  # noqa: E402
import eventlet.wsgi  # noqa: E402
import greenlet  # noqa: E402
from eventlet.green import socket as gsocket  # noqa: E402

from integ_support import check, recv_exact, run_scenarios  # noqa: E402

BOUND = 60


def bounded_wait(event, seconds=BOUND):
    """Waits for an eventlet Event; False if it did not come in time."""
    with eventlet.Timeout(seconds, False):
        event.wait()
        return True
    return False


def scenario_greenpool():
    size = 5
    pool = eventlet.GreenPool(size)
    state = {"active": 0, "peak": 0}
    full = eventlet.event.Event()

    def work(i):
        state["active"] += 1
        state["peak"] = max(state["peak"], state["active"])
        if state["active"] == size and not full.ready():
            full.send(True)
        bounded_wait(full)
        eventlet.sleep(0)
        state["active"] -= 1
        return i * 3

    check(list(pool.imap(work, range(40))) == [i * 3 for i in range(40)], "imap results")
    check(state["peak"] == size, "peak %d" % state["peak"])
    gts = [pool.spawn(work, i) for i in range(12)]
    check(pool.running() <= size, "running %d" % pool.running())
    pool.waitall()
    check([gt.wait() for gt in gts] == [i * 3 for i in range(12)], "spawn results")
    check(pool.free() == size and pool.running() == 0, "pool not empty")
    check(state["peak"] == size, "peak after spawn %d" % state["peak"])
    pile = eventlet.GreenPile(pool)
    for i in range(10):
        pile.spawn(lambda x: (eventlet.sleep(0.001 * (x % 3)), -x)[1], i)
    check(list(pile) == [-i for i in range(10)], "GreenPile order")
    # The pool survives a task that raises; its GreenThread carries the error.
    gt = pool.spawn(lambda: 1 / 0)
    try:
        gt.wait()
    except ZeroDivisionError:
        pass
    else:
        raise AssertionError("no ZeroDivisionError")
    check(pool.spawn(lambda: "after").wait() == "after", "pool after error")
    return {"peak": state["peak"]}


def scenario_green_socket():
    n = 200
    server = eventlet.listen(("127.0.0.1", 0), backlog=n + 64)
    check(isinstance(server, gsocket.socket), "listen gave %r" % type(server))
    port = server.getsockname()[1]
    stats = {"open": 0, "peak": 0, "connected": 0, "handled": 0}
    everyone_in = eventlet.event.Event()

    def handle(conn):
        stats["open"] += 1
        stats["peak"] = max(stats["peak"], stats["open"])
        try:
            for _ in range(30):  # bound
                data = conn.recv(4096)
                if not data:
                    break
                conn.sendall(data)
        finally:
            conn.close()
            stats["open"] -= 1
            stats["handled"] += 1

    handlers = eventlet.GreenPool(n + 10)

    def accept_loop():
        for _ in range(n):
            conn, _ = server.accept()
            handlers.spawn_n(handle, conn)

    acceptor = eventlet.spawn(accept_loop)

    def client(i):
        c = gsocket.create_connection(("127.0.0.1", port), timeout=BOUND)
        try:
            got = []
            for k in range(3):
                msg = b"eventlet %d line %d\n" % (i, k)
                c.sendall(msg)
                got.append(recv_exact(c, len(msg)))
                if k == 0:
                    stats["connected"] += 1
                    if stats["connected"] == n:
                        everyone_in.send(True)
                    check(bounded_wait(everyone_in), "not all clients connected")
            return got
        finally:
            c.close()

    clients = eventlet.GreenPool(n)
    results = list(clients.imap(client, range(n)))
    for i, got in enumerate(results):
        check(got == [b"eventlet %d line %d\n" % (i, k) for k in range(3)], "client %d: %r" % (i, got))
    acceptor.wait()
    handlers.waitall()
    server.close()
    check(stats["peak"] == n, "peak %d" % stats["peak"])
    check(stats["handled"] == n and stats["open"] == 0, "handlers %r" % stats)
    return {"clients": n}


def scenario_queue():
    q = eventlet.queue.Queue(maxsize=3)
    got, full_seen = [], []

    def producer():
        for i in range(200):
            if q.full():
                full_seen.append(i)
            q.put(i)
        q.put(None)

    def consumer():
        for _ in range(1000):  # bound
            item = q.get(timeout=BOUND)
            if item is None:
                return
            got.append(item)

    p, c = eventlet.spawn(producer), eventlet.spawn(consumer)
    p.wait()
    c.wait()
    check(got == list(range(200)), "queue order")
    check(full_seen, "producer never saw a full queue")
    try:
        q.get(timeout=0.01)
    except eventlet.queue.Empty:
        pass
    else:
        raise AssertionError("no Empty")
    try:
        q.get(block=False)
    except eventlet.queue.Empty:
        pass
    else:
        raise AssertionError("no Empty (non-blocking)")
    # A getter blocked first is served by a later put.
    lq = eventlet.queue.LightQueue()
    getter = eventlet.spawn(lq.get)
    eventlet.sleep(0)
    check(not getter.dead, "getter returned early")
    lq.put("late")
    check(getter.wait() == "late", "LightQueue handoff")
    pq = eventlet.queue.PriorityQueue()
    for v in (3, 1, 2):
        pq.put(v)
    check([pq.get() for _ in range(3)] == [1, 2, 3], "priority order")
    lifo = eventlet.queue.LifoQueue()
    for v in (1, 2, 3):
        lifo.put(v)
    check([lifo.get() for _ in range(3)] == [3, 2, 1], "lifo order")
    jq = eventlet.queue.Queue()
    done = []

    def worker():
        for _ in range(100):  # bound
            item = jq.get()
            if item is None:
                jq.task_done()
                return
            done.append(item)
            jq.task_done()

    ws = [eventlet.spawn(worker) for _ in range(3)]
    for i in range(20):
        jq.put(i)
    for _ in ws:
        jq.put(None)
    with eventlet.Timeout(BOUND):
        jq.join()
    check(sorted(done) == list(range(20)), "task_done/join")
    return {"items": len(got)}


def scenario_timeout():
    t = eventlet.Timeout(0.05)
    reached = []
    try:
        with t:
            eventlet.sleep(BOUND)
            reached.append(1)
    except eventlet.Timeout as e:
        check(e is t, "a different Timeout")
    else:
        raise AssertionError("no Timeout")
    check(reached == [] and not t.pending, "timeout state")
    with eventlet.Timeout(0.05, False):
        eventlet.sleep(BOUND)
        reached.append(2)
    check(reached == [], "silent timeout let code run")

    class Late(Exception):
        pass
    try:
        with eventlet.Timeout(0.05, Late):
            eventlet.sleep(BOUND)
    except Late:
        pass
    else:
        raise AssertionError("no Late")
    v = eventlet.timeout.with_timeout(0.05, eventlet.sleep, BOUND, timeout_value="late")
    check(v == "late", "with_timeout %r" % v)
    # A cancelled timeout does not fire later.
    with eventlet.Timeout(0.05):
        eventlet.sleep(0)
    eventlet.sleep(0.1)
    # Timeout in another greenthread, blocked on a queue.
    q = eventlet.queue.Queue()

    def blocked():
        with eventlet.Timeout(0.05):
            return q.get()
    gt = eventlet.spawn(blocked)
    try:
        gt.wait()
    except eventlet.Timeout:
        pass
    else:
        raise AssertionError("no Timeout in greenthread")
    return {}


def scenario_spawn_kill():
    log = []

    def loop(tag):
        try:
            for i in range(10000):
                log.append((tag, i))
                eventlet.sleep(0.01)
        finally:
            log.append((tag, "finally"))

    # spawn_n gives a plain greenlet (our type).
    g = eventlet.spawn_n(loop, "n")
    check(type(g) is greenlet.greenlet, "spawn_n gave %r" % type(g))
    eventlet.sleep(0.05)
    check(not g.dead, "spawn_n greenlet died early")
    eventlet.kill(g)
    check(g.dead, "spawn_n greenlet not killed")
    check(log[-1] == ("n", "finally"), "finally of spawn_n not run")

    gt = eventlet.spawn(loop, "gt")
    check(isinstance(gt, greenlet.greenlet), "GreenThread not a greenlet")
    eventlet.sleep(0.05)
    gt.kill()
    check(gt.dead, "GreenThread not killed")
    check(log[-1] == ("gt", "finally"), "finally of spawn not run")
    try:
        gt.wait()
    except greenlet.GreenletExit:
        pass
    else:
        raise AssertionError("wait() after kill did not raise GreenletExit")

    class Stop(Exception):
        pass
    gt2 = eventlet.spawn(eventlet.sleep, BOUND)
    eventlet.sleep(0)
    eventlet.kill(gt2, Stop)
    try:
        gt2.wait()
    except Stop:
        pass
    else:
        raise AssertionError("kill(Stop) not seen by wait()")

    ran = []
    gt3 = eventlet.spawn(ran.append, 1)
    gt3.kill()
    eventlet.sleep(0.01)
    check(ran == [] and gt3.dead, "killed before start but ran")

    # Exceptions keep their traceback through the greenthread.
    def level3():
        raise ValueError("deep")

    def level2():
        eventlet.sleep(0)
        level3()

    def level1():
        eventlet.sleep(0.001)
        level2()
    gt4 = eventlet.spawn(level1)
    try:
        gt4.wait()
    except ValueError as e:
        names = [f.name for f in traceback.extract_tb(e.__traceback__)]
    else:
        raise AssertionError("no ValueError")
    check(names[-3:] == ["level1", "level2", "level3"], "traceback %r" % names)
    # Linked callbacks run on exit.
    linked = []
    gt5 = eventlet.spawn(lambda: 5)
    gt5.link(lambda g: linked.append(g.wait()))
    gt5.wait()
    eventlet.sleep(0)
    check(linked == [5], "link %r" % linked)
    return {}


def scenario_tpool():
    # Real OS threads doing blocking work for greenthreads.
    import threading
    from eventlet import tpool
    main_ident = threading.get_ident()

    def blocking(i):
        return i * i, threading.get_ident()

    pool = eventlet.GreenPool(10)
    results = list(pool.imap(lambda i: tpool.execute(blocking, i), range(30)))
    check([r[0] for r in results] == [i * i for i in range(30)], "tpool results")
    check(main_ident not in {r[1] for r in results}, "tpool ran in the hub's thread")
    try:
        tpool.execute(lambda: 1 / 0)
    except ZeroDivisionError:
        pass
    else:
        raise AssertionError("tpool did not carry the exception")
    tpool.killall()
    return {"calls": len(results)}


def scenario_monkey_patch():
    import os
    import queue
    import select
    import socket
    import subprocess
    import threading
    import time
    from eventlet import patcher
    for m in ("socket", "thread", "time", "select", "os"):
        check(patcher.is_monkey_patched(m), "%s not patched" % m)
    check(socket.socket is gsocket.socket, "socket is %r" % socket.socket)
    ran = []
    eventlet.spawn_n(ran.append, "spawned")
    time.sleep(0.01)
    check(ran == ["spawned"], "greenthread did not run during time.sleep")

    # threads are greenthreads: an echo server and clients with threading.
    srv = socket.socket()
    srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    srv.bind(("127.0.0.1", 0))
    srv.listen(64)
    port = srv.getsockname()[1]
    n = 50

    def handle(conn):
        with conn:
            for _ in range(10):  # bound
                data = conn.recv(1024)
                if not data:
                    break
                conn.sendall(data[::-1])

    def serve():
        for _ in range(n):
            conn, _ = srv.accept()
            threading.Thread(target=handle, args=(conn,)).start()

    acceptor = threading.Thread(target=serve)
    acceptor.start()
    results = queue.Queue()
    in_greenlet = []

    def client(i):
        in_greenlet.append(greenlet.getcurrent().parent is not None)
        with socket.create_connection(("127.0.0.1", port), timeout=BOUND) as c:
            msg = b"abc%d" % i
            c.sendall(msg)
            results.put((i, recv_exact(c, len(msg))))

    ts = [threading.Thread(target=client, args=(i,)) for i in range(n)]
    for t in ts:
        t.start()
    for t in ts:
        t.join(BOUND)
        check(not t.is_alive(), "client thread stuck")
    acceptor.join(BOUND)
    srv.close()
    got = dict(results.get(timeout=BOUND) for _ in range(n))
    check(got == {i: (b"abc%d" % i)[::-1] for i in range(n)}, "echo results")
    check(all(in_greenlet) and len(in_greenlet) == n, "threads were not greenthreads")

    # select on a pipe written by another thread after the wait began.
    r, w = os.pipe()
    try:
        box = []
        waiter = threading.Thread(target=lambda: box.append(select.select([r], [], [], BOUND)[0]))
        waiter.start()
        time.sleep(0.01)
        check(not box, "select returned early")
        os.write(w, b"x")
        waiter.join(BOUND)
        check(box == [[r]], "select %r" % box)
    finally:
        os.close(r)
        os.close(w)
    lock = threading.Lock()
    with lock:
        check(not lock.acquire(blocking=False), "lock not exclusive")
    out = subprocess.check_output([sys.executable, "-c", "print(6 * 7)"], timeout=BOUND)
    check(out == b"42\n", "subprocess %r" % out)
    return {"clients": n}


def scenario_wsgi():
    from eventlet.green.urllib import request as urlrequest
    n = 40
    state = {"inflight": 0, "peak": 0, "calls": 0}
    all_in = eventlet.event.Event()

    def app(environ, start_response):
        state["calls"] += 1
        state["inflight"] += 1
        state["peak"] = max(state["peak"], state["inflight"])
        try:
            if state["inflight"] == n and not all_in.ready():
                all_in.send(True)
            if not bounded_wait(all_in):
                start_response("503 Not Concurrent", [("Content-Type", "text/plain")])
                return [b"not concurrent"]
            body = environ["wsgi.input"].read()
            out = json.dumps({
                "method": environ["REQUEST_METHOD"],
                "path": environ["PATH_INFO"],
                "query": environ.get("QUERY_STRING", ""),
                "body": body.decode(),
                "greenlet": greenlet.__file__,
            }).encode()
            start_response("200 OK", [("Content-Type", "application/json"),
                                      ("Content-Length", str(len(out)))])
            return [out]
        finally:
            state["inflight"] -= 1

    sock = eventlet.listen(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server = eventlet.spawn(eventlet.wsgi.server, sock, app, log_output=False,
                            log=open("/dev/null", "w"))

    def client(i):
        url = "http://127.0.0.1:%d/item/%d?q=%d" % (port, i, i)
        data = (b"payload %d" % i) if i % 2 else None
        with urlrequest.urlopen(url, data=data, timeout=BOUND) as resp:
            return resp.status, resp.headers["Content-Type"], json.loads(resp.read())

    pool = eventlet.GreenPool(n)
    results = list(pool.imap(client, range(n)))
    for i, (status, ctype, doc) in enumerate(results):
        check(status == 200, "status %r" % status)
        check(ctype == "application/json", "content type %r" % ctype)
        check(doc["method"] == ("POST" if i % 2 else "GET"), "method %r" % doc)
        check(doc["path"] == "/item/%d" % i and doc["query"] == "q=%d" % i, "path %r" % doc)
        check(doc["body"] == ("payload %d" % i if i % 2 else ""), "body %r" % doc)
    check(state["peak"] == n and state["calls"] == n, "state %r" % state)
    server.kill()
    check(server.dead, "wsgi server greenthread still alive")
    sock.close()
    return {"clients": n, "app_greenlet": results[0][2]["greenlet"]}


def scenario_asyncio_hub():
    # Run with EVENTLET_HUB=asyncio (eventlet 0.35 and later): eventlet's
    # hub greenlet runs an asyncio event loop; coroutines become green
    # threads with spawn_for_awaitable.  An asyncio echo server serves
    # eventlet green-socket clients, all in one thread.
    import asyncio
    import eventlet.asyncio
    from eventlet.hubs import get_hub
    from eventlet.hubs.asyncio import Hub as AsyncioHub

    check(isinstance(get_hub(), AsyncioHub), "hub is %r" % get_hub())
    n = 20
    state = {"handled": 0}

    async def handle(reader, writer):
        data = await reader.readexactly(16)
        await asyncio.sleep(0.001)
        writer.write(data.upper())
        await writer.drain()
        writer.close()
        state["handled"] += 1

    async def start():
        server = await asyncio.start_server(handle, "127.0.0.1", 0)
        return server

    server = eventlet.asyncio.spawn_for_awaitable(start()).wait()
    port = server.sockets[0].getsockname()[1]

    def client(i):
        c = gsocket.create_connection(("127.0.0.1", port), timeout=BOUND)
        try:
            c.sendall(b"message %08d" % i)
            return recv_exact(c, 16)
        finally:
            c.close()

    pool = eventlet.GreenPool(n)
    replies = list(pool.imap(client, range(n)))
    check(replies == [b"MESSAGE %08d" % i for i in range(n)], "replies %r" % replies[:3])
    check(state["handled"] == n, "handled %d" % state["handled"])

    async def close():
        server.close()
        await server.wait_closed()
    eventlet.asyncio.spawn_for_awaitable(close()).wait()

    # A coroutine's result and its exception reach the green thread.
    async def value(x):
        await asyncio.sleep(0.001)
        return x * 2

    async def failing():
        await asyncio.sleep(0)
        raise KeyError("from the coroutine")

    threads = [eventlet.asyncio.spawn_for_awaitable(value(i)) for i in range(50)]
    check([t.wait() for t in threads] == [i * 2 for i in range(50)], "coroutine results")
    try:
        eventlet.asyncio.spawn_for_awaitable(failing()).wait()
    except KeyError as e:
        check(e.args == ("from the coroutine",), "args %r" % (e.args,))
    else:
        raise AssertionError("the coroutine's KeyError was lost")

    # Killing the green thread cancels the coroutine.
    cancelled = eventlet.event.Event()

    async def long():
        try:
            await asyncio.sleep(BOUND)
        except asyncio.CancelledError:
            cancelled.send(True)
            raise

    gt = eventlet.asyncio.spawn_for_awaitable(long())
    eventlet.sleep(0.01)
    gt.kill()
    check(bounded_wait(cancelled), "the coroutine was not cancelled")
    return {"clients": n}


if __name__ == "__main__":
    sys.exit(run_scenarios(globals(), sys.argv[1:], eventlet=eventlet.__file__))
