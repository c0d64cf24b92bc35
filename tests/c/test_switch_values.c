/* Switch passes values both ways; the first switch starts run with its
   message; a finished greenlet's result goes to its parent; self-switch. */
#include <stdint.h>

#include "check.h"

static cg_greenlet *g_main;

/* Echo loop: returns each value it receives, plus one. */
static cg_msg
echo_run(cg_greenlet *self, cg_msg first)
{
    cg_msg m = first;
    CHECK(cg_current() == self);
    CHECK(cg_get_state(self) == CG_RUNNING);
    while (I(m.value) != 0) {
        cg_msg next;
        CHECK_OK(cg_switch(cg_parent(self), V(I(m.value) + 1), &next));
        m = next;
    }
    return (cg_msg){CG_VALUE, V(777)};
}

static void
case_ping_pong(cg_stack_mode mode)
{
    cg_options o = opts_for(mode);
    cg_greenlet *g;
    CHECK_OK(cg_create(&g, echo_run, NULL, &o));
    CHECK(cg_get_state(g) == CG_NOT_STARTED);
    CHECK(cg_parent(g) == g_main);
    for (uintptr_t i = 1; i <= 1000; i++) {
        cg_msg m;
        CHECK_OK(cg_switch(g, V(i), &m));
        CHECK(m.kind == CG_VALUE && I(m.value) == i + 1);
        CHECK(cg_get_state(g) == CG_SUSPENDED);
        CHECK(cg_current() == g_main);
    }
    cg_msg m;
    CHECK_OK(cg_switch(g, V(0), &m));
    CHECK(m.kind == CG_VALUE && I(m.value) == 777);
    CHECK(cg_get_state(g) == CG_DEAD);
    CHECK_ST(cg_switch(g, V(1), &m), CG_EDEAD);
    CHECK_OK(cg_destroy(g));
}

static void
case_self_switch(void)
{
    cg_msg m;
    CHECK_OK(cg_switch(cg_current(), V(5), &m));
    CHECK(m.kind == CG_VALUE && I(m.value) == 5);
    CHECK_OK(cg_throw(cg_current(), V(6), &m));
    CHECK(m.kind == CG_ERROR && I(m.value) == 6);
    CHECK_OK(cg_switch(cg_current(), V(7), NULL));
}

/* Nested: main -> a -> b; b returns to a, a returns to main. */
static cg_stack_mode nested_mode;

static cg_msg
inner_run(cg_greenlet *self, cg_msg first)
{
    (void)self;
    return (cg_msg){CG_VALUE, V(I(first.value) * 10)};
}

static cg_msg
outer_run(cg_greenlet *self, cg_msg first)
{
    cg_options o = opts_for(nested_mode);
    cg_greenlet *b;
    CHECK_OK(cg_create(&b, inner_run, NULL, &o));
    CHECK(cg_parent(b) == self);
    cg_msg m;
    CHECK_OK(cg_switch(b, first.value, &m));
    CHECK(m.kind == CG_VALUE && I(m.value) == I(first.value) * 10);
    CHECK(cg_get_state(b) == CG_DEAD);
    CHECK_OK(cg_destroy(b));
    return (cg_msg){CG_VALUE, V(I(m.value) + 1)};
}

static void
case_nested(cg_stack_mode mode)
{
    nested_mode = mode;
    cg_options o = opts_for(mode);
    cg_greenlet *a;
    CHECK_OK(cg_create(&a, outer_run, NULL, &o));
    cg_msg m;
    CHECK_OK(cg_switch(a, V(4), &m));
    CHECK(m.kind == CG_VALUE && I(m.value) == 41);
    CHECK_OK(cg_destroy(a));
}

/* A chain of 50 greenlets, each starting the next and adding its depth. */
static cg_stack_mode chain_mode;

static cg_msg
chain_run(cg_greenlet *self, cg_msg first)
{
    (void)self;
    uintptr_t depth = I(first.value);
    if (depth == 50) {
        return (cg_msg){CG_VALUE, V(0)};
    }
    cg_options o = opts_for(chain_mode);
    cg_greenlet *next;
    CHECK_OK(cg_create(&next, chain_run, NULL, &o));
    cg_msg m;
    CHECK_OK(cg_switch(next, V(depth + 1), &m));
    CHECK_OK(cg_destroy(next));
    return (cg_msg){CG_VALUE, V(I(m.value) + depth)};
}

static void
case_chain(cg_stack_mode mode)
{
    chain_mode = mode;
    cg_options o = opts_for(mode);
    cg_greenlet *g;
    CHECK_OK(cg_create(&g, chain_run, NULL, &o));
    cg_msg m;
    CHECK_OK(cg_switch(g, V(0), &m));
    CHECK(I(m.value) == 50 * 49 / 2);
    CHECK_OK(cg_destroy(g));
}

/* Locals of every greenlet survive other greenlets running. */
static cg_msg
locals_run(cg_greenlet *self, cg_msg first)
{
    volatile uintptr_t buf[64];
    for (int i = 0; i < 64; i++) {
        buf[i] = I(first.value) * 1000 + (uintptr_t)i;
    }
    for (int round = 0; round < 20; round++) {
        CHECK_OK(cg_switch(cg_parent(self), NULL, NULL));
        for (int i = 0; i < 64; i++) {
            CHECK(buf[i] == I(first.value) * 1000 + (uintptr_t)i);
        }
    }
    return (cg_msg){CG_VALUE, NULL};
}

static void
case_locals(cg_stack_mode mode)
{
    cg_options o = opts_for(mode);
    cg_greenlet *gs[10];
    for (int i = 0; i < 10; i++) {
        CHECK_OK(cg_create(&gs[i], locals_run, NULL, &o));
    }
    for (int round = 0; round < 21; round++) {
        for (int i = 0; i < 10; i++) {
            CHECK_OK(cg_switch(gs[i], V(i + 1), NULL));
        }
    }
    for (int i = 0; i < 10; i++) {
        CHECK(cg_get_state(gs[i]) == CG_DEAD);
        CHECK_OK(cg_destroy(gs[i]));
    }
}

int
main(void)
{
    g_main = cg_current();
    CHECK(g_main != NULL && cg_is_main(g_main));
    run_case_modes("ping-pong values", case_ping_pong);
    run_case("self switch returns at once", case_self_switch);
    run_case_modes("nested parents", case_nested);
    run_case_modes("chain of 50 nested starts", case_chain);
    run_case_modes("locals survive switches", case_locals);
    return check_done();
}
