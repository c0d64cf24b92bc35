/*
 * AddressSanitizer and valgrind annotations, no-ops in ordinary builds.
 *
 * ASan must be told when the stack pointer moves to another stack (fiber
 * switch), or it reports false stack overflows and mis-tracks fake stacks.
 * Copy-stack slices move bytes whose shadow belongs to other frames, so the
 * slice code unpoisons what it copies.  Valgrind must be told which memory
 * is a stack, or it takes every dedicated-stack switch for a huge frame.
 */
#ifndef CG_SANITIZER_H
#define CG_SANITIZER_H

#include <stddef.h>

#if defined(__SANITIZE_ADDRESS__)
#define CG_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define CG_ASAN 1
#endif
#endif

#ifdef CG_ASAN
#include <sanitizer/asan_interface.h>
#include <sanitizer/common_interface_defs.h>
#define cg_asan_unpoison(p, n) __asan_unpoison_memory_region((p), (n))
#else
#define cg_asan_unpoison(p, n) ((void)(p), (void)(n))
#endif

#if defined(__has_include)
#if __has_include(<valgrind/valgrind.h>) && __has_include(<valgrind/memcheck.h>)
#include <valgrind/memcheck.h>
#include <valgrind/valgrind.h>
#define CG_HAVE_VALGRIND 1
#endif
#endif

static inline unsigned
cg_valgrind_stack_register(void *lo, void *hi)
{
#ifdef CG_HAVE_VALGRIND
    return VALGRIND_STACK_REGISTER(lo, hi);
#else
    (void)lo;
    (void)hi;
    return 0;
#endif
}

static inline void
cg_valgrind_stack_deregister(unsigned id)
{
#ifdef CG_HAVE_VALGRIND
    VALGRIND_STACK_DEREGISTER(id);
#else
    (void)id;
#endif
}

/* Marks [lo, lo + len) as stack memory that may be written (contents
   undefined).  Valgrind learns about stack memory from stack-pointer
   moves; when the stack pointer jumps onto the thread stack, the region a
   copy-stack greenlet resumes in can still be marked inaccessible from
   returns made there earlier.  Out of line (src/stack/copy.c): the client
   request needs a local array, which would stop the switch's tail call. */
void cg__valgrind_stack_writable(void *lo, size_t len);

/* Room below a resumed stack pointer for the switch's own calls. */
#define CG_VALGRIND_MARGIN 1024

#endif
