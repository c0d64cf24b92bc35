/* throw: resuming with an error instead of a value; errors thrown into
   not-started greenlets; run functions finishing with an error. */
#include <stdint.h>

#include "check.h"

static int ran;

/* Reports what its pending switch received, as a value, then finishes. */
static cg_msg
catcher_run(cg_greenlet *self, cg_msg first)
{
    (void)first;
    cg_msg m;
    CHECK_OK(cg_switch(cg_parent(self), V(1), &m));
    /* Turn the error into a value so the parent can see it arrived. */
    return (cg_msg){CG_VALUE, V(m.kind == CG_ERROR ? 1000 + I(m.value) : 0)};
}

static void
case_throw_suspended(cg_stack_mode mode)
{
    cg_options o = opts_for(mode);
    cg_greenlet *g;
    cg_msg m;
    CHECK_OK(cg_create(&g, catcher_run, NULL, &o));
    CHECK_OK(cg_switch(g, NULL, &m));
    CHECK(m.kind == CG_VALUE && I(m.value) == 1);
    CHECK_OK(cg_throw(g, V(42), &m));
    CHECK(m.kind == CG_VALUE && I(m.value) == 1042);
    CHECK(cg_get_state(g) == CG_DEAD);
    CHECK_OK(cg_destroy(g));
}

static cg_msg
never_run(cg_greenlet *self, cg_msg first)
{
    (void)self;
    (void)first;
    ran = 1;
    return (cg_msg){CG_VALUE, NULL};
}

static void
case_throw_not_started(cg_stack_mode mode)
{
    cg_options o = opts_for(mode);
    cg_greenlet *g;
    cg_msg m;
    ran = 0;
    CHECK_OK(cg_create(&g, never_run, NULL, &o));
    /* The caller is the parent: the error comes straight back. */
    CHECK_OK(cg_throw(g, V(7), &m));
    CHECK(m.kind == CG_ERROR && I(m.value) == 7);
    CHECK(cg_get_state(g) == CG_DEAD);
    CHECK(ran == 0);
    CHECK_ST(cg_switch(g, NULL, &m), CG_EDEAD);
    CHECK_OK(cg_destroy(g));
    /* An exit message to a not-started greenlet arrives as a value. */
    CHECK_OK(cg_create(&g, never_run, NULL, &o));
    CHECK_OK(cg_send(g, (cg_msg){CG_EXIT, V(9)}, &m));
    CHECK(m.kind == CG_VALUE && I(m.value) == 9);
    CHECK(cg_get_state(g) == CG_DEAD && ran == 0);
    CHECK_OK(cg_destroy(g));
}

/* Not-started greenlet whose parent is another, suspended greenlet: the
   error is delivered there, not to the thrower. */
static cg_greenlet *victim;

static cg_msg
parent_run(cg_greenlet *self, cg_msg first)
{
    (void)first;
    cg_msg m;
    CHECK_OK(cg_switch(cg_parent(self), NULL, &m));
    CHECK(m.kind == CG_ERROR && I(m.value) == 99);
    return (cg_msg){CG_VALUE, V(5)};
}

static void
case_throw_not_started_to_parent(cg_stack_mode mode)
{
    cg_options o = opts_for(mode);
    cg_greenlet *p;
    cg_msg m;
    ran = 0;
    CHECK_OK(cg_create(&p, parent_run, NULL, &o));
    CHECK_OK(cg_switch(p, NULL, NULL));
    CHECK_OK(cg_create(&victim, never_run, p, &o));
    CHECK_OK(cg_throw(victim, V(99), &m));
    /* p received the error, then finished into its parent: us. */
    CHECK(m.kind == CG_VALUE && I(m.value) == 5);
    CHECK(cg_get_state(victim) == CG_DEAD && cg_get_state(p) == CG_DEAD);
    CHECK(ran == 0);
    CHECK_OK(cg_destroy(victim));
    CHECK_OK(cg_destroy(p));
}

static cg_msg
failing_run(cg_greenlet *self, cg_msg first)
{
    (void)self;
    return (cg_msg){CG_ERROR, first.value};
}

static void
case_finish_with_error(cg_stack_mode mode)
{
    cg_options o = opts_for(mode);
    cg_greenlet *g;
    cg_msg m;
    CHECK_OK(cg_create(&g, failing_run, NULL, &o));
    CHECK_OK(cg_switch(g, V(13), &m));
    CHECK(m.kind == CG_ERROR && I(m.value) == 13);
    CHECK(cg_get_state(g) == CG_DEAD);
    CHECK_OK(cg_destroy(g));
}

static void
case_throw_dead_refused(void)
{
    cg_greenlet *g;
    CHECK_OK(cg_create(&g, failing_run, NULL, NULL));
    CHECK_OK(cg_switch(g, NULL, NULL));
    CHECK_ST(cg_throw(g, V(1), NULL), CG_EDEAD);
    CHECK_ST(cg_throw(NULL, V(1), NULL), CG_EINVAL);
    CHECK_ST(cg_send(g, (cg_msg){(cg_kind)17, NULL}, NULL), CG_EINVAL);
    CHECK_OK(cg_destroy(g));
}

int
main(void)
{
    run_case_modes("throw into a suspended greenlet", case_throw_suspended);
    run_case_modes("throw into a not-started greenlet kills it unrun",
                   case_throw_not_started);
    run_case_modes("error from a not-started greenlet goes to its parent",
                   case_throw_not_started_to_parent);
    run_case_modes("run finishing with an error", case_finish_with_error);
    run_case("throw into dead / invalid is refused", case_throw_dead_refused);
    return check_done();
}
