/*
 * libFuzzer target over the C core API (make fuzz-c, make check-fuzz-c).
 *
 * The input is a program: a stream of one-byte opcodes with operand
 * bytes, read by whichever greenlet is running -- the main greenlet of a
 * fresh thread, or any greenlet's run function, at any recursion depth --
 * so switches nest inside run functions and copy-stack slices of many
 * sizes are saved and restored.  Operations: create (copy or dedicated,
 * random parent), switch, throw, send an exit, kill, destroy, set_parent,
 * discard, finish, recurse / return, yield to the parent, make the Nth
 * allocation from now fail or fail every allocation for a few operations,
 * trim, and a full consistency query.
 *
 * Checked after every call: the status is one the header documents for
 * that call and situation (CG_ENOMEM only when an allocation was refused
 * during the call, CG_EDEAD only for a dead target, ...), the effects are
 * the documented ones (dead after a successful kill, parent changed after
 * set_parent, ...), the running greenlet is cg_current() and the only one
 * CG_RUNNING, dead and not-started greenlets hold no stack, cg_foreach
 * sees exactly the undestroyed greenlets, arriving messages have a known
 * kind, and each frame's locals survive every switch.  When the program
 * runs out, every greenlet that gets control finishes, main destroys what
 * is left, and the thread exits; then no block of the allocator hook may
 * be outstanding.  A failed check prints why and aborts (a crash for
 * libFuzzer).
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cgreenlet.h"

#define MAX_G 40        /* undestroyed greenlets besides main */
#define MAX_DEPTH 24    /* interpreter recursion per greenlet */
#define PAD 48          /* words of signature per interpreter frame */

#define V(x) ((void *)(uintptr_t)(x))
#define I(p) ((uintptr_t)(p))

/* FUZZ_TRACE=1 in the environment prints every operation (to read a
   finding: FUZZ_TRACE=1 build/fuzz-c/fuzz_core CRASH_FILE). */
static int trace;
#define TRACE(...) (trace ? (void)fprintf(stderr, __VA_ARGS__) : (void)0)

static void
fail(const char *what, int line)
{
    fprintf(stderr, "fuzz_core.c:%d: invariant broken: %s\n", line, what);
    abort();
}
#define REQUIRE(c) ((c) ? (void)0 : fail(#c, __LINE__))

/* ---- the allocator hook: counts blocks, fails on demand ------------------ */

static atomic_long outstanding;
static long allocs;             /* allocation calls (fuzz thread only) */
static long fail_at;            /* the allocation that fails; 0: none */
static int fail_window;         /* operations left during which all fail */
static long injected;           /* allocations refused so far */

static void *
fz_malloc(size_t size, void *ctx)
{
    (void)ctx;
    allocs++;
    if (fail_window > 0 || allocs == fail_at) {
        injected++;
        return NULL;
    }
    void *p = malloc(size);
    if (p != NULL) {
        atomic_fetch_add(&outstanding, 1);
    }
    return p;
}

static void
fz_free(void *ptr, void *ctx)
{
    (void)ctx;
    atomic_fetch_sub(&outstanding, 1);
    free(ptr);
}

/* ---- the program --------------------------------------------------------- */

static const uint8_t *prog;
static size_t prog_len, pc;

static int
more(void)
{
    return pc < prog_len;
}

static unsigned
next(void)
{
    return pc < prog_len ? prog[pc++] : 0;
}

/* The thread's undestroyed greenlets besides main, in no order. */
static cg_greenlet *gs[MAX_G];
static int ng;
static cg_greenlet *main_g;
static uintptr_t created;   /* greenlets created; each one's number is its
                               userdata (main: 0) */
#define NAME(g) ((unsigned long)I(cg_userdata(g)))

/* A greenlet chosen by the next byte: one of gs, or main. */
static cg_greenlet *
pick(void)
{
    unsigned b = next();
    return (int)(b % (unsigned)(ng + 1)) == ng ? main_g : gs[b % (unsigned)(ng + 1)];
}

static void
forget(cg_greenlet *g)
{
    for (int i = 0; i < ng; i++) {
        if (gs[i] == g) {
            gs[i] = gs[--ng];
            return;
        }
    }
    fail("forgetting an unknown greenlet", __LINE__);
}

static int
known_kind(cg_kind k)
{
    return k == CG_VALUE || k == CG_ERROR || k == CG_EXIT || k == CG_LOST_VALUE ||
           k == CG_LOST_ERROR;
}

/* 1 if `a` is `g` or one of g's ancestors.  The chain may loop while a
   kill of an ancestor is in progress (cg_kill), so the walk is bounded. */
static int
is_ancestor_or_self(const cg_greenlet *a, const cg_greenlet *g)
{
    int steps = 0;
    for (const cg_greenlet *p = g; p != NULL && steps <= MAX_G + 1;
         p = cg_parent(p), steps++) {
        if (p == a) {
            return 1;
        }
    }
    return 0;
}

static int foreach_seen;
static int foreach_bad;

static int
count_one(cg_greenlet *g, void *arg)
{
    (void)arg;
    if (foreach_seen == 0 && g != main_g) {
        foreach_bad = 1;    /* main comes first */
    }
    foreach_seen++;
    return 0;
}

/* Everything that must hold whenever `self` runs. */
static void
check_world(cg_greenlet *self)
{
    REQUIRE(cg_current() == self);
    REQUIRE(cg_get_state(self) == CG_RUNNING);
    REQUIRE(cg_main() == main_g && cg_is_main(main_g));
    for (int i = 0; i < ng; i++) {
        cg_greenlet *g = gs[i];
        cg_state s = cg_get_state(g);
        REQUIRE(!cg_is_main(g));
        REQUIRE(cg_thread_token(g) == cg_thread_token(main_g));
        if (g == self) {
            continue;
        }
        REQUIRE(s == CG_NOT_STARTED || s == CG_SUSPENDED || s == CG_DEAD);
        if (s == CG_SUSPENDED) {
            REQUIRE(cg_stack_span(g) > 0);
            REQUIRE(cg_stack_saved(g) <= cg_stack_span(g));
        } else {
            REQUIRE(cg_stack_saved(g) == 0 && cg_stack_span(g) == 0);
        }
    }
    if (self != main_g) {
        REQUIRE(cg_get_state(main_g) == CG_SUSPENDED);
    }
    foreach_seen = 0;
    foreach_bad = 0;
    REQUIRE(cg_foreach(count_one, NULL) == 0);
    REQUIRE(!foreach_bad && foreach_seen == ng + 1);
}

static void
check_msg(cg_msg m)
{
    REQUIRE(known_kind(m.kind));
    REQUIRE(I(m.value) < 0x10000);
}

/* A refusal for lack of memory must come from a refused allocation. */
static void
check_nomem(cg_status st, long inj_before)
{
    if (st == CG_ENOMEM) {
        REQUIRE(injected > inj_before);
    }
}

/* ---- the interpreter ------------------------------------------------------ */

enum { GO_ON, UP, FINISH };

static cg_msg fz_run(cg_greenlet *self, cg_msg first);

/* What `self` does with an arriving exit request: finish now, or (if
   the program says so) carry on.  Anyone may send CG_EXIT to a main
   greenlet, but main cannot finish: for it, leaving the interpreter means
   the program is over, and the teardown relies on that (every greenlet it
   kills then finishes, as it reads no more "carry on" bytes). */
static int
exit_requested(const cg_greenlet *self, cg_msg m)
{
    int finish = m.kind == CG_EXIT && (next() & 1) == 0;
    return finish && self != main_g;
}

static void
op_create(void)
{
    unsigned flags = next();
    cg_options o = {flags & 1 ? CG_STACK_DEDICATED : CG_STACK_COPY,
                    flags & 2 ? (size_t)32 * 1024 : 0, (flags & 4) != 0};
    cg_greenlet *parent = (flags & 8) ? pick() : NULL;
    cg_greenlet *g = V(0x1);
    if (ng == MAX_G) {
        return;
    }
    long inj = injected;
    cg_status st = cg_create(&g, fz_run, parent, &o);
    REQUIRE(st == CG_OK || st == CG_ENOMEM || st == CG_ENOSTACK);
    check_nomem(st, inj);
    if (st != CG_OK) {
        REQUIRE(g == V(0x1));
        return;
    }
    REQUIRE(cg_get_state(g) == CG_NOT_STARTED);
    REQUIRE(cg_parent(g) == (parent ? parent : cg_current()));
    cg_set_userdata(g, V(++created));
    TRACE("  created g%lu (%s, parent g%lu)\n", NAME(g), flags & 1 ? "dedicated" : "copy",
          NAME(cg_parent(g)));
    gs[ng++] = g;
}

/* cg_send to `t` from `self`; 1 if `self` must finish now. */
static int
op_send(cg_greenlet *self, cg_greenlet *t, cg_msg msg)
{
    cg_state before = cg_get_state(t);
    cg_msg got = {(cg_kind)77, V(0x77)};
    long inj = injected;
    cg_status st;
    if (msg.kind == CG_VALUE) {
        st = cg_switch(t, msg.value, &got);
    } else if (msg.kind == CG_ERROR) {
        st = cg_throw(t, msg.value, &got);
    } else {
        st = cg_send(t, msg, &got);
    }
    TRACE("  g%lu: send kind %d to g%lu: %s, got kind %d\n", NAME(self), (int)msg.kind,
          NAME(t), cg_strerror(st), (int)got.kind);
    check_nomem(st, inj);
    switch (st) {
    case CG_OK:
        check_msg(got);
        if (t == self) {
            REQUIRE(got.kind == msg.kind && got.value == msg.value);
        }
        return exit_requested(self, got);
    case CG_EDEAD:
        REQUIRE(before == CG_DEAD);
        break;
    case CG_ESTACK_OVERFLOW:
        REQUIRE(before == CG_NOT_STARTED);
        break;
    case CG_ENOMEM:
        REQUIRE(before != CG_DEAD);
        break;
    default:
        fail(cg_strerror(st), __LINE__);
    }
    REQUIRE(got.kind == (cg_kind)77);   /* refused: nothing arrived */
    REQUIRE(cg_get_state(t) == before);
    return 0;
}

/* 1 if `g` is main or still undestroyed: calls that switch run other
   greenlets' code, which may destroy what the caller was working on. */
static int
known(const cg_greenlet *g)
{
    if (g == main_g) {
        return 1;
    }
    for (int i = 0; i < ng; i++) {
        if (gs[i] == g) {
            return 1;
        }
    }
    return 0;
}

/* What cg_kill and cg_destroy may say besides CG_OK, and when. */
static void
check_refusal(cg_status st, cg_greenlet *self, cg_greenlet *t, cg_state before)
{
    switch (st) {
    case CG_EINVAL:
        REQUIRE(t == main_g);
        break;
    case CG_EBUSY:
        REQUIRE(t == self);
        break;
    case CG_EALIVE:
        REQUIRE(cg_get_state(t) == CG_SUSPENDED);
        break;
    case CG_ENOMEM:
        REQUIRE(cg_get_state(t) == before);
        break;
    default:
        fail(cg_strerror(st), __LINE__);
    }
}

static void
op_kill(cg_greenlet *self, cg_greenlet *t)
{
    cg_state before = cg_get_state(t);
    cg_greenlet *parent = cg_parent(t);
    cg_msg got = {(cg_kind)77, V(0x77)};
    long inj = injected;
    cg_status st = cg_kill(t, &got);
    TRACE("  g%lu: kill g%lu: %s\n", NAME(self), NAME(t), cg_strerror(st));
    check_nomem(st, inj);
    if (!known(t)) {
        REQUIRE(st == CG_OK || st == CG_EALIVE);
        return;     /* destroyed meanwhile by code the kill ran */
    }
    if (st == CG_OK) {
        REQUIRE(cg_get_state(t) == CG_DEAD);
    } else {
        check_refusal(st, self, t, before);
    }
    if (st == CG_OK || st == CG_EALIVE) {
        check_msg(got);
    }
    if (t != main_g && st != CG_EBUSY) {
        /* The parent is put back (main if that would make a cycle). */
        REQUIRE(cg_parent(t) == parent || cg_parent(t) == main_g);
    }
}

static void
op_destroy(cg_greenlet *self, cg_greenlet *t)
{
    cg_state before = cg_get_state(t);
    long inj = injected;
    unsigned long name = NAME(t);
    cg_status st = cg_destroy(t);
    TRACE("  g%lu: destroy g%lu: %s\n", NAME(self), name, cg_strerror(st));
    check_nomem(st, inj);
    if (!known(t)) {
        REQUIRE(st == CG_EINVAL);
        return;     /* destroyed meanwhile by code the kill ran */
    }
    if (st == CG_OK) {
        forget(t);
    } else {
        check_refusal(st, self, t, before);
    }
}

static void
op_set_parent(cg_greenlet *g, cg_greenlet *p)
{
    cg_greenlet *old = cg_parent(g);
    cg_status st = cg_set_parent(g, p);
    TRACE("  set_parent g%lu <- g%lu: %s\n", NAME(g), NAME(p), cg_strerror(st));
    switch (st) {
    case CG_OK:
        REQUIRE(cg_parent(g) == p);
        break;
    case CG_EINVAL:
        REQUIRE(g == main_g);
        break;
    case CG_ECYCLE:
        REQUIRE(is_ancestor_or_self(g, p) && cg_parent(g) == old);
        break;
    default:
        fail(cg_strerror(st), __LINE__);
    }
}

static void
op_discard(cg_greenlet *self, cg_greenlet *t)
{
    cg_status st = cg_discard(t);
    TRACE("  g%lu: discard g%lu: %s\n", NAME(self), NAME(t), cg_strerror(st));
    switch (st) {
    case CG_OK:
        REQUIRE(cg_get_state(t) == CG_DEAD);
        break;
    case CG_EINVAL:
        REQUIRE(t == main_g);
        break;
    case CG_EBUSY:
        REQUIRE(t == self);
        break;
    default:
        fail(cg_strerror(st), __LINE__);
    }
}

static int
on_signature(volatile uintptr_t *pad, uintptr_t key, int fill)
{
    for (int i = 0; i < PAD; i++) {
        uintptr_t want = key * 0x9e3779b97f4a7c15u + (uintptr_t)i;
        if (fill) {
            pad[i] = want;
        } else if (pad[i] != want) {
            return 0;
        }
    }
    return 1;
}

/* Runs the program as `self` at recursion depth `depth`: GO_ON never
   comes back; UP pops one level; FINISH (non-main only) unwinds to the run
   function, which returns *fin. */
static int
interp(cg_greenlet *self, int depth, cg_msg *fin)
{
    volatile uintptr_t pad[PAD];
    uintptr_t key = I(self) ^ ((uintptr_t)depth << 40);
    int r = GO_ON;
    (void)on_signature(pad, key, 1);
    while (r == GO_ON) {
        if (!more()) {
            *fin = (cg_msg){CG_VALUE, V(0xe0d)};
            r = self == main_g ? UP : FINISH;
            break;
        }
        if (fail_window > 0) {
            fail_window--;
        }
        unsigned op = next() % 16;
        TRACE("g%lu depth %d pc %zu: op %u\n", NAME(self), depth, pc - 1, op);
        switch (op) {
        case 0:
            op_create();
            break;
        case 1:
        case 2: {
            cg_greenlet *t = pick();
            cg_msg m = {op == 1 ? CG_VALUE : CG_ERROR, V(next())};
            if (op_send(self, t, m)) {
                *fin = (cg_msg){CG_VALUE, V(0xdd)};
                r = FINISH;
            }
            break;
        }
        case 3:
            if (op_send(self, pick(), (cg_msg){CG_EXIT, V(next())})) {
                *fin = (cg_msg){CG_VALUE, V(0xdd)};
                r = FINISH;
            }
            break;
        case 4:
            op_kill(self, pick());
            break;
        case 5:
            op_destroy(self, pick());
            break;
        case 6: {
            cg_greenlet *g = pick();
            op_set_parent(g, pick());
            break;
        }
        case 7:
            op_discard(self, pick());
            break;
        case 8: {
            unsigned b = next();
            if (self != main_g) {
                *fin = (cg_msg){(cg_kind)(b % 5), V(b)};
                if (fin->kind == CG_LOST_VALUE || fin->kind == CG_LOST_ERROR) {
                    fin->kind = CG_EXIT;
                }
                r = FINISH;
            }
            break;
        }
        case 9:
            if (depth < MAX_DEPTH) {
                int sub = interp(self, depth + 1, fin);
                if (sub == FINISH) {
                    r = FINISH;
                }
            }
            break;
        case 10:
            if (depth > 0) {
                r = UP;
            }
            break;
        case 11:
            if (self != main_g) {
                if (op_send(self, cg_parent(self), (cg_msg){CG_VALUE, V(next())})) {
                    *fin = (cg_msg){CG_VALUE, V(0xdd)};
                    r = FINISH;
                }
            }
            break;
        case 12:
            fail_at = allocs + 1 + next() % 8;
            break;
        case 13:
            fail_window = 1 + (int)(next() % 4);
            break;
        case 14:
            cg_trim();
            break;
        default:
            break;  /* 15: just the checks */
        }
        REQUIRE(on_signature(pad, key, 0));
        check_world(self);
    }
    return r;
}

static cg_msg
fz_run(cg_greenlet *self, cg_msg first)
{
    cg_msg fin = {CG_VALUE, NULL};
    REQUIRE(first.kind == CG_VALUE);
    check_world(self);
    while (interp(self, 0, &fin) != FINISH) {
        /* UP at depth 0: keep going */
    }
    return fin;
}

static void *
fuzz_thread(void *arg)
{
    cg_msg fin;
    (void)arg;
    main_g = cg_current();
    if (main_g == NULL) {
        return NULL;    /* the thread state's allocation was refused */
    }
    ng = 0;
    created = 0;
    check_world(main_g);
    (void)interp(main_g, 0, &fin);
    /* The program is over: whatever gets control finishes. */
    REQUIRE(!more());
    fail_at = 0;
    fail_window = 0;
    while (ng > 0) {
        cg_greenlet *g = gs[ng - 1];
        cg_status st = cg_destroy(g);
        TRACE("teardown: destroy g%lu: %s (pc %zu of %zu)\n", NAME(g), cg_strerror(st), pc,
              prog_len);
        if (st != CG_OK) {
            fail(cg_strerror(st), __LINE__);
        }
        forget(g);
        check_world(main_g);
    }
    cg_trim();
    return NULL;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static int installed;
    pthread_t th;
    if (!installed) {
        trace = getenv("FUZZ_TRACE") != NULL;
        cg_set_allocator(fz_malloc, fz_free, NULL);
        installed = 1;
    }
    prog = data;
    prog_len = size;
    pc = 0;
    allocs = 0;
    injected = 0;
    fail_at = 0;
    fail_window = 0;
    /* The first byte may fail one of the thread's first allocations. */
    if (size > 0 && data[0] >= 0xf8) {
        fail_at = 1 + (data[0] & 3);
        pc = 1;
    }
    if (pthread_create(&th, NULL, fuzz_thread, NULL) != 0) {
        return 0;
    }
    pthread_join(th, NULL);
    if (atomic_load(&outstanding) != 0) {
        fprintf(stderr, "fuzz_core: %ld blocks outstanding after thread exit\n",
                atomic_load(&outstanding));
        abort();
    }
    return 0;
}
