/*
 * Per-thread state of the module: the thread's main and current greenlet,
 * its trace callback and its queue of greenlets to kill; and what happens when a
 * thread exits (a pthread key destructor: no API call is needed first,
 * S87) or when greenlets of another thread become garbage (S82).
 */
#include "pyg.h"

PYG_TLS_MODEL _Thread_local pyg_thread *pyg_tls;
static pthread_key_t exit_key;

/* Exited threads whose Python-side references still have to be dropped
   under the GIL. */
static pthread_mutex_t exited_lock = PTHREAD_MUTEX_INITIALIZER;
static pyg_thread *exited_list;
atomic_int pyg_exited_pending;

/* Marks `t` exited and queues the references it holds for dropping
   under the GIL.  Returns 0 if it was already marked. */
static int
mark_exited(pyg_thread *t)
{
    if (atomic_exchange(&t->exited, 1)) {
        return 0;
    }
    if (pyg_tls == t) {
        /* (Another thread's state is cleared in a forked child.) */
        pyg_tls = NULL;
        (void)pthread_setspecific(exit_key, NULL);
    }
    if (pyg_finalizing()) {
        return 0;   /* S94: leave everything as it is */
    }
    pthread_mutex_lock(&exited_lock);
    t->next_exited = exited_list;
    exited_list = t;
    pthread_mutex_unlock(&exited_lock);
    atomic_store(&pyg_exited_pending, 1);
    return 1;
}

/* Frees what `t` keeps for its next greenlets: their records and
   data-stack chunks. */
static void
give_back_spares(pyg_thread *t)
{
    pyg_free_spare_impls(t);
    pyg_chunk_cache_drain(&t->chunks);
}

/* Fallback for a thread that exits without CPython clearing its thread
   state (no GIL, no Python here): the core marks the greenlets dead on its
   own, the references are dropped by the next API call elsewhere. */
static void
thread_gone(void *arg)
{
    (void)mark_exited(arg);
}

/* The suspended greenlets of an exiting thread, linked through
   next_abandoned (no allocation: none may fail here), each holding a
   reference to its object. */
typedef struct abandoned {
    pyg_thread *t;
    pyg_impl *head, *tail;
} abandoned;

static int
discard_suspended(cg_greenlet *g, void *arg)
{
    abandoned *a = arg;
    pyg_impl *gi = cg_userdata(g);
    if (gi == NULL || (gi->flags & PYG_MAIN) || gi->thread != a->t ||
        cg_get_state(g) != CG_SUSPENDED) {
        return 0;
    }
    pyg_state_cut_shims(&gi->state);
    (void)cg_discard(g);
    gi->flags |= PYG_DISCARDED;
    Py_INCREF(gi->self);
    gi->next_abandoned = NULL;
    if (a->tail != NULL) {
        a->tail->next_abandoned = gi;
    } else {
        a->head = gi;
    }
    a->tail = gi;
    return 0;
}

/* Takes the whole kill queue of `t` (the references come with it). */
static pyg_impl *
take_deferred(pyg_thread *t)
{
    pthread_mutex_lock(&t->lock);
    pyg_impl *q = t->deferred_head;
    t->deferred_head = t->deferred_tail = NULL;
    atomic_store(&t->has_deferred, 0);
    pthread_mutex_unlock(&t->lock);
    return q;
}

static void collect_exited(void);
static void destroy_doomed(pyg_thread *t);

/* The usual end of a thread: CPython clears the thread state's dict in
   the exiting thread, with the GIL, before join() returns.  The thread's
   suspended greenlets become dead without running (S85) and their stacks
   go at once; the references it held are dropped right here. */
static void
thread_state_cleared(PyObject *capsule)
{
    pyg_thread *t = PyCapsule_GetPointer(capsule, "greenlet.thread");
    if (t == NULL) {
        PyErr_Clear();
        return;
    }
    if (t != pyg_tls || pyg_finalizing()) {
        (void)mark_exited(t);
        return;
    }
    /* First every stack, with no Python code running; then the frames'
       variables, whose finalizers may run anything. */
    abandoned a = {t, NULL, NULL};
    (void)cg_foreach(discard_suspended, &a);
    for (pyg_impl *gi = a.head; gi != NULL; gi = gi->next_abandoned) {
        pyg_abandon(gi);
    }
    while (a.head != NULL) {
        pyg_impl *gi = a.head;
        a.head = gi->next_abandoned;
        Py_DECREF(gi->self);    /* may free gi */
    }
    destroy_doomed(t);
    /* What it kept for its next greenlets goes now, not when the last of
       its greenlets is freed (here pyg_tls is still t: nothing is added
       after mark_exited). */
    give_back_spares(t);
    /* The core's own exit would come only with the OS thread's (a key
       destructor, after join() has returned): done now, so that the
       thread's greenlets can be freed from any thread at once. */
    cg_thread_exit();
    if (mark_exited(t)) {
        PyObject *exc = pyg_err_take();
        collect_exited();
        if (exc != NULL) {
            pyg_err_give(exc);
        }
    }
}

/* Puts a capsule into the thread state's dict whose destruction tells us
   the thread is ending. */
static int
watch_thread_state(pyg_thread *t)
{
    PyObject *d = PyThreadState_GetDict();
    if (d == NULL) {
        return 0;   /* no thread state dict: the key destructor will do */
    }
    PyObject *c = PyCapsule_New(t, "greenlet.thread", thread_state_cleared);
    if (c == NULL) {
        return -1;
    }
    int rc = PyDict_SetItemString(d, "cgreenlet.thread", c);
    Py_DECREF(c);
    return rc;
}

/* Drops what exited threads still hold: their queued greenlets, trace
   callback, current greenlet and finally their main greenlet (which frees
   the thread state once nothing refers to it). */
static void
collect_exited(void)
{
    if (!atomic_exchange(&pyg_exited_pending, 0)) {
        return;
    }
    pthread_mutex_lock(&exited_lock);
    pyg_thread *t = exited_list;
    exited_list = NULL;
    pthread_mutex_unlock(&exited_lock);
    while (t != NULL) {
        pyg_thread *next = t->next_exited;
        for (pyg_impl *q = take_deferred(t), *qn; q != NULL; q = qn) {
            qn = q->next_queued;
            Py_DECREF(q->self);     /* its thread is gone: discarded (S83) */
        }
        Py_CLEAR(t->trace);
        Py_CLEAR(t->current);
        PyGreenlet *m = t->main;
        t->main = NULL;
        Py_XDECREF(m);          /* may free t */
        t = next;
    }
}

void
pyg_run_deferred(pyg_thread *t)
{
    if (atomic_load_explicit(&pyg_exited_pending, memory_order_relaxed)) {
        PyObject *exc = pyg_err_take();
        collect_exited();
        if (exc != NULL) {
            pyg_err_give(exc);
        }
    }
    if (t == NULL || t->kill_depth > 0 ||
        !atomic_load_explicit(&t->has_deferred, memory_order_relaxed) ||
        !pyg_kill_allowed(t)) {
        return;
    }
    PyObject *exc = pyg_err_take();
    for (;;) {
        pyg_impl *q = take_deferred(t);
        destroy_doomed(t);
        if (q == NULL) {
            break;
        }
        while (q != NULL) {
            pyg_impl *gi = q;
            q = gi->next_queued;
            PyGreenlet *g = gi->self;
            if (gi->flags & PYG_FOUND_GARBAGE) {
                /* Still referenced by its cycle: killed explicitly (S80). */
                gi->flags &= ~PYG_FOUND_GARBAGE;
                if (pyg_needs_kill(gi)) {
                    pyg_kill(t, g);
                }
            }
            Py_DECREF(g);       /* now in its own thread: killed (S82) */
        }
    }
    if (exc != NULL) {
        pyg_err_give(exc);
    }
}

int
pyg_kill_allowed(const pyg_thread *t)
{
    return t->in_gc_stop || !pyg_gc_collecting();
}

/* 1 if the collection whose callback got `info` was a full one. */
static int
full_collection(PyObject *info)
{
    PyObject *gen = PyDict_Check(info) ? PyDict_GetItemString(info, "generation") : NULL;
    return gen != NULL && PyLong_Check(gen) && PyLong_AsLong(gen) == 2;
}

static PyObject *
gc_callback(PyObject *module, PyObject *const *args, Py_ssize_t nargs)
{
    (void)module;
    pyg_thread *t = pyg_thread_peek();
    if (nargs >= 1 && PyUnicode_Check(args[0]) &&
        PyUnicode_CompareWithASCIIString(args[0], "stop") == 0 && t != NULL &&
        !t->in_gc_stop) {
        t->in_gc_stop = 1;
        pyg_run_deferred(t);
        t->in_gc_stop = 0;
        /* As CPython's own free lists: a full collection gives back what
           the thread keeps for its next greenlets. */
        if (nargs >= 2 && full_collection(args[1])) {
            give_back_spares(t);
        }
    }
    Py_RETURN_NONE;
}

static PyMethodDef gc_callback_def = {
    "_gc_callback", (PyCFunction)(void (*)(void))gc_callback, METH_FASTCALL,
    "Kills the greenlets the garbage collector found unreachable, once it is done."
};

void
pyg_defer_kill(pyg_thread *t, PyGreenlet *g)
{
    pyg_impl *gi = PYG_IMPL(g);
    pthread_mutex_lock(&t->lock);
    gi->next_queued = NULL;
    if (t->deferred_tail != NULL) {
        t->deferred_tail->next_queued = gi;
    } else {
        t->deferred_head = gi;
    }
    t->deferred_tail = gi;
    atomic_store(&t->has_deferred, 1);
    pthread_mutex_unlock(&t->lock);
}

void
pyg_destroy_core(pyg_thread *t, cg_greenlet *cg)
{
    cg_set_userdata(cg, NULL);
    if (cg_destroy(cg) != CG_EWRONG_THREAD || pyg_thread_exited(t)) {
        return;     /* done; or its thread is gone (a thread that ends
                       without CPython clearing its state leaks it) */
    }
    pthread_mutex_lock(&t->lock);
    if (t->n_doomed == t->cap_doomed) {
        size_t cap = t->cap_doomed ? 2 * t->cap_doomed : 16;
        cg_greenlet **d = PyMem_RawRealloc(t->doomed, cap * sizeof *d);
        if (d == NULL) {
            pthread_mutex_unlock(&t->lock);
            return;     /* a small leak, no harm */
        }
        t->doomed = d;
        t->cap_doomed = cap;
    }
    t->doomed[t->n_doomed++] = cg;
    atomic_store(&t->has_deferred, 1);
    pthread_mutex_unlock(&t->lock);
}

/* Destroys the core greenlets other threads have let go of; in `t`. */
static void
destroy_doomed(pyg_thread *t)
{
    pthread_mutex_lock(&t->lock);
    cg_greenlet **d = t->doomed;
    size_t n = t->n_doomed;
    t->doomed = NULL;
    t->n_doomed = t->cap_doomed = 0;
    pthread_mutex_unlock(&t->lock);
    for (size_t i = 0; i < n; i++) {
        (void)cg_destroy(d[i]);
    }
    PyMem_RawFree(d);
}

int
pyg_thread_exited(const pyg_thread *t)
{
    return t == NULL || atomic_load(&((pyg_thread *)t)->exited);
}

void
pyg_thread_free(pyg_thread *t)
{
    give_back_spares(t);
    pthread_mutex_destroy(&t->lock);
    PyMem_RawFree(t->doomed);
    PyMem_RawFree(t);
}

static pyg_thread *
thread_init(void)
{
    cg_greenlet *mcg = cg_main();
    pyg_thread *t = PyMem_RawCalloc(1, sizeof *t);
    if (mcg == NULL || t == NULL) {
        PyMem_RawFree(t);
        PyErr_NoMemory();
        return NULL;
    }
    pthread_mutex_init(&t->lock, NULL);
    atomic_init(&t->has_deferred, 0);
    atomic_init(&t->exited, 0);
    t->main_cg = mcg;
    /* Allocating the main greenlet may run a collection, and its
       finalizers may ask for this thread's state: then that one wins. */
    PyGreenlet *m = pyg_new_main(t, mcg);
    if (pyg_tls != NULL || m == NULL) {
        if (m != NULL) {
            Py_DECREF(m);
        } else {
            pyg_thread_free(t);
        }
        return pyg_tls;
    }
    cg_set_userdata(mcg, PYG_IMPL(m));
    t->main = m;
    t->current = (PyGreenlet *)Py_NewRef((PyObject *)m);
    (void)pthread_setspecific(exit_key, t);
    pyg_tls = t;
    if (watch_thread_state(t) < 0) {
        PyErr_Clear();  /* the key destructor still covers thread exit */
    }
    return t;
}

pyg_thread *
pyg_thread_get_slow(pyg_thread *t)
{
    if (t == NULL) {
        t = thread_init();
        if (t == NULL) {
            return NULL;
        }
    }
    pyg_run_deferred(t);
    return t;
}

int
pyg_thread_setup(void)
{
    /* Created before the core's own key, so that (with glibc, which runs
       destructors in key order) the thread is marked exited here before
       the core releases its main greenlet. */
    if (pthread_key_create(&exit_key, thread_gone) != 0) {
        PyErr_SetString(PyExc_RuntimeError, "greenlet: no thread-exit key left");
        return -1;
    }
    PyObject *gc = PyImport_ImportModule("gc");
    PyObject *callbacks = gc != NULL ? PyObject_GetAttrString(gc, "callbacks") : NULL;
    PyObject *cb = callbacks != NULL ? PyCFunction_New(&gc_callback_def, NULL) : NULL;
    int rc = cb != NULL ? PyList_Append(callbacks, cb) : -1;
    Py_XDECREF(cb);
    Py_XDECREF(callbacks);
    Py_XDECREF(gc);
    return rc;
}
