"""gevent (Debian's python3-gevent or PyPI's, built against greenlet.h) on our greenlet.

These tests run in the test process itself, without monkey-patching (see
test_gevent_monkey for that); every one first checks that the greenlet
module in use is ours.
"""
import contextlib
import contextvars
import io
import json
import os
import sys
import threading
import traceback
import unittest

import greenlet

from integ_support import (LIGHT, assert_our_greenlet, assert_stack_size, ensure_fd_limit,
                           has_module, is_our_version, is_ours, recv_exact)

if has_module("gevent"):
    import gevent
    import gevent.event
    import gevent.local
    import gevent.lock
    import gevent.pool
    import gevent.pywsgi
    import gevent.queue
    import gevent.server
    import gevent.socket
    SKIP = None
else:
    SKIP = ("gevent is not importable by %s (install python3-gevent, or gevent from PyPI)"
            % sys.executable)

# Bounds on waits: never reached when things work.
BOUND = 60


def recv_all(sock, limit=1 << 20):
    """Reads until EOF (at most LIMIT bytes)."""
    buf = b""
    while len(buf) < limit:
        chunk = sock.recv(65536)
        if not chunk:
            break
        buf += chunk
    return buf


def http_request(port, method, target, body=b"", timeout=BOUND):
    """A minimal HTTP/1.1 client on gevent sockets (Connection: close).

    Returns (status, headers dict with lower-case names, body)."""
    s = gevent.socket.create_connection(("127.0.0.1", port), timeout=timeout)
    try:
        head = ("%s %s HTTP/1.1\r\nHost: 127.0.0.1:%d\r\nConnection: close\r\n"
                "Content-Length: %d\r\n\r\n" % (method, target, port, len(body)))
        s.sendall(head.encode("ascii") + body)
        raw = recv_all(s)
    finally:
        s.close()
    head, _, rest = raw.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    headers = {}
    for line in lines[1:]:
        k, _, v = line.partition(":")
        headers[k.strip().lower()] = v.strip()
    if headers.get("transfer-encoding") == "chunked":
        rest = dechunk(rest)
    return status, headers, rest


def dechunk(data):
    out = b""
    while data:
        size_line, _, data = data.partition(b"\r\n")
        size = int(size_line.split(b";")[0], 16)
        if size == 0:
            break
        out += data[:size]
        data = data[size + 2:]
    return out


@contextlib.contextmanager
def hub_errors():
    """Collects what the hub prints about failed greenlets, instead of stderr."""
    hub = gevent.get_hub()
    own = "exception_stream" in hub.__dict__
    old = hub.__dict__.get("exception_stream")
    stream = io.StringIO()
    hub.exception_stream = stream
    try:
        yield stream
    finally:
        if own:
            hub.exception_stream = old
        else:
            del hub.exception_stream


@unittest.skipIf(SKIP, SKIP)
class GeventTest(unittest.TestCase):
    def setUp(self):
        assert_our_greenlet(self)


class TestWhichGreenlet(GeventTest):
    def test_gevent_uses_our_greenlet_type(self):
        # gevent's compiled Greenlet subclasses the greenlet type it got
        # through the greenlet C API: it must be ours.
        self.assertTrue(is_ours(sys.modules["greenlet._greenlet"].__file__))
        self.assertTrue(issubclass(gevent.Greenlet, greenlet.greenlet))
        self.assertIs(gevent.GreenletExit, greenlet.GreenletExit)
        hub = gevent.get_hub()
        self.assertIsInstance(hub, greenlet.greenlet)
        g = gevent.spawn(greenlet.getcurrent)
        self.assertIs(g.get(timeout=BOUND), g)
        self.assertIs(g.parent, hub)


class TestStreamServer(GeventTest):
    def test_echo_with_many_concurrent_clients(self):
        n = 300 if LIGHT else 1000
        rounds = 3
        ensure_fd_limit(self, 2 * n + 256)  # both ends of every connection
        stats = {"open": 0, "peak": 0, "handled": 0, "connected": 0}
        everyone_in = gevent.event.Event()

        def handle(sock, addr):
            stats["open"] += 1
            stats["peak"] = max(stats["peak"], stats["open"])
            try:
                for _ in range(10 * rounds):  # bounded: a client sends `rounds` lines
                    data = sock.recv(4096)
                    if not data:
                        break
                    sock.sendall(data)
            finally:
                stats["open"] -= 1
                stats["handled"] += 1

        server = gevent.server.StreamServer(("127.0.0.1", 0), handle, backlog=n + 64)
        server.start()
        try:
            port = server.server_port

            def client(i):
                s = gevent.socket.create_connection(("127.0.0.1", port), timeout=BOUND)
                try:
                    got = []
                    for k in range(rounds):
                        msg = b"client %d line %d\n" % (i, k)
                        s.sendall(msg)
                        got.append(recv_exact(s, len(msg)))
                        if k == 0:
                            # Hold the connection until every client is
                            # connected, so all n are open at once.
                            stats["connected"] += 1
                            if stats["connected"] == n:
                                everyone_in.set()
                            if not everyone_in.wait(timeout=BOUND):
                                raise AssertionError("not all clients connected")
                    return got
                finally:
                    s.close()

            jobs = [gevent.spawn(client, i) for i in range(n)]
            done = gevent.joinall(jobs, timeout=2 * BOUND)
            self.assertEqual(len(done), n)
            for i, g in enumerate(jobs):
                self.assertTrue(g.successful(), "client %d: %r" % (i, g.exception))
                self.assertEqual(g.value, [b"client %d line %d\n" % (i, k) for k in range(rounds)])
            self.assertEqual(stats["peak"], n)
            # Handlers end when their client closes.
            with gevent.Timeout(BOUND):
                while stats["handled"] < n:
                    gevent.sleep(0.01)
            self.assertEqual(stats["open"], 0)
        finally:
            server.stop(timeout=5)
        self.assertTrue(server.closed)


class TestPyWSGI(GeventTest):
    def test_wsgi_app_with_concurrent_clients(self):
        n = 50
        state = {"inflight": 0, "peak": 0, "calls": 0}
        all_in = gevent.event.Event()

        def app(environ, start_response):
            state["calls"] += 1
            state["inflight"] += 1
            state["peak"] = max(state["peak"], state["inflight"])
            try:
                if environ["PATH_INFO"] == "/wait":
                    # Every request waits here until n are in the app at
                    # once: only a server that serves them concurrently
                    # gets there.
                    if state["inflight"] == n:
                        all_in.set()
                    if not all_in.wait(timeout=BOUND):
                        start_response("503 Not Concurrent", [("Content-Type", "text/plain")])
                        return [b"not concurrent"]
                body = environ["wsgi.input"].read()
                doc = {
                    "method": environ["REQUEST_METHOD"],
                    "path": environ["PATH_INFO"],
                    "query": environ.get("QUERY_STRING", ""),
                    "body": body.decode("utf-8"),
                    "greenlet": greenlet.__file__,
                    "greenlet_version": greenlet.__version__,
                    "stack_size": greenlet.getcurrent().gr_stack_size,
                    "in_greenlet": greenlet.getcurrent().parent is not None,
                }
                out = json.dumps(doc).encode("utf-8")
                start_response("200 OK", [("Content-Type", "application/json"),
                                          ("Content-Length", str(len(out)))])
                return [out]
            finally:
                state["inflight"] -= 1

        server = gevent.pywsgi.WSGIServer(("127.0.0.1", 0), app, log=None, error_log=None)
        server.start()
        try:
            port = server.server_port

            def client(i):
                if i % 2:
                    return http_request(port, "POST", "/wait?i=%d" % i, b"body of %d" % i)
                return http_request(port, "GET", "/wait?i=%d" % i)

            jobs = [gevent.spawn(client, i) for i in range(n)]
            done = gevent.joinall(jobs, timeout=2 * BOUND)
            self.assertEqual(len(done), n)
            for i, g in enumerate(jobs):
                self.assertTrue(g.successful(), "client %d: %r" % (i, g.exception))
                status, headers, body = g.value
                self.assertEqual(status, 200, body)
                self.assertEqual(headers["content-type"], "application/json")
                doc = json.loads(body)
                self.assertEqual(doc["method"], "POST" if i % 2 else "GET")
                self.assertEqual(doc["path"], "/wait")
                self.assertEqual(doc["query"], "i=%d" % i)
                self.assertEqual(doc["body"], "body of %d" % i if i % 2 else "")
                self.assertTrue(doc["in_greenlet"])
                self.assertTrue(is_ours(doc["greenlet"]))
                self.assertTrue(is_our_version(doc["greenlet_version"]))
                assert_stack_size(self, doc["stack_size"], "a gevent server's handler greenlet")
            self.assertEqual(state["peak"], n)
            self.assertEqual(state["calls"], n)

            # A second batch with an unknown path, sequential: keep-alive
            # off, server still healthy.
            for i in range(5):
                status, _, body = http_request(port, "GET", "/other/%d" % i)
                self.assertEqual(status, 200)
                self.assertEqual(json.loads(body)["path"], "/other/%d" % i)
        finally:
            server.stop(timeout=5)


class TestTimeout(GeventTest):
    def test_timeout_interrupts_sleep(self):
        t = gevent.Timeout(0.05)
        reached = []
        with self.assertRaises(gevent.Timeout) as cm:
            with t:
                gevent.sleep(BOUND)
                reached.append(True)
        self.assertIs(cm.exception, t)
        self.assertEqual(reached, [])
        self.assertFalse(t.pending)

    def test_timeout_false_is_silent(self):
        reached = []
        with gevent.Timeout(0.05, False):
            gevent.sleep(BOUND)
            reached.append(True)
        self.assertEqual(reached, [])

    def test_timeout_custom_exception_and_cancel(self):
        class Late(Exception):
            pass
        with self.assertRaises(Late):
            with gevent.Timeout(0.05, Late):
                gevent.sleep(BOUND)
        # A timeout that is left in time does not fire later.
        with gevent.Timeout(0.05) as t:
            gevent.sleep(0)
        self.assertFalse(t.pending)
        gevent.sleep(0.1)

    def test_with_timeout_and_timeout_in_other_greenlet(self):
        self.assertEqual(gevent.with_timeout(0.05, gevent.sleep, BOUND, timeout_value="late"), "late")
        q = gevent.queue.Queue()

        def blocked():
            with gevent.Timeout(0.05):
                return q.get()
        with hub_errors() as printed:
            g = gevent.spawn(blocked)
            g.join(timeout=BOUND)
        self.assertIn("Timeout", printed.getvalue())
        self.assertTrue(g.dead)
        self.assertIsInstance(g.exception, gevent.Timeout)


class TestPool(GeventTest):
    def test_pool_bounds_concurrency(self):
        size = 5
        pool = gevent.pool.Pool(size)
        state = {"active": 0, "peak": 0}
        full = gevent.event.Event()

        def work(i):
            state["active"] += 1
            state["peak"] = max(state["peak"], state["active"])
            if state["active"] == size:
                full.set()
            full.wait(timeout=BOUND)
            gevent.sleep(0)
            state["active"] -= 1
            return i * i

        self.assertEqual(pool.map(work, range(40)), [i * i for i in range(40)])
        self.assertEqual(state["peak"], size)
        self.assertEqual(sorted(pool.imap_unordered(work, range(20))), sorted(i * i for i in range(20)))
        self.assertEqual(state["peak"], size)
        self.assertEqual(len(pool), 0)

    def test_pool_full_blocks_spawn_and_kill(self):
        pool = gevent.pool.Pool(2)
        ev = gevent.event.Event()
        a = pool.spawn(ev.wait)
        b = pool.spawn(ev.wait)
        self.assertTrue(pool.full())
        self.assertEqual(pool.free_count(), 0)
        # A third spawn blocks until a slot frees up.
        spawned = []
        waiter = gevent.spawn(lambda: spawned.append(pool.spawn(lambda: 3)))
        gevent.sleep(0.01)
        self.assertEqual(spawned, [])
        ev.set()
        waiter.join(timeout=BOUND)
        self.assertEqual(len(spawned), 1)
        self.assertEqual(spawned[0].get(timeout=BOUND), 3)
        pool.join(timeout=BOUND)
        self.assertTrue(a.dead and b.dead)
        # kill() ends everything still running.
        ev2 = gevent.event.Event()
        gs = [pool.spawn(ev2.wait) for _ in range(2)]
        pool.kill(timeout=BOUND)
        self.assertEqual(len(pool), 0)
        for g in gs:
            self.assertIsInstance(g.value, gevent.GreenletExit)


class TestLocks(GeventTest):
    def test_semaphore_limits_holders(self):
        limit = 3
        sem = gevent.lock.Semaphore(limit)
        state = {"holders": 0, "peak": 0}
        full = gevent.event.Event()

        def user(i):
            with sem:
                state["holders"] += 1
                state["peak"] = max(state["peak"], state["holders"])
                if state["holders"] == limit:
                    full.set()
                full.wait(timeout=BOUND)
                gevent.sleep(0)
                state["holders"] -= 1
            return i

        jobs = [gevent.spawn(user, i) for i in range(12)]
        gevent.joinall(jobs, timeout=BOUND, raise_error=True)
        self.assertEqual([g.value for g in jobs], list(range(12)))
        self.assertEqual(state["peak"], limit)
        self.assertEqual(sem.counter, limit)
        # Exhausted: non-blocking acquire fails; timed acquire times out.
        for _ in range(limit):
            self.assertTrue(sem.acquire(blocking=False))
        self.assertFalse(sem.acquire(blocking=False))
        self.assertFalse(sem.acquire(timeout=0.01))
        for _ in range(limit):
            sem.release()
        bounded = gevent.lock.BoundedSemaphore(1)
        with self.assertRaises(ValueError):
            bounded.release()

    def test_rlock_reentrant_and_exclusive(self):
        lock = gevent.lock.RLock()
        log = []

        def a():
            with lock:
                log.append("a1")
                with lock:
                    log.append("a2")
                    gevent.sleep(0.01)  # b runs now and must block
                    log.append("a2-out")
                log.append("a1-out")

        def b():
            log.append("b-try")
            with lock:
                log.append("b-in")

        ga = gevent.spawn(a)
        gb = gevent.spawn(b)
        gevent.joinall([ga, gb], timeout=BOUND, raise_error=True)
        self.assertEqual(log, ["a1", "a2", "b-try", "a2-out", "a1-out", "b-in"])
        # A greenlet that does not own it cannot release it.
        lock.acquire()
        with hub_errors():
            g = gevent.spawn(lock.release)
            g.join(timeout=BOUND)
        self.assertIsInstance(g.exception, RuntimeError)
        lock.release()


class TestEvents(GeventTest):
    def test_event_wakes_all_waiters(self):
        ev = gevent.event.Event()
        self.assertFalse(ev.wait(timeout=0.01))
        jobs = [gevent.spawn(ev.wait, BOUND) for _ in range(20)]
        gevent.sleep(0)
        self.assertFalse(any(g.dead for g in jobs))
        ev.set()
        gevent.joinall(jobs, timeout=BOUND)
        self.assertEqual([g.value for g in jobs], [True] * 20)
        ev.clear()
        self.assertFalse(ev.is_set())

    def test_async_result_value_and_exception(self):
        ar = gevent.event.AsyncResult()
        getter = gevent.spawn(ar.get, timeout=BOUND)
        gevent.sleep(0)
        self.assertFalse(getter.dead)
        gevent.spawn(ar.set, 42)
        self.assertEqual(getter.get(timeout=BOUND), 42)
        self.assertTrue(ar.successful())

        ar2 = gevent.event.AsyncResult()
        getter2 = gevent.spawn(ar2.get, timeout=BOUND)
        gevent.sleep(0)
        with hub_errors():
            ar2.set_exception(KeyError("missing"))
            getter2.join(timeout=BOUND)
        self.assertIsInstance(getter2.exception, KeyError)
        self.assertIsInstance(ar2.exception, KeyError)

        with self.assertRaises(gevent.Timeout):
            gevent.event.AsyncResult().get(timeout=0.01)


class TestQueues(GeventTest):
    def test_bounded_queue_producer_consumer(self):
        q = gevent.queue.Queue(maxsize=3)
        seen_full = []
        got = []

        def producer():
            for i in range(200):
                if q.full():
                    seen_full.append(i)
                q.put(i)
            q.put(StopIteration)

        def consumer():
            for item in q:  # ends at StopIteration
                got.append(item)

        gevent.joinall([gevent.spawn(producer), gevent.spawn(consumer)],
                       timeout=BOUND, raise_error=True)
        self.assertEqual(got, list(range(200)))
        self.assertTrue(seen_full)
        self.assertTrue(q.empty())
        with self.assertRaises(gevent.queue.Empty):
            q.get_nowait()
        with self.assertRaises(gevent.queue.Empty):
            q.get(timeout=0.01)

    def test_joinable_priority_lifo(self):
        jq = gevent.queue.JoinableQueue()
        done = []

        def worker():
            while True:
                item = jq.get()
                gevent.sleep(0)
                done.append(item)
                jq.task_done()

        workers = [gevent.spawn(worker) for _ in range(4)]
        for i in range(30):
            jq.put(i)
        self.assertTrue(jq.join(timeout=BOUND))
        self.assertEqual(sorted(done), list(range(30)))
        gevent.killall(workers, timeout=BOUND)

        pq = gevent.queue.PriorityQueue()
        for v in (5, 1, 4, 2, 3):
            pq.put(v)
        self.assertEqual([pq.get() for _ in range(5)], [1, 2, 3, 4, 5])
        lq = gevent.queue.LifoQueue()
        for v in range(4):
            lq.put(v)
        self.assertEqual([lq.get() for _ in range(4)], [3, 2, 1, 0])


class TestLocal(GeventTest):
    def test_local_is_per_greenlet(self):
        class Mine(gevent.local.local):
            inits = 0

            def __init__(self):
                Mine.inits += 1
                self.tag = "fresh"

        loc = gevent.local.local()
        mine = Mine()
        loc.value = "main"

        def worker(i):
            self_tag = mine.tag
            self.assertFalse(hasattr(loc, "value"))
            loc.value = i
            mine.tag = "g%d" % i
            gevent.sleep(0.001 * (i % 3))
            return self_tag, loc.value, mine.tag

        jobs = [gevent.spawn(worker, i) for i in range(20)]
        gevent.joinall(jobs, timeout=BOUND, raise_error=True)
        self.assertEqual([g.value for g in jobs], [("fresh", i, "g%d" % i) for i in range(20)])
        self.assertEqual(loc.value, "main")
        self.assertEqual(mine.tag, "fresh")
        self.assertEqual(Mine.inits, 21)

    def test_contextvars_are_per_greenlet(self):
        var = contextvars.ContextVar("var", default="unset")
        var.set("main")

        def worker(i):
            before = var.get()
            var.set(i)
            gevent.sleep(0)
            return before, var.get()

        jobs = [gevent.spawn(worker, i) for i in range(10)]
        gevent.joinall(jobs, timeout=BOUND, raise_error=True)
        for i, g in enumerate(jobs):
            self.assertEqual(g.value[1], i)
            self.assertIn(g.value[0], ("unset", "main"))
        self.assertEqual(var.get(), "main")


class TestKill(GeventTest):
    def test_kill_raises_greenlet_exit_and_runs_finally(self):
        log = []

        def loop():
            try:
                for i in range(10000):
                    log.append(i)
                    gevent.sleep(0.01)
            finally:
                log.append("finally")

        g = gevent.spawn(loop)
        gevent.sleep(0.05)
        self.assertFalse(g.dead)
        g.kill(timeout=BOUND)
        self.assertTrue(g.dead)
        self.assertIsInstance(g.value, gevent.GreenletExit)
        self.assertIsInstance(g.value, greenlet.GreenletExit)
        self.assertTrue(g.successful())
        self.assertEqual(log[-1], "finally")
        self.assertLess(len(log), 10000)

    def test_kill_with_exception_and_caught_exit(self):
        class Stop(Exception):
            pass

        g = gevent.spawn(gevent.sleep, BOUND)
        gevent.sleep(0)
        with hub_errors():
            g.kill(Stop("now"), timeout=BOUND)
        self.assertIsInstance(g.exception, Stop)
        self.assertFalse(g.successful())

        def catcher():
            try:
                gevent.sleep(BOUND)
            except gevent.GreenletExit:
                return "cleaned up"
        c = gevent.spawn(catcher)
        gevent.sleep(0)
        c.kill(timeout=BOUND)
        self.assertEqual(c.value, "cleaned up")

    def test_kill_before_start_and_killall(self):
        ran = []
        g = gevent.spawn(ran.append, 1)
        g.kill()
        self.assertTrue(g.dead)
        gevent.sleep(0.01)
        self.assertEqual(ran, [])

        ev = gevent.event.Event()
        jobs = [gevent.spawn(ev.wait) for _ in range(50)]
        gevent.sleep(0)
        gevent.killall(jobs, timeout=BOUND)
        self.assertTrue(all(j.dead for j in jobs))
        self.assertTrue(all(isinstance(j.value, gevent.GreenletExit) for j in jobs))

    def test_raw_greenlet_throw_in_gevent(self):
        # The greenlet API itself, used from inside a gevent greenlet.
        def inner():
            try:
                greenlet.getcurrent().parent.switch("ready")
            except greenlet.GreenletExit:
                return "exited"

        def outer():
            raw = greenlet.greenlet(inner)
            first = raw.switch()
            gevent.sleep(0)
            res = raw.throw(greenlet.GreenletExit)
            return first, res, raw.dead

        self.assertEqual(gevent.spawn(outer).get(timeout=BOUND), ("ready", "exited", True))


class TestJoinAll(GeventTest):
    def test_joinall_results_errors_and_timeout(self):
        jobs = [gevent.spawn(lambda i=i: (gevent.sleep(0.001 * (i % 5)), i)[1]) for i in range(50)]
        done = gevent.joinall(jobs, timeout=BOUND)
        self.assertEqual(len(done), 50)
        self.assertEqual([g.value for g in jobs], list(range(50)))

        def bad():
            gevent.sleep(0.001)
            raise ValueError("bad one")
        with hub_errors() as printed:
            with self.assertRaises(ValueError):
                gevent.joinall([gevent.spawn(gevent.sleep, 0.01), gevent.spawn(bad)],
                               timeout=BOUND, raise_error=True)
        self.assertIn("ValueError: bad one", printed.getvalue())

        ev = gevent.event.Event()
        quick = gevent.spawn(lambda: 1)
        stuck = gevent.spawn(ev.wait)
        done = gevent.joinall([quick, stuck], timeout=0.05)
        self.assertEqual(done, [quick])
        stuck.kill(timeout=BOUND)


def level3(n):
    raise ValueError("boom %d" % n)


def level2(n):
    gevent.sleep(0)
    level3(n)


def level1(n):
    gevent.sleep(0.001)
    level2(n)


class TestExceptions(GeventTest):
    def test_traceback_names_the_frames(self):
        with hub_errors():
            g = gevent.spawn(level1, 7)
            # (not assertRaises: it drops the traceback)
            try:
                g.get(timeout=BOUND)
            except ValueError as e:
                caught = e
            else:
                self.fail("no exception from get()")
        self.assertEqual(str(caught), "boom 7")
        self.assertIs(g.exception, caught)
        frames = traceback.extract_tb(caught.__traceback__)
        names = [f.name for f in frames]
        # The greenlet's own frames, innermost last, in order.
        self.assertEqual(names[-3:], ["level1", "level2", "level3"])
        # ... below gevent's run() and above the get() that re-raised it.
        self.assertEqual(names[0], "test_traceback_names_the_frames")
        self.assertTrue(any(n.endswith("Greenlet.run") for n in names[:-3]), names)
        last = frames[-1]
        self.assertEqual(last.line, 'raise ValueError("boom %d" % n)')
        self.assertEqual(os.path.basename(last.filename), "test_gevent.py")
        # exc_info keeps the same traceback.
        tb_names = [f.name for f in traceback.extract_tb(g.exc_info[2])]
        self.assertEqual(tb_names[-3:], ["level1", "level2", "level3"])

    def test_exception_state_is_per_greenlet(self):
        def handler(exc_type, peer_ready, mine_ready):
            try:
                raise exc_type("x")
            except exc_type:
                mine_ready.set()
                peer_ready.wait(timeout=BOUND)
                gevent.sleep(0.001)
                # Still our own exception, after the peer switched in with its own.
                seen = sys.exc_info()[0]
                try:
                    raise RuntimeError("during")
                except RuntimeError as e:
                    ctx = type(e.__context__)
            return seen, ctx

        e1, e2 = gevent.event.Event(), gevent.event.Event()
        a = gevent.spawn(handler, KeyError, e2, e1)
        b = gevent.spawn(handler, IndexError, e1, e2)
        gevent.joinall([a, b], timeout=BOUND, raise_error=True)
        self.assertEqual(a.value, (KeyError, KeyError))
        self.assertEqual(b.value, (IndexError, IndexError))
        self.assertEqual(sys.exc_info(), (None, None, None))


class TestHubSurvives(GeventTest):
    def test_hub_survives_raising_greenlets_and_callbacks(self):
        hub = gevent.get_hub()
        linked = []
        with hub_errors() as stream:
            def kaput(i):
                gevent.sleep(0)
                raise RuntimeError("kaput %d" % i)
            bad = [gevent.spawn(kaput, i) for i in range(5)]
            for g in bad:
                g.link_exception(lambda g: linked.append(type(g.exception)))
            gevent.joinall(bad, timeout=BOUND)
            # A callback that raises, run by the loop itself.
            hub.loop.run_callback(level3, 99)
            gevent.sleep(0.01)
        text = stream.getvalue()
        for i in range(5):
            self.assertIn("RuntimeError: kaput %d" % i, text)
        self.assertIn("in kaput", text)
        self.assertIn("ValueError: boom 99", text)
        self.assertIn("in level3", text)
        self.assertEqual(linked, [RuntimeError] * 5)
        self.assertTrue(all(isinstance(g.exception, RuntimeError) for g in bad))
        # Same hub, still running everything.
        self.assertIs(gevent.get_hub(), hub)
        self.assertFalse(hub.dead)
        jobs = [gevent.spawn(lambda i=i: (gevent.sleep(0.001), i * 2)[1]) for i in range(100)]
        gevent.joinall(jobs, timeout=BOUND)
        self.assertEqual([g.value for g in jobs], [i * 2 for i in range(100)])
        with self.assertRaises(gevent.Timeout):
            with gevent.Timeout(0.01):
                gevent.sleep(BOUND)


def parked_here(ev):
    ev.wait(timeout=BOUND)


class TestIntrospection(GeventTest):
    def test_run_info_shows_suspended_greenlet_frames(self):
        # gevent.util walks all greenlets and their gr_frame.
        import gevent.util
        ev = gevent.event.Event()
        jobs = [gevent.spawn(parked_here, ev) for _ in range(3)]
        gevent.sleep(0)
        for g in jobs:
            frame = g.gr_frame
            names = []
            while frame is not None:
                names.append(frame.f_code.co_name)
                frame = frame.f_back
            self.assertIn("parked_here", names)
        text = "\n".join(gevent.util.format_run_info())
        self.assertGreaterEqual(text.count("parked_here"), 3, text[:4000])
        self.assertIn("Hub", text)
        ev.set()
        gevent.joinall(jobs, timeout=BOUND)
        self.assertTrue(all(g.dead and g.gr_frame is None for g in jobs))

    def test_greenlet_tracer_counts_switches(self):
        # gevent's blocking monitor rests on greenlet.settrace.
        from gevent._tracer import GreenletTracer, MaxSwitchTracer
        before = greenlet.gettrace()
        tracer = GreenletTracer()
        try:
            self.assertIs(greenlet.gettrace(), tracer)
            jobs = [gevent.spawn(gevent.sleep, 0) for _ in range(10)]
            gevent.joinall(jobs, timeout=BOUND)
            self.assertGreaterEqual(tracer.greenlet_switch_counter, 20)
            self.assertTrue(tracer.did_block_hub(gevent.get_hub()) is False)
        finally:
            tracer.kill()
        self.assertIs(greenlet.gettrace(), before)
        hub = gevent.get_hub()
        mst = MaxSwitchTracer(hub, 0.0)
        try:
            gevent.sleep(0.01)
        finally:
            mst.kill()
        self.assertIs(greenlet.gettrace(), before)


class TestThreads(GeventTest):
    def test_hub_per_thread_and_threadpool(self):
        results = {}
        main_hub = gevent.get_hub()

        def in_thread(k):
            hub = gevent.get_hub()
            jobs = [gevent.spawn(lambda i=i: (gevent.sleep(0.001), k * 100 + i)[1]) for i in range(50)]
            gevent.joinall(jobs, timeout=BOUND)
            own_hub = hub is not main_hub and hub.thread_ident == threading.get_ident()
            results[k] = ([g.value for g in jobs], own_hub, greenlet.getcurrent().parent is None)
            hub.destroy(destroy_loop=True)

        threads = [threading.Thread(target=in_thread, args=(k,)) for k in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(BOUND)
            self.assertFalse(t.is_alive())
        self.assertEqual(sorted(results), [0, 1, 2, 3])
        for k, (vals, own_hub, is_main) in results.items():
            self.assertEqual(vals, [k * 100 + i for i in range(50)])
            self.assertTrue(own_hub)
            self.assertTrue(is_main)
        self.assertIs(gevent.get_hub(), main_hub)

        pool = gevent.get_hub().threadpool
        idents = pool.map(lambda x: (x * 3, threading.get_ident()), range(10))
        self.assertEqual([v for v, _ in idents], [x * 3 for x in range(10)])
        self.assertNotIn(threading.get_ident(), {i for _, i in idents})


if __name__ == "__main__":
    unittest.main()
