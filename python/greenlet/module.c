/*
 * The extension module greenlet._greenlet: module functions, exceptions,
 * constants and the C API capsule "greenlet._C_API" (S1-S8,
 * S64-S72, S122-S141).
 */
#include "pyg.h"

#include <time.h>

PyObject *PyExc_GreenletError;
PyObject *PyExc_GreenletExit;

void
pyg_raise_status(cg_status st)
{
    switch (st) {
    case CG_ENOMEM:
        PyErr_NoMemory();
        break;
    case CG_ENOSTACK:
        PyErr_SetString(PyExc_MemoryError,
                        "cannot map a dedicated greenlet stack (address space or "
                        "vm.max_map_count exhausted)");
        break;
    case CG_ESTACK_OVERFLOW:
        PyErr_SetString(PyExc_RecursionError,
                        "too little C stack left to start a greenlet");
        break;
    case CG_EWRONG_THREAD:
        PyErr_SetString(PyExc_GreenletError, "Cannot switch to a different thread");
        break;
    case CG_ETHREAD_EXITED:
        PyErr_SetString(PyExc_GreenletError,
                        "cannot switch to a different thread (which happens to have exited)");
        break;
    default:
        PyErr_Format(PyExc_GreenletError, "greenlet switch failed: %s", cg_strerror(st));
        break;
    }
}

/* ---- module functions ------------------------------------------------------ */

static PyObject *
mod_getcurrent(PyObject *module, PyObject *unused)
{
    (void)module;
    (void)unused;
    pyg_thread *t = pyg_thread_get();
    if (t == NULL) {
        return NULL;
    }
    return Py_NewRef((PyObject *)t->current);
}

static PyObject *
mod_settrace(PyObject *module, PyObject *callback)
{
    (void)module;
    pyg_thread *t = pyg_thread_get();
    if (t == NULL) {
        return NULL;
    }
    PyObject *prev = t->trace;
    t->trace = callback == Py_None ? NULL : Py_NewRef(callback);
    return prev != NULL ? prev : Py_NewRef(Py_None);
}

static PyObject *
mod_gettrace(PyObject *module, PyObject *unused)
{
    (void)module;
    (void)unused;
    pyg_thread *t = pyg_thread_get();
    if (t == NULL) {
        return NULL;
    }
    return Py_NewRef(t->trace != NULL ? t->trace : Py_None);
}

static int optional_cleanup = 1;

static PyObject *
mod_enable_optional_cleanup(PyObject *module, PyObject *flag)
{
    (void)module;
    int on = PyObject_IsTrue(flag);
    if (on < 0) {
        return NULL;
    }
    optional_cleanup = on;
    Py_RETURN_NONE;
}

static PyObject *
mod_get_clocks_used(PyObject *module, PyObject *unused)
{
    (void)module;
    (void)unused;
    if (!optional_cleanup) {
        Py_RETURN_NONE;
    }
    /* Thread-exit cleanup here is a list walk: nothing worth timing. */
    return PyLong_FromLong(0);
}

static PyMethodDef module_functions[] = {
    {"getcurrent", mod_getcurrent, METH_NOARGS,
     "getcurrent() -> greenlet\n\nThe greenlet running in the calling thread."},
    {"settrace", mod_settrace, METH_O,
     "settrace(callback) -> previous callback\n\nCalls callback(event, (origin, "
     "target)) on every switch of the calling thread; None removes it."},
    {"gettrace", mod_gettrace, METH_NOARGS,
     "gettrace() -> the calling thread's greenlet trace callback, or None."},
    {"enable_optional_cleanup", mod_enable_optional_cleanup, METH_O,
     "enable_optional_cleanup(flag): accepted for compatibility."},
    {"get_clocks_used_doing_optional_cleanup", mod_get_clocks_used, METH_NOARGS,
     "CPU clocks spent on optional cleanup, or None if disabled."},
    {"set_stack_size", (PyCFunction)(void (*)(void))pyg_mod_set_stack_size,
     METH_VARARGS | METH_KEYWORDS,
     "set_stack_size(size, *, thread=False) -> previous size\n\n(cgreenlet) The stack "
     "greenlets get when they start: 0 for the shared, copied stack (the default), "
     "else a dedicated stack of that many bytes.  thread=True sets the calling "
     "thread's choice instead of the process's; None then clears it."},
    {"get_stack_size", pyg_mod_get_stack_size, METH_NOARGS,
     "get_stack_size() -> int\n\n(cgreenlet) The stack size greenlets starting in "
     "the calling thread get: 0 = the shared stack."},
    {NULL, NULL, 0, NULL}
};

/* ---- the C API ---------------------------------------------------------------- */

static int
check_greenlet(PyGreenlet *g)
{
    if (!PyGreenlet_Check(g)) {
        PyErr_BadArgument();
        return -1;
    }
    return 0;
}

static PyGreenlet *
capi_new(PyObject *run, PyGreenlet *parent)
{
    return pyg_new(run, parent);
}

static PyGreenlet *
capi_getcurrent(void)
{
    return (PyGreenlet *)mod_getcurrent(NULL, NULL);
}

static PyObject *
capi_throw(PyGreenlet *g, PyObject *typ, PyObject *val, PyObject *tb)
{
    if (check_greenlet(g) < 0) {
        return NULL;
    }
    if (typ == NULL) {
        typ = PyExc_GreenletExit;
    }
    PyObject *exc = pyg_make_throw(typ, val, tb);
    if (exc == NULL) {
        return NULL;
    }
    return pyg_switch(g, NULL, NULL, exc, NULL);
}

static PyObject *
capi_switch(PyGreenlet *g, PyObject *args, PyObject *kwargs)
{
    if (check_greenlet(g) < 0) {
        return NULL;
    }
    if (args != NULL && !PyTuple_Check(args)) {
        PyErr_SetString(PyExc_TypeError, "PyGreenlet_Switch: args must be a tuple");
        return NULL;
    }
    PyObject *a = args != NULL ? Py_NewRef(args) : PyTuple_New(0);
    if (a == NULL) {
        return NULL;
    }
    PyObject *kw = (kwargs != NULL && PyDict_Check(kwargs)) ? Py_NewRef(kwargs) : NULL;
    return pyg_switch(g, a, kw, NULL, NULL);
}

static int
capi_setparent(PyGreenlet *g, PyGreenlet *parent)
{
    if (check_greenlet(g) < 0) {
        return -1;
    }
    if (parent == NULL) {
        PyErr_SetString(PyExc_TypeError, "parent must be a greenlet, not NULL");
        return -1;
    }
    return pyg_set_parent(g, (PyObject *)parent);
}

static int
capi_main(PyGreenlet *g)
{
    if (check_greenlet(g) < 0) {
        return -1;
    }
    return (g->pimpl->flags & PYG_MAIN) != 0;
}

static int
capi_started(PyGreenlet *g)
{
    if (check_greenlet(g) < 0) {
        return -1;
    }
    return pyg_started(g->pimpl);
}

static int
capi_active(PyGreenlet *g)
{
    if (check_greenlet(g) < 0) {
        return -1;
    }
    return pyg_active(g->pimpl);
}

static PyGreenlet *
capi_getparent(PyGreenlet *g)
{
    if (check_greenlet(g) < 0) {
        return NULL;
    }
    PyGreenlet *p = g->pimpl->parent;
    return (PyGreenlet *)Py_XNewRef((PyObject *)p);
}

static void *capi_slots[PyGreenlet_API_pointers];

static int
add_capsule(PyObject *m)
{
    capi_slots[PyGreenlet_Type_NUM] = &PyGreenlet_Type;
    capi_slots[PyExc_GreenletError_NUM] = PyExc_GreenletError;
    capi_slots[PyExc_GreenletExit_NUM] = PyExc_GreenletExit;
    capi_slots[PyGreenlet_New_NUM] = (void *)capi_new;
    capi_slots[PyGreenlet_GetCurrent_NUM] = (void *)capi_getcurrent;
    capi_slots[PyGreenlet_Throw_NUM] = (void *)capi_throw;
    capi_slots[PyGreenlet_Switch_NUM] = (void *)capi_switch;
    capi_slots[PyGreenlet_SetParent_NUM] = (void *)capi_setparent;
    capi_slots[PyGreenlet_MAIN_NUM] = (void *)capi_main;
    capi_slots[PyGreenlet_STARTED_NUM] = (void *)capi_started;
    capi_slots[PyGreenlet_ACTIVE_NUM] = (void *)capi_active;
    capi_slots[PyGreenlet_GET_PARENT_NUM] = (void *)capi_getparent;
    PyObject *c = PyCapsule_New(capi_slots, "greenlet._C_API", NULL);
    if (c == NULL) {
        return -1;
    }
    return PyModule_AddObject(m, "_C_API", c);
}

/* ---- module -------------------------------------------------------------------- */

static struct PyModuleDef module_def = {
    PyModuleDef_HEAD_INIT,
    .m_name = "greenlet._greenlet",
    .m_doc = "Greenlets on the cgreenlet core.",
    .m_size = -1,
    .m_methods = module_functions,
};

static PyObject *the_module;

static int
add_constants(PyObject *m)
{
    static const char *const flags[] = {"GREENLET_USE_GC", "GREENLET_USE_TRACING",
                                        "GREENLET_USE_CONTEXT_VARS",
                                        "GREENLET_USE_STANDARD_THREADING", NULL};
    for (int i = 0; flags[i] != NULL; i++) {
        if (PyModule_AddIntConstant(m, flags[i], 1) < 0) {
            return -1;
        }
    }
    if (PyModule_AddIntConstant(m, "CLOCKS_PER_SEC", (long)CLOCKS_PER_SEC) < 0 ||
        PyModule_AddStringConstant(m, "__version__", PYG_VERSION) < 0 ||
        /* The core's own answer, so Python sees the version of the code
           that runs, not only of the header __version__ was built from. */
        PyModule_AddStringConstant(m, "CGREENLET_VERSION", cg_version()) < 0) {
        return -1;
    }
    return 0;
}

/* The core allocates through the interpreter's raw allocator, like the
   module itself: so tracemalloc sees saved stacks and greenlet records,
   and a test can fail any allocation of either (e.g. with
   _testcapi.set_nomemory).  The raw domain needs no GIL (thread exit). */
static void *
core_malloc(size_t size, void *ctx)
{
    (void)ctx;
    return PyMem_RawMalloc(size);
}

static void
core_free(void *p, void *ctx)
{
    (void)ctx;
    PyMem_RawFree(p);
}

PyMODINIT_FUNC
PyInit__greenlet(void)
{
    if (the_module != NULL) {
        return Py_NewRef(the_module);   /* S143: one module per process */
    }
    cg_set_allocator(core_malloc, core_free, NULL);  /* before any greenlet */
    PyObject *m = PyModule_Create(&module_def);
    if (m == NULL) {
        return NULL;
    }
    PyExc_GreenletError = PyErr_NewException("greenlet.error", NULL, NULL);
    PyExc_GreenletExit = PyErr_NewException("greenlet.GreenletExit",
                                            PyExc_BaseException, NULL);
    if (PyExc_GreenletError == NULL || PyExc_GreenletExit == NULL ||
        PyModule_AddObject(m, "error", Py_NewRef(PyExc_GreenletError)) < 0 ||
        PyModule_AddObject(m, "GreenletExit", Py_NewRef(PyExc_GreenletExit)) < 0 ||
        add_constants(m) < 0 || pyg_stacks_setup() < 0 || pyg_thread_setup() < 0 ||
        pyg_type_ready(m) < 0 || add_capsule(m) < 0) {
        Py_DECREF(m);
        return NULL;
    }
    the_module = Py_NewRef(m);
    return m;
}
