"""gevent on top of our greenlet (H21): Debian's python3-gevent 22.10 is
compiled against greenlet.h, so its Cython Greenlet and hub types are
binary subclasses of our greenlet type (S126, S128, S141).

Only where `import gevent` can work, i.e. gevent is installed for the
running interpreter (Debian's /usr/bin/python3 with python3-gevent);
elsewhere the tests are skipped.  Each program runs in a fresh interpreter
with our greenlet first on the path, bounded by a timeout, on loopback only.
"""
import importlib.machinery
import importlib.util
import os
import sys
import textwrap
import unittest

import greenlet
from support import GreenletTest, PYTHON_DIR, run_python


def _have_gevent():
    # Compiled for this interpreter, not merely on its path: the aarch64
    # interpreter under qemu (make check-python-aarch64) shares
    # /usr/lib/python3/dist-packages, where python3-gevent is x86-64 only.
    spec = importlib.util.find_spec("gevent")
    return spec is not None and any(
        os.path.exists(os.path.join(d, "_gevent_cgreenlet" + suffix))
        for d in spec.submodule_search_locations
        for suffix in importlib.machinery.EXTENSION_SUFFIXES)


HAVE_GEVENT = _have_gevent()
NO_GEVENT = ("gevent is not installed (compiled) for %s (Debian's /usr/bin/python3 "
             "with python3-gevent has it, compiled against greenlet.h)" % sys.executable)

# Every program starts by checking that it runs on our greenlet and on
# gevent's compiled (Cython) greenlet classes.
PRELUDE = """
import sys
import greenlet
assert greenlet.__file__.startswith(%r), greenlet.__file__
import gevent
assert gevent.Greenlet.__module__ == "gevent._gevent_cgreenlet", gevent.Greenlet.__module__
""" % PYTHON_DIR


@unittest.skipUnless(HAVE_GEVENT, NO_GEVENT)
class GeventTest(GreenletTest):
    def run_gevent(self, program, timeout=60):
        """Runs PRELUDE + program; returns its stdout lines."""
        rc, out, err = run_python(PRELUDE + textwrap.dedent(program), timeout=timeout)
        self.assertEqual(rc, 0, "exit status %d\nstdout:\n%s\nstderr:\n%s" % (rc, out, err))
        self.assertNotIn("size changed", err)
        return out.splitlines(), err

    def test_ours_and_compiled(self):  # H21 S126 S127 S141
        self.assertTrue(greenlet.__file__.startswith(PYTHON_DIR))
        out, _ = self.run_gevent("""
            import gevent._gevent_cgreenlet as cg
            import gevent.hub
            print(cg.__file__.endswith(".so"))
            print(gevent.Greenlet.__mro__[1] is greenlet.greenlet)
            print(gevent.Greenlet.__basicsize__ > greenlet.greenlet.__basicsize__)
            hub = gevent.get_hub()
            print(isinstance(hub, greenlet.greenlet), hub.parent is greenlet.getcurrent())
            print(gevent.getcurrent() is greenlet.getcurrent())
            print(gevent.GreenletExit is greenlet.GreenletExit)
        """)
        self.assertEqual(out, ["True", "True", "True", "True True", "True", "True"])

    def test_spawn_sleep_joinall(self):  # H21
        out, _ = self.run_gevent("""
            order = []

            def worker(n, delay):
                gevent.sleep(delay)
                order.append(n)
                return n * n

            gs = [gevent.spawn(worker, n, d)
                  for n, d in [(1, 0.04), (2, 0.01), (3, 0.02), (4, 0)]]
            done = gevent.joinall(gs, timeout=20)
            print(len(done), order, [g.value for g in gs],
                  all(g.successful() and g.dead for g in gs))
            many = [gevent.spawn(lambda i: (gevent.sleep(0), i)[1], i) for i in range(1000)]
            gevent.joinall(many, timeout=20, raise_error=True)
            print(sum(g.value for g in many))
        """)
        self.assertEqual(out, ["4 [4, 2, 3, 1] [1, 4, 9, 16] True", str(sum(range(1000)))])

    def test_queue_and_event(self):  # H21
        out, _ = self.run_gevent("""
            from gevent.event import AsyncResult, Event
            from gevent.queue import Queue

            q = Queue(maxsize=3)
            ev = Event()
            result = AsyncResult()
            got = []

            def producer():
                for i in range(50):
                    q.put(i)        # blocks while the queue is full
                q.put(None)

            def consumer():
                while True:
                    item = q.get()
                    if item is None:
                        break
                    got.append(item)
                ev.set()
                result.set(sum(got))

            def waiter():
                return ev.wait(timeout=20)

            gs = [gevent.spawn(waiter), gevent.spawn(consumer), gevent.spawn(producer)]
            gevent.joinall(gs, timeout=20, raise_error=True)
            print(got == list(range(50)), gs[0].value, result.get(timeout=20))
        """)
        self.assertEqual(out, ["True True %d" % sum(range(50))])

    def test_timeout(self):  # H21
        out, _ = self.run_gevent("""
            import time
            t0 = time.monotonic()
            try:
                with gevent.Timeout(0.05):
                    gevent.sleep(30)
                print("no timeout")
            except gevent.Timeout as t:
                print("timeout", time.monotonic() - t0 < 20)
            print(gevent.with_timeout(0.05, gevent.sleep, 30, timeout_value="tv"))
            try:
                gevent.spawn(gevent.sleep, 30).get(timeout=0.05)
            except gevent.Timeout:
                print("get timeout")
        """)
        self.assertEqual(out, ["timeout True", "tv", "get timeout"])

    def test_kill(self):  # H21 S28 S57
        out, _ = self.run_gevent("""
            log = []

            def loop(name):
                try:
                    while True:
                        gevent.sleep(0.001)
                except greenlet.GreenletExit:
                    log.append(name + " exit")
                    raise
                finally:
                    log.append(name + " finally")

            g = gevent.spawn(loop, "a")
            gevent.sleep(0.01)
            g.kill(timeout=20)
            print(g.dead, g.successful(), isinstance(g.value, greenlet.GreenletExit))

            class Stop(Exception):
                pass
            h = gevent.spawn(loop, "b")
            gevent.sleep(0.01)
            h.kill(Stop, timeout=20)
            print(h.dead, type(h.exception).__name__)

            never = gevent.spawn(loop, "c")
            never.kill()                    # killed before it ever ran
            others = [gevent.spawn(loop, "d%d" % i) for i in range(10)]
            gevent.sleep(0.01)
            gevent.killall(others, timeout=20)
            print(never.dead, all(o.dead for o in others))
            print(sorted(log))
        """)
        self.assertEqual(out[:3], ["True True True", "True Stop", "True True"])
        want = ["a exit", "a finally", "b finally"]
        for i in range(10):
            want += ["d%d exit" % i, "d%d finally" % i]
        self.assertEqual(out[3], str(sorted(want)))

    def test_exception_traceback(self):  # H21 S27
        out, err = self.run_gevent("""
            import traceback

            def inner():
                raise ValueError("deep")

            def outer():
                inner()

            g = gevent.spawn(outer)
            g.join(timeout=20)
            print(g.dead, g.successful(), type(g.exception).__name__, g.exception)
            text = "".join(traceback.format_exception(*g.exc_info))
            print("outer" in text, "inner" in text)
            try:
                g.get()
            except ValueError as e:
                print([f.name for f in traceback.extract_tb(e.__traceback__)][-2:])
        """)
        self.assertEqual(out, ["True False ValueError deep", "True True", "['outer', 'inner']"])
        # The hub reports the failure with its traceback.
        self.assertIn("failed with ValueError", err)
        self.assertIn("in inner\nValueError: deep", err)

    def test_stream_server_echo(self):  # H21
        out, _ = self.run_gevent("""
            from gevent import socket
            from gevent.server import StreamServer

            def handle(sock, addr):
                while True:
                    data = sock.recv(4096)
                    if not data:
                        break
                    sock.sendall(data)
                sock.close()

            server = StreamServer(("127.0.0.1", 0), handle)
            server.start()
            port = server.server_port

            def client(i):
                msg = ("client %d " % i).encode() * 500
                s = socket.create_connection(("127.0.0.1", port), timeout=20)
                try:
                    s.sendall(msg)
                    s.shutdown(socket.SHUT_WR)
                    buf = b""
                    while True:
                        d = s.recv(65536)
                        if not d:
                            break
                        buf += d
                finally:
                    s.close()
                return buf == msg

            with gevent.Timeout(40):
                clients = [gevent.spawn(client, i) for i in range(50)]
                gevent.joinall(clients, raise_error=True)
            server.stop(timeout=5)
            print(sum(1 for c in clients if c.value))
        """)
        self.assertEqual(out, ["50"])


if __name__ == "__main__":
    unittest.main()
