"""A small gevent HTTP server for the demo: gevent.pywsgi, HTTP/1.1 keep-alive.

    python3 server.py [--max-seconds N]

It binds 127.0.0.1 on a free port, then prints one JSON line on stdout:
    {"port": ..., "pid": ..., "greenlet_file": ..., "greenlet_version": ...}
so the driver can check which greenlet module it runs on (ours or stock;
that is decided only by PYTHONPATH) before any load is sent.

Each connection is served by its own greenlet (pywsgi spawns one); each
request additionally spawns a helper greenlet standing in for a backend
call, and waits for it.  The server counts the greenlets it has alive
(connection handlers plus helpers) and keeps the peak; GET /stats returns
{"requests": ..., "greenlets_peak": ..., "greenlets_now": ...}.

The process stops on SIGTERM (the driver sends it), and by itself after
--max-seconds or when its parent goes away, so it never outlives a demo.
"""

import argparse
import json
import os
import sys

import gevent
import greenlet
from gevent.pywsgi import WSGIServer


class Counts:
    """Greenlets alive in this server, their peak, and requests served."""

    def __init__(self):
        self.alive = 0
        self.peak = 0
        self.requests = 0

    def enter(self):
        self.alive += 1
        if self.alive > self.peak:
            self.peak = self.alive

    def leave(self):
        self.alive -= 1


counts = Counts()


def backend(path):
    """The helper greenlet: yields to the hub once (as a real backend call
    would, waiting for I/O), then builds the response body."""
    counts.enter()
    try:
        gevent.sleep(0)
        return b'{"path": "%s", "n": %d}\n' % (path.encode(), counts.requests)
    finally:
        counts.leave()


def app(environ, start_response):
    path = environ["PATH_INFO"]
    if path == "/stats":
        body = json.dumps({
            "requests": counts.requests,
            "greenlets_peak": counts.peak,
            "greenlets_now": counts.alive,
        }).encode() + b"\n"
    else:
        counts.requests += 1
        body = gevent.spawn(backend, path).get()
    start_response("200 OK", [("Content-Type", "application/json"),
                              ("Content-Length", str(len(body)))])
    return [body]


class CountingServer(WSGIServer):
    """pywsgi's server, counting the greenlet that serves each connection."""

    def handle(self, sock, address):
        counts.enter()
        try:
            WSGIServer.handle(self, sock, address)
        finally:
            counts.leave()


def watchdog(max_seconds):
    """Ends the process after max_seconds, or as soon as the parent is gone."""
    parent = os.getppid()
    for _ in range(int(max_seconds * 4)):
        gevent.sleep(0.25)
        if os.getppid() != parent:
            break
    os._exit(3)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--max-seconds", type=float, default=120.0)
    args = ap.parse_args()

    server = CountingServer(("127.0.0.1", 0), app, log=None, backlog=1024)
    server.start()
    gevent.spawn(watchdog, args.max_seconds)
    print(json.dumps({
        "port": server.server_port,
        "pid": os.getpid(),
        "greenlet_file": os.path.realpath(greenlet.__file__),
        "greenlet_version": greenlet.__version__,
        "python": sys.version.split()[0],
    }), flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
