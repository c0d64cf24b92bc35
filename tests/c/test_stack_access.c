/* cg_stack_access: reading and writing a suspended greenlet's stack
   bytes wherever they are now -- in place, in its heap copy, or straddling
   the two -- as an embedder walking frames kept on a C stack must. */
#include <string.h>

#include "check.h"

#define N 64

static volatile uintptr_t *published;   /* g's local array */

/* Publishes a local array, parks, then reports whether it finds the
   values main wrote through cg_stack_access. */
static cg_msg
owner_run(cg_greenlet *self, cg_msg first)
{
    volatile uintptr_t local[N];
    fill_signature(local, N, 11);
    published = local;
    cg_switch(cg_parent(self), NULL, NULL);
    int ok = local[0] == 1000 + I(first.value) && local[N - 1] == 2000 &&
             local[1] == 11 * 0x9e3779b97f4a7c15u + 1;
    return (cg_msg){CG_VALUE, V(ok)};
}

/* Runs over the thread stack where other slices were. */
static cg_msg
clobber_run(cg_greenlet *self, cg_msg first)
{
    (void)self;
    volatile uintptr_t junk[4 * N];
    for (int i = 0; i < 4 * N; i++) {
        junk[i] = 0xdead;
    }
    return (cg_msg){CG_VALUE, V(junk[3] + I(first.value))};
}

static void
case_access(cg_stack_mode mode)
{
    cg_options o = opts_for(mode);
    cg_greenlet *g, *c;
    cg_msg m;
    CHECK_OK(cg_create(&g, owner_run, NULL, &o));
    CHECK_OK(cg_switch(g, V(5), NULL));
    /* Another greenlet runs where g's slice lay (copy mode: g is saved). */
    CHECK_OK(cg_create(&c, clobber_run, NULL, &o));
    CHECK_OK(cg_switch(c, V(0), NULL));
    CHECK_OK(cg_destroy(c));

    volatile uintptr_t *at = cg_stack_access(g, (const void *)published, sizeof(uintptr_t) * N);
    CHECK(at != NULL);
    if (at != NULL) {
        CHECK(signature_intact(at, N, 11));
        at[0] = 1005;
        at[N - 1] = 2000;
    }
    /* One element, and a range reaching past its stack, or before it. */
    uintptr_t *one = cg_stack_access(g, (const void *)(published + 3), sizeof(uintptr_t));
    CHECK(one != NULL && *one == 11 * 0x9e3779b97f4a7c15u + 3);
    CHECK(cg_stack_access(g, (const void *)published, (size_t)1 << 40) == NULL);
    CHECK(cg_stack_access(g, (const void *)((uintptr_t)published - 65536), 8) == NULL);
    CHECK(cg_stack_access(NULL, (const void *)published, 8) == NULL);

    CHECK_OK(cg_switch(g, NULL, &m));
    CHECK(m.value == V(1));     /* g found main's writes */
    CHECK(cg_stack_access(g, (const void *)published, 8) == NULL);  /* dead */
    CHECK_OK(cg_destroy(g));
}

/* A running greenlet reads its suspended parent's frames, which lie on
   the thread stack right above its own: in place. */
static volatile uintptr_t *main_local;
static int main_seen;

static cg_msg
reader_run(cg_greenlet *self, cg_msg first)
{
    (void)first;
    volatile uintptr_t *at =
        cg_stack_access(cg_parent(self), (const void *)main_local, sizeof(uintptr_t) * N);
    main_seen = at == main_local && signature_intact(at, N, 23);
    return (cg_msg){CG_VALUE, NULL};
}

static void
case_main_from_child(void)
{
    volatile uintptr_t local[N];
    cg_greenlet *g;
    fill_signature(local, N, 23);
    main_local = local;
    main_seen = 0;
    CHECK_OK(cg_create(&g, reader_run, NULL, NULL));
    CHECK_OK(cg_switch(g, NULL, NULL));
    CHECK(main_seen);
    CHECK_OK(cg_destroy(g));
    /* The running greenlet's own range comes back unchanged. */
    CHECK(cg_stack_access(cg_current(), (const void *)local, 8) == (void *)local);
}

/* The boundary between a greenlet's copied and in-place bytes falls inside
   the range: g starts child t from a short-lived call (t's region begins
   there), then calls a function whose big array covers that point and
   switches to t. Only g's bytes below t's start were copied, so the array
   is half in the heap, half on the stack; t reads and writes it. */
#define BIG 512

static cg_greenlet *t_child;
static volatile uintptr_t *g_array;
static int t_saw;

static cg_msg
t_run(cg_greenlet *self, cg_msg first)
{
    (void)first;
    cg_greenlet *g = cg_parent(self);
    CHECK_OK(cg_switch(g, NULL, NULL));
    size_t held = cg_stack_saved(g);
    volatile uintptr_t *at = cg_stack_access(g, (const void *)g_array, sizeof(uintptr_t) * BIG);
    t_saw = held > 0 && at != NULL && signature_intact(at, BIG, 31);
    if (at != NULL) {
        at[0] = 5;
        at[BIG - 1] = 6;
    }
    return (cg_msg){CG_VALUE, NULL};
}

static CG_TEST_NOINLINE void
start_child(void)
{
    CHECK_OK(cg_create(&t_child, t_run, NULL, NULL));
    CHECK_OK(cg_switch(t_child, NULL, NULL));
}

static CG_TEST_NOINLINE int
use_array(void)
{
    volatile uintptr_t arr[BIG];
    fill_signature(arr, BIG, 31);
    g_array = arr;
    CHECK_OK(cg_switch(t_child, NULL, NULL));   /* t finishes back here */
    return arr[0] == 5 && arr[BIG - 1] == 6 && arr[1] == 31 * 0x9e3779b97f4a7c15u + 1 &&
           arr[BIG - 2] == 31 * 0x9e3779b97f4a7c15u + BIG - 2;
}

static cg_msg
g_run(cg_greenlet *self, cg_msg first)
{
    (void)self;
    (void)first;
    start_child();
    return (cg_msg){CG_VALUE, V(use_array())};
}

static void
case_straddling(void)
{
    cg_greenlet *g;
    cg_msg m;
    t_saw = 0;
    CHECK_OK(cg_create(&g, g_run, NULL, NULL));
    CHECK_OK(cg_switch(g, NULL, &m));
    CHECK(t_saw);
    CHECK(m.value == V(1));
    CHECK_OK(cg_destroy(t_child));
    CHECK_OK(cg_destroy(g));
}

int
main(void)
{
    run_case_modes("a suspended greenlet's stack bytes, read and written",
                   case_access);
    run_case("main's frames seen from a child", case_main_from_child);
    run_case("a range half copied, half in place", case_straddling);
    return check_done();
}
