/*
 * The switch protocol: who receives a message, how control moves, and how
 * a greenlet finishes.
 *
 * A switch from `origin` to `target` (same thread) is
 *   prepare -- every refusal (thread, dead target, stack room for a new
 *              copy-stack greenlet, memory for suspended slices in the way)
 *              before anything visible changes;
 *   commit  -- record origin, target and message in the thread state, run
 *              the LEAVE hook, and move the stack as the tail call: a plain
 *              register swap (dedicated stacks, or the lowest slice of the
 *              thread stack), or a copy switch that saves the origin's
 *              slice and restores the target's (src/stack/copy.c);
 *   arrive  -- on the target's stack, a balanced call before its code
 *              continues: release a finished greenlet's stack, run the
 *              ENTER hook, store the message where the target's pending
 *              switch call wants it.
 * The common case (no hook, target needs no copying) skips all of that for
 * a few checks and a bare jump (fast_path).  The only failure after
 * prepare is running out of memory for the origin's own slice copy; the
 * copy switch then undoes itself and the caller gets CG_ENOMEM.
 */
#include <stdint.h>

#include "internal.h"

/* Thread stack that must stay free below a new copy-stack greenlet's
   starting point, so that its first calls (and the library's own frames)
   cannot run off the end of the thread's stack. */
#define CG_COPY_HEADROOM ((uintptr_t)64 * 1024)

/* A failed copy switch returns 1 from the assembly. */
_Static_assert(CG_ENOMEM == 1, "cg_arch_copy_switch's failure value");

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

void
cg__asan_leave(cg_thread *ts, cg_greenlet *origin, cg_greenlet *target)
{
    const char *lo;
    size_t size;
    if (origin->dstack == NULL && cg__state(origin) == GS_DEAD && ts->stack_hi != NULL) {
        /* A finished greenlet's frames (finish's own among them) never
           return to clear their redzones: whoever runs there next, a new
           greenlet above all, would trip on them. */
        char *here = (char *)__builtin_frame_address(0);
        char *hi = (uintptr_t)origin->stop < (uintptr_t)ts->stack_hi ? origin->stop
                                                                      : ts->stack_hi;
        if (here < hi) {
            cg_asan_unpoison(here, (size_t)(hi - here));
        }
    }
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
#define asan_leave(ts, origin, target) cg__asan_leave((ts), (origin), (target))
#else
#define asan_leave(ts, origin, target) ((void)0)
#define asan_arrive(ts, self) ((void)0)
#endif

int
cg__arrive(void *arg)
{
    cg_thread *ts = arg;
    cg_greenlet *self = ts->current;
    asan_arrive(ts, self);
    if (ts->dying != NULL) {
        /* Control has left the finished greenlet: its stack is free. */
        cg__drop_stack(ts, ts->dying);
        CG_TSAN_DROP(ts->dying);
        ts->dying = NULL;
    }
    CG_DEBUG_CHECK(ts, NULL, NULL, "arrival");
    run_hook(CG_HOOK_ENTER, ts->origin, self);
    if (self->received != NULL) {
        *self->received = ts->msg;
    }
    return CG_OK;
}

void
cg__switch_failed(cg_thread *ts)
{
    cg_greenlet *origin = ts->origin;
    cg_greenlet *target = ts->target;
    ts->current = origin;
    if (target->ctx.sp == NULL) {
        cg__set_state(target, GS_NEW);  /* it was about to start */
    }
    if (origin->dstack == NULL) {
        /* The origin goes on running: bytes saved for it are stale. */
        origin->saved = 0;
    }
    CG_DEBUG_CHECK(ts, NULL, NULL, "undone switch");
    run_hook(CG_HOOK_ENTER, target, origin);
}

/* Everything that can refuse a switch from `origin` to `target`, checked
   before anything visible changes: CG_ESTACK_OVERFLOW, CG_ENOMEM.
   `approx_sp` is about the caller's stack depth.  With `reserve_origin`,
   room to save the origin's own slice is reserved too, so the switch
   cannot fail at all (for callers that change things before switching);
   otherwise it can still fail while saving that slice, and undoes itself. */
CG_INLINE cg_status
prepare(cg_thread *ts, cg_greenlet *origin, cg_greenlet *target, char *approx_sp,
        int reserve_origin)
{
    if (target->dstack != NULL) {
        return CG_OK;
    }
    if (cg__state(target) == GS_NEW) {
        char *stop = cg__copy_new_stop(ts, origin, approx_sp);
        if (ts->stack_lo != NULL &&
            (uintptr_t)stop < (uintptr_t)ts->stack_lo + CG_COPY_HEADROOM) {
            return CG_ESTACK_OVERFLOW;
        }
        return CG_OK;
    }
    if (target == ts->chain && target->saved == 0) {
        return CG_OK;   /* all its bytes are in place: nothing to save */
    }
    if (!reserve_origin && origin == ts->chain &&
        (origin->stack_prev == target || (uintptr_t)origin->stop >= (uintptr_t)target->stop)) {
        return CG_OK;   /* only the origin's own slice is in the way */
    }
    return cg__copy_prepare(ts, origin, target, reserve_origin ? approx_sp : NULL);
}

/* Moves control from `origin` (current) to `target` after prepare()
   succeeded.  Returns when something switches back: CG_OK, with the
   message stored in *received by the arriving side.
   Inlined into every caller, and the stack change is its tail call: the
   resumed side then returns straight into the user's code.  Each call
   level in between would cost a mispredicted return on every switch (the
   return predictor holds the other stack's addresses). */
CG_INLINE cg_status
commit(cg_thread *ts, cg_greenlet *origin, cg_greenlet *target, cg_msg msg,
       cg_msg *received)
{
    CG_DEBUG_CHECK(ts, origin, target, "switch");
    ts->origin = origin;
    ts->target = target;
    ts->msg = msg;
    origin->received = received;
    run_hook(CG_HOOK_LEAVE, origin, target);
    ts->current = target;
    if (cg__state(target) == GS_NEW) {
        cg__set_state(target, GS_ACTIVE);
    }
    CG_TSAN_SWITCH(target);
    if (target->dstack != NULL) {
        /* Nothing to copy: if origin runs on the thread stack, its slice
           stays where it is, its low end the stack pointer saved here. */
        asan_leave(ts, origin, target);
        return cg_arch_swap_ctx(&origin->ctx, &target->ctx, cg__arrive, ts);
    }
    if (target == ts->chain && target->saved == 0) {
        /* Back to the lowest slice on the thread stack, from a dedicated
           stack or a finished greenlet: its bytes are all in place.  Only
           a jump from another stack leaves valgrind unaware that the
           region below it is stack. */
        asan_leave(ts, origin, target);
        if (CG_UNLIKELY(ts->under_valgrind) && origin->dstack != NULL) {
            cg__valgrind_stack_writable((char *)target->ctx.sp - CG_VALGRIND_MARGIN,
                                        CG_VALGRIND_MARGIN);
        }
        return cg_arch_swap_ctx(&origin->ctx, &target->ctx, cg__arrive, ts);
    }
    /* The save callback tells ASan, once saving has succeeded. */
#ifdef CG_TSAN
    /* A failed save leaves the stack where it was: TSan goes back to the
       origin's fiber here, in the frame that left it.  Doing so in the
       callbacks (frames entered on the target's fiber) would unbalance
       both fibers' shadow call stacks. */
    cg_status st = cg_arch_copy_switch(&origin->ctx, &target->ctx, cg__copy_save,
                                       cg__copy_restore, ts, cg__entry);
    if (CG_UNLIKELY(st != CG_OK)) {
        CG_TSAN_SWITCH(origin);
    }
    return st;
#else
    return cg_arch_copy_switch(&origin->ctx, &target->ctx, cg__copy_save,
                               cg__copy_restore, ts, cg__entry);
#endif
}

/* Switches from the current greenlet to `target` (same thread, not
   current, not dead): prepare() then commit(). */
CG_INLINE cg_status
transfer(cg_thread *ts, cg_greenlet *target, cg_msg msg, cg_msg *received)
{
    cg_greenlet *origin = ts->current;
    cg_status st = prepare(ts, origin, target, (char *)__builtin_frame_address(0), 0);
    if (CG_UNLIKELY(st != CG_OK)) {
        return st;
    }
    return commit(ts, origin, target, msg, received);
}

/* The greenlet that actually receives a message of kind `kind` sent
   towards `p`: dead greenlets pass it to their parents, a not-started one
   sent an error dies unrun and passes it on, and a lost result passes
   not-started ones by.  If the chain loops through greenlets that all pass
   it on (a kill of an ancestor in progress, see cg__walk_up), the
   thread's main greenlet.  Changes nothing. */
static cg_greenlet *
receiver_of(cg_thread *ts, cg_greenlet *p, cg_kind kind)
{
    cg_walk w = cg__walk_start(p);
    do {
        unsigned s = cg__state(w.p);
        if (s == GS_ACTIVE || (s == GS_NEW && kind == CG_VALUE)) {
            return w.p;
        }
    } while (cg__walk_up(&w));
    return ts->main;
}

/* Kills, unrun, the not-started greenlets an error passes on its way from
   `p` up to `receiver`. */
static void
discard_unstarted_on_way(cg_thread *ts, cg_greenlet *p, cg_greenlet *receiver,
                         cg_kind kind)
{
    if (kind != CG_ERROR) {
        return;
    }
    cg_walk w = cg__walk_start(p);
    do {
        if (w.p == receiver) {
            return;
        }
        if (cg__state(w.p) == GS_NEW) {
            cg__discard(ts, w.p);
        }
    } while (cg__walk_up(&w));
}

/* A not-started target sent an error or exit message dies without
   running, as if its run had finished with the message -- once the
   delivery is sure to happen. */
static CG_NOINLINE cg_status
send_to_new(cg_thread *ts, cg_greenlet *target, cg_msg msg, cg_msg *received)
{
    if (msg.kind == CG_EXIT) {
        msg.kind = CG_VALUE;
    }
    cg_greenlet *origin = ts->current;
    cg_greenlet *to = receiver_of(ts, target->parent, msg.kind);
    if (to != origin) {
        cg_status st = prepare(ts, origin, to, (char *)__builtin_frame_address(0), 1);
        if (st != CG_OK) {
            return st;
        }
    }
    cg__discard(ts, target);
    discard_unstarted_on_way(ts, target->parent, to, msg.kind);
    if (to == origin) {
        if (received != NULL) {
            *received = msg;
        }
        return CG_OK;
    }
    return commit(ts, origin, to, msg, received);
}

CG_INLINE cg_status
send_impl(cg_thread *ts, cg_greenlet *target, cg_msg msg, cg_msg *received)
{
    if (CG_UNLIKELY(target->thread != ts)) {
        return cg__exited(target->thread) ? CG_ETHREAD_EXITED : CG_EWRONG_THREAD;
    }
    if (CG_UNLIKELY(target == ts->current)) {
        if (received != NULL) {
            *received = msg;
        }
        return CG_OK;
    }
    unsigned s = cg__state(target);
    if (CG_UNLIKELY(s == GS_DEAD)) {
        return CG_EDEAD;
    }
    if (CG_UNLIKELY(s == GS_NEW && msg.kind != CG_VALUE)) {
        return send_to_new(ts, target, msg, received);
    }
    return transfer(ts, target, msg, received);
}

cg_status
cg__send(cg_thread *ts, cg_greenlet *target, cg_msg msg, cg_msg *received)
{
    return send_impl(ts, target, msg, received);
}

/* The general path of the public entry points. */
static CG_NOINLINE cg_status
send_checked(cg_greenlet *target, cg_msg msg, cg_msg *received)
{
    if (CG_UNLIKELY(target == NULL ||
                    (msg.kind != CG_VALUE && msg.kind != CG_ERROR && msg.kind != CG_EXIT))) {
        return CG_EINVAL;
    }
    cg_thread *ts = cg__thread();
    if (CG_UNLIKELY(ts == NULL)) {
        return CG_ENOMEM;
    }
    return send_impl(ts, target, msg, received);
}

/* The common switch -- to a suspended greenlet of this thread whose
   resumption needs no copying (a dedicated stack, or the lowest slice on
   the thread stack), with no hook installed -- can go with no call before
   the stack change and nothing to keep in the caller's frame.  Returns the
   thread state when that applies, else NULL (the general way). */
CG_INLINE cg_thread *
fast_path(const cg_greenlet *target)
{
#if defined(CG_ASAN) || defined(CG_TSAN) || defined(CG_DEBUG)
    (void)target;
    return NULL;    /* the sanitizers must be told of every stack change,
                       and debug builds check every switch */
#else
    cg_thread *ts = cg__tls;
    if (ts == NULL || target == NULL || target->thread != ts || switch_hook != NULL ||
        cg__state(target) != GS_ACTIVE || target == ts->current ||
        (target->dstack == NULL &&
         (target != ts->chain || target->saved != 0 || ts->under_valgrind))) {
        return NULL;
    }
    return ts;
#endif
}

/* On this path the arriving side has nothing to do -- no hook, no
   finished greenlet to clean up after, no ASan -- except taking the
   message, and the target's stack is in place: so the message is stored
   for it now and the switch is a bare jump. */
CG_INLINE cg_status
fast_send(cg_thread *ts, cg_greenlet *target, cg_msg msg, cg_msg *received)
{
    cg_greenlet *origin = ts->current;
    if (target->received != NULL) {
        *target->received = msg;
    }
    origin->received = received;
    ts->current = target;
    return cg_arch_jump_ctx(&origin->ctx, &target->ctx);
}

cg_status
cg_send(cg_greenlet *target, cg_msg msg, cg_msg *received)
{
    return send_checked(target, msg, received);
}

cg_status
cg_switch(cg_greenlet *target, void *value, cg_msg *received)
{
    cg_msg msg = {CG_VALUE, value};
    cg_thread *ts = fast_path(target);
    if (ts != NULL) {
        return fast_send(ts, target, msg, received);
    }
    return send_checked(target, msg, received);
}

cg_status
cg_throw(cg_greenlet *target, void *error, cg_msg *received)
{
    cg_msg msg = {CG_ERROR, error};
    cg_thread *ts = fast_path(target);
    if (ts != NULL) {
        return fast_send(ts, target, msg, received);
    }
    return send_checked(target, msg, received);
}

/* What a run function's result is delivered as: an exit request or a
   lost result passed on are ordinary results. */
static cg_kind
result_kind(cg_kind kind)
{
    switch (kind) {
    case CG_EXIT:
    case CG_LOST_VALUE:
        return CG_VALUE;
    case CG_LOST_ERROR:
        return CG_ERROR;
    default:
        return kind;
    }
}

/* Switches from finished `self` to `to` for good; returns only if that
   was refused (CG_ESTACK_OVERFLOW, CG_ENOMEM). */
static cg_status
deliver(cg_thread *ts, cg_greenlet *self, cg_greenlet *to, cg_msg result, char *sp)
{
    cg_status st = prepare(ts, self, to, sp, 0);
    if (st == CG_OK) {
        /* Returns only if saving ran out of memory after all (it cannot
           once prepare has saved every slice in the way). */
        (void)commit(ts, self, to, result, NULL);
        st = CG_ENOMEM;
    }
    return st;
}

/* Delivers a finished greenlet's result up its parent chain and leaves
   for good (the contract is at cg_run_fn in cgreenlet.h).  Delivery to the
   receiver R can fail two ways, and there is no caller to report to:
     CG_ESTACK_OVERFLOW -- R is a not-started copy-stack greenlet with no
       room to start: R is discarded;
     CG_ENOMEM -- saving the slices of suspended greenlets in R's region
       failed: R stays suspended.
   Either way the result becomes lost (CG_LOST_*) and is offered to each
   started greenlet up R's parent chain in turn (a lost result starts no
   one, so no second overflow), then to main, and at last to the lowest
   slice on the thread stack.  That one needs no allocation at all:
   nothing of anyone else lies in its region -- the finished greenlet's
   own bytes are garbage and are never saved -- and its own copied part is
   written back from the copy it already has.  The walk is finite (it
   stops where the chain loops), nothing is retried and nothing waits. */
static CG_NORETURN void
finish(cg_thread *ts, cg_greenlet *self, cg_msg result)
{
    char *sp = (char *)__builtin_frame_address(0);
    result.kind = result_kind(result.kind);
    cg__set_state(self, GS_DEAD);
    if (self->dstack == NULL) {
        ts->chain = self->stack_prev;   /* its bytes are garbage now */
    }
    cg__copy_free(ts, self);
    ts->dying = self;
    cg_greenlet *to = receiver_of(ts, self->parent, result.kind);
    discard_unstarted_on_way(ts, self->parent, to, result.kind);
    if (deliver(ts, self, to, result, sp) == CG_ESTACK_OVERFLOW) {
        cg__discard(ts, to);            /* can never start from here */
    }
    result.kind = result.kind == CG_ERROR ? CG_LOST_ERROR : CG_LOST_VALUE;
    cg_walk w = cg__walk_start(to);
    while (cg__walk_up(&w)) {
        if (cg__state(w.p) == GS_ACTIVE) {
            (void)deliver(ts, self, w.p, result, sp);
        }
    }
    if (to != ts->main && w.p != ts->main) {
        (void)deliver(ts, self, ts->main, result, sp);  /* the chain looped */
    }
    for (;;) {
        (void)deliver(ts, self, ts->chain, result, sp); /* cannot fail */
    }
}

void
cg__entry(void)
{
    cg_thread *ts = cg__thread_peek();  /* the switch has arrived already */
    cg_greenlet *self = ts->current;
    cg_msg result = self->run(self, ts->msg);
    /* The run function may have switched threads' worth of times; the
       thread state is still this thread's. */
    finish(self->thread, self, result);
}
