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

#include <stddef.h>
#include <stdint.h>

#include "../core/sanitizer.h"

/* Bytes below a new copy-stack greenlet's stop handed to makecontext; only
   used to compute the initial stack pointer, never touched as a whole. */
#define FRESH_SPAN 4096
#define HELPER_STACK_SIZE CG_ARCH_SCRATCH_SIZE

struct helper {
    cg_arch_ctx ctx;     /* the helper's own context */
    char *stack;
    cg_arch_ctx *from, *to;
    cg_arch_save_fn save;       /* NULL: a plain swap */
    cg_arch_restore_fn restore;
    cg_arch_arrive_fn arrive;   /* NULL: restore did the arriving work */
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
#elif defined(__riscv)
    (void)approx;
    return (void *)(uintptr_t)uc->uc_mcontext.__gregs[REG_SP];
#elif defined(__powerpc64__)
    (void)approx;
    return (void *)(uintptr_t)uc->uc_mcontext.gp_regs[1];    /* r1 */
#elif defined(__s390x__)
    (void)approx;
    return (void *)(uintptr_t)uc->uc_mcontext.gregs[15];     /* r15 */
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
    return CG_ARCH_NAME;
}

/* The DWARF column of the return address, where we know it: fresh_start
   marks it undefined, so unwinders (backtrace(), gdb) stop there.  Some
   libcs' context start code does not end the walk itself (glibc's on
   ppc64le lets libgcc walk on into stale stack and crash); above a fresh
   context there is only another greenlet's frames or unmapped memory. */
#if defined(__x86_64__)
#define RA_COLUMN "16"
#elif defined(__aarch64__)
#define RA_COLUMN "30"
#elif defined(__riscv)
#define RA_COLUMN "1"
#elif defined(__powerpc64__)
#define RA_COLUMN "65"
#elif defined(__s390x__)
#define RA_COLUMN "14"
#endif

/* Only when the compiler emits its CFI as assembler directives (GCC and
   clang say so with this macro); otherwise there is no frame to annotate. */
#if defined(RA_COLUMN) && defined(__GCC_HAVE_DWARF2_CFI_ASM)
#define END_OF_STACK_FOR_UNWINDERS() __asm__ volatile(".cfi_undefined " RA_COLUMN)
#else
#define END_OF_STACK_FOR_UNWINDERS() ((void)0)
#endif

/* First code of a context made by cg_arch_make: the arriving work of the
   switch that got here, then the context's entry. */
static void
fresh_start(void)
{
    END_OF_STACK_FOR_UNWINDERS();
    struct helper *h = &tls_helper;
    cg_arch_ctx *self = h->to;
    if (h->arrive != NULL) {
        (void)h->arrive(h->arg);
    }
    self->entry();
}

static void
make_raw(ucontext_t *uc, char *lo, char *hi, void (*fn)(void))
{
    getcontext(uc);
    uc->uc_stack.ss_sp = lo;
    uc->uc_stack.ss_size = (size_t)(hi - lo);
    uc->uc_link = NULL;
    makecontext(uc, fn, 0);
}

void
cg_arch_make(cg_arch_ctx *ctx, char *lo, char *hi, cg_arch_entry_fn entry)
{
    make_raw(&ctx->uc, lo, hi, fresh_start);
    ctx->entry = entry;
    ctx->sp = hi;
}

/* helper_main never returns: each switch starts it afresh and it leaves
   by setcontext.  Under ThreadSanitizer its function entry would stay on
   the shadow call stack of whichever fiber runs (the target's), one more
   per switch until the stack runs off its end, so its frame is closed by
   hand before it leaves. */
#ifdef CG_TSAN
void __tsan_func_exit(void);
#define LEAVE_HELPER() __tsan_func_exit()
#else
#define LEAVE_HELPER() ((void)0)
#endif

static void
helper_main(void)
{
    struct helper *h = &tls_helper;
    void *sp = uc_sp(&h->from->uc, h->from->sp);
    h->from->sp = sp;
    if (h->save == NULL) {
        LEAVE_HELPER();
        setcontext(&h->to->uc);
    }
    char *new_sp = h->save(sp, h->arg);
    if (new_sp == NULL) {
        h->failed = 1;
        LEAVE_HELPER();
        setcontext(&h->from->uc);
    }
    h->arrive = NULL;
    if (h->restore(h->arg)) {
        cg_arch_make(h->to, new_sp - FRESH_SPAN, new_sp, h->entry);
    }
    LEAVE_HELPER();
    setcontext(&h->to->uc);
}

/* Every switch goes through the helper: a copy switch needs it, and a
   copy-stack greenlet switching to a dedicated stack must have its exact
   stack pointer recorded (it bounds its slice), which only the helper can
   read once the context is saved. */
static int
via_helper(cg_arch_ctx *from, cg_arch_ctx *to, cg_arch_save_fn save,
           cg_arch_restore_fn restore, cg_arch_arrive_fn arrive, void *arg,
           cg_arch_entry_fn entry)
{
    struct helper *h = &tls_helper;
    char here;
    make_raw(&h->ctx.uc, h->stack, h->stack + HELPER_STACK_SIZE, helper_main);
    h->from = from;
    h->to = to;
    h->save = save;
    h->restore = restore;
    h->arrive = arrive;
    h->arg = arg;
    h->entry = entry;
    h->failed = 0;
    from->sp = &here;
    swapcontext(&from->uc, &h->ctx.uc);
    /* Resumed: by a failed save (at once), or later by some switch. */
    h = &tls_helper;
    if (h->failed) {
        h->failed = 0;
        return 1;
    }
    return h->arrive != NULL ? h->arrive(h->arg) : 0;
}

int
cg_arch_copy_switch(cg_arch_ctx *from, cg_arch_ctx *to, cg_arch_save_fn save,
                    cg_arch_restore_fn restore, void *arg, cg_arch_entry_fn entry)
{
    return via_helper(from, to, save, restore, NULL, arg, entry);
}

int
cg_arch_swap_ctx(cg_arch_ctx *from, cg_arch_ctx *to, cg_arch_arrive_fn arrive, void *arg)
{
    return via_helper(from, to, NULL, NULL, arrive, arg, NULL);
}

void
cg_arch_thread_init(void *scratch)
{
    tls_helper.stack = scratch;
}

void
cg_arch_thread_exit(void)
{
    tls_helper.stack = NULL;
}

#endif /* CG_BACKEND_UCONTEXT */
