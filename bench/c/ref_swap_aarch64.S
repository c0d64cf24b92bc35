/*
 * The minimal reference switch for aarch64 (AAPCS64): callee-saved
 * registers (x19-x30, d8-d15) and sp, nothing else -- no FPCR, no
 * bookkeeping -- resuming with an indirect branch.
 *
 *   void ref_swap(void **save_sp, void *resume_sp)
 *
 * Frame (offsets from the saved sp, 160 bytes):
 *   0..72 x19-x28 | 80 x29 | 88 x30 | 96..152 d8-d15
 */
#if defined(__aarch64__)
        .text
        .globl  ref_swap
        .type   ref_swap, %function
        .p2align 4
ref_swap:
        sub     sp, sp, #160
        stp     x19, x20, [sp, #0]
        stp     x21, x22, [sp, #16]
        stp     x23, x24, [sp, #32]
        stp     x25, x26, [sp, #48]
        stp     x27, x28, [sp, #64]
        stp     x29, x30, [sp, #80]
        stp     d8, d9, [sp, #96]
        stp     d10, d11, [sp, #112]
        stp     d12, d13, [sp, #128]
        stp     d14, d15, [sp, #144]
        mov     x9, sp
        str     x9, [x0]
        mov     sp, x1
        ldp     x19, x20, [sp, #0]
        ldp     x21, x22, [sp, #16]
        ldp     x23, x24, [sp, #32]
        ldp     x25, x26, [sp, #48]
        ldp     x27, x28, [sp, #64]
        ldp     x29, x30, [sp, #80]
        ldp     d8, d9, [sp, #96]
        ldp     d10, d11, [sp, #112]
        ldp     d12, d13, [sp, #128]
        ldp     d14, d15, [sp, #144]
        add     sp, sp, #160
        br      x30
        .size   ref_swap, .-ref_swap

/* First code on a fresh stack: fn in x19, arg in x20; never returns. */
        .globl  ref_trampoline
        .type   ref_trampoline, %function
ref_trampoline:
        mov     x0, x20
        blr     x19
        brk     #0
        .size   ref_trampoline, .-ref_trampoline
#endif
        .section .note.GNU-stack,"",%progbits
