"""Runs a scenario of a test module in a fresh interpreter before the test
runs it in-process, so that a crash or a hang fails that one test (with
the child's output) instead of killing or stalling the whole run.

A scenario is a module-level function taking a unittest.TestCase (used
only for its assert methods) plus literal arguments.  The child gets a bare
unittest.TestCase() for it; it exits 0 and prints ISOLATE-OK when the
scenario returned.  Results are cached per (module, call), so a test that
runs one scenario in several ways pays for one child.
"""
import subprocess

import support

_done = {}


def scenario_in_child(tc, module, func, *args, timeout=180, env=None):
    """Fails `tc` unless `module.func(TestCase(), *args)` runs to the end in
    a fresh interpreter.  Returns the child's stdout."""
    call = "%s(tc%s)" % (func, "".join(", %r" % (a,) for a in args))
    key = (module, call, tuple(sorted((env or {}).items())))
    if key not in _done:
        code = ("import unittest, %s as m\n"
                "tc = unittest.TestCase()\n"
                "m.%s\n"
                "print('ISOLATE-OK', flush=True)\n" % (module, call))
        try:
            rc, out, err = support.run_python(code, timeout=timeout, env=env)
        except subprocess.TimeoutExpired:
            rc, out, err = "timeout after %ss" % timeout, "", ""
        _done[key] = (rc, out, err)
    rc, out, err = _done[key]
    if rc != 0 or "ISOLATE-OK" not in out:
        tc.fail("%s.%s in a fresh interpreter: status %s\n--- stdout\n%s\n"
                "--- stderr\n%s" % (module, call, rc, out[-3000:], err[-6000:]))
    return out


def scenario(tc, module, func, *args, timeout=180, env=None):
    """Runs the scenario in a child first, then in this process."""
    scenario_in_child(tc, module.__name__, func, *args, timeout=timeout, env=env)
    return getattr(module, func)(tc, *args)

