"""Load generator for the demo: many concurrent gevent clients, keep-alive.

    python3 load.py PORT [--conns 200] [--warmup 0.5] [--duration 3]
                         [--server-pid PID] [--label TEXT]

Opens --conns keep-alive connections to 127.0.0.1:PORT, one client greenlet
each, every client sending GET requests one after another (the next one as
soon as the response is in).  Requests that start in the first --warmup
seconds are not counted; then, for --duration seconds, every request's
latency is recorded.  While it runs, a progress line on stderr (rewritten
in place on a terminal) shows the requests so far and the current rate.

At the end it asks the server for GET /stats and prints one JSON line on
stdout: requests, seconds, rps, p50_ms, p99_ms, errors, the server's own
counts, and -- with --server-pid -- the server's CPU time per request over
the measured window (from /proc/PID/stat; unlike requests/s, this hardly
depends on what else the machine is running).  The driver runs this process with the stock greenlet in every
round, so the load side is the same whichever greenlet the server runs on.
"""

import argparse
import json
import os
import sys
import time

import gevent
from gevent import socket

REQUEST = b"GET /item HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"


class Tally:
    def __init__(self):
        self.latencies = []   # seconds, of requests started after the warmup
        self.sent = 0         # every completed request, warmup included
        self.errors = 0


def read_response(sock, buf):
    """Reads one HTTP response (Content-Length framed) from sock.

    buf holds bytes already received; returns (status line, leftover bytes)
    or raises EOFError if the server closed the connection."""
    while True:
        end = buf.find(b"\r\n\r\n")
        if end >= 0:
            head = buf[:end]
            i = head.find(b"\r\nContent-Length:")
            if i < 0:
                raise ValueError("response without Content-Length")
            j = head.find(b"\r\n", i + 2)
            length = int(head[i + 17:j if j >= 0 else end])
            total = end + 4 + length
            while len(buf) < total:
                more = sock.recv(65536)
                if not more:
                    raise EOFError
                buf += more
            return head[:head.find(b"\r\n")], buf[total:]
        more = sock.recv(65536)
        if not more:
            raise EOFError
        buf += more


def connect(port):
    """A connected socket to 127.0.0.1:port (no name lookup), or None."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.settimeout(10)
    try:
        sock.connect(("127.0.0.1", port))
    except OSError:
        sock.close()
        return None
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return sock


def client(sock, measure_from, stop_at, tally):
    """One keep-alive connection: request after request until stop_at."""
    clock = time.perf_counter
    buf = b""
    try:
        while True:
            start = clock()
            if start >= stop_at:
                break
            sock.sendall(REQUEST)
            status, buf = read_response(sock, buf)
            if not status.startswith(b"HTTP/1.1 200"):
                tally.errors += 1
                break
            tally.sent += 1
            if start >= measure_from:
                tally.latencies.append(clock() - start)
    except (OSError, EOFError, ValueError):
        tally.errors += 1
    finally:
        sock.close()


def progress(label, t0, measure_from, stop_at, tally, tty):
    """Rewrites the progress line every 0.25 s until the run ends."""
    clock = time.perf_counter
    last_t, last_n = clock(), 0
    while True:
        gevent.sleep(0.25)
        now = clock()
        rate = (tally.sent - last_n) / (now - last_t)
        last_t, last_n = now, tally.sent
        phase = "warm-up" if now < measure_from else "measuring"
        if tty:
            sys.stderr.write("\r  %s  %4.1fs  %-9s %8d requests  %7.0f req/s "
                             % (label, now - t0, phase, tally.sent, rate))
            sys.stderr.flush()
        if now >= stop_at:
            break


def cpu_seconds(pid):
    """User + system CPU time used so far by process pid, in seconds."""
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def cpu_window(pid, measure_from, stop_at, tally, out):
    """Records the server's CPU time, this process's, and the requests
    completed between measure_from and stop_at, into out["cpu_s"],
    out["own_cpu_s"] and out["completed"]."""
    clock = time.perf_counter
    gevent.sleep(max(0.0, measure_from - clock()))
    cpu0, own0, n0 = cpu_seconds(pid), sum(os.times()[:2]), tally.sent
    gevent.sleep(max(0.0, stop_at - clock()))
    out["cpu_s"] = cpu_seconds(pid) - cpu0
    out["own_cpu_s"] = sum(os.times()[:2]) - own0
    out["completed"] = tally.sent - n0


def percentile(sorted_values, fraction):
    if not sorted_values:
        return float("nan")
    i = min(len(sorted_values) - 1, int(fraction * len(sorted_values)))
    return sorted_values[i]


def server_stats(port):
    sock = socket.create_connection(("127.0.0.1", port), timeout=5)
    try:
        sock.sendall(b"GET /stats HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                     b"Connection: close\r\n\r\n")
        data = b""
        while True:
            more = sock.recv(65536)
            if not more:
                break
            data += more
    finally:
        sock.close()
    return json.loads(data[data.find(b"\r\n\r\n") + 4:])


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("port", type=int)
    ap.add_argument("--conns", type=int, default=200)
    ap.add_argument("--warmup", type=float, default=0.5)
    ap.add_argument("--duration", type=float, default=3.0)
    ap.add_argument("--server-pid", type=int, default=0)
    ap.add_argument("--label", default="")
    args = ap.parse_args()

    tally = Tally()
    # Connect every client first, so the clock starts with all of them in.
    connecting = [gevent.spawn(connect, args.port) for _ in range(args.conns)]
    gevent.joinall(connecting, timeout=15)
    socks = [g.value for g in connecting if g.value is not None]
    tally.errors += args.conns - len(socks)
    t0 = time.perf_counter()
    measure_from = t0 + args.warmup
    stop_at = measure_from + args.duration
    clients = [gevent.spawn(client, sock, measure_from, stop_at, tally)
               for sock in socks]
    ticker = gevent.spawn(progress, args.label, t0, measure_from, stop_at,
                          tally, sys.stderr.isatty())
    window = {}
    if args.server_pid:
        clients.append(gevent.spawn(cpu_window, args.server_pid,
                                    measure_from, stop_at, tally, window))
    # Every client stops by itself at stop_at; the timeout is a backstop.
    gevent.joinall(clients, timeout=args.warmup + args.duration + 15)
    gevent.killall(clients)
    ticker.kill()

    lat = sorted(tally.latencies)
    seconds = args.duration
    result = {
        "requests": len(lat),
        "seconds": seconds,
        "rps": len(lat) / seconds,
        "p50_ms": percentile(lat, 0.50) * 1000,
        "p99_ms": percentile(lat, 0.99) * 1000,
        "errors": tally.errors,
        "conns": len(socks),
        "server": server_stats(args.port),
    }
    if window.get("completed"):
        result["server_cpu_s"] = window["cpu_s"]
        result["server_cpu_us_per_req"] = (
            window["cpu_s"] / window["completed"] * 1e6)
        result["load_cpu_s"] = window["own_cpu_s"]
    print(json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
