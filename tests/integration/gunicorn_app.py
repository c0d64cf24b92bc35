"""WSGI app served by gunicorn's gevent workers in test_gunicorn.

    /info/...      JSON: which greenlet/gevent the worker uses, its pid, and
                   whether the request runs in a gevent greenlet of a
                   monkey-patched process
    /block?id=ID   marks its arrival (file arrived-ID in CG_INTEG_GATE_DIR),
                   then waits cooperatively, at most 60 s, for the file
                   "release" there; 200 if released, 504 if not
"""
import json
import os
import sys
import time

import gevent
import gevent.monkey
import greenlet

GATE = os.environ.get("CG_INTEG_GATE_DIR", "")


def _json(start_response, status, doc):
    body = json.dumps(doc).encode("utf-8")
    start_response(status, [("Content-Type", "application/json"),
                            ("Content-Length", str(len(body)))])
    return [body]


def application(environ, start_response):
    path = environ.get("PATH_INFO", "")
    query = environ.get("QUERY_STRING", "")
    if path == "/block":
        ident = query.partition("id=")[2]
        if not GATE or not ident.isalnum():
            return _json(start_response, "400 Bad Request", {"error": "bad gate"})
        open(os.path.join(GATE, "arrived-" + ident), "w").close()
        release = os.path.join(GATE, "release")
        deadline = time.monotonic() + 60
        while not os.path.exists(release) and time.monotonic() < deadline:
            time.sleep(0.01)  # patched: gevent.sleep
        released = os.path.exists(release)
        return _json(start_response, "200 OK" if released else "504 Gateway Timeout",
                     {"id": ident, "released": released, "pid": os.getpid()})
    current = greenlet.getcurrent()
    return _json(start_response, "200 OK", {
        "path": path,
        "query": query,
        "pid": os.getpid(),
        "greenlet": greenlet.__file__,
        "greenlet_version": greenlet.__version__,
        "stack_size": getattr(current, "gr_stack_size", None),
        "greenlet_ext": sys.modules["greenlet._greenlet"].__file__,
        "gevent": gevent.__file__,
        "in_gevent_greenlet": isinstance(current, gevent.Greenlet),
        "socket_patched": gevent.monkey.is_module_patched("socket"),
        "time_sleep_is_gevent": time.sleep is gevent.sleep,
    })
