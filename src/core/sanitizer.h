/*
 * AddressSanitizer, ThreadSanitizer and valgrind annotations, no-ops in
 * ordinary builds.
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

#if defined(__SANITIZE_THREAD__)
#define CG_TSAN 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define CG_TSAN 1
#endif
#endif

/* ThreadSanitizer keeps a context per fiber (its shadow call stack and
   vector clock) and must be told which one runs.  Every greenlet but a
   main one gets a fiber on its first switch (main has its thread's); the
   switch to it is announced just before the stack pointer moves, with
   synchronization, so one thread's greenlets are ordered one after
   another as they really are.  A fiber is destroyed once its greenlet
   is dead and control has left it.
   Each fiber has its own shadow call stack, so no instrumented C frame
   may span a stack change or a fiber switch (entered on one fiber, left
   on another): the announcing frame is the one that switches and is
   later resumed, so __tsan_switch_to_fiber must be called in that very
   frame (cg_tsan_switch is always inlined, and so are the arch layer's
   entry points over the assembly); a refused switch goes back to the
   origin's fiber in that frame too.  The runtime does not bounds-check
   these stacks (64K entries): one entry gained or lost per switch runs
   one off its end after enough switches (test_refused_switch_repeat).
   TSan (clang 14) also refuses a thread that ends on a fiber (pthread_exit
   CHECKs it runs on the thread's own context): thread exit puts the
   thread's context back first.  A thread that calls pthread_exit() inside
   a greenlet still trips that CHECK under TSan (the key destructor runs
   too late); cg_thread_exit() there would avoid it, but its contract
   keeps it to the main greenlet, so this stays a TSan-only limit. */
#ifdef CG_TSAN
#include <sanitizer/tsan_interface.h>

/* What instrumented code calls on function entry (the compiler's ABI,
   not in the public header). */
void __tsan_func_entry(void *call_pc);

/* Tells TSan that *fiber runs from now on (creating it on first use).
   Always inlined: as a function of its own it would be a frame that
   spans the switch -- its __tsan_func_entry counted on the old fiber, its
   __tsan_func_exit on the new one -- and clang does leave a copy out of
   line on cold paths (a failed switch's way back), one entry gained and
   one lost per call. */
static inline __attribute__((always_inline)) void
cg_tsan_switch(void **fiber)
{
    if (*fiber == NULL) {
        *fiber = __tsan_create_fiber(0);
    }
    __tsan_switch_to_fiber(*fiber, 0);
}

/* Destroys *fiber unless it is running: TSan's current context must
   never be freed from under the thread. */
static inline void
cg_tsan_destroy(void **fiber)
{
    if (*fiber != NULL && *fiber != __tsan_get_current_fiber()) {
        __tsan_destroy_fiber(*fiber);
        *fiber = NULL;
    }
}
#endif

#if defined(__has_include)
#if __has_include(<valgrind/valgrind.h>) && __has_include(<valgrind/memcheck.h>)
#include <valgrind/memcheck.h>
#include <valgrind/valgrind.h>
/* valgrind.h defines NVALGRIND on a CPU valgrind does not run (riscv64
   through Debian's cross compiler, which also searches /usr/include):
   then its macros ignore their arguments and there is nothing to do. */
#ifndef NVALGRIND
#define CG_HAVE_VALGRIND 1
#endif
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
