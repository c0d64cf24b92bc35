/*
 * Our operations: switch round trips, create+switch+finish+destroy, and
 * copy-stack switches of a greenlet holding N KiB of live stack.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "bench.h"
#include "cgreenlet.h"

static void
check(cg_status st, const char *what)
{
    if (st != CG_OK) {
        bench_die(what, (int)st);
    }
}

/* Starts `g` from deeper in the thread stack than the driver's later
   switches, so that in copy mode its region lies wholly below them: the
   steady state of a scheduler that starts and resumes greenlets from one
   loop (main's own frames are then never copied; only g's are). */
static BENCH_NOINLINE void
start_deep(cg_greenlet *g)
{
    volatile char pad[16384];
    pad[0] = 0;
    pad[sizeof pad - 1] = 0;
    check(cg_switch(g, NULL, NULL), "cg_switch (start)");
    pad[1] = pad[0];
}

static cg_options
opts_for(cg_stack_mode mode)
{
    cg_options o;
    memset(&o, 0, sizeof o);
    o.stack_mode = mode;
    return o;
}

/* ---- switch round trip main -> g -> main --------------------------------- */

/* Switches back to the parent until asked to exit (cg_destroy). */
static cg_msg
ping_run(cg_greenlet *self, cg_msg m)
{
    cg_greenlet *back = cg_parent(self);
    while (m.kind == CG_VALUE) {
        check(cg_switch(back, NULL, &m), "cg_switch (back)");
    }
    return m;
}

static void *
sw_setup(long mode)
{
    cg_options o = opts_for((cg_stack_mode)mode);
    cg_greenlet *g;
    check(cg_create(&g, ping_run, NULL, &o), "cg_create");
    start_deep(g);
    return g;
}

static void
sw_run(void *state, long n)
{
    cg_greenlet *g = state;
    for (long i = 0; i < n; i++) {
        check(cg_switch(g, NULL, NULL), "cg_switch");
    }
}

static void
sw_teardown(void *state)
{
    check(cg_destroy(state), "cg_destroy");
}

const bench_op op_cg_switch_copy = {"switch.copy", sw_setup, sw_run, sw_teardown,
                                    CG_STACK_COPY};
const bench_op op_cg_switch_dedicated = {"switch.dedicated", sw_setup, sw_run,
                                         sw_teardown, CG_STACK_DEDICATED};

/* ---- create + switch + finish + destroy ---------------------------------- */

static cg_msg
return_run(cg_greenlet *self, cg_msg m)
{
    (void)self;
    return m;
}

typedef struct create_state {
    cg_options opts;
} create_state;

static void
create_run(void *state, long n)
{
    create_state *st = state;
    for (long i = 0; i < n; i++) {
        cg_greenlet *g;
        check(cg_create(&g, return_run, NULL, &st->opts), "cg_create");
        check(cg_switch(g, NULL, NULL), "cg_switch");
        check(cg_destroy(g), "cg_destroy");
    }
}

static void *
create_setup(long mode)
{
    create_state *st = malloc(sizeof *st);
    if (st == NULL) {
        bench_die("malloc", -1);
    }
    st->opts = opts_for((cg_stack_mode)mode);
    create_run(st, 1);      /* thread state, stack pool, buffer cache */
    return st;
}

static void
create_teardown(void *state)
{
    free(state);
}

const bench_op op_cg_create_copy = {"create.copy", create_setup, create_run,
                                    create_teardown, CG_STACK_COPY};
const bench_op op_cg_create_dedicated = {"create.dedicated", create_setup, create_run,
                                         create_teardown, CG_STACK_DEDICATED};

/* ---- copy cost: a greenlet holding `kib` KiB of live stack --------------- */

#define FRAME_PAD 1000  /* plus the frame's own words: about 1 KiB a level */

/* Recurses `depth` levels of about 1 KiB each, then switches back to the
   parent until asked to exit. */
static BENCH_NOINLINE cg_msg
hold(cg_greenlet *back, long depth, cg_msg m)
{
    volatile char pad[FRAME_PAD];
    pad[0] = (char)depth;
    pad[FRAME_PAD - 1] = 0;
    if (depth > 1) {
        m = hold(back, depth - 1, m);
    } else {
        while (m.kind == CG_VALUE) {
            check(cg_switch(back, NULL, &m), "cg_switch (back)");
        }
    }
    pad[1] = pad[0];    /* keeps the frame live: no tail call */
    return m;
}

static cg_msg
hold_run(cg_greenlet *self, cg_msg m)
{
    return hold(cg_parent(self), (long)(intptr_t)cg_userdata(self), m);
}

static void *
copy_setup(long kib)
{
    cg_options o = opts_for(CG_STACK_COPY);
    cg_greenlet *g;
    check(cg_create(&g, hold_run, NULL, &o), "cg_create");
    cg_set_userdata(g, (void *)(intptr_t)kib);
    start_deep(g);
    return g;
}

const bench_op op_cg_copy = {"copy", copy_setup, sw_run, sw_teardown, 0};

size_t
cg_copy_live_bytes(long kib)
{
    cg_greenlet *g = copy_setup(kib);
    sw_run(g, 2);
    size_t bytes = cg_stack_saved(g);
    sw_teardown(g);
    return bytes;
}
