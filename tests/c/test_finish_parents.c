/* Finishing: the result goes to the parent, or, if the parent is dead, to
   the nearest live ancestor; a not-started ancestor is started with a
   value, or dies unrun and passes an error on. */
#include <stdint.h>

#include "check.h"

/* Parks in main once, then finishes with its first value + 100. */
static cg_msg
park_then_return(cg_greenlet *self, cg_msg first)
{
    (void)self;
    CHECK_OK(cg_switch(cg_main(), NULL, NULL));
    return (cg_msg){first.kind, V(I(first.value) + 100)};
}

static void
case_dead_parent(cg_stack_mode mode)
{
    cg_options o = opts_for(mode);
    cg_greenlet *a, *b, *c;
    cg_msg m;
    /* a (dead) <- b (dead) <- c: c's result must reach main. */
    CHECK_OK(cg_create(&a, echo_first, NULL, &o));
    CHECK_OK(cg_create(&b, echo_first, a, &o));
    CHECK_OK(cg_create(&c, park_then_return, b, &o));
    CHECK_OK(cg_switch(a, V(1), &m));
    CHECK(I(m.value) == 1 && cg_get_state(a) == CG_DEAD);
    /* b's parent a is dead: b's result comes to main. */
    CHECK_OK(cg_switch(b, V(2), &m));
    CHECK(I(m.value) == 2 && cg_get_state(b) == CG_DEAD);
    /* Switching to a dead greenlet is refused; c parks in main. */
    CHECK_ST(cg_switch(b, V(3), &m), CG_EDEAD);
    CHECK_OK(cg_switch(c, V(3), &m));
    CHECK(cg_get_state(c) == CG_SUSPENDED);
    CHECK_OK(cg_switch(c, NULL, &m));
    CHECK(m.kind == CG_VALUE && I(m.value) == 103);
    CHECK_OK(cg_destroy(c));
    CHECK_OK(cg_destroy(b));
    CHECK_OK(cg_destroy(a));
}

static void
case_not_started_ancestor_started(cg_stack_mode mode)
{
    cg_options o = opts_for(mode);
    cg_greenlet *p, *c;
    cg_msg m;
    /* c finishes into not-started p: p starts with c's result. */
    CHECK_OK(cg_create(&c, park_then_return, NULL, &o));
    CHECK_OK(cg_switch(c, V(5), NULL));
    CHECK_OK(cg_create(&p, echo_first, NULL, &o));
    CHECK_OK(cg_set_parent(c, p));
    CHECK_OK(cg_switch(c, NULL, &m));
    CHECK(m.kind == CG_VALUE && I(m.value) == 105);
    CHECK(cg_get_state(p) == CG_DEAD && cg_get_state(c) == CG_DEAD);
    CHECK_OK(cg_destroy(c));
    CHECK_OK(cg_destroy(p));
}

static int p_ran;

static cg_msg
mark_ran(cg_greenlet *self, cg_msg first)
{
    (void)self;
    p_ran = 1;
    return first;
}

/* Killing c, whose parent p is not started: during the kill c's parent is
   the killer, so c's result comes back here and p is left alone. */
static void
case_kill_leaves_not_started_parent(cg_stack_mode mode)
{
    cg_options o = opts_for(mode);
    cg_greenlet *p, *c;
    p_ran = 0;
    CHECK_OK(cg_create(&c, park_then_return, NULL, &o));
    CHECK_OK(cg_switch(c, V(8), NULL));
    CHECK_OK(cg_create(&p, mark_ran, NULL, &o));
    CHECK_OK(cg_set_parent(c, p));
    CHECK_OK(cg_destroy(c));
    CHECK(p_ran == 0);
    CHECK(cg_get_state(p) == CG_NOT_STARTED);
    CHECK_OK(cg_destroy(p));
}

/* Finishes with an error after parking once. */
static cg_msg
park_then_fail(cg_greenlet *self, cg_msg first)
{
    CHECK_OK(cg_switch(cg_parent(self), NULL, NULL));
    return (cg_msg){CG_ERROR, first.value};
}

static void
case_error_kills_not_started_ancestor(cg_stack_mode mode)
{
    cg_options o = opts_for(mode);
    cg_greenlet *p, *c;
    cg_msg m;
    p_ran = 0;
    CHECK_OK(cg_create(&c, park_then_fail, NULL, &o));
    CHECK_OK(cg_switch(c, V(31), NULL));
    CHECK_OK(cg_create(&p, mark_ran, NULL, &o));
    CHECK_OK(cg_set_parent(c, p));
    CHECK_OK(cg_switch(c, NULL, &m));
    /* p died unrun; the error went on to p's parent, main. */
    CHECK(m.kind == CG_ERROR && I(m.value) == 31);
    CHECK(p_ran == 0);
    CHECK(cg_get_state(p) == CG_DEAD);
    CHECK_OK(cg_destroy(c));
    CHECK_OK(cg_destroy(p));
}

/* A returned CG_EXIT is delivered as a value. */
static cg_msg
return_exit(cg_greenlet *self, cg_msg first)
{
    (void)self;
    return (cg_msg){CG_EXIT, first.value};
}

static void
case_exit_result_is_value(cg_stack_mode mode)
{
    cg_options o = opts_for(mode);
    cg_greenlet *g;
    cg_msg m;
    CHECK_OK(cg_create(&g, return_exit, NULL, &o));
    CHECK_OK(cg_switch(g, V(4), &m));
    CHECK(m.kind == CG_VALUE && I(m.value) == 4);
    CHECK_OK(cg_destroy(g));
}

int
main(void)
{
    run_case_modes("result goes to the nearest live ancestor", case_dead_parent);
    run_case_modes("not-started ancestor starts with the result",
                   case_not_started_ancestor_started);
    run_case_modes("killing a child leaves its not-started parent unrun",
                   case_kill_leaves_not_started_parent);
    run_case_modes("error kills a not-started ancestor unrun and goes on",
                   case_error_kills_not_started_ancestor);
    run_case_modes("a returned exit message arrives as a value",
                   case_exit_result_is_value);
    return check_done();
}
