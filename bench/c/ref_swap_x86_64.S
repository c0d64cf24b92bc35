/*
 * The minimal reference switch for x86-64 (System V): callee-saved
 * registers and the stack pointer, nothing else -- no MXCSR, no x87 control
 * word, no bookkeeping.  It resumes with an indirect jump, like cgreenlet's
 * own switch, so the two differ only in what cgreenlet adds.
 *
 *   void ref_swap(void **save_sp, void *resume_sp)
 *
 * Frame (offsets from the saved stack pointer):
 *   0 r15 | 8 r14 | 16 r13 | 24 r12 | 32 rbx | 40 rbp | 48 return address
 */
#if defined(__x86_64__)
        .text
        .globl  ref_swap
        .type   ref_swap, @function
        .p2align 4
ref_swap:
        pushq   %rbp
        pushq   %rbx
        pushq   %r12
        pushq   %r13
        pushq   %r14
        pushq   %r15
        movq    %rsp, (%rdi)
        movq    %rsi, %rsp
        popq    %r15
        popq    %r14
        popq    %r13
        popq    %r12
        popq    %rbx
        popq    %rbp
        popq    %rcx
        jmpq    *%rcx
        .size   ref_swap, .-ref_swap

/* First code on a fresh stack: the frame holds fn in rbx, arg in r12;
   %rsp is 16-byte aligned here.  fn never returns. */
        .globl  ref_trampoline
        .type   ref_trampoline, @function
ref_trampoline:
        movq    %r12, %rdi
        callq   *%rbx
        ud2
        .size   ref_trampoline, .-ref_trampoline
#endif
        .section .note.GNU-stack,"",%progbits
