/* The embedder's switch hook: LEAVE on the origin's stack before control
   leaves, ENTER on the target's stack before its code continues (for a new
   greenlet, before its run function). */
#include <stdint.h>
#include <string.h>

#include "check.h"

#define MAXEV 64

struct event {
    cg_hook_event ev;
    cg_greenlet *from, *to, *current;
};

static struct event events[MAXEV];
static int nevents;
static int hook_arg_ok;

static void
hook(cg_hook_event ev, cg_greenlet *from, cg_greenlet *to, void *arg)
{
    hook_arg_ok = arg == &events;
    if (nevents < MAXEV) {
        events[nevents].ev = ev;
        events[nevents].from = from;
        events[nevents].to = to;
        events[nevents].current = cg_current();
    }
    nevents++;
}

static int run_saw_events;

static cg_msg
run(cg_greenlet *self, cg_msg first)
{
    (void)first;
    run_saw_events = nevents;
    CHECK_OK(cg_switch(cg_parent(self), NULL, NULL));
    return (cg_msg){CG_VALUE, NULL};
}

static void
expect(int i, cg_hook_event ev, cg_greenlet *from, cg_greenlet *to, cg_greenlet *current)
{
    CHECK(i < nevents);
    CHECK(events[i].ev == ev);
    CHECK(events[i].from == from);
    CHECK(events[i].to == to);
    CHECK(events[i].current == current);
}

static void
case_hook_sequence(cg_stack_mode mode)
{
    cg_options o = opts_for(mode);
    cg_greenlet *m = cg_main(), *g;
    CHECK_OK(cg_create(&g, run, NULL, &o));
    nevents = 0;
    cg_set_switch_hook(hook, &events);
    CHECK_OK(cg_switch(g, NULL, NULL));     /* start, g parks */
    CHECK_OK(cg_switch(m, NULL, NULL));     /* self switch: no events */
    CHECK_OK(cg_switch(g, NULL, NULL));     /* g finishes */
    cg_set_switch_hook(NULL, NULL);
    CHECK(hook_arg_ok);
    CHECK(nevents == 8);
    /* LEAVE runs while the origin is still current; ENTER once the target
       is. */
    expect(0, CG_HOOK_LEAVE, m, g, m);
    expect(1, CG_HOOK_ENTER, m, g, g);
    CHECK(run_saw_events == 2);             /* ENTER came before run */
    expect(2, CG_HOOK_LEAVE, g, m, g);
    expect(3, CG_HOOK_ENTER, g, m, m);
    expect(4, CG_HOOK_LEAVE, m, g, m);
    expect(5, CG_HOOK_ENTER, m, g, g);
    expect(6, CG_HOOK_LEAVE, g, m, g);      /* the dying greenlet leaves */
    CHECK(cg_get_state(g) == CG_DEAD);
    expect(7, CG_HOOK_ENTER, g, m, m);
    CHECK_OK(cg_destroy(g));
    CHECK(nevents == 8);
}

int
main(void)
{
    run_case_modes("hook events on both sides of every switch", case_hook_sequence);
    return check_done();
}
