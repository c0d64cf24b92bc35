"""Child of test_gevent_monkey: gevent.monkey.patch_all(), then scenarios.

    python3 gevent_monkey_child.py SCENARIO...

Prints one JSON line per scenario ("ok": true when it held, else the
traceback) and exits 0 only if all held.  Every wait is bounded.  The ssl
scenario takes its certificate and key from CG_INTEG_CERT and CG_INTEG_KEY.
"""
from gevent import monkey

monkey.patch_all()

import os  # noqa: E402  (after patching, as gevent asks)
import queue  # noqa: E402
import select  # noqa: E402
import socket  # noqa: E402
import ssl  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import threading  # noqa: E402
import time  # noqa: E402

import gevent  # noqa: E402
import gevent.socket  # noqa: E402
import greenlet  # noqa: E402

from integ_support import check, recv_exact, run_scenarios  # noqa: E402

BOUND = 60


def scenario_threading():
    check(monkey.is_module_patched("threading"), "threading not patched")
    main_greenlet = greenlet.getcurrent()
    real_ident = monkey.get_original("threading", "get_ident")
    main_ident = real_ident()
    n = 50
    lock = threading.Lock()
    started = threading.Event()
    count = {"in": 0}
    seen = []
    tls = threading.local()

    def body(i):
        with lock:
            count["in"] += 1
            if count["in"] == n:
                started.set()
        # Every "thread" is a greenlet in this one OS thread.
        tls.i = i
        ok_wait = started.wait(BOUND)
        time.sleep(0.001 * (i % 3))
        seen.append((i, ok_wait, tls.i, real_ident(),
                     isinstance(greenlet.getcurrent(), gevent.Greenlet)))

    threads = [threading.Thread(target=body, args=(i,), name="t%d" % i) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(BOUND)
        check(not t.is_alive(), "thread still alive")
    check(sorted(s[0] for s in seen) == list(range(n)), "not every thread ran")
    check(all(s[1] for s in seen), "event wait timed out")
    check(all(s[0] == s[2] for s in seen), "threading.local shared between threads")
    check(all(s[3] == main_ident for s in seen), "a thread ran in another OS thread")
    check(all(s[4] for s in seen), "a thread did not run in a gevent greenlet")
    check(len({id(t) for t in threads}) == n and threading.get_ident() != real_ident(),
          "get_ident is not per greenlet")
    check(greenlet.getcurrent() is main_greenlet, "main changed")
    # Condition variable round trip between two threads.
    cond = threading.Condition()
    box = []

    def waiter():
        with cond:
            ok = cond.wait_for(lambda: box, timeout=BOUND)
        box.append(("woke", bool(ok)))

    w = threading.Thread(target=waiter)
    w.start()
    time.sleep(0.01)
    with cond:
        box.append("item")
        cond.notify_all()
    w.join(BOUND)
    check(box == ["item", ("woke", True)], "condition: %r" % box)
    check(threading.current_thread() is threading.main_thread(), "main thread")
    return {"threads": n}


def scenario_queue():
    check(monkey.is_module_patched("queue"), "queue not patched")
    q = queue.Queue(maxsize=5)
    got = []
    full_seen = []

    def producer():
        for i in range(500):
            if q.full():
                full_seen.append(i)
            q.put(i, timeout=BOUND)
        q.put(None)

    def consumer():
        for _ in range(1000):  # bound
            item = q.get(timeout=BOUND)
            q.task_done()
            if item is None:
                return
            got.append(item)

    ts = [threading.Thread(target=producer), threading.Thread(target=consumer)]
    for t in ts:
        t.start()
    for t in ts:
        t.join(BOUND)
        check(not t.is_alive(), "queue thread stuck")
    q.join()
    check(got == list(range(500)), "queue order")
    check(full_seen, "producer never saw a full queue")
    try:
        q.get(timeout=0.01)
    except queue.Empty:
        pass
    else:
        raise AssertionError("no Empty")
    sq = queue.SimpleQueue()
    # patch_all replaces the C SimpleQueue by the pure-Python one, which
    # blocks cooperatively.
    check(type(sq) is not monkey.get_original("queue", "SimpleQueue"), "SimpleQueue is %r" % type(sq))
    g = gevent.spawn(sq.get)
    gevent.sleep(0)
    sq.put("x")
    check(g.get(timeout=BOUND) == "x", "SimpleQueue get")
    return {"items": len(got)}


def scenario_subprocess():
    check(monkey.is_module_patched("subprocess"), "subprocess not patched")
    import gevent.subprocess
    check(subprocess.Popen is gevent.subprocess.Popen, "Popen not gevent's")
    out = subprocess.check_output([sys.executable, "-c", "print('hello from child')"], timeout=BOUND)
    check(out == b"hello from child\n", "check_output: %r" % out)
    r = subprocess.run(["sh", "-c", "exit 3"], timeout=BOUND)
    check(r.returncode == 3, "returncode %r" % r.returncode)
    # A greenlet blocked on a child's stdout must not block the others:
    # the line is written by another greenlet after the reader waits.
    p = subprocess.Popen(["cat"], stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    try:
        reader = gevent.spawn(p.stdout.readline)
        gevent.sleep(0.01)
        check(not reader.dead, "reader returned early")

        def writer():
            p.stdin.write(b"ping\n")
            p.stdin.flush()
        gevent.spawn(writer).join(BOUND)
        check(reader.get(timeout=BOUND) == b"ping\n", "readline")
        p.stdin.close()
        check(p.wait(timeout=BOUND) == 0, "cat exit")
    finally:
        if p.poll() is None:
            p.kill()
            p.wait(BOUND)
    # Several children at once, from several greenlets.
    jobs = [gevent.spawn(subprocess.check_output, ["sh", "-c", "echo $0", str(i)], timeout=BOUND)
            for i in range(10)]
    gevent.joinall(jobs, timeout=BOUND, raise_error=True)
    check([j.value for j in jobs] == [b"%d\n" % i for i in range(10)], "parallel children")
    return {}


def scenario_socket():
    check(monkey.is_module_patched("socket"), "socket not patched")
    check(socket.socket is gevent.socket.socket, "socket not gevent's")
    srv = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    srv.bind(("127.0.0.1", 0))
    srv.listen(128)
    port = srv.getsockname()[1]
    n = 100
    served = []

    def handle(conn):
        with conn:
            f = conn.makefile("rwb")
            for _ in range(100):  # bound
                line = f.readline()
                if not line:
                    break
                f.write(line.upper())
                f.flush()
        served.append(1)

    def accept_loop():
        for _ in range(n):
            conn, _ = srv.accept()
            threading.Thread(target=handle, args=(conn,)).start()

    acceptor = threading.Thread(target=accept_loop)
    acceptor.start()
    # getaddrinfo goes through gevent's resolver (a real thread pool).
    infos = socket.getaddrinfo("localhost", port, socket.AF_INET, socket.SOCK_STREAM)
    check(any(i[4][0] == "127.0.0.1" for i in infos), "getaddrinfo: %r" % infos)
    results = {}

    def client(i):
        with socket.create_connection(("127.0.0.1", port), timeout=BOUND) as c:
            for k in range(3):
                msg = b"c%d m%d\n" % (i, k)
                c.sendall(msg)
                results.setdefault(i, []).append(recv_exact(c, len(msg)))

    clients = [threading.Thread(target=client, args=(i,)) for i in range(n)]
    for t in clients:
        t.start()
    for t in clients:
        t.join(BOUND)
        check(not t.is_alive(), "client stuck")
    acceptor.join(BOUND)
    srv.close()
    for i in range(n):
        check(results.get(i) == [b"C%d M%d\n" % (i, k) for k in range(3)], "client %d: %r" % (i, results.get(i)))
    deadline = time.monotonic() + BOUND
    while len(served) < n and time.monotonic() < deadline:
        time.sleep(0.01)
    check(len(served) == n, "served %d" % len(served))
    return {"clients": n}


def scenario_select():
    check(monkey.is_module_patched("select"), "select not patched")
    a, b = socket.socketpair()
    with a, b:
        r, w, x = select.select([a], [], [], 0)
        check(r == [], "readable too early")
        waiter = gevent.spawn(select.select, [a], [], [], BOUND)
        gevent.sleep(0.01)
        check(not waiter.dead, "select returned early")
        gevent.spawn(b.sendall, b"x").join(BOUND)
        r, w, x = waiter.get(timeout=BOUND)
        check(r == [a], "select result %r" % (r,))
        check(a.recv(1) == b"x", "recv")
        if hasattr(select, "poll"):
            p = select.poll()
            p.register(a, select.POLLIN)
            poller = gevent.spawn(p.poll, BOUND * 1000)
            gevent.sleep(0.01)
            check(not poller.dead, "poll returned early")
            b.sendall(b"y")
            events = poller.get(timeout=BOUND)
            check([fd for fd, _ in events] == [a.fileno()], "poll %r" % (events,))
    return {}


def scenario_sleep():
    check(monkey.is_module_patched("time"), "time not patched")
    check(time.sleep is gevent.sleep, "time.sleep not gevent's")
    ran = []
    gevent.spawn(ran.append, "spawned")
    # Only a cooperative sleep lets the spawned greenlet run here.
    time.sleep(0.01)
    check(ran == ["spawned"], "spawned greenlet did not run during time.sleep")
    order = []

    def sleeper(i, d):
        time.sleep(d)
        order.append(i)
    ts = [threading.Thread(target=sleeper, args=(i, 0.01 * (5 - i))) for i in range(5)]
    for t in ts:
        t.start()
    for t in ts:
        t.join(BOUND)
    check(order == [4, 3, 2, 1, 0], "sleep order %r" % order)
    return {}


def scenario_ssl():
    certfile = os.environ["CG_INTEG_CERT"]
    keyfile = os.environ["CG_INTEG_KEY"]
    check(monkey.is_module_patched("ssl"), "ssl not patched")
    check(ssl.SSLSocket.__module__.startswith("gevent"), "SSLSocket is %r" % ssl.SSLSocket)
    sctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    sctx.load_cert_chain(certfile, keyfile)
    cctx = ssl.create_default_context(cafile=certfile)
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(64)
    port = srv.getsockname()[1]
    n = 20

    def handle(conn):
        with sctx.wrap_socket(conn, server_side=True) as tls:
            for _ in range(100):  # bound
                data = tls.recv(4096)
                if not data:
                    break
                tls.sendall(b"tls:" + data)

    def serve():
        for _ in range(n):
            conn, _ = srv.accept()
            threading.Thread(target=handle, args=(conn,)).start()

    acceptor = threading.Thread(target=serve)
    acceptor.start()
    results = {}

    def client(i):
        raw = socket.create_connection(("127.0.0.1", port), timeout=BOUND)
        with cctx.wrap_socket(raw, server_hostname="localhost") as c:
            cert = c.getpeercert()
            cn = dict(x[0] for x in cert["subject"])["commonName"]
            msg = b"hello %d" % i
            c.sendall(msg)
            results[i] = (cn, c.version(), recv_exact(c, len(msg) + 4))

    cs = [threading.Thread(target=client, args=(i,)) for i in range(n)]
    for t in cs:
        t.start()
    for t in cs:
        t.join(BOUND)
        check(not t.is_alive(), "tls client stuck")
    acceptor.join(BOUND)
    srv.close()
    for i in range(n):
        cn, version, data = results[i]
        check(cn == "localhost", "cn %r" % cn)
        check(version.startswith("TLS"), "version %r" % version)
        check(data == b"tls:hello %d" % i, "data %r" % data)
    # A client that does not trust the certificate is refused.
    srv2 = socket.socket()
    srv2.bind(("127.0.0.1", 0))
    srv2.listen(1)

    def one():
        conn, _ = srv2.accept()
        try:
            sctx.wrap_socket(conn, server_side=True).close()
        except (ssl.SSLError, OSError):
            conn.close()
    t = threading.Thread(target=one)
    t.start()
    refused = False
    try:
        raw = socket.create_connection(srv2.getsockname(), timeout=BOUND)
        ssl.create_default_context().wrap_socket(raw, server_hostname="localhost").close()
    except ssl.SSLCertVerificationError:
        refused = True
    t.join(BOUND)
    srv2.close()
    check(refused, "untrusted certificate accepted")
    return {"clients": n}


def scenario_monitor():
    # gevent's monitor thread (a real thread) notices a blocked hub through
    # the greenlet trace function it installs with greenlet.settrace.
    import io
    gevent.config.max_blocking_time = 0.1
    gevent.config.monitor_thread = True
    hub = gevent.get_hub()
    stream = io.StringIO()
    hub.exception_stream = stream
    try:
        monitor = hub.start_periodic_monitoring_thread()
        check(monitor is not None, "no monitor thread")
        check(greenlet.gettrace() is not None, "monitor installed no greenlet trace function")
        really_sleep = monkey.get_original("time", "sleep")

        def blocker_here():
            really_sleep(1.5)  # blocks the whole hub

        gevent.spawn(blocker_here).join(BOUND)
        deadline = time.monotonic() + BOUND
        while "appears to be blocked" not in stream.getvalue() and time.monotonic() < deadline:
            gevent.sleep(0.05)
        text = stream.getvalue()
        check("appears to be blocked" in text, "no report of the blocked hub: %r" % text[:2000])
        check("blocker_here" in text, "report lacks the blocking frame: %r" % text[:4000])
        monitor.kill()
    finally:
        del hub.exception_stream
    return {}


if __name__ == "__main__":
    sys.exit(run_scenarios(globals(), sys.argv[1:]))
