/*
 * All access to PyThreadState, interpreter frames and the raised-exception
 * state.  See docs/python-state.md for the per-version field reference;
 * each block below is selected by a flag of pycompat.h.
 */
/* For the layout of _PyInterpreterFrame (owner, previous) on 3.12+ and
   of the interpreter's collector state (`collecting`) everywhere; no
   internal function is called.  Must come before Python.h. */
#define Py_BUILD_CORE_MODULE 1
#include "pycompat.h"
#include <internal/pycore_interp.h>
#if PYG_INTERP_FRAMES
#include <internal/pycore_frame.h>
#else
#include <frameobject.h>
#endif

#include <string.h>

#include "pystate.h"

struct pyg_relink {
#if PYG_CSTACK_SHIM_FRAMES
    _PyInterpreterFrame *frame;
    _PyInterpreterFrame *orig_previous;
#else
    void *unused;
#endif
};

#if PYG_CFRAME
#if PY_VERSION_HEX < 0x030B0000
typedef CFrame pyg_cframe_t;
#else
typedef _PyCFrame pyg_cframe_t;
#endif
_Static_assert(sizeof(pyg_cframe_t) <= sizeof(pyg_cframe_room),
               "pyg_cframe_room too small for this CPython's CFrame");
#endif

/* ---- 3.12+: frames linked through C-stack entry frames ---------------- */

#if PYG_CSTACK_SHIM_FRAMES
static int
is_shim(const _PyInterpreterFrame *f)
{
    return f->owner == FRAME_OWNED_BY_CSTACK;
}

static int
relink_push(pyg_pystate *s, _PyInterpreterFrame *f, _PyInterpreterFrame *orig)
{
    if (s->n_relinked == s->cap_relinked) {
        size_t cap = s->cap_relinked ? 2 * s->cap_relinked : 8;
        pyg_relink *r = PyMem_RawRealloc(s->relinked, cap * sizeof *r);
        if (r == NULL) {
            return 0;
        }
        s->relinked = r;
        s->cap_relinked = cap;
    }
    s->relinked[s->n_relinked].frame = f;
    s->relinked[s->n_relinked].orig_previous = orig;
    s->n_relinked++;
    return 1;
}

/* A suspended greenlet's entry frames live in its C stack, which another
   greenlet may overwrite (copy-stack mode) before this one resumes.  So
   that f_back walks from anywhere only ever see heap frames, every frame
   whose caller is an entry frame is pointed past it while suspended; the
   original links come back at ENTER, before any of its code runs.  If the
   table cannot grow, the rest of the chain stays as it is (only a walk
   from another greenlet could then go wrong, never the greenlet itself). */
static int
unlink_from(pyg_pystate *s, _PyInterpreterFrame *f)
{
    s->n_relinked = 0;
    while (f != NULL) {
        _PyInterpreterFrame *p = f->previous;
        if (p != NULL && is_shim(p)) {
            _PyInterpreterFrame *q = p;
            while (q != NULL && is_shim(q)) {
                q = q->previous;
            }
            if (!relink_push(s, f, p)) {
                return -1;
            }
            f->previous = q;
            f = q;
        } else {
            f = p;
        }
    }
    return 0;
}

static void
unlink_shims(pyg_pystate *s)
{
    s->shims_left = unlink_from(s, s->frame) < 0;
}

static void
relink_shims(pyg_pystate *s)
{
    while (s->n_relinked > 0) {
        s->n_relinked--;
        s->relinked[s->n_relinked].frame->previous =
            s->relinked[s->n_relinked].orig_previous;
    }
}
#endif

void
pyg_state_set_stable_stack(pyg_pystate *s, int stable)
{
    s->stable_stack = stable;
}

void
pyg_state_cut_shims(pyg_pystate *s)
{
#if PYG_CSTACK_SHIM_FRAMES
    if (!s->stable_stack) {
        return;
    }
    for (_PyInterpreterFrame *f = s->frame; f != NULL; f = f->previous) {
        while (f->previous != NULL && is_shim(f->previous)) {
            f->previous = f->previous->previous;
        }
    }
#endif
    s->stable_stack = 0;
}

/* ---- switching --------------------------------------------------------- */

/* The thread-state fields LEAVE takes are left as they are, not cleared:
   the ENTER that comes next in this thread (of the target, or of the same
   greenlet again if the switch is refused) overwrites every one of them
   before any code runs. */
static void
save_exc(pyg_pystate *s, PyThreadState *ts)
{
    /* Possibly &ts->exc_state: a greenlet comes back to the same thread
       state it left. */
    s->exc_info = ts->exc_info;
#if PYG_EXC_VALUE_ONLY
    s->exc_objs[0] = ts->exc_state.exc_value;
#else
    s->exc_objs[0] = ts->exc_state.exc_type;
    s->exc_objs[1] = ts->exc_state.exc_value;
    s->exc_objs[2] = ts->exc_state.exc_traceback;
#endif
    s->exc_previous = ts->exc_state.previous_item;
}

static void
restore_exc(pyg_pystate *s, PyThreadState *ts)
{
#if PYG_EXC_VALUE_ONLY
    ts->exc_state.exc_value = s->exc_objs[0];
#else
    ts->exc_state.exc_type = s->exc_objs[0];
    ts->exc_state.exc_value = s->exc_objs[1];
    ts->exc_state.exc_traceback = s->exc_objs[2];
#endif
    ts->exc_state.previous_item = s->exc_previous;
    ts->exc_info = s->exc_info;
    s->exc_objs[0] = s->exc_objs[1] = s->exc_objs[2] = NULL;
    s->exc_previous = NULL;
    s->exc_info = NULL;
}

/* LEAVE without the entry-frame unlinking (see save_exc for what stays
   in the thread state). */
static void
save_state(pyg_pystate *s, PyThreadState *ts, pyg_carry *carry)
{
    s->context = ts->context;
    save_exc(s, ts);
#if PYG_SPLIT_RECURSION
    s->py_depth = ts->py_recursion_limit - ts->py_recursion_remaining;
    s->c_remaining = ts->c_recursion_remaining;
#elif PYG_RECURSION_REMAINING
    s->py_depth = ts->recursion_limit - ts->recursion_remaining;
#else
    s->py_depth = ts->recursion_depth;
#endif
#if PYG_TRASH_FIELDS
    s->trash_nesting = ts->trash_delete_nesting;
#elif PYG_TRASH_STRUCT
    s->trash_nesting = ts->trash.delete_nesting;
#endif
#if PYG_FRAME_OBJECT_CHAIN
    s->frame = ts->frame;
#elif PYG_CFRAME_CURRENT_FRAME
    s->frame = ts->cframe->current_frame;
#elif PYG_TSTATE_CURRENT_FRAME
    s->frame = ts->current_frame;
#endif
#if PYG_CFRAME
    s->cframe = ts->cframe;
#endif
#if PYG_CFRAME_USE_TRACING
    carry->use_tracing = ts->cframe->use_tracing;
#else
    (void)carry;
#endif
#if PYG_DATA_STACK
    s->chunk = ts->datastack_chunk;
    s->top = ts->datastack_top;
    s->limit = ts->datastack_limit;
#endif
#if PYG_INSTRUMENTED_TRACING
    s->tracefunc = (void *)ts->c_tracefunc;
    s->profilefunc = (void *)ts->c_profilefunc;
#endif
}

PyThreadState *
pyg_state_leave(pyg_pystate *s, pyg_carry *carry)
{
    PyThreadState *ts = pyg_tstate_unchecked();
#if PYG_CSTACK_SHIM_FRAMES
    /* A dedicated stack's entry frames stay where they are, valid. */
    if (!s->stable_stack) {
#if PYG_TSTATE_CURRENT_FRAME
        _PyInterpreterFrame *f = ts->current_frame;
#else
        _PyInterpreterFrame *f = ts->cframe->current_frame;
#endif
        if (unlink_from(s, f) < 0) {
            relink_shims(s);
            return NULL;
        }
        s->shims_left = 0;
    }
#endif
    save_state(s, ts, carry);
    return ts;
}

#if PYG_INSTRUMENTED_TRACING
/* Whether sys.settrace/setprofile changed while `s` was suspended. */
static int
tracing_changed(const pyg_pystate *s, PyThreadState *ts)
{
    return (ts->c_tracefunc != NULL && (void *)ts->c_tracefunc != s->tracefunc) ||
           (ts->c_profilefunc != NULL && (void *)ts->c_profilefunc != s->profilefunc);
}
#endif

void
pyg_state_resumed(pyg_pystate *s, PyThreadState *ts)
{
#if PYG_INSTRUMENTED_TRACING
    int trace = ts->c_tracefunc != NULL && (void *)ts->c_tracefunc != s->tracefunc;
    int profile = ts->c_profilefunc != NULL && (void *)ts->c_profilefunc != s->profilefunc;
    if (!trace && !profile) {
        return;
    }
    PyObject *exc = pyg_err_take();
    if (profile) {
        Py_tracefunc f = ts->c_profilefunc;
        PyObject *o = Py_XNewRef(ts->c_profileobj);
        PyEval_SetProfile(NULL, NULL);
        PyEval_SetProfile(f, o);
        Py_XDECREF(o);
    }
    if (trace) {
        Py_tracefunc f = ts->c_tracefunc;
        PyObject *o = Py_XNewRef(ts->c_traceobj);
        PyEval_SetTrace(NULL, NULL);
        PyEval_SetTrace(f, o);
        Py_XDECREF(o);
    }
    if (PyErr_Occurred()) {
        PyErr_WriteUnraisable(NULL);
    }
    if (exc != NULL) {
        pyg_err_give(exc);
    }
#else
    (void)s;
    (void)ts;
#endif
}

#if PYG_DATA_STACK
/* The interpreter's first chunk size (DATA_STACK_CHUNK_SIZE, internal). */
#define ROOT_CHUNK_SIZE (16 * 1024)

static void
free_chunk(_PyStackChunk *c)
{
    PyObjectArenaAllocator arena;
    PyObject_GetArenaAllocator(&arena);
    arena.free(arena.ctx, c, c->size);
}
#endif

void
pyg_chunk_cache_drain(pyg_chunk_cache *cache)
{
#if PYG_DATA_STACK
    while (cache->n > 0) {
        free_chunk(cache->chunks[--cache->n]);
    }
#else
    cache->n = 0;
#endif
}

void
pyg_state_finished(pyg_pystate *s, PyThreadState *ts, pyg_carry *carry,
                   pyg_chunk_cache *cache)
{
    save_state(s, ts, carry);
#if PYG_CSTACK_SHIM_FRAMES
    if (!s->stable_stack) {
        unlink_shims(s);
    }
#endif
#if PYG_DATA_STACK
    /* The run function has returned: no frame is left in its chunks.  A
       root chunk of the usual size is kept for the next greenlet; the rest
       goes back to the object arena allocator they came from. */
    _PyStackChunk *c = s->chunk;
    while (c != NULL) {
        _PyStackChunk *prev = c->previous;
        if (prev == NULL && c->size == ROOT_CHUNK_SIZE && cache->n < PYG_CHUNK_CACHE) {
            cache->chunks[cache->n++] = c;
        } else {
            free_chunk(c);
        }
        c = prev;
    }
    s->chunk = s->top = s->limit = NULL;
#else
    (void)cache;
#endif
    /* Nothing of the finished greenlet's stack may be touched again; a
       compensating ENTER (failed finish switch, retried) gets valid
       pointers. */
    s->frame = NULL;
#if PYG_CFRAME
    s->cframe = &ts->root_cframe;
#endif
    s->n_relinked = 0;
}

int
pyg_state_enter(pyg_pystate *s, PyThreadState *ts, const pyg_carry *carry)
{
#if PYG_CSTACK_SHIM_FRAMES
    relink_shims(s);
#endif
    ts->context = s->context;
    s->context = NULL;
    ts->context_ver++;
    restore_exc(s, ts);
#if PYG_SPLIT_RECURSION
    ts->py_recursion_remaining = ts->py_recursion_limit - s->py_depth;
    ts->c_recursion_remaining = s->c_remaining;
#elif PYG_RECURSION_REMAINING
    ts->recursion_remaining = ts->recursion_limit - s->py_depth;
#else
    ts->recursion_depth = s->py_depth;
#endif
#if PYG_TRASH_FIELDS
    ts->trash_delete_nesting = s->trash_nesting;
#elif PYG_TRASH_STRUCT
    ts->trash.delete_nesting = s->trash_nesting;
#endif
#if PYG_FRAME_OBJECT_CHAIN
    ts->frame = s->frame;
#elif PYG_TSTATE_CURRENT_FRAME
    ts->current_frame = s->frame;
#endif
#if PYG_CFRAME
    ts->cframe = s->cframe;
#endif
#if PYG_CFRAME_CURRENT_FRAME
    ts->cframe->current_frame = s->frame;
#endif
#if PYG_CFRAME_USE_TRACING
    ts->cframe->use_tracing = carry->use_tracing;
#else
    (void)carry;
#endif
#if PYG_DATA_STACK
    ts->datastack_chunk = s->chunk;
    ts->datastack_top = s->top;
    ts->datastack_limit = s->limit;
    s->chunk = s->top = s->limit = NULL;
#endif
    s->frame = NULL;
#if PYG_INSTRUMENTED_TRACING
    return tracing_changed(s, ts);
#else
    return 0;
#endif
}

void
pyg_state_enter_new(pyg_pystate *s, PyThreadState *ts, const pyg_carry *carry,
                    pyg_chunk_cache *cache)
{
    ts->context = s->context;
    s->context = NULL;
    ts->context_ver++;
    memset(&ts->exc_state, 0, sizeof ts->exc_state);
    ts->exc_info = &ts->exc_state;
    /* Recursion depths are inherited from the starter: they stay. */
#if PYG_TRASH_FIELDS
    ts->trash_delete_nesting = 0;
#elif PYG_TRASH_STRUCT
    ts->trash.delete_nesting = 0;
#endif
#if PYG_FRAME_OBJECT_CHAIN
    ts->frame = NULL;
#elif PYG_TSTATE_CURRENT_FRAME
    ts->current_frame = NULL;
#endif
#if PYG_CFRAME
    /* A placeholder until the run function installs its own CFrame. */
    ts->cframe = &ts->root_cframe;
#endif
#if PYG_CFRAME_CURRENT_FRAME
    ts->cframe->current_frame = NULL;
#endif
#if PYG_CFRAME_USE_TRACING
    ts->cframe->use_tracing = carry->use_tracing;
#else
    (void)carry;
#endif
#if PYG_DATA_STACK
    if (cache->n > 0) {
        /* As the interpreter sets up a thread's first chunk: the first
           slot is skipped so that popping the last frame never frees it. */
        _PyStackChunk *c = cache->chunks[--cache->n];
        c->previous = NULL;
        c->top = 0;
        ts->datastack_chunk = c;
        ts->datastack_top = &c->data[1];
        ts->datastack_limit = (PyObject **)((char *)c + c->size);
    } else {
        ts->datastack_chunk = NULL;
        ts->datastack_top = NULL;
        ts->datastack_limit = NULL;
    }
#else
    (void)cache;
#endif
}

void
pyg_state_run_prologue(PyThreadState *ts, pyg_cframe_room *room)
{
#if PYG_CFRAME
    /* The evaluator writes through cframe->previous when it returns; the
       starter's CFrame may be another greenlet's stack by then. */
    pyg_cframe_t *cf = (pyg_cframe_t *)room;
    *cf = *ts->cframe;
    cf->previous = &ts->root_cframe;
    ts->cframe = cf;
#else
    (void)ts;
    (void)room;
#endif
}

void
pyg_state_run_epilogue(PyThreadState *ts, pyg_cframe_room *room)
{
#if PYG_CFRAME
    pyg_cframe_t *cf = (pyg_cframe_t *)room;
#if PYG_CFRAME_USE_TRACING
    ts->root_cframe.use_tracing = cf->use_tracing;
#endif
    (void)cf;
    ts->cframe = &ts->root_cframe;
#else
    (void)ts;
    (void)room;
#endif
}

/* ---- abandoned greenlets ------------------------------------------------ */

#if PYG_INTERP_FRAMES
static PyCodeObject *
frame_code(_PyInterpreterFrame *f)
{
#if PYG_FRAME_EXECUTABLE
    return PyCode_Check(f->f_executable) ? (PyCodeObject *)f->f_executable : NULL;
#else
    return f->f_code;
#endif
}
#endif

/* Drops the references in slots [lo, hi) of an abandoned frame. */
static void
clear_slots(PyObject **lo, PyObject **hi)
{
    for (PyObject **p = lo; p < hi; p++) {
        Py_CLEAR(*p);
    }
}

/* The end of the live part of the innermost frame's value stack: the end
   of the arguments of the switch() call it is suspended in, if those lie
   on that stack (a call from Python code); else NULL. */
static PyObject **
hinted_top(const pyg_pystate *s, PyObject **stack, int size)
{
    PyObject **hint = s->stack_hint;
    if (hint != NULL && hint > stack && hint <= stack + size) {
        return hint;
    }
    return NULL;
}

#if PYG_FRAME_OBJECT_CHAIN
/* Drops what the lost C stack held of an abandoned greenlet's frames:
   the evaluator's own reference to each frame it was running (a
   generator's frame belongs to its generator), so the frames go unless
   somebody else (a traceback) still refers to them. */
static void
abandon_frames(pyg_pystate *s)
{
    PyFrameObject *f = s->frame;
    s->frame = NULL;
    Py_XINCREF(f);
    while (f != NULL) {
        PyFrameObject *back = f->f_back;
        Py_XINCREF(back);
        if (f->f_gen == NULL) {
            Py_DECREF(f);
        }
        Py_DECREF(f);
        f = back;
    }
}
#else
static PyObject **
frame_code_slot(_PyInterpreterFrame *f)
{
#if PYG_FRAME_EXECUTABLE
    return &f->f_executable;
#else
    return (PyObject **)&f->f_code;
#endif
}

/* Gives frame object `fo` of abandoned frame `f` a copy of the frame, as
   CPython does for a frame object that outlives its frame, so that it no
   longer points into the data stack: its variables are gone already, its
   value stack is left out (its extent is not known everywhere), its
   code moves over, its function does not (released with the frame's);
   its globals and builtins, borrowed from the function, keep one
   reference each for good. */
static void
detach_frame_object(PyFrameObject *fo, _PyInterpreterFrame *f, int nlocalsplus)
{
    _PyInterpreterFrame *copy = (_PyInterpreterFrame *)fo->_f_frame_data;
    Py_XINCREF(f->f_globals);
    Py_XINCREF(f->f_builtins);
    f->stacktop = nlocalsplus;
    memcpy(copy, f, (size_t)((char *)&f->localsplus[nlocalsplus] - (char *)f));
    *frame_code_slot(f) = NULL;     /* the copy owns the code now */
#if PYG_FRAME_FUNCOBJ
    copy->f_funcobj = NULL;         /* the frame's reference goes below */
#else
    copy->f_func = NULL;
#endif
    copy->owner = FRAME_OWNED_BY_FRAME_OBJECT;
    copy->previous = NULL;
    fo->f_frame = copy;
    if (!PyObject_GC_IsTracked((PyObject *)fo)) {
        PyObject_GC_Track((PyObject *)fo);
    }
}

/* Frees the data-stack chunks of an abandoned greenlet, whose frames'
   variables are cleared: every frame object that still points into them
   gets its own copy first (linked to its caller's frame object, as the
   chain is cut), the code and function of the frames go. */
static void
abandon_frames(pyg_pystate *s)
{
    for (_PyInterpreterFrame *f = s->frame, *prev; f != NULL; f = prev) {
        prev = f->previous;
        PyFrameObject *fo = f->frame_obj;
        if (fo != NULL && Py_REFCNT(fo) > 1 && fo->f_back == NULL && prev != NULL &&
            prev->frame_obj != NULL) {
            fo->f_back = (PyFrameObject *)Py_NewRef((PyObject *)prev->frame_obj);
        }
        if (f->owner != FRAME_OWNED_BY_THREAD) {
            f->previous = NULL;     /* a generator's: stuck running */
            continue;
        }
        PyCodeObject *co = frame_code(f);
        f->frame_obj = NULL;
        if (fo != NULL && Py_REFCNT(fo) > 1 && co != NULL) {
            detach_frame_object(fo, f, co->co_nlocalsplus);
        }
        Py_XDECREF(fo);
#if PYG_FRAME_FUNCOBJ
        Py_CLEAR(f->f_funcobj);
#else
        Py_CLEAR(f->f_func);
#endif
        Py_CLEAR(*frame_code_slot(f));
    }
    s->frame = NULL;
    for (_PyStackChunk *c = s->chunk, *prev; c != NULL; c = prev) {
        prev = c->previous;
        free_chunk(c);
    }
    s->chunk = s->top = s->limit = NULL;
}
#endif

void
pyg_state_abandon(pyg_pystate *s)
{
    /* The variables of every frame, and the value stack where its extent
       is known: for the innermost frame from the switch() call's
       arguments, on 3.12+ for frames waiting on a Python callee from the
       frame's saved stack top.  Other temporaries (of frames waiting in a
       C call) are known only to the evaluator's lost C locals. */
    Py_CLEAR(s->exc_objs[0]);
    Py_CLEAR(s->exc_objs[1]);
    Py_CLEAR(s->exc_objs[2]);
    if (s->shims_left) {
        return;     /* the chain may lead into the lost C stack: leave it */
    }
    int innermost = 1;
#if PYG_FRAME_OBJECT_CHAIN
    for (PyFrameObject *f = s->frame; f != NULL; f = f->f_back, innermost = 0) {
        if (f->f_gen != NULL) {
            continue;   /* its generator owns it, stuck running */
        }
        PyCodeObject *co = f->f_code;
        Py_ssize_t n = co->co_nlocals + PyTuple_GET_SIZE(co->co_cellvars) +
                       PyTuple_GET_SIZE(co->co_freevars);
        clear_slots(f->f_localsplus, f->f_localsplus + n);
        PyObject **top = innermost ? hinted_top(s, f->f_valuestack, co->co_stacksize) : NULL;
        if (top != NULL) {
            clear_slots(f->f_valuestack, top);
        }
        Py_CLEAR(f->f_locals);
    }
#else
    for (_PyInterpreterFrame *f = s->frame; f != NULL; f = f->previous, innermost = 0) {
        PyCodeObject *co = frame_code(f);
        if (f->owner != FRAME_OWNED_BY_THREAD || co == NULL) {
            continue;
        }
        PyObject **stack = f->localsplus + co->co_nlocalsplus;
        PyObject **top = innermost ? hinted_top(s, stack, co->co_stacksize) : NULL;
#if PYG_STACKTOP_RESET
        if (top == NULL && f->stacktop > co->co_nlocalsplus &&
            f->stacktop <= co->co_nlocalsplus + co->co_stacksize) {
            top = f->localsplus + f->stacktop;
        }
#endif
        clear_slots(f->localsplus, stack);
        if (top != NULL) {
            clear_slots(stack, top);
        }
        Py_CLEAR(f->f_locals);
    }
#endif
    /* Only now that no variable of any of its frames is left: finalizers
       run above may still have looked at the frames. */
    abandon_frames(s);
}

/* ---- introspection ----------------------------------------------------- */

PyObject *
pyg_state_frame(pyg_pystate *s, PyThreadState *ts)
{
    if (s->frame == NULL) {
        Py_RETURN_NONE;
    }
#if PYG_FRAME_OBJECT_CHAIN
    (void)ts;
    return Py_NewRef((PyObject *)s->frame);
#else
    /* No exported call makes a frame object for a given interpreter
       frame, but PyThreadState_GetFrame makes one for the thread's
       current frame: point it at the suspended chain for that call.  No
       Python code may run meanwhile, so collections are held off (3.11
       could collect while allocating the frame object). */
    int gc_was_enabled = PyGC_Disable();
#if PYG_CFRAME_CURRENT_FRAME
    struct _PyInterpreterFrame *saved = ts->cframe->current_frame;
    ts->cframe->current_frame = s->frame;
#else
    struct _PyInterpreterFrame *saved = ts->current_frame;
    ts->current_frame = s->frame;
#endif
    PyFrameObject *f = PyThreadState_GetFrame(ts);
#if PYG_CFRAME_CURRENT_FRAME
    ts->cframe->current_frame = saved;
#else
    ts->current_frame = saved;
#endif
    if (gc_was_enabled) {
        PyGC_Enable();
    }
    if (f == NULL) {
        if (PyErr_Occurred()) {
            return NULL;
        }
        Py_RETURN_NONE;
    }
    return (PyObject *)f;
#endif
}

int
pyg_state_traverse(pyg_pystate *s, visitproc visit, void *arg)
{
    Py_VISIT(s->context);
    Py_VISIT(s->exc_objs[0]);
    Py_VISIT(s->exc_objs[1]);
    Py_VISIT(s->exc_objs[2]);
    return 0;
}

int
pyg_state_traverse_frames(pyg_pystate *s, visitproc visit, void *arg)
{
    if (s->shims_left) {
        return 0;   /* the chain may lead into a moved C stack */
    }
    /* The innermost frame's value stack up to the end of the switch()
       call's arguments: every entry there is the frame's (pyg_state_abandon
       relies on the same extent). */
    PyObject **lo = NULL, **hi = NULL;
#if PYG_FRAME_OBJECT_CHAIN
    if (s->frame != NULL && ((PyFrameObject *)s->frame)->f_gen == NULL) {
        PyFrameObject *f = s->frame;
        lo = f->f_valuestack;
        hi = hinted_top(s, lo, f->f_code->co_stacksize);
    }
#else
    _PyInterpreterFrame *top = s->frame;
    PyCodeObject *top_co = top != NULL ? frame_code(top) : NULL;
    if (top_co != NULL && top->owner == FRAME_OWNED_BY_THREAD) {
        lo = top->localsplus + top_co->co_nlocalsplus;
        hi = hinted_top(s, lo, top_co->co_stacksize);
    }
#endif
    for (PyObject **p = lo; hi != NULL && p < hi; p++) {
        Py_VISIT(*p);
    }
#if PYG_FRAME_OBJECT_CHAIN
    for (PyFrameObject *f = s->frame; f != NULL; f = f->f_back) {
        if (f->f_gen != NULL) {
            continue;   /* its generator holds it */
        }
        Py_VISIT(f);    /* the evaluator's reference */
        if (PyObject_GC_IsTracked((PyObject *)f)) {
            continue;   /* it reports its own references */
        }
        /* An untracked frame (a plain function call's, until it returns)
           is reported to nobody: its references are visited here, as
           its own traverse would (an executing frame's value stack is
           not). */
        PyCodeObject *co = f->f_code;
        Py_ssize_t n = co->co_nlocals + PyTuple_GET_SIZE(co->co_cellvars) +
                       PyTuple_GET_SIZE(co->co_freevars);
        Py_VISIT(f->f_back);
        Py_VISIT(f->f_code);
        Py_VISIT(f->f_builtins);
        Py_VISIT(f->f_globals);
        Py_VISIT(f->f_locals);
        Py_VISIT(f->f_trace);
        for (Py_ssize_t i = 0; i < n; i++) {
            Py_VISIT(f->f_localsplus[i]);
        }
    }
#else
    for (_PyInterpreterFrame *f = s->frame; f != NULL; f = f->previous) {
        PyCodeObject *co = frame_code(f);
        if (f->owner != FRAME_OWNED_BY_THREAD || co == NULL) {
            continue;   /* a generator's: its generator holds it */
        }
        Py_VISIT(*frame_code_slot(f));
#if PYG_FRAME_FUNCOBJ
        Py_VISIT(f->f_funcobj);
#else
        Py_VISIT(f->f_func);
#endif
        Py_VISIT(f->f_locals);
        Py_VISIT(f->frame_obj);
        for (int i = 0; i < co->co_nlocalsplus; i++) {
            Py_VISIT(f->localsplus[i]);
        }
    }
#endif
    return 0;
}

void
pyg_state_clear(pyg_pystate *s)
{
    Py_CLEAR(s->context);
    Py_CLEAR(s->exc_objs[0]);
    Py_CLEAR(s->exc_objs[1]);
    Py_CLEAR(s->exc_objs[2]);
    PyMem_RawFree(s->relinked);
    s->relinked = NULL;
    s->n_relinked = s->cap_relinked = 0;
}

PyObject **
pyg_state_context_slot(pyg_pystate *s, PyThreadState *ts, int running)
{
    return running ? &ts->context : &s->context;
}

void
pyg_state_context_changed(PyThreadState *ts)
{
    ts->context_ver++;
}

void
pyg_tracing_begin(PyThreadState *ts)
{
#if PY_VERSION_HEX >= 0x030B0000
    PyThreadState_EnterTracing(ts);
#elif PYG_CFRAME_USE_TRACING
    ts->tracing++;
    ts->cframe->use_tracing = 0;
#else
    ts->tracing++;
    ts->use_tracing = 0;
#endif
}

void
pyg_tracing_end(PyThreadState *ts)
{
#if PY_VERSION_HEX >= 0x030B0000
    PyThreadState_LeaveTracing(ts);
#elif PYG_CFRAME_USE_TRACING
    ts->tracing--;
    ts->cframe->use_tracing = ts->c_tracefunc != NULL || ts->c_profilefunc != NULL;
#else
    ts->tracing--;
    ts->use_tracing = ts->c_tracefunc != NULL || ts->c_profilefunc != NULL;
#endif
}

/* ---- the exception being raised ---------------------------------------- */

PyObject *
pyg_err_take(void)
{
#if PYG_RAISED_EXCEPTION_API
    return PyErr_GetRaisedException();
#else
    PyObject *type, *value, *tb;
    PyErr_Fetch(&type, &value, &tb);
    if (type == NULL) {
        return NULL;
    }
    PyErr_NormalizeException(&type, &value, &tb);
    if (value == NULL) {
        value = Py_NewRef(Py_None);
    }
    if (tb != NULL && PyExceptionInstance_Check(value)) {
        PyException_SetTraceback(value, tb);
    }
    Py_XDECREF(type);
    Py_XDECREF(tb);
    return value;
#endif
}

void
pyg_err_give(PyObject *exc)
{
#if PYG_RAISED_EXCEPTION_API
    PyErr_SetRaisedException(exc);
#else
    if (!PyExceptionInstance_Check(exc)) {
        PyErr_SetObject(PyExc_SystemError, exc);
        Py_DECREF(exc);
        return;
    }
    PyErr_Restore(Py_NewRef((PyObject *)Py_TYPE(exc)), exc,
                  PyException_GetTraceback(exc));
#endif
}

PyThreadState *
pyg_tstate_unchecked(void)
{
    return _PyThreadState_UncheckedGet();
}

int
pyg_finalizing(void)
{
#if PYG_PUBLIC_UNCHECKED_TSTATE
    return Py_IsFinalizing();
#else
    return _Py_IsFinalizing();
#endif
}

int
pyg_gc_collecting(void)
{
    PyThreadState *ts = pyg_tstate_unchecked();
    return ts != NULL && ts->interp->gc.collecting != 0;
}
