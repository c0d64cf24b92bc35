/*
 * cbench -- the C benchmark suite of cgreenlet (see docs/benchmarks.md).
 *
 * Every timed thing is a bench_op: setup() builds its state (and does one
 * warm-up operation where the first one would be special), run() does n
 * operations, teardown() releases everything.  The driver (main.c) times
 * pairs of ops -- ours and a reference -- in interleaved rounds and keeps
 * the best round of each; "--count OP N" does exactly N operations of one
 * op, for instruction counting under valgrind (bench/run.sh subtracts a
 * run with N = 0, which does the same setup and teardown).
 */
#ifndef CBENCH_H
#define CBENCH_H

#include <stddef.h>
#include <stdint.h>

#if defined(__GNUC__)
#define BENCH_NOINLINE __attribute__((noinline))
#else
#define BENCH_NOINLINE
#endif

/* Keeps the compiler from dropping or merging memory accesses around it. */
#define BENCH_BARRIER() __asm__ __volatile__("" ::: "memory")

typedef struct bench_op {
    const char *name;               /* as given to --count */
    void *(*setup)(long param);
    void (*run)(void *state, long n);
    void (*teardown)(void *state);
    long param;                     /* passed to setup */
} bench_op;

/* main.c */
double bench_now_ns(void);
void bench_die(const char *what, int status);   /* status: a cg_status or -1 */

/* ops_cg.c: our library */
extern const bench_op op_cg_switch_copy, op_cg_switch_dedicated;
extern const bench_op op_cg_create_copy, op_cg_create_dedicated;
extern const bench_op op_cg_copy;       /* param: KiB of live stack held */
/* The bytes a copy op with `kib` KiB actually saves per switch (measured
   with cg_stack_saved). */
size_t cg_copy_live_bytes(long kib);

/* ops_ref.c: references.  The minimal register swap exists where there
   is a ref_swap_<arch>.S; elsewhere (the qemu-only architectures) the rows
   it is the reference of print "-" for it. */
#if defined(__x86_64__) || defined(__aarch64__)
#define HAVE_REF_SWAP 1
extern const bench_op op_ref_swap;      /* minimal register swap (.S) */
#define REF_SWAP (&op_ref_swap)
#else
#define REF_SWAP NULL
#endif
extern const bench_op op_memcpy;        /* param: KiB, as op_cg_copy */
#ifdef HAVE_BOOST_FCONTEXT
extern const bench_op op_boost_switch, op_boost_create;
#endif

/* The minimal reference switch, bench/c/ref_swap_<arch>.S: saves the
   callee-saved registers on the current stack, stores the stack pointer in
   *save_sp, loads resume_sp and resumes what was saved there. */
void ref_swap(void **save_sp, void *resume_sp);
/* Where a fresh reference frame resumes: calls fn(arg) (both in the frame
   built by ops_ref.c) on the new stack. */
void ref_trampoline(void);

/* memory.c: memory and capacity metrics, each run in a child process;
   they print their table rows themselves. */
void bench_memory(void);

/* Prints one table row (main.c).  ref < 0: no reference. */
void bench_row(const char *key, double ours, double ref, const char *unit,
               const char *what);

#endif
