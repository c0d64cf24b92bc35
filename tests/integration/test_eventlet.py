"""eventlet (Debian's python3-eventlet, or eventlet from PyPI in a
virtualenv) on our greenlet.

The scenarios run in child processes (eventlet_child.py): all but one
share a child, and monkey_patch(), which changes its process for good,
has its own, and so has the asyncio hub (EVENTLET_HUB=asyncio, eventlet
0.35 and later).  Deprecation warnings of eventlet are ignored.
"""
import importlib.util
import os
import unittest

from integ_support import (ChildScenarios, from_installed_dist, has_module, is_ours,
                           skip_unless_module)


def has_asyncio_hub():
    """True if eventlet has its asyncio hub (0.35 and later); looked up
    without importing eventlet into the test process."""
    if not has_module("eventlet"):
        return False
    spec = importlib.util.find_spec("eventlet")
    return any(os.path.isfile(os.path.join(d, "hubs", "asyncio.py")) and
               os.path.isfile(os.path.join(d, "asyncio.py"))
               for d in (spec.submodule_search_locations or ()))


class EventletScenarios(ChildScenarios):
    script = "eventlet_child.py"

    def scenario(self, name):
        result = super().scenario(name)
        self.assertTrue(from_installed_dist(result["eventlet"], "eventlet"),
                        "eventlet must be the installed distribution (Debian's or pip's), "
                        "not a copy: %r" % result["eventlet"])
        return result


@skip_unless_module("eventlet", "python3-eventlet")
class TestEventlet(EventletScenarios):
    scenarios = ("greenpool", "green_socket", "queue", "timeout", "spawn_kill", "tpool", "wsgi")

    def test_greenpool(self):
        self.assertEqual(self.scenario("greenpool")["peak"], 5)

    def test_green_socket_echo(self):
        self.assertEqual(self.scenario("green_socket")["clients"], 200)

    def test_queue(self):
        self.assertEqual(self.scenario("queue")["items"], 200)

    def test_timeout(self):
        self.scenario("timeout")

    def test_spawn_n_and_kill(self):
        self.scenario("spawn_kill")

    def test_tpool(self):
        self.assertEqual(self.scenario("tpool")["calls"], 30)

    def test_wsgi_concurrent_clients(self):
        result = self.scenario("wsgi")
        self.assertEqual(result["clients"], 40)
        self.assertTrue(is_ours(result["app_greenlet"]))


@skip_unless_module("eventlet", "python3-eventlet")
class TestEventletMonkeyPatch(EventletScenarios):
    scenarios = ("monkey_patch",)

    def test_monkey_patch(self):
        self.assertEqual(self.scenario("monkey_patch")["clients"], 50)


@unittest.skipUnless(has_asyncio_hub(), "this eventlet has no asyncio hub (eventlet 0.35 or later)")
class TestEventletAsyncioHub(EventletScenarios):
    scenarios = ("asyncio_hub",)
    child_env = {"EVENTLET_HUB": "asyncio"}

    def test_asyncio_hub_with_coroutines_and_green_sockets(self):
        self.assertEqual(self.scenario("asyncio_hub")["clients"], 20)


if __name__ == "__main__":
    unittest.main()
