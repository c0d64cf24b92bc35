"""Child of test_scale: N gevent greenlets, each sleeping in a loop.

    python3 scale_child.py N [ITERATIONS]

Spawns N greenlets and waits until all have started and are suspended at
once (on an Event); then releases them: each sleeps ITERATIONS times
(1..3 ms) and counts its wake-ups; then all are joined.  Prints one JSON
line: greenlet file, count of greenlets that finished, total wake-ups,
greatest number alive at once, wall time (spawn to all joined), CPU time
and peak RSS of the process.
"""
import resource
import sys
import time

import gevent
import gevent.event
import greenlet

from integ_support import report


def main():
    n = int(sys.argv[1])
    iterations = int(sys.argv[2]) if len(sys.argv) > 2 else 3
    state = {"wakeups": 0, "alive": 0, "peak": 0}
    all_started = gevent.event.Event()
    go = gevent.event.Event()

    def worker(i):
        state["alive"] += 1
        if state["alive"] > state["peak"]:
            state["peak"] = state["alive"]
        if state["alive"] == n:
            all_started.set()
        go.wait()
        delay = 0.001 * (1 + i % 3)
        for _ in range(iterations):
            gevent.sleep(delay)
            state["wakeups"] += 1
        state["alive"] -= 1
        return i

    t0 = time.perf_counter()
    jobs = [gevent.spawn(worker, i) for i in range(n)]
    # The timeouts are bounds, never reached in a working run.
    started = all_started.wait(timeout=600)
    t_started = time.perf_counter() - t0
    go.set()
    done = gevent.joinall(jobs, timeout=600)
    wall = time.perf_counter() - t0
    finished = sum(1 for g in jobs if g.successful())
    values_ok = all(g.value == i for i, g in enumerate(jobs))
    usage = resource.getrusage(resource.RUSAGE_SELF)
    rss_kib = usage.ru_maxrss
    report(ok=(started and len(done) == n and finished == n and values_ok
               and state["wakeups"] == n * iterations and state["peak"] == n
               and state["alive"] == 0),
           n=n, joined=len(done), finished=finished, values_ok=values_ok,
           wakeups=state["wakeups"], peak_alive=state["peak"],
           wall=wall, start_phase=t_started, cpu=usage.ru_utime + usage.ru_stime,
           maxrss_kib=rss_kib, greenlet_version=greenlet.__version__)


if __name__ == "__main__":
    main()
