/* cg_discard: a greenlet made dead without running any more of its code,
   its stack released -- including a copy-stack greenlet whose bytes are
   still on the thread stack between other slices. */
#include "check.h"

static int cleanup_ran;
static int body_ran;

/* Parks in main; if ever resumed, records that its cleanup ran. */
static cg_msg
parked_run(cg_greenlet *self, cg_msg first)
{
    (void)self;
    (void)first;
    body_ran = 1;
    cg_msg m;
    cg_switch(cg_main(), NULL, &m);
    cleanup_ran = 1;
    return (cg_msg){CG_VALUE, NULL};
}

static void
case_discard_suspended(cg_stack_mode mode)
{
    cg_options o = opts_for(mode);
    cg_greenlet *g;
    cleanup_ran = 0;
    CHECK_OK(cg_create(&g, parked_run, NULL, &o));
    CHECK_OK(cg_switch(g, NULL, NULL));
    CHECK(cg_get_state(g) == CG_SUSPENDED && cg_stack_saved(g) > 0);
    CHECK_OK(cg_discard(g));
    CHECK(cg_get_state(g) == CG_DEAD && cg_stack_saved(g) == 0);
    CHECK_ST(cg_switch(g, NULL, NULL), CG_EDEAD);
    CHECK_OK(cg_discard(g));    /* already dead: nothing to do */
    CHECK_OK(cg_destroy(g));
    CHECK(cleanup_ran == 0);
}

static void
case_discard_not_started(cg_stack_mode mode)
{
    cg_options o = opts_for(mode);
    cg_greenlet *g;
    body_ran = 0;
    CHECK_OK(cg_create(&g, parked_run, NULL, &o));
    CHECK_OK(cg_discard(g));
    CHECK(cg_get_state(g) == CG_DEAD);
    CHECK_ST(cg_switch(g, NULL, NULL), CG_EDEAD);
    CHECK_OK(cg_destroy(g));
    CHECK(body_ran == 0);
}

/* A copy-stack greenlet started by a dedicated one parks by switching back
   to it, so its bytes stay on the thread stack, the lowest slice there;
   the dedicated one discards it and goes back to main, which must find its
   own frames intact. */
static cg_greenlet *copy_child;

/* Records where its frame is, then parks in its parent. */
static uintptr_t probe_at;

static cg_msg
probe_run(cg_greenlet *self, cg_msg first)
{
    (void)first;
    volatile uintptr_t sig[32];
    fill_signature(sig, 32, 7);
    probe_at = (uintptr_t)sig;
    cg_switch(cg_parent(self), NULL, NULL);
    cleanup_ran = 1;
    return (cg_msg){CG_VALUE, NULL};
}

static cg_msg
dedicated_run(cg_greenlet *self, cg_msg first)
{
    (void)first;
    cg_options copy = {CG_STACK_COPY, 0, 0};
    CHECK_OK(cg_create(&copy_child, probe_run, self, &copy));
    CHECK_OK(cg_switch(copy_child, NULL, NULL));
    uintptr_t child_at = probe_at;
    CHECK(cg_get_state(copy_child) == CG_SUSPENDED);
    CHECK_OK(cg_discard(copy_child));
    CHECK(cg_get_state(copy_child) == CG_DEAD);
    /* The discarded slice is gone from the thread stack: a new copy-stack
       greenlet starts where it started, not below it. */
    cg_greenlet *again;
    CHECK_OK(cg_create(&again, probe_run, self, &copy));
    CHECK_OK(cg_switch(again, NULL, NULL));
    CHECK(probe_at == child_at);
    CHECK_OK(cg_destroy(again));
    CHECK(cleanup_ran == 1);    /* again's cleanup, run by its destroy */
    cleanup_ran = 0;
    return (cg_msg){CG_VALUE, V(5)};
}

static void
case_discard_slice_on_thread_stack(void)
{
    cg_options ded = {CG_STACK_DEDICATED, 0, 0};
    volatile uintptr_t mine[64];
    cg_greenlet *d;
    cg_msg m;
    cleanup_ran = 0;
    fill_signature(mine, 64, 3);
    CHECK_OK(cg_create(&d, dedicated_run, NULL, &ded));
    CHECK_OK(cg_switch(d, NULL, &m));
    CHECK(I(m.value) == 5);
    CHECK(signature_intact(mine, 64, 3));
    CHECK(cleanup_ran == 0);
    CHECK_OK(cg_destroy(copy_child));
    CHECK_OK(cg_destroy(d));
}

static cg_msg
discard_self_run(cg_greenlet *self, cg_msg first)
{
    (void)first;
    CHECK_ST(cg_discard(self), CG_EBUSY);
    CHECK_ST(cg_discard(cg_main()), CG_EINVAL);
    CHECK_ST(cg_discard(NULL), CG_EINVAL);
    return (cg_msg){CG_VALUE, NULL};
}

static void
case_refused(void)
{
    cg_greenlet *g;
    CHECK_OK(cg_create(&g, discard_self_run, NULL, NULL));
    CHECK_OK(cg_switch(g, NULL, NULL));
    CHECK_OK(cg_destroy(g));
}

int
main(void)
{
    run_case_modes("discarding a suspended greenlet runs none of its code",
                   case_discard_suspended);
    run_case_modes("discarding a not-started greenlet", case_discard_not_started);
    run_case("discarding the lowest slice on the thread stack",
             case_discard_slice_on_thread_stack);
    run_case("the running greenlet and main cannot be discarded", case_refused);
    return check_done();
}
