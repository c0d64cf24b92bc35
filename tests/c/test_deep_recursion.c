/* Deep stacks: 1 MiB of recursion inside a greenlet survives switches in
   both modes; starting copy-stack greenlets deeper and deeper ends with
   CG_ESTACK_OVERFLOW, never a crash. */
#include <stdint.h>
#include <string.h>

#include "check.h"

#define FRAME 1024

/* Each level holds FRAME bytes of its own, switches to main at the
   bottom, and checks its bytes on the way back up. */
static int
recurse(int depth, int limit)
{
    volatile unsigned char buf[FRAME];
    for (int i = 0; i < FRAME; i++) {
        buf[i] = (unsigned char)(depth * 31 + i);
    }
    int bad = 0;
    if (depth < limit) {
        bad += recurse(depth + 1, limit);
    } else {
        CHECK_OK(cg_switch(cg_main(), NULL, NULL));
    }
    for (int i = 0; i < FRAME; i++) {
        bad += buf[i] != (unsigned char)(depth * 31 + i);
    }
    return bad;
}

static cg_msg
deep_run(cg_greenlet *self, cg_msg first)
{
    (void)self;
    int bad = recurse(0, (int)(uintptr_t)first.value);
    return (cg_msg){CG_VALUE, (void *)(uintptr_t)bad};
}

static void
case_one_mib(cg_stack_mode mode)
{
    cg_options o = {mode, 4u << 20, 0};
    cg_greenlet *g, *other;
    cg_msg m;
    CHECK_OK(cg_create(&g, deep_run, NULL, &o));
    CHECK_OK(cg_create(&other, deep_run, NULL, &o));
    CHECK_OK(cg_switch(g, (void *)(uintptr_t)1024, NULL));
    if (mode == CG_STACK_COPY) {
        CHECK(cg_stack_saved(g) >= 1024u * FRAME);
    }
    /* Another deep greenlet runs over the same region meanwhile. */
    CHECK_OK(cg_switch(other, (void *)(uintptr_t)512, NULL));
    CHECK_OK(cg_switch(g, NULL, &m));
    CHECK(m.kind == CG_VALUE && m.value == NULL);
    CHECK_OK(cg_switch(other, NULL, &m));
    CHECK(m.kind == CG_VALUE && m.value == NULL);
    CHECK_OK(cg_destroy(g));
    CHECK_OK(cg_destroy(other));
}

/* Each level uses some stack, then starts the next level as a child,
   until starting is refused. */
static int deepest;
static cg_status refused_with;

static cg_msg level_run(cg_greenlet *self, cg_msg first);

static void
burn_then_start(int level)
{
    volatile unsigned char buf[16 * 1024];
    memset((void *)buf, level & 0xff, sizeof buf);
    cg_greenlet *next;
    CHECK_OK(cg_create(&next, level_run, NULL, NULL));
    cg_status st = cg_switch(next, (void *)(uintptr_t)(level + 1), NULL);
    if (st != CG_OK) {
        refused_with = st;
        deepest = level;
        CHECK(cg_get_state(next) == CG_NOT_STARTED);
    }
    CHECK_OK(cg_destroy(next));
    CHECK(buf[100] == (unsigned char)(level & 0xff));
}

static cg_msg
level_run(cg_greenlet *self, cg_msg first)
{
    (void)self;
    burn_then_start((int)(uintptr_t)first.value);
    return (cg_msg){CG_VALUE, NULL};
}

static void
case_overflow_refused(void)
{
    deepest = 0;
    refused_with = CG_OK;
    burn_then_start(0);
    CHECK(refused_with == CG_ESTACK_OVERFLOW);
    /* 16 KiB a level on a thread stack of several MiB. */
    CHECK(deepest > 20);
    /* After unwinding, starting works again. */
    cg_greenlet *g;
    CHECK_OK(cg_create(&g, deep_run, NULL, NULL));
    CHECK_OK(cg_switch(g, (void *)(uintptr_t)4, NULL));
    CHECK_OK(cg_switch(g, NULL, NULL));
    CHECK_OK(cg_destroy(g));
}

int
main(void)
{
    run_case_modes("1 MiB of recursion survives switches", case_one_mib);
    run_case("starting copy greenlets too deep is refused",
             case_overflow_refused);
    return check_done();
}
