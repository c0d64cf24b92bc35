/*
 * Stack switching for s390x (64-bit ELF ABI).  Assembly only: saves
 * r6-r14, f8-f15 and FPC, changes r15, resumes with a branch through r1
 * (not `br %r14`, the return idiom, which the return predictor would get
 * wrong after a stack change).  Frame layout (offsets from the saved r15)
 * is in frame_s390x.h:
 *
 *   0..159 callees' save area | 160..216 r6-r13 | 224 r14 | 232..288 f8-f15
 *   296 FPC
 *
 * A callee stores its registers in 160 bytes of its *caller's* frame
 * above r15.  Where the switch calls out with r15 at the top of memory
 * that is not ours to change -- a fresh stack's top, a new copy-stack
 * greenlet's stop, a target frame that restore is rewriting -- it first
 * pushes such an area (with a null back chain where it is a stack's
 * bottom).
 *
 * CFI: the CIE's CFA is r15 + 160; from the end of SAVE_STATE on it is
 * r15 + 160 + CG_FRAME_SIZE.  As on the other CPUs the rule holds on either
 * side of the stack change, and where a new greenlet starts the return
 * address (r14) is undefined, so unwinders stop there.
 *
 * With CG_NO_FPCTL defined, FPC is neither saved nor restored.
 */
#include "select.h"
#ifdef CG_ARCH_S390X
#include "frame_s390x.h"

        .text

.macro SAVE_STATE
        aghi    %r15, -CG_FRAME_SIZE
        .cfi_adjust_cfa_offset CG_FRAME_SIZE
        stmg    %r6, %r14, CG_FRAME_R6(%r15)
        .irp    n, 6, 7, 8, 9, 10, 11, 12, 13, 14
        .cfi_rel_offset %r\n, (CG_FRAME_R6 + 8 * (\n - 6))
        .endr
        .irp    n, 8, 9, 10, 11, 12, 13, 14, 15
        std     %f\n, (CG_FRAME_F8 + 8 * (\n - 8))(%r15)
        .cfi_rel_offset %f\n, (CG_FRAME_F8 + 8 * (\n - 8))
        .endr
#ifndef CG_NO_FPCTL
        stfpc   CG_FRAME_FPC(%r15)
#endif
.endm

/* Restore the state at r15, pop the frame and branch to the saved r14;
   r2 is the result the resumed call returns: set it before.  The CFI rows
   of the frame are put back after it, for the code that follows in the
   same function. */
.macro RESUME
        .cfi_remember_state
#ifndef CG_NO_FPCTL
        lfpc    CG_FRAME_FPC(%r15)
#endif
        .irp    n, 8, 9, 10, 11, 12, 13, 14, 15
        ld      %f\n, (CG_FRAME_F8 + 8 * (\n - 8))(%r15)
        .cfi_restore %f\n
        .endr
        lg      %r1, CG_FRAME_R14(%r15)
        .cfi_register %r14, %r1
        lmg     %r6, %r13, CG_FRAME_R6(%r15)
        .irp    n, 6, 7, 8, 9, 10, 11, 12, 13
        .cfi_restore %r\n
        .endr
        aghi    %r15, CG_FRAME_SIZE
        .cfi_adjust_cfa_offset -CG_FRAME_SIZE
        br      %r1
        .cfi_restore_state
.endm

/* int cg_arch_swap(save_sp, resume_sp, arrive, arg): see switch_x86_64.S.
   arrive runs with r15 at the target's saved frame: it stores its
   registers in that frame's callees' area, which holds nothing. */
        .globl  cg_arch_swap
        .type   cg_arch_swap, @function
        .hidden cg_arch_swap
cg_arch_swap:
        .cfi_startproc
        SAVE_STATE
        stg     %r15, 0(%r2)
        lgr     %r15, %r3
        lgr     %r2, %r5
        basr    %r14, %r4
        RESUME
        .cfi_endproc
        .size   cg_arch_swap, .-cg_arch_swap

/* int cg_arch_jump(save_sp, resume_sp): see switch_x86_64.S */
        .globl  cg_arch_jump
        .type   cg_arch_jump, @function
        .hidden cg_arch_jump
cg_arch_jump:
        .cfi_startproc
        SAVE_STATE
        stg     %r15, 0(%r2)
        lgr     %r15, %r3
        lghi    %r2, 0
        RESUME
        .cfi_endproc
        .size   cg_arch_jump, .-cg_arch_jump

/* int cg_arch_copy_switch_asm(save, restore, arg, entry): see
   switch_x86_64.S.  restore rewrites the target's slice, its saved frame
   included, so it is called below a callees' area of its own. */
        .globl  cg_arch_copy_switch_asm
        .type   cg_arch_copy_switch_asm, @function
        .hidden cg_arch_copy_switch_asm
cg_arch_copy_switch_asm:
        .cfi_startproc
        SAVE_STATE
        lgr     %r6, %r2            /* save    (r6..r9 are saved above) */
        lgr     %r7, %r3            /* restore */
        lgr     %r8, %r4            /* arg */
        lgr     %r9, %r5            /* entry */
        lgr     %r2, %r15
        lgr     %r3, %r8
        basr    %r14, %r6
        ltgr    %r2, %r2
        jz      1f
        lgr     %r15, %r2
        aghi    %r15, -CG_CALLEE_AREA
        .cfi_adjust_cfa_offset CG_CALLEE_AREA
        lgr     %r2, %r8
        basr    %r14, %r7
        aghi    %r15, CG_CALLEE_AREA
        .cfi_adjust_cfa_offset -CG_CALLEE_AREA
        ltr     %r2, %r2
        jnz     2f
        lghi    %r2, 0
        RESUME
1:      lghi    %r2, 1
        RESUME
        /* A new greenlet starts here, at the top of its part of the
           stack: nothing above is its caller, so unwinders stop here and
           the back chain ends (null) in the area pushed for the call. */
2:      .cfi_undefined %r14
        aghi    %r15, -CG_CALLEE_AREA
        lghi    %r0, 0
        stg     %r0, 0(%r15)
        basr    %r14, %r9
        .word   0                   /* illegal instruction: entry never returns */
        .cfi_endproc
        .size   cg_arch_copy_switch_asm, .-cg_arch_copy_switch_asm

/* First code on a fresh dedicated stack: entry function in r6, r15 at the
   stack's top; pushes the bottom frame's callees' area (null back chain). */
        .type   cg_arch_trampoline, @function
cg_arch_trampoline:
        .cfi_startproc
        .cfi_undefined %r14
        aghi    %r15, -CG_CALLEE_AREA
        lghi    %r0, 0
        stg     %r0, 0(%r15)
        basr    %r14, %r6
        .word   0
        .cfi_endproc
        .size   cg_arch_trampoline, .-cg_arch_trampoline

/* void *cg_arch_trampoline_address(void): where a fresh frame resumes. */
        .globl  cg_arch_trampoline_address
        .type   cg_arch_trampoline_address, @function
        .hidden cg_arch_trampoline_address
cg_arch_trampoline_address:
        .cfi_startproc
        larl    %r2, cg_arch_trampoline
        br      %r14
        .cfi_endproc
        .size   cg_arch_trampoline_address, .-cg_arch_trampoline_address

/* void cg_arch_fpctl_store(void *frame): the caller's FPC into a fresh
   frame, so a new greenlet inherits its creator's rounding mode. */
        .globl  cg_arch_fpctl_store
        .type   cg_arch_fpctl_store, @function
        .hidden cg_arch_fpctl_store
cg_arch_fpctl_store:
        .cfi_startproc
        stfpc   CG_FRAME_FPC(%r2)
        br      %r14
        .cfi_endproc
        .size   cg_arch_fpctl_store, .-cg_arch_fpctl_store

#endif /* CG_ARCH_S390X */

        .section .note.GNU-stack,"",%progbits
