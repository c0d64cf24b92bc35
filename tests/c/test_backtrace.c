/* Backtraces taken inside a greenlet (the CFI of src/arch/switch_*.S):
   the unwinder walks from the code that asks up to the greenlet's run
   function, then stops cleanly at the bottom of the greenlet's stack (the
   trampoline of a dedicated stack, the copy switch's entry call, or
   makecontext's start for ucontext) -- it neither gives up before the run
   function nor wanders on into the frames of the greenlet that started or
   resumed it (main, another greenlet's run function), which a copy-stack
   greenlet has right above its own part of the stack.  Checked with
   libgcc's _Unwind_Backtrace (how it ends, each frame's function) and
   glibc's backtrace(), on a fresh greenlet, after a switch away and back
   (the copy stack's slice restored), and for a greenlet started by
   another greenlet. */
#include <execinfo.h>
#include <string.h>
#include <unwind.h>

#include "check.h"

#define MAX_FRAMES 64

/* Frames a walk may show below the run function: cg's entry, the start
   code of the backend (the trampoline or the copy switch; ucontext:
   fresh_start and libc's context start) and one to spare for a libc
   that reports its start code as two frames. */
#define MAX_BELOW_RUN 4

struct walk {
    void *fn[MAX_FRAMES];   /* start of each frame's function (NULL: unknown) */
    int n;
    _Unwind_Reason_Code end;
};

static _Unwind_Reason_Code
collect(struct _Unwind_Context *ctx, void *arg)
{
    struct walk *w = arg;
    uintptr_t ip = _Unwind_GetIP(ctx);
    if (ip == 0) {
        return _URC_NO_REASON;  /* the end marker after the last frame */
    }
    if (w->n == MAX_FRAMES) {
        return _URC_NORMAL_STOP;   /* ran away: the walk ends in an error */
    }
    w->fn[w->n++] = _Unwind_FindEnclosingFunction((void *)ip);
    return _URC_NO_REASON;
}

/* Position of fn's frame in the walk, -1 if absent. */
static int
find(const struct walk *w, void *fn)
{
    for (int i = 0; i < w->n; i++) {
        if (w->fn[i] == fn) {
            return i;
        }
    }
    return -1;
}

int main(void);

/* What a walk from `leaf` (a function of the greenlet running `run`) must
   show; `creator` is the run function of the greenlet that started it
   (NULL: main). */
static void
check_walk(const struct walk *w, void *leaf, void *run, void *creator)
{
    CHECK(w->end == _URC_END_OF_STACK);
    int at_leaf = find(w, leaf);
    int at_run = find(w, run);
    CHECK(at_leaf >= 0);
    CHECK(at_run > at_leaf);
    if (at_run >= 0) {
        CHECK(w->n - 1 - at_run <= MAX_BELOW_RUN);
    }
    CHECK(find(w, (void *)(uintptr_t)main) < 0);
    if (creator != NULL) {
        CHECK(find(w, creator) < 0);
    }
}

/* Walks the stack from here with both unwinders and checks both walks. */
static CG_TEST_NOINLINE void
take_backtrace(void *run, void *creator)
{
    struct walk w;
    memset(&w, 0, sizeof w);
    w.end = _Unwind_Backtrace(collect, &w);
    check_walk(&w, (void *)(uintptr_t)take_backtrace, run, creator);

    void *ips[MAX_FRAMES];
    int n = backtrace(ips, MAX_FRAMES);
    struct walk g;
    memset(&g, 0, sizeof g);
    g.end = n < MAX_FRAMES ? _URC_END_OF_STACK : _URC_NORMAL_STOP;
    for (int i = 0; i < n; i++) {
        g.fn[g.n++] = _Unwind_FindEnclosingFunction(ips[i]);
    }
    check_walk(&g, (void *)(uintptr_t)take_backtrace, run, creator);
}

/* A few real frames between the run function and the walk. */
static CG_TEST_NOINLINE void
nested(int depth, void *run, void *creator)
{
    if (depth > 0) {
        nested(depth - 1, run, creator);
    } else {
        take_backtrace(run, creator);
    }
    __asm__ volatile("" ::: "memory");  /* not a tail call */
}

/* Walks, switches to its parent, walks again once resumed. */
static cg_msg
inner_run(cg_greenlet *self, cg_msg first)
{
    void *creator = first.value;
    nested(3, (void *)(uintptr_t)inner_run, creator);
    CHECK_OK(cg_switch(cg_parent(self), NULL, NULL));
    nested(2, (void *)(uintptr_t)inner_run, creator);
    return (cg_msg){CG_VALUE, NULL};
}

static cg_stack_mode inner_mode;

/* Starts an inner greenlet from a greenlet, then walks itself. */
static cg_msg
outer_run(cg_greenlet *self, cg_msg first)
{
    (void)self;
    (void)first;
    cg_options o = opts_for(inner_mode);
    cg_greenlet *g;
    CHECK_OK(cg_create(&g, inner_run, NULL, &o));
    CHECK_OK(cg_switch(g, (void *)(uintptr_t)outer_run, NULL));
    nested(1, (void *)(uintptr_t)outer_run, NULL);
    CHECK_OK(cg_switch(g, NULL, NULL));
    CHECK(cg_get_state(g) == CG_DEAD);
    CHECK_OK(cg_destroy(g));
    return (cg_msg){CG_VALUE, NULL};
}

static void
case_from_main(cg_stack_mode mode)
{
    cg_options o = opts_for(mode);
    cg_greenlet *g;
    CHECK_OK(cg_create(&g, inner_run, NULL, &o));
    CHECK_OK(cg_switch(g, NULL, NULL));     /* first walk, then back */
    CHECK_OK(cg_switch(g, NULL, NULL));     /* resumed: the second walk */
    CHECK(cg_get_state(g) == CG_DEAD);
    CHECK_OK(cg_destroy(g));
}

static void
case_from_greenlet(cg_stack_mode mode)
{
    cg_options o = opts_for(mode);
    cg_greenlet *g;
    inner_mode = mode;
    CHECK_OK(cg_create(&g, outer_run, NULL, &o));
    CHECK_OK(cg_switch(g, NULL, NULL));
    CHECK(cg_get_state(g) == CG_DEAD);
    CHECK_OK(cg_destroy(g));
}

int
main(void)
{
    run_case_modes("backtrace in a greenlet reaches its run function and "
                   "stops at the stack's bottom, before and after a switch",
                   case_from_main);
    run_case_modes("backtrace in a greenlet started by a greenlet stops "
                   "before its creator's frames",
                   case_from_greenlet);
    return check_done();
}
