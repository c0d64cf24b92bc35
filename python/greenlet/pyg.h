/*
 * Internals of the greenlet module shared by its C files.
 *
 * A greenlet object (PyGreenlet, frozen layout) points through `pimpl` to
 * a pyg_impl.  The Python-level parent is authoritative; the core
 * greenlet (cg) is created lazily when the greenlet first starts, in the
 * thread that starts it, so a not-started greenlet can be moved under a
 * parent of any thread (S39).  The core parent only matters when a
 * greenlet finishes; the run function sets it right before returning, to
 * the receiver it has chosen by the Python-level rules (S21, S29).
 *
 * The thread's current greenlet is held by a strong reference in its
 * pyg_thread; at each switch the arriving greenlet moves it to itself and
 * drops the departing one's reference after the trace callback (so a
 * running greenlet needs no reference of its own, and a suspended one is
 * kept alive only by its users, S77).
 *
 * The interpreter's per-thread state moves with control without the
 * core's switch hook: every greenlet is suspended in send_and_wait's call
 * of cg_send or has not started, so the module saves the state right
 * before that call (or at the end of the run function) and restores it
 * right after (or at the start of the run function), with no Python code
 * in between (see pystate.h).
 */
#ifndef PYG_H
#define PYG_H

#define GREENLET_MODULE 1
#define implementation_ptr_t struct pyg_impl *
#include "pycompat.h"
#include "greenlet.h"

#include <pthread.h>
#include <stdatomic.h>

#include "cgreenlet.h"
#include "pystate.h"

/* The upstream greenlet release whose API this module implements (what
   code that checks greenlet.__version__ expects).  setup.py reads it from
   here, so it stays a plain string literal. */
#define PYG_GREENLET_API_VERSION "3.5.3"

/* greenlet.__version__: the API level, then the core library's version as
   a PEP 440 local label, e.g. "3.5.3+cgreenlet.0.2.0" -- a change of either
   changes the package's version. */
#define PYG_VERSION PYG_GREENLET_API_VERSION "+cgreenlet." CGREENLET_VERSION

typedef struct pyg_thread pyg_thread;

enum pyg_flags {
    PYG_MAIN = 1 << 0,          /* the main greenlet of its thread */
    PYG_DEAD_UNRUN = 1 << 1,    /* started and dead without running (S29) */
    PYG_FINISHING = 1 << 2,     /* its run has returned: dead (S30) */
    PYG_FRESH = 1 << 3,         /* core greenlet made, not yet entered */
    PYG_LEAKED = 1 << 4,        /* survived its kill: kept forever (S78) */
    PYG_DISCARDED = 1 << 5,     /* its stack was abandoned (S85, S91) */
    PYG_FOUND_GARBAGE = 1 << 6, /* queued by the collector for a kill (S80) */
    PYG_STACK_CHOSEN = 1 << 7,  /* stack_size set through gr_stack_size */
    PYG_ENTERED = 1 << 8        /* its core greenlet has run (started) */
};

typedef struct pyg_impl {
    PyGreenlet *self;           /* borrowed back pointer */
    cg_greenlet *cg;            /* NULL until first started (main: always) */
    pyg_thread *thread;         /* set with cg; kept alive through `main` */
    PyGreenlet *main;           /* owned: main greenlet of `thread` (non-main) */
    PyObject *run;              /* owned; NULL = no run attribute */
    PyGreenlet *parent;         /* owned; NULL for a main greenlet */
    PyObject *running_run;      /* owned while run is in progress (S19) */
    PyGreenlet *waiting_on;     /* owned while suspended in a switch: its target */
    PyObject *start_run;        /* owned, from materialise to entry: */
    PyObject *start_args;       /*   what the run function starts with */
    PyObject *start_kwargs;
    PyObject *start_error;
    struct pyg_impl *next_queued;   /* in its thread's kill queue, or in
                                       a thread's spare list (freed) */
    struct pyg_impl *next_abandoned;    /* in a list of thread exit */
    PyObject *trace_via;        /* owned list: the not-started greenlets
                                   its next arrival passed through, each
                                   traced as one hop (see switch.c) */
    unsigned flags;
    size_t stack_size;          /* the stack asked for (PYG_STACK_CHOSEN)
                                   or, once it has a core greenlet, the one
                                   it runs on: 0 shared, else dedicated */
    pyg_pystate state;          /* interpreter state while not running */
} pyg_impl;

struct pyg_thread {
    PyGreenlet *main;           /* owned by the live thread */
    PyGreenlet *current;        /* owned */
    cg_greenlet *main_cg;
    PyObject *trace;            /* owned greenlet trace callback, or NULL */
    pyg_carry carry;            /* LEAVE -> ENTER */
    pyg_chunk_cache chunks;     /* data-stack chunks for new greenlets */
    pyg_impl *spare;            /* freed pyg_impls for the next greenlets, */
    int n_spare;                /*   linked through next_queued */
    size_t stack_default;       /* with has_stack_default: this thread's */
    int has_stack_default;      /*   choice for new greenlets (stacks.c) */
    int kill_depth;             /* kills in progress (bounded nesting) */
    int in_gc_stop;             /* our collector "stop" callback is running */
    pthread_mutex_t lock;       /* guards the deferred-kill queue */
    pyg_impl *deferred_head;    /* kill queue, linked through next_queued; */
    pyg_impl *deferred_tail;    /*   each holds a reference to its object */
    cg_greenlet **doomed;       /* core greenlets to destroy in this thread */
    size_t n_doomed, cap_doomed;
    atomic_int has_deferred;
    atomic_int exited;          /* the OS thread is gone */
    pyg_thread *next_exited;
};

/* An exception or a value on its way to a greenlet.  Values keep the
   switch's raw arguments until the receiver is known: a greenlet being
   started gets them as run's arguments, a resumed one gets them converted
   (S20).  A single positional argument -- a finished greenlet's result,
   switch(x) -- travels as `one`, without a tuple made just to be taken
   apart again by the receiver. */
typedef struct pyg_transit {
    PyObject *args;             /* owned tuple, or NULL when throwing or `one` */
    PyObject *kwargs;           /* owned dict or NULL */
    PyObject *exc;              /* owned exception instance when throwing */
    PyObject *one;              /* owned: the only argument (args, kwargs NULL) */
} pyg_transit;

extern PyTypeObject PyGreenlet_Type;
extern PyObject *PyExc_GreenletError;
extern PyObject *PyExc_GreenletExit;

#define PYG_IMPL(g) (((PyGreenlet *)(g))->pimpl)

/* Keeps a function out of its caller, so that the caller's frame, which
   stays in a suspended greenlet's stack, does not grow by its locals. */
#if defined(__GNUC__)
#define PYG_NOINLINE __attribute__((noinline))
#else
#define PYG_NOINLINE
#endif

/* Invariants checked in debug builds (-DPYG_DEBUG, make check-debug): a
   broken one is a bug of ours, reported where it is first seen. */
#ifdef PYG_DEBUG
#include <stdio.h>
#include <stdlib.h>
#define PYG_INVARIANT(cond)                                                  \
    do {                                                                    \
        if (!(cond)) {                                                      \
            fprintf(stderr, "%s:%d: greenlet invariant broken: %s\n",       \
                    __FILE__, __LINE__, #cond);                             \
            abort();                                                        \
        }                                                                   \
    } while (0)
#else
#define PYG_INVARIANT(cond) ((void)0)
#endif

/* ---- thread.c ---------------------------------------------------------- */

/* The calling thread's state or NULL, and whether any thread has exited
   with references still to drop: written by thread.c only, read inline by
   pyg_thread_ready on every switch.  The thread pointer is initial-exec,
   as the core's own: in a shared object the default model calls
   __tls_get_addr for it.  That takes 8 bytes of the static TLS surplus
   glibc keeps for dlopen'ed modules (a glibc assumption on every
   architecture, docs/platforms.md). */
#if defined(__GNUC__) && defined(__GLIBC__)
#define PYG_TLS_MODEL __attribute__((tls_model("initial-exec")))
#else
#define PYG_TLS_MODEL
#endif
extern PYG_TLS_MODEL _Thread_local pyg_thread *pyg_tls;
extern atomic_int pyg_exited_pending;

/* The calling thread's state if it exists and no deferred work waits
   (what pyg_thread_get would do without running anything), else NULL. */
static inline pyg_thread *
pyg_thread_ready(void)
{
    pyg_thread *t = pyg_tls;
    if (t == NULL || atomic_load_explicit(&pyg_exited_pending, memory_order_relaxed) ||
        atomic_load_explicit(&t->has_deferred, memory_order_relaxed)) {
        return NULL;
    }
    return t;
}

/* Frees the pyg_impls thread `t` keeps for its next greenlets. */
void pyg_free_spare_impls(pyg_thread *t);
/* pyg_thread_get's way when pyg_thread_ready says no: makes the state of
   the calling thread (`t`, its pyg_tls) if NULL, then runs deferred work. */
pyg_thread *pyg_thread_get_slow(pyg_thread *t);
/* The calling thread's state, creating its main greenlet on first use, or
   NULL with an exception.  Also runs deferred work (cross-thread kills,
   exited threads' cleanup).  May run Python code. */
static inline pyg_thread *
pyg_thread_get(void)
{
    pyg_thread *t = pyg_thread_ready();
    return t != NULL ? t : pyg_thread_get_slow(pyg_tls);
}
/* The calling thread's state if it exists, else NULL.  Never runs code. */
static inline pyg_thread *
pyg_thread_peek(void)
{
    return pyg_tls;
}
/* Runs deferred kills of `t` and other threads' exit cleanup, if any.  May
   run Python code; preserves a pending exception. */
void pyg_run_deferred(pyg_thread *t);
/* Hands a greenlet of live thread `t` to that thread for killing; steals
   the reference. */
void pyg_defer_kill(pyg_thread *t, PyGreenlet *g);
/* 1 if thread `t` may switch to kill a greenlet now: no collection is in
   progress, whose lists may lie in the C stack a switch would move away
   (copy-stack mode), or the collection is over but for its callbacks. */
int pyg_kill_allowed(const pyg_thread *t);
/* Destroys core greenlet `cg` (dead or not started, its object gone) of
   thread `t`: at once where the core allows it (this thread's, or an
   exited thread's), else queued for `t` to destroy at its next greenlet
   operation or exit.  Its userdata is cleared first: nothing may reach
   the freed object through it. */
void pyg_destroy_core(pyg_thread *t, cg_greenlet *cg);
/* 1 if `t`'s OS thread has exited. */
int pyg_thread_exited(const pyg_thread *t);
/* Frees a thread state; only from its main greenlet's deallocation after
   the thread has exited. */
void pyg_thread_free(pyg_thread *t);
/* Installs the thread-exit key and the collector
   callback that kills what a collection found (S80).  0 or -1 with an
   exception. */
int pyg_thread_setup(void);

/* ---- switch.c ---------------------------------------------------------- */

/* State predicates (any thread). */
int pyg_started(const pyg_impl *g);
int pyg_dead(const pyg_impl *g);
int pyg_active(const pyg_impl *g);
/* The thread `g` belongs to, following parents for a not-started one;
   NULL if the lineage was broken by the garbage collector. */
pyg_thread *pyg_owner(const pyg_impl *g);

/* Sends to `target` (S16-S29, S56-S63) what a pyg_transit holds --
   `args` (a tuple) and `kwargs` (a dict or NULL), or exception `exc`
   -- and waits for something to arrive back: a new reference, or NULL
   with an exception.  Consumes all three in all cases.  `hint`, for a
   switch() called from Python code, is the end of its arguments on the
   caller's value stack (see pyg_pystate.stack_hint), else NULL.  The
   parts travel in registers so that a caller can hand over with a tail
   call, leaving no frame of its own in the suspended stack.  May
   switch. */
PyObject *pyg_switch(PyGreenlet *target, PyObject *args, PyObject *kwargs, PyObject *exc,
                     void *hint);
/* pyg_switch of switch(value): one positional argument, no keywords,
   without a tuple made for it; consumes `value`. */
PyObject *pyg_switch_value(PyGreenlet *target, PyObject *value, void *hint);
/* Builds the exception of g.throw(typ, val, tb) (S57, S58); NULL
   with TypeError (or the constructor's error) if the arguments are bad. */
PyObject *pyg_make_throw(PyObject *typ, PyObject *val, PyObject *tb);
/* Kills suspended `g` of the calling thread with GreenletExit (S77, S78);
   preserves a pending exception; reports failures as unraisable.  Only
   where pyg_kill_allowed(t). */
void pyg_kill(pyg_thread *t, PyGreenlet *g);
/* 1 if `g` is suspended and would have to be killed on its last
   reference (S77). */
int pyg_needs_kill(const pyg_impl *g);
/* Releases what a greenlet whose stack was abandoned (thread exit) still
   holds for its frames and its pending calls.  May run Python code. */
void pyg_abandon(pyg_impl *gi);
/* Makes a not-started, materialised greenlet forget its core greenlet so
   it can move to another thread. */
void pyg_dematerialize(pyg_impl *g);

/* ---- greenlet_type.c --------------------------------------------------- */

/* A new not-started greenlet of exact type greenlet.greenlet: C API. */
PyGreenlet *pyg_new(PyObject *run, PyGreenlet *parent);
/* Allocates the impl of a main greenlet object for thread `t`. */
PyGreenlet *pyg_new_main(pyg_thread *t, cg_greenlet *cg);
/* g.parent = p with every check of S34-S43: 0 or -1. */
int pyg_set_parent(PyGreenlet *g, PyObject *p);
/* Calls the thread's trace callback for a transfer (S97-S103): 0, or -1
   with the callback's exception set (the callback is then removed). */
int pyg_trace(pyg_thread *t, int is_throw, PyGreenlet *origin, PyGreenlet *target);
/* Type setup: 0 or -1. */
int pyg_type_ready(PyObject *module);

/* ---- stacks.c ---------------------------------------------------------- */

/* The stack a greenlet starting in thread `t` gets unless it chose one:
   0 for the shared (copied) stack, else a dedicated stack's bytes. */
size_t pyg_stack_size_for(const pyg_thread *t);
/* Converts a Python stack size (0, or a dedicated stack's bytes within the
   allowed range) into *out: 0, or -1 with TypeError/ValueError. */
int pyg_stack_size_arg(PyObject *v, size_t *out);
/* greenlet.set_stack_size(size, *, thread=False) and get_stack_size(). */
PyObject *pyg_mod_set_stack_size(PyObject *module, PyObject *args, PyObject *kwargs);
PyObject *pyg_mod_get_stack_size(PyObject *module, PyObject *unused);
/* Reads CGREENLET_STACK_SIZE into the process default (a bad value is
   ignored with a RuntimeWarning): 0, or -1 if the warning was an error. */
int pyg_stacks_setup(void);

/* ---- module.c ---------------------------------------------------------- */

/* The error for a refused core switch, as a Python exception. */
void pyg_raise_status(cg_status st);

#endif
