/*
 * Internal structures of the core.  Never included by users; never
 * includes Python.h.  See docs/design.md for the picture.
 */
#ifndef CG_INTERNAL_H
#define CG_INTERNAL_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "cgreenlet.h"
#include "../arch/arch.h"
#include "sanitizer.h"

#if defined(__GNUC__)
#define CG_NORETURN __attribute__((noreturn))
#define CG_NOINLINE __attribute__((noinline))
#define CG_INLINE static inline __attribute__((always_inline))
#define CG_LIKELY(x) __builtin_expect(!!(x), 1)
#define CG_UNLIKELY(x) __builtin_expect(!!(x), 0)
#else
#define CG_NORETURN _Noreturn
#define CG_NOINLINE
#define CG_INLINE static inline
#define CG_LIKELY(x) (x)
#define CG_UNLIKELY(x) (x)
#endif

typedef struct cg_thread cg_thread;
typedef struct cg_dstack cg_dstack;

/* Life cycle of a greenlet; "running" is derived (== its thread's current). */
enum { GS_NEW = 0, GS_ACTIVE = 1, GS_DEAD = 2 };

struct cg_greenlet {
    cg_arch_ctx ctx;            /* saved registers; ctx.sp is also the low
                                   end of a copy-stack greenlet's slice */
    cg_thread *thread;          /* owner; fixed at creation */
    cg_greenlet *parent;        /* strong reference; NULL for a main */
    cg_run_fn run;
    void *userdata;

    /* Copy-stack slice (see src/stack/copy.c). */
    char *stop;                 /* high end of the region it runs in */
    cg_greenlet *stack_prev;    /* next greenlet up with bytes on the
                                   thread stack */
    char *copy;                 /* heap copy of [ctx.sp, ctx.sp + saved) */
    size_t saved;
    size_t copy_cap;

    cg_dstack *dstack;          /* dedicated stack, or NULL */
    cg_msg *received;           /* where its pending switch call wants the
                                   arriving message (NULL: nowhere) */
    cg_greenlet *kill_old;      /* while it waits in cg_kill: the killed
                                   greenlet's real parent, a reference
                                   released by the kill or, if the kill
                                   never returns, by discard / free */
    cg_greenlet *kill_target;   /* ... and the killed greenlet itself, held
                                   the same way: the kill's code may
                                   destroy it */

    cg_greenlet *prev, *next;   /* thread's list of undestroyed greenlets */
    atomic_uint refs;           /* owner + children holding it as parent */
    _Atomic unsigned char state;
    unsigned char is_main;
    unsigned char destroyed;    /* the owner has released it */
    unsigned char in_list;
#ifdef CG_ASAN
    void *asan_fake_stack;
#endif
#ifdef CG_TSAN
    void *tsan_fiber;           /* main: its thread's; others: made on the
                                   first switch, destroyed once dead */
#endif
#ifdef CG_DEBUG
    unsigned long debug_epoch;  /* stamp of the last check that found it
                                   on the chain of slices (debug.c) */
#endif
};

/* A dedicated stack: the header lives at the top of its own mapping. */
struct cg_dstack {
    char *map;                  /* start of the mapping (guard page first) */
    size_t map_size;
    char *lo, *hi;              /* usable stack; hi is 16-byte aligned */
    size_t size;                /* requested usable size (pool key) */
    int guard;
    unsigned valgrind_id;
    cg_dstack *next;            /* pool link */
};

#define CG_BUFCACHE 4

/* Per-thread state. */
struct cg_thread {
    cg_greenlet *current;
    cg_greenlet *main;

    /* The switch in progress, read by the arriving side. */
    cg_greenlet *origin;
    cg_greenlet *target;
    cg_msg msg;
    cg_greenlet *dying;         /* finished greenlet whose stack is released
                                   once control has left it */

    cg_greenlet *chain;         /* copy-stack: lowest greenlet with bytes on
                                   the thread stack */
    char *stack_lo, *stack_hi;  /* thread stack bounds (lo NULL: unknown) */

    cg_greenlet *first, *last;  /* undestroyed greenlets, creation order */

    struct { char *buf; size_t cap; } bufcache[CG_BUFCACHE];
    cg_dstack *pool;            /* free dedicated stacks */
    unsigned pool_count;
    cg_greenlet *spare;         /* freed greenlet objects, for reuse */
    unsigned spare_count;

    void *arch_scratch;         /* the backend's per-thread memory */
    int under_valgrind;         /* a valgrind tool that tracks the stack runs us:
                                   stack regions need marking for it */
    atomic_uint refs;           /* the live thread + each greenlet of it */
    atomic_int exited;
#ifdef CG_ASAN
    int asan_switching;
    char *asan_dirty_lo;        /* lowest stale shadow below live frames */
#endif
#ifdef CG_DEBUG
    unsigned long debug_epoch;  /* counts the checks of debug.c */
    cg_greenlet *debug_cursor;  /* where its next check of the list starts */
#endif
};

/* ---- alloc.c ---- */
void *cg__malloc(size_t size);
void cg__free(void *ptr);

/* ---- thread.c ---- */
/* The thread-local pointer to the thread's state.  initial-exec: one
   instruction to reach it on every switch, instead of a call.  A glibc
   assumption (docs/platforms.md): glibc reserves static TLS for modules
   loaded later by dlopen (the Python module); musl does not promise it. */
#if defined(__GNUC__) && defined(__GLIBC__)
#define CG_TLS _Thread_local __attribute__((tls_model("initial-exec")))
#else
#define CG_TLS _Thread_local
#endif
extern CG_TLS cg_thread *cg__tls;

/* Creates the calling thread's state and main greenlet; NULL if out of
   memory. */
cg_thread *cg__thread_init(void);

/* The calling thread's state, created (with its main greenlet) on first
   use; NULL if that ran out of memory. */
static inline cg_thread *
cg__thread(void)
{
    cg_thread *ts = cg__tls;
    return CG_LIKELY(ts != NULL) ? ts : cg__thread_init();
}

/* The calling thread's state if it has one, else NULL (never creates). */
static inline cg_thread *
cg__thread_peek(void)
{
    return cg__tls;
}
void cg__thread_release(cg_thread *ts);
void cg__list_add(cg_thread *ts, cg_greenlet *g);
void cg__list_remove(cg_thread *ts, cg_greenlet *g);

/* ---- greenlet.c ---- */
void cg__retain(cg_greenlet *g);
/* Drops one reference; frees g (and, iteratively, parents that drop to
   zero) when none is left. */
void cg__release(cg_greenlet *g);
/* Returns g's dedicated stack (if any) to the thread's pool. */
void cg__drop_stack(cg_thread *ts, cg_greenlet *g);
/* Makes a not-started or suspended greenlet dead without running it and
   releases its stack. */
void cg__discard(cg_thread *ts, cg_greenlet *g);
void cg__set_parent_raw(cg_greenlet *g, cg_greenlet *parent);
/* Releases the references a greenlet waiting in cg_kill holds (if any). */
void cg__drop_kill_refs(cg_greenlet *g);

/* Reference counts of a thread's objects.  While the thread lives only it
   touches them (every cross-thread operation is refused), so it uses plain
   loads and stores; once it has exited, other threads release what is left
   with atomic read-modify-writes (the exit's release store of `exited`
   orders the thread's last plain update before them). */
static inline void
cg__ref_inc(atomic_uint *r, const cg_thread *owner)
{
    if (cg__tls == owner) {
        atomic_store_explicit(r, atomic_load_explicit(r, memory_order_relaxed) + 1,
                              memory_order_relaxed);
    } else {
        atomic_fetch_add_explicit(r, 1, memory_order_relaxed);
    }
}

/* Drops one reference; nonzero if it was the last. */
static inline int
cg__ref_dec(atomic_uint *r, const cg_thread *owner)
{
    if (cg__tls == owner) {
        unsigned n = atomic_load_explicit(r, memory_order_relaxed) - 1;
        atomic_store_explicit(r, n, memory_order_relaxed);
        return n == 0;
    }
    return atomic_fetch_sub_explicit(r, 1, memory_order_acq_rel) == 1;
}

static inline unsigned
cg__state(const cg_greenlet *g)
{
    return atomic_load_explicit(&g->state, memory_order_relaxed);
}

static inline void
cg__set_state(cg_greenlet *g, unsigned s)
{
    atomic_store_explicit(&g->state, (unsigned char)s, memory_order_relaxed);
}

static inline int
cg__exited(const cg_thread *ts)
{
    return atomic_load_explicit(&ts->exited, memory_order_acquire);
}

/* Walking up parent links.  The chain can loop while a kill is in
   progress: the killed greenlet's temporary parent is the killer, which
   may descend from it.  So every walk in the core uses this step, which
   notices a loop (Brent's method: a mark that moves to the current link
   at every power of two of steps) and then ends the walk as if it had
   reached the top.  Usage:
     cg_walk w = cg__walk_start(g);
     do { ... w.p ... } while (cg__walk_up(&w));   (w.p never NULL) */
typedef struct cg_walk {
    cg_greenlet *p;
    cg_greenlet *mark;
    unsigned steps, power;
} cg_walk;

static inline cg_walk
cg__walk_start(cg_greenlet *g)
{
    cg_walk w = {g, g, 0, 1};
    return w;
}

/* Moves to the parent; 0 (w->p unchanged) at the top or when the chain
   has come round to a greenlet it already passed. */
static inline int
cg__walk_up(cg_walk *w)
{
    cg_greenlet *next = w->p->parent;
    if (next == NULL || next == w->mark) {
        return 0;
    }
    w->p = next;
    if (++w->steps == w->power) {
        w->mark = next;
        w->power *= 2;
        w->steps = 0;
    }
    return 1;
}

/* ---- debug.c ---- */
/* Debug builds (-DCG_DEBUG) check the thread's invariants at every switch
   and abort with a message naming the broken one; other builds compile
   the checks out.  origin/target: the switch about to happen (NULL: none,
   just the state). */
#ifdef CG_DEBUG
void cg__debug_check(cg_thread *ts, cg_greenlet *origin, cg_greenlet *target,
                     const char *where);
#define CG_DEBUG_CHECK(ts, origin, target, where) \
    cg__debug_check((ts), (origin), (target), (where))
#else
#define CG_DEBUG_CHECK(ts, origin, target, where) ((void)0)
#endif

/* ---- switch.c ---- */
cg_status cg__send(cg_thread *ts, cg_greenlet *target, cg_msg msg, cg_msg *received);
/* First code of every new greenlet, on its own stack, after the switch
   has arrived; never returns. */
CG_NORETURN void cg__entry(void);
/* The arriving side of a switch, on the target's stack before its code
   continues: releases a finished greenlet's stack, runs the ENTER hook,
   stores the message where the target's switch call wants it.  Returns
   CG_OK (what that switch call returns).  arg is the thread state. */
int cg__arrive(void *arg);
/* Undoes a switch whose slice saving ran out of memory, on the origin's
   stack, before the switch call returns CG_ENOMEM (which then gives TSan
   the origin's fiber back, see commit). */
void cg__switch_failed(cg_thread *ts);
#ifdef CG_TSAN
/* Destroys the TSan fiber of a dead greenlet (never main's). */
void cg__tsan_drop(cg_greenlet *g);
#define CG_TSAN_SWITCH(g) cg_tsan_switch(&(g)->tsan_fiber)
#define CG_TSAN_DROP(g) cg__tsan_drop(g)
#else
#define CG_TSAN_SWITCH(g) ((void)0)
#define CG_TSAN_DROP(g) ((void)0)
#endif
#ifdef CG_ASAN
/* Tells ASan the stack is about to change (unless both greenlets run on
   the thread stack); just before the stack pointer moves. */
void cg__asan_leave(cg_thread *ts, cg_greenlet *origin, cg_greenlet *target);
#endif

/* ---- src/stack/copy.c ---- */
/* The assembly's callbacks for a switch to a copy-stack target. */
void *cg__copy_save(void *sp, void *arg);
int cg__copy_restore(void *arg);
/* Before a switch from `origin` to suspended copy-stack `target`: saves
   every suspended slice the target will overwrite, and -- if approx_sp is
   not NULL -- reserves room for the running origin's own (from about
   approx_sp), so that the switch itself needs no allocation.  Without the
   reservation the switch copies the origin's slice into an exact-size
   buffer, and undoes itself if that allocation fails.
   CG_ENOMEM if saving failed; nothing visible has changed either way. */
cg_status cg__copy_prepare(cg_thread *ts, cg_greenlet *origin, cg_greenlet *target,
                           char *approx_sp);
/* Where a new copy-stack greenlet started now by `origin` would begin
   (approximate for a running origin: `sp`, its current stack depth). */
char *cg__copy_new_stop(cg_thread *ts, cg_greenlet *origin, char *sp);
void cg__copy_free(cg_thread *ts, cg_greenlet *g);
/* cg_stack_access for a suspended copy-stack greenlet. */
void *cg__copy_access(cg_thread *ts, cg_greenlet *g, const void *addr, size_t len);
/* Takes suspended copy-stack greenlet `g` out of the chain of slices on
   the thread stack (its bytes there become garbage). */
void cg__copy_unchain(cg_thread *ts, cg_greenlet *g);
void cg__bufcache_drain(cg_thread *ts);

/* ---- src/stack/dedicated.c ---- */
cg_status cg__dstack_get(cg_thread *ts, size_t size, int guard, cg_dstack **out);
/* Returns a stack to the thread's pool (or unmaps it). */
void cg__dstack_put(cg_thread *ts, cg_dstack *s);
void cg__dstack_unmap(cg_dstack *s);
void cg__dstack_drain(cg_thread *ts);

#endif
