/* Threads: every thread has its own main greenlet; a greenlet can only be
   switched to, thrown into, killed, destroyed or re-parented from the
   thread that created it (others get CG_EWRONG_THREAD and nothing changes);
   when a thread exits, its started greenlets become dead without running
   any more of their code, and the objects can be destroyed from any
   thread without leaking.

   A counting allocator (installed before any greenlet exists) checks that
   each case gives back every block the library allocated. */
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <string.h>

#include "check.h"

#define NT 8

/* CHECK from several threads at once: count failures atomically, fold them
   into the harness's counter from the main thread (collect()). */
static atomic_int thread_failures;

#define TCHECK(cond)                                                        \
    do {                                                                    \
        if (!(cond)) {                                                      \
            fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, \
                    #cond);                                                 \
            atomic_fetch_add(&thread_failures, 1);                          \
        }                                                                   \
    } while (0)

#define TCHECK_ST(expr, want)                                               \
    do {                                                                    \
        cg_status tcheck_st_ = (expr);                                      \
        if (tcheck_st_ != (want)) {                                         \
            fprintf(stderr, "%s:%d: %s returned %s, expected %s\n",         \
                    __FILE__, __LINE__, #expr, cg_strerror(tcheck_st_),     \
                    cg_strerror(want));                                     \
            atomic_fetch_add(&thread_failures, 1);                          \
        }                                                                   \
    } while (0)

#define TCHECK_OK(expr) TCHECK_ST((expr), CG_OK)

static void
collect(void)
{
    check_case_failures += atomic_exchange(&thread_failures, 0);
}

/* ---- counting allocator ------------------------------------------------- */

static atomic_long live_blocks;

static void *
count_malloc(size_t size, void *ctx)
{
    (void)ctx;
    void *p = malloc(size);
    if (p != NULL) {
        atomic_fetch_add(&live_blocks, 1);
    }
    return p;
}

static void
count_free(void *ptr, void *ctx)
{
    (void)ctx;
    atomic_fetch_sub(&live_blocks, 1);
    free(ptr);
}

/* Blocks held by the process's own main greenlet; every case must come
   back to exactly this. */
static long baseline_blocks;

static void
check_no_leak(void)
{
    cg_trim();  /* the thread's reuse caches are not leaks */
    long now = atomic_load(&live_blocks);
    if (now != baseline_blocks) {
        fprintf(stderr, "  %ld library blocks outstanding, expected %ld\n", now,
                baseline_blocks);
    }
    CHECK(now == baseline_blocks);
}

static int
greenlets_per_thread(void)
{
    return light_mode() ? 100 : 1000;
}

/* Mixed stack modes: copy, dedicated (default size), copy, dedicated (small,
   no guard page). */
static cg_options
mixed_opts(int i)
{
    cg_options o = {CG_STACK_COPY, 0, 0};
    if (i % 4 == 1) {
        o.stack_mode = CG_STACK_DEDICATED;
    } else if (i % 4 == 3) {
        o.stack_mode = CG_STACK_DEDICATED;
        o.stack_size = 2 * CG_MIN_STACK_SIZE;
        o.no_guard_page = 1;
    }
    return o;
}

static void
start_threads(pthread_t *th, int n, void *(*fn)(void *), void *args, size_t argsize)
{
    for (int i = 0; i < n; i++) {
        int rc = pthread_create(&th[i], NULL, fn, (char *)args + (size_t)i * argsize);
        CHECK(rc == 0);
        if (rc != 0) {
            exit(1);
        }
    }
}

static void
join_threads(pthread_t *th, int n)
{
    for (int i = 0; i < n; i++) {
        CHECK(pthread_join(th[i], NULL) == 0);
    }
}

/* ---- (a) cross-thread operations are refused ---------------------------- */

/* Values are (thread << 32) | (index << 4) | phase. */
static uintptr_t
key(int t, int i, int phase)
{
    return ((uintptr_t)t << 32) | ((uintptr_t)i << 4) | (uintptr_t)phase;
}

/* Parks once with first+1, then finishes with what it was resumed with,
   times three, plus one; its locals must survive the wait. */
static cg_msg
park_run(cg_greenlet *self, cg_msg first)
{
    volatile uintptr_t local[16];
    uintptr_t k = I(first.value);
    for (int j = 0; j < 16; j++) {
        local[j] = k ^ ((uintptr_t)j * 0x9e3779b97f4a7c15u);
    }
    TCHECK(first.kind == CG_VALUE);
    cg_msg m = {CG_ERROR, NULL};
    TCHECK_OK(cg_switch(cg_parent(self), V(k + 1), &m));
    TCHECK(cg_current() == self);
    for (int j = 0; j < 16; j++) {
        TCHECK(local[j] == (k ^ ((uintptr_t)j * 0x9e3779b97f4a7c15u)));
    }
    return (cg_msg){m.kind, V(I(m.value) * 3 + 1)};
}

struct cross {
    int idx;
    int n;
    cg_greenlet *main;
    const void *token;
    cg_greenlet **gs;
};

static struct cross cross_th[NT];
static pthread_barrier_t cross_bar;

static const cg_msg sentinel_msg = {CG_EXIT, (void *)(uintptr_t)0x5e5e};
#define SENTINEL_G ((cg_greenlet *)(uintptr_t)0xbad0)

static int
same_msg(cg_msg a, cg_msg b)
{
    return a.kind == b.kind && a.value == b.value;
}

/* Every operation this thread is not allowed to do to `g` (a suspended
   greenlet of thread `u`, whose parent is u's main). */
static void
refuse_foreign(struct cross *me, cg_greenlet *g, struct cross *u)
{
    cg_msg m = sentinel_msg;
    cg_greenlet *out = SENTINEL_G;
    cg_options dedicated = {CG_STACK_DEDICATED, 0, 0};

    TCHECK_ST(cg_switch(g, V(1), &m), CG_EWRONG_THREAD);
    TCHECK_ST(cg_throw(g, V(2), &m), CG_EWRONG_THREAD);
    TCHECK_ST(cg_send(g, (cg_msg){CG_EXIT, V(3)}, &m), CG_EWRONG_THREAD);
    TCHECK_ST(cg_kill(g, &m), CG_EWRONG_THREAD);
    TCHECK(same_msg(m, sentinel_msg));
    TCHECK_ST(cg_destroy(g), CG_EWRONG_THREAD);
    TCHECK_ST(cg_set_parent(g, me->main), CG_EWRONG_THREAD);
    TCHECK_ST(cg_set_parent(g, u->main), CG_EWRONG_THREAD);
    /* One of our own greenlets cannot get a foreign parent either. */
    TCHECK_ST(cg_set_parent(me->gs[0], g), CG_EWRONG_THREAD);
    TCHECK_ST(cg_create(&out, park_run, g, NULL), CG_EWRONG_THREAD);
    TCHECK_ST(cg_create(&out, park_run, g, &dedicated), CG_EWRONG_THREAD);
    TCHECK(out == SENTINEL_G);

    TCHECK(cg_get_state(g) == CG_SUSPENDED);
    TCHECK(cg_parent(g) == u->main);
    TCHECK(cg_thread_token(g) == u->token);
    TCHECK(cg_thread_exited(g) == 0);
    TCHECK(!cg_is_main(g));
}

static void *
cross_thread(void *arg)
{
    struct cross *me = arg;
    me->main = cg_current();
    TCHECK(me->main != NULL);
    if (me->main == NULL) {
        exit(1);
    }
    me->token = cg_thread_token(me->main);
    me->gs = calloc((size_t)me->n, sizeof *me->gs);
    TCHECK(me->gs != NULL);
    if (me->gs == NULL) {
        exit(1);
    }
    for (int i = 0; i < me->n; i++) {
        cg_options o = mixed_opts(i);
        cg_msg m;
        TCHECK_OK(cg_create(&me->gs[i], park_run, NULL, &o));
        TCHECK_OK(cg_switch(me->gs[i], V(key(me->idx, i, 1)), &m));
        TCHECK(m.kind == CG_VALUE && I(m.value) == key(me->idx, i, 1) + 1);
        TCHECK(cg_get_state(me->gs[i]) == CG_SUSPENDED);
    }

    pthread_barrier_wait(&cross_bar);   /* every array is published */

    for (int u = 0; u < NT; u++) {
        if (u == me->idx) {
            continue;
        }
        struct cross *other = &cross_th[u];
        for (int i = 0; i < other->n; i++) {
            refuse_foreign(me, other->gs[i], other);
        }
        /* Other threads' main greenlets: not ours to switch to or kill. */
        cg_msg m = sentinel_msg;
        cg_greenlet *out = SENTINEL_G;
        TCHECK_ST(cg_switch(other->main, V(1), &m), CG_EWRONG_THREAD);
        TCHECK_ST(cg_throw(other->main, V(1), &m), CG_EWRONG_THREAD);
        TCHECK(same_msg(m, sentinel_msg));
        TCHECK_ST(cg_kill(other->main, &m), CG_EINVAL);
        TCHECK_ST(cg_destroy(other->main), CG_EINVAL);
        TCHECK_ST(cg_create(&out, park_run, other->main, NULL), CG_EWRONG_THREAD);
        TCHECK(out == SENTINEL_G);
        TCHECK(cg_get_state(other->main) == CG_SUSPENDED);
        TCHECK(cg_is_main(other->main));
    }
    TCHECK(cg_current() == me->main);

    pthread_barrier_wait(&cross_bar);   /* nobody touches others' any more */

    /* Finish our own: untouched by all the refused attempts. */
    for (int i = 0; i < me->n; i++) {
        cg_greenlet *g = me->gs[i];
        cg_msg m = sentinel_msg;
        TCHECK(cg_get_state(g) == CG_SUSPENDED);
        TCHECK(cg_parent(g) == me->main);
        TCHECK_OK(cg_switch(g, V(key(me->idx, i, 2)), &m));
        TCHECK(m.kind == CG_VALUE && I(m.value) == key(me->idx, i, 2) * 3 + 1);
        TCHECK(cg_get_state(g) == CG_DEAD);
        TCHECK_OK(cg_destroy(g));
    }
    TCHECK(cg_current() == me->main);
    free(me->gs);
    return NULL;
}

static void
case_cross_thread_refused(void)
{
    pthread_t th[NT];
    pthread_barrier_init(&cross_bar, NULL, NT);
    for (int t = 0; t < NT; t++) {
        cross_th[t] = (struct cross){t, greenlets_per_thread(), NULL, NULL, NULL};
    }
    start_threads(th, NT, cross_thread, cross_th, sizeof cross_th[0]);
    join_threads(th, NT);
    pthread_barrier_destroy(&cross_bar);
    collect();
    check_no_leak();
}

/* ---- (b) thread exit ---------------------------------------------------- */

static atomic_int ran_after_park;   /* code after a park that must never run */
static atomic_int ran_unstarted;    /* a never-started run function ran */

/* Parks (switches to its parent) and must never be resumed. */
static cg_msg
park_forever_run(cg_greenlet *self, cg_msg first)
{
    (void)first;
    cg_switch(cg_parent(self), NULL, NULL);
    atomic_fetch_add(&ran_after_park, 1);
    return (cg_msg){CG_VALUE, NULL};
}

struct nest {
    cg_greenlet **child;
    cg_stack_mode child_mode;
};

/* Starts a child, which parks into us; we then park straight into the
   thread's main greenlet.  Both stay suspended. */
static cg_msg
outer_run(cg_greenlet *self, cg_msg first)
{
    struct nest *n = first.value;
    cg_options o = opts_for(n->child_mode);
    TCHECK_OK(cg_create(n->child, park_forever_run, self, &o));
    TCHECK_OK(cg_switch(*n->child, NULL, NULL));
    cg_switch(cg_main(), NULL, NULL);
    atomic_fetch_add(&ran_after_park, 1);
    return (cg_msg){CG_VALUE, NULL};
}

static cg_msg
never_run(cg_greenlet *self, cg_msg first)
{
    (void)self;
    (void)first;
    atomic_fetch_add(&ran_unstarted, 1);
    return (cg_msg){CG_VALUE, NULL};
}

static cg_msg
finish_run(cg_greenlet *self, cg_msg first)
{
    (void)self;
    return (cg_msg){CG_VALUE, V(I(first.value) + 1)};
}

#define EXIT_EACH 8

struct exit_out {
    cg_greenlet *main;
    const void *token;
    cg_greenlet *suspended[2 * EXIT_EACH];   /* started, parked */
    int nsuspended;
    cg_greenlet *fresh[EXIT_EACH];          /* never started */
    cg_greenlet *dead[2];                   /* finished before the exit */
};

static void *
exit_thread(void *arg)
{
    struct exit_out *out = arg;
    out->main = cg_current();
    TCHECK(out->main != NULL);
    if (out->main == NULL) {
        exit(1);
    }
    out->token = cg_thread_token(out->main);
    out->nsuspended = 0;
    /* Parked directly under main, both modes (a parked copy-stack
       greenlet's slice is on the heap). */
    for (int i = 0; i < EXIT_EACH; i++) {
        cg_options o = opts_for(i % 2 ? CG_STACK_DEDICATED : CG_STACK_COPY);
        cg_greenlet **g = &out->suspended[out->nsuspended++];
        TCHECK_OK(cg_create(g, park_forever_run, NULL, &o));
        TCHECK_OK(cg_switch(*g, NULL, NULL));
        TCHECK(cg_get_state(*g) == CG_SUSPENDED);
    }
    /* Nested: outer of each mode with a child of each mode, both parked. */
    for (int i = 0; i < EXIT_EACH / 2; i++) {
        cg_options o = opts_for(i % 2 ? CG_STACK_DEDICATED : CG_STACK_COPY);
        cg_greenlet **outer = &out->suspended[out->nsuspended++];
        cg_greenlet **child = &out->suspended[out->nsuspended++];
        struct nest n = {child, (i / 2) % 2 ? CG_STACK_DEDICATED : CG_STACK_COPY};
        TCHECK_OK(cg_create(outer, outer_run, NULL, &o));
        TCHECK_OK(cg_switch(*outer, &n, NULL));
        TCHECK(cg_get_state(*outer) == CG_SUSPENDED);
        TCHECK(cg_get_state(*child) == CG_SUSPENDED);
        TCHECK(cg_parent(*child) == *outer);
    }
    for (int i = 0; i < EXIT_EACH; i++) {
        cg_options o = opts_for(i % 2 ? CG_STACK_DEDICATED : CG_STACK_COPY);
        TCHECK_OK(cg_create(&out->fresh[i], never_run, NULL, &o));
    }
    for (int i = 0; i < 2; i++) {
        cg_options o = opts_for(i % 2 ? CG_STACK_DEDICATED : CG_STACK_COPY);
        cg_msg m;
        TCHECK_OK(cg_create(&out->dead[i], finish_run, NULL, &o));
        TCHECK_OK(cg_switch(out->dead[i], V(10), &m));
        TCHECK(I(m.value) == 11);
    }
    TCHECK(cg_current() == out->main);
    return NULL;   /* leaves everything as it is */
}

/* Runs exit_thread to completion. */
static void
run_exit_thread(struct exit_out *out)
{
    pthread_t th;
    atomic_store(&ran_after_park, 0);
    atomic_store(&ran_unstarted, 0);
    memset(out, 0, sizeof *out);
    start_threads(&th, 1, exit_thread, out, sizeof *out);
    join_threads(&th, 1);
    collect();
}

static void
destroy_exited(struct exit_out *out)
{
    for (int i = 0; i < out->nsuspended; i++) {
        CHECK_OK(cg_destroy(out->suspended[i]));
    }
    for (int i = 0; i < EXIT_EACH; i++) {
        CHECK_OK(cg_destroy(out->fresh[i]));
    }
    for (int i = 0; i < 2; i++) {
        CHECK_OK(cg_destroy(out->dead[i]));
    }
}

/* Bytes mapped by the process (/proc/self/maps), or 0 if unknown. */
static size_t
mapped_bytes(void)
{
    FILE *f = fopen("/proc/self/maps", "r");
    size_t total = 0;
    char line[512];
    if (f == NULL) {
        return 0;
    }
    while (fgets(line, sizeof line, f) != NULL) {
        unsigned long lo, hi;
        if (sscanf(line, "%lx-%lx", &lo, &hi) == 2) {
            total += hi - lo;
        }
    }
    fclose(f);
    return total;
}

static void
case_thread_exit_kills_suspended(void)
{
    struct exit_out out;
    /* A first round leaves the C library's cached thread stack and arena
       behind; the second must not map anything more (the exited thread's
       dedicated stacks are released). */
    run_exit_thread(&out);
    destroy_exited(&out);
    size_t mapped_before = mapped_bytes();

    run_exit_thread(&out);
    CHECK(out.nsuspended == 2 * EXIT_EACH);
    for (int i = 0; i < out.nsuspended; i++) {
        cg_greenlet *g = out.suspended[i];
        cg_msg m = sentinel_msg;
        CHECK(cg_get_state(g) == CG_DEAD);
        CHECK(cg_thread_exited(g) == 1);
        CHECK(cg_stack_saved(g) == 0);
        CHECK(cg_thread_token(g) == out.token);
        CHECK_ST(cg_switch(g, V(1), &m), CG_ETHREAD_EXITED);
        CHECK_ST(cg_throw(g, V(2), &m), CG_ETHREAD_EXITED);
        CHECK_ST(cg_kill(g, &m), CG_ETHREAD_EXITED);
        CHECK(same_msg(m, sentinel_msg));
    }
    for (int i = 0; i < 2; i++) {
        CHECK(cg_get_state(out.dead[i]) == CG_DEAD);
        CHECK(cg_thread_exited(out.dead[i]) == 1);
        CHECK_ST(cg_switch(out.dead[i], V(1), NULL), CG_ETHREAD_EXITED);
    }
    /* The exited thread's main is kept alive by its children. */
    CHECK(cg_is_main(out.main));
    CHECK(cg_thread_exited(out.main) == 1);
    CHECK(cg_get_state(out.main) == CG_DEAD);
    CHECK(cg_thread_exited(cg_current()) == 0);
    destroy_exited(&out);
    CHECK(atomic_load(&ran_after_park) == 0);
    CHECK(atomic_load(&ran_unstarted) == 0);
    check_no_leak();
    size_t mapped_after = mapped_bytes();
    if (mapped_after > mapped_before + 512 * 1024) {
        fprintf(stderr, "  %zu KiB more mapped after the thread exited\n",
                (mapped_after - mapped_before) / 1024);
    }
    CHECK(mapped_after <= mapped_before + 512 * 1024);
}

static void
case_thread_exit_not_started(void)
{
    struct exit_out out;
    run_exit_thread(&out);
    for (int i = 0; i < EXIT_EACH; i++) {
        cg_greenlet *g = out.fresh[i];
        cg_msg m = sentinel_msg;
        CHECK(cg_get_state(g) == CG_NOT_STARTED);
        CHECK(cg_thread_exited(g) == 1);
        CHECK(cg_stack_saved(g) == 0);
        CHECK_ST(cg_switch(g, V(1), &m), CG_ETHREAD_EXITED);
        CHECK_ST(cg_throw(g, V(1), &m), CG_ETHREAD_EXITED);
        CHECK(same_msg(m, sentinel_msg));
    }
    destroy_exited(&out);
    CHECK(atomic_load(&ran_unstarted) == 0);
    CHECK(atomic_load(&ran_after_park) == 0);
    check_no_leak();
}

/* ---- (c) one main greenlet per thread ----------------------------------- */

struct mains {
    cg_greenlet *main;
    const void *token;
};

static struct mains mains_th[NT];
static pthread_barrier_t mains_bar;

static cg_msg
who_run(cg_greenlet *self, cg_msg first)
{
    struct mains *me = first.value;
    TCHECK(cg_current() == self);
    TCHECK(cg_main() == me->main);
    TCHECK(cg_thread_token(cg_current()) == me->token);
    TCHECK(!cg_is_main(self));
    return (cg_msg){CG_VALUE, V(7)};
}

static void *
mains_thread(void *arg)
{
    struct mains *me = arg;
    /* The first call in a fresh thread: its current greenlet is its main. */
    cg_greenlet *cur = cg_current();
    TCHECK(cur != NULL);
    if (cur == NULL) {
        exit(1);
    }
    TCHECK(cg_is_main(cur));
    TCHECK(cg_main() == cur);
    TCHECK(cg_parent(cur) == NULL);
    TCHECK(cg_get_state(cur) == CG_RUNNING);
    me->main = cur;
    me->token = cg_thread_token(cur);
    TCHECK(me->token != NULL);

    cg_greenlet *g[2];
    for (int i = 0; i < 2; i++) {
        cg_options o = opts_for(i ? CG_STACK_DEDICATED : CG_STACK_COPY);
        cg_msg m;
        TCHECK_OK(cg_create(&g[i], who_run, NULL, &o));
        TCHECK(cg_thread_token(g[i]) == me->token);
        TCHECK(cg_parent(g[i]) == cur);
        TCHECK_OK(cg_switch(g[i], me, &m));
        TCHECK(I(m.value) == 7);
    }

    pthread_barrier_wait(&mains_bar);   /* all alive and published */
    for (int u = 0; u < NT; u++) {
        if (&mains_th[u] == me) {
            continue;
        }
        TCHECK(mains_th[u].main != me->main);
        TCHECK(mains_th[u].token != me->token);
        TCHECK(cg_thread_token(mains_th[u].main) == mains_th[u].token);
        TCHECK(cg_thread_token(g[0]) != mains_th[u].token);
    }
    pthread_barrier_wait(&mains_bar);   /* nobody reads ours any more */
    for (int i = 0; i < 2; i++) {
        TCHECK_OK(cg_destroy(g[i]));
    }
    return NULL;
}

static void
case_main_per_thread(void)
{
    pthread_t th[NT];
    pthread_barrier_init(&mains_bar, NULL, NT + 1);
    memset(mains_th, 0, sizeof mains_th);
    start_threads(th, NT, mains_thread, mains_th, sizeof mains_th[0]);
    pthread_barrier_wait(&mains_bar);
    cg_greenlet *mine = cg_main();
    for (int t = 0; t < NT; t++) {
        CHECK(mains_th[t].main != mine);
        CHECK(mains_th[t].token != cg_thread_token(mine));
    }
    pthread_barrier_wait(&mains_bar);
    join_threads(th, NT);
    collect();
    check_no_leak();
}

/* ---- (d) a parent of another thread ------------------------------------- */

struct foreign {
    cg_greenlet *main;
    cg_greenlet *parked;
    cg_greenlet *fresh;
};

static pthread_barrier_t foreign_bar;

static void *
foreign_thread(void *arg)
{
    struct foreign *f = arg;
    f->main = cg_current();
    TCHECK(f->main != NULL);
    if (f->main == NULL) {
        exit(1);
    }
    cg_options o = opts_for(CG_STACK_COPY);
    TCHECK_OK(cg_create(&f->parked, park_forever_run, NULL, &o));
    TCHECK_OK(cg_switch(f->parked, NULL, NULL));
    o = opts_for(CG_STACK_DEDICATED);
    TCHECK_OK(cg_create(&f->fresh, never_run, NULL, &o));
    pthread_barrier_wait(&foreign_bar);   /* published */
    pthread_barrier_wait(&foreign_bar);   /* main thread is done with us alive */
    return NULL;
}

static void
case_create_with_foreign_parent(void)
{
    struct foreign f;
    pthread_t th;
    cg_greenlet *out = SENTINEL_G;
    cg_options copy = opts_for(CG_STACK_COPY);
    cg_options dedicated = opts_for(CG_STACK_DEDICATED);

    atomic_store(&ran_after_park, 0);
    atomic_store(&ran_unstarted, 0);
    pthread_barrier_init(&foreign_bar, NULL, 2);
    start_threads(&th, 1, foreign_thread, &f, sizeof f);
    pthread_barrier_wait(&foreign_bar);

    /* The other thread is alive. */
    cg_greenlet *parents[3] = {f.main, f.parked, f.fresh};
    for (int i = 0; i < 3; i++) {
        CHECK_ST(cg_create(&out, finish_run, parents[i], &copy), CG_EWRONG_THREAD);
        CHECK_ST(cg_create(&out, finish_run, parents[i], &dedicated), CG_EWRONG_THREAD);
        CHECK(out == SENTINEL_G);
    }
    /* Our own greenlet cannot be moved under it either. */
    cg_greenlet *mine;
    CHECK_OK(cg_create(&mine, finish_run, NULL, &copy));
    CHECK_ST(cg_set_parent(mine, f.parked), CG_EWRONG_THREAD);
    CHECK(cg_parent(mine) == cg_current());

    pthread_barrier_wait(&foreign_bar);
    join_threads(&th, 1);
    pthread_barrier_destroy(&foreign_bar);
    collect();

    /* Now it has exited (its main is kept by its children). */
    for (int i = 0; i < 3; i++) {
        CHECK_ST(cg_create(&out, finish_run, parents[i], &copy), CG_ETHREAD_EXITED);
        CHECK_ST(cg_create(&out, finish_run, parents[i], &dedicated),
                 CG_ETHREAD_EXITED);
        CHECK(out == SENTINEL_G);
    }
    CHECK_ST(cg_set_parent(mine, f.parked), CG_EWRONG_THREAD);
    CHECK(cg_parent(mine) == cg_current());
    cg_msg m;
    CHECK_OK(cg_switch(mine, V(1), &m));
    CHECK(I(m.value) == 2);
    CHECK_OK(cg_destroy(mine));
    CHECK_OK(cg_destroy(f.parked));
    CHECK_OK(cg_destroy(f.fresh));
    CHECK(atomic_load(&ran_after_park) == 0);
    CHECK(atomic_load(&ran_unstarted) == 0);
    check_no_leak();
}

int
main(void)
{
    /* Before any greenlet exists. */
    cg_set_allocator(count_malloc, count_free, NULL);
    CHECK(cg_current() != NULL);
    cg_trim();
    baseline_blocks = atomic_load(&live_blocks);

    run_case("cross-thread switch/throw/kill/destroy/set_parent/create refused "
             "with CG_EWRONG_THREAD, nothing changes",
             case_cross_thread_refused);
    run_case("thread exit: started greenlets dead, CG_ETHREAD_EXITED, "
             "destroyable from another thread, code never resumes, no leak",
             case_thread_exit_kills_suspended);
    run_case("thread exit: not-started greenlets stay CG_NOT_STARTED and never run",
             case_thread_exit_not_started);
    run_case("each thread has its own main greenlet and thread token",
             case_main_per_thread);
    run_case("cg_create with a parent of another thread: CG_EWRONG_THREAD, "
             "then CG_ETHREAD_EXITED once it exited",
             case_create_with_foreign_parent);
    return check_done();
}
