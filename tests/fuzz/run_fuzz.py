"""Runs the greenlet state machine (machine.py) in batches, each batch in
a child process with a timeout, so that a crash or a hang is caught and
reported with the program that caused it.

    python tests/fuzz/run_fuzz.py [--seconds N] [--examples N] ...

The interpreter running this script is the one under test; `greenlet`
must be importable (PYTHONPATH) and so must hypothesis.  For every new
kind of failure it prints a standalone Python program reproducing it
(cut down by replaying it with steps left out), and at the end:

    fuzz: N operations, C crashes, H hangs, M mismatches

--result FILE writes "passed failed skipped" (1 0 0 or 0 1 0) for
tests/summary.sh.  Exit status 1 if anything failed.
"""
import argparse
import os
import re
import random
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
CRASH_MARKS = ("Fatal Python error", "AddressSanitizer", "runtime error:",
               "Segmentation fault", "Aborted")


def child(args):
    """One batch: args.examples examples from seed args.seed."""
    sys.path.insert(0, HERE)
    from hypothesis import HealthCheck, Phase, seed, settings
    from hypothesis.stateful import run_state_machine_as_test
    import machine

    s = settings(max_examples=args.examples, deadline=None, database=None,
                 derandomize=args.derandomize, stateful_step_count=args.steps,
                 phases=[Phase.explicit, Phase.generate],
                 suppress_health_check=list(HealthCheck), report_multiple_bugs=False)
    cls = machine.GreenletMachine
    if not args.derandomize:
        cls = seed(args.seed)(cls)

    status = args.status

    def count(machine_init=cls.__init__):
        def init(self):
            with open(status, "w") as f:
                f.write("%d\n" % machine.OPS[0])
            machine_init(self)
        return init
    cls.__init__ = count()
    try:
        run_state_machine_as_test(cls, settings=s)
    finally:
        with open(status, "w") as f:
            f.write("%d\n" % machine.OPS[0])


def program(steps, exclude):
    """A standalone program replaying the recorded steps."""
    lines = ["# Run from the repository root with the greenlet under test on",
             "# PYTHONPATH, e.g. PYTHONPATH=build/fuzz-LABEL python3 repro.py",
             "import os, sys",
             "sys.path.insert(0, 'tests/fuzz')"]
    if exclude:
        lines.append("os.environ['FUZZ_EXCLUDE'] = %r" % exclude)
    lines += ["from machine import GreenletMachine", "state = GreenletMachine()"]
    for s in steps:
        lines += [s, "state.states_match()"]
    lines.append("state.teardown()")
    return "\n".join(lines) + "\n"


def run_child(argv, timeout, env):
    """Returns (kind, output): kind is ok, crash, hang or mismatch.  A
    hang is an example that set off the watchdog of machine.py, or a
    child still running after `timeout` seconds."""
    try:
        p = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                           timeout=timeout, env=env, cwd=os.path.dirname(os.path.dirname(HERE)))
    except subprocess.TimeoutExpired as e:
        return "hang", (e.stdout or b"").decode(errors="replace")
    out = p.stdout.decode(errors="replace")
    if p.returncode == 0:
        return "ok", out
    if "Timeout (" in out:
        return "hang", out
    if p.returncode < 0 or any(m in out for m in CRASH_MARKS):
        return "crash", out + "\n(exit status %d)" % p.returncode
    return "mismatch", out


def signature(kind, out):
    """A short name for the failure, to report each kind once."""
    lines = out.splitlines()
    for line in lines:
        m = re.search(r"machine\.Mismatch: (.*)", line)
        if m:
            return "%s: %s" % (kind, re.sub(r"\d+", "N", m.group(1).strip(" :")))
    for line in lines:
        if "Fatal Python error" in line or "ERROR: AddressSanitizer" in line \
                or "runtime error:" in line:
            return "%s: %s" % (kind, line.strip()[:100])
    errors = [l for l in lines if re.match(r"\W*\w+(Error|Exception|Exit|Interrupt)\b", l)]
    if kind == "mismatch" and errors:
        return "%s: %s" % (kind, errors[-1].strip(" |+")[:100])
    return kind


def reproduces(steps, kind, sig, args, env):
    with tempfile.NamedTemporaryFile("w", suffix=".py", delete=False) as f:
        f.write(program(steps, args.exclude))
    try:
        got, out = run_child([sys.executable, f.name], args.timeout, env)
    finally:
        os.unlink(f.name)
    return got == kind and signature(got, out) == sig


def minimise(steps, kind, sig, args, env, budget):
    """Leaves out steps (chunks, then one by one) while the same failure
    still happens, within `budget` seconds."""
    end = time.time() + budget
    if not reproduces(steps, kind, sig, args, env):
        return steps, False
    n = max(1, len(steps) // 2)
    while n >= 1 and time.time() < end:
        i = 0
        while i < len(steps) and time.time() < end:
            trial = steps[:i] + steps[i + n:]
            if trial != steps and reproduces(trial, kind, sig, args, env):
                steps = trial
            else:
                i += n
        n //= 2
    # Then simpler arguments: no plan, depth 0.
    for i in range(len(steps)):
        for pat, rep in ((r"plan=\[[^]]*\]", "plan=[]"), (r"depth=\d+", "depth=0")):
            trial = steps[:i] + [re.sub(pat, rep, steps[i])] + steps[i + 1:]
            if time.time() < end and trial != steps and reproduces(trial, kind, sig, args, env):
                steps = trial
    return steps, True


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--seconds", type=float, default=0, help="stop after this long (0: no limit)")
    ap.add_argument("--batches", type=int, default=0, help="stop after this many batches (0: no limit)")
    ap.add_argument("--examples", type=int, default=50, help="examples per batch")
    ap.add_argument("--steps", type=int, default=40, help="steps per example")
    ap.add_argument("--timeout", type=float, default=60, help="seconds per example before it is a hang")
    ap.add_argument("--seed", type=int, default=None, help="first batch seed (default: random)")
    ap.add_argument("--derandomize", action="store_true",
                    help="fixed seeds 0, 1, 2... (same examples on every run)")
    ap.add_argument("--minimise-seconds", type=float, default=120)
    ap.add_argument("--label", default=os.path.basename(sys.executable))
    ap.add_argument("--result", help="write 'P F S' counts here")
    ap.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--status", help=argparse.SUPPRESS)
    args = ap.parse_args()
    args.exclude = os.environ.get("FUZZ_EXCLUDE", "")
    if args.child:
        child(args)
        return 0
    if args.batches <= 0:
        args.batches = 10 ** 9
    first = args.seed if args.seed is not None else (0 if args.derandomize else random.randrange(10 ** 9))
    tmp = tempfile.mkdtemp(prefix="fuzz-")
    env = dict(os.environ)
    env["FUZZ_STEPS_FILE"] = os.path.join(tmp, "steps")
    env["PYTHONFAULTHANDLER"] = "1"
    env["FUZZ_EXAMPLE_TIMEOUT"] = str(args.timeout)
    status = os.path.join(tmp, "status")
    counts = {"crash": 0, "hang": 0, "mismatch": 0}
    seen = set()
    ops = 0
    start = time.time()
    batch = 0
    print("fuzz[%s]: seeds from %d, %d examples of up to %d steps per batch%s" % (
        args.label, first, args.examples, args.steps,
        ", FUZZ_EXCLUDE=" + args.exclude if args.exclude else ""), flush=True)
    while batch < args.batches and (args.seconds <= 0 or time.time() - start < args.seconds):
        s = first + batch
        batch += 1
        for f in (status, env["FUZZ_STEPS_FILE"]):
            if os.path.exists(f):
                os.unlink(f)
        argv = [sys.executable, os.path.abspath(__file__), "--child", "--seed", str(s),
                "--examples", str(args.examples), "--steps", str(args.steps),
                "--status", status] + (["--derandomize"] if args.derandomize and batch == 1 else [])
        try:
            kind, out = run_child(argv, args.timeout * (args.examples + 1), env)
        except KeyboardInterrupt:
            break
        try:
            with open(status) as f:
                ops += int(f.read().split()[0])
        except (OSError, ValueError, IndexError):
            pass
        if kind == "ok":
            continue
        counts[kind] += 1
        sig = signature(kind, out)
        print("fuzz[%s]: batch seed %d: %s" % (args.label, s, sig), flush=True)
        if sig in seen:
            continue
        seen.add(sig)
        steps = []
        if os.path.exists(env["FUZZ_STEPS_FILE"]):
            with open(env["FUZZ_STEPS_FILE"]) as f:
                steps = [l.rstrip("\n") for l in f if l.startswith("state.")]
        tail = "\n".join(out.rstrip().splitlines()[-40:])
        print("---- output (last lines) ----\n%s" % tail)
        budget = args.minimise_seconds
        if args.seconds > 0:
            budget = min(budget, max(0, args.seconds - (time.time() - start)))
        if kind != "hang" and budget > 0:
            steps, ok = minimise(steps, kind, sig, args, dict(env, FUZZ_STEPS_FILE=""), budget)
            if not ok:
                print("(the program below did not fail again on its own)")
        print("---- reproducer (%d steps) ----\n%s----" % (len(steps), program(steps, args.exclude)),
              flush=True)
    failed = sum(counts.values())
    print("fuzz: %d operations, %d crashes, %d hangs, %d mismatches" % (
        ops, counts["crash"], counts["hang"], counts["mismatch"]))
    if args.result:
        with open(args.result, "w") as f:
            f.write("0 1 0\n" if failed else "1 0 0\n")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
