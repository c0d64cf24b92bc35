/* Allocation failures (cg_set_allocator): an allocator that fails the Nth
   allocation, for N = 1, 2, 3, ... until a run needs fewer than N, runs
   each scenario in a fresh thread.  Every call must succeed or say
   CG_ENOMEM (and only when an allocation really failed), a refused call
   must change nothing, nothing may crash, and once the thread has exited
   and its leftovers are destroyed no block may be outstanding. */
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <string.h>

#include "check.h"

#define NOINLINE __attribute__((noinline))

/* ---- the failing, counting allocator ------------------------------------ */

#define HDR 16
static const uint64_t magic_live = 0xa110ca7edb10c0deu;
static const uint64_t magic_freed = 0xf4eedf4eedf4eedfu;

static atomic_long n_allocs;     /* allocation calls since the run began */
static atomic_long fail_at;      /* the one that fails; 0: none */
static atomic_long injected;     /* failures injected so far in this run */
static atomic_long outstanding;  /* blocks handed out and not yet freed */
static atomic_long bad_frees;    /* frees of blocks we never handed out */

static void *
fa_malloc(size_t size, void *ctx)
{
    (void)ctx;
    long n = atomic_fetch_add(&n_allocs, 1) + 1;
    if (n == atomic_load(&fail_at)) {
        atomic_fetch_add(&injected, 1);
        return NULL;
    }
    unsigned char *p = malloc(size + HDR);
    if (p == NULL) {
        return NULL;
    }
    memcpy(p, &magic_live, sizeof magic_live);
    atomic_fetch_add(&outstanding, 1);
    return p + HDR;
}

static void
fa_free(void *ptr, void *ctx)
{
    (void)ctx;
    unsigned char *p = (unsigned char *)ptr - HDR;
    uint64_t m;
    memcpy(&m, p, sizeof m);
    if (m != magic_live) {
        atomic_fetch_add(&bad_frees, 1);
        return;
    }
    memcpy(p, &magic_freed, sizeof magic_freed);
    atomic_fetch_sub(&outstanding, 1);
    free(p);
}

/* ---- status checks ------------------------------------------------------ */

static long bailouts;   /* error paths taken in this run */

/* A call where an injected failure may surface: CG_OK, or CG_ENOMEM if an
   allocation failed during this very call.  Returns 1 for CG_OK. */
static int
tolerate(cg_status st, long inj_before, const char *expr, int line)
{
    if (st == CG_OK) {
        return 1;
    }
    if (st == CG_ENOMEM && atomic_load(&injected) > inj_before) {
        bailouts++;
        return 0;
    }
    fprintf(stderr, "%s:%d: %s returned %s (allocation %ld failing)\n", __FILE__,
            line, expr, cg_strerror(st), atomic_load(&fail_at));
    check_case_failures++;
    return 0;
}

#define TRY(st, expr)                                                       \
    do {                                                                    \
        long try_inj_ = atomic_load(&injected);                             \
        (st) = (expr);                                                      \
        (void)tolerate((st), try_inj_, #expr, __LINE__);                    \
    } while (0)

/* A finished greenlet's result that could not reach its receiver for
   lack of memory and came here instead (cg_run_fn): only when an injected
   failure happened in this run.  Returns 1 for such a message. */
static int
lost_here(cg_msg m, int line)
{
    if (m.kind != CG_LOST_VALUE && m.kind != CG_LOST_ERROR) {
        return 0;
    }
    if (atomic_load(&injected) == 0) {
        fprintf(stderr, "%s:%d: a lost result arrived with no allocation failing\n",
                __FILE__, line);
        check_case_failures++;
    }
    bailouts++;
    return 1;
}
#define LOST_HERE(m) lost_here((m), __LINE__)

#define ERR_NOMEM ((void *)(uintptr_t)0xe770)
static const cg_msg bail_msg = {CG_ERROR, ERR_NOMEM};

/* Destroys g, trying again while the kill switch runs out of memory. */
static void
destroy_retry(cg_greenlet *g)
{
    cg_status st = CG_ENOMEM;
    for (int tries = 0; tries < 4 && st == CG_ENOMEM; tries++) {
        cg_state before = cg_get_state(g);
        TRY(st, cg_destroy(g));
        if (st == CG_ENOMEM) {
            CHECK(cg_get_state(g) == before);   /* refused: nothing changed */
        }
    }
    CHECK_OK(st);
}

/* A library operation done `depth` frames down the caller's stack, so that
   in copy mode the caller's slice below a target's region is large and the
   switch has to save it (an allocation). */
enum op { OP_SEND, OP_KILL, OP_DESTROY };

static NOINLINE cg_status
deep_op(int depth, enum op op, cg_greenlet *g, cg_msg msg, cg_msg *got)
{
    volatile uintptr_t pad[24];
    cg_status st;
    fill_signature(pad, 24, (uintptr_t)depth);
    if (depth > 0) {
        st = deep_op(depth - 1, op, g, msg, got);
    } else if (op == OP_SEND) {
        TRY(st, cg_send(g, msg, got));
    } else if (op == OP_KILL) {
        long inj = atomic_load(&injected);
        st = cg_kill(g, got);
        if (st != CG_EALIVE) {   /* the caller checks for that one */
            (void)tolerate(st, inj, "cg_kill(g, got)", __LINE__);
        }
    } else {
        TRY(st, cg_destroy(g));
    }
    CHECK(signature_intact(pad, 24, (uintptr_t)depth));
    return st;
}

/* ---- scenario runner ---------------------------------------------------- */

typedef void (*scenario_fn)(void);

static scenario_fn scenario;
static int scenario_finished;
static cg_greenlet *leftovers[64];   /* destroyed from the main thread */
static int nleft;

static void *
scenario_thread(void *arg)
{
    (void)arg;
    /* The thread state is the first allocation: if it fails, there is no
       current greenlet, and the next call tries again. */
    cg_greenlet *me = cg_current();
    if (me == NULL) {
        CHECK(atomic_load(&injected) == 1);
        me = cg_current();
        CHECK(me != NULL);
        if (me == NULL) {
            return NULL;
        }
    }
    CHECK(cg_is_main(me));
    scenario();
    CHECK(cg_current() == me);
    scenario_finished = 1;
    return NULL;
}

/* One run with allocation `n` failing (0: none).  Returns the number of
   failures injected. */
static long
run_once(long n)
{
    pthread_t th;
    atomic_store(&n_allocs, 0);
    atomic_store(&injected, 0);
    atomic_store(&fail_at, n);
    scenario_finished = 0;
    bailouts = 0;
    nleft = 0;
    if (pthread_create(&th, NULL, scenario_thread, NULL) != 0) {
        fprintf(stderr, "pthread_create failed\n");
        exit(1);
    }
    pthread_join(th, NULL);
    for (int i = 0; i < nleft; i++) {
        CHECK(cg_thread_exited(leftovers[i]) == 1);
        CHECK_OK(cg_destroy(leftovers[i]));
    }
    long inj = atomic_load(&injected);
    CHECK(inj <= 1);
    CHECK(scenario_finished);
    if (atomic_load(&outstanding) != 0) {
        fprintf(stderr, "  %ld blocks leaked\n", atomic_load(&outstanding));
    }
    CHECK(atomic_load(&outstanding) == 0);
    CHECK(atomic_load(&bad_frees) == 0);
    if (n == 0) {
        CHECK(inj == 0 && bailouts == 0);   /* nothing to bail out of */
    }
    atomic_store(&outstanding, 0);
    atomic_store(&bad_frees, 0);
    return inj;
}

static void
sweep(const char *name, scenario_fn fn)
{
    long n;
    long total;
    int failed_runs = 0;
    char suffix[80];
    scenario = fn;
    run_once(0);
    total = atomic_load(&n_allocs);
    if (check_case_failures) {
        fprintf(stderr, "  (%s: without any failing allocation)\n", name);
    }
    for (n = 1; n < 100000; n++) {
        int before = check_case_failures;
        long inj = run_once(n);
        if (check_case_failures != before && ++failed_runs <= 10) {
            fprintf(stderr, "  (%s: with allocation %ld of %ld failing)\n", name,
                    n, total);
        }
        if (inj == 0) {
            break;      /* the run needed fewer than n allocations */
        }
    }
    snprintf(suffix, sizeof suffix, " [allocation 1..%ld of %ld failing]", n - 1,
             total);
    report(name, suffix);
}

/* ---- the thread state itself -------------------------------------------- */

struct first_result {
    cg_greenlet *cur, *main_g;
    int again_ok;               /* the retry gave a main greenlet */
    cg_status create_st;
    cg_greenlet *out;
    long outstanding_after;
    int retry;
};

static void *
first_alloc_thread(void *arg)
{
    struct first_result *r = arg;
    r->cur = cg_current();
    r->outstanding_after = atomic_load(&outstanding);
    if (r->retry) {
        /* (checked here: the greenlet is freed when the thread exits) */
        cg_greenlet *again = cg_current();
        r->again_ok = again != NULL && cg_is_main(again) && cg_main() == again;
    }
    return NULL;
}

static void
run_thread(void *(*fn)(void *), void *arg)
{
    pthread_t th;
    if (pthread_create(&th, NULL, fn, arg) != 0) {
        exit(1);
    }
    pthread_join(th, NULL);
}

static void
case_thread_state_failure(void)
{
    /* Allocation 1 is the thread state, 2 its main greenlet. */
    for (long n = 1; n <= 2; n++) {
        for (int retry = 0; retry < 2; retry++) {
            struct first_result r = {0};
            r.retry = retry;
            atomic_store(&n_allocs, 0);
            atomic_store(&injected, 0);
            atomic_store(&fail_at, n);
            run_thread(first_alloc_thread, &r);
            CHECK(r.cur == NULL);
            CHECK(r.outstanding_after == 0);   /* the half-made state is freed */
            CHECK(atomic_load(&injected) == 1);
            if (retry) {
                CHECK(r.again_ok);
            }
            CHECK(atomic_load(&outstanding) == 0);
        }
    }
}

/* cg_create as a thread's first call, its thread state failing. */
static cg_msg
nop_run(cg_greenlet *self, cg_msg first)
{
    (void)self;
    return first;
}

static void *
create_first_thread(void *arg)
{
    struct first_result *r = arg;
    cg_options o = opts_for(CG_STACK_DEDICATED);
    r->out = (cg_greenlet *)(uintptr_t)0xbad0;
    r->create_st = cg_create(&r->out, nop_run, NULL, &o);
    r->main_g = cg_main();   /* allocations 2 and 3 succeed */
    return NULL;
}

static void
case_create_thread_state_failure(void)
{
    struct first_result r = {0};
    atomic_store(&n_allocs, 0);
    atomic_store(&injected, 0);
    atomic_store(&fail_at, 1);
    run_thread(create_first_thread, &r);
    CHECK_ST(r.create_st, CG_ENOMEM);
    CHECK(r.out == (cg_greenlet *)(uintptr_t)0xbad0);
    CHECK(r.main_g != NULL);
    CHECK(atomic_load(&outstanding) == 0);
}

/* ---- scenario: values through nested parents ----------------------------- */

#define NEST_DEPTH 4
static cg_greenlet *nest_bottom;
static int nest_base;

/* Level k creates level k+1 (alternating stack modes) as its child and
   starts it; the deepest switches straight to main, which resumes it; the
   result climbs back up, each level adding one.  An error anywhere comes
   back as a CG_ERROR result; a CG_EXIT (destroy) cleans up below. */
static cg_msg
nest_run(cg_greenlet *self, cg_msg first)
{
    uintptr_t level = I(first.value);
    volatile uintptr_t sig[20];
    cg_status st;
    cg_msg m;
    fill_signature(sig, 20, level);
    CHECK(first.kind == CG_VALUE);
    if (level == NEST_DEPTH) {
        nest_bottom = self;
        TRY(st, cg_switch(cg_main(), V(0xb0 + level), &m));
        if (st != CG_OK) {
            return bail_msg;
        }
        CHECK(signature_intact(sig, 20, level));
        if (m.kind != CG_VALUE) {
            return (cg_msg){CG_VALUE, NULL};
        }
        return (cg_msg){CG_VALUE, V(I(m.value) + 1)};
    }
    cg_options o = opts_for((level + (uintptr_t)nest_base) % 2 ? CG_STACK_DEDICATED
                                                               : CG_STACK_COPY);
    cg_greenlet *child;
    TRY(st, cg_create(&child, nest_run, NULL, &o));
    if (st != CG_OK) {
        return bail_msg;
    }
    CHECK(cg_parent(child) == self);
    TRY(st, cg_switch(child, V(level + 1), &m));
    if (st != CG_OK) {
        CHECK(cg_get_state(child) == CG_NOT_STARTED);
        destroy_retry(child);
        return bail_msg;
    }
    CHECK(signature_intact(sig, 20, level));
    if (LOST_HERE(m)) {
        destroy_retry(child);
        return bail_msg;
    }
    if (m.kind != CG_VALUE) {
        /* An error from below, or our own destruction. */
        destroy_retry(child);
        return m.kind == CG_ERROR ? m : (cg_msg){CG_VALUE, NULL};
    }
    CHECK(cg_get_state(child) == CG_DEAD);
    destroy_retry(child);
    return (cg_msg){CG_VALUE, V(I(m.value) + 1)};
}

static void
scen_nested(void)
{
    for (nest_base = 0; nest_base < 2; nest_base++) {
        cg_options o = opts_for(nest_base ? CG_STACK_DEDICATED : CG_STACK_COPY);
        cg_greenlet *a;
        cg_status st;
        cg_msg m;
        TRY(st, cg_create(&a, nest_run, NULL, &o));
        if (st != CG_OK) {
            continue;
        }
        nest_bottom = NULL;
        st = deep_op(3, OP_SEND, a, (cg_msg){CG_VALUE, V(1)}, &m);
        if (st != CG_OK || m.kind == CG_ERROR) {
            destroy_retry(a);
            continue;
        }
        CHECK(m.kind == CG_VALUE && I(m.value) == 0xb0 + NEST_DEPTH);
        CHECK(nest_bottom != NULL && cg_get_state(nest_bottom) == CG_SUSPENDED);
        st = deep_op(5, OP_SEND, nest_bottom, (cg_msg){CG_VALUE, V(1000)}, &m);
        if (st != CG_OK) {
            CHECK(cg_get_state(nest_bottom) == CG_SUSPENDED);
            destroy_retry(a);
            continue;
        }
        if (m.kind == CG_ERROR || LOST_HERE(m)) {
            destroy_retry(a);
            continue;
        }
        CHECK(m.kind == CG_VALUE && I(m.value) == 1000 + NEST_DEPTH);
        CHECK(cg_get_state(a) == CG_DEAD);
        destroy_retry(a);
    }
}

/* ---- scenario: finishing into a dead parent ------------------------------ */

static cg_greenlet *dp_child;
static int dp_combo;

/* Parks straight into main; when resumed, finishes with a value or an
   error (its parent is dead by then). */
static cg_msg
dp_child_run(cg_greenlet *self, cg_msg first)
{
    (void)self;
    volatile uintptr_t sig[16];
    cg_status st;
    cg_msg m;
    fill_signature(sig, 16, 77);
    TRY(st, cg_switch(cg_main(), V(0xc1), &m));
    if (st != CG_OK) {
        return bail_msg;
    }
    CHECK(signature_intact(sig, 16, 77));
    if (m.kind != CG_VALUE) {
        return (cg_msg){CG_VALUE, NULL};
    }
    return (cg_msg){I(first.value) ? CG_ERROR : CG_VALUE, V(0xc2)};
}

static cg_msg
dp_parent_run(cg_greenlet *self, cg_msg first)
{
    cg_options o = opts_for(dp_combo & 2 ? CG_STACK_DEDICATED : CG_STACK_COPY);
    cg_status st;
    cg_msg m;
    TRY(st, cg_create(&dp_child, dp_child_run, self, &o));
    if (st != CG_OK) {
        dp_child = NULL;
        return bail_msg;
    }
    TRY(st, cg_switch(dp_child, first.value, &m));
    if (st != CG_OK) {
        return bail_msg;        /* main destroys dp_child */
    }
    if (m.kind == CG_ERROR) {
        return m;               /* the child bailed out and finished here */
    }
    if (m.kind == CG_EXIT) {
        return (cg_msg){CG_VALUE, NULL};
    }
    return (cg_msg){CG_VALUE, V(0xb1)};
}

static void
scen_dead_parent(void)
{
    for (dp_combo = 0; dp_combo < 8; dp_combo++) {
        cg_options o = opts_for(dp_combo & 1 ? CG_STACK_DEDICATED : CG_STACK_COPY);
        int error_result = (dp_combo & 4) != 0;
        cg_greenlet *p;
        cg_status st;
        cg_msg m;
        dp_child = NULL;
        TRY(st, cg_create(&p, dp_parent_run, NULL, &o));
        if (st != CG_OK) {
            continue;
        }
        /* p starts the child, which parks into main. */
        st = deep_op(2, OP_SEND, p, (cg_msg){CG_VALUE, V(error_result)}, &m);
        if (st != CG_OK || m.kind == CG_ERROR) {
            goto cleanup;
        }
        CHECK(I(m.value) == 0xc1);
        /* p finishes; its child is still suspended. */
        st = deep_op(4, OP_SEND, p, (cg_msg){CG_VALUE, V(0)}, &m);
        if (st != CG_OK) {
            CHECK(cg_get_state(p) == CG_SUSPENDED);
            goto cleanup;
        }
        CHECK(m.kind == CG_VALUE && I(m.value) == 0xb1);
        CHECK(cg_get_state(p) == CG_DEAD);
        CHECK(cg_get_state(dp_child) == CG_SUSPENDED && cg_parent(dp_child) == p);
        /* The child's result skips its dead parent and comes here. */
        st = deep_op(1, OP_SEND, dp_child, (cg_msg){CG_VALUE, V(1)}, &m);
        if (st != CG_OK) {
            CHECK(cg_get_state(dp_child) == CG_SUSPENDED);
            goto cleanup;
        }
        CHECK(m.kind == (error_result ? CG_ERROR : CG_VALUE) && I(m.value) == 0xc2);
        CHECK(cg_get_state(dp_child) == CG_DEAD);
    cleanup:
        if (dp_child != NULL) {
            destroy_retry(dp_child);
        }
        destroy_retry(p);
    }
}

/* ---- scenario: throw, kill, destroy -------------------------------------- */

/* Parks into its parent; finishes with what it was resumed with, plus one
   (errors as values).  On an exit message it finishes with 0xdd, unless
   first.value asks it to park once more first (for CG_EALIVE). */
static cg_msg
park_run(cg_greenlet *self, cg_msg first)
{
    volatile uintptr_t sig[16];
    cg_status st;
    cg_msg m;
    int stubborn = I(first.value) == 1;
    fill_signature(sig, 16, 5);
    for (;;) {
        TRY(st, cg_switch(cg_parent(self), NULL, &m));
        if (st != CG_OK) {
            return bail_msg;
        }
        CHECK(signature_intact(sig, 16, 5));
        if (m.kind == CG_EXIT && stubborn) {
            stubborn = 0;
            continue;
        }
        break;
    }
    if (m.kind == CG_EXIT) {
        return (cg_msg){CG_VALUE, V(0xdd)};
    }
    return (cg_msg){CG_VALUE, V(I(m.value) + 1)};
}

/* A suspended greenlet, or NULL if making one ran out of memory. */
static cg_greenlet *
parked(cg_stack_mode mode, cg_greenlet *parent, int stubborn)
{
    cg_options o = opts_for(mode);
    cg_greenlet *g;
    cg_status st;
    TRY(st, cg_create(&g, park_run, parent, &o));
    if (st != CG_OK) {
        return NULL;
    }
    cg_msg m;
    /* park_run parks into its parent: start it under us, then move it. */
    CHECK_OK(cg_set_parent(g, cg_current()));
    TRY(st, cg_switch(g, V(stubborn), &m));
    if (st != CG_OK) {
        CHECK(cg_get_state(g) == CG_NOT_STARTED);
        destroy_retry(g);
        return NULL;
    }
    if (m.kind == CG_ERROR) {
        CHECK(m.value == ERR_NOMEM);    /* could not park: it finished */
        CHECK(cg_get_state(g) == CG_DEAD);
        destroy_retry(g);
        return NULL;
    }
    if (parent != NULL) {
        CHECK_OK(cg_set_parent(g, parent));
    }
    CHECK(cg_get_state(g) == CG_SUSPENDED);
    return g;
}

static void
scen_throw_kill_destroy(void)
{
    for (int mi = 0; mi < 2; mi++) {
        cg_stack_mode mode = mi ? CG_STACK_DEDICATED : CG_STACK_COPY;
        cg_options o = opts_for(mode);
        cg_greenlet *g, *p, *n;
        cg_status st;
        cg_msg m;

        /* Throw into a suspended greenlet: its switch returns the error. */
        if ((g = parked(mode, NULL, 0)) != NULL) {
            st = deep_op(6, OP_SEND, g, (cg_msg){CG_ERROR, V(40)}, &m);
            if (st == CG_OK) {
                CHECK(m.kind == CG_VALUE && I(m.value) == 41);
                CHECK(cg_get_state(g) == CG_DEAD);
            } else {
                CHECK(cg_get_state(g) == CG_SUSPENDED);
            }
            destroy_retry(g);
        }

        /* Throw into a not-started greenlet whose parent is this one: it
           dies and the error comes straight back. */
        TRY(st, cg_create(&n, park_run, NULL, &o));
        if (st == CG_OK) {
            TRY(st, cg_throw(n, V(50), &m));
            if (st == CG_OK) {
                CHECK(m.kind == CG_ERROR && I(m.value) == 50);
                CHECK(cg_get_state(n) == CG_DEAD);
            }
            destroy_retry(n);
        }

        /* Throw into a not-started greenlet whose parent is suspended: the
           parent receives the error (a switch that may need memory). */
        if ((p = parked(CG_STACK_COPY, NULL, 0)) != NULL) {
            TRY(st, cg_create(&n, park_run, p, &o));
            if (st == CG_OK) {
                st = deep_op(8, OP_SEND, n, (cg_msg){CG_ERROR, V(60)}, &m);
                if (st == CG_OK) {
                    CHECK(m.kind == CG_VALUE && I(m.value) == 61);
                    CHECK(cg_get_state(n) == CG_DEAD);
                    CHECK(cg_get_state(p) == CG_DEAD);
                } else {
                    /* Refused: nothing changed. */
                    CHECK(cg_get_state(n) == CG_NOT_STARTED);
                    CHECK(cg_get_state(p) == CG_SUSPENDED);
                }
                destroy_retry(n);
            }
            destroy_retry(p);
        }

        /* Kill: the exit message makes it finish; the result comes here and
           its parent is put back. */
        if ((p = parked(CG_STACK_COPY, NULL, 0)) != NULL) {
            if ((g = parked(mode, p, 0)) != NULL) {
                m = (cg_msg){CG_EXIT, V(0x5e)};
                st = deep_op(6, OP_KILL, g, (cg_msg){CG_VALUE, NULL}, &m);
                if (st == CG_OK) {
                    CHECK(m.kind == CG_VALUE && I(m.value) == 0xdd);
                    CHECK(cg_get_state(g) == CG_DEAD);
                } else {
                    CHECK(m.kind == CG_EXIT && I(m.value) == 0x5e);
                    CHECK(cg_get_state(g) == CG_SUSPENDED);
                }
                CHECK(cg_parent(g) == p);
                destroy_retry(g);
            }
            destroy_retry(p);
        }

        /* A greenlet that parks again when killed: CG_EALIVE, still alive;
           destroying it then finishes it. */
        if ((g = parked(mode, NULL, 1)) != NULL) {
            st = deep_op(3, OP_KILL, g, (cg_msg){CG_VALUE, NULL}, &m);
            if (st == CG_EALIVE) {
                CHECK(cg_get_state(g) == CG_SUSPENDED);
                CHECK(m.kind == CG_VALUE && m.value == NULL);
            } else {
                CHECK_ST(st, CG_ENOMEM);
                CHECK(cg_get_state(g) == CG_SUSPENDED);
            }
            destroy_retry(g);
        }

        /* Destroy a suspended greenlet (a kill switch). */
        if ((g = parked(mode, NULL, 0)) != NULL) {
            st = deep_op(7, OP_DESTROY, g, (cg_msg){CG_VALUE, NULL}, NULL);
            if (st != CG_OK) {
                CHECK(cg_get_state(g) == CG_SUSPENDED);
                destroy_retry(g);
            }
        }
    }
}

/* ---- scenario: deep copy-stack slices, refused switches retried ---------- */

#define PP_ROUNDS 3
static cg_greenlet *pp[2];
static uintptr_t pp_gen[2];     /* the signature each bottom frame holds */

/* Switches to `target`; if memory runs out, changes its own locals (as a
   program may between attempts) and tries again. */
static int
switch_retry(int who, volatile uintptr_t *buf, int n, cg_greenlet *target,
             void *value, cg_msg *m)
{
    for (int tries = 0; tries < 3; tries++) {
        cg_status st;
        TRY(st, cg_switch(target, value, m));
        if (st == CG_OK) {
            return 1;
        }
        pp_gen[who]++;
        fill_signature(buf, n, pp_gen[who]);
    }
    return 0;
}

static NOINLINE int
pp_deep(int who, int depth)
{
    volatile uintptr_t frame[32];
    int ok = 1;
    fill_signature(frame, 32, (uintptr_t)(who * 1000 + depth));
    if (depth > 0) {
        ok = pp_deep(who, depth - 1);
    } else {
        /* The bottom: ping-pong with the other one, then go to main. */
        volatile uintptr_t buf[64];
        cg_msg m;
        fill_signature(buf, 64, pp_gen[who]);
        /* pp[1] goes to main first, while pp[0]'s bytes are still on the
           thread stack above it: that switch saves two slices. */
        for (int round = 0; round < PP_ROUNDS - who && ok; round++) {
            ok = switch_retry(who, buf, 64, pp[!who], V(!who), &m);
            if (ok) {
                ok = signature_intact(buf, 64, pp_gen[who]) && m.kind == CG_VALUE;
                CHECK(signature_intact(buf, 64, pp_gen[who]));
            }
        }
        if (ok) {
            ok = switch_retry(who, buf, 64, cg_main(), V(0xf0 + who), &m);
            if (ok) {
                CHECK(signature_intact(buf, 64, pp_gen[who]));
                ok = m.kind == CG_VALUE;
            }
        }
    }
    CHECK(signature_intact(frame, 32, (uintptr_t)(who * 1000 + depth)));
    return ok;
}

static cg_msg
pp_run(cg_greenlet *self, cg_msg first)
{
    (void)self;
    int who = (int)I(first.value);
    int ok = pp_deep(who, 40 + 25 * who);
    return ok ? (cg_msg){CG_VALUE, V(0xe0 + who)} : bail_msg;
}

static void
scen_copy_slices(void)
{
    cg_options o = opts_for(CG_STACK_COPY);
    cg_status st;
    cg_msg m;
    pp[0] = pp[1] = NULL;
    pp_gen[0] = 11;
    pp_gen[1] = 22;
    TRY(st, cg_create(&pp[0], pp_run, NULL, &o));
    if (st != CG_OK) {
        return;
    }
    TRY(st, cg_create(&pp[1], pp_run, NULL, &o));
    if (st != CG_OK) {
        destroy_retry(pp[0]);
        return;
    }
    /* pp[0] starts pp[1] (deeper still); they switch back and forth, then
       pp[1] comes to main (saving both slices); main resumes pp[0], which
       comes to main too; then each is resumed to finish. */
    m.kind = CG_ERROR;
    st = deep_op(2, OP_SEND, pp[0], (cg_msg){CG_VALUE, V(0)}, &m);
    if (st == CG_OK && m.kind == CG_VALUE) {
        CHECK(I(m.value) == 0xf1);
        CHECK(cg_stack_saved(pp[0]) > 0 && cg_stack_saved(pp[1]) > 0);
        /* pp[1] is parked at the bottom of its recursion; pp[0] at the
           bottom of its own, waiting for pp[1]. */
        st = deep_op(9, OP_SEND, pp[0], (cg_msg){CG_VALUE, NULL}, &m);
        if (st == CG_OK && m.kind == CG_VALUE) {
            CHECK(I(m.value) == 0xf0);
            st = deep_op(1, OP_SEND, pp[1], (cg_msg){CG_VALUE, NULL}, &m);
            if (st == CG_OK && m.kind == CG_VALUE) {
                CHECK(I(m.value) == 0xe1);
                st = deep_op(4, OP_SEND, pp[0], (cg_msg){CG_VALUE, NULL}, &m);
                if (st == CG_OK && m.kind == CG_VALUE) {
                    CHECK(I(m.value) == 0xe0);
                }
            }
        }
    }
    destroy_retry(pp[1]);
    destroy_retry(pp[0]);
}

/* ---- scenario: a finish whose delivery must save slices ------------------ */

static cg_msg
finisher_run(cg_greenlet *self, cg_msg first)
{
    (void)self;
    return (cg_msg){CG_VALUE, V(I(first.value) + 100)};
}

static void
scen_finish_saves(void)
{
    for (int mi = 0; mi < 2; mi++) {
        cg_options o = opts_for(mi ? CG_STACK_DEDICATED : CG_STACK_COPY);
        cg_greenlet *p, *f;
        cg_status st;
        cg_msg m;
        /* p: a copy greenlet parked with its slice on the heap.  f finishes
           into it while main is deep below p's region, so the delivery
           must first save main's bytes there; if it cannot, the result
           is lost and comes to main (p's parent), p still waiting. */
        if ((p = parked(CG_STACK_COPY, NULL, 0)) == NULL) {
            continue;
        }
        TRY(st, cg_create(&f, finisher_run, p, &o));
        if (st == CG_OK) {
            st = deep_op(12, OP_SEND, f, (cg_msg){CG_VALUE, V(5)}, &m);
            if (st == CG_OK && LOST_HERE(m)) {
                CHECK(m.kind == CG_LOST_VALUE && I(m.value) == 105);
                CHECK(cg_get_state(f) == CG_DEAD && cg_get_state(p) == CG_SUSPENDED);
            } else if (st == CG_OK) {
                /* f's 105 went to p, which finished with 106 into main. */
                CHECK(m.kind == CG_VALUE && I(m.value) == 106);
                CHECK(cg_get_state(f) == CG_DEAD && cg_get_state(p) == CG_DEAD);
            } else {
                CHECK(cg_get_state(f) == CG_NOT_STARTED);
            }
            destroy_retry(f);
        }
        destroy_retry(p);
    }
}

/* ---- scenario: greenlets left behind at thread exit ---------------------- */

static cg_msg
left_run(cg_greenlet *self, cg_msg first)
{
    cg_status st;
    if (I(first.value) > 0) {
        /* Start a child of the other mode, which parks into us. */
        cg_options o = opts_for(I(first.value) == 1 ? CG_STACK_COPY
                                                    : CG_STACK_DEDICATED);
        cg_greenlet *c;
        TRY(st, cg_create(&c, left_run, NULL, &o));
        if (st == CG_OK) {
            leftovers[nleft++] = c;
            TRY(st, cg_switch(c, V(0), NULL));
        }
    }
    TRY(st, cg_switch(cg_parent(self), NULL, NULL));
    if (st != CG_OK) {
        return bail_msg;    /* could not park: just finish */
    }
    CHECK(!"a greenlet of an exited thread ran again");
    return (cg_msg){CG_VALUE, NULL};
}

static void
scen_leftovers(void)
{
    for (int i = 0; i < 6; i++) {
        cg_options o = opts_for(i % 2 ? CG_STACK_DEDICATED : CG_STACK_COPY);
        cg_greenlet *g;
        cg_status st;
        TRY(st, cg_create(&g, left_run, NULL, &o));
        if (st != CG_OK) {
            continue;
        }
        leftovers[nleft++] = g;
        if (i < 4) {   /* the last two stay not started */
            uintptr_t child = i / 2 == 1 ? 1 + (uintptr_t)i % 2 : 0;
            (void)deep_op(i * 3, OP_SEND, g, (cg_msg){CG_VALUE, V(child)}, NULL);
        }
    }
}

int
main(void)
{
    /* Before any greenlet exists (the main thread never makes one). */
    cg_set_allocator(fa_malloc, fa_free, NULL);

    run_case("cg_current is NULL when the thread state allocation fails; "
             "nothing leaks; the next call retries",
             case_thread_state_failure);
    run_case("cg_create as a thread's first call: CG_ENOMEM, *out untouched",
             case_create_thread_state_failure);
    sweep("ENOMEM through nested parents (both modes): refused calls change "
          "nothing, no leak",
          scen_nested);
    sweep("ENOMEM while finishing into a dead parent's ancestor", scen_dead_parent);
    sweep("ENOMEM in throw/kill/destroy: refused calls change nothing",
          scen_throw_kill_destroy);
    sweep("ENOMEM saving deep copy-stack slices: switch can be retried, "
          "locals survive",
          scen_copy_slices);
    sweep("ENOMEM when a finish must save slices: the result is lost to "
          "the next receiver up",
          scen_finish_saves);
    sweep("ENOMEM with greenlets left to thread exit: destroyed from "
          "another thread, no leak",
          scen_leftovers);
    return check_done();
}
