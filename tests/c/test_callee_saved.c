/* Values held in callee-saved registers across a switch come back intact,
   integer and floating point, while the other side has filled the same
   registers with its own: each backend's saved set (the register tables
   of src/arch/switch_*.S, or swapcontext's) is complete.  More values are
   live across the switch than the caller-saved registers can hold, and
   they come from volatile memory, so the compiler can neither recompute
   them afterwards nor keep them all on the stack. */
#include <stdint.h>

#include "check.h"

#define EACH(X) X(0) X(1) X(2) X(3) X(4) X(5) X(6) X(7) X(8) X(9) X(10) X(11) \
    X(12) X(13) X(14) X(15) X(16) X(17) X(18) X(19) X(20) X(21) X(22) X(23)
#define N 24

static volatile uint64_t ints[2][N];
static volatile double doubles[2][N];

#define LOAD(i) uint64_t a##i = ints[side][i]; double d##i = doubles[side][i];
#define SAME(i) same &= (a##i == ints[side][i]) && (d##i == doubles[side][i]);

/* Loads side's values, switches to `to` and returns whether every value
   is what it was. */
static CG_TEST_NOINLINE int
hold_across_switch(int side, cg_greenlet *to)
{
    EACH(LOAD)
    if (cg_switch(to, NULL, NULL) != CG_OK) {
        return 0;
    }
    int same = 1;
    EACH(SAME)
    return same;
}

#define ROUNDS 50

static int partner_failures;

static cg_msg
partner_run(cg_greenlet *self, cg_msg first)
{
    (void)first;
    for (int r = 0; r < ROUNDS; r++) {
        partner_failures += !hold_across_switch(1, cg_parent(self));
    }
    return (cg_msg){CG_VALUE, NULL};
}

static void
case_registers_survive(cg_stack_mode mode)
{
    for (int i = 0; i < N; i++) {
        ints[0][i] = 0x0123456789abcdefu * (uint64_t)(i + 1);
        ints[1][i] = ~ints[0][i];
        doubles[0][i] = 1.0 / (i + 3);
        doubles[1][i] = -1e10 * (i + 7);
    }
    cg_options o = opts_for(mode);
    cg_greenlet *g;
    partner_failures = 0;
    CHECK_OK(cg_create(&g, partner_run, NULL, &o));
    int failures = 0;
    for (int r = 0; r <= ROUNDS; r++) {     /* the first one starts g */
        failures += !hold_across_switch(0, g);
    }
    CHECK(failures == 0);
    CHECK(partner_failures == 0);
    CHECK(cg_get_state(g) == CG_DEAD);
    CHECK_OK(cg_destroy(g));
}

int
main(void)
{
    run_case_modes("integer and FP values in callee-saved registers survive "
                   "switches both ways",
                   case_registers_survive);
    return check_done();
}
