/*
 * Portable fallback backend on <ucontext.h> (BACKEND=ucontext).
 *
 * Dedicated stacks map directly onto makecontext/swapcontext.  A copy
 * switch needs code that runs while neither the old nor the new greenlet
 * owns the stack (saving one slice, restoring the other), so it goes
 * through a small per-thread helper context on its own heap stack:
 *
 *     origin --swapcontext--> helper: save(sp); restore() --setcontext--> target
 *
 * Slower than assembly (swapcontext also saves the signal mask, a system
 * call), but it passes the same tests.
 */
#include "arch.h"

#ifdef CG_BACKEND_UCONTEXT

#include <stdint.h>
#include <stdlib.h>

/* Bytes below a new copy-stack greenlet's stop handed to makecontext; only
   used to compute the initial stack pointer, never touched as a whole. */
#define FRESH_SPAN 4096
#define HELPER_STACK_SIZE (64 * 1024)

struct helper {
    cg_arch_ctx ctx;     /* the helper's own context */
    char *stack;
    cg_arch_ctx *from, *to;
    cg_arch_save_fn save;
    cg_arch_restore_fn restore;
    cg_arch_entry_fn entry;
    void *arg;
    int failed;
};

static _Thread_local struct helper tls_helper;

/* The exact stack pointer saved in a context, where the platform says. */
static void *
uc_sp(const ucontext_t *uc, void *approx)
{
#if defined(__x86_64__)
    (void)approx;
    return (void *)(uintptr_t)uc->uc_mcontext.gregs[REG_RSP];
#elif defined(__aarch64__)
    (void)approx;
    return (void *)(uintptr_t)uc->uc_mcontext.sp;
#elif defined(__i386__)
    (void)approx;
    return (void *)(uintptr_t)uc->uc_mcontext.gregs[REG_ESP];
#else
    /* Unknown layout: a local of the switching function, less a margin
       for the part of its frame below that local. */
    (void)uc;
    return (char *)approx - 256;
#endif
}

const char *
cg_arch_name(void)
{
    return "ucontext";
}

void
cg_arch_make(cg_arch_ctx *ctx, char *lo, char *hi, cg_arch_entry_fn entry)
{
    getcontext(&ctx->uc);
    ctx->uc.uc_stack.ss_sp = lo;
    ctx->uc.uc_stack.ss_size = (size_t)(hi - lo);
    ctx->uc.uc_link = NULL;
    makecontext(&ctx->uc, entry, 0);
    ctx->sp = hi;
}


static void
helper_main(void)
{
    struct helper *h = &tls_helper;
    void *sp = uc_sp(&h->from->uc, h->from->sp);
    h->from->sp = sp;
    if (h->save == NULL) {
        setcontext(&h->to->uc);
    }
    char *new_sp = h->save(sp, h->arg);
    if (new_sp == NULL) {
        h->failed = 1;
        setcontext(&h->from->uc);
    }
    if (h->restore(h->arg)) {
        cg_arch_make(h->to, new_sp - FRESH_SPAN, new_sp, h->entry);
    }
    setcontext(&h->to->uc);
}

/* Goes through the helper; a NULL save means a plain swap, where the helper
   only records the exact stack pointer `from` was saved at. */
static int
via_helper(cg_arch_ctx *from, cg_arch_ctx *to, cg_arch_save_fn save,
           cg_arch_restore_fn restore, void *arg, cg_arch_entry_fn entry)
{
    struct helper *h = &tls_helper;
    char here;
    cg_arch_make(&h->ctx, h->stack, h->stack + HELPER_STACK_SIZE,
                 helper_main);
    h->from = from;
    h->to = to;
    h->save = save;
    h->restore = restore;
    h->arg = arg;
    h->entry = entry;
    h->failed = 0;
    from->sp = &here;
    swapcontext(&from->uc, &h->ctx.uc);
    h = &tls_helper;
    if (h->failed) {
        h->failed = 0;
        return 1;
    }
    return 0;
}

int
cg_arch_copy_switch(cg_arch_ctx *from, cg_arch_ctx *to, cg_arch_save_fn save,
                    cg_arch_restore_fn restore, void *arg, cg_arch_entry_fn entry)
{
    return via_helper(from, to, save, restore, arg, entry);
}

/* A copy-stack greenlet switching to a dedicated stack must have its exact
   stack pointer recorded (it bounds its slice), so even plain swaps go
   through the helper. */
void
cg_arch_swap_ctx(cg_arch_ctx *from, cg_arch_ctx *to)
{
    (void)via_helper(from, to, NULL, NULL, NULL, NULL);
}

int
cg_arch_thread_init(void)
{
    if (tls_helper.stack == NULL) {
        tls_helper.stack = malloc(HELPER_STACK_SIZE);
    }
    return tls_helper.stack ? 0 : -1;
}

void
cg_arch_thread_exit(void)
{
    free(tls_helper.stack);
    tls_helper.stack = NULL;
}

#endif /* CG_BACKEND_UCONTEXT */
