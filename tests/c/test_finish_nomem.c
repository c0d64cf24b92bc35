/* Finishing when the result cannot reach its receiver (cg_run_fn in
   cgreenlet.h): resuming the receiver needs memory to save other
   greenlets' slices and the allocator keeps failing -- forever, from the
   moment the run function returns -- or a not-started copy-stack receiver
   has no thread stack left to start on.  The finish must neither wait nor
   loop: the result arrives as CG_LOST_VALUE / CG_LOST_ERROR at the next
   greenlet up the parent chain that can be resumed without allocating,
   else at the lowest slice on the thread stack; the receiver that could
   not take it stays as it was (or, not started, is discarded).  Each case
   runs in a fresh thread (fresh buffer caches), and no block is left once
   everything is destroyed. */
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <string.h>

#include "check.h"

#include "switchable_alloc.h"

static void (*thread_case)(int variant);
static int thread_variant;

static void *
case_thread(void *arg)
{
    (void)arg;
    thread_case(thread_variant);
    return NULL;
}

/* Runs fn(variant) in a new thread with a `stack`-byte stack (0: the
   default), then checks that nothing is left allocated. */
static void
in_thread(void (*fn)(int), int variant, size_t stack)
{
    pthread_attr_t attr;
    pthread_t th;
    thread_case = fn;
    thread_variant = variant;
    atomic_store(&failures, 0);
    atomic_store(&fail_all, 0);
    pthread_attr_init(&attr);
    if (stack) {
        pthread_attr_setstacksize(&attr, stack);
    }
    if (pthread_create(&th, &attr, case_thread, NULL) != 0) {
        fprintf(stderr, "pthread_create failed\n");
        exit(1);
    }
    pthread_join(th, NULL);
    pthread_attr_destroy(&attr);
    atomic_store(&fail_all, 0);
    if (atomic_load(&live) != 0) {
        fprintf(stderr, "  %ld blocks left\n", atomic_load(&live));
    }
    CHECK(atomic_load(&live) == 0);
}

/* ---- helpers ------------------------------------------------------------ */



static cg_kind finisher_kind;

/* Makes memory unavailable for good, then finishes with its first value
   + 100. */
static cg_msg
finisher_run(cg_greenlet *self, cg_msg first)
{
    (void)self;
    atomic_store(&fail_all, 1);
    return (cg_msg){finisher_kind, V(I(first.value) + 100)};
}

/* A copy-stack greenlet parked in main with its whole slice on the heap
   (main's return saved it), started at main's current depth. */
static cg_greenlet *
parked(uintptr_t key)
{
    cg_greenlet *p;
    cg_options o = opts_for(CG_STACK_COPY);
    CHECK_OK(cg_create(&p, park_then_add_one, NULL, &o));
    CHECK_OK(cg_switch(p, V(key), NULL));
    CHECK(cg_get_state(p) == CG_SUSPENDED && cg_stack_saved(p) > 0);
    return p;
}

/* ---- the receiver's slice cannot be made room for ---------------------- */

/* f finishes into p (parked, slice on the heap) while main is 16 KiB below
   p's region: resuming p means saving main's bytes there, and no memory
   is left.  variant bit 0: f on a dedicated stack; bit 1: f finishes with
   an error; bit 2: a not-started greenlet n sits between p and main. */
static void
case_receiver_needs_memory(int variant)
{
    cg_options fo = opts_for(variant & 1 ? CG_STACK_DEDICATED : CG_STACK_COPY);
    cg_greenlet *p = parked(7), *f, *n = NULL;
    cg_msg m;
    finisher_kind = variant & 2 ? CG_ERROR : CG_VALUE;
    if (variant & 4) {
        CHECK_OK(cg_create(&n, echo_first, NULL, NULL));
        CHECK_OK(cg_set_parent(p, n));
    }
    CHECK_OK(cg_create(&f, finisher_run, p, &fo));
    CHECK_OK(deep_send(16, f, (cg_msg){CG_VALUE, V(5)}, &m));
    /* The result came here, marked lost; p still waits, n never ran. */
    CHECK(atomic_load(&failures) > 0);
    CHECK(m.kind == (variant & 2 ? CG_LOST_ERROR : CG_LOST_VALUE));
    CHECK(I(m.value) == 105);
    CHECK(cg_get_state(f) == CG_DEAD);
    CHECK(cg_get_state(p) == CG_SUSPENDED);
    if (n != NULL) {
        CHECK(cg_get_state(n) == CG_NOT_STARTED);
    }
    /* With memory back, p resumes intact and finishes (into n, then
       here, when n is there: n echoes its first message). */
    atomic_store(&fail_all, 0);
    CHECK_OK(cg_switch(p, V(40), &m));
    CHECK(m.kind == CG_VALUE && I(m.value) == 41);
    CHECK(cg_get_state(p) == CG_DEAD);
    CHECK_OK(cg_destroy(f));
    CHECK_OK(cg_destroy(p));
    if (n != NULL) {
        CHECK(cg_get_state(n) == CG_DEAD);
        CHECK_OK(cg_destroy(n));
    }
}

/* ---- a dedicated ancestor takes the lost result -------------------------- */

static cg_msg d_got;

/* Parks in main; records what it is resumed with and hands main 0xd0. */
static cg_msg
dedicated_ancestor_run(cg_greenlet *self, cg_msg first)
{
    (void)self;
    (void)first;
    CHECK_OK(cg_switch(cg_main(), NULL, &d_got));
    CHECK_OK(cg_switch(cg_main(), V(0xd0), NULL));
    return (cg_msg){CG_VALUE, V(0xd1)};
}

static void
case_dedicated_ancestor(int variant)
{
    cg_options dop = opts_for(CG_STACK_DEDICATED);
    cg_options fo = opts_for(variant ? CG_STACK_DEDICATED : CG_STACK_COPY);
    cg_greenlet *d, *p, *f;
    cg_msg m;
    finisher_kind = CG_VALUE;
    d_got = (cg_msg){CG_VALUE, NULL};
    CHECK_OK(cg_create(&d, dedicated_ancestor_run, NULL, &dop));
    CHECK_OK(cg_switch(d, NULL, NULL));
    p = parked(8);
    CHECK_OK(cg_set_parent(p, d));
    CHECK_OK(cg_create(&f, finisher_run, p, &fo));
    /* p cannot be resumed; its parent d (own stack) can, and hands
       control back here. */
    CHECK_OK(deep_send(16, f, (cg_msg){CG_VALUE, V(6)}, &m));
    CHECK(atomic_load(&failures) > 0);
    CHECK(d_got.kind == CG_LOST_VALUE && I(d_got.value) == 106);
    CHECK(m.kind == CG_VALUE && I(m.value) == 0xd0);
    CHECK(cg_get_state(p) == CG_SUSPENDED && cg_get_state(d) == CG_SUSPENDED);
    atomic_store(&fail_all, 0);
    CHECK_OK(cg_destroy(f));
    CHECK_OK(cg_destroy(p));
    CHECK_OK(cg_destroy(d));
}

/* ---- no ancestor can take it: the lowest slice does ---------------------- */

static cg_msg b_got;

static CG_TEST_NOINLINE cg_msg
b_deep(int depth, cg_greenlet *c)
{
    volatile uintptr_t pad[128];
    cg_msg m = {CG_VALUE, NULL};
    fill_signature(pad, 128, (uintptr_t)depth + 50);
    if (depth > 0) {
        m = b_deep(depth - 1, c);
    } else {
        CHECK_OK(cg_switch(c, V(9), &m));
    }
    CHECK(signature_intact(pad, 128, (uintptr_t)depth + 50));
    return m;
}

static cg_options c_opts;

/* b starts c (whose parent is main) 8 KiB down its own stack.  c's result
   should go to main, but b's bytes lie in main's region and cannot be
   saved; main is the last ancestor, so the result comes to b, the lowest
   slice.  b returns it as its own result: delivered as an ordinary one. */
static cg_msg
b_run(cg_greenlet *self, cg_msg first)
{
    cg_greenlet *c;
    (void)self;
    (void)first;
    CHECK_OK(cg_create(&c, finisher_run, cg_main(), &c_opts));
    b_got = b_deep(8, c);
    CHECK(cg_get_state(c) == CG_DEAD);
    atomic_store(&fail_all, 0);
    CHECK_OK(cg_destroy(c));
    atomic_store(&fail_all, 1);
    return b_got;
}

static void
case_lowest_slice(int variant)
{
    cg_options bo = opts_for(CG_STACK_COPY);
    cg_greenlet *b;
    cg_msg m;
    finisher_kind = variant & 2 ? CG_ERROR : CG_VALUE;
    c_opts = opts_for(variant & 1 ? CG_STACK_DEDICATED : CG_STACK_COPY);
    CHECK_OK(cg_create(&b, b_run, NULL, &bo));
    CHECK_OK(cg_switch(b, NULL, &m));
    CHECK(atomic_load(&failures) > 0);
    CHECK(b_got.kind == (variant & 2 ? CG_LOST_ERROR : CG_LOST_VALUE));
    CHECK(I(b_got.value) == 109);
    /* b's finish needed no memory: it was the lowest slice. */
    CHECK(m.kind == (variant & 2 ? CG_ERROR : CG_VALUE) && I(m.value) == 109);
    CHECK(cg_get_state(b) == CG_DEAD);
    atomic_store(&fail_all, 0);
    CHECK_OK(cg_destroy(b));
}

/* ---- a not-started receiver with no stack left --------------------------- */

static int r_ran;

static cg_msg
mark_run(cg_greenlet *self, cg_msg first)
{
    (void)self;
    r_ran = 1;
    return first;
}

static char *stack_lo;

/* Recurses until less than 48 KiB of the thread's stack is left (the
   library wants 64 KiB below a new copy-stack greenlet), then lets a
   dedicated greenlet finish into a not-started copy-stack one. */
static CG_TEST_NOINLINE void
overflow_at_bottom(int variant)
{
    volatile char pad[1024];
    memset((char *)pad, 1, sizeof pad);
    if ((uintptr_t)pad > (uintptr_t)stack_lo + 48 * 1024) {
        overflow_at_bottom(variant);
        CHECK(pad[0] == 1);
        return;
    }
    cg_options dop = opts_for(CG_STACK_DEDICATED);
    cg_greenlet *q = NULL, *r, *f;
    cg_msg m;
    r_ran = 0;
    finisher_kind = CG_VALUE;
    if (variant) {
        /* A not-started greenlet above r is passed by, not started. */
        CHECK_OK(cg_create(&q, mark_run, NULL, &dop));
    }
    CHECK_OK(cg_create(&r, mark_run, q, NULL));
    CHECK_ST(cg_switch(r, NULL, NULL), CG_ESTACK_OVERFLOW);
    CHECK(cg_get_state(r) == CG_NOT_STARTED);
    CHECK_OK(cg_create(&f, echo_first, r, &dop));
    CHECK_OK(cg_switch(f, V(3), &m));
    CHECK(m.kind == CG_LOST_VALUE && I(m.value) == 3);
    CHECK(cg_get_state(f) == CG_DEAD);
    CHECK(cg_get_state(r) == CG_DEAD && !r_ran);
    if (q != NULL) {
        CHECK(cg_get_state(q) == CG_NOT_STARTED && !r_ran);
    }
    CHECK_OK(cg_destroy(f));
    CHECK_OK(cg_destroy(r));
    if (q != NULL) {
        CHECK_OK(cg_destroy(q));
    }
}

static void
case_no_stack_to_start(int variant)
{
    pthread_attr_t attr;
    void *addr;
    size_t size;
    if (pthread_getattr_np(pthread_self(), &attr) != 0) {
        CHECK(!"pthread_getattr_np");
        return;
    }
    CHECK(pthread_attr_getstack(&attr, &addr, &size) == 0);
    pthread_attr_destroy(&attr);
    stack_lo = addr;
    CHECK(cg_current() != NULL);
    overflow_at_bottom(variant);
}

/* ---- lost kinds are the core's own --------------------------------------- */

static void
case_lost_kinds_not_sendable(int variant)
{
    cg_greenlet *g;
    (void)variant;
    CHECK_OK(cg_create(&g, echo_first, NULL, NULL));
    CHECK_ST(cg_send(g, (cg_msg){CG_LOST_VALUE, NULL}, NULL), CG_EINVAL);
    CHECK_ST(cg_send(g, (cg_msg){CG_LOST_ERROR, NULL}, NULL), CG_EINVAL);
    CHECK(cg_get_state(g) == CG_NOT_STARTED);
    CHECK(*cg_strerror(CG_OK) != '\0');
    CHECK_OK(cg_destroy(g));
}

static void
run_variants(const char *name, void (*fn)(int), int n, size_t stack)
{
    for (int v = 0; v < n; v++) {
        in_thread(fn, v, stack);
    }
    report(name, "");
}

int
main(void)
{
    cg_set_allocator(t_malloc, t_free, NULL);
    run_variants("memory gone for good while finishing: the receiver stays "
                 "suspended, the result arrives lost at the next ancestor "
                 "(value and error, copy and dedicated finisher, a not-started "
                 "greenlet passed by)",
                 case_receiver_needs_memory, 8, 0);
    run_variants("a dedicated-stack ancestor takes a lost result without "
                 "allocating", case_dedicated_ancestor, 2, 0);
    run_variants("no ancestor can be resumed without memory: the lowest slice "
                 "gets the lost result; returning it makes it ordinary",
                 case_lowest_slice, 4, 0);
    run_variants("a not-started copy receiver with no stack to start on dies "
                 "unrun; the result arrives lost further up",
                 case_no_stack_to_start, 2, (size_t)512 * 1024);
    run_variants("CG_LOST_VALUE / CG_LOST_ERROR cannot be sent",
                 case_lost_kinds_not_sendable, 1, 0);
    return check_done();
}
