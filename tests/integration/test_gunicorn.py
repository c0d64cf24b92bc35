"""gunicorn with gevent workers (-k gevent -w 2) on our greenlet.

Starts `python3 -m gunicorn` with our build first on PYTHONPATH, waits until
it answers, loads it with concurrent clients, checks every response and
that each worker process has our greenlet (and not the stock one) loaded,
then stops it with SIGTERM and checks a clean exit.
"""
import http.client
import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import threading
import time
import unittest

from integ_support import (HERE, assert_stack_size, run_threads, OUR_PACKAGE, child_env,
                           from_installed_dist, has_module, is_our_version, is_ours)

BOUND = 60
PORT_RE = re.compile(r"Listening at: http://127\.0\.0\.1:(\d+)")
MISSING = [name for name in ("gunicorn", "gevent") if not has_module(name)]


def children_of(pid):
    """Live child processes of PID (from /proc)."""
    kids = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open("/proc/%s/stat" % entry) as f:
                stat = f.read()
        except OSError:
            continue
        fields = stat.rpartition(")")[2].split()
        if int(fields[1]) == pid and fields[0] != "Z":
            kids.append(int(entry))
    return sorted(kids)


def mapped_files(pid):
    with open("/proc/%d/maps" % pid) as f:
        return {line.split(None, 5)[5].strip() for line in f if len(line.split(None, 5)) == 6}


def alive(pid):
    try:
        with open("/proc/%d/stat" % pid) as f:
            return f.read().rpartition(")")[2].split()[0] != "Z"
    except OSError:
        return False


@unittest.skipIf(MISSING, "%s not importable by %s (install the Debian packages gunicorn and "
                 "python3-gevent, or both from PyPI)" % (" and ".join(MISSING), sys.executable))
class TestGunicornGevent(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.TemporaryDirectory(prefix="cg-integ-gunicorn-")
        self.addCleanup(self.tmp.cleanup)
        self.gate = os.path.join(self.tmp.name, "gate")
        os.mkdir(self.gate)
        self.log_path = os.path.join(self.tmp.name, "gunicorn.log")
        env = child_env(ours=True, extra_path=(HERE,))
        env["CG_INTEG_GATE_DIR"] = self.gate
        self.log = open(self.log_path, "w+")
        self.addCleanup(self.log.close)
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "gunicorn", "-k", "gevent", "-w", "2",
             "-b", "127.0.0.1:0", "--graceful-timeout", "10", "--timeout", "120",
             "--keep-alive", "30", "--chdir", HERE, "gunicorn_app:application"],
            env=env, cwd=HERE, stdin=subprocess.DEVNULL, stdout=self.log,
            stderr=subprocess.STDOUT)
        self.addCleanup(self.kill_leftovers)
        self.port = self.wait_until_listening()

    def kill_leftovers(self):
        if self.proc.poll() is None:
            for pid in children_of(self.proc.pid):
                os.kill(pid, signal.SIGKILL)
            self.proc.kill()
            self.proc.wait(BOUND)

    def read_log(self):
        with open(self.log_path) as f:
            return f.read()

    def wait_until_listening(self):
        deadline = time.monotonic() + BOUND
        port = None
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                self.fail("gunicorn exited with %s:\n%s" % (self.proc.returncode, self.read_log()))
            if port is None:
                m = PORT_RE.search(self.read_log())
                port = self.port = int(m.group(1)) if m else None
            if port is not None and len(children_of(self.proc.pid)) == 2:
                try:
                    status, doc = self.get("/info/ping")
                    if status == 200:
                        return port
                except OSError:
                    pass
            time.sleep(0.05)
        self.fail("gunicorn did not answer within %s s:\n%s" % (BOUND, self.read_log()))

    def get(self, target, conn=None):
        own = conn is None
        if own:
            conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=BOUND)
        try:
            conn.request("GET", target)
            resp = conn.getresponse()
            body = resp.read()
            self.assertEqual(resp.getheader("Content-Type"), "application/json")
            return resp.status, json.loads(body)
        finally:
            if own:
                conn.close()

    def test_serves_concurrent_clients_on_our_greenlet_and_stops_cleanly(self):
        master = self.proc.pid
        workers = children_of(master)
        self.assertEqual(len(workers), 2, self.read_log())

        # Every worker process has our greenlet extension loaded, not the stock one.
        for pid in workers:
            maps = mapped_files(pid)
            ours = [p for p in maps if p.startswith(OUR_PACKAGE + os.sep) and "_greenlet" in p]
            stock = [p for p in maps if "/greenlet/_greenlet" in p
                     and not p.startswith(OUR_PACKAGE + os.sep)]
            self.assertTrue(ours, "worker %d has not mapped our greenlet: %s" % (pid, sorted(maps)))
            self.assertEqual(stock, [], "worker %d has the stock greenlet" % pid)

        # 200 requests from 20 threads, each on one keep-alive connection.
        nthreads, per_thread = 20, 10
        results, errors = {}, []

        def client(t):
            conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=BOUND)
            try:
                for k in range(per_thread):
                    results[(t, k)] = self.get("/info/%d/%d?x=%d" % (t, k, t * k), conn)
            except BaseException as e:  # reported below
                errors.append((t, repr(e)))
            finally:
                conn.close()

        run_threads(self, [threading.Thread(target=client, args=(t,)) for t in range(nthreads)],
                    2 * BOUND)
        self.assertEqual(errors, [])
        self.assertEqual(len(results), nthreads * per_thread)
        pids = set()
        for (t, k), (status, doc) in sorted(results.items()):
            self.assertEqual(status, 200)
            self.assertEqual(doc["path"], "/info/%d/%d" % (t, k))
            self.assertEqual(doc["query"], "x=%d" % (t * k))
            self.assertIn(doc["pid"], workers)
            self.assertTrue(is_ours(doc["greenlet"]), doc["greenlet"])
            self.assertTrue(is_ours(doc["greenlet_ext"]), doc["greenlet_ext"])
            self.assertTrue(is_our_version(doc["greenlet_version"]), doc["greenlet_version"])
            assert_stack_size(self, doc["stack_size"], "a gunicorn worker's request greenlet")
            self.assertTrue(from_installed_dist(doc["gevent"], "gevent"), doc["gevent"])
            self.assertTrue(doc["in_gevent_greenlet"])
            self.assertTrue(doc["socket_patched"])
            self.assertTrue(doc["time_sleep_is_gevent"])
            pids.add(doc["pid"])

        # Requests that wait inside the app until all have arrived: only
        # workers serving many requests at once get them all in (two
        # synchronous workers would hold two and never see the rest).
        nblock = 20
        blocked = {}

        def block(i):
            try:
                blocked[i] = self.get("/block?id=b%d" % i)
            except BaseException as e:  # reported below
                blocked[i] = ("error", repr(e))

        bthreads = [threading.Thread(target=block, args=(i,)) for i in range(nblock)]
        for th in bthreads:
            th.start()
        deadline = time.monotonic() + BOUND
        while time.monotonic() < deadline:
            if len([f for f in os.listdir(self.gate) if f.startswith("arrived-")]) == nblock:
                break
            time.sleep(0.02)
        arrived = len([f for f in os.listdir(self.gate) if f.startswith("arrived-")])
        open(os.path.join(self.gate, "release"), "w").close()
        for th in bthreads:
            th.join(2 * BOUND)
            self.assertFalse(th.is_alive(), "blocked client stuck")
        self.assertEqual(arrived, nblock, "only %d requests in the app at once" % arrived)
        for i in range(nblock):
            status, doc = blocked[i]
            self.assertEqual(status, 200, doc)
            self.assertEqual(doc["id"], "b%d" % i)
            self.assertTrue(doc["released"])
            self.assertIn(doc["pid"], workers)
            pids.add(doc["pid"])

        # Same workers all along: none crashed and was replaced.
        self.assertEqual(children_of(master), workers)

        # SIGTERM: graceful stop, exit status 0, workers gone.
        self.proc.send_signal(signal.SIGTERM)
        try:
            code = self.proc.wait(BOUND)
        except subprocess.TimeoutExpired:
            self.fail("gunicorn did not stop within %s s after SIGTERM:\n%s" % (BOUND, self.read_log()))
        log = self.read_log()
        self.assertEqual(code, 0, log)
        deadline = time.monotonic() + BOUND
        while any(alive(p) for p in workers) and time.monotonic() < deadline:
            time.sleep(0.05)
        self.assertFalse(any(alive(p) for p in workers), "workers still alive after the master exited")
        self.assertIn("Using worker: gevent", log)
        self.assertEqual(len(re.findall(r"Booting worker with pid", log)), 2, log)
        self.assertIn("Shutting down: Master", log)
        self.assertNotIn("Traceback", log)
        print("\ngunicorn: %d requests served by workers %s" % (len(results) + nblock, sorted(pids)),
              file=sys.stderr)


if __name__ == "__main__":
    unittest.main()
