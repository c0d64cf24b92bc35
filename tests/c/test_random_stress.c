/* Random switching checked against a model.  Greenlets of both stack modes
   act on a script of random words (generated from a fixed seed by
   xorshift, so every run is the same): switch to a random live greenlet,
   throw into one, send one an exit message, re-parent one (a cycle must
   be refused), finish with a value, an error or an exit, create a child,
   kill or destroy one -- each after recursing to a random depth, so
   copy-stack slices of many sizes are saved and restored.  A plain C model
   predicts every step: who runs next and what message it receives
   (including delivery to the nearest live ancestor when parents are dead
   and not-started greenlets dying when sent an error), and after every
   event each greenlet's cg_get_state, cg_parent and cg_stack_saved are
   compared with it.  Every frame's locals carry a signature that is
   verified after each resume.  The first mismatch ends the program. */
#include <pthread.h>
#include <stdint.h>
#include <string.h>

#include "check.h"

#define NOINLINE __attribute__((noinline))

#define K_INITIAL 16
#define MAX_LIVE 24         /* started or not, not dead, besides main */
#define MAX_UNDESTROYED 64  /* beyond that, destroy picks dead ones */
#define MAX_SLOTS 8192
#define MAX_DEPTH 24
#define SEED_STACK ((size_t)256 * 1024 * 1024)

#define DONE V(0xd0e)

enum act {
    A_SWITCH, A_THROW, A_EXIT, A_SET_PARENT, A_FINISH, A_CREATE, A_KILL,
    A_DESTROY
};

struct action {
    enum act type;
    int t, p;               /* target slot; parent slot (-1: none given) */
    cg_msg msg;
    cg_stack_mode mode;
    int depth;
};

/* The model: one slot per greenlet ever created (slot 0 is main). */
struct slot {
    cg_greenlet *g;
    int parent;             /* slot, -1 for main */
    cg_state state;         /* what cg_get_state must say */
    int destroyed;
    cg_stack_mode mode;
    cg_msg expect;          /* what its pending call must return */
};

static struct slot S[MAX_SLOTS];
static int nslots;
static int cur;                         /* the slot that must be running */
static int und[MAX_SLOTS], nund;        /* undestroyed slots */
static int pick[MAX_SLOTS];             /* scratch */

static uint64_t seed;
static uint64_t *script;
static long nevents, ev;
static char case_name[96];

/* Statistics (CG_STRESS_VERBOSE=1). */
static long st_switches, st_created, st_finished, st_killed, st_cycles,
    st_ancestor_deliveries, st_fresh_discards;
static char *stack_top;
static size_t max_depth_bytes;

static uint64_t
xorshift(uint64_t *x)
{
    *x ^= *x << 13;
    *x ^= *x >> 7;
    *x ^= *x << 17;
    return *x;
}

static cg_greenlet *
G(int i)
{
    return i < 0 ? NULL : S[i].g;
}

static void
bail_if_failed(void)
{
    if (check_case_failures) {
        fprintf(stderr, "  seed %llu, event %ld of %ld\n", (unsigned long long)seed,
                ev, nevents);
        report(case_name, "");
        fflush(stderr);
        _Exit(1);
    }
}

static const char *
state_name(cg_state s)
{
    static const char *names[] = {"not started", "suspended", "running", "dead"};
    return (unsigned)s < 4 ? names[s] : "?";
}

/* Every undestroyed greenlet's state, parent and saved stack as the model
   has them. */
static void
sweep(void)
{
    CHECK(cg_current() == S[cur].g);
    for (int k = 0; k < nund; k++) {
        int i = und[k];
        cg_state st = cg_get_state(S[i].g);
        if (st != S[i].state) {
            fprintf(stderr, "  slot %d (%s) is %s, model says %s\n", i,
                    mode_name(S[i].mode), state_name(st), state_name(S[i].state));
        }
        CHECK(st == S[i].state);
        CHECK(cg_parent(S[i].g) == G(S[i].parent));
        size_t saved = cg_stack_saved(S[i].g);
        if (S[i].state != CG_SUSPENDED) {
            CHECK(saved == 0);
        } else if (S[i].mode == CG_STACK_DEDICATED) {
            CHECK(saved > 0);
        }
    }
}

/* Slot s has just got control back with `got` (NULL: no message). */
static void
arrived(int s, const cg_msg *got)
{
    char here;
    if (stack_top != NULL && S[s].mode == CG_STACK_COPY &&
        (size_t)(stack_top - &here) > max_depth_bytes) {
        max_depth_bytes = (size_t)(stack_top - &here);
    }
    if (cur != s) {
        fprintf(stderr, "  slot %d is running, model expected slot %d\n", s, cur);
    }
    CHECK(cur == s);
    CHECK(cg_current() == S[s].g);
    if (got != NULL) {
        if (got->kind != S[s].expect.kind || got->value != S[s].expect.value) {
            fprintf(stderr, "  slot %d received (%d, %#lx), model expected (%d, %#lx)\n",
                    s, got->kind, (unsigned long)I(got->value), S[s].expect.kind,
                    (unsigned long)I(S[s].expect.value));
        }
        CHECK(got->kind == S[s].expect.kind && got->value == S[s].expect.value);
    }
    sweep();
    bail_if_failed();
}

/* ---- the model's rules -------------------------------------------------- */

/* Who receives a message sent towards p: dead greenlets pass it to their
   parents; a not-started one sent an error dies and passes it on. */
static int
model_receiver(int p, cg_kind kind, int first)
{
    for (;;) {
        if (S[p].state == CG_DEAD) {
            p = S[p].parent;
        } else if (S[p].state == CG_NOT_STARTED && kind != CG_VALUE) {
            S[p].state = CG_DEAD;
            st_fresh_discards++;
            p = S[p].parent;
        } else {
            if (p != first) {
                st_ancestor_deliveries++;
            }
            return p;
        }
    }
}

static void
model_transfer(int from, int to, cg_msg m)
{
    if (S[from].state == CG_RUNNING) {
        S[from].state = CG_SUSPENDED;
    }
    S[to].state = CG_RUNNING;
    S[to].expect = m;
    cur = to;
    st_switches++;
}

/* cg_send(t, m) from s. */
static void
model_send(int s, int t, cg_msg m)
{
    if (t == s) {
        S[s].expect = m;
        return;
    }
    if (S[t].state == CG_NOT_STARTED && m.kind != CG_VALUE) {
        /* Dies without running, as if it had finished with m. */
        S[t].state = CG_DEAD;
        st_fresh_discards++;
        if (m.kind == CG_EXIT) {
            m.kind = CG_VALUE;
        }
        int r = model_receiver(S[t].parent, m.kind, S[t].parent);
        if (r == s) {
            S[s].expect = m;
        } else {
            model_transfer(s, r, m);
        }
        return;
    }
    model_transfer(s, t, m);
}

/* s returns m from its run function. */
static void
model_finish(int s, cg_msg m)
{
    S[s].state = CG_DEAD;
    st_finished++;
    if (m.kind == CG_EXIT) {
        m.kind = CG_VALUE;
    }
    model_transfer(s, model_receiver(S[s].parent, m.kind, S[s].parent), m);
}

static int
model_cycle(int g, int p)
{
    for (int q = p; q >= 0; q = S[q].parent) {
        if (q == g) {
            return 1;
        }
    }
    return 0;
}

static void
forget(int i)
{
    S[i].destroyed = 1;
    for (int k = 0; k < nund; k++) {
        if (und[k] == i) {
            und[k] = und[--nund];
            return;
        }
    }
    CHECK(!"destroyed slot not in the list");
}

/* ---- the actors --------------------------------------------------------- */

static cg_msg actor_loop(int s, cg_msg last);

static cg_msg
actor_run(cg_greenlet *self, cg_msg first)
{
    int s = (int)I(cg_userdata(self));
    CHECK(S[s].g == self);
    CHECK(first.kind == CG_VALUE);
    arrived(s, &first);
    return actor_loop(s, first);
}

static int
live_nonmain(void)
{
    int n = 0;
    for (int k = 0; k < nund; k++) {
        int i = und[k];
        n += i != 0 && S[i].state != CG_DEAD;
    }
    return n;
}

/* A random undestroyed slot; live_only: not dead; no_main: not slot 0. */
static int
random_slot(uint64_t r, int live_only, int no_main)
{
    int n = 0;
    for (int k = 0; k < nund; k++) {
        int i = und[k];
        if ((live_only && S[i].state == CG_DEAD) || (no_main && i == 0)) {
            continue;
        }
        pick[n++] = i;
    }
    return n ? pick[r % (uint64_t)n] : -1;
}

static void
choose(int s, uint64_t w, struct action *a)
{
    uint64_t r = w % 100;
    uint64_t x = w >> 16;
    uint64_t y = w >> 40;
    void *val = V(0x1000000 + (uintptr_t)ev);
    int live = live_nonmain();

    a->depth = (int)((w >> 8) % (MAX_DEPTH + 1));
    a->t = a->p = -1;
    a->mode = (y & 1) ? CG_STACK_DEDICATED : CG_STACK_COPY;
    if (live < 4) {
        r = 70;   /* keep a population */
    }
    if (r < 36) {
        a->type = A_SWITCH;
        a->t = random_slot(x, 1, 0);
        a->msg = (cg_msg){CG_VALUE, val};
    } else if (r < 46) {
        a->type = A_THROW;
        a->t = random_slot(x, 1, 0);
        a->msg = (cg_msg){CG_ERROR, val};
    } else if (r < 50) {
        a->type = A_EXIT;
        a->t = random_slot(x, 1, 1);
        a->msg = (cg_msg){CG_EXIT, val};
        if (a->t < 0 || (s == 0 && a->t == 0)) {
            a->type = A_SWITCH;
            a->t = 0;
            a->msg.kind = CG_VALUE;
        }
    } else if (r < 58) {
        a->type = A_SET_PARENT;
        a->t = random_slot(x, 0, 0);
        a->p = random_slot(y, 0, 0);
    } else if (r < 66 && s != 0) {
        static const cg_kind kinds[4] = {CG_VALUE, CG_ERROR, CG_EXIT, CG_VALUE};
        a->type = A_FINISH;
        a->msg = (cg_msg){kinds[y % 4], val};
    } else if (r < 76 || r >= 94) {
        a->type = A_CREATE;
        a->p = (y >> 1) % 2 ? random_slot(y >> 2, 0, 0) : -1;
        if (live >= MAX_LIVE || nslots >= MAX_SLOTS) {
            a->type = A_SWITCH;
            a->t = random_slot(x, 1, 0);
            a->msg = (cg_msg){CG_VALUE, val};
        }
    } else if (r < 84) {
        a->type = A_KILL;
        a->t = random_slot(x, 0, 0);
    } else {
        a->type = A_DESTROY;
        /* Mostly the dead; sometimes anyone (a live one is killed first). */
        a->t = random_slot(x, 0, 0);
        if (nund > MAX_UNDESTROYED || y % 3 != 0) {
            int n = 0;
            for (int k = 0; k < nund; k++) {
                if (S[und[k]].state == CG_DEAD) {
                    pick[n++] = und[k];
                }
            }
            if (n > 0) {
                a->t = pick[x % (uint64_t)n];
            }
        }
    }
}

static const cg_msg nothing = {CG_VALUE, NULL};

/* Kill (destroy: 0) or destroy (destroy: 1) slot t from s, per the model. */
static cg_msg
do_kill(int s, int t, int destroy)
{
    cg_msg got = {CG_ERROR, V(0xbad)};
    if (t == 0) {
        CHECK_ST(destroy ? cg_destroy(G(t)) : cg_kill(G(t), &got), CG_EINVAL);
        return nothing;
    }
    if (t == s) {
        CHECK_ST(destroy ? cg_destroy(G(t)) : cg_kill(G(t), &got), CG_EBUSY);
        return nothing;
    }
    if (S[t].state != CG_SUSPENDED) {
        /* Not started or dead: nothing runs. */
        if (destroy) {
            CHECK_OK(cg_destroy(G(t)));
            S[t].state = CG_DEAD;
            forget(t);
        } else {
            CHECK_OK(cg_kill(G(t), &got));
            CHECK(got.kind == CG_VALUE && got.value == NULL);
            S[t].state = CG_DEAD;
        }
        sweep();
        return nothing;
    }
    /* It is resumed with an exit message, its parent temporarily s; it
       finishes (actor_loop) into s; its parent is put back. */
    int old = S[t].parent;
    S[t].parent = s;
    model_transfer(s, t, (cg_msg){CG_EXIT, NULL});
    st_killed++;
    if (destroy) {
        CHECK_OK(cg_destroy(G(t)));
        S[t].parent = old;
        forget(t);
        arrived(s, NULL);
        return nothing;
    }
    CHECK_OK(cg_kill(G(t), &got));
    S[t].parent = old;
    arrived(s, &got);
    CHECK(S[t].state == CG_DEAD);
    return got;
}

static cg_msg
perform(int s, const struct action *a)
{
    cg_msg got = {CG_ERROR, V(0xbad)};
    switch (a->type) {
    case A_SWITCH:
    case A_THROW:
    case A_EXIT:
        model_send(s, a->t, a->msg);
        CHECK_OK(cg_send(G(a->t), a->msg, &got));
        arrived(s, &got);
        return got;
    case A_SET_PARENT: {
        cg_status want = CG_OK;
        if (a->t == 0) {
            want = CG_EINVAL;
        } else if (model_cycle(a->t, a->p)) {
            want = CG_ECYCLE;
            st_cycles++;
        }
        CHECK_ST(cg_set_parent(G(a->t), G(a->p)), want);
        if (want == CG_OK) {
            S[a->t].parent = a->p;
        }
        sweep();
        return nothing;
    }
    case A_CREATE: {
        cg_options o = {a->mode, 0, 0};
        cg_greenlet *g = NULL;
        int i = nslots;
        if (a->mode == CG_STACK_DEDICATED && (a->depth & 1)) {
            o.stack_size = 64 * 1024;
            o.no_guard_page = 1;
        }
        CHECK_OK(cg_create(&g, actor_run, G(a->p), &o));
        bail_if_failed();
        cg_set_userdata(g, V(i));
        S[i] = (struct slot){g, a->p < 0 ? s : a->p, CG_NOT_STARTED, 0, a->mode,
                             nothing};
        nslots++;
        und[nund++] = i;
        st_created++;
        sweep();
        return nothing;
    }
    case A_KILL:
        return do_kill(s, a->t, 0);
    case A_DESTROY:
        return do_kill(s, a->t, 1);
    case A_FINISH:
        break;
    }
    CHECK(!"not reached");
    return nothing;
}

/* Recursion `depth` frames deep through frames of four sizes (picked by
   the script word), acting at the bottom and checking every frame's locals
   on the way back.  (Fixed-size frames: a VLA would trip AddressSanitizer
   over stale shadow on reused dedicated stack mappings, a separate issue.) */
static cg_msg deep(int s, int depth, const struct action *a, uint64_t salt);

#define DEEP_FRAME(name, words)                                             \
    static NOINLINE cg_msg name(int s, int depth, const struct action *a,   \
                                uint64_t salt)                              \
    {                                                                       \
        volatile uintptr_t buf[words];                                      \
        uintptr_t key = (uintptr_t)salt + (uintptr_t)depth * 131 + (uintptr_t)s; \
        fill_signature(buf, words, key);                                              \
        cg_msg r = depth > 0 ? deep(s, depth - 1, a, salt) : perform(s, a); \
        if (!signature_intact(buf, words, key)) {                                     \
            fprintf(stderr, "  slot %d: frame %d of its recursion was corrupted\n", \
                    s, depth);                                              \
            CHECK(!"stack-local data survives");                            \
            bail_if_failed();                                               \
        }                                                                   \
        return r;                                                           \
    }

DEEP_FRAME(frame_s, 2)
DEEP_FRAME(frame_m, 16)
DEEP_FRAME(frame_l, 48)
DEEP_FRAME(frame_xl, 160)

static cg_msg
deep(int s, int depth, const struct action *a, uint64_t salt)
{
    switch ((salt >> (depth % 48)) & 3) {
    case 0:
        return frame_s(s, depth, a, salt);
    case 1:
        return frame_m(s, depth, a, salt);
    case 2:
        return frame_l(s, depth, a, salt);
    default:
        return frame_xl(s, depth, a, salt);
    }
}

/* Plays the script until it runs out.  Returns (for a greenlet other than
   main) with the message to finish with. */
static cg_msg
actor_loop(int s, cg_msg last)
{
    volatile uintptr_t sig[16];
    fill_signature(sig, 16, (uintptr_t)s ^ (uintptr_t)seed);
    for (;;) {
        if (!signature_intact(sig, 16, (uintptr_t)s ^ (uintptr_t)seed)) {
            CHECK(!"stack-local data survives");
            bail_if_failed();
        }
        if (last.kind == CG_EXIT) {
            /* Killed, destroyed or sent an exit: finish (sometimes with an
               exit message, which must arrive as a value). */
            cg_msg r = {s % 3 == 0 ? CG_EXIT : CG_VALUE, V(0xdead0000u + (unsigned)s)};
            CHECK(s != 0);
            model_finish(s, r);
            return r;
        }
        if (ev >= nevents) {
            if (s == 0) {
                return last;
            }
            model_send(s, 0, (cg_msg){CG_VALUE, DONE});
            CHECK_OK(cg_switch(G(0), DONE, &last));
            arrived(s, &last);
            continue;
        }
        uint64_t w = script[ev++];
        struct action a;
        choose(s, w, &a);
        if (a.type == A_FINISH) {
            model_finish(s, a.msg);
            return a.msg;
        }
        last = deep(s, a.depth, &a, w);
    }
}

static int
count_one(cg_greenlet *g, void *arg)
{
    (void)g;
    ++*(int *)arg;
    return 0;
}

/* One seed, in a fresh thread with a large stack (many copy-stack
   greenlets start below one another). */
static void *
seed_thread(void *arg)
{
    (void)arg;
    pthread_attr_t attr;
    void *addr;
    size_t size;
    if (pthread_getattr_np(pthread_self(), &attr) == 0) {
        if (pthread_attr_getstack(&attr, &addr, &size) == 0) {
            stack_top = (char *)addr + size;
        }
        pthread_attr_destroy(&attr);
    }

    uint64_t x = seed * 0x2545f4914f6cdd1du + 1;
    for (long i = 0; i < nevents; i++) {
        script[i] = xorshift(&x);
    }
    memset(S, 0, sizeof S);
    nslots = nund = 0;
    ev = 0;
    S[0] = (struct slot){cg_current(), -1, CG_RUNNING, 0, CG_STACK_COPY, nothing};
    CHECK(S[0].g != NULL && cg_is_main(S[0].g));
    bail_if_failed();
    und[nund++] = 0;
    nslots = 1;
    cur = 0;
    /* The initial population: a random tree under main, mixed modes. */
    for (int i = 1; i <= K_INITIAL; i++) {
        struct action a = {A_CREATE, -1, (int)(xorshift(&x) % (uint64_t)i), nothing,
                           (xorshift(&x) & 1) ? CG_STACK_DEDICATED : CG_STACK_COPY,
                           (int)(xorshift(&x) % 2)};
        perform(0, &a);
    }
    cg_msg last = actor_loop(0, nothing);
    CHECK(last.kind != CG_EXIT);   /* main is never asked to exit */
    CHECK(cur == 0);
    /* Finish everything: kill some, destroy all. */
    while (nund > 1) {
        int t = und[0] != 0 ? und[0] : und[1];
        if (S[t].state == CG_SUSPENDED && t % 2) {
            cg_msg got = do_kill(0, t, 0);
            CHECK(got.kind == CG_VALUE && I(got.value) == 0xdead0000u + (unsigned)t);
        }
        do_kill(0, t, 1);
    }
    int n = 0;
    cg_foreach(count_one, &n);
    CHECK(n == 1);
    bail_if_failed();
    return NULL;
}

static void
case_seed(void)
{
    pthread_attr_t attr;
    pthread_t th;
    st_switches = st_created = st_finished = st_killed = st_cycles = 0;
    st_ancestor_deliveries = st_fresh_discards = 0;
    max_depth_bytes = 0;
    stack_top = NULL;
    pthread_attr_init(&attr);
    pthread_attr_setstacksize(&attr, SEED_STACK);
    if (pthread_create(&th, &attr, seed_thread, NULL) != 0) {
        fprintf(stderr, "pthread_create failed\n");
        exit(1);
    }
    pthread_join(th, NULL);
    pthread_attr_destroy(&attr);
    const char *v = getenv("CG_STRESS_VERBOSE");
    if (v != NULL && *v == '1') {
        fprintf(stderr,
                "  seed %llu: %ld events, %ld switches, %d greenlets, %ld finished, "
                "%ld killed/destroyed live, %ld cycles refused, %ld deliveries to "
                "an ancestor, %ld not-started discarded, copy stack depth %zu KiB\n",
                (unsigned long long)seed, nevents, st_switches, nslots, st_finished,
                st_killed, st_cycles, st_ancestor_deliveries, st_fresh_discards,
                max_depth_bytes / 1024);
    }
}

int
main(void)
{
    static const uint64_t seeds[] = {1, 2, 3, 0xc0ffee, 20240601, 99991};
    int nseeds = light_mode() ? 2 : 6;
    nevents = light_mode() ? 2000 : 20000;
    script = malloc((size_t)nevents * sizeof *script);
    if (script == NULL) {
        return 1;
    }
    for (int i = 0; i < nseeds; i++) {
        seed = seeds[i];
        snprintf(case_name, sizeof case_name,
                 "random switch/throw/exit/finish/kill/destroy/re-parent match "
                 "the model (seed %llu)",
                 (unsigned long long)seed);
        run_case(case_name, case_seed);
    }
    free(script);
    return check_done();
}
