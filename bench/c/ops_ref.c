/*
 * Reference operations: the minimal register swap (ref_swap_<arch>.S),
 * Boost.Context's fcontext (when installed), and plain memcpy.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "bench.h"

#if defined(__has_include)
#if __has_include(<valgrind/valgrind.h>)
#include <valgrind/valgrind.h>
#define BENCH_HAVE_VALGRIND 1
#endif
#endif

#if defined(HAVE_REF_SWAP) || defined(HAVE_BOOST_FCONTEXT)
/* ---- stacks for the references ----------------------------------------- */

#define REF_STACK_SIZE ((size_t)256 * 1024)   /* as CG_DEFAULT_STACK_SIZE */

typedef struct ref_stack {
    char *lo, *hi;
    unsigned vg_id;
} ref_stack;

static void
ref_stack_map(ref_stack *s)
{
    char *p = mmap(NULL, REF_STACK_SIZE, PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (p == MAP_FAILED) {
        bench_die("mmap of a reference stack", -1);
    }
    s->lo = p;
    s->hi = p + REF_STACK_SIZE;
#ifdef BENCH_HAVE_VALGRIND
    s->vg_id = VALGRIND_STACK_REGISTER(s->lo, s->hi);
#else
    s->vg_id = 0;
#endif
}

static void
ref_stack_unmap(ref_stack *s)
{
#ifdef BENCH_HAVE_VALGRIND
    VALGRIND_STACK_DEREGISTER(s->vg_id);
#endif
    munmap(s->lo, REF_STACK_SIZE);
}

#endif

#ifdef HAVE_REF_SWAP
/* ---- minimal register swap: round trip main -> g -> main ----------------- */

typedef struct swap_state {
    void *main_sp;
    void *g_sp;
    ref_stack stack;
} swap_state;

static void
swap_body(void *arg)
{
    swap_state *st = arg;
    for (;;) {
        ref_swap(&st->g_sp, st->main_sp);
    }
}

/* Builds the frame ref_swap pops on a fresh stack, resuming in
   ref_trampoline with fn and arg where the trampoline expects them. */
static void *
ref_make(char *hi, void (*fn)(void *), void *arg)
{
    uintptr_t top = (uintptr_t)hi & ~(uintptr_t)15;
#if defined(__x86_64__)
    /* r15 r14 r13 r12 rbx rbp ret; after popping them %rsp = top - 16,
       16-byte aligned for the trampoline's call. */
    uint64_t *f = (uint64_t *)(top - 72);
    memset(f, 0, 72);
    f[3] = (uint64_t)(uintptr_t)arg;        /* r12 */
    f[4] = (uint64_t)(uintptr_t)fn;         /* rbx */
    f[6] = (uint64_t)(uintptr_t)ref_trampoline;
    return f;
#elif defined(__aarch64__)
    uint64_t *f = (uint64_t *)(top - 160);
    memset(f, 0, 160);
    f[0] = (uint64_t)(uintptr_t)fn;         /* x19 */
    f[1] = (uint64_t)(uintptr_t)arg;        /* x20 */
    f[11] = (uint64_t)(uintptr_t)ref_trampoline;   /* x30 */
    return f;
#else
#error "no reference switch for this architecture"
#endif
}

static void *
swap_setup(long param)
{
    (void)param;
    swap_state *st = calloc(1, sizeof *st);
    if (st == NULL) {
        bench_die("calloc", -1);
    }
    ref_stack_map(&st->stack);
    st->g_sp = ref_make(st->stack.hi, swap_body, st);
    ref_swap(&st->main_sp, st->g_sp);   /* start it: it swaps right back */
    return st;
}

static void
swap_run(void *state, long n)
{
    swap_state *st = state;
    for (long i = 0; i < n; i++) {
        ref_swap(&st->main_sp, st->g_sp);
    }
}

static void
swap_teardown(void *state)
{
    swap_state *st = state;
    ref_stack_unmap(&st->stack);    /* the suspended body is just dropped */
    free(st);
}

const bench_op op_ref_swap = {"ref.switch", swap_setup, swap_run, swap_teardown, 0};
#endif /* HAVE_REF_SWAP */

/* ---- plain memcpy of a live stack's bytes, out and back in --------------- */

typedef struct memcpy_state {
    size_t bytes;
    char *stack;    /* stands for the thread stack region */
    char *heap;     /* stands for the heap copy */
} memcpy_state;

static void *
memcpy_setup(long kib)
{
    memcpy_state *st = calloc(1, sizeof *st);
    if (st == NULL) {
        bench_die("calloc", -1);
    }
    st->bytes = cg_copy_live_bytes(kib);    /* the very bytes ours copies */
    /* 16-byte aligned both, like the stack pointer and malloc's blocks. */
    st->stack = aligned_alloc(64, (st->bytes + 63) & ~(size_t)63);
    st->heap = malloc((st->bytes + 63) & ~(size_t)63);
    if (st->stack == NULL || st->heap == NULL) {
        bench_die("malloc", -1);
    }
    memset(st->stack, 1, st->bytes);
    memset(st->heap, 2, st->bytes);
    return st;
}

static void
memcpy_run(void *state, long n)
{
    memcpy_state *st = state;
    for (long i = 0; i < n; i++) {
        memcpy(st->heap, st->stack, st->bytes);
        BENCH_BARRIER();
        memcpy(st->stack, st->heap, st->bytes);
        BENCH_BARRIER();
    }
}

static void
memcpy_teardown(void *state)
{
    memcpy_state *st = state;
    free(st->stack);
    free(st->heap);
    free(st);
}

const bench_op op_memcpy = {"memcpy", memcpy_setup, memcpy_run, memcpy_teardown, 0};

/* ---- Boost.Context fcontext ---------------------------------------------- */

#ifdef HAVE_BOOST_FCONTEXT
/* The C-callable symbols of libboost_context (boost/context/detail/
   fcontext.hpp declares them for C++ only). */
typedef void *fcontext_t;
typedef struct {
    fcontext_t fctx;
    void *data;
} transfer_t;
transfer_t jump_fcontext(fcontext_t const to, void *vp);
fcontext_t make_fcontext(void *sp, size_t size, void (*fn)(transfer_t));

/* A simple pool of stacks, as a Boost user would keep
   (boost::context::pooled_fixedsize_stack). */
#define BOOST_POOL_MAX 8
static ref_stack boost_pool[BOOST_POOL_MAX];
static int boost_pool_n;

static ref_stack
boost_stack_get(void)
{
    ref_stack s;
    if (boost_pool_n > 0) {
        return boost_pool[--boost_pool_n];
    }
    ref_stack_map(&s);
    return s;
}

static void
boost_stack_put(ref_stack s)
{
    if (boost_pool_n < BOOST_POOL_MAX) {
        boost_pool[boost_pool_n++] = s;
    } else {
        ref_stack_unmap(&s);
    }
}

/* Round trip main -> g -> main. */
typedef struct boost_sw_state {
    fcontext_t ctx;
    ref_stack stack;
} boost_sw_state;

static void
boost_sw_body(transfer_t t)
{
    for (;;) {
        t = jump_fcontext(t.fctx, t.data);
    }
}

static void *
boost_sw_setup(long param)
{
    (void)param;
    boost_sw_state *st = calloc(1, sizeof *st);
    if (st == NULL) {
        bench_die("calloc", -1);
    }
    st->stack = boost_stack_get();
    st->ctx = make_fcontext(st->stack.hi, REF_STACK_SIZE, boost_sw_body);
    st->ctx = jump_fcontext(st->ctx, NULL).fctx;
    return st;
}

static void
boost_sw_run(void *state, long n)
{
    boost_sw_state *st = state;
    fcontext_t ctx = st->ctx;
    for (long i = 0; i < n; i++) {
        ctx = jump_fcontext(ctx, NULL).fctx;
    }
    st->ctx = ctx;
}

static void
boost_sw_teardown(void *state)
{
    boost_sw_state *st = state;
    boost_stack_put(st->stack);
    free(st);
}

const bench_op op_boost_switch = {"boost.switch", boost_sw_setup, boost_sw_run,
                                  boost_sw_teardown, 0};

/* Create + first switch + finish (a final jump back) + release, with the
   stack from the pool. */
static void
boost_finish_body(transfer_t t)
{
    jump_fcontext(t.fctx, t.data);  /* "returns": never resumed */
    abort();
}

static void
boost_create_run(void *state, long n)
{
    (void)state;
    for (long i = 0; i < n; i++) {
        ref_stack s = boost_stack_get();
        fcontext_t ctx = make_fcontext(s.hi, REF_STACK_SIZE, boost_finish_body);
        transfer_t t = jump_fcontext(ctx, NULL);
        BENCH_BARRIER();
        (void)t;
        boost_stack_put(s);
    }
}

static void *
boost_create_setup(long param)
{
    (void)param;
    boost_create_run(NULL, 1);  /* fills the pool */
    return NULL;
}

static void
boost_create_teardown(void *state)
{
    (void)state;
}

const bench_op op_boost_create = {"boost.create", boost_create_setup, boost_create_run,
                                  boost_create_teardown, 0};
#endif /* HAVE_BOOST_FCONTEXT */
