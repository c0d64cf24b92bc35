"""The gevent part of `make demo`: one HTTP server, two greenlets, a table.

    python3 demo.py --ours DIR [--rounds 4] [--duration 3] [--warmup 0.5]
                    [--conns 200] [--verdict-file FILE]

DIR is a directory on which `import greenlet` finds cgreenlet's module.
Each round starts server.py twice -- once with PYTHONPATH=DIR (ours), once
without it (the stock greenlet of this interpreter) -- in alternating
order, and drives each with load.py (always on the stock greenlet, so the
load side does not change).  Before sending load it checks the greenlet
file the server reports: ours must come from DIR, stock must not.

Per run it records requests/s, p50/p99 latency, the server's CPU time per
request, its peak RSS (VmHWM in /proc/PID/status, read just before the
server is stopped) and the peak of greenlets alive that the server counted.
The table shows the median of the rounds (peaks: the largest).

The verdict compares requests/s when the server was CPU-bound (busy at
least 80% of one CPU): then requests/s measures the server.  Otherwise
something else set the pace (the machine's other load, the clients), and
requests/s says little about the greenlet; the verdict then compares the server's CPU time
per request, i.e. requests per CPU-second, which does not depend on how
much CPU the server was given.  Either way it says "too close to call"
when the medians differ by less than 3% or the same side is not ahead in
most rounds (rounds pair one run of each).

Every child is stopped before this returns, also on errors and ^C; the
server additionally exits by itself if this process goes away.
"""

import argparse
import json
import os
import select
import signal
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
CLOSE_CALL = 0.03   # relative difference below which there is no winner
CPU_BOUND = 0.80    # server busy fraction from which requests/s is compared


class DemoError(Exception):
    pass


def child_env(pythonpath):
    """The environment for a child: ours on the path only when asked."""
    env = dict(os.environ)
    env.pop("PYTHONPATH", None)
    env["PYTHONNOUSERSITE"] = "1"
    if pythonpath:
        env["PYTHONPATH"] = pythonpath
    return env


def read_line(proc, timeout):
    """The first line proc writes on stdout, or DemoError after timeout."""
    ready, _, _ = select.select([proc.stdout], [], [], timeout)
    if not ready:
        raise DemoError("the server did not start within %d s" % timeout)
    line = proc.stdout.readline()
    if not line:
        raise DemoError("the server exited at start (status %s)"
                        % proc.wait())
    return line


def peak_rss_kb(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    raise DemoError("no VmHWM in /proc/%d/status" % pid)


def stop(proc):
    """Ends a child we started: SIGTERM, then SIGKILL after 5 s."""
    if proc is None or proc.poll() is not None:
        return
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(5)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def run_once(kind, ours_dir, args, label):
    """Serves one timed load with the `kind` ("ours"/"stock") greenlet."""
    server = load = None
    try:
        server = subprocess.Popen(
            [sys.executable, os.path.join(HERE, "server.py"),
             "--max-seconds", str(args.warmup + args.duration + 60)],
            env=child_env(ours_dir if kind == "ours" else None),
            stdout=subprocess.PIPE, text=True)
        info = json.loads(read_line(server, 30))
        where = info["greenlet_file"]
        inside = where.startswith(os.path.realpath(ours_dir) + os.sep)
        if inside != (kind == "ours") or (
                ("cgreenlet" in info["greenlet_version"]) != (kind == "ours")):
            raise DemoError("the %s server imported greenlet from %s"
                            % (kind, where))
        load = subprocess.Popen(
            [sys.executable, os.path.join(HERE, "load.py"), str(info["port"]),
             "--conns", str(args.conns), "--warmup", str(args.warmup),
             "--duration", str(args.duration),
             "--server-pid", str(server.pid), "--label", label],
            env=child_env(None), stdout=subprocess.PIPE, text=True)
        try:
            out, _ = load.communicate(timeout=args.warmup + args.duration + 30)
        except subprocess.TimeoutExpired:
            raise DemoError("the load generator did not finish in time")
        if load.returncode != 0:
            raise DemoError("the load generator failed (status %d)"
                            % load.returncode)
        if server.poll() is not None:
            raise DemoError("the %s server died (status %d)"
                            % (kind, server.returncode))
        result = json.loads(out)
        if not result["requests"] or "server_cpu_us_per_req" not in result:
            raise DemoError("the %s server answered no requests" % kind)
        result["busy"] = result["server_cpu_s"] / args.duration
        result["rss_kb"] = peak_rss_kb(server.pid)
        result["greenlet_file"] = where
        result["greenlet_version"] = info["greenlet_version"]
        return result
    finally:
        stop(load)
        stop(server)


def fmt_int(x):
    return "{:,.0f}".format(x)


def fmt_ms(x):
    return "{:.1f}".format(x)


def table(ours, stock, args, t0):
    """Prints `metric  ours  reference  ratio` rows; returns the medians."""
    def med(runs, key):
        return statistics.median(r[key] for r in runs)

    def peak(runs, key):
        return max(r[key] for r in runs)

    rows = [
        ("requests/s", med, "rps", fmt_int),
        ("latency p50 (ms)", med, "p50_ms", fmt_ms),
        ("latency p99 (ms)", med, "p99_ms", fmt_ms),
        ("server CPU per request (us)", med, "server_cpu_us_per_req", fmt_ms),
        ("server busy (% of a CPU)", med, "busy",
         lambda f: "{:.0f}".format(100 * f)),
        ("peak memory, server RSS (MB)", peak, "rss_kb",
         lambda kb: "{:.1f}".format(kb / 1024)),
        ("greenlets alive (peak)", peak, "greenlets_peak", fmt_int),
    ]
    for runs in (ours, stock):
        for r in runs:
            r["greenlets_peak"] = r["server"]["greenlets_peak"]
    ref_name = "greenlet " + stock[0]["greenlet_version"]
    print("  %-30s %12s %16s %7s" % ("metric", "cgreenlet", ref_name, "ratio"))
    values = {}
    for title, how, key, fmt in rows:
        a, b = how(ours, key), how(stock, key)
        values[key] = (a, b)
        ratio = "%.2fx" % (a / b) if b else "-"
        print("  %-30s %12s %16s %7s" % (title, fmt(a), fmt(b), ratio))
    errors = sum(r["errors"] for r in ours + stock)
    print("  (ratio = cgreenlet / stock; median of %d round(s) of %g s, peaks "
          "the largest; %d client errors; %.0f s in all)"
          % (args.rounds, args.duration, errors, time.time() - t0))
    return values, ref_name


def verdict(ours, stock, values, ref_name):
    """The one-line verdict (see the module docstring for the rule)."""
    rounds = len(ours)
    busy = statistics.median(r["busy"] for r in ours + stock)
    if busy >= CPU_BOUND:
        rps_a, rps_b = values["rps"]
        ratio = rps_a / rps_b
        ahead = sum(a["rps"] > b["rps"] for a, b in zip(ours, stock))
        what = "requests/s"
        detail = ("%s vs %s req/s; the server was CPU-bound"
                  % (fmt_int(rps_a), fmt_int(rps_b)))
    else:
        cpu_a, cpu_b = values["server_cpu_us_per_req"]
        ratio = cpu_b / cpu_a
        key = "server_cpu_us_per_req"
        ahead = sum(a[key] < b[key] for a, b in zip(ours, stock))
        what = "requests per server CPU-second"
        detail = ("%.0f vs %.0f us of server CPU per request; requests/s "
                  "not compared: the server was busy only %.0f%% of the time, "
                  "so it did not set the pace" % (cpu_a, cpu_b, 100 * busy))
    won = ahead if ratio >= 1 else rounds - ahead   # rounds won by the
    if abs(ratio - 1) < CLOSE_CALL or 2 * won <= rounds:  # better median
        return ("verdict: too close to call -- cgreenlet gets %.2fx the %s of "
                "%s, ahead in %d of %d rounds (%s)"
                % (ratio, what, ref_name, ahead, rounds, detail))
    if ratio >= 1:
        return ("verdict: cgreenlet is faster -- %.2fx the %s of %s, ahead in "
                "%d of %d rounds (%s)"
                % (ratio, what, ref_name, won, rounds, detail))
    return ("verdict: %s is faster -- %.2fx the %s of cgreenlet, ahead in "
            "%d of %d rounds (%s)"
            % (ref_name, 1 / ratio, what, won, rounds, detail))


def gevent_version():
    out = subprocess.run([sys.executable, "-c",
                          "import gevent; print(gevent.__version__)"],
                         env=child_env(None), capture_output=True, text=True)
    return out.stdout.strip() or "?"


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--ours", required=True)
    ap.add_argument("--rounds", type=int, default=4)
    ap.add_argument("--duration", type=float, default=3.0)
    ap.add_argument("--warmup", type=float, default=0.5)
    ap.add_argument("--conns", type=int, default=200)
    ap.add_argument("--verdict-file")
    args = ap.parse_args()

    print("gevent %s HTTP server (gevent.pywsgi, a helper greenlet per "
          "request), %d concurrent keep-alive gevent clients, 127.0.0.1; "
          "%d round(s), each serving %g s on cgreenlet and %g s on the stock "
          "greenlet" % (gevent_version(), args.conns, args.rounds,
                        args.duration, args.duration), flush=True)
    runs = {"ours": [], "stock": []}
    tty = sys.stderr.isatty()
    t0 = time.time()
    for rnd in range(args.rounds):
        order = ("ours", "stock") if rnd % 2 == 0 else ("stock", "ours")
        for kind in order:
            label = "round %d/%d  %-5s" % (rnd + 1, args.rounds, kind)
            r = run_once(kind, args.ours, args, label)
            runs[kind].append(r)
            if tty:
                sys.stderr.write("\r\033[K")
            print("  %s  %7s req/s  p50 %5s ms  p99 %5s ms  %4.0f us CPU/req"
                  " (busy %3.0f%%)  RSS %4.1f MB  %s greenlets"
                  % (label, fmt_int(r["rps"]), fmt_ms(r["p50_ms"]),
                     fmt_ms(r["p99_ms"]), r["server_cpu_us_per_req"],
                     100 * r["busy"], r["rss_kb"] / 1024,
                     r["server"]["greenlets_peak"]),
                  flush=True)
    print()
    for kind in ("ours", "stock"):
        r = runs[kind][0]
        print("  %-5s server: greenlet %s from %s"
              % (kind, r["greenlet_version"], r["greenlet_file"]))
    values, ref_name = table(runs["ours"], runs["stock"], args, t0)
    line = verdict(runs["ours"], runs["stock"], values, ref_name)
    if args.verdict_file:
        with open(args.verdict_file, "w") as f:
            f.write(line + "\n")
    else:
        print(line)


def on_sigterm(signum, frame):
    raise KeyboardInterrupt   # unwinds through run_once, which stops children


if __name__ == "__main__":
    signal.signal(signal.SIGTERM, on_sigterm)
    try:
        main()
    except DemoError as e:
        sys.stderr.write("\ngevent demo: %s\n" % e)
        sys.exit(1)
    except KeyboardInterrupt:
        sys.exit(130)
