"""gevent.monkey.patch_all() on our greenlet, in a child process.

The child (gevent_monkey_child.py) patches everything first, then uses the
standard library as ordinary blocking code would: threading, queue,
subprocess, socket, select, time.sleep and ssl (with a certificate made
here with the openssl command); last, gevent's monitor thread, which
watches the hub through greenlet.settrace.
"""
import os
import shutil
import subprocess
import tempfile
import unittest

from integ_support import ChildScenarios, skip_unless_module

HAVE_OPENSSL = bool(shutil.which("openssl"))


@skip_unless_module("gevent", "python3-gevent")
class TestMonkeyPatchAll(ChildScenarios):
    script = "gevent_monkey_child.py"
    scenarios = ("threading", "queue", "subprocess", "socket", "select", "sleep") + (
        ("ssl",) if HAVE_OPENSSL else ()) + ("monitor",)

    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.TemporaryDirectory(prefix="cg-integ-ssl-")
        try:
            if HAVE_OPENSSL:
                cert = os.path.join(cls.tmp.name, "cert.pem")
                key = os.path.join(cls.tmp.name, "key.pem")
                subprocess.run(
                    ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes",
                     "-keyout", key, "-out", cert, "-days", "2", "-subj", "/CN=localhost",
                     "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1"],
                    check=True, stdin=subprocess.DEVNULL, capture_output=True, timeout=60)
                cls.child_env = {"CG_INTEG_CERT": cert, "CG_INTEG_KEY": key}
            super().setUpClass()
        finally:
            cls.tmp.cleanup()

    def test_threading(self):
        self.assertEqual(self.scenario("threading")["threads"], 50)

    def test_queue(self):
        self.assertEqual(self.scenario("queue")["items"], 500)

    def test_subprocess(self):
        self.scenario("subprocess")

    def test_socket(self):
        self.assertEqual(self.scenario("socket")["clients"], 100)

    def test_select(self):
        self.scenario("select")

    def test_time_sleep(self):
        self.scenario("sleep")

    @unittest.skipUnless(HAVE_OPENSSL, "the openssl command is missing (install openssl)")
    def test_ssl(self):
        self.assertEqual(self.scenario("ssl")["clients"], 20)


    def test_monitor_thread_reports_blocked_hub(self):
        self.scenario("monitor")


if __name__ == "__main__":
    unittest.main()
