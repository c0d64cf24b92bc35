/* The floating-point control state (rounding mode: MXCSR and the x87
   control word on x86-64, FPCR on aarch64, frm on riscv64, whatever
   swapcontext keeps for ucontext) is callee-saved under the ABI (riscv64:
   of thread storage duration), so each greenlet keeps its own across
   switches. */
#include <fenv.h>

#include "check.h"

static cg_msg
upward_run(cg_greenlet *self, cg_msg first)
{
    (void)first;
    CHECK(fesetround(FE_UPWARD) == 0);
    for (int i = 0; i < 3; i++) {
        CHECK_OK(cg_switch(cg_parent(self), NULL, NULL));
        CHECK(fegetround() == FE_UPWARD);
    }
    return (cg_msg){CG_VALUE, NULL};
}

/* Unused when built FPCTL=0 (skipped below), and then -Werror would stop
   the build. */
static CG_TEST_MAYBE_UNUSED void
case_rounding_mode_per_greenlet(cg_stack_mode mode)
{
    cg_options o = opts_for(mode);
    cg_greenlet *g;
    CHECK(fegetround() == FE_TONEAREST);
    CHECK_OK(cg_create(&g, upward_run, NULL, &o));
    CHECK_OK(cg_switch(g, NULL, NULL));
    CHECK(fegetround() == FE_TONEAREST);
    CHECK(fesetround(FE_DOWNWARD) == 0);
    CHECK_OK(cg_switch(g, NULL, NULL));
    CHECK(fegetround() == FE_DOWNWARD);
    CHECK_OK(cg_switch(g, NULL, NULL));
    CHECK_OK(cg_switch(g, NULL, NULL));
    CHECK(fegetround() == FE_DOWNWARD);
    CHECK(fesetround(FE_TONEAREST) == 0);
    CHECK_OK(cg_destroy(g));
}

int
main(void)
{
#ifdef CG_NO_FPCTL
    skip_case("rounding mode kept per greenlet", "built with FPCTL=0");
#else
    run_case_modes("rounding mode kept per greenlet", case_rounding_mode_per_greenlet);
#endif
    return check_done();
}
