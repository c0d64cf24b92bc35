"""Shared helpers of the integration tests (gevent, eventlet, gunicorn,
SQLAlchemy).

The tests run on Debian's /usr/bin/python3 (or $PYTHON, e.g. a virtualenv's
python) with cgreenlet's build directory first on PYTHONPATH (see run.sh).
That directory is taken from the environment variable CG_INTEG_BUILD, or
else from the first PYTHONPATH entry.  It is either a build directory
holding only our greenlet package, or a virtualenv's site-packages into
which our wheel was installed (next to gevent and the others).  Every test
checks that the ``greenlet`` module in use, in this process and in every
child process, is ours: its file lies in BUILD/greenlet/ (never in
/usr/lib/python3/dist-packages) and its version ends in +cgreenlet.N (so
a stock greenlet installed in the same site-packages cannot pass for ours).
"""
import importlib.util
import json
import os
import subprocess
import sys
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
LIGHT = bool(os.environ.get("CG_TEST_LIGHT"))
STOCK_DIR = "/usr/lib/python3/dist-packages"


def build_dir():
    """The directory holding our greenlet package, or None if unknown."""
    d = os.environ.get("CG_INTEG_BUILD")
    if not d:
        parts = [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p]
        d = parts[0] if parts else None
    return os.path.realpath(d) if d else None


BUILD = build_dir()


OUR_PACKAGE = os.path.join(BUILD, "greenlet") if BUILD else None


def is_ours(path):
    """True if PATH (greenlet's __file__ or its extension's) lies in our
    greenlet package, BUILD/greenlet/."""
    if not OUR_PACKAGE or not path:
        return False
    real = os.path.realpath(path)
    return real.startswith(OUR_PACKAGE + os.sep) and not real.startswith(STOCK_DIR + os.sep)


def is_our_version(version):
    """True if VERSION (greenlet.__version__) is cgreenlet's."""
    return isinstance(version, str) and "+cgreenlet" in version


def assert_ours(test, path, what="greenlet", version=None):
    """Checks that PATH lies in our greenlet package and, if VERSION is
    given, that it is cgreenlet's version."""
    test.assertTrue(
        is_ours(path),
        "%s comes from %r, not from our package %r" % (what, path, OUR_PACKAGE))
    if version is not None:
        test.assertTrue(is_our_version(version),
                        "%s has version %r, not cgreenlet's" % (what, version))


def expected_stack_size():
    """The stack size CGREENLET_STACK_SIZE asks for (make
    check-integration-dedicated), or None when it is not set."""
    value = os.environ.get("CGREENLET_STACK_SIZE")
    if not value:
        return None
    shift = {"k": 10, "m": 20}.get(value[-1].lower(), 0)
    return int(value[:-1] if shift else value) << shift


def assert_stack_size(test, got, what="greenlet"):
    """With CGREENLET_STACK_SIZE set, checks that GOT (get_stack_size() as
    reported) is that size: greenlets there really ran on dedicated
    stacks."""
    want = expected_stack_size()
    if want is not None:
        test.assertEqual(got, want, "%s: greenlets do not get the dedicated stacks asked for" % what)


def assert_our_greenlet(test):
    """Checks the greenlet module imported by this process (package,
    extension and version)."""
    import greenlet
    assert_ours(test, greenlet.__file__, version=greenlet.__version__)
    assert_ours(test, sys.modules["greenlet._greenlet"].__file__, "greenlet's extension")
    test.assertTrue(is_our_version(sys.modules["greenlet._greenlet"].__version__))
    assert_stack_size(test, greenlet.get_stack_size())


def from_installed_dist(path, dist_name):
    """True if PATH (a module's __file__) lies in the installed distribution
    DIST_NAME (Debian's package or a pip-installed one, found through its
    metadata), not in a copy somewhere else, and not in our package."""
    if not path or is_ours(path):
        return False
    from importlib import metadata
    try:
        dist = metadata.distribution(dist_name)
    except metadata.PackageNotFoundError:
        return False
    top = os.path.realpath(str(dist.locate_file(dist_name.lower())))
    return os.path.realpath(path).startswith(top + os.sep)


def dist_version(dist_name):
    """The installed version of DIST_NAME, or None."""
    from importlib import metadata
    for name in (dist_name, dist_name.lower()):
        try:
            return metadata.version(name)
        except metadata.PackageNotFoundError:
            pass
    return None


def stock_greenlet_dir():
    """A directory holding a stock (not cgreenlet) greenlet package for this
    interpreter, to compare ours with, or None: $CG_INTEG_STOCK_DIR, else
    sys.prefix/stock-greenlet (made by pypi-venv.sh), else Debian's
    dist-packages if this interpreter searches it."""
    found = [os.environ.get("CG_INTEG_STOCK_DIR"),
             os.path.join(sys.prefix, "stock-greenlet")]
    if STOCK_DIR in [os.path.realpath(p) for p in sys.path if p]:
        found.append(STOCK_DIR)
    for d in found:
        if d and os.path.isfile(os.path.join(d, "greenlet", "__init__.py")):
            return os.path.realpath(d)
    return None


def has_module(name):
    try:
        return importlib.util.find_spec(name) is not None
    except (ImportError, ValueError):
        return False


def skip_unless_module(name, package):
    return unittest.skipUnless(
        has_module(name),
        "%s is not importable by %s (install the Debian package %s, or %s from PyPI)"
        % (name, sys.executable, package, name))


def run_threads(test, threads, bound):
    """Starts the threads and joins each within `bound` seconds, failing
    `test` if one is still running (every wait in these tests is bounded)."""
    for t in threads:
        t.start()
    for t in threads:
        t.join(bound)
        test.assertFalse(t.is_alive(), "thread %s stuck" % t.name)


def ensure_fd_limit(test, need):
    """Raises the soft limit on open files to NEED if it is lower (skips the
    test if the hard limit does not allow it)."""
    import resource
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != resource.RLIM_INFINITY and soft < need:
        if hard != resource.RLIM_INFINITY and hard < need:
            test.skipTest("needs %d open files, the hard limit is %d" % (need, hard))
        resource.setrlimit(resource.RLIMIT_NOFILE, (need, hard))


def child_env(ours=True, extra_path=(), stock=None):
    """Environment of a child interpreter.

    With OURS, our build directory comes first on PYTHONPATH; without it,
    PYTHONPATH holds STOCK (a directory with a stock greenlet package, see
    stock_greenlet_dir()), if given, then EXTRA_PATH.
    """
    env = dict(os.environ)
    env.pop("PYTHONPATH", None)
    path = ([BUILD] if ours and BUILD else [stock] if not ours and stock else []) + list(extra_path)
    if path:
        env["PYTHONPATH"] = os.pathsep.join(path)
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    env.setdefault("PYTHONWARNINGS", "ignore::DeprecationWarning")
    if ours and BUILD:
        env["CG_INTEG_BUILD"] = BUILD
    else:
        env.pop("CG_INTEG_BUILD", None)
    return env


def run_child(script, args=(), ours=True, timeout=120, env=None, extra_path=(HERE,), stock=None):
    """Runs tests/integration/SCRIPT ARGS in a child interpreter.

    Returns a dict: returncode (None if it timed out), stdout, stderr, and
    results, the JSON objects the child printed (one a line)."""
    cmd = [sys.executable, os.path.join(HERE, script)] + [str(a) for a in args]
    child = child_env(ours, extra_path, stock)
    child.update(env or {})
    try:
        proc = subprocess.run(cmd, env=child, cwd=HERE, stdin=subprocess.DEVNULL,
                              capture_output=True, text=True, timeout=timeout)
        out = {"returncode": proc.returncode, "stdout": proc.stdout, "stderr": proc.stderr}
    except subprocess.TimeoutExpired as e:
        out = {"returncode": None, "stdout": _text(e.stdout), "stderr": _text(e.stderr)}
    out["cmd"] = " ".join(cmd[1:])
    out["timeout"] = timeout
    out["results"] = []
    for line in out["stdout"].splitlines():
        if line.startswith("{"):
            try:
                out["results"].append(json.loads(line))
            except ValueError:
                pass
    return out


def describe(child):
    """What to show when a child run went wrong."""
    if child["returncode"] is None:
        head = "%s did not finish within %s s" % (child["cmd"], child["timeout"])
    else:
        head = "%s exited with %s" % (child["cmd"], child["returncode"])
    return "%s\n--- stdout:\n%s\n--- stderr:\n%s" % (
        head, child["stdout"][-4000:], child["stderr"][-8000:])


def run_script(test, script, *args, ours=True, timeout=120, env=None, stock=None):
    """Runs a child that prints one JSON result line; checks that it
    succeeded with "ok": true (and, with OURS, on our greenlet).
    Returns the decoded result."""
    child = run_child(script, args, ours=ours, timeout=timeout, env=env, stock=stock)
    test.assertEqual(child["returncode"], 0, describe(child))
    test.assertTrue(child["results"], "no JSON result line\n" + describe(child))
    result = child["results"][-1]
    test.assertIs(result.get("ok"), True, "child reported failure\n" + describe(child))
    if ours:
        assert_ours(test, result.get("greenlet"), "greenlet in the child",
                    result.get("greenlet_version", ""))
        assert_stack_size(test, result.get("stack_size"), "the child")
    return result


class ChildScenarios(unittest.TestCase):
    """Runs several scenarios of one child script in ONE child process
    (set up once per class, to pay the import of gevent/eventlet once);
    each test then checks its own scenario's result."""

    script = None
    scenarios = ()
    timeout = 180
    child_env = None

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.child = run_child(cls.script, cls.scenarios, timeout=cls.timeout,
                              env=cls.child_env)

    def scenario(self, name):
        by_name = {r.get("scenario"): r for r in self.child["results"]}
        result = by_name.get(name)
        if result is None:
            self.fail("no result for scenario %r\n%s" % (name, describe(self.child)))
        if result.get("ok") is not True:
            self.fail("scenario %r failed in the child:\n%s\n--- child stderr:\n%s"
                      % (name, result.get("error"), self.child["stderr"][-4000:]))
        assert_ours(self, result.get("greenlet"), "greenlet in the child",
                    result.get("greenlet_version", ""))
        assert_stack_size(self, result.get("stack_size"), "the child")
        return result


def run_scenarios(namespace, names, **common):
    """Child side: runs scenario_NAME() from NAMESPACE for each name and
    reports each (a failure is reported with its traceback, and the next
    scenario still runs).  Returns the exit status: 0 if all held."""
    import traceback
    failed = 0
    for name in names:
        try:
            extra = namespace["scenario_" + name]() or {}
        except BaseException:  # noqa: B902 - reported, then the next one runs
            failed += 1
            report(ok=False, scenario=name, error=traceback.format_exc())
            continue
        extra.update(common)
        report(scenario=name, **extra)
    return 1 if failed else 0


def _text(b):
    if b is None:
        return ""
    if isinstance(b, bytes):
        return b.decode("utf-8", "replace")
    return b


def report(ok=True, **kw):
    """Prints the JSON result line of a child script."""
    import greenlet
    kw.setdefault("greenlet", greenlet.__file__)
    kw.setdefault("greenlet_version", greenlet.__version__)
    kw.setdefault("stack_size", getattr(greenlet, "get_stack_size", lambda: None)())
    kw["ok"] = ok
    sys.stdout.write(json.dumps(kw) + "\n")
    sys.stdout.flush()


def check(cond, what):
    """Raises AssertionError(what) unless cond: for scenario scripts."""
    if not cond:
        raise AssertionError(what)


def recv_exact(sock, n):
    """Reads n bytes from sock, or fewer if it closes first."""
    buf = b""
    while len(buf) < n:
        chunk = sock.recv(n - len(buf))
        if not chunk:
            break
        buf += chunk
    return buf
