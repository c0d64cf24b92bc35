/*
 * Invariant checks of debug builds (-DCG_DEBUG, make check-debug); in
 * other builds this file is empty and CG_DEBUG_CHECK in internal.h
 * compiles to nothing.
 *
 * Run at every switch -- in commit before the stack moves, on the
 * arriving side, and when a switch is undone -- they check what the rest
 * of the core takes for granted, and stop the process with a message
 * naming the broken rule (abort: this is a bug of the library, not a
 * user error):
 *   - the caller is the owner thread, and the switch is legal: origin is
 *     the current greenlet, target is another greenlet of the thread,
 *     not dead, and the origin runs (or has just finished);
 *   - the current greenlet is alive and every other one that is not
 *     dead or not started is suspended with a resumable context;
 *   - the chain of copy-stack slices: every member is a suspended (or
 *     the running) copy-stack greenlet of this thread, on it at most
 *     once, lowest first, each one's region below the bytes the next one
 *     still has in place, main last; a running copy-stack greenlet is
 *     its head; a suspended copy-stack greenlet off the chain has all
 *     its bytes on the heap;
 *   - per greenlet: its parent is of the same thread (main has none),
 *     not-started ones have no context or copy, dead ones hold no stack.
 * The chain and the greenlets of the switch are checked every time, the
 * thread's list in windows of DEBUG_WINDOW greenlets, each check taking up
 * where the last one stopped: all of it each time while it is short, all
 * of it over a few switches when long (test_million parks a million).
 */
#include "internal.h"

#ifdef CG_DEBUG

#include <stdio.h>
#include <stdlib.h>

#define DEBUG_WINDOW 32

static CG_NORETURN void
broken(const char *where, const char *what, const cg_greenlet *g)
{
    fprintf(stderr, "cgreenlet: invariant broken at %s: %s (greenlet %p)\n", where, what,
            (const void *)g);
    abort();
}

#define EXPECT(cond, what, g) ((cond) ? (void)0 : broken(where, (what), (g)))

/* The chain of slices, stamping each member with this check's epoch. */
static void
check_chain(cg_thread *ts, const char *where)
{
    unsigned long epoch = ++ts->debug_epoch;
    cg_greenlet *below = NULL;
    for (cg_greenlet *g = ts->chain; g != NULL; g = g->stack_prev) {
        EXPECT(g->debug_epoch != epoch, "a greenlet is on the chain of slices twice", g);
        g->debug_epoch = epoch;
        EXPECT(g->thread == ts, "a greenlet of another thread on the chain", g);
        EXPECT(g->dstack == NULL, "a dedicated-stack greenlet on the chain", g);
        EXPECT(cg__state(g) == GS_ACTIVE, "a dead or not-started greenlet on the chain", g);
        if (below != NULL) {
            EXPECT((uintptr_t)below->stop < (uintptr_t)g->stop,
                   "chain not ordered: a slice's stop is not below the next one's", below);
            /* What g still has in place begins at sp + saved; the region
               of the greenlet below it must end there or lower. */
            if (g != ts->current) {
                EXPECT((uintptr_t)below->stop <= (uintptr_t)g->ctx.sp + g->saved,
                       "a slice overlaps the in-place bytes of the next one up", below);
            }
        }
        if (g->stack_prev == NULL) {
            EXPECT(g == ts->main, "the chain of slices does not end with main", g);
        }
        below = g;
    }
    EXPECT(below != NULL, "the chain of slices is empty", NULL);
}

/* What must hold of greenlet `g` of thread `ts` (current: the thread's
   current greenlet; its saved context is stale). */
static void
check_greenlet(cg_thread *ts, const cg_greenlet *g, const char *where)
{
    int on_chain = g->debug_epoch == ts->debug_epoch;
    EXPECT(g->thread == ts, "a greenlet of another thread in the thread's list", g);
    EXPECT(g->is_main ? g->parent == NULL : g->parent != NULL,
           "main without a parent, others with one: broken", g);
    if (g->parent != NULL) {
        EXPECT(g->parent->thread == ts, "parent of another thread", g);
    }
    switch (cg__state(g)) {
    case GS_NEW:
        EXPECT(!on_chain && g->copy == NULL && g->saved == 0,
               "a not-started greenlet holds stack bytes", g);
        EXPECT(g->dstack != NULL || g->ctx.sp == NULL,
               "a not-started copy-stack greenlet has a context", g);
        break;
    case GS_DEAD:
        EXPECT(!on_chain && g->copy == NULL && g->saved == 0,
               "a dead greenlet holds stack bytes", g);
        EXPECT(g->dstack == NULL || g == ts->dying, "a dead greenlet holds its stack", g);
        break;
    case GS_ACTIVE:
        if (g == ts->current) {
            EXPECT(g->dstack != NULL || ts->chain == g,
                   "the running copy-stack greenlet is not the head of the chain", g);
            break;
        }
        EXPECT(g->ctx.sp != NULL, "a suspended greenlet has no saved context", g);
        if (g->dstack != NULL) {
            EXPECT((uintptr_t)g->ctx.sp >= (uintptr_t)g->dstack->lo &&
                       (uintptr_t)g->ctx.sp < (uintptr_t)g->dstack->hi,
                   "a suspended greenlet's stack pointer is outside its stack", g);
            EXPECT(!on_chain, "a dedicated-stack greenlet on the chain", g);
        } else if (!on_chain) {
            EXPECT(g->saved == (size_t)((uintptr_t)g->stop - (uintptr_t)g->ctx.sp),
                   "a suspended copy-stack greenlet off the chain is not saved whole", g);
        } else {
            EXPECT(g->saved <= (size_t)((uintptr_t)g->stop - (uintptr_t)g->ctx.sp),
                   "a slice saved beyond its region", g);
        }
        EXPECT(g->saved <= g->copy_cap, "saved bytes beyond the copy buffer", g);
        break;
    default:
        broken(where, "unknown state", g);
    }
}

void
cg__debug_check(cg_thread *ts, cg_greenlet *origin, cg_greenlet *target, const char *where)
{
    cg_greenlet *cur = ts->current;
    EXPECT(ts == cg__tls, "thread state used by another thread than its owner", NULL);
    EXPECT(!cg__exited(ts), "the thread has exited", NULL);
    EXPECT(cur != NULL && cur->thread == ts, "no current greenlet of this thread", cur);
    EXPECT(cg__state(cur) == GS_ACTIVE || (cg__state(cur) == GS_DEAD && cur == ts->dying),
           "the current greenlet is not running (and not finishing)", cur);
    EXPECT(ts->main->is_main && cg__state(ts->main) == GS_ACTIVE, "main is not alive",
           ts->main);
    if (origin != NULL) {
        EXPECT(origin == cur, "a switch from a greenlet that is not the current one", origin);
        EXPECT(target != NULL && target != origin && target->thread == ts,
               "a switch to the current greenlet, or to another thread's", target);
        EXPECT(cg__state(target) == GS_NEW || cg__state(target) == GS_ACTIVE,
               "a switch to a dead greenlet", target);
    }
    check_chain(ts, where);
    cg_greenlet *g = ts->debug_cursor != NULL ? ts->debug_cursor : ts->first;
    for (int n = 0; g != NULL && n < DEBUG_WINDOW; g = g->next, n++) {
        EXPECT(g->in_list && !g->destroyed, "a destroyed greenlet in the thread's list", g);
        EXPECT(g->prev == NULL ? ts->first == g : g->prev->next == g,
               "the thread's list of greenlets is broken", g);
        EXPECT(g->next == NULL ? ts->last == g : g->next->prev == g,
               "the thread's list of greenlets is broken", g);
        check_greenlet(ts, g, where);
    }
    ts->debug_cursor = g;
    check_greenlet(ts, cur, where);
    if (target != NULL) {
        check_greenlet(ts, target, where);
    }
}

#else
/* ISO C wants something in a translation unit. */
typedef int cg__debug_unused;
#endif
