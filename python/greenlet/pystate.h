/*
 * What a greenlet keeps of the interpreter's per-thread execution state
 * while it is not running, and the calls that move it in and out of the
 * thread state.  The layout is private to pystate.c; everything that
 * depends on the CPython version lives there.
 *
 * Switch discipline: a greenlet's LEAVE (pyg_state_leave or, once its run
 * function has returned, pyg_state_finished) is the last thing it does
 * before the core's switch, and the ENTER of whichever greenlet comes next
 * (pyg_state_enter, pyg_state_enter_new) the first thing after it, in
 * the same thread: no Python code runs in between, and the thread state
 * holds no valid state of its own then.  These calls only move pointers
 * and integers (plus plain malloc for the 3.12+ relink table: only
 * pyg_state_leave can fail, before it changes anything).  They never run
 * Python code and never create objects.
 */
#ifndef PYG_PYSTATE_H
#define PYG_PYSTATE_H

#include <Python.h>
#include <stddef.h>

typedef struct pyg_relink pyg_relink;

typedef struct pyg_pystate {
    PyObject *context;          /* owned; NULL = no context yet */
    void *exc_info;             /* _PyErr_StackItem* (saved only) */
    PyObject *exc_objs[3];      /* owned contents of tstate->exc_state */
    void *exc_previous;         /* exc_state.previous_item */
    int py_depth;               /* Python recursion depth */
    int c_remaining;            /* 3.12+: C recursion budget left */
    int trash_nesting;          /* 3.9 - 3.12 */
    void *frame;                /* current frame (PyFrameObject* on <= 3.10,
                                   _PyInterpreterFrame* on 3.11+) */
    void *cframe;               /* 3.10 - 3.12: CFrame in the own C stack */
    void *chunk, *top, *limit;  /* 3.11+: data stack */
    void *tracefunc, *profilefunc;  /* 3.12+: the thread's at LEAVE */
    void *stack_hint;           /* end of the arguments of the switch() call
                                   it is suspended in, when they are on the
                                   innermost frame's value stack, else NULL */
    pyg_relink *relinked;       /* 3.12+: frames unlinked from C-stack shims */
    size_t n_relinked, cap_relinked;
    int shims_left;             /* 3.12+: the table could not grow, so the
                                   chain may still pass through entry
                                   frames in the (moving) C stack */
    int stable_stack;           /* 3.12+: its C stack is its own and stays
                                   in place while it is suspended (a
                                   dedicated stack), and so do its entry
                                   frames: the chain is left as it is */
} pyg_pystate;

/* What travels with control from the origin to the target of a switch
   (3.10/3.11 use_tracing), stored between LEAVE and ENTER. */
typedef struct pyg_carry {
    int use_tracing;
} pyg_carry;

/* Root data-stack chunks (3.11+) of finished greenlets, kept per thread
   for the next greenlets to start with: creating a greenlet then costs no
   mmap/munmap pair. */
#define PYG_CHUNK_CACHE 16
typedef struct pyg_chunk_cache {
    void *chunks[PYG_CHUNK_CACHE];
    int n;
} pyg_chunk_cache;

/* Frees every cached chunk (any thread, no GIL needed). */
void pyg_chunk_cache_drain(pyg_chunk_cache *cache);

/* Room for a new greenlet's bottom CFrame (3.10 - 3.12), declared as a
   local of its run function so it lives as long as the greenlet runs. */
typedef struct pyg_cframe_room {
    void *words[4];
} pyg_cframe_room;

/* A pyg_pystate of all zero bytes is the state of a not-started
   greenlet: nothing saved yet, no context to run in. */

/* LEAVE for the running greenlet, whose state is `s`, right before a
   switch away from it that it will come back from: saves the thread's
   state into `s` and records what travels in `carry`.  3.12+: points
   the frames called from entry frames past them, recording them to
   relink at ENTER.  Returns the calling thread's state (the same when
   the greenlet comes back), or NULL if memory ran out for the relink
   table (nothing changed; no exception is set). */
PyThreadState *pyg_state_leave(pyg_pystate *s, pyg_carry *carry);

/* LEAVE for a greenlet whose run function has returned: keeps its final
   context and frees its data stack. */
void pyg_state_finished(pyg_pystate *s, PyThreadState *ts, pyg_carry *carry,
                        pyg_chunk_cache *cache);

/* ENTER for a greenlet that was saved by pyg_state_leave: after the
   switch, or instead of it if it was refused.  Returns 1 if
   pyg_state_resumed(s, ts) has work to do, else 0. */
int pyg_state_enter(pyg_pystate *s, PyThreadState *ts, const pyg_carry *carry);

/* ENTER for a greenlet about to run for the first time: empty frame
   chain and data stack, empty exception state, `s->context`; recursion
   depths inherited from the starter. */
void pyg_state_enter_new(pyg_pystate *s, PyThreadState *ts, const pyg_carry *carry,
                         pyg_chunk_cache *cache);

/* First thing in a new greenlet's run function: gives it its own bottom
   CFrame (3.10 - 3.12) in `room`, chained to the thread's root one. */
void pyg_state_run_prologue(PyThreadState *ts, pyg_cframe_room *room);

/* On the arriving side of a resumed greenlet, with the GIL, before its
   code goes on (may run Python code: after its ENTER).  3.12+: if
   sys.settrace/setprofile changed while it was suspended, its frames'
   code was not instrumented for it (only running chains are): set the
   functions again so that the interpreter instruments them now (S104). */
void pyg_state_resumed(pyg_pystate *s, PyThreadState *ts);

/* Last thing before the run function returns: back to the thread's root
   CFrame, passing on the tracing flag. */
void pyg_state_run_epilogue(PyThreadState *ts, pyg_cframe_room *room);

/* The innermost frame of a suspended greenlet as a new reference, or
   None.  May allocate (never on the switch path). */
PyObject *pyg_state_frame(pyg_pystate *s, PyThreadState *ts);

/* Tells whether the greenlet whose state is `s` runs on a C stack of its
   own that stays in place while it is suspended (a dedicated stack): then
   switches leave its frame chain as it is (3.12+: no walk per switch), and
   pyg_state_cut_shims must run before that stack is discarded. */
void pyg_state_set_stable_stack(pyg_pystate *s, int stable);

/* Before the stack of a suspended greenlet is discarded (its thread
   exits): points its frames past the entry frames in that stack for good,
   so that nothing walks into the released stack later.  Never allocates;
   a no-op unless the greenlet has a stable stack (others are unlinked at
   each switch). */
void pyg_state_cut_shims(pyg_pystate *s);

/* For a greenlet whose stack was abandoned (its thread exited): drops
   the variables of its suspended frames and its handled exception, so
   what they refer to is freed (S85).  May run Python code (finalizers);
   needs the GIL, any thread. */
void pyg_state_abandon(pyg_pystate *s);

/* Visits / drops the objects a saved state owns (context, handled
   exception).  pyg_state_clear also frees the relink table. */
int pyg_state_traverse(pyg_pystate *s, visitproc visit, void *arg);
/* Visits the references that a suspended greenlet's frames hold through
   its C stack, which nothing else reports to the collector (S80): on
   3.9/3.10 the evaluator's reference to each frame object (and, for a
   frame not tracked by the collector, what that frame refers to); on
   3.11+ the function, code, locals mapping, frame object and variables
   of each frame in its data stack; and the innermost frame's value stack
   up to the end of the switch() call's arguments.  Other value-stack
   temporaries are left out: their extent is not known everywhere, and a
   reference visited that is not really held would let the collector free
   live objects.  Only for a
   greenlet whose finalizer will keep it alive (resurrect it for a kill)
   if the collector finds it unreachable: the frames' objects are then
   never cleared while the frames may still run. */
int pyg_state_traverse_frames(pyg_pystate *s, visitproc visit, void *arg);
void pyg_state_clear(pyg_pystate *s);

/* The context a greenlet runs in: saved, or the thread's if running. */
PyObject **pyg_state_context_slot(pyg_pystate *s, PyThreadState *ts, int running);
/* After the running greenlet's context was replaced: invalidates caches. */
void pyg_state_context_changed(PyThreadState *ts);

/* Around a greenlet trace callback: Python-level tracing and profiling
   are off meanwhile (S103), as for any trace function. */
void pyg_tracing_begin(PyThreadState *ts);
void pyg_tracing_end(PyThreadState *ts);

/* The exception being raised, moved out as one object (an instance with
   its traceback attached), or NULL if none; and back in. */
PyObject *pyg_err_take(void);
void pyg_err_give(PyObject *exc);

/* The calling thread's thread state, or NULL (never fails). */
PyThreadState *pyg_tstate_unchecked(void);

/* 1 once interpreter finalization has begun. */
int pyg_finalizing(void);

/* 1 while the interpreter's cyclic garbage collector is collecting (in
   this thread, or in another one that let go of the GIL meanwhile). */
int pyg_gc_collecting(void);

#endif
