/* Destroying: a suspended greenlet is resumed with an exit message so it
   can release what it holds, then freed; what cannot be destroyed is
   refused with a status. */
#include <stdint.h>
#include <stdlib.h>

#include "check.h"

static int cleaned;
static cg_kind got_kind;

/* Holds a heap block across a suspension and frees it on exit. */
static cg_msg
holder_run(cg_greenlet *self, cg_msg first)
{
    (void)first;
    void *block = malloc(1000);
    cg_msg m;
    CHECK_OK(cg_switch(cg_parent(self), NULL, &m));
    got_kind = m.kind;
    free(block);
    cleaned++;
    return (cg_msg){CG_VALUE, V(55)};
}

static void
case_destroy_suspended_runs_cleanup(cg_stack_mode mode)
{
    cg_options o = opts_for(mode);
    cg_greenlet *g;
    cleaned = 0;
    CHECK_OK(cg_create(&g, holder_run, NULL, &o));
    CHECK_OK(cg_switch(g, NULL, NULL));
    CHECK_OK(cg_destroy(g));
    CHECK(cleaned == 1 && got_kind == CG_EXIT);
    CHECK(cg_current() == cg_main());
}

static void
case_kill_returns_result(cg_stack_mode mode)
{
    cg_options o = opts_for(mode);
    cg_greenlet *g, *p;
    cg_msg m;
    cleaned = 0;
    /* Its parent is another greenlet, yet the kill returns here and the
       parent is put back afterwards. */
    CHECK_OK(cg_create(&p, holder_run, NULL, &o));
    CHECK_OK(cg_create(&g, holder_run, p, &o));
    /* g parks by switching to its parent p, which starts and parks into
       main. */
    CHECK_OK(cg_switch(g, NULL, NULL));
    CHECK(cg_get_state(p) == CG_SUSPENDED);
    CHECK_OK(cg_kill(g, &m));
    CHECK(m.kind == CG_VALUE && I(m.value) == 55);
    CHECK(cg_parent(g) == p);
    CHECK(cleaned == 1 && cg_get_state(g) == CG_DEAD);
    CHECK_OK(cg_kill(g, &m));   /* already dead: nothing to do */
    CHECK_OK(cg_destroy(g));
    CHECK_OK(cg_destroy(p));
    CHECK(cleaned == 2);
}

static void
case_destroy_not_started_and_dead(cg_stack_mode mode)
{
    cg_options o = opts_for(mode);
    cg_greenlet *g;
    cleaned = 0;
    CHECK_OK(cg_create(&g, holder_run, NULL, &o));
    CHECK_OK(cg_destroy(g));    /* never ran */
    CHECK(cleaned == 0);
    CHECK_OK(cg_create(&g, holder_run, NULL, &o));
    CHECK_OK(cg_switch(g, NULL, NULL));
    CHECK_OK(cg_switch(g, NULL, NULL));
    CHECK(cg_get_state(g) == CG_DEAD && cleaned == 1);
    CHECK_OK(cg_destroy(g));
    CHECK(cleaned == 1);
}

/* Refuses to die: answers the exit message by switching away again. */
static cg_msg
stubborn_run(cg_greenlet *self, cg_msg first)
{
    (void)first;
    for (;;) {
        cg_msg m;
        CHECK_OK(cg_switch(cg_main(), V(1), &m));
        if (m.kind == CG_VALUE && I(m.value) == 2) {
            break;
        }
    }
    (void)self;
    return (cg_msg){CG_VALUE, NULL};
}

static void
case_refusing_to_exit(cg_stack_mode mode)
{
    cg_options o = opts_for(mode);
    cg_greenlet *g;
    cg_msg m;
    CHECK_OK(cg_create(&g, stubborn_run, NULL, &o));
    CHECK_OK(cg_switch(g, NULL, NULL));
    CHECK_ST(cg_kill(g, &m), CG_EALIVE);
    CHECK(m.kind == CG_VALUE && I(m.value) == 1);
    CHECK_ST(cg_destroy(g), CG_EALIVE);
    CHECK(cg_get_state(g) == CG_SUSPENDED);
    CHECK(cg_parent(g) == cg_main());
    CHECK_OK(cg_switch(g, V(2), NULL));
    CHECK_OK(cg_destroy(g));
}

static cg_greenlet *self_ref;

static cg_msg
destroy_self(cg_greenlet *self, cg_msg first)
{
    (void)first;
    CHECK_ST(cg_destroy(self), CG_EBUSY);
    CHECK_ST(cg_kill(self, NULL), CG_EBUSY);
    /* Destroying its suspended ancestor (main) is refused too. */
    CHECK_ST(cg_destroy(cg_main()), CG_EINVAL);
    return (cg_msg){CG_VALUE, NULL};
}

static void
case_running_refused(void)
{
    CHECK_OK(cg_create(&self_ref, destroy_self, NULL, NULL));
    CHECK_OK(cg_switch(self_ref, NULL, NULL));
    CHECK_OK(cg_destroy(self_ref));
}

/* A killed greenlet that is an ancestor of the killer: it finishes into
   the killer, and the killer continues. */
static cg_greenlet *outer, *inner;

static cg_msg
kill_parent_run(cg_greenlet *self, cg_msg first)
{
    (void)first;
    cg_msg m;
    CHECK(cg_parent(self) == outer);
    CHECK_OK(cg_kill(outer, &m));
    CHECK(m.kind == CG_VALUE && I(m.value) == 55);
    CHECK(cg_get_state(outer) == CG_DEAD);
    return (cg_msg){CG_VALUE, V(66)};
}

static cg_stack_mode outer_mode;

static cg_msg
outer_run(cg_greenlet *self, cg_msg first)
{
    (void)first;
    cg_options o = opts_for(outer_mode);
    cg_msg m;
    CHECK_OK(cg_create(&inner, kill_parent_run, self, &o));
    CHECK_OK(cg_switch(inner, NULL, &m));
    /* Resumed by the kill: its parent is the killer for now. */
    CHECK(m.kind == CG_EXIT);
    CHECK(cg_parent(self) == inner);
    cleaned++;
    return (cg_msg){CG_VALUE, V(55)};
}

static void
case_kill_ancestor(cg_stack_mode mode)
{
    cg_options o = opts_for(mode);
    cg_msg m;
    outer_mode = mode;
    cleaned = 0;
    CHECK_OK(cg_create(&outer, outer_run, NULL, &o));
    CHECK_OK(cg_switch(outer, NULL, &m));
    /* inner finished with 66; its parent (outer) was dead: main got it. */
    CHECK(m.kind == CG_VALUE && I(m.value) == 66);
    CHECK(cleaned == 1);
    CHECK(cg_parent(outer) == cg_main());
    CHECK_OK(cg_destroy(inner));
    CHECK_OK(cg_destroy(outer));
}

/* While inner kills outer, outer's parent is inner and inner's is outer:
   the chain loops.  Walks over it must end (regression: cg_set_parent's
   cycle check and the finish's search for a live receiver went round it
   forever).  loop_what 0: outer discards inner, so that both are dead
   when outer finishes -- its result goes to main; 1: outer gives a new
   greenlet inner as parent, which makes no cycle of its own. */
static int loop_what;
static cg_greenlet *loop_h;

static cg_msg
loop_inner_run(cg_greenlet *self, cg_msg first)
{
    (void)self;
    (void)first;
    cg_msg m;
    CHECK_OK(cg_kill(outer, &m));
    CHECK(loop_what == 1 && m.kind == CG_VALUE && I(m.value) == 77);
    return (cg_msg){CG_VALUE, V(78)};
}

static cg_msg
loop_outer_run(cg_greenlet *self, cg_msg first)
{
    cg_options o = opts_for(outer_mode);
    cg_msg m;
    (void)first;
    CHECK_OK(cg_create(&inner, loop_inner_run, self, &o));
    CHECK_OK(cg_switch(inner, NULL, &m));
    CHECK(m.kind == CG_EXIT && cg_parent(self) == inner);
    if (loop_what == 0) {
        CHECK_OK(cg_discard(inner));
    } else {
        CHECK_OK(cg_create(&loop_h, echo_first, NULL, NULL));
        CHECK_OK(cg_set_parent(loop_h, inner));
        CHECK(cg_parent(loop_h) == inner);
        CHECK_ST(cg_set_parent(inner, loop_h), CG_ECYCLE);
    }
    return (cg_msg){CG_VALUE, V(77)};
}

static void
case_kill_ancestor_loop(cg_stack_mode mode)
{
    cg_options o = opts_for(mode);
    cg_msg m;
    outer_mode = mode;
    for (loop_what = 0; loop_what < 2; loop_what++) {
        loop_h = NULL;
        CHECK_OK(cg_create(&outer, loop_outer_run, NULL, &o));
        CHECK_OK(cg_switch(outer, NULL, &m));
        CHECK(m.kind == CG_VALUE && I(m.value) == (loop_what == 0 ? 77 : 78));
        CHECK(cg_get_state(outer) == CG_DEAD && cg_get_state(inner) == CG_DEAD);
        /* The discarded killer never put outer's parent back. */
        CHECK(cg_parent(outer) == (loop_what == 0 ? inner : cg_main()));
        CHECK_OK(cg_destroy(inner));
        CHECK_OK(cg_destroy(outer));
        if (loop_h != NULL) {
            CHECK_OK(cg_destroy(loop_h));
        }
    }
}

/* The greenlet a pending kill is after can be destroyed by the code the
   kill runs.  K destroys (or kills) T; T refuses to exit and switches to
   main; main destroys T, which finishes this time, and empties the
   caches so its memory really goes.  K's call must then neither touch a
   freed T nor release it a second time: cg_destroy says CG_EINVAL (T was
   destroyed meanwhile), cg_kill CG_OK (T is dead).  Regression, found by
   tests/fuzz-c: the pending cg_destroy returned CG_OK and released T
   again, after cg_kill had read T's freed memory. */
static cg_greenlet *re_t;
static int re_use_kill;
static cg_status re_status;

static cg_msg
re_target_run(cg_greenlet *self, cg_msg first)
{
    (void)self;
    (void)first;
    cg_msg m;
    CHECK_OK(cg_switch(cg_main(), NULL, &m));   /* parks */
    CHECK(m.kind == CG_EXIT);
    CHECK_OK(cg_switch(cg_main(), NULL, &m));   /* refuses K's request */
    CHECK(m.kind == CG_EXIT);
    return (cg_msg){CG_VALUE, V(91)};           /* accepts main's */
}

static cg_msg
re_killer_run(cg_greenlet *self, cg_msg first)
{
    (void)self;
    (void)first;
    re_status = re_use_kill ? cg_kill(re_t, NULL) : cg_destroy(re_t);
    return (cg_msg){CG_VALUE, NULL};
}

static void
case_destroyed_during_pending_kill(cg_stack_mode mode)
{
    cg_options o = opts_for(mode);
    cg_greenlet *k;
    for (re_use_kill = 0; re_use_kill < 2; re_use_kill++) {
        re_status = CG_EBUSY;
        CHECK_OK(cg_create(&re_t, re_target_run, NULL, &o));
        CHECK_OK(cg_create(&k, re_killer_run, NULL, &o));
        CHECK_OK(cg_switch(re_t, NULL, NULL));
        CHECK_OK(cg_switch(k, NULL, NULL));     /* K's kill: T refuses */
        CHECK(cg_get_state(k) == CG_SUSPENDED && cg_get_state(re_t) == CG_SUSPENDED);
        CHECK_OK(cg_destroy(re_t));
        cg_trim();
        CHECK_OK(cg_switch(k, NULL, NULL));     /* K's call returns */
        CHECK(cg_get_state(k) == CG_DEAD);
        CHECK_ST(re_status, re_use_kill ? CG_OK : CG_EINVAL);
        CHECK_OK(cg_destroy(k));
    }
}

int
main(void)
{
    run_case_modes("destroying a suspended greenlet runs its cleanup",
                   case_destroy_suspended_runs_cleanup);
    run_case_modes("kill returns the result and restores the parent",
                   case_kill_returns_result);
    run_case_modes("destroying not-started and dead greenlets",
                   case_destroy_not_started_and_dead);
    run_case_modes("a greenlet that refuses to exit stays alive",
                   case_refusing_to_exit);
    run_case("the running greenlet and main cannot be destroyed",
             case_running_refused);
    run_case_modes("killing an ancestor of the caller", case_kill_ancestor);
    run_case_modes("the parent loop while an ancestor is killed: walks end, "
                   "a result passing only dead greenlets reaches main",
                   case_kill_ancestor_loop);
    run_case_modes("a greenlet destroyed while a kill of it is pending",
                   case_destroyed_during_pending_kill);
    return check_done();
}
