/*
 * The stack-switching layer: saves registers and changes the stack
 * pointer.  It knows nothing of greenlets; src/core drives it.
 *
 * Backend selection: hand-written assembly where we have it (x86-64,
 * aarch64), else -- or when built with BACKEND=ucontext, which defines
 * CG_BACKEND_UCONTEXT -- the portable <ucontext.h> fallback.
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

#if !defined(CG_BACKEND_UCONTEXT) && !defined(__x86_64__) && !defined(__aarch64__)
#define CG_BACKEND_UCONTEXT 1
#endif

#ifdef CG_BACKEND_UCONTEXT
#include <ucontext.h>
#endif

/* Called on the old stack with the stack pointer at which the caller's
   state was saved; returns the stack pointer to continue on, or NULL to
   cancel the switch. */
typedef void *(*cg_arch_save_fn)(void *sp, void *arg);
/* Called once the stack pointer is the target's (below its saved frame);
   returns nonzero if the target is new and must start with the entry. */
typedef int (*cg_arch_restore_fn)(void *arg);
/* First function of a new context; never returns. */
typedef void (*cg_arch_entry_fn)(void);

/* A suspended execution context. */
typedef struct cg_arch_ctx {
    void *sp;           /* saved stack pointer (approximate for ucontext) */
#ifdef CG_BACKEND_UCONTEXT
    ucontext_t uc;
#endif
} cg_arch_ctx;

/* Name of the backend, for reports ("x86_64", "aarch64", "ucontext"). */
const char *cg_arch_name(void);

/* Prepares `ctx` so that switching to it runs entry() on the stack
   [lo, hi).  hi must be 16-byte aligned; the stack needs a few hundred
   bytes at least.  Never fails. */
void cg_arch_make(cg_arch_ctx *ctx, char *lo, char *hi, cg_arch_entry_fn entry);

/* Saves the caller into `from` and resumes `to` (prepared by cg_arch_make
   or saved by an earlier switch).  Returns when something resumes `from`. */
void cg_arch_swap_ctx(cg_arch_ctx *from, cg_arch_ctx *to);

/* Saves the caller into `from`, calls save(sp, arg) on the current stack,
   moves to the stack pointer it returns and calls restore(arg); resumes
   `to` -- or, if restore returned nonzero, calls entry() on the new stack.
   Returns 1 at once if save returned NULL (nothing changed), else 0 when
   something resumes `from`. */
int cg_arch_copy_switch(cg_arch_ctx *from, cg_arch_ctx *to,
                        cg_arch_save_fn save, cg_arch_restore_fn restore,
                        void *arg, cg_arch_entry_fn entry);

/* Prepares the calling thread for switching (the ucontext helper stack);
   0 on success, -1 if out of memory. */
int cg_arch_thread_init(void);

/* Releases per-thread resources of the backend (the ucontext helper
   stack).  Called at thread exit. */
void cg_arch_thread_exit(void);

#endif
