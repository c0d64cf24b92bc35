/*
 * Stack switching for x86-64 (System V ABI).  Assembly only: this file
 * knows nothing of greenlets; it saves the callee-saved state, changes the
 * stack pointer and resumes.  Frame layout (offsets from the saved stack
 * pointer) is in frame_x86_64.h:
 *
 *   0 MXCSR | 4 x87 CW | 8 r15 | 16 r14 | 24 r13 | 32 r12 | 40 rbx | 48 rbp
 *   56 return address
 *
 * Resuming pops the return address and jumps to it: a `ret` after a stack
 * change always mispredicts (the return stack buffer holds the other
 * stack's return), an indirect jmp is predicted from its history.
 *
 * With CG_NO_FPCTL defined, MXCSR and the x87 control word are neither
 * saved nor restored (the slot stays, so the layout is the same); this
 * saves about 6 ns a round trip but lets a rounding-mode change made in
 * one greenlet leak into the others.
 *
 * CFI: from the end of SAVE_STATE on, CFA = %rsp + 64 and every saved
 * register is described at its slot.  The same rule holds on either side
 * of the stack change (both stacks hold such a frame at %rsp), so a
 * debugger stopped in a callback walks from the old greenlet's switch into
 * its caller, or, once %rsp has moved, into the resumed greenlet.  Where a
 * new greenlet starts (the trampoline, the copy switch's entry call) the
 * return address is undefined: unwinders stop there.
 */
#include "select.h"
#ifdef CG_ARCH_X86_64
#include "frame_x86_64.h"

        .text

/* Push the callee-saved state; leaves %rsp 16-byte aligned. */
/* Push the callee-saved state; leaves %rsp 16-byte aligned. */
.macro SAVE_STATE
        pushq   %rbp
        .cfi_adjust_cfa_offset 8
        .cfi_rel_offset %rbp, 0
        pushq   %rbx
        .cfi_adjust_cfa_offset 8
        .cfi_rel_offset %rbx, 0
        pushq   %r12
        .cfi_adjust_cfa_offset 8
        .cfi_rel_offset %r12, 0
        pushq   %r13
        .cfi_adjust_cfa_offset 8
        .cfi_rel_offset %r13, 0
        pushq   %r14
        .cfi_adjust_cfa_offset 8
        .cfi_rel_offset %r14, 0
        pushq   %r15
        .cfi_adjust_cfa_offset 8
        .cfi_rel_offset %r15, 0
        subq    $8, %rsp
        .cfi_adjust_cfa_offset 8
#ifndef CG_NO_FPCTL
        stmxcsr CG_FRAME_MXCSR(%rsp)
        fnstcw  CG_FRAME_FPUCW(%rsp)
#endif
.endm

/* Pop the state pushed by SAVE_STATE (from whichever stack %rsp is on)
   and jump to the return address found there.  %eax is the result the
   resumed call returns: set it before.  The CFI rows of the frame are put
   back after it, for the code that follows in the same function. */
.macro RESUME
        .cfi_remember_state
#ifndef CG_NO_FPCTL
        ldmxcsr CG_FRAME_MXCSR(%rsp)
        fldcw   CG_FRAME_FPUCW(%rsp)
#endif
        addq    $8, %rsp
        .cfi_adjust_cfa_offset -8
        popq    %r15
        .cfi_adjust_cfa_offset -8
        .cfi_restore %r15
        popq    %r14
        .cfi_adjust_cfa_offset -8
        .cfi_restore %r14
        popq    %r13
        .cfi_adjust_cfa_offset -8
        .cfi_restore %r13
        popq    %r12
        .cfi_adjust_cfa_offset -8
        .cfi_restore %r12
        popq    %rbx
        .cfi_adjust_cfa_offset -8
        .cfi_restore %rbx
        popq    %rbp
        .cfi_adjust_cfa_offset -8
        .cfi_restore %rbp
        popq    %rcx
        .cfi_adjust_cfa_offset -8
        .cfi_register %rip, %rcx
        jmpq    *%rcx
        .cfi_restore_state
.endm

/*
 * int cg_arch_swap(void **save_sp, void *resume_sp,
 *                  int (*arrive)(void *arg), void *arg)
 * Saves the caller's state on its stack, stores that stack pointer in
 * *save_sp, moves to resume_sp and calls arrive(arg) there (a balanced
 * call on the resumed stack), then resumes the context saved at
 * resume_sp, whose own swap call returns what arrive returned.
 * Called as a tail call from the C switch, so the resumed side returns
 * straight into user code: no mispredicted return in between.
 */
        .globl  cg_arch_swap
        .type   cg_arch_swap, @function
        .hidden cg_arch_swap
cg_arch_swap:
        .cfi_startproc
        SAVE_STATE
        movq    %rsp, (%rdi)
        movq    %rsi, %rsp
        movq    %rcx, %rdi
        callq   *%rdx
        RESUME
        .cfi_endproc
        .size   cg_arch_swap, .-cg_arch_swap

/*
 * int cg_arch_jump(void **save_sp, void *resume_sp)
 * cg_arch_swap without the arrive call: the resumed swap or jump call
 * returns 0.  For switches whose arriving side has nothing to do.
 */
        .globl  cg_arch_jump
        .type   cg_arch_jump, @function
        .hidden cg_arch_jump
cg_arch_jump:
        .cfi_startproc
        SAVE_STATE
        movq    %rsp, (%rdi)
        movq    %rsi, %rsp
        xorl    %eax, %eax
        RESUME
        .cfi_endproc
        .size   cg_arch_jump, .-cg_arch_jump

/*
 * int cg_arch_copy_switch_asm(void *(*save)(void *sp, void *arg),
 *                             int (*restore)(void *arg), void *arg,
 *                             void (*entry)(void))
 * Saves the caller's state on its stack and calls save(sp, arg) there.
 * save returns the stack pointer to continue on, or NULL to cancel: then
 * the caller's state is restored and 1 (CG_ENOMEM) is returned.  Otherwise
 * %rsp becomes that pointer and restore(arg) is called on it (below the
 * target's saved frame, so it may copy bytes into the target's region).
 * If restore returns 0 the frame at %rsp is resumed (its switch call
 * returns 0, CG_OK); if nonzero, entry() is called on that stack (a new
 * greenlet starting there); entry never returns.
 */
        .globl  cg_arch_copy_switch_asm
        .type   cg_arch_copy_switch_asm, @function
        .hidden cg_arch_copy_switch_asm
cg_arch_copy_switch_asm:
        .cfi_startproc
        SAVE_STATE
        movq    %rdi, %r12          /* save    (r12..r15 are saved above) */
        movq    %rsi, %r13          /* restore */
        movq    %rdx, %r14          /* arg */
        movq    %rcx, %r15          /* entry */
        movq    %rsp, %rdi
        movq    %r14, %rsi
        callq   *%r12
        testq   %rax, %rax
        jz      1f
        movq    %rax, %rsp
        movq    %r14, %rdi
        callq   *%r13
        testl   %eax, %eax
        jnz     2f
        RESUME
1:      movl    $1, %eax
        RESUME
        /* A new greenlet starts here, at the top of its part of the
           stack: nothing above is its caller, so unwinders stop here and
           frame-pointer walkers find a null %rbp. */
2:      .cfi_undefined %rip
        xorl    %ebp, %ebp
        callq   *%r15
        ud2
        .cfi_endproc
        .size   cg_arch_copy_switch_asm, .-cg_arch_copy_switch_asm

/*
 * First code run on a fresh dedicated stack: the frame built by
 * cg_arch_make() holds the entry function in rbx.  The stack is 16-byte
 * aligned here, as a call requires.  The return address is undefined for
 * unwinders: this is the bottom of the greenlet's stack.
 */
        .type   cg_arch_trampoline, @function
cg_arch_trampoline:
        .cfi_startproc
        .cfi_undefined rip
        callq   *%rbx
        ud2
        .cfi_endproc
        .size   cg_arch_trampoline, .-cg_arch_trampoline

/* void *cg_arch_trampoline_address(void): where a fresh frame resumes. */
        .globl  cg_arch_trampoline_address
        .type   cg_arch_trampoline_address, @function
        .hidden cg_arch_trampoline_address
cg_arch_trampoline_address:
        .cfi_startproc
        leaq    cg_arch_trampoline(%rip), %rax
        ret
        .cfi_endproc
        .size   cg_arch_trampoline_address, .-cg_arch_trampoline_address

/* void cg_arch_fpctl_store(void *frame): the caller's MXCSR and x87
   control word into a fresh frame, so a new greenlet inherits them. */
        .globl  cg_arch_fpctl_store
        .type   cg_arch_fpctl_store, @function
        .hidden cg_arch_fpctl_store
cg_arch_fpctl_store:
        .cfi_startproc
        stmxcsr CG_FRAME_MXCSR(%rdi)
        fnstcw  CG_FRAME_FPUCW(%rdi)
        ret
        .cfi_endproc
        .size   cg_arch_fpctl_store, .-cg_arch_fpctl_store

#endif /* CG_ARCH_X86_64 */

        .section .note.GNU-stack,"",%progbits
