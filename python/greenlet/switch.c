/*
 * The switch protocol of the Python module on top of the core: where a
 * value or an exception really goes (dead greenlets pass it up, a
 * not-started one is started, S16-S30, S56-S63), the run function
 * every greenlet starts in, and killing a greenlet nobody references
 * (S77, S78).
 */
#include "pyg.h"

#include <string.h>

/* ---- state predicates -------------------------------------------------- */

int
pyg_started(const pyg_impl *g)
{
    if (g->flags & (PYG_MAIN | PYG_DEAD_UNRUN | PYG_FINISHING)) {
        return 1;
    }
    return g->cg != NULL && cg_get_state(g->cg) != CG_NOT_STARTED;
}

/* pyg_dead(g), and in *started pyg_started(g) unless dead: one look at
   the core's state for both (every switch asks both of its target). */
static int
dead_or_started(const pyg_impl *g, int *started)
{
    *started = 1;
    if (g->flags & PYG_MAIN) {
        return pyg_thread_exited(g->thread);
    }
    if (g->flags & (PYG_DEAD_UNRUN | PYG_FINISHING | PYG_DISCARDED)) {
        return 1;
    }
    if (g->cg == NULL) {
        *started = 0;
        return 0;
    }
    /* A started greenlet of an exited thread is dead (S85), even before
       the core has heard of the exit. */
    cg_state st = cg_get_state(g->cg);
    *started = st != CG_NOT_STARTED;
    return st == CG_DEAD || (*started && pyg_thread_exited(g->thread));
}

int
pyg_dead(const pyg_impl *g)
{
    int started;
    return dead_or_started(g, &started);
}

int
pyg_active(const pyg_impl *g)
{
    return pyg_started(g) && !pyg_dead(g);
}

pyg_thread *
pyg_owner(const pyg_impl *g)
{
    while (g != NULL) {
        if (g->thread != NULL) {
            return g->thread;
        }
        g = g->parent ? PYG_IMPL(g->parent) : NULL;
    }
    return NULL;
}

/* ---- transit ------------------------------------------------------------ */

static void
transit_clear(pyg_transit *tr)
{
    Py_CLEAR(tr->args);
    Py_CLEAR(tr->kwargs);
    Py_CLEAR(tr->exc);
    Py_CLEAR(tr->one);
}

/* Replaces what is in transit with the exception being raised. */
static void
transit_fail(pyg_transit *tr)
{
    PyObject *exc = pyg_err_take();
    transit_clear(tr);
    tr->exc = exc != NULL ? exc : Py_NewRef(PyExc_SystemError);
}

/* The single value a resumed switch() returns (S20); consumes tr. */
static PyObject *
transit_value(pyg_transit *tr)
{
    PyObject *args = tr->args, *kwargs = tr->kwargs, *v = tr->one;
    tr->args = tr->kwargs = tr->one = NULL;
    if (v != NULL) {
        return v;
    }
    if (kwargs != NULL && PyDict_GET_SIZE(kwargs) == 0) {
        Py_CLEAR(kwargs);
    }
    if (kwargs == NULL) {
        if (PyTuple_GET_SIZE(args) == 1) {
            v = Py_NewRef(PyTuple_GET_ITEM(args, 0));
            Py_DECREF(args);
            return v;
        }
        return args;
    }
    if (PyTuple_GET_SIZE(args) == 0) {
        Py_DECREF(args);
        return kwargs;
    }
    v = PyTuple_Pack(2, args, kwargs);
    Py_DECREF(args);
    Py_DECREF(kwargs);
    return v;
}

/* The core message that carries `tr` to receiver `to`, taking what it
   needs out of `tr`.  A greenlet about to start gets an empty message: it
   takes its start fields instead.  {CG_ERROR, NULL} (never a real
   message) with an exception set if the value could not be built.
   Returned by value, so that the caller's frame needs no room for it. */
static cg_msg
transit_msg(const pyg_impl *to, pyg_transit *tr)
{
    cg_msg msg = {CG_VALUE, NULL};
    if (to->flags & PYG_FRESH) {
        return msg;
    }
    if (tr->exc != NULL) {
        msg.kind = CG_ERROR;
        msg.value = tr->exc;
        tr->exc = NULL;
        return msg;
    }
    if (tr->one == NULL && tr->kwargs == NULL && PyTuple_GET_SIZE(tr->args) != 1) {
        msg.value = tr->args;   /* transit_value's answer, without the call */
        tr->args = NULL;
        return msg;
    }
    msg.value = transit_value(tr);
    if (msg.value == NULL) {
        msg.kind = CG_ERROR;
    }
    return msg;
}

/* ---- finding the receiver ------------------------------------------------ */

static void
raise_thread_error(pyg_thread *t, pyg_thread *owner)
{
    if (owner == NULL) {
        PyErr_SetString(PyExc_GreenletError,
                        "cannot switch to a garbage collected greenlet");
    } else if (pyg_thread_exited(owner)) {
        PyErr_SetString(PyExc_GreenletError,
                        "cannot switch to a different thread (which happens to have exited)");
    } else {
        PyErr_Format(PyExc_GreenletError,
                     "Cannot switch to a different thread\n\tCurrent:  %R\n\tExpected: %R",
                     (PyObject *)t->current, (PyObject *)owner->main);
    }
}

/* Marks a not-started greenlet as started and dead without running it
   (an exception passed through it in thread `t`, S29, S59).  It belongs
   to `t` from then on, as a started greenlet does (S38). */
static void
die_unrun(pyg_thread *t, pyg_impl *g)
{
    g->flags |= PYG_DEAD_UNRUN;
    g->flags &= ~PYG_FRESH;
    if (g->thread == NULL) {
        g->thread = t;
        g->main = (PyGreenlet *)Py_NewRef((PyObject *)t->main);
    }
    if (g->cg != NULL) {
        (void)cg_discard(g->cg);
    }
    PyObject *run = g->run;
    g->run = NULL;
    Py_XDECREF(run);
}

static cg_msg run_function(cg_greenlet *self_cg, cg_msg first);

/* Creates the core greenlet of not-started `g` in thread `t` (kept if an
   earlier attempt made it but could not start). */
static int
make_core(pyg_thread *t, pyg_impl *g)
{
    if (g->cg != NULL) {
        return 0;
    }
    size_t size = (g->flags & PYG_STACK_CHOSEN) ? g->stack_size : pyg_stack_size_for(t);
    cg_options opts = {CG_STACK_DEDICATED, size, 0};
    cg_greenlet *cg;
    cg_status st = cg_create(&cg, run_function, t->main_cg, size != 0 ? &opts : NULL);
    if (st != CG_OK) {
        pyg_raise_status(st);
        return -1;
    }
    g->stack_size = size;
    pyg_state_set_stable_stack(&g->state, size != 0);
    cg_set_userdata(cg, g);
    g->cg = cg;
    g->thread = t;
    g->main = (PyGreenlet *)Py_NewRef((PyObject *)t->main);
    return 0;
}

void
pyg_dematerialize(pyg_impl *g)
{
    if (g->cg == NULL || (g->flags & PYG_MAIN) || pyg_started(g)) {
        return;
    }
    pyg_destroy_core(g->thread, g->cg);
    g->cg = NULL;
    g->thread = NULL;
    g->flags &= ~PYG_FRESH;
    Py_CLEAR(g->main);
}

/* Replaces the candidate *g by its parent (references move along);
   -1 with greenlet.error if the collector broke the lineage there. */
static int
climb(PyGreenlet **g)
{
    PyGreenlet *next = (PyGreenlet *)Py_XNewRef((PyObject *)PYG_IMPL(*g)->parent);
    Py_DECREF(*g);
    *g = next;
    if (next == NULL) {
        PyErr_SetString(PyExc_GreenletError, "cannot switch to a garbage collected greenlet");
        return -1;
    }
    return 0;
}

/* Finds who receives `tr` sent towards `target` from thread `t`, and
   returns a new reference to it: the current greenlet (nothing to
   switch), a suspended greenlet of `t`, or a not-started one now ready to
   start (core greenlet made, start fields filled from `tr`, which is then
   empty).  Dead greenlets pass it to their parents; a not-started one
   passed an exception dies unrun, except the first target of a throw,
   which starts and dies in place (S59).
   Looking up `run` runs Python code, which may change everything: the
   candidate is then examined again (S18).
   An exception passing through not-started greenlets is traced as upstream
   does, one hop into and one out of each (S97): *via is set to a new list
   of them (else NULL), for the arrival to trace -- in the receiver, a live
   greenlet, never in a dying one, where a greenlet the callback starts
   would finish into the wrong place.
   Errors: when `finishing`, an error replaces what is in transit and
   delivery goes on up the chain, ending at the thread's main greenlet
   (S29); otherwise NULL is returned with the exception set and `tr` is
   left for the caller. */
static PyGreenlet *
find_receiver(pyg_thread *t, PyGreenlet *target, pyg_transit *tr, int finishing,
              PyObject **via)
{
    PyGreenlet *g = (PyGreenlet *)Py_XNewRef((PyObject *)target);
    PyObject *run = NULL;
    int first = 1;
    *via = NULL;
    for (;;) {
        pyg_impl *gi = g != NULL ? PYG_IMPL(g) : NULL;
        pyg_thread *owner = gi != NULL ? pyg_owner(gi) : NULL;
        if (gi == NULL || owner != t) {
            raise_thread_error(t, owner);
            goto failed;
        }
        int started;
        if (dead_or_started(gi, &started)) {
            if (first && !finishing && tr->exc != NULL &&
                PyObject_TypeCheck(tr->exc, (PyTypeObject *)PyExc_GreenletExit)) {
                /* S60: GreenletExit thrown at a dead greenlet is a value. */
                tr->one = tr->exc;
                tr->exc = NULL;
            }
            Py_CLEAR(run);
            first = 0;
            if (climb(&g) < 0) {
                goto failed;
            }
            continue;
        }
        if (g == t->current || started) {
            Py_XDECREF(run);
            return g;
        }
        if (tr->exc != NULL && !(first && !finishing)) {
            die_unrun(t, gi);
            Py_CLEAR(run);
            if (t->trace != NULL) {
                if (*via == NULL && (*via = PyList_New(0)) == NULL) {
                    goto failed;
                }
                if (PyList_Append(*via, (PyObject *)g) < 0) {
                    goto failed;
                }
            }
            if (climb(&g) < 0) {
                goto failed;
            }
            continue;
        }
        if (run == NULL && Py_IS_TYPE(g, &PyGreenlet_Type) && gi->run != NULL) {
            /* The exact type's `run` is its getset (a data descriptor of
               an immutable type, so nothing can shadow it): the lookup
               would return this, running no code. */
            run = Py_NewRef(gi->run);
        } else if (run == NULL) {
            /* S17: an ordinary attribute lookup; keep what is being raised
               for a throw untouched. */
            static PyObject *run_name;
            if (run_name == NULL && (run_name = PyUnicode_InternFromString("run")) == NULL) {
                goto failed;
            }
            run = PyObject_GetAttr((PyObject *)g, run_name);
            if (run == NULL) {
                goto failed;
            }
            continue;   /* S18: look again, anything may have changed */
        }
        if (tr->one != NULL) {
            /* run's arguments are a tuple */
            if ((tr->args = PyTuple_Pack(1, tr->one)) == NULL) {
                goto failed;
            }
            Py_CLEAR(tr->one);
        }
        if (make_core(t, gi) < 0) {
            goto failed;
        }
        gi->flags |= PYG_FRESH;
        gi->start_run = run;
        gi->start_args = tr->args;
        gi->start_kwargs = tr->kwargs;
        gi->start_error = tr->exc;
        tr->args = tr->kwargs = tr->exc = NULL;
        return g;

    failed:
        Py_CLEAR(run);
        if (!finishing) {
            Py_XDECREF(g);
            Py_CLEAR(*via);
            return NULL;
        }
        /* The error goes on up the chain; the thread's main greenlet
           takes what nobody else can. */
        transit_fail(tr);
        {
            PyGreenlet *next = (gi != NULL && owner == t && gi->parent != NULL)
                                   ? gi->parent : t->main;
            Py_INCREF(next);
            Py_XDECREF(g);
            g = next;
        }
        first = 0;
    }
}

/* Drops what find_receiver put into a greenlet that then could not be
   started. */
static void
unstart(pyg_impl *g)
{
    g->flags &= ~PYG_FRESH;
    Py_CLEAR(g->start_args);
    Py_CLEAR(g->start_kwargs);
    Py_CLEAR(g->start_error);
    Py_CLEAR(g->start_run);
}

/* ---- arriving ------------------------------------------------------------- */

/* Traces a transfer from `origin` to the current greenlet that passed
   through the not-started greenlets of list `via` (or NULL): one throw
   hop into each, then the last one.  0, or -1 with the callback's
   exception set (no more events then, S100). */
static int
trace_arrival(pyg_thread *t, int is_throw, PyGreenlet *origin, PyObject *via)
{
    PyGreenlet *from = origin;
    for (Py_ssize_t i = 0; via != NULL && i < PyList_GET_SIZE(via); i++) {
        PyGreenlet *hop = (PyGreenlet *)PyList_GET_ITEM(via, i);
        if (t->trace != NULL && pyg_trace(t, 1, from, hop) < 0) {
            return -1;
        }
        from = hop;
    }
    return t->trace != NULL ? pyg_trace(t, is_throw, from, t->current) : 0;
}

/* arrived() with a trace callback or hops to trace (out of line: the
   usual arrival has neither). */
static PYG_NOINLINE int
arrived_traced(pyg_thread *t, PyGreenlet *origin, int is_throw)
{
    pyg_impl *me = PYG_IMPL(t->current);
    PyObject *via = me->trace_via;
    me->trace_via = NULL;
    int rc = 0;
    if (t->trace != NULL && origin != NULL) {
        rc = trace_arrival(t, is_throw, origin, via);
    }
    if (origin != NULL || via != NULL) {
        PyObject *exc = rc < 0 ? pyg_err_take() : NULL;
        Py_XDECREF(origin);
        Py_XDECREF(via);
        if (exc != NULL) {
            pyg_err_give(exc);
        }
    }
    return rc;
}

/* The arriving side of every transfer to `me`, the current greenlet:
   the trace callback sees `origin` (what arrive() returned), then that
   reference is dropped.  0, or -1 with the callback's exception set
   (S100). */
static inline int
arrived(pyg_thread *t, pyg_impl *me, PyGreenlet *origin, int is_throw)
{
    PYG_INVARIANT(t == pyg_thread_peek() && me->self == t->current && me->cg == cg_current() &&
                  me->thread == t);
    if (me->trace_via != NULL || t->trace != NULL) {
        return arrived_traced(t, origin, is_throw);
    }
    Py_XDECREF(origin);     /* the usual arrival: nothing to trace */
    return 0;
}

/* Takes `tr` to the current greenlet itself; `via` (stolen) as in
   find_receiver. */
static PyObject *
deliver_here(pyg_thread *t, pyg_transit *tr, PyObject *via)
{
    int is_throw = tr->exc != NULL;
    int rc = trace_arrival(t, is_throw, t->current, via);
    Py_XDECREF(via);
    if (rc < 0) {
        transit_clear(tr);
        return NULL;
    }
    if (is_throw) {
        PyObject *exc = tr->exc;
        tr->exc = NULL;
        pyg_err_give(exc);
        return NULL;
    }
    return transit_value(tr);
}

/* Makes `me`, whose state is back in the thread state, the current
   greenlet of `t` (unless it still is: its switch was refused).  The
   reference that kept the origin alive while it ran is returned, for
   arrived() to drop after the trace callback (NULL: no origin). */
static inline PyGreenlet *
arrive(pyg_thread *t, pyg_impl *me)
{
    PYG_INVARIANT(me->thread == t && me->cg == cg_current());
    PyGreenlet *origin = t->current;
    if (origin == me->self) {
        return NULL;
    }
    t->current = me->self;
    Py_INCREF(me->self);
    return origin;
}

/* The switch from `me`, the current greenlet, to `g` (a new
   reference), which is to receive `msg` (owned), and what arrives back;
   the rest as pyg_switch.  Entered by a tail call: while the greenlet is
   suspended, this frame, which copy-stack switches save and restore, is
   the only one of the module below the caller's. */
static PYG_NOINLINE PyObject *
send_and_wait(pyg_impl *me, PyGreenlet *g, cg_msg msg, void *hint)
{
    pyg_thread *t = me->thread;
    cg_msg received;
    cg_status st = CG_ENOMEM;
    /* The interpreter's state leaves with this greenlet and comes back
       with it, here, before any code runs on either side: every greenlet
       is suspended in this call or not started yet (see run_function),
       and no Python code runs in the core's switch. */
    PyGreenlet *origin = NULL;
    int resumed = 0;
    PyThreadState *ts = pyg_state_leave(&me->state, &t->carry);
    if (ts != NULL) {
        /* While suspended, the reference to the target belongs to the
           greenlet, not to this C frame (see pyg_abandon); only a
           suspended greenlet waits on anything. */
        PYG_INVARIANT(me->waiting_on == NULL);
        me->waiting_on = g;
        /* cg_switch and cg_throw, unlike cg_send, try the core's bare
           jump first, which applies to a target on a dedicated stack
           since the module installs no hook; a copy-stack target would
           only pay for the try. */
        pyg_impl *gi = PYG_IMPL(g);
        if (gi->stack_size == 0) {
            st = cg_send(gi->cg, msg, &received);
        } else if (msg.kind == CG_ERROR) {
            st = cg_throw(gi->cg, msg.value, &received);
        } else {
            st = cg_switch(gi->cg, msg.value, &received);
        }
        t = me->thread;     /* (kept in `me` rather than in this frame) */
        resumed = pyg_state_enter(&me->state, ts, &t->carry);
        origin = arrive(t, me);
        g = me->waiting_on;
        me->waiting_on = NULL;
    }
    if (hint != NULL) {
        me->state.stack_hint = NULL;
    }
    if (st != CG_OK) {
        PYG_INVARIANT(origin == NULL);
        pyg_impl *gi = PYG_IMPL(g);
        Py_CLEAR(gi->trace_via);
        if (gi->flags & PYG_FRESH) {
            unstart(gi);
        }
        Py_XDECREF((PyObject *)msg.value);
        pyg_raise_status(st);
        Py_XDECREF(g);
        return NULL;
    }
    Py_XDECREF(g);
    /* `me` is the current greenlet again (it is this C frame's). */
    if (resumed) {
        pyg_state_resumed(&me->state, ts);
    }
    PyObject *payload = received.value;
    if (received.kind == CG_VALUE && payload != NULL) {
        /* The usual answer. */
        if (arrived(t, me, origin, 0) < 0) {
            Py_DECREF(payload);
            return NULL;
        }
        return payload;
    }
    int is_throw = received.kind == CG_ERROR || received.kind == CG_LOST_ERROR;
    if (arrived(t, me, origin, is_throw) < 0) {
        Py_XDECREF(payload);
        return NULL;
    }
    if (is_throw) {
        pyg_err_give(payload);  /* a lost one is raised here instead */
        return NULL;
    }
    if (payload == NULL) {
        /* A value meant to start a greenlet that the core could not start
           (no C stack left) came on to us instead. */
        PyErr_SetString(PyExc_RecursionError,
                        "a greenlet could not be started: too little C stack left");
    } else if (received.kind == CG_LOST_VALUE) {
        /* Not ours: a finished greenlet's result that could not reach its
           receiver (no memory to resume it) came here instead. */
        Py_DECREF(payload);
        PyErr_SetString(PyExc_MemoryError,
                        "a finished greenlet's result could not be delivered "
                        "(no memory to resume its receiver)");
        return NULL;
    }
    return payload;
}

/* find_receiver's answer when it is `target` itself, seen without its
   walk: a started, live greenlet of `t` other than the current one (the
   usual switch).  `t` is the calling thread's, so it has not exited. */
static int
resumable(pyg_thread *t, PyGreenlet *target)
{
    const pyg_impl *gi = PYG_IMPL(target);
    if (gi->thread != t || target == t->current) {
        return 0;
    }
    /* The module's own flags tell what dead_or_started would ask the core:
       its greenlets die only by returning (FINISHING first), being
       discarded (DISCARDED, DEAD_UNRUN) or their thread exiting. */
    int r = (gi->flags & PYG_MAIN) ||
            (gi->flags & (PYG_ENTERED | PYG_DEAD_UNRUN | PYG_FINISHING | PYG_DISCARDED)) ==
                PYG_ENTERED;
#ifdef PYG_DEBUG
    int started;
    PYG_INVARIANT(r == (!dead_or_started(gi, &started) && started));
#endif
    return r;
}

/* The usual switch's way in: `msg` to `target`, a started, live greenlet
   of `t` other than the current one (consumed); see send_and_wait. */
static inline PyObject *
send_direct(pyg_thread *t, PyGreenlet *target, cg_msg msg, void *hint)
{
    pyg_impl *me = PYG_IMPL(t->current);
    if (hint != NULL) {
        me->state.stack_hint = hint;
    }
    return send_and_wait(me, (PyGreenlet *)Py_NewRef((PyObject *)target), msg, hint);
}

/* pyg_switch and pyg_switch_value in every case (`one`: the value of
   the latter, else NULL). */
static PYG_NOINLINE PyObject *
switch_general(PyGreenlet *target, PyObject *args, PyObject *kwargs, PyObject *exc,
               PyObject *one, void *hint)
{
    pyg_transit tr = {args, kwargs, exc, one};
    pyg_thread *t = pyg_thread_peek();
    if (hint != NULL && t != NULL) {
        /* Set before any deferred kill below switches away from here. */
        PYG_IMPL(t->current)->state.stack_hint = hint;
    }
    t = pyg_thread_get();
    if (t == NULL) {
        transit_clear(&tr);
        return NULL;
    }
    pyg_impl *me = PYG_IMPL(t->current);
    PyObject *via = NULL;
    PyGreenlet *g;
    if (resumable(t, target)) {
        g = (PyGreenlet *)Py_NewRef((PyObject *)target);
    } else {
        g = find_receiver(t, target, &tr, 0, &via);
        if (g == NULL) {
            transit_clear(&tr);
            goto out;
        }
        if (g == t->current) {
            Py_DECREF(g);
            PyObject *r = deliver_here(t, &tr, via);
            if (hint != NULL) {
                me->state.stack_hint = NULL;
            }
            return r;
        }
    }
    pyg_impl *gi = PYG_IMPL(g);
    cg_msg msg = transit_msg(gi, &tr);
    if (msg.kind == CG_ERROR && msg.value == NULL) {
        Py_DECREF(g);
        Py_XDECREF(via);
        goto out;
    }
    if (via != NULL || gi->trace_via != NULL) {
        Py_XSETREF(gi->trace_via, via);     /* no code runs until the switch */
    }
    return send_and_wait(me, g, msg, hint);

out:
    if (hint != NULL) {
        me->state.stack_hint = NULL;
    }
    return NULL;
}

PyObject *
pyg_switch(PyGreenlet *target, PyObject *args, PyObject *kwargs, PyObject *exc,
           void *hint)
{
    /* The usual switch -- to a live, started greenlet of this thread, with
       no deferred work to run first, carrying an exception or a value that
       needs no conversion -- calls nothing on the way to send_and_wait,
       which is then entered by a tail call. */
    pyg_thread *t = pyg_thread_ready();
    if (t != NULL && resumable(t, target) && PYG_IMPL(target)->trace_via == NULL &&
        (exc != NULL || (kwargs == NULL && Py_SIZE(args) != 1))) {
        cg_msg msg = {exc != NULL ? CG_ERROR : CG_VALUE, exc != NULL ? exc : args};
        return send_direct(t, target, msg, hint);
    }
    return switch_general(target, args, kwargs, exc, NULL, hint);
}

PyObject *
pyg_switch_value(PyGreenlet *target, PyObject *value, void *hint)
{
    /* As pyg_switch's usual switch: the value is what the resumed
       switch() returns (S20), so it needs no tuple around it. */
    pyg_thread *t = pyg_thread_ready();
    if (t != NULL && resumable(t, target) && PYG_IMPL(target)->trace_via == NULL) {
        return send_direct(t, target, (cg_msg){CG_VALUE, value}, hint);
    }
    return switch_general(target, NULL, NULL, NULL, value, hint);
}

/* ---- the run function ------------------------------------------------------ */

/* The start of every greenlet's body, from its arrival (its bottom
   CFrame goes into `room`) up to the call of `run`, whose result (or
   NULL with the exception) it returns: by a tail call, so that no frame
   of its own stays in the greenlet's stack while it runs. */
static PYG_NOINLINE PyObject *
run_call(pyg_impl *me, pyg_cframe_room *room)
{
    /* The arrival: its empty interpreter state goes in, it becomes the
       current greenlet, and gets its bottom CFrame. */
    pyg_thread *t = pyg_thread_peek();
    PyThreadState *ts = pyg_tstate_unchecked();
    PYG_INVARIANT(me->flags & PYG_FRESH);
    me->flags = (me->flags & ~PYG_FRESH) | PYG_ENTERED;
    pyg_state_enter_new(&me->state, ts, &t->carry, &t->chunks);
    PyGreenlet *origin = arrive(t, me);
    pyg_state_run_prologue(ts, room);

    /* What the call needs stays owned by the greenlet (not by this C
       frame) until the call returns, so that it can be released should
       the greenlet be abandoned meanwhile (pyg_abandon). */
    PyObject *run = me->start_run, *err = me->start_error;
    me->start_run = me->start_error = NULL;
    me->running_run = run;

    if (arrived(t, me, origin, err != NULL) < 0) {
        /* S100: the callback's exception replaces what was coming. */
        Py_XDECREF(err);
        err = pyg_err_take();
    }
    if (err != NULL) {
        Py_CLEAR(me->start_args);
        Py_CLEAR(me->start_kwargs);
    }
    /* S19: the greenlet lets go of `run` once started.  That may run a
       finalizer that switches away (H9); we simply go on later. */
    PyObject *attr = me->run;
    me->run = NULL;
    Py_XDECREF(attr);

    if (err != NULL) {
        pyg_err_give(err);
        return NULL;
    }
    if (me->start_args != NULL &&
        (PyTuple_GET_SIZE(me->start_args) != 0 || me->start_kwargs != NULL)) {
        return PyObject_Call(run, me->start_args, me->start_kwargs);
    }
    return PyObject_CallNoArgs(run);
}

/* The end of every greenlet's body, once `run` has returned `result`
   (NULL: raised): picks the receiver of the outcome by the Python-level
   parent chain, for the core to deliver it there. */
static PYG_NOINLINE cg_msg
run_finish(pyg_impl *me, PyObject *result, pyg_cframe_room *room)
{
    pyg_thread *t = pyg_thread_peek();
    pyg_transit tr = {NULL, NULL, NULL, NULL};
    if (result != NULL) {
        tr.one = result;
    } else {
        PyObject *exc = pyg_err_take();
        if (exc != NULL && PyObject_TypeCheck(exc, (PyTypeObject *)PyExc_GreenletExit)) {
            tr.one = exc;       /* S28: GreenletExit is a value */
        } else {
            tr.exc = exc != NULL ? exc : Py_NewRef(PyExc_SystemError);
        }
    }
    Py_CLEAR(me->start_args);
    Py_CLEAR(me->start_kwargs);
    PyObject *run = me->running_run;
    me->running_run = NULL;
    Py_XDECREF(run);    /* may run code; what is in transit is safe in tr */

    me->flags |= PYG_FINISHING;
    PyObject *via;
    PyGreenlet *to = find_receiver(t, me->parent, &tr, 1, &via);
    pyg_impl *ti = PYG_IMPL(to);
    cg_msg msg = transit_msg(ti, &tr);
    if (msg.kind == CG_ERROR && msg.value == NULL) {
        msg.value = pyg_err_take();     /* the conversion's error goes instead */
    }
    (void)cg_set_parent(me->cg, ti->cg);
    /* `to` stays referenced by its own parent chain or the thread. */
    Py_DECREF(to);
    Py_XSETREF(ti->trace_via, via);     /* after the last code that may run */
    PyThreadState *ts = pyg_tstate_unchecked();
    pyg_state_run_epilogue(ts, room);
    /* Nothing runs from here to the arrival of the receiver. */
    pyg_state_finished(&me->state, ts, &t->carry, &t->chunks);
    return msg;
}


/* Every greenlet's body: calls `run` with the start arguments, then lets
   the core deliver the outcome.  Only what must live as long as the call
   is here: the bytes of this frame are saved and restored with the rest
   of the greenlet's stack at each switch (copy-stack mode). */
static cg_msg
run_function(cg_greenlet *self_cg, cg_msg first)
{
    (void)first;    /* the start fields say everything */
    pyg_impl *me = cg_userdata(self_cg);
    pyg_cframe_room room;
    PyObject *result = run_call(me, &room);
    return run_finish(me, result, &room);
}

/* ---- throw ----------------------------------------------------------------- */

PyObject *
pyg_make_throw(PyObject *typ, PyObject *val, PyObject *tb)
{
    if (val == Py_None) {
        val = NULL;
    }
    if (tb == Py_None) {
        tb = NULL;
    }
    if (tb != NULL && !PyTraceBack_Check(tb)) {
        PyErr_SetString(PyExc_TypeError,
                        "throw() third argument must be a traceback object");
        return NULL;
    }
    PyObject *inst;
    if (PyExceptionClass_Check(typ)) {
        int is_inst = val != NULL ? PyObject_IsInstance(val, typ) : 0;
        if (is_inst < 0) {
            return NULL;
        }
        if (is_inst) {
            inst = Py_NewRef(val);
        } else if (val == NULL) {
            inst = PyObject_CallNoArgs(typ);
        } else if (PyTuple_Check(val)) {
            inst = PyObject_Call(typ, val, NULL);
        } else {
            inst = PyObject_CallOneArg(typ, val);
        }
        if (inst == NULL) {
            return NULL;
        }
        if (!PyExceptionInstance_Check(inst)) {
            PyErr_Format(PyExc_TypeError,
                         "calling %R should have returned an instance of "
                         "BaseException, not %s", typ, Py_TYPE(inst)->tp_name);
            Py_DECREF(inst);
            return NULL;
        }
    } else if (PyExceptionInstance_Check(typ)) {
        if (val != NULL) {
            PyErr_SetString(PyExc_TypeError,
                            "instance exception may not have a separate value");
            return NULL;
        }
        inst = Py_NewRef(typ);
    } else {
        PyErr_Format(PyExc_TypeError,
                     "exceptions must be classes, or instances, not %s",
                     Py_TYPE(typ)->tp_name);
        return NULL;
    }
    if (tb != NULL && PyException_SetTraceback(inst, tb) < 0) {
        Py_DECREF(inst);
        return NULL;
    }
    return inst;
}

/* ---- killing ------------------------------------------------------------- */

int
pyg_needs_kill(const pyg_impl *gi)
{
    return gi != NULL && !(gi->flags & (PYG_MAIN | PYG_LEAKED | PYG_DISCARDED)) &&
           gi->cg != NULL && cg_get_state(gi->cg) == CG_SUSPENDED;
}

void
pyg_kill(pyg_thread *t, PyGreenlet *g)
{
    pyg_impl *gi = PYG_IMPL(g);
    PYG_INVARIANT(gi->thread == t && t == pyg_thread_peek() && pyg_kill_allowed(t));
    PyObject *saved = pyg_err_take();
    /* S77: the killer is the parent meanwhile, so the dying greenlet's
       result comes back here. */
    PyGreenlet *old_parent = gi->parent;
    gi->parent = (PyGreenlet *)Py_NewRef((PyObject *)t->current);
    PyObject *exc = PyObject_CallFunction(PyExc_GreenletExit, "s",
                                          "Killing the greenlet because all references have vanished.");
    PyObject *res = NULL;
    if (exc != NULL) {
        t->kill_depth++;
        res = pyg_switch(g, NULL, NULL, exc, NULL);
        t->kill_depth--;
    }
    PyGreenlet *tmp = gi->parent;
    gi->parent = old_parent;
    Py_XDECREF(tmp);
    if (res == NULL) {
        PyErr_WriteUnraisable((PyObject *)g);
    } else {
        Py_DECREF(res);
    }
    if (saved != NULL) {
        pyg_err_give(saved);
    }
}

void
pyg_abandon(pyg_impl *gi)
{
    pyg_state_abandon(&gi->state);
    Py_CLEAR(gi->waiting_on);
    Py_CLEAR(gi->running_run);
    Py_CLEAR(gi->start_args);
    Py_CLEAR(gi->start_kwargs);
}
