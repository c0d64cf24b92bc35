/* Copy switches refused for lack of memory, over and over in one thread:
   each must change nothing, however often it happens.  Also the
   ThreadSanitizer regression test (make check-tsan): a refused switch
   announces the switch to TSan and then takes it back, and once a helper
   frame spanned the two announcements, so every refusal left one entry
   too many on the target's shadow call stack and one too few on the
   origin's.  TSan's shadow stacks hold 64K entries and are not bounds
   checked; many more refusals than that in one thread run them far off
   their ends, which crashes the program rather than waiting for a lucky
   memory layout.  Each refusal reaches the switch-back by a different
   road: a switch into a parked greenlet, a switch out of one, and a
   finished greenlet's result that finds every receiver out of reach. */
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>

#include "check.h"

/* More refusals than a TSan shadow stack has entries (64K). */
#define ROUNDS 100000L
#define LIGHT_ROUNDS 2000L

#include "switchable_alloc.h"

static long rounds;



/* Main, 16 KiB below a parked greenlet's region, switches to it with no
   memory to save its own bytes there: refused every time. */
static void
into_parked(void)
{
    cg_options o = opts_for(CG_STACK_COPY);
    cg_greenlet *p;
    cg_msg m;
    CHECK_OK(cg_create(&p, park_then_add_one, NULL, &o));
    CHECK_OK(cg_switch(p, V(7), NULL));
    CHECK(cg_get_state(p) == CG_SUSPENDED && cg_stack_saved(p) > 0);
    atomic_store(&fail_all, 1);
    long refused = 0;
    for (long i = 0; i < rounds; i++) {
        refused += deep_send(16, p, (cg_msg){CG_VALUE, V(1)}, &m) == CG_ENOMEM;
    }
    atomic_store(&fail_all, 0);
    CHECK(refused == rounds);
    CHECK(cg_get_state(p) == CG_SUSPENDED && cg_current() == cg_main());
    CHECK_OK(deep_send(16, p, (cg_msg){CG_VALUE, V(1)}, &m));
    CHECK(m.kind == CG_VALUE && I(m.value) == 2);
    CHECK_OK(cg_destroy(p));
}

static long out_refused;

/* Switches to main with no memory to save its own slice (main's region
   covers it): refused every time; then with memory, and finishes. */
static cg_msg
leave_run(cg_greenlet *self, cg_msg first)
{
    volatile uintptr_t sig[32];
    (void)self;
    fill_signature(sig, 32, 0x1ea);
    atomic_store(&fail_all, 1);
    for (long i = 0; i < rounds; i++) {
        out_refused += cg_switch(cg_main(), NULL, NULL) == CG_ENOMEM;
    }
    atomic_store(&fail_all, 0);
    CHECK(signature_intact(sig, 32, 0x1ea));
    CHECK_OK(cg_switch(cg_main(), NULL, NULL));
    return first;
}

static void
out_of_greenlet(void)
{
    cg_options o = opts_for(CG_STACK_COPY);
    cg_greenlet *g;
    cg_msg m;
    out_refused = 0;
    CHECK_OK(cg_create(&g, leave_run, NULL, &o));
    CHECK_OK(cg_switch(g, V(5), NULL));
    CHECK(out_refused == rounds);
    CHECK(cg_get_state(g) == CG_SUSPENDED);
    CHECK_OK(cg_switch(g, NULL, &m));
    CHECK(m.kind == CG_VALUE && I(m.value) == 5);
    CHECK_OK(cg_destroy(g));
}

/* Makes memory unavailable, then finishes: its result cannot reach its
   parent (resuming it means saving main's bytes) and arrives in main as
   lost. */
static cg_msg
finisher_run(cg_greenlet *self, cg_msg first)
{
    (void)self;
    atomic_store(&fail_all, 1);
    return (cg_msg){CG_VALUE, first.value};
}

static void
lost_results(void)
{
    cg_options o = opts_for(CG_STACK_COPY);
    cg_greenlet *p;
    CHECK_OK(cg_create(&p, park_then_add_one, NULL, &o));
    CHECK_OK(cg_switch(p, V(7), NULL));
    long lost = 0;
    /* A create and a finish per round: fewer rounds still drift the
       parent's shadow stack by one each, so this is the slow part. */
    for (long i = 0; i < rounds; i++) {
        cg_greenlet *f;
        cg_msg m;
        if (cg_create(&f, finisher_run, p, &o) != CG_OK) {
            CHECK(!"cg_create with memory available");
            break;
        }
        cg_status st = deep_send(16, f, (cg_msg){CG_VALUE, V(i)}, &m);
        atomic_store(&fail_all, 0);
        lost += st == CG_OK && m.kind == CG_LOST_VALUE && I(m.value) == (uintptr_t)i;
        CHECK_OK(cg_destroy(f));
    }
    CHECK(lost == rounds);
    CHECK(cg_get_state(p) == CG_SUSPENDED);
    CHECK_OK(cg_destroy(p));
}

static void (*thread_case)(void);

static void *
case_thread(void *arg)
{
    (void)arg;
    thread_case();
    return NULL;
}

/* Runs fn in a fresh thread (a fresh shadow stack, fresh buffer caches),
   then checks that nothing is left allocated. */
static void
in_thread(void (*fn)(void))
{
    pthread_t th;
    thread_case = fn;
    if (pthread_create(&th, NULL, case_thread, NULL) != 0) {
        fprintf(stderr, "pthread_create failed\n");
        exit(1);
    }
    pthread_join(th, NULL);
    CHECK(atomic_load(&live) == 0);
}

static void
case_into_parked(void)
{
    in_thread(into_parked);
}

static void
case_out_of_greenlet(void)
{
    in_thread(out_of_greenlet);
}

static void
case_lost_results(void)
{
    in_thread(lost_results);
}

int
main(void)
{
    cg_set_allocator(t_malloc, t_free, NULL);
    rounds = light_mode() ? LIGHT_ROUNDS : ROUNDS;
    run_case("a switch into a parked copy-stack greenlet refused (ENOMEM) over and "
             "over: nothing changes, it then succeeds",
             case_into_parked);
    run_case("a switch out of a copy-stack greenlet refused (ENOMEM) over and over: "
             "nothing changes, it then succeeds",
             case_out_of_greenlet);
    run_case("finished greenlets whose parent cannot be resumed for lack of memory, "
             "over and over: each result arrives in main as lost",
             case_lost_results);
    return check_done();
}
