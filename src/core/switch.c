/*
 * The switch protocol: who receives a message, how control moves, and how
 * a greenlet finishes.
 *
 * A switch from `origin` to `target` (same thread):
 *   1. checks that cannot fail later (thread, state, stack room);
 *   2. records the transfer in the thread state (origin, target, message)
 *      and calls the LEAVE hook on origin's stack;
 *   3. moves the stack: a plain register swap between dedicated stacks, or
 *      a copy switch that saves the slices the target will overwrite and
 *      restores the target's own (src/stack/copy.c);
 *   4. on the target's side, arrive() finishes the bookkeeping and calls
 *      the ENTER hook; the target's pending switch returns the message, or
 *      a new greenlet calls its run function with it.
 * Only step 3 of a copy switch can fail (out of memory while saving); then
 * nothing has moved and the caller gets CG_ENOMEM.
 */
#include <sched.h>
#include <stdint.h>

#include "internal.h"

/* Thread stack that must stay free below a new copy-stack greenlet's
   starting point, so that its first calls (and the library's own frames)
   cannot run off the end of the thread's stack. */
#define CG_COPY_HEADROOM ((uintptr_t)64 * 1024)

static cg_switch_hook switch_hook;
static void *switch_hook_arg;

void
cg_set_switch_hook(cg_switch_hook hook, void *arg)
{
    switch_hook = hook;
    switch_hook_arg = arg;
}

static inline void
run_hook(cg_hook_event ev, cg_greenlet *from, cg_greenlet *to)
{
    if (switch_hook != NULL) {
        switch_hook(ev, from, to, switch_hook_arg);
    }
}

#ifdef CG_ASAN
/* Frames of a copy-stack greenlet that switches away stay poisoned in
   ASan's shadow (their redzones) after their bytes are saved or the
   greenlet dies, and new frames built over them would trip on that: ASan
   assumes a frame's shadow is clean until its prologue poisons redzones.
   So the lowest such point is remembered, and the arriving copy-stack
   greenlet unpoisons the dead stack below its own frame.  The margin
   covers the switch's own frames below this one. */
#define ASAN_FRAME_MARGIN 4096

static void
asan_leave(cg_thread *ts, cg_greenlet *origin, cg_greenlet *target)
{
    const char *lo;
    size_t size;
    if (origin->dstack == NULL && ts->stack_lo != NULL) {
        uintptr_t here = (uintptr_t)__builtin_frame_address(0) - ASAN_FRAME_MARGIN;
        if (here < (uintptr_t)ts->stack_lo) {
            here = (uintptr_t)ts->stack_lo;
        }
        if (here < (uintptr_t)ts->asan_dirty_lo) {
            ts->asan_dirty_lo = (char *)here;
        }
    }
    if (origin->dstack == NULL && target->dstack == NULL) {
        return;
    }
    if (target->dstack != NULL) {
        lo = target->dstack->lo;
        size = (size_t)(target->dstack->hi - target->dstack->lo);
    } else {
        lo = ts->stack_lo;
        size = (size_t)(ts->stack_hi - ts->stack_lo);
    }
    ts->asan_switching = 1;
    __sanitizer_start_switch_fiber(
        cg__state(origin) == GS_DEAD ? NULL : &origin->asan_fake_stack, lo, size);
}

static void
asan_arrive(cg_thread *ts, cg_greenlet *self)
{
    if (ts->asan_switching) {
        ts->asan_switching = 0;
        __sanitizer_finish_switch_fiber(self->asan_fake_stack, NULL, NULL);
    }
    if (self->dstack == NULL && ts->asan_dirty_lo != NULL) {
        uintptr_t here = (uintptr_t)__builtin_frame_address(0);
        if ((uintptr_t)ts->asan_dirty_lo < here) {
            __asan_unpoison_memory_region(ts->asan_dirty_lo,
                                          here - (uintptr_t)ts->asan_dirty_lo);
            ts->asan_dirty_lo = (char *)here;
        }
    }
}
#else
#define asan_leave(ts, origin, target) ((void)0)
#define asan_arrive(ts, self) ((void)0)
#endif

/* Completes a switch on the arriving side. */
static inline void
arrive(cg_thread *ts)
{
    asan_arrive(ts, ts->current);
    if (ts->dying != NULL) {
        /* Control has left the finished greenlet: its stack is free. */
        cg_greenlet *d = ts->dying;
        ts->dying = NULL;
        if (d->dstack != NULL) {
            cg__dstack_put(ts, d->dstack);
            d->dstack = NULL;
        }
    }
    run_hook(CG_HOOK_ENTER, ts->origin, ts->current);
}

/* Moves control from the current greenlet to `target` (same thread, not
   current, not dead).  Returns when something switches back: CG_OK with
   the message in *received.  Fails without switching: CG_ESTACK_OVERFLOW,
   CG_ENOMEM. */
static cg_status
transfer(cg_thread *ts, cg_greenlet *target, cg_msg msg, cg_msg *received)
{
    cg_greenlet *origin = ts->current;
    int fresh = cg__state(target) == GS_NEW;
    int failed = 0;

    if (fresh && target->dstack == NULL && ts->stack_lo != NULL) {
        char here;  /* approximately the current stack pointer */
        char *stop = cg__copy_new_stop(ts, origin, &here);
        if ((uintptr_t)stop < (uintptr_t)ts->stack_lo + CG_COPY_HEADROOM) {
            return CG_ESTACK_OVERFLOW;
        }
    }
    ts->origin = origin;
    ts->target = target;
    ts->msg = msg;
    run_hook(CG_HOOK_LEAVE, origin, target);
    ts->current = target;
    if (fresh) {
        cg__set_state(target, GS_ACTIVE);
    }
    asan_leave(ts, origin, target);
    if (target->dstack != NULL) {
        /* Nothing to copy: if origin runs on the thread stack, its slice
           stays where it is, its low end the stack pointer saved here. */
        cg_arch_swap_ctx(&origin->ctx, &target->ctx);
    } else {
        failed = cg_arch_copy_switch(&origin->ctx, &target->ctx, cg__copy_save,
                                     cg__copy_restore, ts, cg__entry);
    }
    if (CG_UNLIKELY(failed)) {
        ts->current = origin;
        if (fresh) {
            cg__set_state(target, GS_NEW);
        }
        asan_arrive(ts, origin);
        run_hook(CG_HOOK_ENTER, target, origin);
        return CG_ENOMEM;
    }
    arrive(ts);
    if (received != NULL) {
        *received = ts->msg;
    }
    return CG_OK;
}

/* The greenlet that actually receives a message sent towards `p`: dead
   greenlets pass it to their parents, and a not-started one sent an error
   dies at once and passes it on. */
static cg_greenlet *
receiver_of(cg_thread *ts, cg_greenlet *p, const cg_msg *msg)
{
    for (;;) {
        unsigned s = cg__state(p);
        if (s == GS_DEAD) {
            p = p->parent;
        } else if (s == GS_NEW && msg->kind != CG_VALUE) {
            cg__discard(ts, p);
            p = p->parent;
        } else {
            return p;
        }
    }
}

cg_status
cg__send(cg_thread *ts, cg_greenlet *target, cg_msg msg, cg_msg *received)
{
    if (target->thread != ts) {
        return cg__exited(target->thread) ? CG_ETHREAD_EXITED : CG_EWRONG_THREAD;
    }
    if (target == ts->current) {
        if (received != NULL) {
            *received = msg;
        }
        return CG_OK;
    }
    unsigned s = cg__state(target);
    if (s == GS_DEAD) {
        return CG_EDEAD;
    }
    if (s == GS_NEW && msg.kind != CG_VALUE) {
        /* Dies without running, as if its run had finished with msg. */
        if (msg.kind == CG_EXIT) {
            msg.kind = CG_VALUE;
        }
        cg__discard(ts, target);
        cg_greenlet *to = receiver_of(ts, target->parent, &msg);
        if (to == ts->current) {
            if (received != NULL) {
                *received = msg;
            }
            return CG_OK;
        }
        return transfer(ts, to, msg, received);
    }
    return transfer(ts, target, msg, received);
}

cg_status
cg_send(cg_greenlet *target, cg_msg msg, cg_msg *received)
{
    if (target == NULL ||
        (msg.kind != CG_VALUE && msg.kind != CG_ERROR && msg.kind != CG_EXIT)) {
        return CG_EINVAL;
    }
    cg_thread *ts = cg__thread();
    if (ts == NULL) {
        return CG_ENOMEM;
    }
    return cg__send(ts, target, msg, received);
}

cg_status
cg_switch(cg_greenlet *target, void *value, cg_msg *received)
{
    return cg_send(target, (cg_msg){CG_VALUE, value}, received);
}

cg_status
cg_throw(cg_greenlet *target, void *error, cg_msg *received)
{
    return cg_send(target, (cg_msg){CG_ERROR, error}, received);
}

/* Delivers a finished greenlet's result up its parent chain and leaves
   for good.  Delivery cannot be refused: the receiver is alive, of this
   thread, and a main greenlet at worst.  What can fail is memory for
   saving slices: then it waits and tries again (it cannot go back).  A
   new receiver that cannot be started for lack of thread stack is
   discarded and the result goes on to its parent. */
static CG_NORETURN void
finish(cg_thread *ts, cg_greenlet *self, cg_msg result)
{
    if (result.kind == CG_EXIT) {
        result.kind = CG_VALUE;
    }
    cg__set_state(self, GS_DEAD);
    if (self->dstack == NULL) {
        ts->chain = self->stack_prev;   /* its bytes are garbage now */
    }
    ts->dying = self;
    for (;;) {
        cg_greenlet *to = receiver_of(ts, self->parent, &result);
        cg_status st = CG_OK;
        if (to->dstack == NULL && cg__state(to) == GS_ACTIVE) {
            st = cg__copy_presave(ts, to);
        }
        if (st == CG_OK) {
            st = transfer(ts, to, result, NULL);
        }
        if (st == CG_ESTACK_OVERFLOW) {
            cg__discard(ts, to);
        } else {
            (void)sched_yield();
        }
    }
}

void
cg__entry(void)
{
    cg_thread *ts = cg__thread_peek();
    arrive(ts);
    cg_greenlet *self = ts->current;
    cg_msg result = self->run(self, ts->msg);
    /* The run function may have switched threads' worth of times; the
       thread state is still this thread's. */
    finish(self->thread, self, result);
}
