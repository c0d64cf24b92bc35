/*
 * The stack-switching layer: saves registers and changes the stack
 * pointer.  It knows nothing of greenlets; src/core drives it.
 *
 * Backend selection is select.h's alone: hand-written assembly where we
 * have it (x86-64, aarch64, riscv64, ppc64le, s390x), else -- or when built with
 * BACKEND=ucontext, which defines CG_BACKEND_UCONTEXT -- the portable
 * <ucontext.h> fallback.
 *
 * Two primitives:
 *  - cg_arch_swap_ctx: plain context swap between two separate stacks
 *    (dedicated-stack greenlets).
 *  - cg_arch_copy_switch: a switch with two callbacks around the stack
 *    pointer change, so copy-stack code can save the slice it is about to
 *    overwrite (on the old stack) and restore the target's slice (below the
 *    target's frame, or on a helper stack for ucontext).
 */
#ifndef CG_ARCH_H
#define CG_ARCH_H

#include <stddef.h>

#include "select.h"

#ifdef CG_BACKEND_UCONTEXT
#include <ucontext.h>
#endif

/* Called on the old stack with the stack pointer at which the caller's
   state was saved; returns the stack pointer to continue on, or NULL to
   cancel the switch. */
typedef void *(*cg_arch_save_fn)(void *sp, void *arg);
/* Called once the stack pointer is the target's (below its saved frame);
   does the arriving side's work and returns nonzero if the target is new
   and must start with the entry. */
typedef int (*cg_arch_restore_fn)(void *arg);
/* Called on the target's stack by a plain swap, before the target's frame
   is resumed; its result is what the target's swap call returns. */
typedef int (*cg_arch_arrive_fn)(void *arg);
/* First function of a new context; never returns. */
typedef void (*cg_arch_entry_fn)(void);

/* A suspended execution context. */
typedef struct cg_arch_ctx {
    void *sp;           /* saved stack pointer */
#ifdef CG_BACKEND_UCONTEXT
    ucontext_t uc;
    cg_arch_entry_fn entry;
#endif
} cg_arch_ctx;

/* Name of the backend, for reports (CG_ARCH_NAME: "x86_64", "aarch64",
   "riscv64", "ppc64le", "s390x", "ucontext"). */
const char *cg_arch_name(void);

/* Prepares `ctx` so that switching to it runs entry() on the stack
   [lo, hi) (after the swap's arrive callback).  hi must be 16-byte aligned;
   the stack needs a few hundred bytes at least.  Never fails. */
void cg_arch_make(cg_arch_ctx *ctx, char *lo, char *hi, cg_arch_entry_fn entry);

/* Saves the caller into `from`, resumes `to` (prepared by cg_arch_make or
   saved by an earlier switch) and calls arrive(arg) on `to`'s stack first.
   Returns, when something resumes `from`, what that switch's arrive
   returned.  Meant to be tail-called. */
/* cg_arch_swap_ctx with nothing to do on arrival: `from`'s call returns 0
   when something resumes it. */
#ifdef CG_BACKEND_UCONTEXT
int cg_arch_swap_ctx(cg_arch_ctx *from, cg_arch_ctx *to, cg_arch_arrive_fn arrive,
                     void *arg);

static inline int
cg_arch_jump_ctx(cg_arch_ctx *from, cg_arch_ctx *to)
{
    return cg_arch_swap_ctx(from, to, NULL, NULL);
}
#else
int cg_arch_jump(void **save_sp, void *resume_sp);

static inline int
cg_arch_jump_ctx(cg_arch_ctx *from, cg_arch_ctx *to)
{
    return cg_arch_jump(&from->sp, to->sp);
}

/* The assembly itself (switch_<cpu>.S); inline so the C switch's tail call
   lands on it directly. */
int cg_arch_swap(void **save_sp, void *resume_sp, cg_arch_arrive_fn arrive, void *arg);

static inline int
cg_arch_swap_ctx(cg_arch_ctx *from, cg_arch_ctx *to, cg_arch_arrive_fn arrive, void *arg)
{
    return cg_arch_swap(&from->sp, to->sp, arrive, arg);
}
#endif

/* Saves the caller into `from`, calls save(sp, arg) on the current stack,
   moves to the stack pointer it returns and calls restore(arg); resumes
   `to` -- or, if restore returned nonzero, calls entry() on the new stack.
   Returns 1 at once if save returned NULL (nothing changed), else 0 when
   something resumes `from`.  Meant to be tail-called. */
#ifdef CG_BACKEND_UCONTEXT
int cg_arch_copy_switch(cg_arch_ctx *from, cg_arch_ctx *to,
                        cg_arch_save_fn save, cg_arch_restore_fn restore,
                        void *arg, cg_arch_entry_fn entry);
#else
int cg_arch_copy_switch_asm(cg_arch_save_fn save, cg_arch_restore_fn restore,
                            void *arg, cg_arch_entry_fn entry);

/* Inline, like cg_arch_swap_ctx: no C frame may span the stack change.
   Under ThreadSanitizer such a frame would enter on one fiber's shadow
   call stack and leave on another's, and the imbalance soon runs a
   shadow stack off its end.  The save callback records `from` itself. */
static inline int
cg_arch_copy_switch(cg_arch_ctx *from, cg_arch_ctx *to, cg_arch_save_fn save,
                    cg_arch_restore_fn restore, void *arg, cg_arch_entry_fn entry)
{
    (void)from;
    (void)to;
    return cg_arch_copy_switch_asm(save, restore, arg, entry);
}
#endif

/* Bytes of per-thread scratch memory the backend needs (the ucontext
   helper's stack; 0 for assembly). */
#ifdef CG_BACKEND_UCONTEXT
#define CG_ARCH_SCRATCH_SIZE ((size_t)64 * 1024)
#else
#define CG_ARCH_SCRATCH_SIZE ((size_t)0)
#endif

/* Prepares the calling thread for switching, with CG_ARCH_SCRATCH_SIZE
   bytes of memory the caller owns and keeps until cg_arch_thread_exit. */
void cg_arch_thread_init(void *scratch);

/* Forgets the calling thread's scratch memory (at thread exit). */
void cg_arch_thread_exit(void);

#endif
