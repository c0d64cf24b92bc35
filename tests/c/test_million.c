/* Scale: 1,000,000 copy-stack greenlets suspended at once, each resumable
   with its own stack intact (20,000 under valgrind or qemu). */
#include <stdint.h>

#include "check.h"

static cg_msg
parked_run(cg_greenlet *self, cg_msg first)
{
    volatile uintptr_t mark = (uintptr_t)first.value * 2654435761u;
    cg_msg m;
    CHECK_OK(cg_switch(cg_main(), NULL, &m));
    (void)self;
    return (cg_msg){CG_VALUE, (void *)(uintptr_t)(mark == (uintptr_t)first.value * 2654435761u)};
}

static void
case_million(void)
{
    size_t n = light_mode() ? 20000 : 1000000;
    cg_greenlet **gs = malloc(n * sizeof *gs);
    CHECK(gs != NULL);
    if (gs == NULL) {
        return;
    }
    size_t made = 0, saved = 0;
    for (; made < n; made++) {
        if (cg_create(&gs[made], parked_run, NULL, NULL) != CG_OK ||
            cg_switch(gs[made], (void *)(uintptr_t)made, NULL) != CG_OK) {
            break;
        }
    }
    CHECK(made == n);
    for (size_t i = 0; i < made; i++) {
        CHECK(cg_get_state(gs[i]) == CG_SUSPENDED);
        saved += cg_stack_saved(gs[i]);
    }
    printf("# %zu suspended greenlets, %zu bytes of saved stack each\n", made,
           made ? saved / made : 0);
    size_t good = 0;
    /* Resume in reverse order, so slices are restored far from where the
       last one ran. */
    for (size_t i = made; i-- > 0;) {
        cg_msg m;
        CHECK_OK(cg_switch(gs[i], NULL, &m));
        good += m.value != NULL;
        CHECK_OK(cg_destroy(gs[i]));
    }
    CHECK(good == made);
    free(gs);
}

int
main(void)
{
    run_case("a million suspended copy-stack greenlets", case_million);
    return check_done();
}
