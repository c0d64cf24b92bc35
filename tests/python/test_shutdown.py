"""Interpreter shutdown, fork and signals, each scenario in a fresh
interpreter (docs/behaviour.md: S89-S96; H14, H22)."""
import os
import re
import signal
import textwrap
import unittest

from support import GreenletTest, run_python, skip_if_daemon_exit_crashes

CRASH_SIGNS = ("Fatal Python error", "Segmentation fault", "Aborted",
               "core dumped", "Assertion", "SystemError")


def script(*parts):
    """Joins separately indented pieces of a program."""
    return "\n".join(textwrap.dedent(p) for p in parts)


class ShutdownTest(GreenletTest):
    def run_clean(self, code, status=0, timeout=120):
        """Runs `code` in a subprocess; asserts its exit status and that it
        did not crash; returns (stdout, stderr)."""
        rc, out, err = run_python(code, timeout=timeout)
        self.assertEqual(rc, status, "exit status %r\nstdout:\n%s\nstderr:\n%s" % (rc, out, err))
        for sign in CRASH_SIGNS:
            self.assertNotIn(sign, err)
        return out, err

    # ---- S89: atexit --------------------------------------------------

    EXERCISE = r"""
        def exercise(tag, greenlet, write):
            main = greenlet.getcurrent()
            events = []
            old = greenlet.settrace(lambda ev, args: events.append(ev))
            tracer = greenlet.gettrace()
            def child(x):
                y = main.switch(x + 1)
                return greenlet.greenlet(lambda: y * 3).switch()
            g = greenlet.greenlet(child)
            a = g.switch(1)
            b = g.switch(5)
            greenlet.settrace(old)
            def killed():
                try:
                    main.switch()
                finally:
                    write(tag + " finally")
            k = greenlet.greenlet(killed)
            k.switch()
            del k                   # S77 kill: still normal during atexit
            write("%s %s %s %s %s %s %s" % (
                tag, a, b, g.dead, main is greenlet.getcurrent(),
                tracer is not None and greenlet.gettrace() is old, events))
        """

    def test_atexit_callbacks_use_api(self):  # S89 H14
        out, err = self.run_clean(script(self.EXERCISE, r"""
            import atexit, os
            write = lambda s: os.write(1, (s + "\n").encode())
            def before():
                import greenlet
                exercise("before", greenlet, write)
            atexit.register(before)         # registered before the import
            import greenlet
            def after():
                exercise("after", greenlet, write)
            atexit.register(after)
            write("end of script")
        """))
        events = ["switch"] * 6
        self.assertEqual(out.splitlines(), [
            "end of script",
            "after finally",
            "after 2 15 True True True %s" % events,    # LIFO
            "before finally",
            "before 2 15 True True True %s" % events,
        ])
        self.assertEqual(err, "")

    def test_atexit_first_import_at_exit(self):  # S89 H14
        out, err = self.run_clean(script(self.EXERCISE, r"""
            import atexit, os, sys
            write = lambda s: os.write(1, (s + "\n").encode())
            def late():
                assert "greenlet" not in sys.modules
                import greenlet
                exercise("late", greenlet, write)
            atexit.register(late)
        """))
        self.assertEqual(out.splitlines(), [
            "late finally",
            "late 2 15 True True True %s" % (["switch"] * 6),
        ])
        self.assertEqual(err, "")

    # ---- S90, S91, S94: exiting with suspended greenlets ---------------

    SUSPENDED_EVERYWHERE = r"""
        import gc, os, sys, threading, time, greenlet

        def note(s, _write=os.write):
            _write(1, (s + "\n").encode())

        main = greenlet.getcurrent()

        def chain(depth, top):
            try:
                if depth == 0:
                    try:
                        raise KeyError("being handled")
                    except KeyError:
                        top.switch("bottom")
                else:
                    greenlet.greenlet(chain).switch(depth - 1, top)
            finally:
                note("FINALLY chain %d" % depth)

        def parked(top):
            try:
                top.switch("parked")
            finally:
                note("FINALLY parked")

        # Module globals: a 12-deep nested chain, greenlets suspended in
        # except blocks, one in a dict cycle, one only held by a list.
        CHAIN = greenlet.greenlet(chain)
        assert CHAIN.switch(12, main) == "bottom"
        IN_EXCEPT = [greenlet.greenlet(chain) for _ in range(5)]
        for g in IN_EXCEPT:
            assert g.switch(0, main) == "bottom"
        CYCLE = greenlet.greenlet(parked)
        CYCLE.switch(main)
        CYCLE.me = CYCLE
        HELD = [greenlet.greenlet(parked)]
        HELD[0].switch(main)
        del g

        # Threads: ones that exit before us, daemon ones blocked inside a
        # greenlet, daemon ones busy switching at exit.
        THREAD_GREENLETS = {"exits": [], "blocked": [], "busy": []}
        started = threading.Semaphore(0)
        stop = threading.Event()

        def in_thread(kind):
            tmain = greenlet.getcurrent()
            c = greenlet.greenlet(chain)
            c.switch(11, tmain)
            p = greenlet.greenlet(parked)
            p.switch(tmain)
            THREAD_GREENLETS[kind].extend([c, p])
            if kind == "exits":
                started.release()
                stop.wait(60)
            elif kind == "blocked":
                def block():
                    started.release()
                    time.sleep(600)
                greenlet.greenlet(block).switch()
            else:
                started.release()
                n = 0
                while True:
                    g = greenlet.greenlet(lambda x: tmain.switch(x))
                    g.switch(n)
                    keep = g if n % 2 else None
                    n += 1
                    time.sleep(0)

        threads = [threading.Thread(target=in_thread, args=(k,), daemon=(k != "exits"))
                   for k in ("exits", "exits", "blocked", "blocked", "busy", "busy", "busy")]
        for t in threads:
            t.start()
        for t in threads:
            assert started.acquire(timeout=60)
        stop.set()
        # Cross-thread releases queued for daemon threads that never come
        # back to greenlet code (S91: abandoned at exit).
        del THREAD_GREENLETS["blocked"]
        for t in threads:
            if not t.daemon:
                t.join(60)
        note("end of script")
        """

    def test_exit_with_suspended_greenlets(self):  # S90 S91 S94 H14
        out, err = self.run_clean(self.SUSPENDED_EVERYWHERE)
        # S91: no greenlet code runs once finalization has begun; the
        # threads that exited before ran none either (S85).
        self.assertEqual(out.splitlines(), ["end of script"])
        self.assertNotIn("GreenletExit did not kill", err)
        self.assertNotIn("Traceback", err)

    def test_exit_status_kept_with_suspended_greenlets(self):  # S90
        out, err = self.run_clean(script(self.SUSPENDED_EVERYWHERE, "sys.exit(7)"), status=7)
        self.assertEqual(out.splitlines(), ["end of script"])
        out, err = self.run_clean(script(self.SUSPENDED_EVERYWHERE, "raise KeyError('at the end')"),
                                  status=1)
        self.assertEqual(out.splitlines(), ["end of script"])
        self.assertIn("KeyError: 'at the end'", err)

    @skip_if_daemon_exit_crashes
    def test_exit_repeatedly_with_busy_threads(self):  # S94 S90
        for _ in range(5):
            out, err = self.run_clean(r"""
                import os, threading, time, greenlet
                started = threading.Semaphore(0)
                def busy():
                    tmain = greenlet.getcurrent()
                    keep = []
                    started.release()
                    while True:
                        g = greenlet.greenlet(lambda: tmain.switch())
                        g.switch()
                        keep.append(g)
                        if len(keep) > 50:
                            del keep[:25]
                        time.sleep(0)
                for i in range(8):
                    threading.Thread(target=busy, daemon=True).start()
                for i in range(8):
                    assert started.acquire(timeout=60)
                print("end")
            """)
            self.assertEqual(out, "end\n")

    def test_release_during_finalization_runs_nothing(self):  # S91
        out, err = self.run_clean(r"""
            import os, greenlet
            def note(s, _write=os.write):
                _write(1, (s + "\n").encode())
            main = greenlet.getcurrent()
            def run():
                try:
                    main.switch()
                except BaseException as e:
                    note("caught " + type(e).__name__)
                    raise
                finally:
                    note("FINALLY")
            G = greenlet.greenlet(run)
            G.switch()
            # Killed normally before finalization (control sample).
            early = greenlet.greenlet(run)
            early.switch()
            del early
            note("end of script")
        """)
        self.assertEqual(out.splitlines(), ["caught GreenletExit", "FINALLY", "end of script"])

    # ---- S92, S93: greenlet code in finalizers during finalization ------

    def test_switch_in_del_during_module_teardown(self):  # S92 H14
        out, err = self.run_clean(r"""
            import os, sys, greenlet
            main = greenlet.getcurrent()

            # The suspended greenlets' frames keep their functions' globals
            # alive (they are never freed during finalization, S91), so
            # those functions must not live in this module's namespace.
            ns = {"main": main}
            exec(
                "def susp():\n"
                "    v = main.switch()\n"
                "    return v + 1\n"
                "def catcher():\n"
                "    try:\n"
                "        main.switch()\n"
                "    except ValueError:\n"
                "        return 'caught'\n", ns)
            susp, catcher = ns["susp"], ns["catcher"]
            del ns

            class D:
                def __init__(self):
                    self.fresh = greenlet.greenlet(lambda x: x * 2)
                    self.susp = greenlet.greenlet(susp)
                    self.susp.switch()
                    self.catcher = greenlet.greenlet(catcher)
                    self.catcher.switch()

                def __del__(self, _write=os.write, _fin=sys.is_finalizing):
                    r1 = self.fresh.switch(21)
                    r2 = self.susp.switch(41)
                    r3 = self.catcher.throw(ValueError)
                    _write(1, ("del %s %s %s %s\n" % (_fin(), r1, r2, r3)).encode())

            d = D()
            print("end of script", flush=True)
        """)
        self.assertEqual(out.splitlines(), ["end of script", "del True 42 42 caught"])

    def test_getcurrent_in_del_of_cycle_at_final_gc(self):  # S93 S92 H14
        out, err = self.run_clean(r"""
            import gc, os, sys, greenlet
            gc.disable()            # leave the cycle for the final collection

            class C:
                def __init__(self):
                    self.me = self
                    self.fresh = greenlet.greenlet(lambda: 9)

                def __del__(self, _write=os.write, _fin=sys.is_finalizing,
                            _getcurrent=greenlet.getcurrent, _greenlet=greenlet.greenlet,
                            _RuntimeError=RuntimeError):
                    def w(s):
                        _write(1, (s + "\n").encode())
                    try:
                        g = _getcurrent()
                    except _RuntimeError as e:
                        w("getcurrent raised %s" % e)
                    else:
                        w("getcurrent returned %s %s" % (type(g).__name__, g is not None))
                    try:
                        w("new greenlet %s" % _greenlet(lambda: 7).switch())
                    except _RuntimeError as e:
                        w("new greenlet raised %s" % e)
                    w("existing greenlet %s" % self.fresh.switch())
                    w("finalizing %s" % _fin())

            C()
            print("end of script", flush=True)
        """)
        lines = out.splitlines()
        self.assertEqual(lines[0], "end of script")
        self.assertEqual(len(lines), 5, out)
        self.assertIn(lines[1], ("getcurrent returned greenlet True",
                                 "getcurrent raised greenlet is being finalized"))
        self.assertIn(lines[2], ("new greenlet 7", "new greenlet raised greenlet is being finalized"))
        self.assertEqual(lines[3:], ["existing greenlet 9", "finalizing True"])

    # ---- S95, H22: fork ------------------------------------------------

    @unittest.skipUnless(hasattr(os, "fork"), "needs os.fork")
    def test_fork_in_non_main_greenlet(self):  # S95 H22
        out, err = self.run_clean(r"""
            import os, sys, threading, warnings, greenlet
            warnings.simplefilter("ignore")     # 3.12+: fork with threads
            def note(s, _write=os.write):
                _write(1, (s + "\n").encode())
            main = greenlet.getcurrent()

            def sleeper(tag):
                try:
                    v = main.switch()
                    return "%s got %s" % (tag, v)
                except KeyError as e:
                    return "%s caught %s" % (tag, e)

            s1 = greenlet.greenlet(sleeper)
            s1.switch("s1")
            s2 = greenlet.greenlet(sleeper)
            s2.switch("s2")
            s3 = greenlet.greenlet(sleeper)
            s3.switch("s3")

            ready, stop, box = threading.Event(), threading.Event(), []
            def tbody():
                tmain = greenlet.getcurrent()
                tg = greenlet.greenlet(lambda: tmain.switch())
                tg.switch()
                box.append(tg)
                ready.set()
                stop.wait(60)
                tg.switch()
            t = threading.Thread(target=tbody)
            t.start()
            assert ready.wait(60)

            def forker():
                pid = os.fork()
                if pid != 0:
                    return pid
                # The child: still in this greenlet.
                note("child current is forker %s" % (greenlet.getcurrent() is F))
                # Others of this thread stay suspended and switchable; made
                # to finish into this greenlet.
                s2.parent = s1.parent = F
                note("child " + s2.switch("x"))
                note("child " + s1.throw(KeyError("k")))
                try:
                    box[0].switch()
                except greenlet.error:
                    note("child other thread's greenlet: greenlet.error")
                return "child"

            F = greenlet.greenlet(forker)
            res = F.switch()
            if res == "child":
                note("child back in main %s %s" % (greenlet.getcurrent() is main, F.dead))
                # Exit normally, with s3 still suspended.
                sys.exit(0)
            _, status = os.waitpid(res, 0)
            stop.set()
            t.join(60)
            note("parent child status %s" % status)
            note("parent " + s1.switch("p"))
            note("parent s3 suspended %s" % bool(s3))
        """)
        self.assertEqual(out.splitlines(), [
            "child current is forker True",
            "child s2 got x",
            "child s1 caught 'k'",
            "child other thread's greenlet: greenlet.error",
            "child back in main True True",
            "parent child status 0",
            "parent s1 got p",
            "parent s3 suspended True",
        ])

    # ---- S96: signals --------------------------------------------------

    @unittest.skipUnless(hasattr(signal, "SIGUSR1"), "needs SIGUSR1")
    def test_signal_handlers_run_in_current_greenlet(self):  # S96 S27 H19
        out, err = self.run_clean(r"""
            import signal, greenlet
            main = greenlet.getcurrent()

            # The handler runs in whichever greenlet is current.
            seen = []
            signal.signal(signal.SIGUSR1, lambda s, f: seen.append(greenlet.getcurrent()))
            def inner():
                signal.raise_signal(signal.SIGUSR1)
                return "inner done"
            g = greenlet.greenlet(inner)
            print(g.switch(), seen == [g])

            # KeyboardInterrupt from the handler travels up the parent chain.
            signal.signal(signal.SIGINT, signal.default_int_handler)
            log = []
            def level2():
                try:
                    signal.raise_signal(signal.SIGINT)
                    log.append("level2 not interrupted")
                finally:
                    log.append("level2 finally")
            def level1():
                try:
                    greenlet.greenlet(level2).switch()
                    log.append("level1 not interrupted")
                finally:
                    log.append("level1 finally")
            g1 = greenlet.greenlet(level1)
            try:
                g1.switch()
                print("not interrupted")
            except KeyboardInterrupt as e:
                names = []
                tb = e.__traceback__
                while tb is not None:
                    names.append(tb.tb_frame.f_code.co_name)
                    tb = tb.tb_next
                print("main got KeyboardInterrupt", log, g1.dead,
                      "level1" in names, "level2" in names)

            # A handler that switches away and is resumed later.
            resumed = []
            def switching_handler(s, f):
                resumed.append(main.switch("from handler"))
            signal.signal(signal.SIGUSR2, switching_handler)
            def body():
                signal.raise_signal(signal.SIGUSR2)
                return "body done"
            g3 = greenlet.greenlet(body)
            print(g3.switch())
            print(g3.switch("resume"), resumed)

            # A timer signal firing while greenlets switch; the handler
            # itself creates and switches greenlets.
            fired = [0]
            def alarm(s, f):
                fired[0] += greenlet.greenlet(lambda: 1).switch()
            signal.signal(signal.SIGALRM, alarm)
            signal.setitimer(signal.ITIMER_REAL, 0.001, 0.001)
            def pingpong():
                x = 0
                while x < 20000:
                    x = main.switch(x) + 1
                return x
            p = greenlet.greenlet(pingpong)
            v = p.switch()
            while not p.dead:
                v = p.switch(v)
            signal.setitimer(signal.ITIMER_REAL, 0, 0)
            print("pingpong", v, fired[0] >= 0)
        """)
        self.assertEqual(out.splitlines(), [
            "inner done True",
            "main got KeyboardInterrupt ['level2 finally', 'level1 finally'] True True True",
            "from handler",
            "body done ['resume']",
            "pingpong 20000 True",
        ])


if __name__ == "__main__":
    unittest.main()
