/*
 * cbench: times cgreenlet against reference switches and prints a table
 *
 *   key  ours  reference  ratio  unit  what
 *
 * (ratio = ours / reference; times in ns per operation).  Usage:
 *
 *   cbench                 the full table (a library built with FPCTL=0,
 *                          i.e. CG_NO_FPCTL, gives the no-FP switch rows)
 *   cbench --no-memory     without the memory/capacity rows
 *   cbench --list          rows that have instruction counts:
 *                          "key ours-op reference-op N"
 *   cbench --count OP N    exactly N operations of OP (for valgrind);
 *                          OP as in --list, e.g. switch.copy, copy.16
 *
 * Environment: CBENCH_PIN=1 pins to one CPU;
 * CBENCH_ROUNDS (default 201), CBENCH_BATCH_US (default 1000):
 * each pair of ops is timed in ROUNDS interleaved rounds of one batch each
 * (ours, reference, then reference, ours, ...), a batch being as many
 * operations as take about BATCH_US; the best round of each op counts.
 */
#include <errno.h>
#include <math.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "bench.h"
#include "cgreenlet.h"

#ifdef CG_NO_FPCTL
#define FP_BUILD 0
#else
#define FP_BUILD 1
#endif

static const long copy_kib[] = {1, 4, 16, 64};
#define N_COPY ((int)(sizeof copy_kib / sizeof copy_kib[0]))

double
bench_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

void
bench_die(const char *what, int status)
{
    if (status >= 0) {
        fprintf(stderr, "cbench: %s failed: %s\n", what, cg_strerror((cg_status)status));
    } else {
        fprintf(stderr, "cbench: %s failed: %s\n", what, strerror(errno));
    }
    exit(2);
}

static void
fmt_num(char *buf, size_t size, double v, const char *unit)
{
    if (v < 0 || isnan(v)) {
        snprintf(buf, size, "-");
    } else if (strncmp(unit, "ns", 2) == 0) {
        snprintf(buf, size, "%.1f", v);
    } else {
        snprintf(buf, size, "%.0f", v);
    }
}

void
bench_row(const char *key, double ours, double ref, const char *unit, const char *what)
{
    char o[32], r[32], q[32];
    fmt_num(o, sizeof o, ours, unit);
    fmt_num(r, sizeof r, ref, unit);
    if (ours >= 0 && ref > 0) {
        snprintf(q, sizeof q, "%.2f", ours / ref);
    } else {
        snprintf(q, sizeof q, "-");
    }
    printf("%-26s %10s %10s %6s  %-6s %s\n", key, o, r, q, unit[0] ? unit : "count", what);
    fflush(stdout);
}

/* ---- timing --------------------------------------------------------------- */

static int rounds = 201;
static double batch_ns = 1e6;

static double
time_batch(const bench_op *op, void *st, long n)
{
    double t0 = bench_now_ns();
    op->run(st, n);
    return bench_now_ns() - t0;
}

static long
calibrate(const bench_op *op, void *st)
{
    long n = 1;
    while (time_batch(op, st, n) < batch_ns && n < (1L << 30)) {
        n *= 2;
    }
    return n;
}

/* Best ns/op of `a` and (if not NULL) `b`, measured in interleaved rounds. */
static void
measure(const bench_op *a, long pa, const bench_op *b, long pb, double *best_a,
        double *best_b)
{
    void *sa = a->setup(pa);
    void *sb = b ? b->setup(pb) : NULL;
    long na = calibrate(a, sa);
    long nb = b ? calibrate(b, sb) : 0;
    *best_a = INFINITY;
    if (best_b) {
        *best_b = b ? INFINITY : -1;
    }
    for (int r = 0; r < rounds; r++) {
        for (int k = 0; k < 2; k++) {
            int which = (r & 1) ? 1 - k : k;
            if (which == 0) {
                double t = time_batch(a, sa, na) / (double)na;
                if (t < *best_a) {
                    *best_a = t;
                }
            } else if (b) {
                double t = time_batch(b, sb, nb) / (double)nb;
                if (t < *best_b) {
                    *best_b = t;
                }
            }
        }
    }
    a->teardown(sa);
    if (b) {
        b->teardown(sb);
    }
}

/* ---- the table ------------------------------------------------------------ */

#ifdef HAVE_BOOST_FCONTEXT
#define BOOST_SWITCH (&op_boost_switch)
#define BOOST_CREATE (&op_boost_create)
#define BOOST_NAME "boost.switch"
#define BOOST_CREATE_NAME "boost.create"
#else
#define BOOST_SWITCH NULL
#define BOOST_CREATE NULL
#define BOOST_NAME "-"
#define BOOST_CREATE_NAME "-"
#endif

static void
switch_rows(void)
{
    double ours, ref;
#if FP_BUILD
    measure(&op_cg_switch_copy, op_cg_switch_copy.param, BOOST_SWITCH, 0, &ours, &ref);
    bench_row("switch_rt.copy", ours, ref, "ns",
              "main->g->main, copy stack, FP control kept; ref = Boost jump_fcontext x2");
    measure(&op_cg_switch_dedicated, op_cg_switch_dedicated.param, BOOST_SWITCH, 0, &ours,
            &ref);
    bench_row("switch_rt.dedicated", ours, ref, "ns",
              "main->g->main, dedicated stack, FP control kept; ref = Boost jump_fcontext x2");
#ifdef HAVE_BOOST_FCONTEXT
    measure(&op_boost_switch, 0, REF_SWAP, 0, &ours, &ref);
    bench_row("ref.boost_vs_minimal", ours, ref, "ns",
              "Boost fcontext round trip vs the minimal register swap (no FP control)");
#endif
#else
    measure(&op_cg_switch_copy, op_cg_switch_copy.param, REF_SWAP, 0, &ours, &ref);
    bench_row("switch_rt.copy.nofp", ours, ref, "ns",
              "main->g->main, copy stack, built FPCTL=0; ref = minimal register swap x2");
    measure(&op_cg_switch_dedicated, op_cg_switch_dedicated.param, REF_SWAP, 0, &ours,
            &ref);
    bench_row("switch_rt.dedicated.nofp", ours, ref, "ns",
              "main->g->main, dedicated stack, built FPCTL=0; ref = minimal register swap x2");
#endif
}

static void
create_rows(void)
{
    double ours, ref;
    measure(&op_cg_create_copy, op_cg_create_copy.param, BOOST_CREATE, 0, &ours, &ref);
    bench_row("create.copy", ours, ref, "ns",
              "create+switch+finish+destroy, copy stack; ref = Boost make+jump+finish, pooled");
    measure(&op_cg_create_dedicated, op_cg_create_dedicated.param, BOOST_CREATE, 0, &ours,
            &ref);
    bench_row("create.dedicated", ours, ref, "ns",
              "create+switch+finish+destroy, pooled dedicated stack; ref = Boost, pooled");
}

static void
copy_rows(void)
{
    for (int i = 0; i < N_COPY; i++) {
        long kib = copy_kib[i];
        double bytes = (double)cg_copy_live_bytes(kib);
        double ours, ref;
        measure(&op_cg_copy, kib, &op_memcpy, kib, &ours, &ref);
        char key[32], what[160];
        snprintf(key, sizeof key, "copy.%ldKiB", kib);
        snprintf(what, sizeof what,
                 "switch round trip holding %.0f B of live stack, per KiB; ref = memcpy of "
                 "those bytes out and back in",
                 bytes);
        bench_row(key, ours * 1024.0 / bytes, ref * 1024.0 / bytes, "ns/KiB", what);
    }
}

/* ---- --list / --count ------------------------------------------------------ */

static void
list_counts(void)
{
    /* key, ours op, reference op, N */
#if FP_BUILD
    printf("switch_rt.copy switch.copy %s 20000\n", BOOST_NAME);
    printf("switch_rt.dedicated switch.dedicated %s 20000\n", BOOST_NAME);
    printf("ref.boost_vs_minimal %s ref.switch 20000\n", BOOST_NAME);
    printf("create.copy create.copy %s 10000\n", BOOST_CREATE_NAME);
    printf("create.dedicated create.dedicated %s 10000\n", BOOST_CREATE_NAME);
    for (int i = 0; i < N_COPY; i++) {
        printf("copy.%ldKiB copy.%ld memcpy.%ld %ld\n", copy_kib[i], copy_kib[i], copy_kib[i],
               20000 / copy_kib[i]);
    }
#else
    printf("switch_rt.copy.nofp switch.copy ref.switch 20000\n");
    printf("switch_rt.dedicated.nofp switch.dedicated ref.switch 20000\n");
#endif
}

static const bench_op *const all_ops[] = {
    &op_cg_switch_copy, &op_cg_switch_dedicated, &op_cg_create_copy,
    &op_cg_create_dedicated, &op_cg_copy, &op_memcpy,
#ifdef HAVE_REF_SWAP
    &op_ref_swap,
#endif
#ifdef HAVE_BOOST_FCONTEXT
    &op_boost_switch, &op_boost_create,
#endif
};

static int
count(const char *name, long n)
{
    char base[64];
    long param = -1;
    snprintf(base, sizeof base, "%s", name);
    char *dot = strrchr(base, '.');
    if (dot != NULL && dot[1] >= '0' && dot[1] <= '9') {
        param = strtol(dot + 1, NULL, 10);
        *dot = '\0';
    }
    for (size_t i = 0; i < sizeof all_ops / sizeof all_ops[0]; i++) {
        const bench_op *op = all_ops[i];
        if (strcmp(op->name, base) == 0) {
            void *st = op->setup(param >= 0 ? param : op->param);
            op->run(st, n);
            op->teardown(st);
            return 0;
        }
    }
    fprintf(stderr, "cbench: unknown op %s (see --list)\n", name);
    return 2;
}

/* CBENCH_PIN=1: runs on the current CPU only (no migrations between
   rounds; worse when something else is busy on that CPU). */
static void
pin_cpu(void)
{
    const char *e = getenv("CBENCH_PIN");
    if (e == NULL || strcmp(e, "1") != 0) {
        return;
    }
    int cpu = sched_getcpu();
    if (cpu >= 0) {
        cpu_set_t set;
        CPU_ZERO(&set);
        CPU_SET(cpu, &set);
        (void)sched_setaffinity(0, sizeof set, &set);
    }
}

int
main(int argc, char **argv)
{
    int memory = 1;
    if (argc >= 2 && strcmp(argv[1], "--list") == 0) {
        list_counts();
        return 0;
    }
    if (argc >= 2 && strcmp(argv[1], "--count") == 0) {
        if (argc != 4) {
            fprintf(stderr, "usage: cbench --count OP N\n");
            return 2;
        }
        return count(argv[2], strtol(argv[3], NULL, 10));
    }
    if (argc >= 2 && strcmp(argv[1], "--no-memory") == 0) {
        memory = 0;
    } else if (argc >= 2) {
        fprintf(stderr, "usage: cbench [--no-memory | --list | --count OP N]\n");
        return 2;
    }
    const char *e = getenv("CBENCH_ROUNDS");
    if (e && atoi(e) > 0) {
        rounds = atoi(e);
    }
    e = getenv("CBENCH_BATCH_US");
    if (e && atof(e) > 0) {
        batch_ns = atof(e) * 1e3;
    }
    pin_cpu();

    printf("# cbench: library %s FP control across switches; Boost fcontext %s; "
           "best of %d rounds\n",
           FP_BUILD ? "preserves" : "built without (FPCTL=0)",
#ifdef HAVE_BOOST_FCONTEXT
           "linked",
#else
           "not installed",
#endif
           rounds);
    printf("%-26s %10s %10s %6s  %-6s %s\n", "metric", "ours", "reference", "ratio", "unit",
           "what");
    switch_rows();
    if (FP_BUILD) {     /* the no-FP build is only there for its switch rows */
        create_rows();
        copy_rows();
        if (memory) {
            bench_memory();
        }
    }
    return 0;
}
