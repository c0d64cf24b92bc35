"""Greenlets and OS threads: cross-thread refusals, reading other threads'
greenlets, thread exit, releases from another thread, scale
(docs/behaviour.md: S73-S76, S82-S88, S111; H11-H13)."""
import contextvars
import gc
import os
import sys
import threading
import time
import unittest
import weakref

import greenlet
from support import GreenletTest, QEMU, QEMU_THREAD_RSS, run_python

LIGHT = bool(os.environ.get("CG_TEST_LIGHT"))
TIMEOUT = 60            # seconds: every wait and join is bounded by this
DEAD_THREAD = "cannot switch to a different thread (which happens to have exited)"


def wait_for(cond, tries=500):
    """Bounded retry for thread-exit cleanup, which may finish shortly
    after join() (S85): calls a greenlet API between tries."""
    for _ in range(tries):
        greenlet.getcurrent()
        if cond():
            return True
        time.sleep(0.01)
    greenlet.getcurrent()
    return cond()


class Worker:
    """A thread running `fn()`; join() re-raises what it raised and returns
    what it returned."""

    def __init__(self, fn, start=True):
        self.fn = fn
        self.result = None
        self.error = None
        self.thread = threading.Thread(target=self._run, daemon=True)
        if start:
            self.thread.start()

    def _run(self):
        try:
            self.result = self.fn()
        except BaseException as e:  # handed to the test thread
            self.error = e

    def join(self):
        self.thread.join(TIMEOUT)
        if self.thread.is_alive():
            raise AssertionError("thread did not finish in %ds" % TIMEOUT)
        if self.error is not None:
            e, self.error = self.error, None
            raise e
        return self.result


class Parked:
    """A thread that runs setup(), then waits (blocked, alive) until
    finish() is called, then runs teardown(setup's result) and exits."""

    def __init__(self, setup, teardown=None):
        self.setup = setup
        self.teardown = teardown
        self.ready = threading.Event()
        self.go = threading.Event()
        self.value = None
        self.worker = Worker(self._run)
        if not self.ready.wait(TIMEOUT):
            raise AssertionError("thread setup did not finish")
        if self.worker.error is not None:
            self.worker.join()

    def _run(self):
        try:
            self.value = self.setup()
        finally:
            self.ready.set()
        if not self.go.wait(TIMEOUT):
            raise AssertionError("never released")
        if self.teardown is not None:
            return self.teardown(self.value)
        return None

    def finish(self):
        self.go.set()
        return self.worker.join()


def park_one():
    """In the calling thread: a greenlet suspended in `run` (it switched
    back to the thread's main greenlet). Returns (main, g)."""
    main = greenlet.getcurrent()

    def park():
        return main.switch("parked")

    g = greenlet.greenlet(park)
    assert g.switch() == "parked"
    return main, g


class CrossThreadSwitchTest(GreenletTest):
    def assertCrossThread(self, cm):
        msg = str(cm.exception)
        self.assertTrue(msg.lower().startswith("cannot switch to a different thread"), msg)
        self.assertNotEqual(msg, DEAD_THREAD)

    def test_switch_and_throw_into_live_thread_refused(self):  # S73 S25 S63
        p = Parked(park_one, lambda mg: mg[1].switch("bye"))
        other_main, g = p.value
        here = greenlet.getcurrent()
        try:
            for target in (g, other_main):
                with self.assertRaises(greenlet.error) as cm:
                    target.switch(1)
                self.assertCrossThread(cm)
                with self.assertRaises(greenlet.error) as cm:
                    target.throw(ValueError)
                self.assertCrossThread(cm)
                with self.assertRaises(greenlet.error) as cm:
                    target.throw()
                self.assertCrossThread(cm)
                # S25: the caller stays current, the target stays intact.
                self.assertIs(greenlet.getcurrent(), here)
                self.assertTrue(target)
                self.assertFalse(target.dead)
        finally:
            self.assertEqual(p.finish(), "bye")
        del cm

    def test_switch_through_dead_greenlet_into_live_thread_refused(self):  # S73 S21
        def setup():
            main = greenlet.getcurrent()
            d = greenlet.greenlet(lambda: 5)
            assert d.switch() == 5 and d.dead
            return main, d

        p = Parked(setup)
        main, d = p.value
        try:
            with self.assertRaises(greenlet.error) as cm:
                d.switch(1)
            self.assertCrossThread(cm)
            with self.assertRaises(greenlet.error) as cm:
                d.throw(ValueError)
            self.assertCrossThread(cm)
            self.assertTrue(d.dead)
        finally:
            p.finish()
        del cm

    def test_not_started_with_parent_in_other_thread(self):  # S39 S73 S25
        ran = []
        p = Parked(park_one, lambda mg: mg[1].switch())
        other_main, other_g = p.value
        try:
            for parent in (other_main, other_g):
                g = greenlet.greenlet(lambda: ran.append(1))
                g.parent = parent       # S39: allowed while not started
                self.assertIs(g.parent, parent)
                with self.assertRaises(greenlet.error) as cm:
                    g.switch()
                self.assertCrossThread(cm)
                with self.assertRaises(greenlet.error) as cm:
                    g.throw(ValueError)
                self.assertCrossThread(cm)
                # Still not started; its run was never called.
                self.assertFalse(g.dead)
                self.assertFalse(g)
                self.assertTrue(repr(g).endswith(" pending>"), repr(g))
                self.assertEqual(ran, [])
                # Given a parent of this thread again, it starts normally.
                g.parent = greenlet.getcurrent()
                g.switch()
                self.assertEqual(ran, [1])
                del ran[:]
        finally:
            p.finish()
        del cm

    def test_started_greenlet_cannot_move_to_other_thread(self):  # S38 S39
        p = Parked(park_one, lambda mg: mg[1].switch())
        other_main = p.value[0]
        try:
            _, g = park_one()
            with self.assertRaises(ValueError) as cm:
                g.parent = other_main
            self.assertEqual(str(cm.exception), "parent cannot be on a different thread")
            self.assertIs(g.parent, greenlet.getcurrent())
            g.switch()
            self.assertTrue(g.dead)
        finally:
            p.finish()
        del cm

    def test_each_thread_has_own_main_and_current(self):  # S76 S64
        here = greenlet.getcurrent()

        def body():
            m = greenlet.getcurrent()
            assert m is not here and m.parent is None and m
            seen = []
            g = greenlet.greenlet(lambda: seen.append(greenlet.getcurrent()))
            g.switch()
            assert seen == [g] and greenlet.getcurrent() is m
            return m

        w = Worker(body)
        self.assertIsNot(w.join(), here)
        self.assertIs(greenlet.getcurrent(), here)


class ReadOtherThreadTest(GreenletTest):
    def test_read_attributes_of_other_threads_greenlets(self):  # S76 S54 S47 S111
        inner_ready = threading.Event()
        inner_go = threading.Event()

        def setup():
            main = greenlet.getcurrent()
            main.tag = "other-main"
            var = contextvars.ContextVar("v", default="unset")

            def susp():
                var.set("susp")
                main.switch()
                return var.get()

            s = greenlet.greenlet(susp)
            s.switch()
            n = greenlet.greenlet(lambda: None)
            d = greenlet.greenlet(lambda: None)
            d.switch()

            def blocker():
                inner_ready.set()
                inner_go.wait(TIMEOUT)
                return "unblocked"

            # Runs in the background while this thread blocks inside it.
            r = greenlet.greenlet(blocker)
            holder = {"main": main, "s": s, "n": n, "d": d, "r": r, "var": var}
            return holder

        holder_box = []

        def run_thread():
            h = setup()
            holder_box.append(h)
            out = h["r"].switch()   # blocks in `blocker` until inner_go
            # back here after the test read everything
            val = h["s"].switch()   # s returns whatever var it sees
            return out, val

        w = Worker(run_thread)
        try:
            self.assertTrue(inner_ready.wait(TIMEOUT))
            h = holder_box[0]
            main, s, n, d, r = h["main"], h["s"], h["n"], h["d"], h["r"]
            var = h["var"]
            # The other thread's main greenlet: active, not current here.
            self.assertFalse(main.dead)
            self.assertTrue(main)
            self.assertIsNone(main.parent)
            self.assertEqual(main.tag, "other-main")
            self.assertTrue(repr(main).endswith(" suspended active started main>"), repr(main))
            fr = main.gr_frame
            self.assertIsNotNone(fr)    # suspended: it switched into r
            while fr.f_back is not None:
                fr = fr.f_back
            del fr
            # The greenlet running in the other thread right now.
            self.assertFalse(r.dead)
            self.assertTrue(r)
            self.assertIsNone(r.gr_frame)
            self.assertIs(r.parent, main)
            self.assertTrue(repr(r).endswith(" suspended active started>"), repr(r))
            with self.assertRaises(ValueError):
                r.gr_context                            # S111
            with self.assertRaises(ValueError):
                r.gr_context = contextvars.Context()    # S111
            # A suspended one.
            self.assertTrue(s)
            self.assertFalse(s.dead)
            self.assertEqual(s.gr_frame.f_code.co_name, "susp")
            self.assertGreaterEqual(s._stack_saved, 0)
            self.assertTrue(repr(s).endswith(" suspended active started>"), repr(s))
            ctx = s.gr_context                          # S111: allowed
            self.assertIsInstance(ctx, contextvars.Context)
            self.assertEqual(ctx[var], "susp")
            # Assigning a suspended greenlet's context from here takes
            # effect when its own thread resumes it.
            new = contextvars.Context()
            new.run(var.set, "from-test-thread")
            s.gr_context = new
            self.assertIs(s.gr_context, new)
            # Not started and dead ones.
            self.assertFalse(n)
            self.assertFalse(n.dead)
            self.assertTrue(repr(n).endswith(" pending>"), repr(n))
            self.assertTrue(d.dead)
            self.assertFalse(d)
            self.assertIsNone(d.gr_frame)
            self.assertTrue(repr(d).endswith(" dead>"), repr(d))
            self.assertIsNone(n.gr_context)
            # otid: equal for greenlets of one thread, other than ours.
            def otid(g):
                return repr(g).split("(otid=")[1].split(")")[0]
            self.assertEqual(len({otid(x) for x in (main, s, n, d, r)}), 1)
            self.assertNotEqual(otid(main), otid(greenlet.getcurrent()))
        finally:
            inner_go.set()
            out, val = w.join()
        self.assertEqual(out, "unblocked")
        del ctx, new, h, holder_box[:]
        # s ran to its end in its own thread, in the context set from here.
        self.assertEqual(val, "from-test-thread")


class ThreadExitTest(GreenletTest):
    def _exited_thread(self):
        """Runs a thread that leaves greenlets in every state and exits
        without calling any greenlet API at the end (S87)."""
        log = []

        def body():
            main = greenlet.getcurrent()

            def plain():
                try:
                    main.switch("plain")
                    log.append("plain resumed")
                finally:
                    log.append("plain finally")

            def in_except():
                try:
                    raise KeyError("handled")
                except KeyError:
                    try:
                        main.switch("except")
                    except BaseException as e:
                        log.append(("except got", type(e)))
                        raise
                    finally:
                        log.append("except finally")

            def outer():
                try:
                    inner = greenlet.greenlet(deep)
                    inner.switch()
                finally:
                    log.append("outer finally")

            def deep():
                try:
                    main.switch("deep")
                finally:
                    log.append("deep finally")

            a = greenlet.greenlet(plain)
            assert a.switch() == "plain"
            b = greenlet.greenlet(in_except)
            assert b.switch() == "except"
            c = greenlet.greenlet(outer)
            assert c.switch() == "deep"
            inner = c.gr_frame.f_locals["inner"]
            n = greenlet.greenlet(lambda: log.append("n ran"))
            d = greenlet.greenlet(lambda: "done")
            assert d.switch() == "done"
            return {"main": main, "a": a, "b": b, "c": c, "inner": inner,
                    "n": n, "d": d}

        gs = Worker(body).join()
        return gs, log

    def test_thread_exit_kills_nothing_and_marks_dead(self):  # S85 S86 S87 S44 S45 S47 S53 S54
        gs, log = self._exited_thread()
        main = gs["main"]
        suspended = [gs[k] for k in ("a", "b", "c", "inner")]
        started = suspended + [main]

        def all_cleaned():
            return all(g.dead and not g and g.gr_frame is None and g._stack_saved == 0
                       for g in started)

        self.assertTrue(wait_for(all_cleaned),
                        [(repr(g), g.dead, bool(g), g.gr_frame, g._stack_saved)
                         for g in started])
        # S85: none of their code ran: no GreenletExit, no finally.
        self.assertEqual(log, [])
        for g in started:
            self.assertTrue(repr(g).endswith(" (thread exited) dead>"), repr(g))
            self.assertTrue(g.dead)
            self.assertFalse(g)
            self.assertIsNone(g.gr_frame)
            self.assertEqual(g._stack_saved, 0)
        # S33: parents are kept.
        self.assertIsNone(main.parent)
        for k in ("a", "b", "c", "n", "d"):
            self.assertIs(gs[k].parent, main)
        self.assertIs(gs["inner"].parent, gs["c"])
        # S86: the dead finished greenlet and the not-started one.
        self.assertTrue(gs["d"].dead)
        self.assertTrue(repr(gs["d"]).endswith(" dead>"))
        n = gs["n"]
        self.assertFalse(n.dead)        # S44: stays not started
        self.assertFalse(n)
        self.assertTrue(repr(n).endswith(" pending>"), repr(n))
        self.assertEqual(log, [])

    def test_thread_exit_releases_frames(self):  # S85 S118
        class Marker:
            pass

        box = []

        def body():
            main = greenlet.getcurrent()

            def run():
                local = Marker()
                box.append(weakref.ref(local))
                try:
                    raise KeyError("being handled")
                except KeyError:
                    main.switch()

            g = greenlet.greenlet(run)
            g.switch()
            return g

        g = Worker(body).join()
        self.assertTrue(wait_for(lambda: g.dead and g.gr_frame is None))
        # Its frames were released (S85): their locals are freed at the
        # latest once the greenlet object goes.
        del g
        self.assertTrue(wait_for(lambda: (gc.collect(), box[0]() is None)[1]),
                        "a local of the suspended frame is still alive")

    def test_switch_into_exited_thread_refused(self):  # S74 S85 S39 S63
        gs, log = self._exited_thread()
        self.assertTrue(wait_for(lambda: gs["main"].dead and gs["a"].dead))
        here = greenlet.getcurrent()
        for k in ("main", "a", "b", "c", "inner", "n"):
            g = gs[k]
            with self.assertRaises(greenlet.error) as cm:
                g.switch(1)
            self.assertEqual(str(cm.exception), DEAD_THREAD, k)
            with self.assertRaises(greenlet.error) as cm:
                g.throw(ValueError)
            self.assertEqual(str(cm.exception), DEAD_THREAD, k)
            with self.assertRaises(greenlet.error) as cm:
                g.throw()
            self.assertEqual(str(cm.exception), DEAD_THREAD, k)
            self.assertIs(greenlet.getcurrent(), here)
        # A dead greenlet of that thread: delivery to its parent chain
        # reaches the exited thread.
        with self.assertRaises(greenlet.error):
            gs["d"].switch(1)
        # A not-started greenlet of ours re-parented onto a dead thread's
        # greenlet (S39): refused when switched into, never run.
        ran = []
        for k in ("main", "a", "d"):
            g = greenlet.greenlet(lambda: ran.append(1))
            g.parent = gs[k]
            with self.assertRaises(greenlet.error) as cm:
                g.switch()
            self.assertEqual(str(cm.exception), DEAD_THREAD, k)
            self.assertFalse(g.dead)
        self.assertEqual(ran, [])
        self.assertEqual(log, [])
        del cm

    def test_exited_thread_greenlets_readable_and_context(self):  # S86 S111
        gs, log = self._exited_thread()
        self.assertTrue(wait_for(lambda: gs["a"].dead))
        for g in gs.values():
            repr(g), bool(g), g.dead, g.parent, g.gr_frame, g._stack_saved
            g.gr_context                    # dead: readable (S111)
            ctx = contextvars.Context()
            g.gr_context = ctx              # and assignable
            self.assertIs(g.gr_context, ctx)
            g.gr_context = None
        self.assertEqual(log, [])

    def test_locals_released_at_thread_end_are_killed(self):  # S88 S77
        log = []

        def body():
            me = threading.get_ident()
            main = greenlet.getcurrent()

            def run(name):
                try:
                    main.switch()
                except greenlet.GreenletExit:
                    log.append((name, "exit", threading.get_ident() == me))
                    raise
                finally:
                    log.append((name, "finally", threading.get_ident() == me))

            early = greenlet.greenlet(run)
            early.switch("early")
            del early                       # released while the thread runs
            log.append("after del")
            late = greenlet.greenlet(run)
            late.switch("late")             # released when body returns

        Worker(body).join()
        self.assertEqual(log, [("early", "exit", True), ("early", "finally", True),
                               "after del",
                               ("late", "exit", True), ("late", "finally", True)])


class ReleaseFromOtherThreadTest(GreenletTest):
    def _thread_a(self, run, after_release):
        """Thread A parks greenlet(run), hands it over, waits, then runs
        after_release() and returns its result."""
        ready = threading.Event()
        go = threading.Event()
        box = []

        def body():
            main = greenlet.getcurrent()
            g = greenlet.greenlet(run)
            g.switch(main)
            box.append(g)
            del g
            ready.set()
            if not go.wait(TIMEOUT):
                raise AssertionError("not released")
            return after_release()

        w = Worker(body)
        self.assertTrue(ready.wait(TIMEOUT))
        return w, box, go

    def test_released_in_other_thread_killed_in_own(self):  # S82 S65 S77
        log = []
        a_ident = []

        def run(main):
            a_ident.append(threading.get_ident())
            try:
                main.switch()
            except greenlet.GreenletExit as e:
                log.append(("exit", threading.get_ident(), str(e)))
                raise
            finally:
                log.append(("finally", threading.get_ident()))

        def after():
            before = list(log)
            cur = greenlet.getcurrent()     # A's next greenlet operation
            return before, cur.parent is None, list(log)

        w, box, go = self._thread_a(run, after)
        wr = weakref.ref(box[0])
        box.clear()                 # the last reference, dropped here (B)
        gc.collect()
        greenlet.getcurrent()
        # S82: nothing ran in B; the greenlet is kept until A acts.
        self.assertEqual(log, [])
        self.assertIsNotNone(wr())
        go.set()
        before, is_main, seen = w.join()
        self.assertEqual(before, [])
        self.assertTrue(is_main)
        a = a_ident[0]
        self.assertEqual(seen, [("exit", a, "Killing the greenlet because all references have vanished."),
                                ("finally", a)])
        self.assertTrue(wait_for(lambda: wr() is None))

    def test_deferred_kill_error_goes_to_unraisablehook(self):  # S82
        hooked = []
        old = sys.unraisablehook
        sys.unraisablehook = lambda u: hooked.append((u.exc_type, threading.get_ident()))
        self.addCleanup(setattr, sys, "unraisablehook", old)

        def run(main):
            try:
                main.switch()
            except greenlet.GreenletExit:
                raise ValueError("from the kill")

        def after():
            try:
                raise KeyError("pending in A")
            except KeyError:
                greenlet.getcurrent()
                kept = sys.exc_info()[0]
            return kept, threading.get_ident()

        w, box, go = self._thread_a(run, after)
        box.clear()
        self.assertEqual(hooked, [])
        go.set()
        kept, a = w.join()
        self.assertIs(kept, KeyError)       # S82: A's own exception kept
        self.assertEqual(hooked, [(ValueError, a)])

    def test_queued_release_discarded_when_thread_exits(self):  # S83 S85
        log = []

        def run(main):
            try:
                main.switch()
            finally:
                log.append("finally")

        # A exits without any greenlet operation after the release.
        w, box, go = self._thread_a(run, lambda: None)
        wr = weakref.ref(box[0])
        box.clear()
        go.set()
        w.join()
        self.assertTrue(wait_for(lambda: wr() is None))
        self.assertEqual(log, [])


class ConcurrencyTest(GreenletTest):
    def test_concurrent_cross_thread_switches_only_raise_error(self):  # H12 S76 S73
        n_park, n_switch = 16, 16
        rounds = 20
        iters = 2 if LIGHT else 10
        for _ in range(rounds):
            lock = threading.Lock()
            targets = []
            all_parked = threading.Event()
            stop = threading.Event()
            unexpected = []
            refused = [0]

            def parker():
                main, g = park_one()
                with lock:
                    targets.extend((main, g))
                    if len(targets) == 2 * n_park:
                        all_parked.set()
                if not stop.wait(TIMEOUT):
                    raise AssertionError("parker not stopped")
                return g.switch("bye")

            def switcher():
                if not all_parked.wait(TIMEOUT):
                    raise AssertionError("parkers not ready")
                me = greenlet.getcurrent()
                count = 0
                for _ in range(iters):
                    for t in targets:
                        for op in (lambda: t.switch(1), lambda: t.throw(ValueError)):
                            try:
                                op()
                            except greenlet.error:
                                count += 1
                            except BaseException as e:
                                unexpected.append(repr(e))
                            else:
                                unexpected.append("no error")
                            if greenlet.getcurrent() is not me:
                                unexpected.append("current changed")
                with lock:
                    refused[0] += count

            parkers = [Worker(parker) for _ in range(n_park)]
            switchers = [Worker(switcher) for _ in range(n_switch)]
            try:
                for w in switchers:
                    w.join()
            finally:
                stop.set()
                results = [w.join() for w in parkers]
            self.assertEqual(unexpected, [])
            self.assertEqual(refused[0], n_switch * iters * 2 * n_park * 2)
            self.assertEqual(results, ["bye"] * n_park)
            del targets[:]

    def test_many_threads_many_greenlets(self):  # H11 S76 S85 S88
        n_threads, per_thread = (10, 100) if LIGHT else (100, 1000)
        third = per_thread // 3
        kept = []
        tallies = []
        lock = threading.Lock()

        def body():
            main = greenlet.getcurrent()
            me = threading.get_ident()
            tally = {"finished": 0, "killed": 0, "finally": 0, "wrong": 0}

            def run(i):
                try:
                    v = main.switch(i)
                    tally["finished"] += 1
                    return v
                except greenlet.GreenletExit:
                    tally["killed"] += 1
                    raise
                finally:
                    tally["finally"] += 1
                    if threading.get_ident() != me or greenlet.getcurrent() is main:
                        tally["wrong"] += 1

            gs = [greenlet.greenlet(run) for _ in range(per_thread)]
            for i, g in enumerate(gs):
                if g.switch(i) != i:
                    tally["wrong"] += 1
            for g in gs[:third]:
                if g.switch("end") != "end":
                    tally["wrong"] += 1
            del g
            del gs[:third]                  # the finished ones
            mine = gs[third:]               # kept past thread exit
            del gs[:third]                  # killed here (S77, S88)
            with lock:
                kept.extend(mine)
                tallies.append(tally)

        workers = [Worker(body) for _ in range(n_threads)]
        for w in workers:
            w.join()
        self.assertEqual(len(kept), n_threads * (per_thread - 2 * third))
        self.assertTrue(wait_for(lambda: all(g.dead and g.gr_frame is None for g in kept)))
        total = {k: sum(t[k] for t in tallies) for k in tallies[0]}
        # S85: those left suspended at thread exit ran nothing more.
        self.assertEqual(total, {"finished": n_threads * third,
                                 "killed": n_threads * third,
                                 "finally": n_threads * 2 * third,
                                 "wrong": 0})
        del kept[:]


def _census():
    gc.collect()
    gc.collect()
    objs = gc.get_objects()
    kinds = {"greenlet": 0, "frame": 0, "Context": 0, "Thread": 0}
    for o in objs:
        if isinstance(o, greenlet.greenlet):
            kinds["greenlet"] += 1
        elif type(o).__name__ in kinds:
            kinds[type(o).__name__] += 1
    kinds["all"] = len(objs)
    del objs
    return kinds


class DeadThreadRepeatTest(GreenletTest):
    def test_dead_thread_greenlets_flat_memory(self):  # H13 S85 S86 S74 S39 S111
        var = contextvars.ContextVar("h13", default=None)

        def body():
            main = greenlet.getcurrent()

            def in_except():
                try:
                    raise KeyError("k")
                except KeyError:
                    main.switch()

            def plain():
                var.set("x")
                main.switch()

            out = [main]
            for run in (in_except, plain, in_except):
                g = greenlet.greenlet(run)
                g.switch()
                out.append(g)
            d = greenlet.greenlet(lambda: None)
            d.switch()
            out.append(d)
            return out

        def one_round():
            gs = Worker(body).join()
            if not wait_for(lambda: all(g.dead for g in gs)):
                raise AssertionError("not dead: %r" % gs)
            for g in gs:
                for op in (g.switch, g.throw, lambda: g.throw(ValueError("v"))):
                    try:
                        op()
                    except greenlet.error:
                        pass
                    else:
                        raise AssertionError("no error from %r" % g)
                g.dead, g.gr_frame, g.gr_context, repr(g), bool(g), g.parent
                g.gr_context = contextvars.Context()
                g.gr_context = None
                n = greenlet.greenlet(lambda: None)
                n.parent = g
                try:
                    n.switch()
                except greenlet.error as e:
                    if str(e) != DEAD_THREAD:
                        raise
                else:
                    raise AssertionError("re-parented greenlet ran")
            del gs[:]

        for _ in range(10):
            one_round()
        before = _census()
        for _ in range(100):
            one_round()
        self.assertTrue(wait_for(lambda: _census()["greenlet"] <= before["greenlet"]))
        after = _census()
        for k in ("greenlet", "frame", "Context", "Thread"):
            self.assertLessEqual(after[k], before[k], (k, before, after))
        # Flat: 100 rounds must not leave objects behind (a leak of even
        # one object per round would show as >= 100).
        self.assertLess(after["all"] - before["all"], 50, (before, after))

    def test_died_unrun_greenlet_belongs_to_its_thread(self):  # S38 S29
        # An exception passed through a not-started greenlet: it is started
        # (and dead) in this thread, so another thread's parent is refused.
        out = []

        def worker():
            g = greenlet.greenlet(lambda: greenlet.getcurrent().parent.switch())
            g.switch()
            out.append(g)

        th = threading.Thread(target=worker)
        th.start()
        th.join()

        def boom():
            raise KeyError("boom")

        n = greenlet.greenlet(lambda: None)
        c = greenlet.greenlet(boom, parent=n)
        with self.assertRaises(KeyError):
            c.switch()
        self.assertTrue(n.dead)
        with self.assertRaises(ValueError) as cm:
            n.parent = out[0]
        self.assertEqual(str(cm.exception), "parent cannot be on a different thread")
        del out[:]
    def test_frame_objects_outliving_abandoned_greenlets(self):  # S85
        # Frames of greenlets abandoned at thread exit that somebody still
        # holds (here: a list; often a traceback) stay usable, and what the
        # frames held is released exactly once (3.11+: such a frame gets a
        # copy of its data; its function was released twice at first,
        # which crashed CPython's final collection in the integration run).
        kept = []
        box = []

        def body(n):
            kept.append(sys._getframe())
            greenlet.getcurrent().parent.switch()

        def worker():
            for i in range(20):
                g = greenlet.greenlet(body)
                g.switch(i)
                box.append(g)

        before = sys.getrefcount(body)
        th = threading.Thread(target=worker)
        th.start()
        th.join()
        self.assertTrue(all(g.dead for g in box))
        del box[:]
        gc.collect()
        self.assertEqual([f.f_code.co_name for f in kept], ["body"] * 20)
        self.assertTrue(all(f.f_back is None or f.f_back.f_code for f in kept))
        del kept[:]
        gc.collect()
        self.assertEqual(sys.getrefcount(body), before)

class AbandonedMemoryTest(GreenletTest):
    @unittest.skipIf(os.environ.get("CG_TEST_ASAN"),
                     "RSS is meaningless under AddressSanitizer (freed memory "
                     "is held in its quarantine)")
    @unittest.skipIf(QEMU, QEMU_THREAD_RSS)
    def test_thread_exit_then_release_elsewhere_is_flat(self):  # S85 S86
        # A thread leaves thousands of greenlets suspended and exits; they
        # are dropped afterwards in the main thread.  Everything they
        # owned (frames, 3.11+ data-stack chunks, core objects) must be
        # freed: RSS stays flat over the rounds (it grew by ~4 KB per
        # greenlet on 3.11+ before).
        n, rounds = (500, 30) if os.environ.get("CG_TEST_LIGHT") else (2000, 100)
        code = r"""
import gc, os, threading, greenlet
N, ROUNDS = %d, %d
PAGE = os.sysconf("SC_PAGE_SIZE")
def rss():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * PAGE
def round_():
    box = []
    def worker():
        me = greenlet.getcurrent()
        def run(depth, payload):
            # (What a frame waiting on a Python callee has on its value
            # stack is known on 3.12+ only: keep unique objects out of it.)
            if depth:
                return run(depth - 1, None)
            me.switch()
        for i in range(N):
            g = greenlet.greenlet(run)
            g.switch(i %% 4, [i])
            box.append(g)
    t = threading.Thread(target=worker)
    t.start()
    t.join()
    assert all(g.dead for g in box)
    del box[:]
    gc.collect()
for i in range(ROUNDS // 10):
    round_()
before = rss()
for i in range(ROUNDS - ROUNDS // 10):
    round_()
print(before, rss())
""" % (n, rounds)
        rc, out, err = run_python(code, timeout=1800)
        self.assertEqual(rc, 0, err)
        before, after = map(int, out.split())
        self.assertLess(after - before, 8 * 2**20,
                        "RSS grew by %d bytes over %d rounds of %d abandoned greenlets"
                        % (after - before, rounds, n))


    def test_dead_greenlets_released_by_another_live_thread(self):  # S79 S82
        # Their records belong to their live thread, which destroys them at
        # its next greenlet operation or exit; nothing may reach the freed
        # objects meanwhile (ASan saw a use after free at thread exit).
        code = r"""
import gc, threading, greenlet
box = []
ready, go = threading.Event(), threading.Event()
def worker():
    for i in range(300):
        g = greenlet.greenlet(lambda i=i: i)
        assert g.switch() == i
        box.append(g)
        h = greenlet.greenlet(lambda: None)     # not started
        box.append(h)
    ready.set()
    go.wait()
    for i in range(3):
        greenlet.getcurrent()
    parked = [greenlet.greenlet(lambda: greenlet.getcurrent().parent.switch()) for _ in range(50)]
    for p in parked:
        p.switch()
for round_ in range(5):
    ready.clear()
    go.clear()
    t = threading.Thread(target=worker)
    t.start()
    ready.wait()
    del box[:]
    gc.collect()
    go.set()
    t.join()
print("ok")
"""
        rc, out, err = run_python(code, timeout=600)
        self.assertEqual((rc, out.strip()), (0, "ok"), err[-3000:])

if __name__ == "__main__":
    unittest.main()
