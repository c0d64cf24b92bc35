"""The C API as compiled users see it: greenlet/greenlet.h and the capsule
greenlet._C_API (S122-S141), a gevent-like switch loop written in C, C
subclasses laid out like Cython's (S126, S128), and the uWSGI pattern (H23).

Everything goes through the test extension _capi_test
(tests/python/capi/_capi_test.c), built against our header next to the
greenlet package by tests/python/capi/build.sh.  Its wrappers pass their
arguments to the slots unchanged; `C.NULL` stands for a C NULL pointer,
and a slot breaking its result contract (NULL or -1 without an exception,
a result with an exception set) raises C.ContractError.
"""
import gc
import os
import shutil
import subprocess
import sys
import sysconfig
import tempfile
import threading
import time
import unittest
import weakref

import greenlet
import greenlet._greenlet
from support import GreenletTest, PYTHON_DIR, run_python

try:
    import _capi_test as C
except ImportError as exc:
    raise ImportError(
        "the C API test extension _capi_test is missing; build it next to the "
        "greenlet package with: sh tests/python/capi/build.sh PYTHON DIR (%s)" % exc
    ) from exc

NULL = C.NULL
GreenletExit = greenlet.GreenletExit

Py_TPFLAGS_HEAPTYPE = 1 << 9
Py_TPFLAGS_BASETYPE = 1 << 10
Py_TPFLAGS_HAVE_GC = 1 << 14


def states(g):
    """(MAIN, STARTED, ACTIVE) of g through the C API."""
    return C.main(g), C.started(g), C.active(g)


def suspended_echo():
    """A greenlet suspended in the caller that records every value or
    exception reaching it and switches back 'back'; greenlet.throw() (an
    uncaught GreenletExit) ends it."""
    got = []
    main = greenlet.getcurrent()

    def run(*args, **kwargs):
        got.append(("start", args, kwargs))
        msg = "started"
        while True:
            try:
                got.append(main.switch(msg))
            except Exception as e:
                got.append(e)
            msg = "back"

    g = C.new(run, NULL)
    return g, got


class ParkedThread:
    """A live thread with one greenlet suspended in it until finish()."""

    def __init__(self):
        self.ready = threading.Event()
        self.go = threading.Event()
        self.glet = self.main = None
        self.thread = threading.Thread(target=self._run)
        self.thread.start()
        if not self.ready.wait(10):
            raise RuntimeError("thread did not start")

    def _run(self):
        self.main = greenlet.getcurrent()
        main = self.main
        g = greenlet.greenlet(lambda: main.switch("parked"))
        g.switch()
        self.glet = g
        del g
        self.ready.set()
        self.go.wait(10)
        if self.kill:
            self.glet.throw()

    def finish(self, kill=True):
        """Lets the thread exit, after killing its greenlet (kill=True) or
        with it still suspended (S85)."""
        self.kill = kill
        self.go.set()
        self.thread.join(10)


# ---- header, capsule, layout --------------------------------------------


class CapsuleTest(GreenletTest):
    def test_capsule_name_and_identity(self):  # S123
        self.assertIs(greenlet._C_API, greenlet._greenlet._C_API)
        self.assertEqual(type(greenlet._C_API).__name__, "PyCapsule")
        name, ptr = C.capsule_info(greenlet._C_API)
        self.assertEqual(name, "greenlet._C_API")
        self.assertNotEqual(ptr, 0)

    def test_import_sets_api(self):  # S123 S124
        _, ptr = C.capsule_info(greenlet._C_API)
        self.assertEqual(C.api_address(), ptr)          # PyGreenlet_Import()
        self.assertEqual(C.capsule_import_address(), ptr)  # PyCapsule_Import

    def test_import_imports_greenlet(self):  # S123 S124
        # PyGreenlet_Import in the extension's init is all it takes: the
        # capsule import loads the greenlet package itself.
        rc, out, err = run_python("""
            import sys
            assert "greenlet" not in sys.modules
            import _capi_test
            import greenlet
            print(greenlet.__file__)
            print(_capi_test.getcurrent() is greenlet.getcurrent())
        """)
        self.assertEqual(rc, 0, err)
        path, same = out.split()
        self.assertTrue(path.startswith(PYTHON_DIR), path)
        self.assertEqual(same, "True")

    def test_slots(self):  # S123 S127 S140 S141
        addrs = C.slot_addresses()
        self.assertEqual(len(addrs), 12)
        self.assertNotIn(0, addrs)
        # In CPython id() is the address.
        self.assertEqual(addrs[0], id(greenlet.greenlet))
        self.assertEqual(addrs[1], id(greenlet.error))
        self.assertEqual(addrs[2], id(greenlet.GreenletExit))
        self.assertEqual(len(set(addrs[3:])), 9, "function slots must be distinct")
        typ, err, exit_ = C.slot_objects()
        self.assertIs(typ, greenlet.greenlet)
        self.assertIs(err, greenlet.error)
        self.assertIs(exit_, greenlet.GreenletExit)
        self.assertIs(typ, greenlet._greenlet.greenlet)

    def test_constants(self):  # S122 S141
        k = C.constants()
        self.assertEqual(k.pop("GREENLET_VERSION"), "1.0.0")
        self.assertEqual(k.pop("PyGreenlet_API_pointers"), 12)
        names = ["PyGreenlet_Type", "PyExc_GreenletError", "PyExc_GreenletExit",
                 "PyGreenlet_New", "PyGreenlet_GetCurrent", "PyGreenlet_Throw",
                 "PyGreenlet_Switch", "PyGreenlet_SetParent", "PyGreenlet_MAIN",
                 "PyGreenlet_STARTED", "PyGreenlet_ACTIVE", "PyGreenlet_GET_PARENT"]
        self.assertEqual(k, {n + "_NUM": i for i, n in enumerate(names)})

    def test_layout(self):  # S125 S126 S127
        lay = C.layout()
        ptr, head = lay["pointer"], lay["PyObject"]
        self.assertEqual(lay["weakreflist"], head)
        self.assertEqual(lay["dict"], head + ptr)
        self.assertEqual(lay["pimpl"], head + 2 * ptr)
        self.assertEqual(lay["sizeof"], head + 3 * ptr)
        if ptr == 8:
            self.assertEqual((lay["sizeof"], lay["weakreflist"], lay["dict"]), (40, 16, 24))
        tp = C.type_slots()
        self.assertEqual(tp["tp_basicsize"], lay["sizeof"])
        self.assertEqual(greenlet.greenlet.__basicsize__, lay["sizeof"])
        self.assertEqual(tp["tp_itemsize"], 0)
        self.assertEqual(tp["tp_weaklistoffset"], lay["weakreflist"])
        self.assertEqual(greenlet.greenlet.__weakrefoffset__, lay["weakreflist"])
        self.assertEqual(tp["tp_dictoffset"], lay["dict"])
        self.assertEqual(greenlet.greenlet.__dictoffset__, lay["dict"])
        self.assertEqual(tp["tp_name"], "greenlet.greenlet")
        flags = tp["tp_flags"]
        self.assertTrue(flags & Py_TPFLAGS_BASETYPE)
        self.assertTrue(flags & Py_TPFLAGS_HAVE_GC)
        self.assertFalse(flags & Py_TPFLAGS_HEAPTYPE, "must be a static type")
        self.assertEqual(flags, greenlet.greenlet.__flags__)
        self.assertTrue(tp["has_new"] and tp["has_dealloc"] and tp["has_traverse"]
                        and tp["has_clear"])

    def test_pimpl_set(self):  # S129
        done = greenlet.greenlet(lambda: None)
        done.switch()

        class Sub(greenlet.greenlet):
            def __init__(self):
                pass    # never calls the base __init__

        for g in (greenlet.greenlet(), greenlet.greenlet.__new__(greenlet.greenlet),
                  greenlet.getcurrent(), C.new(NULL, NULL), done, Sub(),
                  C.CSub(), C.CSub.__new__(C.CSub), C.HeapSub()):
            self.assertTrue(C.pimpl_set(g), repr(g))

    def test_check(self):  # S139
        class Sub(greenlet.greenlet):
            pass

        for o in (greenlet.greenlet(), greenlet.getcurrent(), Sub(), C.CSub(), C.HeapSub()):
            self.assertIs(C.check(o), True, repr(o))
        for o in (NULL, None, 1, "greenlet", greenlet.greenlet, object(), C.CSub):
            self.assertIs(C.check(o), False, repr(o))

    def _compile(self, lang, source):
        """Compiles `source` with -fsyntax-only against our header."""
        header = os.path.join(os.path.dirname(greenlet.__file__), "greenlet.h")
        self.assertTrue(os.path.exists(header), "greenlet/greenlet.h not installed (S8)")
        cands = ("c++", "g++", "clang++") if lang == "c++" else ("cc", "gcc", "clang")
        cc = next((shutil.which(c) for c in cands if shutil.which(c)), None)
        if cc is None:
            self.skipTest("no %s compiler" % lang)
        inc = sysconfig.get_paths()["include"]
        with tempfile.TemporaryDirectory() as d:
            src = os.path.join(d, "t." + ("cc" if lang == "c++" else "c"))
            with open(src, "w") as f:
                f.write(source)
            std = "-std=c++11" if lang == "c++" else "-std=c11"
            p = subprocess.run([cc, std, "-fsyntax-only", "-Wall", "-Wextra", "-Werror",
                                "-I" + os.path.dirname(os.path.dirname(header)),
                                "-I" + inc, src],
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=120)
        self.assertEqual(p.returncode, 0, p.stdout.decode())

    USER = """
        #include "greenlet/greenlet.h"   /* first: it must include Python.h */
        %s
        PyObject* use(PyObject* o);
        PyObject* use(PyObject* o) {
            PyGreenlet_Import();
            if (_PyGreenlet_API == NULL || !PyGreenlet_Check(o)) {
                return NULL;
            }
            PyGreenlet* g = (PyGreenlet*)o;
            PyGreenlet* p = PyGreenlet_GET_PARENT(g);
            Py_XDECREF(p);
            if (PyGreenlet_MAIN(g) || PyGreenlet_STARTED(g) || PyGreenlet_ACTIVE(g)) {
                PyErr_SetObject(PyExc_GreenletError, PyExc_GreenletExit);
            }
            (void)PyGreenlet_SetParent(g, PyGreenlet_GetCurrent());
            (void)PyGreenlet_New(NULL, NULL);
            (void)PyGreenlet_Throw(g, PyExc_GreenletExit, NULL, NULL);
            return PyGreenlet_Switch(g, NULL, NULL);
        }
        """

    def test_header_c(self):  # S122 S124 S140
        self._compile("c", self.USER % """
            _Static_assert(sizeof(implementation_ptr_t) == sizeof(void*), "");
            _Static_assert(sizeof(GREENLET_VERSION) == 6, "");
        """)

    def test_header_cplusplus(self):  # S122
        self._compile("c++", self.USER % """
            static_assert(sizeof(PyGreenlet) == sizeof(PyObject) + 3 * sizeof(void*), "");
            #ifndef __cplusplus
            #error not C++
            #endif
            extern "C" int has_c_linkage(void);
        """)


# ---- slots ------------------------------------------------------------------


class NewTest(GreenletTest):
    def test_defaults(self):  # S130 S12
        g = C.new(NULL, NULL)
        self.assertIs(type(g), greenlet.greenlet)
        self.assertIs(g.parent, greenlet.getcurrent())
        self.assertFalse(g)
        self.assertFalse(g.dead)
        self.assertEqual(states(g), (0, 0, 0))
        with self.assertRaises(AttributeError):
            g.run
        with self.assertRaises(AttributeError) as cm:
            g.switch()
        self.assertIn("run", str(cm.exception))
        self.assertEqual(states(g), (0, 0, 0))

    def test_run_and_parent(self):  # S130 S10 S26
        def f(x):
            return x * 2
        p = greenlet.greenlet(lambda v: ("parent got", v))
        g = C.new(f, p)
        self.assertIs(type(g), greenlet.greenlet)
        self.assertIs(g.run, f)
        self.assertIs(g.parent, p)
        # g returns to p (not started: started with the value), p to main.
        self.assertEqual(g.switch(21), ("parent got", 42))
        self.assertTrue(g.dead and p.dead)
        self.assertIsNone(C.new(None, NULL).run)

    def test_parent_default_inside_greenlet(self):  # S130
        def body():
            return C.new(NULL, NULL).parent is greenlet.getcurrent()
        g = greenlet.greenlet(body)
        self.assertIs(g.switch(), True)

    def test_bad_parent(self):  # S130 S34
        for bad in (42, None, object(), greenlet.greenlet, "x"):
            with self.assertRaises(TypeError, msg=repr(bad)):
                C.new(lambda: None, bad)

    def test_borrows_arguments(self):  # S130
        def f():
            pass
        p = greenlet.greenlet()
        rf, rp = sys.getrefcount(f), sys.getrefcount(p)
        g = C.new(f, p)
        self.assertEqual((sys.getrefcount(f), sys.getrefcount(p)), (rf + 1, rp + 1))
        del g
        self.assertEqual((sys.getrefcount(f), sys.getrefcount(p)), (rf, rp))


class GetCurrentTest(GreenletTest):
    def test_current(self):  # S136
        self.assertIs(C.getcurrent(), greenlet.getcurrent())
        g = greenlet.greenlet(lambda: C.getcurrent())
        self.assertIs(g.switch(), g)
        c = C.CSub(lambda: C.getcurrent())
        self.assertIs(c.switch(), c)

    def test_new_reference(self):  # S136
        def body():
            cur = greenlet.getcurrent()
            before = sys.getrefcount(cur)
            for _ in range(1000):
                C.getcurrent()
            return sys.getrefcount(cur) - before
        main = greenlet.getcurrent()
        before = sys.getrefcount(main)
        for _ in range(1000):
            C.getcurrent()
        self.assertEqual(sys.getrefcount(main), before)
        self.assertEqual(greenlet.greenlet(body).switch(), 0)

    def test_new_thread(self):  # S136 S64 S135 S137
        out = []

        def t():
            cur = C.getcurrent()
            out.append((cur is greenlet.getcurrent(), states(cur),
                        C.getparent(cur) is NULL, cur is main))
        main = greenlet.getcurrent()
        th = threading.Thread(target=t)
        th.start()
        th.join(10)
        self.assertEqual(out, [(True, (1, 1, 1), True, False)])


class SwitchTest(GreenletTest):
    def test_value_conversion(self):  # S132 S20
        g, got = suspended_echo()
        self.assertEqual(C.switch(g, (1, 2), {"a": 3}), "started")
        self.assertEqual(got.pop(), ("start", (1, 2), {"a": 3}))

        class TupleSub(tuple):
            pass
        obj = object()
        one = (1,)
        cases = [
            ((NULL, NULL), ()),
            (((), NULL), ()),
            (((obj,), NULL), obj),
            (((one,), NULL), one),
            (((1, 2), NULL), (1, 2)),
            (((), {"k": 1}), {"k": 1}),
            ((NULL, {"k": 1}), {"k": 1}),
            (((1,), {"k": 1}), ((1,), {"k": 1})),
            (((), {}), ()),
            (((5,), {}), 5),
            (((5,), [("k", 1)]), 5),    # kwargs not a dict: ignored
            (((5,), "kw"), 5),
            (((6, 7), 42), (6, 7)),
            ((TupleSub((7, 8)), NULL), (7, 8)),
        ]
        for (a, kw), want in cases:
            self.assertEqual(C.switch(g, a, kw), "back")
            v = got.pop()
            self.assertEqual(v, want, (a, kw))
            if want is obj or want is one:
                self.assertIs(v, want)
        self.assertIsInstance(g.throw(), GreenletExit)
        self.assertTrue(g.dead)

    def test_start_arguments(self):  # S132 S16
        for a, kw, want in [(NULL, NULL, ((), {})), ((1,), NULL, ((1,), {})),
                            (NULL, {"x": 1}, ((), {"x": 1})),
                            ((1,), ["not", "a", "dict"], ((1,), {}))]:
            g = C.new(lambda *args, **kwargs: (args, kwargs), NULL)
            self.assertEqual(C.switch(g, a, kw), want)
            self.assertTrue(g.dead)

    def test_args_not_a_tuple(self):  # S132
        ran = []
        g = C.new(lambda *a: ran.append(a), NULL)
        for bad in ([1], "ab", 5, {"a": 1}, None):
            with self.assertRaises(TypeError, msg=repr(bad)):
                C.switch(g, bad, NULL)
            self.assertEqual(states(g), (0, 0, 0))
        self.assertEqual(ran, [])
        s, got = suspended_echo()
        C.switch(s, NULL, NULL)
        got.clear()
        for bad in ([1], "ab", 5, {"a": 1}, None):
            with self.assertRaises(TypeError, msg=repr(bad)):
                C.switch(s, bad, NULL)
        self.assertEqual(got, [])   # nothing arrived
        self.assertEqual(states(s), (0, 1, 1))
        self.assertEqual(C.switch(s, (9,), NULL), "back")
        self.assertEqual(got, [9])
        s.throw()

    def test_not_a_greenlet(self):  # S132
        for bad in (NULL, 42, None, object(), greenlet.greenlet):
            with self.assertRaises(TypeError, msg=repr(bad)):
                C.switch(bad, (), NULL)

    def test_arguments_borrowed(self):  # S132 S20
        marker = object()
        args, kwargs = (marker,), {"k": marker}
        main = greenlet.getcurrent()

        def run(*a, **k):
            for _ in range(10):
                main.switch()
        g = C.new(run, NULL)
        ra, rk, rm = sys.getrefcount(args), sys.getrefcount(kwargs), sys.getrefcount(marker)
        for i in range(11):
            C.switch(g, args, kwargs if i % 2 else NULL)
        self.assertTrue(g.dead)
        self.assertEqual((sys.getrefcount(args), sys.getrefcount(kwargs),
                          sys.getrefcount(marker)), (ra, rk, rm))

    def test_dead_target(self):  # S132 S21
        g = C.new(lambda: None, NULL)
        C.switch(g, NULL, NULL)
        self.assertEqual(C.switch(g, (5,), NULL), 5)
        self.assertEqual(C.switch(g, NULL, NULL), ())
        self.assertEqual(C.switch(g, NULL, {"a": 1}), {"a": 1})

    def test_exception_propagates(self):  # S132 S27
        def run():
            raise ValueError("from greenlet")
        g = C.new(run, NULL)
        with self.assertRaises(ValueError) as cm:
            C.switch(g, NULL, NULL)
        self.assertEqual(str(cm.exception), "from greenlet")
        self.assertEqual(states(g), (0, 1, 0))
        self.assertEqual(C.switch(C.getcurrent(), (3,), NULL), 3)     # S22

    def test_trace_events(self):  # S131 S98
        events = []
        main = greenlet.getcurrent()
        g = C.new(lambda: main.switch(1), NULL)
        greenlet.settrace(lambda ev, args: events.append((ev, args)))
        try:
            C.switch(g, NULL, NULL)
            C.switch(g, NULL, NULL)
        finally:
            greenlet.settrace(None)
        self.assertEqual(events, [("switch", (main, g)), ("switch", (g, main)),
                                  ("switch", (main, g)), ("switch", (g, main))])

    def test_context_and_exception_state(self):  # S131 S107 S115
        import contextvars
        var = contextvars.ContextVar("v", default="default")

        def in_context():
            var.set("caller")
            g = C.new(lambda: (var.get(), sys.exc_info()), NULL)
            try:
                raise KeyError("handled in the caller")
            except KeyError:
                seen = C.switch(g, NULL, NULL)
                self.assertIsInstance(sys.exc_info()[1], KeyError)
            self.assertEqual(var.get(), "caller")
            return seen
        seen = contextvars.Context().run(in_context)
        self.assertEqual(seen, ("default", (None, None, None)))

    def test_cross_thread(self):  # S131 S73
        pt = ParkedThread()
        try:
            with self.assertRaises(greenlet.error):
                C.switch(pt.glet, NULL, NULL)
            with self.assertRaises(greenlet.error):
                C.throw(pt.glet, ValueError, NULL, NULL)
            self.assertEqual(states(pt.glet), (0, 1, 1))
        finally:
            pt.finish()
        del pt


class ThrowTest(GreenletTest):
    def test_into_suspended(self):  # S133 S56 S62
        main = greenlet.getcurrent()

        def run():
            try:
                main.switch("suspended")
            except ValueError as e:
                return ("caught", e.args)
        g = C.new(run, NULL)
        C.switch(g, NULL, NULL)
        self.assertEqual(C.throw(g, ValueError, "boom", NULL), ("caught", ("boom",)))
        self.assertEqual(states(g), (0, 1, 0))

    def test_forms(self):  # S133 S57
        g, got = suspended_echo()
        C.switch(g, NULL, NULL)
        inst = ValueError("inst")
        try:
            raise KeyError("for a traceback")
        except KeyError:
            tb = sys.exc_info()[2]
        for typ, val, tb_, check in [
            (ValueError, NULL, NULL, lambda e: type(e) is ValueError and e.args == ()),
            (ValueError, None, None, lambda e: type(e) is ValueError and e.args == ()),
            (ValueError, "v", NULL, lambda e: e.args == ("v",)),
            (ValueError, (1, 2), NULL, lambda e: e.args == (1, 2)),
            (ValueError, inst, NULL, lambda e: e is inst),
            (inst, NULL, NULL, lambda e: e is inst),
            (inst, None, None, lambda e: e is inst),
            (LookupError, KeyError("sub"), NULL, lambda e: type(e) is KeyError),
        ]:
            self.assertEqual(C.throw(g, typ, val, tb_), "back")
            e = got.pop()
            self.assertTrue(check(e), (typ, val, e))
        self.assertEqual(C.throw(g, ValueError, "with tb", tb), "back")
        e = got.pop()
        names = []
        t = e.__traceback__
        while t is not None:
            names.append(t.tb_frame.f_code.co_name)
            t = t.tb_next
        self.assertIn("test_forms", names)     # the traceback passed in
        self.assertIsInstance(C.throw(g, GreenletExit, NULL, NULL), GreenletExit)
        self.assertTrue(g.dead)

    def test_argument_errors(self):  # S133 S58
        g, got = suspended_echo()
        C.switch(g, NULL, NULL)
        got.clear()
        fresh = C.new(lambda: None, NULL)
        events = []
        greenlet.settrace(lambda *a: events.append(a))
        try:
            for target in (g, fresh):
                for args, text in [
                    ((ValueError("x"), "v", NULL),
                     "instance exception may not have a separate value"),
                    ((ValueError, NULL, "not a tb"),
                     "throw() third argument must be a traceback object"),
                    ((ValueError("x"), NULL, 5),
                     "throw() third argument must be a traceback object"),
                    (("abc", NULL, NULL), "exceptions must be classes, or instances, not str"),
                    ((int, NULL, NULL), "exceptions must be classes, or instances, not type"),
                    ((5, NULL, NULL), "exceptions must be classes, or instances, not int"),
                    ((None, NULL, NULL),
                     "exceptions must be classes, or instances, not NoneType"),
                ]:
                    with self.assertRaises(TypeError) as cm:
                        C.throw(target, *args)
                    self.assertEqual(str(cm.exception), text)
        finally:
            greenlet.settrace(None)
        self.assertEqual(events, [])    # nothing switched
        self.assertEqual(got, [])
        self.assertEqual(states(g), (0, 1, 1))
        self.assertEqual(states(fresh), (0, 0, 0))
        g.throw()

    def test_not_a_greenlet(self):  # S133
        for bad in (NULL, 42, None, ValueError):
            with self.assertRaises(TypeError, msg=repr(bad)):
                C.throw(bad, ValueError, NULL, NULL)

    def test_not_started(self):  # S133 S59
        ran = []
        g = C.new(lambda: ran.append(1), NULL)
        r = C.throw(g, GreenletExit, NULL, NULL)
        self.assertIsInstance(r, GreenletExit)
        self.assertEqual(states(g), (0, 1, 0))
        g2 = C.new(lambda: ran.append(2), NULL)
        with self.assertRaises(ValueError):
            C.throw(g2, ValueError, NULL, NULL)
        self.assertTrue(g2.dead)
        self.assertEqual(ran, [])

    def test_dead(self):  # S133 S60
        g = C.new(lambda: None, NULL)
        C.switch(g, NULL, NULL)
        with self.assertRaises(KeyError):
            C.throw(g, KeyError, NULL, NULL)
        # GreenletExit at a dead greenlet turns into a value for its parent.
        self.assertIsInstance(C.throw(g, GreenletExit, NULL, NULL), GreenletExit)

    def test_current(self):  # S133 S61
        with self.assertRaises(ValueError) as cm:
            C.throw(C.getcurrent(), ValueError, "here", NULL)
        self.assertEqual(cm.exception.args, ("here",))
        with self.assertRaises(GreenletExit):
            C.throw(C.getcurrent(), GreenletExit, NULL, NULL)

    def test_type_null_does_not_crash(self):  # S133 (typ NULL: unspecified, no crash)
        g, got = suspended_echo()
        C.switch(g, NULL, NULL)
        try:
            r = C.throw(g, NULL, NULL, NULL)
        except TypeError:
            self.assertEqual(states(g), (0, 1, 1))
            g.throw()
        else:   # taken as GreenletExit, like g.throw()
            self.assertIsInstance(r, GreenletExit)
        self.assertTrue(g.dead)

    def test_arguments_borrowed(self):  # S133
        main = greenlet.getcurrent()
        inst = ValueError("x")
        try:
            raise KeyError
        except KeyError:
            tb = sys.exc_info()[2]

        def run():
            try:
                main.switch()
            except ValueError:
                pass
            return "done"
        ri, rt = sys.getrefcount(inst), sys.getrefcount(tb)
        for _ in range(10):
            g = C.new(run, NULL)
            C.switch(g, NULL, NULL)
            self.assertEqual(C.throw(g, inst, NULL, tb), "done")
        inst.__traceback__ = None
        del g
        self.assertEqual((sys.getrefcount(inst), sys.getrefcount(tb)), (ri, rt))


class SetParentTest(GreenletTest):
    def test_sets_parent(self):  # S134 S40
        g = greenlet.greenlet(lambda: "ret")
        p = greenlet.greenlet(lambda v: ("p", v))
        rp = sys.getrefcount(p)
        self.assertEqual(C.setparent(g, p), 0)
        self.assertIs(g.parent, p)
        self.assertEqual(sys.getrefcount(p), rp + 1)   # a new reference, not stolen
        self.assertEqual(g.switch(), ("p", "ret"))

    def test_running_greenlet(self):  # S134 S40
        p = greenlet.greenlet(lambda v: ("p", v))

        def body():
            self.assertEqual(C.setparent(C.getcurrent(), p), 0)
            return "ret"
        self.assertEqual(greenlet.greenlet(body).switch(), ("p", "ret"))

    def test_bad_parent(self):  # S134 S34
        g = greenlet.greenlet()
        main = greenlet.getcurrent()
        for bad in (42, None, object(), greenlet.greenlet):
            with self.assertRaises(TypeError) as cm:
                C.setparent(g, bad)
            self.assertIn(type(bad).__name__, str(cm.exception))
        with self.assertRaises((TypeError, AttributeError)):
            C.setparent(g, NULL)
        self.assertIs(g.parent, main)

    def test_not_a_greenlet(self):  # S134 B5
        for bad in (NULL, 42, None):
            with self.assertRaises(TypeError, msg=repr(bad)):
                C.setparent(bad, greenlet.getcurrent())

    def test_main_greenlet(self):  # S134 S36
        main = greenlet.getcurrent()
        for p in (greenlet.greenlet(), 42):
            with self.assertRaises(AttributeError) as cm:
                C.setparent(main, p)
            self.assertEqual(str(cm.exception), "cannot set the parent of a main greenlet")
        self.assertIsNone(main.parent)

    def test_cycle(self):  # S134 S37
        a = greenlet.greenlet()
        b = greenlet.greenlet(parent=a)
        for g, p in ((a, a), (a, b)):
            with self.assertRaises(ValueError) as cm:
                C.setparent(g, p)
            self.assertEqual(str(cm.exception), "cyclic parent chain")
        self.assertIs(a.parent, greenlet.getcurrent())
        self.assertIs(b.parent, a)

    def test_other_thread(self):  # S134 S38 S39 S73
        main = greenlet.getcurrent()
        started = greenlet.greenlet(lambda: main.switch())
        started.switch()
        pt = ParkedThread()
        try:
            with self.assertRaises(ValueError) as cm:
                C.setparent(started, pt.glet)
            self.assertEqual(str(cm.exception), "parent cannot be on a different thread")
            self.assertIs(started.parent, main)
            fresh = greenlet.greenlet(lambda: None)
            self.assertEqual(C.setparent(fresh, pt.glet), 0)   # S39
            with self.assertRaises(greenlet.error):
                C.switch(fresh, NULL, NULL)
            del fresh
        finally:
            pt.finish()
        del pt
        started.throw()


class GetParentTest(GreenletTest):
    def test_main_is_null_without_exception(self):  # S135
        main = greenlet.getcurrent()
        self.assertIs(C.getparent(main), NULL)
        self.assertIs(C.get_parent_alias(main), NULL)

    def test_parent(self):  # S135 S33
        main = greenlet.getcurrent()
        g = greenlet.greenlet(lambda: (C.getparent(C.getcurrent()),
                                       C.get_parent_alias(C.getcurrent())))
        self.assertIs(C.getparent(g), main)
        self.assertEqual(g.switch(), (main, main))
        self.assertIs(C.getparent(g), main)         # dead: keeps its parent
        p = greenlet.greenlet()
        g.parent = p
        self.assertIs(C.get_parent_alias(g), p)
        before = sys.getrefcount(p)
        for _ in range(1000):
            C.getparent(g)
            C.get_parent_alias(g)
        self.assertEqual(sys.getrefcount(p), before)   # new references

    def test_not_a_greenlet(self):  # S135
        for bad in (NULL, 42, None):
            with self.assertRaises(TypeError, msg=repr(bad)):
                C.getparent(bad)
            with self.assertRaises(TypeError, msg=repr(bad)):
                C.get_parent_alias(bad)


class StateTest(GreenletTest):
    def test_states(self):  # S137
        main = greenlet.getcurrent()
        self.assertEqual(states(main), (1, 1, 1))
        g = C.new(lambda: main.switch(states(greenlet.getcurrent())), NULL)
        self.assertEqual(states(g), (0, 0, 0))
        self.assertEqual(g.switch(), (0, 1, 1))         # running
        self.assertEqual(states(g), (0, 1, 1))          # suspended
        inner = []
        g2 = greenlet.greenlet(lambda: inner.append(states(main)))
        g2.switch()
        self.assertEqual(inner, [(1, 1, 1)])            # suspended main
        g.switch()
        self.assertEqual(states(g), (0, 1, 0))          # dead
        k = greenlet.greenlet(lambda: None)
        k.throw()
        self.assertEqual(states(k), (0, 1, 0))          # dead without running
        for x in (main, g, k, greenlet.greenlet()):
            self.assertEqual(C.active(x), int(bool(x)))
            self.assertEqual(C.started(x) and not C.active(x), x.dead)

    def test_bad_arguments(self):  # S137
        for bad in (NULL, 42, None, object(), greenlet.greenlet):
            for fn in (C.main, C.started, C.active):
                with self.assertRaises(TypeError, msg=(fn, bad)):
                    fn(bad)

    def test_thread_exited(self):  # S137 S85
        pt = ParkedThread()
        tg, tmain = pt.glet, pt.main
        self.assertEqual(states(tg), (0, 1, 1))
        self.assertEqual(states(tmain), (1, 1, 1))
        pt.finish(kill=False)
        del pt
        deadline = time.time() + 2
        while True:
            greenlet.getcurrent()
            if (C.active(tg), C.active(tmain)) == (0, 0) or time.time() > deadline:
                break
            time.sleep(0.01)
        self.assertEqual((C.active(tg), C.active(tmain)), (0, 0))
        self.assertTrue(tg.dead and tmain.dead)
        for fn in (C.main, C.started):      # unspecified values, no error
            self.assertIn(fn(tg), (0, 1))
            self.assertIn(fn(tmain), (0, 1))


# ---- a gevent-like switch loop in C ----------------------------------------


def simulate_round_robin(n, worker_yields):
    """What C.round_robin must return for workers that switch back
    worker_yields(i) times and collect what they get (see worker())."""
    results, log = [None] * n, []
    sent = [[] for _ in range(n)]
    left = [worker_yields(i) for i in range(n)]
    started = [False] * n
    alive, k = n, 0
    while alive:
        for i in range(n):
            if left[i] is None:
                continue
            if started[i]:
                sent[i].append(k)
            started[i] = True
            k += 1
            if left[i] == 0:
                results[i] = (i, sent[i])
                left[i] = None
                alive -= 1
            else:
                log.append((i, i * 100 + len(sent[i])))
                left[i] -= 1
    return results, log


class RoundRobinTest(GreenletTest):
    @staticmethod
    def worker(i):
        parent = greenlet.getcurrent().parent
        got = []
        for k in range(i % 4 + 1):
            got.append(parent.switch(i * 100 + k))
        return (i, got)

    def test_small(self):  # S130 S132 S137 S20
        self.assertEqual(C.round_robin(self.worker, 3), (
            [(0, [3]), (1, [4, 6]), (2, [5, 7, 8])],
            [(0, 0), (1, 100), (2, 200), (1, 101), (2, 201), (2, 202)]))
        self.assertEqual(C.round_robin(self.worker, 0), ([], []))

    def test_many(self):  # S130 S132 S137
        for n in (7, 1000):
            self.assertEqual(C.round_robin(self.worker, n),
                             simulate_round_robin(n, lambda i: i % 4 + 1))

    def test_inside_greenlet(self):  # S130 S132
        g = greenlet.greenlet(lambda: C.round_robin(self.worker, 20))
        self.assertEqual(g.switch(), simulate_round_robin(20, lambda i: i % 4 + 1))

    def test_exception_kills_the_rest(self):  # S132 S27 S77
        finished = []

        def worker(i):
            parent = greenlet.getcurrent().parent
            try:
                for k in range(3):
                    parent.switch((i, k))
                    if i == 2 and k == 1:
                        raise ValueError(i)
                return i
            except GreenletExit:
                finished.append(("killed", i))
                raise
            finally:
                finished.append(i)
        with self.assertRaises(ValueError) as cm:
            C.round_robin(worker, 4)
        self.assertEqual(cm.exception.args, (2,))
        self.assertEqual(finished[0], 2)
        self.assertEqual(sorted(finished[1:], key=str),
                         sorted([("killed", 0), 0, ("killed", 1), 1, ("killed", 3), 3],
                                key=str))


# ---- H23: the uWSGI pattern -------------------------------------------------


class H23Test(GreenletTest):
    def test_dropped_while_running_then_finishes(self):  # H23 S51
        seen = []
        refs = []

        def body():
            refs.append(weakref.ref(greenlet.getcurrent()))
            C.h23_drop()            # the only reference is gone
            gc.collect()
            me = greenlet.getcurrent()
            seen.append((refs[0]() is me, me.uwsgi_req, me.uwsgi_seen, C.active(me)))
            del me
            return "finished"
        tag = object()
        rt = sys.getrefcount(tag)
        self.assertEqual(C.h23_run(body, tag), "finished")
        self.assertEqual(seen, [(True, tag, True, 1)])
        self.assertIsNone(refs[0](), "the greenlet must be freed once it finished")
        seen.clear()
        self.assertEqual(sys.getrefcount(tag), rt)  # its __dict__ went with it

    def test_dropped_while_running_then_switches_away(self):  # H23 S77
        log = []
        refs = []

        def body():
            refs.append(weakref.ref(greenlet.getcurrent()))
            C.h23_drop()
            try:
                greenlet.getcurrent().parent.switch("away")
                log.append("resumed")
            except GreenletExit:
                log.append("GreenletExit")
            finally:
                log.append("finally")
        self.assertEqual(C.h23_run(body, 1), "away")
        self.assertEqual(log, ["GreenletExit", "finally"])
        self.assertIsNone(refs[0]())

    def test_repeated(self):  # H23
        refs = []

        def body():
            refs.append(weakref.ref(greenlet.getcurrent()))
            C.h23_drop()
            return len(refs)
        for i in range(200):
            self.assertEqual(C.h23_run(body, i), i + 1)
        self.assertTrue(all(r() is None for r in refs))


# ---- C subclasses (Cython-like static type, heap type) ----------------------


def freed():
    return C.freed_counts()


class CSubTest(GreenletTest):
    def test_layout(self):  # S126 S128
        lay = C.layout()
        self.assertIs(C.CSub.__base__, greenlet.greenlet)
        self.assertEqual(lay["csub_payload"], greenlet.greenlet.__basicsize__)
        self.assertEqual(C.CSub.__basicsize__, lay["csub_sizeof"])
        self.assertEqual(C.CSub.__basicsize__, greenlet.greenlet.__basicsize__ + 2 * lay["pointer"])
        self.assertEqual(C.CSub.__weakrefoffset__, greenlet.greenlet.__weakrefoffset__)
        self.assertEqual(C.CSub.__dictoffset__, greenlet.greenlet.__dictoffset__)
        self.assertEqual(C.HeapSub.__basicsize__, lay["heapsub_sizeof"])

    def test_create_and_switch(self):  # S128 S12 S126
        main = greenlet.getcurrent()

        def run(a, b=None):
            me = greenlet.getcurrent()
            x = main.switch((me is c, C.getcurrent() is c, a, b, me.payload))
            me.payload = ("changed", x)
            return x * 2
        c = C.CSub(run, payload="P")    # base tp_new gets and ignores the args
        self.assertIs(type(c), C.CSub)
        self.assertIsInstance(c, greenlet.greenlet)
        self.assertTrue(C.check(c))
        self.assertIs(c.run, run)
        self.assertIs(c.parent, main)
        self.assertEqual(c.payload, "P")
        self.assertTrue(c.magic_ok)
        self.assertEqual(states(c), (0, 0, 0))
        self.assertTrue(repr(c).startswith("<_capi_test.CSub object at "), repr(c))
        self.assertTrue(repr(c).endswith(" pending>"), repr(c))
        c.extra = "dict works"
        self.assertEqual(C.switch(c, (1,), {"b": 2}), (True, True, 1, 2, "P"))
        self.assertEqual(states(c), (0, 1, 1))
        self.assertTrue(c.magic_ok)
        self.assertIs(greenlet.greenlet.dead.__get__(c), False)     # S45
        self.assertEqual(c.switch(21), 42)
        self.assertEqual(c.payload, ("changed", 21))
        self.assertTrue(c.magic_ok and c.dead)
        self.assertEqual(c.extra, "dict works")

    def test_new_only(self):  # S128 S12
        c = C.CSub.__new__(C.CSub, "ignored", parent="ignored", payload=1)
        self.assertTrue(c.magic_ok)
        self.assertIsNone(c.payload)
        self.assertIs(c.parent, greenlet.getcurrent())
        with self.assertRaises(AttributeError) as cm:
            c.switch()
        self.assertIn("run", str(cm.exception))
        c.run = lambda: "ok"
        self.assertEqual(c.switch(), "ok")

    def test_parent_argument(self):  # S128 S11
        p = greenlet.greenlet(lambda v: ("p", v))
        c = C.CSub(lambda: "r", p)
        self.assertIs(c.parent, p)
        self.assertEqual(c.switch(), ("p", "r"))
        with self.assertRaises(TypeError):
            C.CSub(None, 42)

    def test_kill_on_last_reference(self):  # S128 S77
        main = greenlet.getcurrent()
        log = []

        def run():
            try:
                main.switch()
            except GreenletExit:
                log.append("GreenletExit")
            finally:
                log.append("finally")
        before = freed()[0]
        c = C.CSub(run, payload=[1])
        c.switch()
        ref = weakref.ref(c)
        del c
        self.assertEqual(log, ["GreenletExit", "finally"])
        self.assertIsNone(ref())
        self.assertEqual(freed()[0], before + 1)

    def test_resurrected_during_kill(self):  # S128 S78 P9
        keep = []
        p = greenlet.greenlet(lambda v: ("p", v))

        def run():
            try:
                p.parent.switch("suspended")    # p.parent is main
            except GreenletExit:
                me = greenlet.getcurrent()
                keep.append(me)
                x = me.parent.switch("resurrected")
                return ("finished", x)
        before = freed()[0]
        c = C.CSub(run, p, payload="P")
        self.assertEqual(c.switch(), "suspended")
        ref = weakref.ref(c)
        del c
        self.assertEqual(len(keep), 1)
        c = keep[0]
        self.assertIs(ref(), c)
        self.assertEqual(states(c), (0, 1, 1))
        self.assertIs(c.parent, p)              # original parent restored
        self.assertTrue(c.magic_ok)
        self.assertEqual(c.payload, "P")
        self.assertEqual(freed()[0], before)
        self.assertEqual(c.switch("later"), ("p", ("finished", "later")))
        keep.clear()
        del c
        self.assertIsNone(ref())
        self.assertEqual(freed()[0], before + 1)

    def test_cycles_collected(self):  # S128 S79
        before = freed()[0]
        c = C.CSub(payload=None)
        c.payload = c                       # through the subclass's field
        d = C.CSub(lambda: None)
        d.switch()
        d.me = d                            # through __dict__, dead
        refs = [weakref.ref(c), weakref.ref(d)]
        del c, d
        gc.collect()
        self.assertEqual([r() for r in refs], [None, None])
        self.assertEqual(freed()[0], before + 2)

    def test_python_subclass_of_csub(self):  # S128 S14 S77
        # Like a user's subclass of gevent's compiled Greenlet.
        class PySub(C.CSub):
            def __init__(self, run):
                super().__init__(run, payload="x")

        def run(x):
            try:
                return greenlet.getcurrent().parent.switch(x + 1)
            finally:
                log.append("finally")
        log = []
        rc = sys.getrefcount(PySub)
        for _ in range(20):
            s = PySub(run)
            self.assertEqual(s.switch(1), 2)
            self.assertTrue(s.magic_ok)
            self.assertEqual(s.payload, "x")
            ref = weakref.ref(s)
            del s
            self.assertIsNone(ref())
        self.assertEqual(log, ["finally"] * 20)
        self.assertEqual(sys.getrefcount(PySub), rc)

    def test_static_type_refcount(self):  # S128
        main = greenlet.getcurrent()
        keep = []

        def run():
            try:
                main.switch()
            except GreenletExit:
                keep.append(greenlet.getcurrent())
                main.switch()
        rc = sys.getrefcount(C.CSub)
        for _ in range(10):
            c = C.CSub(run)
            c.switch()
            del c
            keep.pop().throw()
        self.assertEqual(sys.getrefcount(C.CSub), rc)


class HeapSubTest(GreenletTest):
    def test_kill_and_type_refcount(self):  # S128 S77 P9
        main = greenlet.getcurrent()
        log = []

        def run():
            try:
                main.switch()
            finally:
                log.append("finally")
        rc = sys.getrefcount(C.HeapSub)
        before = freed()[1]
        for _ in range(20):
            h = C.HeapSub(run)
            self.assertIsNone(h.payload)
            h.payload = [1]     # dropped by the subclass's dealloc
            h.switch()
            del h
        self.assertEqual(log, ["finally"] * 20)
        self.assertEqual(freed()[1], before + 20)
        self.assertEqual(sys.getrefcount(C.HeapSub), rc)

    def test_resurrection_keeps_type_refcount(self):  # S128 P9 S78
        main = greenlet.getcurrent()
        keep = []

        def run():
            try:
                main.switch()
            except GreenletExit:
                keep.append(greenlet.getcurrent())
                main.switch("resurrected")
            return "done"
        rc = sys.getrefcount(C.HeapSub)
        before = freed()[1]
        for _ in range(20):
            h = C.HeapSub(run)
            h.switch()
            del h
            self.assertEqual(len(keep), 1)
            self.assertEqual(states(keep[0]), (0, 1, 1))
            self.assertEqual(sys.getrefcount(C.HeapSub), rc + 1)    # one live instance
            self.assertEqual(keep[0].switch(), "done")
            keep.clear()
        self.assertEqual(freed()[1], before + 20)
        self.assertEqual(sys.getrefcount(C.HeapSub), rc)

    def test_not_started_and_dead(self):  # S128 S79
        rc = sys.getrefcount(C.HeapSub)
        before = freed()[1]
        for _ in range(10):
            C.HeapSub()
            h = C.HeapSub(lambda: None)
            h.switch()
            del h
        self.assertEqual(freed()[1], before + 20)
        self.assertEqual(sys.getrefcount(C.HeapSub), rc)


# ---- finalization ------------------------------------------------------------


class FinalizationTest(GreenletTest):
    def test_slots_at_exit(self):  # S138 S89 S93 S136
        # atexit: every slot works normally (S89).  Module teardown and the
        # final collection: slots may raise, never crash, never break their
        # result contracts (S138, S136).
        rc, out, err = run_python("""
            import atexit, os
            import greenlet
            import _capi_test as C

            def at_exit():
                cur = C.getcurrent()
                assert cur is greenlet.getcurrent()
                g = C.new(lambda *a: ("ran", a), C.NULL)
                assert C.switch(g, (1,), C.NULL) == ("ran", (1,))
                s = C.new(lambda: cur.switch("parked"), C.NULL)
                assert C.switch(s, C.NULL, C.NULL) == "parked"
                assert isinstance(C.throw(s, greenlet.GreenletExit, C.NULL, C.NULL),
                                  greenlet.GreenletExit)
                assert C.getparent(cur) is C.NULL and C.main(cur) == 1
                os.write(1, b"ATEXIT OK\\n")

            class Late:
                def __init__(self, where):
                    self.where = where
                    self.g = C.new(lambda *a: a, C.NULL)
                    self.cycle = self

                def __del__(self, C=C, write=os.write, Contract=C.ContractError):
                    out = []
                    for name, call in [
                            ("getcurrent", lambda: C.getcurrent()),
                            ("new", lambda: C.new(C.NULL, C.NULL)),
                            ("switch", lambda: C.switch(self.g, (1,), C.NULL)),
                            ("throw", lambda: C.throw(self.g, ValueError, C.NULL, C.NULL)),
                            ("setparent", lambda: C.setparent(self.g, self.g)),
                            ("getparent", lambda: C.getparent(self.g)),
                            ("active", lambda: C.active(self.g))]:
                        try:
                            call()
                            out.append(name + ":ok")
                        except Contract as e:
                            out.append(name + ":CONTRACT " + str(e))
                        except BaseException as e:
                            out.append(name + ":" + type(e).__name__)
                    write(1, ("%s %s\\n" % (self.where, " ".join(out))).encode())

            atexit.register(at_exit)
            kept = Late("global")
            Late("cycle")
        """)
        self.assertEqual(rc, 0, err)
        self.assertIn("ATEXIT OK", out)
        self.assertNotIn("CONTRACT", out + err)
        self.assertNotIn("Fatal", err)
        self.assertIn("cycle getcurrent:", out)
        self.assertIn("global getcurrent:", out)


if __name__ == "__main__":
    unittest.main()
