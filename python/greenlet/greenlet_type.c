/*
 * The greenlet type: construction, attributes, switch/throw methods,
 * garbage collection and deallocation (with the kill of S77).
 */
#include "pyg.h"

/* Kills nested deeper than this are queued and run when the outermost
   one is done, so dropping a long chain of suspended greenlets does not
   nest deallocations without bound (H24). */
#define KILL_NEST_MAX 64

/* The freed pyg_impls a thread keeps for its next greenlets: a create
   then costs no malloc and free (about an eighth of it on 3.10). */
#define SPARE_IMPLS 32

/* Under AddressSanitizer a kept record is poisoned but for its link, so
   that a stale pointer to it is still reported as one. */
#if defined(__SANITIZE_ADDRESS__)
#define PYG_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define PYG_ASAN 1
#endif
#endif
#ifdef PYG_ASAN
#include <sanitizer/asan_interface.h>
#define LINK_AT offsetof(pyg_impl, next_queued)
#define LINK_END (LINK_AT + sizeof(pyg_impl *))
static void
spare_poison(pyg_impl *gi)
{
    ASAN_POISON_MEMORY_REGION(gi, LINK_AT);
    ASAN_POISON_MEMORY_REGION((char *)gi + LINK_END, sizeof *gi - LINK_END);
}
#define spare_unpoison(gi) ASAN_UNPOISON_MEMORY_REGION((gi), sizeof(pyg_impl))
#else
#define spare_poison(gi) ((void)(gi))
#define spare_unpoison(gi) ((void)(gi))
#endif

static pyg_impl *
impl_new(PyGreenlet *self)
{
    pyg_thread *t = pyg_thread_peek();
    pyg_impl *gi;
    if (t != NULL && t->spare != NULL) {
        gi = t->spare;
        t->spare = gi->next_queued;
        t->n_spare--;
        spare_unpoison(gi);
    } else if ((gi = PyMem_RawMalloc(sizeof *gi)) == NULL) {
        /* Not PyMem_RawCalloc: glibc's calloc bypasses its per-thread
           cache and costs some 300 instructions more than malloc and a
           memset. */
        PyErr_NoMemory();
        return NULL;
    }
    memset(gi, 0, sizeof *gi);     /* its state too (pystate.h) */
    gi->self = self;
    return gi;
}

/* Keeps `gi` (all it held already dropped) for the calling thread's next
   greenlet, or frees it.  Any thread: the memory has no owner. */
static void
impl_release(pyg_impl *gi)
{
    pyg_thread *t = pyg_thread_peek();
    if (t != NULL && t->n_spare < SPARE_IMPLS) {
        gi->next_queued = t->spare;
        t->spare = gi;
        t->n_spare++;
        spare_poison(gi);
    } else {
        PyMem_RawFree(gi);
    }
}

void
pyg_free_spare_impls(pyg_thread *t)
{
    while (t->spare != NULL) {
        pyg_impl *gi = t->spare;
        t->spare = gi->next_queued;
        spare_unpoison(gi);
        PyMem_RawFree(gi);
    }
    t->n_spare = 0;
}

PyGreenlet *
pyg_new_main(pyg_thread *t, cg_greenlet *cg)
{
    PyGreenlet *m = (PyGreenlet *)PyGreenlet_Type.tp_alloc(&PyGreenlet_Type, 0);
    if (m == NULL) {
        return NULL;
    }
    m->pimpl = impl_new(m);
    if (m->pimpl == NULL) {
        Py_DECREF(m);
        return NULL;
    }
    m->pimpl->flags = PYG_MAIN;
    m->pimpl->cg = cg;
    m->pimpl->thread = t;
    return m;
}

/* The check object.__new__ makes for abstract classes (S14, H18). */
static int
refuse_abstract(PyTypeObject *type)
{
    PyObject *names = PyObject_GetAttrString((PyObject *)type, "__abstractmethods__");
    PyObject *sorted = names != NULL ? PySequence_List(names) : NULL;
    Py_XDECREF(names);
    if (sorted == NULL || PyList_Sort(sorted) < 0) {
        Py_XDECREF(sorted);
        return -1;
    }
    PyObject *sep = PyUnicode_FromString("', '");
    PyObject *joined = sep != NULL ? PyUnicode_Join(sep, sorted) : NULL;
    if (joined != NULL) {
        PyErr_Format(PyExc_TypeError,
                     "Can't instantiate abstract class %s with abstract method%s '%U'",
                     type->tp_name, PyList_GET_SIZE(sorted) > 1 ? "s" : "", joined);
    }
    Py_XDECREF(sep);
    Py_XDECREF(joined);
    Py_DECREF(sorted);
    return -1;
}

static PyObject *
green_new(PyTypeObject *type, PyObject *args, PyObject *kwds)
{
    (void)args;
    (void)kwds;
    if ((type->tp_flags & Py_TPFLAGS_IS_ABSTRACT) && refuse_abstract(type) < 0) {
        return NULL;
    }
    if (pyg_thread_get() == NULL) {
        return NULL;
    }
    PyGreenlet *self;
    if (type == &PyGreenlet_Type) {
        /* What tp_alloc does, less its memset and generic size logic
           (20 instructions of a create): the exact type has these fields. */
        self = PyObject_GC_New(PyGreenlet, type);
        if (self == NULL) {
            return NULL;
        }
        self->weakreflist = self->dict = NULL;
        self->pimpl = NULL;
        PyObject_GC_Track(self);
    } else if ((self = (PyGreenlet *)type->tp_alloc(type, 0)) == NULL) {
        return NULL;
    }
    self->pimpl = impl_new(self);
    if (self->pimpl == NULL) {
        Py_DECREF(self);
        return NULL;
    }
    /* Read after the allocation: S11, whatever a collection did. */
    pyg_thread *t = pyg_thread_get();
    if (t == NULL) {
        Py_DECREF(self);
        return NULL;
    }
    self->pimpl->parent = (PyGreenlet *)Py_NewRef((PyObject *)t->current);
    return (PyObject *)self;
}

static int green_setrun(PyGreenlet *self, PyObject *value, void *closure);

/* A vectorcall's arguments as a new tuple and a new dict (NULL when there
   are no keywords).  -1 with an exception, nothing made. */
static int
unpack_vector(PyObject *const *args, Py_ssize_t nargs, PyObject *kwnames,
              PyObject **tuple, PyObject **kwargs)
{
    *kwargs = NULL;
    if ((*tuple = PyTuple_New(nargs)) == NULL) {
        return -1;
    }
    for (Py_ssize_t i = 0; i < nargs; i++) {
        PyTuple_SET_ITEM(*tuple, i, Py_NewRef(args[i]));
    }
    if (kwnames == NULL || PyTuple_GET_SIZE(kwnames) == 0) {
        return 0;
    }
    if ((*kwargs = PyDict_New()) == NULL) {
        Py_CLEAR(*tuple);
        return -1;
    }
    for (Py_ssize_t i = 0; i < PyTuple_GET_SIZE(kwnames); i++) {
        if (PyDict_SetItem(*kwargs, PyTuple_GET_ITEM(kwnames, i), args[nargs + i]) < 0) {
            Py_CLEAR(*tuple);
            Py_CLEAR(*kwargs);
            return -1;
        }
    }
    return 0;
}

/* __init__ once its arguments are parsed (either may be NULL). */
static int
init_parsed(PyGreenlet *self, PyObject *run, PyObject *parent)
{
    if (run != NULL && green_setrun(self, run, NULL) < 0) {
        return -1;
    }
    if (parent != NULL && parent != Py_None) {
        return pyg_set_parent(self, parent);
    }
    return 0;
}

static int
green_init(PyGreenlet *self, PyObject *args, PyObject *kwds)
{
    static char *kwlist[] = {"run", "parent", NULL};
    PyObject *run = NULL, *parent = NULL;
    Py_ssize_t nargs = PyTuple_GET_SIZE(args);
    if (kwds == NULL && nargs <= 2) {
        /* The common greenlet(run[, parent]): the general parser costs
           more than the rest of creating a greenlet object. */
        run = nargs > 0 ? PyTuple_GET_ITEM(args, 0) : NULL;
        parent = nargs > 1 ? PyTuple_GET_ITEM(args, 1) : NULL;
    } else if (!PyArg_ParseTupleAndKeywords(args, kwds, "|OO:greenlet", kwlist, &run,
                                            &parent)) {
        return -1;
    }
    return init_parsed(self, run, parent);
}

/* Calling the greenlet type itself (never inherited by subclasses):
   greenlet(run[, parent]) is __new__ then __init__ with no argument tuple
   built and no slot looked up on the way -- a third of the interpreter's
   share of a create.  Keywords go the general way, type.__call__. */
static PyObject *
green_vectorcall(PyObject *type, PyObject *const *args, size_t nargsf, PyObject *kwnames)
{
    Py_ssize_t nargs = PyVectorcall_NARGS(nargsf);
    if (kwnames != NULL || nargs > 2) {
        PyObject *tuple, *kwargs;
        if (unpack_vector(args, nargs, kwnames, &tuple, &kwargs) < 0) {
            return NULL;
        }
        PyObject *r = PyType_Type.tp_call(type, tuple, kwargs);
        Py_DECREF(tuple);
        Py_XDECREF(kwargs);
        return r;
    }
    PyGreenlet *self = (PyGreenlet *)green_new((PyTypeObject *)type, NULL, NULL);
    if (self != NULL &&
        init_parsed(self, nargs > 0 ? args[0] : NULL, nargs > 1 ? args[1] : NULL) < 0) {
        Py_CLEAR(self);
    }
    return (PyObject *)self;
}

PyGreenlet *
pyg_new(PyObject *run, PyGreenlet *parent)
{
    PyGreenlet *g = (PyGreenlet *)green_new(&PyGreenlet_Type, NULL, NULL);
    if (g == NULL) {
        return NULL;
    }
    if (run != NULL) {
        g->pimpl->run = Py_NewRef(run);
    }
    if (parent != NULL && pyg_set_parent(g, (PyObject *)parent) < 0) {
        Py_DECREF(g);
        return NULL;
    }
    return g;
}

/* ---- parent -------------------------------------------------------------- */

int
pyg_set_parent(PyGreenlet *g, PyObject *p)
{
    pyg_impl *gi = g->pimpl;
    if (p == NULL) {
        PyErr_SetString(PyExc_AttributeError, "can't delete attribute");
        return -1;
    }
    if (gi->flags & PYG_MAIN) {
        PyErr_SetString(PyExc_AttributeError, "cannot set the parent of a main greenlet");
        return -1;
    }
    if (!PyGreenlet_Check(p)) {
        PyErr_Format(PyExc_TypeError,
                     "GreenletChecker: Expected any type of greenlet, not %s",
                     Py_TYPE(p)->tp_name);
        return -1;
    }
    PyGreenlet *last = NULL;
    for (PyGreenlet *q = (PyGreenlet *)p; q != NULL; q = q->pimpl->parent) {
        if (q == g) {
            PyErr_SetString(PyExc_ValueError, "cyclic parent chain");
            return -1;
        }
        last = q;
    }
    if (!(last->pimpl->flags & PYG_MAIN)) {
        PyErr_SetString(PyExc_ValueError, "parent must not be garbage collected");
        return -1;
    }
    pyg_thread *owner = pyg_owner(((PyGreenlet *)p)->pimpl);
    if (pyg_started(gi) && gi->thread != NULL && owner != gi->thread) {
        PyErr_SetString(PyExc_ValueError, "parent cannot be on a different thread");
        return -1;
    }
    if (!pyg_started(gi) && gi->cg != NULL && owner != gi->thread) {
        pyg_dematerialize(gi);
    }
    PyGreenlet *old = gi->parent;
    gi->parent = (PyGreenlet *)Py_NewRef(p);
    Py_XDECREF(old);    /* S42: the assignment is complete by now */
    return 0;
}

/* ---- getters and setters ------------------------------------------------- */

static const char main_no_run[] = "Main greenlets do not have a run attribute.";

static PyObject *
green_getrun(PyGreenlet *self, void *closure)
{
    (void)closure;
    pyg_impl *gi = self->pimpl;
    if (gi->flags & PYG_MAIN) {
        PyErr_SetString(PyExc_AttributeError, main_no_run);
        return NULL;
    }
    if (pyg_started(gi) || gi->run == NULL) {
        PyErr_SetString(PyExc_AttributeError, "run");
        return NULL;
    }
    return Py_NewRef(gi->run);
}

static int
green_setrun(PyGreenlet *self, PyObject *value, void *closure)
{
    (void)closure;
    pyg_impl *gi = self->pimpl;
    if (gi->flags & PYG_MAIN) {
        PyErr_SetString(PyExc_AttributeError, main_no_run);
        return -1;
    }
    if (pyg_started(gi)) {
        PyErr_SetString(PyExc_AttributeError,
                        "run cannot be set after the start of the greenlet");
        return -1;
    }
    PyObject *old = gi->run;
    gi->run = value != NULL ? Py_NewRef(value) : NULL;
    Py_XDECREF(old);
    return 0;
}

static PyObject *
green_getparent(PyGreenlet *self, void *closure)
{
    (void)closure;
    PyObject *p = (PyObject *)self->pimpl->parent;
    return Py_NewRef(p != NULL ? p : Py_None);
}

static int
green_setparent(PyGreenlet *self, PyObject *value, void *closure)
{
    (void)closure;
    return pyg_set_parent(self, value);
}

static PyObject *
green_getdead(PyGreenlet *self, void *closure)
{
    (void)closure;
    return PyBool_FromLong(pyg_dead(self->pimpl));
}

/* Suspended: active and not the current greenlet of its thread. */
static int
suspended(const pyg_impl *gi)
{
    return pyg_active(gi) && gi->thread != NULL && gi->thread->current != gi->self;
}

static PyObject *
green_getframe(PyGreenlet *self, void *closure)
{
    (void)closure;
    pyg_impl *gi = self->pimpl;
    if (!suspended(gi)) {
        Py_RETURN_NONE;
    }
    return pyg_state_frame(&gi->state, pyg_tstate_unchecked());
}

/* The running greenlet's context lives in the thread state; a greenlet
   running in another thread has it where nobody here may touch it. */
static PyObject **
context_slot(PyGreenlet *self, const char *verb)
{
    pyg_impl *gi = self->pimpl;
    pyg_thread *t = pyg_thread_peek();
    int running = pyg_active(gi) && gi->thread != NULL && gi->thread->current == self;
    if (running && gi->thread != t) {
        PyErr_Format(PyExc_ValueError,
                     "cannot %s context of a greenlet that is running in a different thread",
                     verb);
        return NULL;
    }
    return pyg_state_context_slot(&gi->state, pyg_tstate_unchecked(), running);
}

static PyObject *
green_getcontext(PyGreenlet *self, void *closure)
{
    (void)closure;
    PyObject **slot = context_slot(self, "get");
    if (slot == NULL) {
        return NULL;
    }
    return Py_NewRef(*slot != NULL ? *slot : Py_None);
}

static int
green_setcontext(PyGreenlet *self, PyObject *value, void *closure)
{
    (void)closure;
    if (value == NULL) {
        PyErr_SetString(PyExc_AttributeError, "can't delete context attribute");
        return -1;
    }
    if (value == Py_None) {
        value = NULL;
    } else if (!PyContext_CheckExact(value)) {
        PyErr_SetString(PyExc_TypeError,
                        "greenlet context must be a contextvars.Context or None");
        return -1;
    }
    PyObject **slot = context_slot(self, "set");
    if (slot == NULL) {
        return -1;
    }
    PyObject *old = *slot;
    *slot = Py_XNewRef(value);
    if (self->pimpl->thread != NULL && self->pimpl->thread->current == self) {
        pyg_state_context_changed(pyg_tstate_unchecked());
    }
    Py_XDECREF(old);
    return 0;
}

static PyObject *
green_getstacksaved(PyGreenlet *self, void *closure)
{
    (void)closure;
    pyg_impl *gi = self->pimpl;
    size_t n = 0;
    if (suspended(gi) && gi->cg != NULL && gi->thread == pyg_thread_peek()) {
        n = cg_stack_span(gi->cg);
    } else if (suspended(gi) && gi->cg != NULL && !(gi->flags & PYG_MAIN)) {
        n = cg_stack_saved(gi->cg);     /* another thread's: what is on the heap */
    }
    return PyLong_FromSize_t(n);
}

/* Until it starts: the stack it asked for, or None (its thread's default
   then decides); from then on: the stack it got, 0 being the shared one. */
static PyObject *
green_getstacksize(PyGreenlet *self, void *closure)
{
    (void)closure;
    pyg_impl *gi = self->pimpl;
    if (gi->flags & PYG_MAIN) {
        return PyLong_FromLong(0);
    }
    if (gi->cg == NULL && !(gi->flags & PYG_STACK_CHOSEN)) {
        Py_RETURN_NONE;
    }
    return PyLong_FromSize_t(gi->stack_size);
}

static int
green_setstacksize(PyGreenlet *self, PyObject *value, void *closure)
{
    (void)closure;
    pyg_impl *gi = self->pimpl;
    /* Once it has a core greenlet its stack is fixed: that happens as it
       starts (a `run` lookup there may run this very setter). */
    if ((gi->flags & PYG_MAIN) || gi->cg != NULL || pyg_started(gi)) {
        PyErr_SetString(PyExc_ValueError,
                        "gr_stack_size can only be set before the greenlet starts");
        return -1;
    }
    if (value == NULL || value == Py_None) {
        gi->flags &= ~PYG_STACK_CHOSEN;
        return 0;
    }
    size_t n;
    if (pyg_stack_size_arg(value, &n) < 0) {
        return -1;
    }
    gi->stack_size = n;
    gi->flags |= PYG_STACK_CHOSEN;
    return 0;
}

static PyObject *
green_getdict(PyGreenlet *self, void *closure)
{
    (void)closure;
    if (self->dict == NULL) {
        self->dict = PyDict_New();
        if (self->dict == NULL) {
            return NULL;
        }
    }
    return Py_NewRef(self->dict);
}

static int
green_setdict(PyGreenlet *self, PyObject *value, void *closure)
{
    (void)closure;
    if (value == NULL) {
        PyErr_SetString(PyExc_TypeError, "__dict__ may not be deleted");
        return -1;
    }
    if (!PyDict_Check(value)) {
        PyErr_SetString(PyExc_TypeError, "__dict__ must be a dictionary");
        return -1;
    }
    PyObject *old = self->dict;
    self->dict = Py_NewRef(value);
    Py_XDECREF(old);
    return 0;
}

static PyGetSetDef green_getsets[] = {
    {"__dict__", (getter)green_getdict, (setter)green_setdict, NULL, NULL},
    {"run", (getter)green_getrun, (setter)green_setrun,
     "The callable run in this greenlet; only before it starts.", NULL},
    {"parent", (getter)green_getparent, (setter)green_setparent,
     "The greenlet that receives this one's result when it finishes.", NULL},
    {"dead", (getter)green_getdead, NULL, "True once it has finished.", NULL},
    {"gr_stack_size", (getter)green_getstacksize, (setter)green_setstacksize,
     "(cgreenlet) 0: runs on the shared, copied stack; else the bytes of its "
     "dedicated stack.  Settable before it starts; None: its thread's default.",
     NULL},
    {"gr_frame", (getter)green_getframe, NULL,
     "The innermost frame of a suspended greenlet, else None.", NULL},
    {"gr_context", (getter)green_getcontext, (setter)green_setcontext,
     "The contextvars.Context this greenlet runs in.", NULL},
    {"_stack_saved", (getter)green_getstacksaved, NULL,
     "Bytes held for this greenlet's suspended stack.", NULL},
    {NULL, NULL, NULL, NULL, NULL}
};

/* ---- methods -------------------------------------------------------------- */

/* The empty tuple, as PyTuple_New(0) returns it, for the usual switch()
   without arguments. */
static PyObject *empty_args;

/* Vectorcall convention: called from Python code, `args` lies on the
   caller's value stack, which tells where that stack ends should the
   greenlet be abandoned there (see pyg_state_abandon). */
/* green_switch with arguments. */
static PYG_NOINLINE PyObject *
switch_with_args(PyGreenlet *self, PyObject *const *args, Py_ssize_t nargs, PyObject *kwnames)
{
    Py_ssize_t nkw = kwnames != NULL ? PyTuple_GET_SIZE(kwnames) : 0;
    PyObject *a, *kw;
    if (unpack_vector(args, nargs, kwnames, &a, &kw) < 0) {
        return NULL;
    }
    return pyg_switch(self, a, kw, NULL, (void *)(args + nargs + nkw));
}

/* Tail calls only: this frame is gone while the greenlet is suspended,
   so a copy-stack switch saves and restores fewer bytes. */
static PyObject *
green_switch(PyGreenlet *self, PyObject *const *args, Py_ssize_t nargsf, PyObject *kwnames)
{
    Py_ssize_t nargs = PyVectorcall_NARGS(nargsf);
    if (nargs == 0 && kwnames == NULL) {
        return pyg_switch(self, Py_NewRef(empty_args), NULL, NULL, (void *)args);
    }
    if (nargs == 1 && kwnames == NULL) {
        return pyg_switch_value(self, Py_NewRef(args[0]), (void *)(args + 1));
    }
    return switch_with_args(self, args, nargs, kwnames);
}

static PyObject *
green_throw(PyGreenlet *self, PyObject *args)
{
    PyObject *typ = PyExc_GreenletExit, *val = NULL, *tb = NULL;
    if (!PyArg_ParseTuple(args, "|OOO:throw", &typ, &val, &tb)) {
        return NULL;
    }
    PyObject *exc = pyg_make_throw(typ, val, tb);
    if (exc == NULL) {
        return NULL;
    }
    return pyg_switch(self, NULL, NULL, exc, NULL);
}

static PyObject *
green_getstate(PyGreenlet *self, PyObject *unused)
{
    (void)unused;
    PyErr_Format(PyExc_TypeError, "cannot serialize '%s' object", Py_TYPE(self)->tp_name);
    return NULL;
}

static PyMethodDef green_methods[] = {
    {"switch", (PyCFunction)(void (*)(void))green_switch, METH_FASTCALL | METH_KEYWORDS,
     "switch(*args, **kwargs)\n\nSwitch to this greenlet (start it if needed), "
     "passing the arguments; returns what is later passed back."},
    {"throw", (PyCFunction)green_throw, METH_VARARGS,
     "throw([typ[, val[, tb]]])\n\nSwitch to this greenlet, raising the exception "
     "there (GreenletExit by default)."},
    {"__getstate__", (PyCFunction)green_getstate, METH_NOARGS, NULL},
    {NULL, NULL, 0, NULL}
};

static int
green_bool(PyGreenlet *self)
{
    return pyg_active(self->pimpl);
}

static PyNumberMethods green_as_number = {
    .nb_bool = (inquiry)green_bool,
};

static PyObject *
green_repr(PyGreenlet *self)
{
    pyg_impl *gi = self->pimpl;
    pyg_thread *owner = pyg_owner(gi);
    int is_main = (gi->flags & PYG_MAIN) != 0;
    const char *state;
    if (!pyg_started(gi)) {
        state = " pending";
    } else if (pyg_dead(gi)) {
        state = (gi->thread != NULL && pyg_thread_exited(gi->thread))
                    ? " (thread exited) dead" : " dead";
    } else if (gi->thread == pyg_thread_peek() && gi->thread->current == self) {
        state = is_main ? " current active started main" : " current active started";
    } else {
        state = is_main ? " suspended active started main" : " suspended active started";
    }
    return PyUnicode_FromFormat("<%s object at %p (otid=%p)%s>", Py_TYPE(self)->tp_name,
                                (void *)self, (void *)owner, state);
}

/* ---- garbage collection and deallocation ---------------------------------- */

/* 1 if the collector may be told what a suspended greenlet's frames hold
   (S80): exactly when green_finalize would keep it alive for a kill,
   should the collector find it unreachable -- it has not been finalized
   yet, and it is suspended in a live thread.  Otherwise the collector
   could clear objects that its frames still use. */
static int
frames_reported(PyGreenlet *self)
{
    pyg_impl *gi = self->pimpl;
    return pyg_needs_kill(gi) && gi->thread->current != self && !pyg_finalizing() &&
           !pyg_thread_exited(gi->thread) && !PyObject_GC_IsFinalized((PyObject *)self);
}

static int
green_traverse(PyGreenlet *self, visitproc visit, void *arg)
{
    Py_VISIT(self->dict);
    pyg_impl *gi = self->pimpl;
    if (gi == NULL) {
        return 0;
    }
    Py_VISIT(gi->run);
    Py_VISIT(gi->parent);
    Py_VISIT(gi->running_run);
    Py_VISIT(gi->waiting_on);
    Py_VISIT(gi->start_run);
    Py_VISIT(gi->start_args);
    Py_VISIT(gi->start_kwargs);
    Py_VISIT(gi->start_error);
    Py_VISIT(gi->trace_via);
    Py_VISIT(gi->main);
    if (frames_reported(self)) {
        int rc = pyg_state_traverse_frames(&gi->state, visit, arg);
        if (rc != 0) {
            return rc;
        }
    }
    return pyg_state_traverse(&gi->state, visit, arg);
}

static int
green_clear(PyGreenlet *self)
{
    Py_CLEAR(self->dict);
    pyg_impl *gi = self->pimpl;
    if (gi == NULL) {
        return 0;
    }
    Py_CLEAR(gi->run);
    if (!pyg_active(gi)) {
        /* A live greenlet keeps its lineage: it may still finish. */
        Py_CLEAR(gi->parent);
        pyg_state_clear(&gi->state);
    }
    return 0;
}

/* Called with the object resurrected (one reference, ours).  Returns 1 if
   the object must stay alive. */
static int
kill_for_dealloc(PyGreenlet *self)
{
    pyg_impl *gi = self->pimpl;
    if (pyg_finalizing() || pyg_thread_exited(gi->thread)) {
        return 0;   /* S85, S91: discarded without running */
    }
    pyg_thread *t = pyg_thread_peek();
    if (t != gi->thread || t->kill_depth >= KILL_NEST_MAX || !pyg_kill_allowed(t)) {
        pyg_defer_kill(gi->thread, self);   /* S82; takes our reference */
        return 1;
    }
    pyg_kill(t, self);
    if (pyg_needs_kill(gi) && Py_REFCNT(self) == 1) {
        /* S78: it switched away, and nothing else refers to it. */
        PyObject *r = PyObject_Repr((PyObject *)self);
        if (r != NULL) {
            PySys_FormatStderr("GreenletExit did not kill %U\n", r);
            Py_DECREF(r);
        } else {
            PyErr_Clear();
        }
        gi->flags |= PYG_LEAKED;
        return 1;
    }
    Py_SET_REFCNT(self, Py_REFCNT(self) - 1);
    return Py_REFCNT(self) != 0;
}

/* Frees what a dead, not-started or abandoned greenlet still holds. */
static void
impl_free(pyg_impl *gi)
{
    pyg_thread *t = pyg_thread_peek();
    if (gi->cg != NULL && !(gi->flags & PYG_MAIN)) {
        cg_state st = cg_get_state(gi->cg);
        if (st == CG_SUSPENDED || st == CG_RUNNING) {
            if (t != gi->thread) {
                /* Another live thread's greenlet during finalization: its
                   stack cannot be released from here.  Abandon it. */
                pyg_state_clear(&gi->state);
                return;
            }
            pyg_state_cut_shims(&gi->state);
            (void)cg_discard(gi->cg);
        }
    }
    Py_CLEAR(gi->run);
    Py_CLEAR(gi->parent);
    Py_CLEAR(gi->running_run);
    Py_CLEAR(gi->waiting_on);
    Py_CLEAR(gi->start_run);
    Py_CLEAR(gi->start_args);
    Py_CLEAR(gi->start_kwargs);
    Py_CLEAR(gi->start_error);
    Py_CLEAR(gi->trace_via);
    pyg_state_clear(&gi->state);
    if (gi->flags & PYG_MAIN) {
        if (gi->thread->main != gi->self) {
            pyg_thread_free(gi->thread);    /* its thread has let go */
        }
    } else if (gi->cg != NULL) {
        pyg_destroy_core(gi->thread, gi->cg);
    }
    PyGreenlet *m = gi->main;
    if (gi->flags & PYG_MAIN) {
        PyMem_RawFree(gi);  /* its thread's spare list may be gone with it */
    } else {
        impl_release(gi);
    }
    Py_XDECREF(m);
}

static void
green_dealloc(PyGreenlet *self)
{
    PyObject_GC_UnTrack(self);
    pyg_impl *gi = self->pimpl;
    if (pyg_needs_kill(gi)) {
        Py_SET_REFCNT(self, 1);
        if (kill_for_dealloc(self)) {
            /* Alive again (resurrected, queued or leaked).  A heap
               subclass's dealloc drops a type reference after us. */
            PyObject_GC_Track(self);
            if (Py_TYPE(self)->tp_flags & Py_TPFLAGS_HEAPTYPE) {
                Py_INCREF(Py_TYPE(self));
            }
            return;
        }
    }
    if (self->weakreflist != NULL) {
        PyObject_ClearWeakRefs((PyObject *)self);   /* S51: first */
    }
    Py_CLEAR(self->dict);
    self->pimpl = NULL;
    if (gi != NULL) {
        impl_free(gi);
    }
    Py_TYPE(self)->tp_free((PyObject *)self);
    pyg_thread *t = pyg_thread_peek();
    /* (pyg_thread_ready: NULL when there is deferred work) */
    if (t != NULL && t->kill_depth == 0 && pyg_thread_ready() == NULL) {
        pyg_run_deferred(t);
    }
}

/* Cycles found by the collector (S80).  The kill cannot run here: the
   collector's lists of the objects it is examining lie in this thread's C
   stack, which the switch into the dying greenlet would move away while
   its code frees objects on those lists.  So the greenlet is resurrected
   into its thread's kill queue, which the collection's "stop" callback
   (or the thread's next greenlet operation) works off once the collector
   is done; every object of the cycle is still intact then.  Called
   outside a collection (a subclass's deallocation), it kills at once. */
static void
green_finalize(PyGreenlet *self)
{
    pyg_impl *gi = self->pimpl;
    pyg_thread *t = pyg_thread_peek();
    if (!pyg_needs_kill(gi) || pyg_finalizing() || pyg_thread_exited(gi->thread)) {
        return;
    }
    if (gi->thread == t && pyg_kill_allowed(t)) {
        pyg_kill(t, self);
        return;
    }
    /* Another thread's greenlet waits the same way for its own thread's
       next greenlet operation (S82). */
    gi->flags |= PYG_FOUND_GARBAGE;
    pyg_defer_kill(gi->thread, (PyGreenlet *)Py_NewRef((PyObject *)self));
}

/* ---- the type ------------------------------------------------------------- */

PyTypeObject PyGreenlet_Type = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "greenlet.greenlet",
    .tp_basicsize = sizeof(PyGreenlet),
    .tp_dealloc = (destructor)green_dealloc,
    .tp_repr = (reprfunc)green_repr,
    .tp_as_number = &green_as_number,
    .tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_BASETYPE | Py_TPFLAGS_HAVE_GC,
    .tp_doc = "greenlet(run=None, parent=None) -> greenlet\n\n"
              "A lightweight coroutine with its own stack: switch() starts it "
              "or resumes it where it switched away.",
    .tp_traverse = (traverseproc)green_traverse,
    .tp_clear = (inquiry)green_clear,
    .tp_weaklistoffset = offsetof(PyGreenlet, weakreflist),
    .tp_methods = green_methods,
    .tp_getset = green_getsets,
    .tp_dictoffset = offsetof(PyGreenlet, dict),
    .tp_init = (initproc)green_init,
    .tp_alloc = PyType_GenericAlloc,
    .tp_new = green_new,
    .tp_vectorcall = green_vectorcall,
    .tp_free = PyObject_GC_Del,
    .tp_finalize = (destructor)green_finalize,
};

_Static_assert(sizeof(PyGreenlet) == 5 * sizeof(void *) || sizeof(void *) != 8,
               "PyGreenlet must stay 40 bytes on 64-bit (S125)");

int
pyg_trace(pyg_thread *t, int is_throw, PyGreenlet *origin, PyGreenlet *target)
{
    PyObject *cb = Py_NewRef(t->trace);
    PyThreadState *ts = pyg_tstate_unchecked();
    pyg_tracing_begin(ts);
    PyObject *res = PyObject_CallFunction(cb, "s(OO)", is_throw ? "throw" : "switch",
                                          (PyObject *)origin, (PyObject *)target);
    pyg_tracing_end(ts);
    Py_DECREF(cb);
    if (res == NULL) {
        PyObject *old = t->trace;
        t->trace = NULL;
        Py_XDECREF(old);
        return -1;
    }
    Py_DECREF(res);
    return 0;
}

int
pyg_type_ready(PyObject *module)
{
    if (PyType_Ready(&PyGreenlet_Type) < 0) {
        return -1;
    }
    if (empty_args == NULL && (empty_args = PyTuple_New(0)) == NULL) {
        return -1;
    }
    static const char *const shared[] = {"getcurrent", "error", "GreenletExit",
                                         "settrace", "gettrace", NULL};
    for (int i = 0; shared[i] != NULL; i++) {
        PyObject *o = PyObject_GetAttrString(module, shared[i]);
        if (o == NULL) {
            return -1;
        }
        int rc = PyDict_SetItemString(PyGreenlet_Type.tp_dict, shared[i], o);
        Py_DECREF(o);
        if (rc < 0) {
            return -1;
        }
    }
    PyType_Modified(&PyGreenlet_Type);
    return PyModule_AddObject(module, "greenlet", Py_NewRef(&PyGreenlet_Type));
}
