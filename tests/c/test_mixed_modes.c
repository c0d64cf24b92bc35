/* Copy-stack and dedicated-stack greenlets switch among each other freely:
   a copy greenlet started from a dedicated one lives on the thread stack
   below the lowest slice there. */
#include <stdint.h>
#include <string.h>

#include "check.h"

static cg_options copy_opts = {CG_STACK_COPY, 0, 0};
static cg_options ded_opts = {CG_STACK_DEDICATED, 0, 0};

/* Adds its value to what it receives, forever, checking a stack buffer. */
static cg_msg
adder_run(cg_greenlet *self, cg_msg first)
{
    volatile unsigned char buf[2048];
    uintptr_t add = I(first.value);
    memset((void *)buf, (int)add, sizeof buf);
    cg_msg m = {CG_VALUE, V(0)};
    for (;;) {
        CHECK_OK(cg_switch(cg_parent(self), V(I(m.value) + add), &m));
        for (size_t i = 0; i < sizeof buf; i += 97) {
            CHECK(buf[i] == (unsigned char)add);
        }
        if (m.kind == CG_EXIT) {
            return (cg_msg){CG_VALUE, NULL};
        }
    }
}

static cg_greenlet *copy_child;

/* A dedicated greenlet that starts copy-stack children and relays. */
static cg_msg
relay_run(cg_greenlet *self, cg_msg first)
{
    (void)first;
    CHECK_OK(cg_create(&copy_child, adder_run, self, &copy_opts));
    cg_msg m;
    CHECK_OK(cg_switch(copy_child, V(3), &m));
    CHECK(I(m.value) == 3);
    for (;;) {
        CHECK_OK(cg_switch(cg_main(), m.value, &m));
        if (m.kind == CG_EXIT) {
            break;
        }
        CHECK_OK(cg_switch(copy_child, m.value, &m));
    }
    CHECK_OK(cg_destroy(copy_child));
    return (cg_msg){CG_VALUE, NULL};
}

static void
case_copy_under_dedicated(void)
{
    cg_greenlet *relay, *other_copy, *other_ded;
    cg_msg m;
    CHECK_OK(cg_create(&relay, relay_run, NULL, &ded_opts));
    CHECK_OK(cg_create(&other_copy, adder_run, NULL, &copy_opts));
    CHECK_OK(cg_create(&other_ded, adder_run, NULL, &ded_opts));
    CHECK_OK(cg_switch(relay, NULL, &m));
    CHECK(I(m.value) == 3);
    CHECK_OK(cg_switch(other_copy, V(100), &m));
    CHECK_OK(cg_switch(other_ded, V(1000), &m));
    uintptr_t total = 0;
    for (int i = 0; i < 200; i++) {
        CHECK_OK(cg_switch(relay, V(total), &m));
        total = I(m.value);
        CHECK_OK(cg_switch(other_copy, V(total), &m));
        total = I(m.value);
        CHECK_OK(cg_switch(other_ded, V(total), &m));
        total = I(m.value);
    }
    CHECK(total == 200u * (3 + 100 + 1000));
    CHECK_OK(cg_destroy(relay));
    CHECK_OK(cg_destroy(other_copy));
    CHECK_OK(cg_destroy(other_ded));
}

int
main(void)
{
    run_case("copy and dedicated greenlets interleaved", case_copy_under_dedicated);
    return check_done();
}
