/*
 * _capi_test: a compiled user of greenlet/greenlet.h, built by
 * tests/python/capi/build.sh and driven by tests/python/test_capi.py.
 *
 * It reaches the greenlet module only the way gevent or uWSGI do: through
 * the header's macros over the capsule "greenlet._C_API" (S122-S141).
 * Every slot gets a Python-callable wrapper that passes its arguments
 * through unchanged, so the tests can hand any slot wrong types.  The
 * object `_capi_test.NULL` stands for a C NULL pointer, in arguments and
 * in results (a slot that returns NULL without an exception, S135).
 *
 * Besides the wrappers:
 *   round_robin   a gevent-like switch loop written in C;
 *   h23_run/drop  the uWSGI pattern of H23;
 *   CSub          a static subclass of greenlet with its own fields after
 *                 PyGreenlet, shaped like a Cython cdef class (S126, S128);
 *   HeapSub       the same as a heap type (type refcount, S128 / P9).
 *
 * Wrappers check each slot's result contract and raise ContractError (an
 * AssertionError) when a slot returns NULL or -1 without an exception, or
 * a result together with a pending exception.
 */
#include "greenlet/greenlet.h"

#include <stddef.h>
#include <stdint.h>

/* S122: implementation_ptr_t is void* for users. */
_Static_assert(_Generic((implementation_ptr_t)0, void *: 1, default: 0),
               "implementation_ptr_t must be void* outside the module");

static PyObject *null_sentinel;     /* _capi_test.NULL */
static PyObject *ContractError;

static PyObject *
new_ref(PyObject *o)
{
    Py_INCREF(o);
    return o;
}

/* Argument: the NULL sentinel becomes a C NULL. */
static PyObject *
arg(PyObject *o)
{
    return o == null_sentinel ? NULL : o;
}

/* Result of a slot that returns a new reference or NULL with an exception. */
static PyObject *
obj_result(PyObject *r, const char *slot)
{
    if (r == NULL && !PyErr_Occurred()) {
        PyErr_Format(ContractError, "%s returned NULL without an exception", slot);
        return NULL;
    }
    if (r != NULL && PyErr_Occurred()) {
        Py_DECREF(r);
        PyErr_Clear();
        PyErr_Format(ContractError, "%s returned a value with an exception set", slot);
        return NULL;
    }
    return r;
}

/* Result of a slot that returns an int, -1 with an exception on failure. */
static PyObject *
int_result(int rc, const char *slot)
{
    if (rc == -1) {
        if (!PyErr_Occurred()) {
            PyErr_Format(ContractError, "%s returned -1 without an exception", slot);
        }
        return NULL;
    }
    if (PyErr_Occurred()) {
        PyErr_Clear();
        PyErr_Format(ContractError, "%s returned %d with an exception set", slot, rc);
        return NULL;
    }
    return PyLong_FromLong(rc);
}

/* ---- the capsule and the layout (S123-S127, S139-S141) ----------------- */

/* api_address() -> the _PyGreenlet_API pointer set by PyGreenlet_Import. */
static PyObject *
t_api_address(PyObject *mod, PyObject *unused)
{
    (void)mod;
    (void)unused;
    return PyLong_FromVoidPtr((void *)_PyGreenlet_API);
}

/* capsule_import_address() -> a fresh PyCapsule_Import("greenlet._C_API"). */
static PyObject *
t_capsule_import_address(PyObject *mod, PyObject *unused)
{
    (void)mod;
    (void)unused;
    void *p = PyCapsule_Import("greenlet._C_API", 0);
    if (p == NULL) {
        return NULL;
    }
    return PyLong_FromVoidPtr(p);
}

/* capsule_info(obj) -> (name, pointer) of a capsule; name None if unnamed. */
static PyObject *
t_capsule_info(PyObject *mod, PyObject *obj)
{
    (void)mod;
    if (!PyCapsule_CheckExact(obj)) {
        PyErr_SetString(PyExc_TypeError, "not a capsule");
        return NULL;
    }
    const char *name = PyCapsule_GetName(obj);
    if (name == NULL && PyErr_Occurred()) {
        return NULL;
    }
    void *p = PyCapsule_GetPointer(obj, name);
    if (p == NULL) {
        return NULL;
    }
    return Py_BuildValue("(zN)", name, PyLong_FromVoidPtr(p));
}

/* slot_addresses() -> the 12 entries of the pointer array, as ints. */
static PyObject *
t_slot_addresses(PyObject *mod, PyObject *unused)
{
    (void)mod;
    (void)unused;
    PyObject *t = PyTuple_New(PyGreenlet_API_pointers);
    if (t == NULL) {
        return NULL;
    }
    for (Py_ssize_t i = 0; i < PyGreenlet_API_pointers; i++) {
        PyObject *v = PyLong_FromVoidPtr(_PyGreenlet_API[i]);
        if (v == NULL) {
            Py_DECREF(t);
            return NULL;
        }
        PyTuple_SET_ITEM(t, i, v);
    }
    return t;
}

/* slot_objects() -> (PyGreenlet_Type, PyExc_GreenletError, PyExc_GreenletExit). */
static PyObject *
t_slot_objects(PyObject *mod, PyObject *unused)
{
    (void)mod;
    (void)unused;
    return Py_BuildValue("(OOO)", (PyObject *)&PyGreenlet_Type, PyExc_GreenletError,
                         PyExc_GreenletExit);
}

typedef struct {
    PyGreenlet base;
    PyObject *payload;
    Py_ssize_t magic;
} CSubObject;

typedef struct {
    PyGreenlet base;
    PyObject *payload;
} HeapSubObject;

static int
put_size(PyObject *d, const char *key, size_t v)
{
    PyObject *o = PyLong_FromSize_t(v);
    if (o == NULL) {
        return -1;
    }
    int rc = PyDict_SetItemString(d, key, o);
    Py_DECREF(o);
    return rc;
}

/* layout() -> sizes and offsets as this translation unit sees them. */
static PyObject *
t_layout(PyObject *mod, PyObject *unused)
{
    (void)mod;
    (void)unused;
    PyObject *d = PyDict_New();
    if (d == NULL) {
        return NULL;
    }
    if (put_size(d, "pointer", sizeof(void *)) < 0 ||
        put_size(d, "PyObject", sizeof(PyObject)) < 0 ||
        put_size(d, "sizeof", sizeof(PyGreenlet)) < 0 ||
        put_size(d, "weakreflist", offsetof(PyGreenlet, weakreflist)) < 0 ||
        put_size(d, "dict", offsetof(PyGreenlet, dict)) < 0 ||
        put_size(d, "pimpl", offsetof(PyGreenlet, pimpl)) < 0 ||
        put_size(d, "csub_sizeof", sizeof(CSubObject)) < 0 ||
        put_size(d, "csub_payload", offsetof(CSubObject, payload)) < 0 ||
        put_size(d, "heapsub_sizeof", sizeof(HeapSubObject)) < 0) {
        Py_DECREF(d);
        return NULL;
    }
    return d;
}

/* type_slots() -> the C-level fields of PyGreenlet_Type. */
static PyObject *
t_type_slots(PyObject *mod, PyObject *unused)
{
    (void)mod;
    (void)unused;
    PyTypeObject *tp = &PyGreenlet_Type;
    return Py_BuildValue("{s:n,s:n,s:n,s:n,s:k,s:s,s:i,s:i,s:i,s:i}",
                         "tp_basicsize", tp->tp_basicsize,
                         "tp_itemsize", tp->tp_itemsize,
                         "tp_weaklistoffset", tp->tp_weaklistoffset,
                         "tp_dictoffset", tp->tp_dictoffset,
                         "tp_flags", (unsigned long)tp->tp_flags,
                         "tp_name", tp->tp_name,
                         "has_new", tp->tp_new != NULL,
                         "has_dealloc", tp->tp_dealloc != NULL,
                         "has_traverse", tp->tp_traverse != NULL,
                         "has_clear", tp->tp_clear != NULL);
}

/* constants() -> the header's macros (S122, S141). */
static PyObject *
t_constants(PyObject *mod, PyObject *unused)
{
    (void)mod;
    (void)unused;
    return Py_BuildValue(
        "{s:s,s:i,s:i,s:i,s:i,s:i,s:i,s:i,s:i,s:i,s:i,s:i,s:i,s:i}",
        "GREENLET_VERSION", GREENLET_VERSION,
        "PyGreenlet_Type_NUM", PyGreenlet_Type_NUM,
        "PyExc_GreenletError_NUM", PyExc_GreenletError_NUM,
        "PyExc_GreenletExit_NUM", PyExc_GreenletExit_NUM,
        "PyGreenlet_New_NUM", PyGreenlet_New_NUM,
        "PyGreenlet_GetCurrent_NUM", PyGreenlet_GetCurrent_NUM,
        "PyGreenlet_Throw_NUM", PyGreenlet_Throw_NUM,
        "PyGreenlet_Switch_NUM", PyGreenlet_Switch_NUM,
        "PyGreenlet_SetParent_NUM", PyGreenlet_SetParent_NUM,
        "PyGreenlet_MAIN_NUM", PyGreenlet_MAIN_NUM,
        "PyGreenlet_STARTED_NUM", PyGreenlet_STARTED_NUM,
        "PyGreenlet_ACTIVE_NUM", PyGreenlet_ACTIVE_NUM,
        "PyGreenlet_GET_PARENT_NUM", PyGreenlet_GET_PARENT_NUM,
        "PyGreenlet_API_pointers", PyGreenlet_API_pointers);
}

/* pimpl_set(g) -> True if g->pimpl is non-NULL (S129); g must be a greenlet. */
static PyObject *
t_pimpl_set(PyObject *mod, PyObject *g)
{
    (void)mod;
    if (!PyGreenlet_Check(g)) {
        PyErr_SetString(PyExc_TypeError, "pimpl_set needs a greenlet");
        return NULL;
    }
    return PyBool_FromLong(((PyGreenlet *)g)->pimpl != NULL);
}

/* ---- one wrapper per slot --------------------------------------------- */

/* check(obj) -> PyGreenlet_Check(obj) (S139). */
static PyObject *
t_check(PyObject *mod, PyObject *o)
{
    (void)mod;
    return PyBool_FromLong(PyGreenlet_Check(arg(o)));
}

/* new(run, parent) -> PyGreenlet_New(run, parent) (S130). */
static PyObject *
t_new(PyObject *mod, PyObject *args)
{
    (void)mod;
    PyObject *run, *parent;
    if (!PyArg_ParseTuple(args, "OO:new", &run, &parent)) {
        return NULL;
    }
    PyGreenlet *g = PyGreenlet_New(arg(run), (PyGreenlet *)arg(parent));
    return obj_result((PyObject *)g, "PyGreenlet_New");
}

/* getcurrent() -> PyGreenlet_GetCurrent() (S136). */
static PyObject *
t_getcurrent(PyObject *mod, PyObject *unused)
{
    (void)mod;
    (void)unused;
    return obj_result((PyObject *)PyGreenlet_GetCurrent(), "PyGreenlet_GetCurrent");
}

/* switch(g, args, kwargs) -> PyGreenlet_Switch(g, args, kwargs) (S132). */
static PyObject *
t_switch(PyObject *mod, PyObject *args)
{
    (void)mod;
    PyObject *g, *a, *kw;
    if (!PyArg_ParseTuple(args, "OOO:switch", &g, &a, &kw)) {
        return NULL;
    }
    PyObject *r = PyGreenlet_Switch((PyGreenlet *)arg(g), arg(a), arg(kw));
    return obj_result(r, "PyGreenlet_Switch");
}

/* throw(g, typ, val, tb) -> PyGreenlet_Throw(g, typ, val, tb) (S133). */
static PyObject *
t_throw(PyObject *mod, PyObject *args)
{
    (void)mod;
    PyObject *g, *typ, *val, *tb;
    if (!PyArg_ParseTuple(args, "OOOO:throw", &g, &typ, &val, &tb)) {
        return NULL;
    }
    PyObject *r = PyGreenlet_Throw((PyGreenlet *)arg(g), arg(typ), arg(val), arg(tb));
    return obj_result(r, "PyGreenlet_Throw");
}

/* setparent(g, p) -> 0 from PyGreenlet_SetParent(g, p), or raises (S134). */
static PyObject *
t_setparent(PyObject *mod, PyObject *args)
{
    (void)mod;
    PyObject *g, *p;
    if (!PyArg_ParseTuple(args, "OO:setparent", &g, &p)) {
        return NULL;
    }
    int rc = PyGreenlet_SetParent((PyGreenlet *)arg(g), (PyGreenlet *)arg(p));
    return int_result(rc, "PyGreenlet_SetParent");
}

/* Parent result: NULL without an exception is the NULL sentinel (S135). */
static PyObject *
parent_result(PyGreenlet *p)
{
    if (p == NULL && !PyErr_Occurred()) {
        return new_ref(null_sentinel);
    }
    return obj_result((PyObject *)p, "PyGreenlet_GetParent");
}

/* getparent(g) -> PyGreenlet_GetParent(g), NULL sentinel for NULL (S135). */
static PyObject *
t_getparent(PyObject *mod, PyObject *g)
{
    (void)mod;
    return parent_result(PyGreenlet_GetParent((PyGreenlet *)arg(g)));
}

/* get_parent_alias(g) -> the deprecated PyGreenlet_GET_PARENT(g). */
static PyObject *
t_get_parent_alias(PyObject *mod, PyObject *g)
{
    (void)mod;
    return parent_result(PyGreenlet_GET_PARENT((PyGreenlet *)arg(g)));
}

/* main(g), started(g), active(g) -> PyGreenlet_MAIN/STARTED/ACTIVE (S137). */
static PyObject *
t_main(PyObject *mod, PyObject *g)
{
    (void)mod;
    return int_result(PyGreenlet_MAIN((PyGreenlet *)arg(g)), "PyGreenlet_MAIN");
}

static PyObject *
t_started(PyObject *mod, PyObject *g)
{
    (void)mod;
    return int_result(PyGreenlet_STARTED((PyGreenlet *)arg(g)), "PyGreenlet_STARTED");
}

static PyObject *
t_active(PyObject *mod, PyObject *g)
{
    (void)mod;
    return int_result(PyGreenlet_ACTIVE((PyGreenlet *)arg(g)), "PyGreenlet_ACTIVE");
}

/* ---- a gevent-like switch loop in C ------------------------------------ */

/*
 * round_robin(func, n) -> (results, log)
 *
 * Creates n greenlets with PyGreenlet_New(func, NULL) (parent: the
 * caller), then switches into each in turn with PyGreenlet_Switch until
 * all are dead.  A greenlet is started with (i,); afterwards every switch
 * passes (k,), k counting all switches made so far.  A value a greenlet
 * switches back with goes to `log` as (i, value); the value of a greenlet
 * that finished goes to results[i].  An exception from a greenlet is
 * raised; the greenlets still alive are then dropped (and killed, S77).
 */
static PyObject *
t_round_robin(PyObject *mod, PyObject *args)
{
    (void)mod;
    PyObject *func, *results = NULL, *log = NULL, *ret = NULL;
    Py_ssize_t n;
    if (!PyArg_ParseTuple(args, "On:round_robin", &func, &n)) {
        return NULL;
    }
    if (n < 0) {
        PyErr_SetString(PyExc_ValueError, "n must be >= 0");
        return NULL;
    }
    PyGreenlet **gs = PyMem_Calloc((size_t)n + 1, sizeof *gs);
    PyGreenlet *me = PyGreenlet_GetCurrent();
    if (gs == NULL || me == NULL) {
        if (gs == NULL) {
            PyErr_NoMemory();
        }
        goto done;
    }
    results = PyList_New(n);
    log = PyList_New(0);
    if (results == NULL || log == NULL) {
        goto done;
    }
    for (Py_ssize_t i = 0; i < n; i++) {
        PyList_SET_ITEM(results, i, new_ref(Py_None));
        gs[i] = PyGreenlet_New(func, NULL);
        if (gs[i] == NULL) {
            goto done;
        }
        PyGreenlet *p = PyGreenlet_GetParent(gs[i]);
        Py_XDECREF(p);
        if (p != me) {
            PyErr_SetString(ContractError, "PyGreenlet_New(run, NULL): parent is not current");
            goto done;
        }
    }
    Py_ssize_t alive = n;
    long k = 0;
    while (alive > 0) {
        for (Py_ssize_t i = 0; i < n; i++) {
            if (gs[i] == NULL) {
                continue;
            }
            int started = PyGreenlet_STARTED(gs[i]);
            if (started < 0) {
                goto done;
            }
            PyObject *a = started ? Py_BuildValue("(l)", k) : Py_BuildValue("(n)", i);
            if (a == NULL) {
                goto done;
            }
            PyObject *v = PyGreenlet_Switch(gs[i], a, NULL);
            Py_DECREF(a);
            k++;
            if (v == NULL) {
                goto done;
            }
            int act = PyGreenlet_ACTIVE(gs[i]);
            if (act < 0) {
                Py_DECREF(v);
                goto done;
            }
            if (!act) {
                PyList_SetItem(results, i, v);     /* steals v */
                Py_CLEAR(gs[i]);
                alive--;
                continue;
            }
            PyObject *entry = Py_BuildValue("(nN)", i, v);
            if (entry == NULL || PyList_Append(log, entry) < 0) {
                Py_XDECREF(entry);
                goto done;
            }
            Py_DECREF(entry);
        }
    }
    ret = PyTuple_Pack(2, results, log);
done:
    if (gs != NULL) {
        for (Py_ssize_t i = 0; i < n; i++) {
            Py_XDECREF(gs[i]);
        }
        PyMem_Free(gs);
    }
    Py_XDECREF(me);
    Py_XDECREF(results);
    Py_XDECREF(log);
    return ret;
}

/* ---- H23: the uWSGI pattern -------------------------------------------- */

static PyObject *h23_ref;   /* the only reference to the running greenlet */

/*
 * h23_run(callable, tag) -> what arrives back from the greenlet
 *
 * g = PyGreenlet_New(callable, NULL); g.uwsgi_req = tag; keeps g only in
 * a C static and switches into it with PyGreenlet_Switch(g, NULL, NULL).
 * The callable is expected to call h23_drop() while it runs.
 */
static PyObject *
t_h23_run(PyObject *mod, PyObject *args)
{
    (void)mod;
    PyObject *callable, *tag;
    if (!PyArg_ParseTuple(args, "OO:h23_run", &callable, &tag)) {
        return NULL;
    }
    if (h23_ref != NULL) {
        PyErr_SetString(PyExc_RuntimeError, "h23_run is already in progress");
        return NULL;
    }
    PyGreenlet *g = PyGreenlet_New(callable, NULL);
    if (g == NULL) {
        return NULL;
    }
    if (PyObject_SetAttrString((PyObject *)g, "uwsgi_req", tag) < 0) {
        Py_DECREF(g);
        return NULL;
    }
    h23_ref = (PyObject *)g;
    PyObject *r = PyGreenlet_Switch(g, NULL, NULL);
    /* Still set only if the callable never called h23_drop(). */
    Py_CLEAR(h23_ref);
    return obj_result(r, "PyGreenlet_Switch");
}

/*
 * h23_drop() -> None; only inside the greenlet h23_run started.
 *
 * Checks that it is the current greenlet, sets g.uwsgi_seen = True, and
 * drops h23_run's reference, the only one, while g is still running.
 */
static PyObject *
t_h23_drop(PyObject *mod, PyObject *unused)
{
    (void)mod;
    (void)unused;
    PyGreenlet *cur = PyGreenlet_GetCurrent();
    if (cur == NULL) {
        return NULL;
    }
    Py_DECREF(cur);
    if (h23_ref == NULL || (PyObject *)cur != h23_ref) {
        PyErr_SetString(PyExc_RuntimeError, "h23_drop outside the h23 greenlet");
        return NULL;
    }
    if (PyObject_SetAttrString(h23_ref, "uwsgi_seen", Py_True) < 0) {
        return NULL;
    }
    PyObject *g = h23_ref;
    h23_ref = NULL;
    Py_DECREF(g);
    Py_RETURN_NONE;
}

/* ---- CSub: a static subclass shaped like a Cython cdef class ----------- */

#define CSUB_MAGIC ((Py_ssize_t)0x5eedf00d)

static Py_ssize_t csub_freed, heapsub_freed;

/* The base's tp_new gets the subclass's arguments and ignores them (S128). */
static PyObject *
csub_new(PyTypeObject *type, PyObject *args, PyObject *kwds)
{
    PyObject *o = PyGreenlet_Type.tp_new(type, args, kwds);
    if (o == NULL) {
        return NULL;
    }
    CSubObject *c = (CSubObject *)o;
    c->payload = new_ref(Py_None);
    c->magic = CSUB_MAGIC;
    return o;
}

/* CSub(run=None, parent=None, payload=None): payload here, the rest to the
   base's tp_init as keywords. */
static int
csub_init(PyObject *self, PyObject *args, PyObject *kwds)
{
    static char *kwlist[] = {"run", "parent", "payload", NULL};
    PyObject *run = NULL, *parent = NULL, *payload = NULL;
    if (!PyArg_ParseTupleAndKeywords(args, kwds, "|OOO:CSub", kwlist, &run, &parent,
                                     &payload)) {
        return -1;
    }
    if (payload != NULL) {
        CSubObject *c = (CSubObject *)self;
        PyObject *old = c->payload;
        c->payload = new_ref(payload);
        Py_XDECREF(old);
    }
    PyObject *empty = PyTuple_New(0);
    PyObject *kw = PyDict_New();
    int rc = -1;
    if (empty != NULL && kw != NULL &&
        (run == NULL || PyDict_SetItemString(kw, "run", run) == 0) &&
        (parent == NULL || PyDict_SetItemString(kw, "parent", parent) == 0)) {
        rc = PyGreenlet_Type.tp_init(self, empty, kw);
    }
    Py_XDECREF(empty);
    Py_XDECREF(kw);
    return rc;
}

static int
csub_traverse(PyObject *self, visitproc visit, void *a)
{
    Py_VISIT(((CSubObject *)self)->payload);
    return PyGreenlet_Type.tp_traverse(self, visit, a);
}

static int
csub_clear(PyObject *self)
{
    Py_CLEAR(((CSubObject *)self)->payload);
    return PyGreenlet_Type.tp_clear(self);
}

/* What Cython generates for a cdef class with a GC base: run tp_finalize
   (inherited from greenlet: the S77 kill) first, clear own fields, then
   chain to the base's tp_dealloc. */
static void
csub_dealloc(PyObject *self)
{
    if (Py_TYPE(self)->tp_finalize != NULL && !PyObject_GC_IsFinalized(self)) {
        if (PyObject_CallFinalizerFromDealloc(self) < 0) {
            return;     /* resurrected */
        }
    }
    PyObject_GC_UnTrack(self);
    CSubObject *c = (CSubObject *)self;
    Py_CLEAR(c->payload);
    c->magic = 0;
    PyObject_GC_Track(self);
    PyGreenlet_Type.tp_dealloc(self);
}

static void
csub_free(void *p)
{
    csub_freed++;
    PyObject_GC_Del(p);
}

static PyObject *
csub_get_payload(PyObject *self, void *closure)
{
    (void)closure;
    PyObject *p = ((CSubObject *)self)->payload;
    return new_ref(p != NULL ? p : Py_None);
}

static int
csub_set_payload(PyObject *self, PyObject *value, void *closure)
{
    (void)closure;
    CSubObject *c = (CSubObject *)self;
    PyObject *old = c->payload;
    c->payload = value != NULL ? new_ref(value) : NULL;
    Py_XDECREF(old);
    return 0;
}

static PyObject *
csub_get_magic_ok(PyObject *self, void *closure)
{
    (void)closure;
    return PyBool_FromLong(((CSubObject *)self)->magic == CSUB_MAGIC);
}

static PyGetSetDef csub_getset[] = {
    {"payload", csub_get_payload, csub_set_payload, "a field after PyGreenlet", NULL},
    {"magic_ok", csub_get_magic_ok, NULL, "the second field is intact", NULL},
    {NULL, NULL, NULL, NULL, NULL}
};

static PyTypeObject CSub_Type = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "_capi_test.CSub",
    .tp_basicsize = sizeof(CSubObject),
    .tp_dealloc = csub_dealloc,
    .tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_BASETYPE | Py_TPFLAGS_HAVE_GC,
    .tp_doc = "A static greenlet subclass with fields after PyGreenlet.",
    .tp_traverse = csub_traverse,
    .tp_clear = csub_clear,
    .tp_getset = csub_getset,
    .tp_init = csub_init,
    .tp_new = csub_new,
    .tp_free = csub_free,
};

/* ---- HeapSub: the same as a heap type (PyType_FromSpecWithBases) ------- */

static int
heapsub_traverse(PyObject *self, visitproc visit, void *a)
{
    Py_VISIT(Py_TYPE(self));
    Py_VISIT(((HeapSubObject *)self)->payload);
    return PyGreenlet_Type.tp_traverse(self, visit, a);
}

static int
heapsub_clear(PyObject *self)
{
    Py_CLEAR(((HeapSubObject *)self)->payload);
    return PyGreenlet_Type.tp_clear(self);
}

/* The heap-type convention: the base's dealloc frees the object (or
   resurrects it during the S77 kill), and the subclass drops its type
   reference afterwards in both cases. */
static void
heapsub_dealloc(PyObject *self)
{
    PyTypeObject *tp = Py_TYPE(self);
    PyObject_GC_UnTrack(self);
    Py_CLEAR(((HeapSubObject *)self)->payload);
    PyGreenlet_Type.tp_dealloc(self);
    Py_DECREF(tp);
}

static void
heapsub_free(void *p)
{
    heapsub_freed++;
    PyObject_GC_Del(p);
}

static PyGetSetDef heapsub_getset[] = {
    {"payload", csub_get_payload, csub_set_payload, "a field after PyGreenlet", NULL},
    {NULL, NULL, NULL, NULL, NULL}
};

static PyType_Slot heapsub_slots[] = {
    {Py_tp_dealloc, (void *)heapsub_dealloc},
    {Py_tp_traverse, (void *)heapsub_traverse},
    {Py_tp_clear, (void *)heapsub_clear},
    {Py_tp_free, (void *)heapsub_free},
    {Py_tp_getset, (void *)heapsub_getset},
    {0, NULL}
};

static PyType_Spec heapsub_spec = {
    .name = "_capi_test.HeapSub",
    .basicsize = sizeof(HeapSubObject),
    .itemsize = 0,
    .flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_BASETYPE | Py_TPFLAGS_HAVE_GC,
    .slots = heapsub_slots,
};

/* freed_counts() -> (CSub objects freed, HeapSub objects freed). */
static PyObject *
t_freed_counts(PyObject *mod, PyObject *unused)
{
    (void)mod;
    (void)unused;
    return Py_BuildValue("(nn)", csub_freed, heapsub_freed);
}

/* ---- module ---------------------------------------------------------------- */

#define FN(name, flags, doc) {#name, (PyCFunction)(void (*)(void))t_##name, flags, doc}

static PyMethodDef functions[] = {
    FN(api_address, METH_NOARGS, "the _PyGreenlet_API pointer"),
    FN(capsule_import_address, METH_NOARGS, "PyCapsule_Import(\"greenlet._C_API\")"),
    FN(capsule_info, METH_O, "(name, pointer) of a capsule"),
    FN(slot_addresses, METH_NOARGS, "the capsule's 12 slots as ints"),
    FN(slot_objects, METH_NOARGS, "slots 0-2 as objects"),
    FN(layout, METH_NOARGS, "sizeof/offsetof of PyGreenlet"),
    FN(type_slots, METH_NOARGS, "fields of PyGreenlet_Type"),
    FN(constants, METH_NOARGS, "the header's constants"),
    FN(pimpl_set, METH_O, "g->pimpl != NULL"),
    FN(check, METH_O, "PyGreenlet_Check(o)"),
    FN(new, METH_VARARGS, "PyGreenlet_New(run, parent)"),
    FN(getcurrent, METH_NOARGS, "PyGreenlet_GetCurrent()"),
    FN(switch, METH_VARARGS, "PyGreenlet_Switch(g, args, kwargs)"),
    FN(throw, METH_VARARGS, "PyGreenlet_Throw(g, typ, val, tb)"),
    FN(setparent, METH_VARARGS, "PyGreenlet_SetParent(g, p)"),
    FN(getparent, METH_O, "PyGreenlet_GetParent(g)"),
    FN(get_parent_alias, METH_O, "PyGreenlet_GET_PARENT(g)"),
    FN(main, METH_O, "PyGreenlet_MAIN(g)"),
    FN(started, METH_O, "PyGreenlet_STARTED(g)"),
    FN(active, METH_O, "PyGreenlet_ACTIVE(g)"),
    FN(round_robin, METH_VARARGS, "round_robin(func, n) -> (results, log)"),
    FN(h23_run, METH_VARARGS, "h23_run(callable, tag)"),
    FN(h23_drop, METH_NOARGS, "h23_drop(): drop the only reference"),
    FN(freed_counts, METH_NOARGS, "(CSub freed, HeapSub freed)"),
    {NULL, NULL, 0, NULL}
};

static struct PyModuleDef module_def = {
    PyModuleDef_HEAD_INIT,
    .m_name = "_capi_test",
    .m_doc = "Test driver of greenlet's C API (greenlet/greenlet.h).",
    .m_size = -1,
    .m_methods = functions,
};

PyMODINIT_FUNC
PyInit__capi_test(void)
{
    PyGreenlet_Import();
    if (_PyGreenlet_API == NULL) {
        return NULL;
    }
    PyObject *m = PyModule_Create(&module_def);
    if (m == NULL) {
        return NULL;
    }
    null_sentinel = PyObject_CallNoArgs((PyObject *)&PyBaseObject_Type);
    ContractError = PyErr_NewException("_capi_test.ContractError", PyExc_AssertionError,
                                       NULL);
    if (null_sentinel == NULL || ContractError == NULL) {
        goto fail;
    }
    CSub_Type.tp_base = &PyGreenlet_Type;
    if (PyType_Ready(&CSub_Type) < 0) {
        goto fail;
    }
    PyObject *bases = PyTuple_Pack(1, (PyObject *)&PyGreenlet_Type);
    PyObject *heapsub = bases != NULL ? PyType_FromSpecWithBases(&heapsub_spec, bases) : NULL;
    Py_XDECREF(bases);
    if (heapsub == NULL) {
        goto fail;
    }
    if (PyModule_AddObject(m, "HeapSub", heapsub) < 0) {
        Py_DECREF(heapsub);
        goto fail;
    }
    Py_INCREF(&CSub_Type);
    if (PyModule_AddObject(m, "CSub", (PyObject *)&CSub_Type) < 0) {
        Py_DECREF(&CSub_Type);
        goto fail;
    }
    if (PyModule_AddObject(m, "NULL", new_ref(null_sentinel)) < 0 ||
        PyModule_AddObject(m, "ContractError", new_ref(ContractError)) < 0) {
        goto fail;
    }
    return m;
fail:
    Py_DECREF(m);
    return NULL;
}
