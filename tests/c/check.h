/*
 * A tiny test harness: each test program runs named cases and prints one
 * line per case -- "ok - name", "not ok - name" or "skip - name: why" --
 * which tests/run-c-tests.sh counts.  A case fails if any CHECK in it
 * fails; the program exits nonzero if any case failed.
 */
#ifndef CG_TEST_CHECK_H
#define CG_TEST_CHECK_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "cgreenlet.h"

/* 1 in AddressSanitizer builds (gcc and clang say so differently). */
#if defined(__SANITIZE_ADDRESS__)
#define TEST_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define TEST_ASAN 1
#endif
#endif
#ifndef TEST_ASAN
#define TEST_ASAN 0
#endif

#if defined(__GNUC__)
#define CG_TEST_NOINLINE __attribute__((noinline))
#define CG_TEST_MAYBE_UNUSED __attribute__((unused))
#else
#define CG_TEST_NOINLINE
#define CG_TEST_MAYBE_UNUSED
#endif

/* Integers as message values, and back. */
#define V(x) ((void *)(uintptr_t)(x))
#define I(p) ((uintptr_t)(p))

static int check_case_failures;
static int check_failed_cases;

#define CHECK(cond)                                                         \
    do {                                                                    \
        if (!(cond)) {                                                      \
            fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, \
                    #cond);                                                 \
            check_case_failures++;                                          \
        }                                                                   \
    } while (0)

/* Checks that a cgreenlet call returned `want`, naming both on failure. */
#define CHECK_ST(expr, want)                                                \
    do {                                                                    \
        cg_status check_st_ = (expr);                                       \
        if (check_st_ != (want)) {                                          \
            fprintf(stderr, "%s:%d: %s returned %s, expected %s\n",         \
                    __FILE__, __LINE__, #expr, cg_strerror(check_st_),      \
                    cg_strerror(want));                                     \
            check_case_failures++;                                          \
        }                                                                   \
    } while (0)

#define CHECK_OK(expr) CHECK_ST((expr), CG_OK)

static inline const char *
mode_name(cg_stack_mode m)
{
    return m == CG_STACK_COPY ? "copy" : "dedicated";
}

/* Options for a greenlet of stack mode `m` (default sizes). */
static inline cg_options
opts_for(cg_stack_mode m)
{
    cg_options o = {m, 0, 0};
    return o;
}

static void
report(const char *name, const char *suffix)
{
    if (check_case_failures) {
        check_failed_cases++;
        printf("not ok - %s%s\n", name, suffix);
    } else {
        printf("ok - %s%s\n", name, suffix);
    }
    check_case_failures = 0;
    fflush(stdout);
}

/* Runs a case that does not depend on the stack mode. */
static inline void
run_case(const char *name, void (*fn)(void))
{
    fn();
    report(name, "");
}

/* Runs a case once per stack mode. */
static inline void
run_case_modes(const char *name, void (*fn)(cg_stack_mode))
{
    fn(CG_STACK_COPY);
    report(name, " [copy]");
    fn(CG_STACK_DEDICATED);
    report(name, " [dedicated]");
}

static inline void
skip_case(const char *name, const char *why)
{
    printf("skip - %s: %s\n", name, why);
    fflush(stdout);
}

/* Nonzero when tests should use smaller sizes (valgrind, qemu). */
static inline int
light_mode(void)
{
    const char *e = getenv("CG_TEST_LIGHT");
    return e != NULL && *e && *e != '0';
}

/* A run function that finishes at once with its first message. */
static inline cg_msg
echo_first(cg_greenlet *self, cg_msg first)
{
    (void)self;
    return first;
}

/* Stack-local signatures: filled in a greenlet's frame, then verified
   after other greenlets have run. */
static inline void
fill_signature(volatile uintptr_t *buf, int n, uintptr_t key)
{
    for (int i = 0; i < n; i++) {
        buf[i] = key * 0x9e3779b97f4a7c15u + (uintptr_t)i;
    }
}

static inline int
signature_intact(const volatile uintptr_t *buf, int n, uintptr_t key)
{
    for (int i = 0; i < n; i++) {
        if (buf[i] != key * 0x9e3779b97f4a7c15u + (uintptr_t)i) {
            return 0;
        }
    }
    return 1;
}

/* cg_send made `depth` KiB further down the caller's stack, each KiB
   signed and checked afterwards, so that in copy mode the caller's bytes
   reach into a region another greenlet needs and must come back intact. */
static CG_TEST_NOINLINE CG_TEST_MAYBE_UNUSED cg_status
deep_send(int depth, cg_greenlet *g, cg_msg msg, cg_msg *got)
{
    volatile uintptr_t pad[128];
    cg_status st;
    fill_signature(pad, 128, (uintptr_t)depth);
    if (depth > 0) {
        st = deep_send(depth - 1, g, msg, got);
    } else {
        st = cg_send(g, msg, got);
    }
    CHECK(signature_intact(pad, 128, (uintptr_t)depth));
    return st;
}

/* Parks in main with a signature on its stack; when resumed, finishes
   with the value it was resumed with plus one (0xdd for an exit). */
static CG_TEST_MAYBE_UNUSED cg_msg
park_then_add_one(cg_greenlet *self, cg_msg first)
{
    volatile uintptr_t sig[32];
    cg_msg m;
    (void)self;
    fill_signature(sig, 32, I(first.value));
    CHECK_OK(cg_switch(cg_main(), NULL, &m));
    CHECK(signature_intact(sig, 32, I(first.value)));
    if (m.kind == CG_EXIT) {
        return (cg_msg){CG_VALUE, V(0xdd)};
    }
    return (cg_msg){CG_VALUE, V(I(m.value) + 1)};
}

static inline int
check_done(void)
{
    return check_failed_cases ? 1 : 0;
}

#endif
