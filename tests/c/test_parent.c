/* The parent tree: reading and changing parents, cycles refused, a change
   takes effect at the next finish. */
#include <stdint.h>

#include "check.h"

static void
case_default_and_explicit_parent(void)
{
    cg_greenlet *a, *b;
    CHECK(cg_parent(cg_main()) == NULL);
    CHECK_OK(cg_create(&a, echo_first, NULL, NULL));
    CHECK(cg_parent(a) == cg_current());
    CHECK_OK(cg_create(&b, echo_first, a, NULL));
    CHECK(cg_parent(b) == a);
    CHECK_OK(cg_destroy(b));
    CHECK_OK(cg_destroy(a));
}

static void
case_cycles_refused(void)
{
    cg_greenlet *a, *b, *c;
    CHECK_OK(cg_create(&a, echo_first, NULL, NULL));
    CHECK_OK(cg_create(&b, echo_first, a, NULL));
    CHECK_OK(cg_create(&c, echo_first, b, NULL));
    CHECK_ST(cg_set_parent(a, a), CG_ECYCLE);
    CHECK_ST(cg_set_parent(a, c), CG_ECYCLE);
    CHECK_ST(cg_set_parent(b, c), CG_ECYCLE);
    /* Nothing changed. */
    CHECK(cg_parent(a) == cg_main() && cg_parent(b) == a && cg_parent(c) == b);
    /* Re-rooting is fine, and so is the parent it has already. */
    CHECK_OK(cg_set_parent(c, a));
    CHECK(cg_parent(c) == a);
    CHECK_OK(cg_set_parent(c, a));
    CHECK_OK(cg_set_parent(b, a));
    CHECK(cg_parent(c) == a && cg_parent(b) == a);
    CHECK_ST(cg_set_parent(cg_main(), a), CG_EINVAL);
    CHECK_ST(cg_set_parent(NULL, a), CG_EINVAL);
    CHECK_ST(cg_set_parent(a, NULL), CG_EINVAL);
    CHECK_OK(cg_destroy(c));
    CHECK_OK(cg_destroy(b));
    CHECK_OK(cg_destroy(a));
}

/* Changing the running greenlet's parent changes where it finishes. */
static cg_greenlet *receiver;

static cg_msg
reparent_self(cg_greenlet *self, cg_msg first)
{
    CHECK_OK(cg_set_parent(self, receiver));
    return (cg_msg){CG_VALUE, V(I(first.value) + 1)};
}

static cg_msg
receiver_run(cg_greenlet *self, cg_msg first)
{
    (void)self;
    /* Started by the finishing greenlet's result. */
    return (cg_msg){CG_VALUE, V(I(first.value) * 2)};
}

static void
case_reparent_running(cg_stack_mode mode)
{
    cg_options o = opts_for(mode);
    cg_greenlet *g;
    cg_msg m;
    CHECK_OK(cg_create(&receiver, receiver_run, NULL, &o));
    CHECK_OK(cg_create(&g, reparent_self, NULL, &o));
    CHECK_OK(cg_switch(g, V(20), &m));
    CHECK(I(m.value) == 42);
    CHECK(cg_get_state(receiver) == CG_DEAD);
    CHECK_OK(cg_destroy(g));
    CHECK_OK(cg_destroy(receiver));
}

/* A destroyed greenlet stays in memory while it is some child's parent, so
   the child's result can still travel past it. */
static void
case_destroyed_parent_kept(cg_stack_mode mode)
{
    cg_options o = opts_for(mode);
    cg_greenlet *a, *b;
    cg_msg m;
    CHECK_OK(cg_create(&a, echo_first, NULL, &o));
    CHECK_OK(cg_create(&b, echo_first, a, &o));
    CHECK_OK(cg_destroy(a));
    CHECK(cg_parent(b) == a);
    CHECK_OK(cg_switch(b, V(3), &m));
    CHECK(I(m.value) == 3);
    CHECK_OK(cg_destroy(b));
}

int
main(void)
{
    run_case("default and explicit parents", case_default_and_explicit_parent);
    run_case("cycles and main re-parenting refused", case_cycles_refused);
    run_case_modes("re-parenting the running greenlet", case_reparent_running);
    run_case_modes("a destroyed parent stays for its children",
                   case_destroyed_parent_kept);
    return check_done();
}
