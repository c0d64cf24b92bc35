/*
 * Copy-stack slices: many greenlets take turns on the thread's own stack.
 *
 * Each copy-stack greenlet runs in a region of the thread stack that ends
 * at its `stop` (the stack pointer of whoever started it) and reaches down
 * as far as it calls.  A suspended greenlet's live bytes are
 * [sp, stop); they stay in place until another greenlet needs that
 * address range, and are then copied to the heap -- only the overlapping
 * part, and only once.  The greenlets that still have bytes on the stack
 * form the "chain", lowest first (ts->chain, then stack_prev links):
 *
 *   high addresses                                 thread stack
 *   +-----------------------------+  <- main.stop (conceptually infinite)
 *   | main's frames               |
 *   |.............................|  <- A.stop (where main started A)
 *   | A's frames                  |     A: suspended, bytes still here
 *   |.............................|  <- B.stop (where A started B)
 *   | B's frames  (running)       |
 *   +-----------------------------+  <- sp      chain: B -> A -> main
 *   low addresses
 *
 * Switching B -> main: main needs [main.sp, main.stop), which covers
 * everything below main.stop, so B and A are saved whole (they lie
 * entirely inside it) and leave the chain; main's own bytes are still in
 * place.  Switching main -> A later: A's region is [A.sp, A.stop); main's
 * bytes below A.stop (the frames of its switch call) are saved, A's heap
 * copy is written back, and the chain is A -> main.
 *
 * The rule for C users: a pointer into a suspended copy-stack greenlet's
 * stack is not valid while another greenlet runs; the bytes may be on the
 * heap.  Dedicated stacks do not have this restriction.
 *
 * save runs on the origin's stack below every live byte; restore runs with
 * the stack pointer already below the target's region, so neither copies
 * over the frame it is executing in.
 */
#include <stdint.h>
#include <string.h>

#include "../core/internal.h"

static char *
align_down(char *p)
{
    return (char *)((uintptr_t)p & ~(uintptr_t)15);
}

/* A heap buffer of at least `need` bytes, from the thread's small cache of
   recently released copies when one is big enough. */
static char *
buf_get(cg_thread *ts, size_t need, size_t *cap)
{
    for (int i = 0; i < CG_BUFCACHE; i++) {
        if (ts->bufcache[i].buf != NULL && ts->bufcache[i].cap >= need) {
            char *b = ts->bufcache[i].buf;
            *cap = ts->bufcache[i].cap;
            ts->bufcache[i].buf = NULL;
            return b;
        }
    }
    size_t rounded = (need + 63) & ~(size_t)63;
    char *b = cg__malloc(rounded);
    if (b != NULL) {
        *cap = rounded;
    }
    return b;
}

static void
buf_put(cg_thread *ts, char *buf, size_t cap)
{
    if (buf == NULL) {
        return;
    }
    int smallest = -1;
    for (int i = 0; i < CG_BUFCACHE; i++) {
        if (ts->bufcache[i].buf == NULL) {
            ts->bufcache[i].buf = buf;
            ts->bufcache[i].cap = cap;
            return;
        }
        if (smallest < 0 || ts->bufcache[i].cap < ts->bufcache[smallest].cap) {
            smallest = i;
        }
    }
    if (ts->bufcache[smallest].cap < cap) {
        cg__free(ts->bufcache[smallest].buf);
        ts->bufcache[smallest].buf = buf;
        ts->bufcache[smallest].cap = cap;
    } else {
        cg__free(buf);
    }
}

/* Makes sure g's copy buffer holds `need` bytes, keeping what it holds. */
CG_INLINE cg_status
reserve(cg_thread *ts, cg_greenlet *g, size_t need)
{
    if (need <= g->copy_cap) {
        return CG_OK;
    }
    size_t cap;
    char *buf = buf_get(ts, need, &cap);
    if (buf == NULL) {
        return CG_ENOMEM;
    }
    if (g->saved) {
        memcpy(buf, g->copy, g->saved);
    }
    buf_put(ts, g->copy, g->copy_cap);
    g->copy = buf;
    g->copy_cap = cap;
    return CG_OK;
}

/* Extends g's heap copy to cover [g->ctx.sp, stop). */
CG_INLINE cg_status
save_slice(cg_thread *ts, cg_greenlet *g, char *stop)
{
    char *lo = g->ctx.sp;
    if ((uintptr_t)stop <= (uintptr_t)lo) {
        return CG_OK;
    }
    size_t need = (size_t)((uintptr_t)stop - (uintptr_t)lo);
    if (need <= g->saved) {
        return CG_OK;
    }
    if (reserve(ts, g, need) != CG_OK) {
        return CG_ENOMEM;
    }
    cg_asan_unpoison(lo + g->saved, need - g->saved);
    memcpy(g->copy + g->saved, lo + g->saved, need - g->saved);
    g->saved = need;
    return CG_OK;
}

/* Distance the stack pointer a switch saves can lie below an address
   taken in the switching code (its own frames and pushed registers). */
#define SP_MARGIN 512

/* Saves g's bytes below `upto` -- or, for the greenlet still running
   (whose bytes are still changing), only reserves room to save them from
   about `approx_sp` when it switches (nothing, if approx_sp is NULL: the
   switch will copy them into an exact-size buffer). */
CG_INLINE cg_status
save_owner(cg_thread *ts, cg_greenlet *g, char *upto, const cg_greenlet *running,
           char *approx_sp)
{
    if (g != running) {
        return save_slice(ts, g, upto);
    }
    if (approx_sp == NULL) {
        return CG_OK;
    }
    uintptr_t lo = (uintptr_t)approx_sp - SP_MARGIN;
    if ((uintptr_t)upto <= lo) {
        return CG_OK;
    }
    return reserve(ts, g, (size_t)((uintptr_t)upto - lo));
}

/* Saves every byte of the chain that lies in the region `target` (ending
   at `stop`) will occupy; `running` as in save_owner (NULL: none). */
CG_INLINE cg_status
save_chain(cg_thread *ts, char *stop, cg_greenlet *target, const cg_greenlet *running,
           char *approx_sp)
{
    cg_greenlet *owner = ts->chain;
    while ((uintptr_t)owner->stop < (uintptr_t)stop) {
        if (save_owner(ts, owner, owner->stop, running, approx_sp) != CG_OK) {
            return CG_ENOMEM;
        }
        owner = owner->stack_prev;
    }
    if (owner != target) {
        return save_owner(ts, owner, stop, running, approx_sp);
    }
    return CG_OK;
}

cg_status
cg__copy_prepare(cg_thread *ts, cg_greenlet *origin, cg_greenlet *target,
                 char *approx_sp)
{
    const cg_greenlet *running =
        (origin->dstack == NULL && cg__state(origin) != GS_DEAD) ? origin : NULL;
    return save_chain(ts, target->stop, target, running, approx_sp);
}

char *
cg__copy_new_stop(cg_thread *ts, cg_greenlet *origin, char *sp)
{
    if (origin->dstack != NULL) {
        return align_down(ts->chain->ctx.sp);
    }
    if (cg__state(origin) == GS_DEAD) {
        return origin->stop;        /* its region is free again */
    }
    return align_down(sp);
}

/* Tells valgrind that [lo, hi) of the thread stack may be written: the
   target's slice and the restore call's frames below it.  Valgrind learns
   about stack memory only from stack-pointer moves, and this region can
   still be marked inaccessible from returns made there earlier.  Nothing
   running is in it: the origin's frames lie below `sp` when it runs on
   the thread stack, and the range is clamped to start above them. */
static void
valgrind_target_writable(cg_thread *ts, cg_greenlet *origin, char *sp, char *lo, char *hi)
{
    if (!ts->under_valgrind) {
        return;
    }
    if (origin->dstack == NULL && (uintptr_t)lo < (uintptr_t)sp) {
        lo = sp;
    }
    if ((uintptr_t)lo < (uintptr_t)hi) {
        cg__valgrind_stack_writable(lo, (size_t)(hi - lo));
    }
}

void *
cg__copy_save(void *sp, void *arg)
{
    cg_thread *ts = arg;
    cg_greenlet *origin = ts->origin;
    cg_greenlet *target = ts->target;
    char *new_sp;
    if (cg__state(origin) != GS_DEAD) {
        origin->ctx.sp = sp;
    }
    if (target->ctx.sp == NULL) {
        target->stop = cg__copy_new_stop(ts, origin, sp);
        new_sp = target->stop;
        valgrind_target_writable(ts, origin, sp, new_sp - CG_VALGRIND_MARGIN, new_sp);
    } else {
        if (save_chain(ts, target->stop, target, NULL, NULL) != CG_OK) {
            cg__switch_failed(ts);
            return NULL;
        }
        new_sp = target->ctx.sp;
        valgrind_target_writable(ts, origin, sp, new_sp - CG_VALGRIND_MARGIN,
                                 new_sp + target->saved);
    }
#ifdef CG_ASAN
    cg__asan_leave(ts, origin, target);
#endif
    return new_sp;
}

int
cg__copy_restore(void *arg)
{
    cg_thread *ts = arg;
    cg_greenlet *target = ts->target;
    int fresh = target->ctx.sp == NULL;
    if (target->saved) {
        cg_asan_unpoison(target->ctx.sp, target->saved);
        memcpy(target->ctx.sp, target->copy, target->saved);
        /* The buffer stays attached: the next save reuses it. */
        target->saved = 0;
    }
#ifdef CG_ASAN
    /* The shadow of the region belongs to whichever frames ran there last. */
    if (!fresh && ts->stack_hi != NULL) {
        char *hi = (uintptr_t)target->stop < (uintptr_t)ts->stack_hi ? target->stop
                                                                      : ts->stack_hi;
        cg_asan_unpoison(target->ctx.sp, (size_t)(hi - (char *)target->ctx.sp));
    }
#endif
    cg_greenlet *owner = ts->chain;
    while (owner != NULL && (uintptr_t)owner->stop <= (uintptr_t)target->stop) {
        owner = owner->stack_prev;  /* saved whole by save_chain */
    }
    target->stack_prev = owner;
    ts->chain = target;
    (void)cg__arrive(ts);
    return fresh;
}

void
cg__valgrind_stack_writable(void *lo, size_t len)
{
#ifdef CG_HAVE_VALGRIND
    (void)VALGRIND_MAKE_MEM_UNDEFINED(lo, len);
#else
    (void)lo;
    (void)len;
#endif
}

void *
cg__copy_access(cg_thread *ts, cg_greenlet *g, const void *addr, size_t len)
{
    uintptr_t lo = (uintptr_t)g->ctx.sp;
    uintptr_t hi = (uintptr_t)g->stop;
    uintptr_t a = (uintptr_t)addr;
    if (g->is_main && ts->stack_hi != NULL) {
        hi = (uintptr_t)ts->stack_hi;   /* main's stop is "infinitely" high */
    }
    if (a < lo || a + len < a || a + len > hi) {
        return NULL;
    }
    if (a >= lo + g->saved) {
        return (void *)a;   /* still in place on the thread stack */
    }
    if (a + len > lo + g->saved &&
        save_slice(ts, g, (char *)(a + len)) != CG_OK) {
        return NULL;
    }
    return g->copy + (a - lo);
}

void
cg__copy_unchain(cg_thread *ts, cg_greenlet *g)
{
    if (ts->chain == g) {
        ts->chain = g->stack_prev;
        return;
    }
    for (cg_greenlet *p = ts->chain; p != NULL; p = p->stack_prev) {
        if (p->stack_prev == g) {
            p->stack_prev = g->stack_prev;
            return;
        }
    }
}

void
cg__copy_free(cg_thread *ts, cg_greenlet *g)
{
    buf_put(ts, g->copy, g->copy_cap);
    g->copy = NULL;
    g->saved = 0;
    g->copy_cap = 0;
}

void
cg__bufcache_drain(cg_thread *ts)
{
    for (int i = 0; i < CG_BUFCACHE; i++) {
        cg__free(ts->bufcache[i].buf);
        ts->bufcache[i].buf = NULL;
    }
}
