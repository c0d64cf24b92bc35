"""The Python half of `make bench`: our greenlet module against PyPI's
greenlet wheel (and, on Debian's python3, Debian's python3-greenlet), on
every interpreter of tests/pythons.sh.  See docs/benchmarks.md.

usage: python3 bench/python/driver.py      (any Python 3.9+; no packages)

Every measurement is a fresh process running worker.py (one metric, one
implementation, one round); within a round the implementations alternate,
and the order flips each round.  Times: best of the rounds.  Memory: the
median.  Instruction counts: worker.py under valgrind's cachegrind with N
operations and with 0, (I(N) - I(0)) / N.

Knobs (environment): BENCH_QUICK=1, BENCH_PYTHONS="3.12.1 debian-3.11"
(labels), BENCH_ROUNDS, BENCH_NO_COUNT=1, BENCH_JOBS (parallel valgrind
runs, default 2), BENCH_JSON (default build/bench/python.json).
"""
import concurrent.futures
import json
import os
import platform
import re
import statistics
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BUILD = os.path.join(ROOT, "build", "bench")
WORKER = os.path.join(ROOT, "bench", "python", "worker.py")
QUICK = os.environ.get("BENCH_QUICK", "0") not in ("", "0")
ROUNDS = int(os.environ.get("BENCH_ROUNDS", "2" if QUICK else "5"))
NO_COUNT = os.environ.get("BENCH_NO_COUNT", "0") not in ("", "0")
JOBS = int(os.environ.get("BENCH_JOBS", "2"))
JSON_OUT = os.environ.get("BENCH_JSON", os.path.join(BUILD, "python.json"))
DEBIAN_DIST = "/usr/lib/python3/dist-packages"

# name: (description, kind, N full, N quick (None: not in quick runs), rounds cap, instruction-count N
#        (None: not counted), subtract the `park` instructions?, counted in
#        quick runs? (True, False, or "3.12": on 3.12+ only, for its target))
# kind: ns = ns per op; mem = per-greenlet bytes (and ns); tput = ops/s
METRICS = [
    ("switch", "switch ping-pong, depth 1 (per switch)", "ns", 200000, 40000, 99, 5000, False, True),
    ("create", "create + switch in + finish (per greenlet)", "ns", 100000, 20000, 99, 5000, False, True),
    ("throw_caught", "throw, caught inside, switch back", "ns", 50000, 10000, 99, 3000, False, False),
    ("throw_out", "throw propagating out (greenlet dies)", "ns", 50000, 10000, 99, 2000, True, False),
    ("kill", "drop a parked greenlet (GreenletExit)", "ns", 50000, 10000, 99, 2000, True, False),
    ("getcurrent", "getcurrent()", "ns", 1000000, 200000, 99, 20000, False, False),
    ("switch_depth500", "switch, both parked 500 Python frames deep", "ns", 20000, 4000, 99, 1000, False, "3.12"),
    ("switch_c50", "switch, both parked under 50 C recursion levels", "ns", 20000, 4000, 99, 1000, False, False),
    ("chain10k", "10k-greenlet chain: switch to next + finish (per greenlet)", "ns", 10000, 10000, 99, 2000, True, False),
    ("park", "park 1M greenlets at depth 1 (per greenlet)", "mem", 1000000, 100000, 1, 2000, False, False),
    ("rss_d1", "suspended greenlet, depth 1, 100k parked", "mem", 100000, 20000, 2, None, False, False),
    ("rss_d50", "suspended greenlet, depth 50, 100k parked", "mem", 100000, 20000, 2, None, False, False),
    ("tm_d1", "same as rss_d1 under tracemalloc", "mem", 100000, None, 1, None, False, False),
    ("tm_d50", "same as rss_d50 under tracemalloc", "mem", 100000, None, 1, None, False, False),
    # Ours with every greenlet on a dedicated stack (8 MiB, set_stack_size),
    # against the reference's only mode.  Each stack is two kernel mappings:
    # 20k parked stay under vm.max_map_count.
    ("switch_ded", "switch ping-pong, depth 1, ours on dedicated stacks", "ns", 200000, 40000, 99, 5000, False, True),
    ("switch_c50_ded", "switch under 50 C levels, ours on dedicated stacks", "ns", 20000, 4000, 99, 1000, False, False),
    ("switch_depth500_ded", "switch, both parked 500 Python frames deep, ours on dedicated stacks", "ns", 20000, 4000, 99, 1000, False, False),
    ("create_ded", "create + switch in + finish, ours on dedicated stacks", "ns", 100000, 20000, 99, 5000, False, False),
    ("rss_d1_ded", "suspended greenlet, depth 1, 20k parked, ours on dedicated stacks", "mem", 20000, 20000, 2, None, False, False),
    ("gevent_echo", "gevent echo server, 10 clients on 127.0.0.1 (round trips/s)", "tput", 20000, 4000, 99, 500, False, False),
    ("gevent_spawn", "gevent spawn + joinall of 100k (greenlets/s)", "tput", 100000, 30000, 99, 2000, False, False),
    ("gevent_queue", "gevent Queue(maxsize=1) producer->consumer (items/s)", "tput", 100000, 30000, 99, 2000, False, False),
]


def log(*a):
    print(*a, flush=True)


def sh(cmd, **kw):
    return subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                          universal_newlines=True, **kw)


def interpreters():
    out = sh(["sh", os.path.join(ROOT, "tests", "pythons.sh")], cwd=ROOT).stdout
    res = []
    for line in out.splitlines():
        parts = line.split()
        if len(parts) == 2 and os.path.exists(parts[1]):
            res.append(tuple(parts))
    want = os.environ.get("BENCH_PYTHONS", "").split()
    if want:
        res = [r for r in res if r[0] in want]
    return res


def newest_mtime(paths):
    m = 0
    for top in paths:
        for d, _, files in os.walk(os.path.join(ROOT, top)):
            for f in files:
                m = max(m, os.path.getmtime(os.path.join(d, f)))
    return m


def build_ours(label, py):
    """build/bench/ours-LABEL/greenlet: our module for this interpreter."""
    top = os.path.join(BUILD, "ours-" + label)
    pkg = os.path.join(top, "greenlet")
    os.makedirs(pkg, exist_ok=True)
    stamp = os.path.join(pkg, ".built")
    if not os.path.exists(stamp) or os.path.getmtime(stamp) < newest_mtime(
            ["src", "include", "python/greenlet"]):
        # -DNDEBUG as pip builds it (the interpreter's CFLAGS): CPython's
        # inline functions then leave out their assert()s.
        r = sh(["sh", "tools/build-python.sh", py, "-DNDEBUG"], cwd=ROOT,
               env=dict(os.environ, PYG_OUT=pkg))
        if r.returncode:
            raise SystemExit("build failed for %s:\n%s" % (label, r.stdout))
        for f in ("__init__.py", "greenlet.h"):
            with open(os.path.join(ROOT, "python", "greenlet", f), "rb") as src, \
                    open(os.path.join(pkg, f), "wb") as dst:
                dst.write(src.read())
        open(stamp, "w").close()
    return top


def venv(label, py):
    """build/bench/venv-LABEL: PyPI's greenlet and gevent (wheels only)."""
    d = os.path.join(BUILD, "venv-" + label)
    vpy = os.path.join(d, "bin", "python")
    stamp = os.path.join(d, ".installed")
    if not os.path.exists(stamp):
        if not os.path.exists(vpy):
            r = sh([py, "-m", "venv", d])
            if r.returncode:
                raise SystemExit("venv failed for %s:\n%s" % (label, r.stdout))
        r = sh([vpy, "-m", "pip", "install", "-q", "--only-binary=:all:", "greenlet", "gevent"])
        if r.returncode:
            log("  pip: greenlet+gevent failed, trying greenlet alone:\n" + r.stdout[-2000:])
            r = sh([vpy, "-m", "pip", "install", "-q", "--only-binary=:all:", "greenlet"])
            if r.returncode:
                raise SystemExit("pip install greenlet failed for %s:\n%s" % (label, r.stdout))
        open(stamp, "w").close()
    return vpy


class Impl:
    def __init__(self, name, python, pythonpath):
        self.name, self.python, self.pythonpath = name, python, pythonpath

    def env(self):
        e = dict(os.environ, PYTHONHASHSEED="0")
        e.pop("PYTHONPATH", None)
        if self.pythonpath:
            e["PYTHONPATH"] = self.pythonpath
        return e

    def cmd(self, metric, n, count=False):
        return [self.python, WORKER, self.name, metric, str(n)] + (["--count"] if count else [])


def probe(impl, have_gevent_check=True):
    code = ("import greenlet, sys, os; m = sys.modules['greenlet._greenlet'];"
            "print(greenlet.__version__, getattr(m, 'CGREENLET_VERSION', '-'),"
            " os.path.realpath(greenlet.__file__));\n"
            "try:\n import gevent; print(gevent.__version__)\nexcept ImportError: print('-')")
    r = subprocess.run([impl.python, "-c", code], env=impl.env(), stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, universal_newlines=True)
    if r.returncode:
        raise SystemExit("%s: cannot import greenlet: %s" % (impl.name, r.stderr))
    first, gev = r.stdout.strip().splitlines()[:2]
    ver, cg, path = first.split(" ", 2)
    return {"greenlet_version": ver, "cgreenlet": None if cg == "-" else cg,
            "greenlet_file": path, "gevent_version": None if gev == "-" else gev}


def run_worker(impl, metric, n, timeout):
    r = subprocess.run(impl.cmd(metric, n), env=impl.env(), stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, universal_newlines=True, timeout=timeout)
    if r.returncode:
        raise RuntimeError("%s %s %d: exit %d\n%s" % (impl.name, metric, n, r.returncode,
                                                      r.stderr[-3000:]))
    return json.loads(r.stdout.strip().splitlines()[-1])


def icount(impl, metric, n):
    cmd = ["valgrind", "--tool=cachegrind", "--cache-sim=no", "--branch-sim=no",
           "--cachegrind-out-file=/dev/null"] + impl.cmd(metric, n, count=True)
    r = subprocess.run(cmd, env=impl.env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       universal_newlines=True, timeout=900)
    m = re.search(r"I\s+refs:\s+([\d,]+)", r.stderr)
    if r.returncode or not m:
        raise RuntimeError("valgrind %s %s %d failed:\n%s" % (impl.name, metric, n, r.stderr[-2000:]))
    return int(m.group(1).replace(",", ""))


def have_valgrind():
    return not NO_COUNT and subprocess.run(["sh", "-c", "command -v valgrind"],
                                           stdout=subprocess.DEVNULL).returncode == 0


def bench_interpreter(label, py):
    t_start = time.time()
    log("== %s (%s)%s" % (label, py, " [quick]" if QUICK else ""))
    ours_dir = build_ours(label, py)
    vpy = venv(label, py)
    impls = [Impl("ours", vpy, ours_dir), Impl("pypi", vpy, None)]
    if label.startswith("debian") and os.path.isdir(os.path.join(DEBIAN_DIST, "greenlet")):
        impls.append(Impl("debian", py, None))
    info = {i.name: probe(i) for i in impls}
    for name, v in info.items():
        log("  %-6s greenlet %s%s  gevent %s  (%s)" % (
            name, v["greenlet_version"], " cgreenlet " + v["cgreenlet"] if v["cgreenlet"] else "",
            v["gevent_version"], v["greenlet_file"]))
    assert info["ours"]["cgreenlet"] and not info["pypi"]["cgreenlet"]

    results = {}
    metrics = []
    for (name, desc, kind, nfull, nquick, rcap, ncount, sub, qcount) in METRICS:
        if name.startswith("gevent") and not all(info[i.name]["gevent_version"] for i in impls[:2]):
            continue
        if QUICK and nquick is None:
            continue
        if QUICK and kind == "mem":
            rcap = 1
        metrics.append((name, desc, kind, nquick if QUICK else nfull, rcap, ncount, sub, qcount))
        results[name] = {"description": desc, "kind": kind, "n": metrics[-1][3], "impls": {}}
    # ---- times and memory: fresh process per (metric, impl, round), interleaved
    for rnd in range(ROUNDS):
        for (name, desc, kind, n, rcap, _, _, _) in metrics:
            if rnd >= rcap:
                continue
            order = [i for i in impls if not (name.startswith("gevent") and i.name == "debian")]
            if rnd % 2:
                order.reverse()
            for impl in order:
                if name.startswith("gevent") and not info[impl.name]["gevent_version"]:
                    continue
                try:
                    res = run_worker(impl, name, n, timeout=600)
                except Exception as e:        # report and go on
                    log("  FAILED %s" % e)
                    continue
                results[name]["impls"].setdefault(impl.name, {"rounds": []})["rounds"].append(res)
        log("  round %d of %d done (%.0f s)" % (rnd + 1, ROUNDS, time.time() - t_start))
    for name, r in results.items():
        for iname, d in r["impls"].items():
            rs = d["rounds"]
            d["ns_per_op"] = min(x["elapsed"] / x["ops"] for x in rs if x["ops"])
            d["per_second"] = 1e9 / d["ns_per_op"]
            if "rss_per" in rs[0]:
                d["rss_per"] = statistics.median(x["rss_per"] for x in rs)
            if "tracemalloc_per" in rs[0]:
                d["tracemalloc_per"] = statistics.median(x["tracemalloc_per"] for x in rs)
    # ---- instruction counts
    if have_valgrind():
        t_c = time.time()
        jobs = []
        for (name, _, _, _, _, ncount, _, qcount) in metrics:
            if ncount is None or (QUICK and not qcount):
                continue
            if QUICK and qcount == "3.12" and minor(platform_version(py)) < (3, 12):
                continue
            for impl in impls:
                if impl.name not in results[name]["impls"]:
                    continue
                for n in (ncount, 0):
                    jobs.append((impl, name, n))
        counts = {}
        with concurrent.futures.ThreadPoolExecutor(max_workers=JOBS) as ex:
            futs = {ex.submit(icount, *j): j for j in jobs}
            for f in concurrent.futures.as_completed(futs):
                impl, name, n = futs[f]
                try:
                    counts[(impl.name, name, n)] = f.result()
                except Exception as e:
                    log("  FAILED %s" % e)
        for (name, _, _, _, _, ncount, sub, _) in metrics:
            for iname, d in results[name]["impls"].items():
                a, b = counts.get((iname, name, ncount)), counts.get((iname, name, 0))
                if a is None or b is None:
                    continue
                per = (a - b) / ncount
                if sub:
                    pa = counts.get((iname, "park", METRICS_BY_NAME["park"][6]))
                    pb = counts.get((iname, "park", 0))
                    if pa is None or pb is None:
                        continue
                    d["instructions_gross"] = per
                    per -= (pa - pb) / METRICS_BY_NAME["park"][6]
                d["instructions"] = per
                d["instructions_n"] = ncount
        log("  instruction counts: %d valgrind runs (%.0f s)" % (len(jobs), time.time() - t_c))
    else:
        log("  instruction counts: skipped (no valgrind or BENCH_NO_COUNT=1)")
    return {"python": py, "python_version": platform_version(py), "mode": "quick" if QUICK else "full",
            "rounds": ROUNDS, "impls": info, "metrics": results,
            "runtime_s": round(time.time() - t_start, 1),
            "date": time.strftime("%Y-%m-%d %H:%M:%S")}


METRICS_BY_NAME = {m[0]: m for m in METRICS}


def platform_version(py):
    return subprocess.run([py, "-c", "import sys; print(sys.version.split()[0])"],
                          stdout=subprocess.PIPE, universal_newlines=True).stdout.strip()


# ---- the table ------------------------------------------------------------------

def fmt(v, digits=0):
    if v is None:
        return "-"
    if abs(v) >= 100000:
        return "%.0f" % v
    return ("%%.%df" % digits) % v


def ratio(a, b):
    if a is None or b is None or not b:
        return None
    return a / b


def minor(pyver):
    p = pyver.split(".")
    return int(p[0]), int(p[1])


def rows(entry, ref):
    """Table rows for one interpreter against implementation `ref`."""
    m = entry["metrics"]
    ver = minor(entry["python_version"])
    out = []

    def g(name, impl, key):
        return m.get(name, {}).get("impls", {}).get(impl, {}).get(key)

    order = [x[0] for x in METRICS]
    for name in sorted(m, key=lambda k: order.index(k) if k in order else len(order)):
        r = m[name]
        kind = r["kind"]
        if ref not in r["impls"] and not name.startswith("gevent"):
            continue
        io, ir = g(name, "ours", "instructions"), g(name, ref, "instructions")
        target, verdict = "", ""
        if kind == "ns":
            a, b = g(name, "ours", "ns_per_op"), g(name, ref, "ns_per_op")
            label, unit = name, "ns"
        elif kind == "tput":
            a, b = g(name, "ours", "per_second"), g(name, ref, "per_second")
            label, unit = name, "/s"
        else:
            a, b = g(name, "ours", "ns_per_op"), g(name, ref, "ns_per_op")
            label, unit = name, "ns"
        rt, ri = ratio(a, b), ratio(io, ir)
        if name == "switch":
            target = "instr <= 0.5"
            verdict = "-" if ri is None else ("met" if ri <= 0.5 else "missed")
        elif name == "create":
            # (The issue's own figures for create were times: shown too.)
            lim = 0.5 if ver < (3, 11) else 0.1
            target = "instr <= %g (time %s)" % (lim, fmt(rt, 2))
            verdict = "-" if ri is None else ("met" if ri <= lim else "missed")
        elif name == "switch_depth500" and ver >= (3, 12):
            d1 = g("switch", "ours", "instructions")
            q = ratio(io, d1)
            qt = ratio(a, g("switch", "ours", "ns_per_op"))
            target = "ours d500/d1 instr <= 1.2 (%s; time %s)" % (fmt(q, 2), fmt(qt, 2))
            verdict = "-" if q is None else ("met" if q <= 1.2 else "missed")
        elif name == "switch_c50_ded" or (name == "switch_depth500_ded" and ver >= (3, 12)):
            lim, what = (2, "c50") if name == "switch_c50_ded" else (1.2, "d500")
            q = ratio(io, g("switch_ded", "ours", "instructions"))
            qt = ratio(a, g("switch_ded", "ours", "ns_per_op"))
            target = "ours %s/d1 on dedicated stacks instr <= %g (%s; time %s)" % (
                what, lim, fmt(q, 2), fmt(qt, 2))
            verdict = "-" if q is None else ("met" if q <= lim else "missed")
        elif kind == "tput" and ref == "pypi":
            target = "throughput >= 1.2"
            verdict = "-" if rt is None else ("met" if rt >= 1.2 else "missed")
        if kind == "tput" and ref != "pypi":
            continue
        out.append([label, unit, a, b, rt, io, ir, ri, target, verdict])
        if kind == "mem":
            for key, lab in (("rss_per", "rss"), ("tracemalloc_per", "tracemalloc")):
                a2, b2 = g(name, "ours", key), g(name, ref, key)
                if a2 is None and b2 is None:
                    continue
                t2 = v2 = ""
                r2 = ratio(a2, b2)
                if name == "rss_d1" and key == "rss_per":
                    t2 = "rss <= 0.5"
                    v2 = "-" if r2 is None else ("met" if r2 <= 0.5 else "missed")
                out.append(["%s %s" % (name, lab), "B", a2, b2, r2, None, None, None, t2, v2])
    return out


HEAD = ["metric", "unit", "ours", "ref", "ratio", "instr ours", "instr ref", "ratio",
        "target", "met/missed"]


def table_lines(entry, ref):
    lines = []
    rs = rows(entry, ref)
    cells = [[r[0], r[1], fmt(r[2], 1), fmt(r[3], 1), fmt(r[4], 2), fmt(r[5]), fmt(r[6]),
              fmt(r[7], 2), r[8], r[9]] for r in rs]
    w = [max(len(str(c[i])) for c in cells + [HEAD]) for i in range(len(HEAD))]
    lines.append(" | ".join(h.ljust(w[i]) for i, h in enumerate(HEAD)))
    lines.append("-|-".join("-" * x for x in w))
    for c in cells:
        lines.append(" | ".join(str(v).ljust(w[i]) for i, v in enumerate(c)))
    return lines


def refs_of(entry):
    return [r for r in ("pypi", "debian") if r in entry["impls"]]


def print_tables(data, labels):
    for label in labels:
        e = data["interpreters"][label]
        for ref in refs_of(e):
            v = e["impls"]
            log("\n## %s (Python %s, %s run, %d rounds, %.0f s): ours greenlet %s vs %s greenlet %s%s"
                % (label, e["python_version"], e["mode"], e["rounds"], e["runtime_s"],
                   v["ours"]["greenlet_version"], ref, v[ref]["greenlet_version"],
                   ", gevent %s" % v["pypi"]["gevent_version"] if ref == "pypi" and v["pypi"]["gevent_version"] else ""))
            for ln in table_lines(e, ref):
                log(ln)


def main():
    t0 = time.time()
    pys = interpreters()
    if not pys:
        raise SystemExit("no interpreter found (tests/pythons.sh)")
    data = {"interpreters": {}}
    if os.path.exists(JSON_OUT):
        try:
            with open(JSON_OUT) as f:
                data = json.load(f)
        except ValueError:
            pass
    data["machine"] = {"uname": " ".join(platform.uname()), "cpus": os.cpu_count()}
    done = []
    for label, py in pys:
        data["interpreters"][label] = bench_interpreter(label, py)
        done.append(label)
        os.makedirs(os.path.dirname(JSON_OUT), exist_ok=True)
        with open(JSON_OUT, "w") as f:
            json.dump(data, f, indent=1, sort_keys=True)
        print_tables(data, [label])
    log("\n==== summary of this run (%s)" % ", ".join(done))
    print_tables(data, done)
    log("\nbench-python: %d interpreter(s) in %.0f s; figures in %s"
        % (len(done), time.time() - t0, os.path.relpath(JSON_OUT, ROOT)))


if __name__ == "__main__":
    main()
