/*
 * Stack switching for riscv64 (LP64D psABI).  Assembly only: saves ra,
 * s0-s11, fs0-fs11 and frm, changes sp, resumes with an indirect jump.
 * Frame layout (offsets from the saved sp) is in frame_riscv64.h:
 *
 *   0 ra | 8 s0 | 16..96 s1-s11 | 104..192 fs0-fs11 | 200 frm
 *
 * The psABI gives fcsr thread storage duration; a greenlet is a thread of
 * control of its own, so each keeps its rounding mode (frm), as FPCR on
 * aarch64 and MXCSR on x86-64.  The accrued exception flags (fflags) are
 * status, like aarch64's FPSR: they are left to flow from greenlet to
 * greenlet as they flow through a call.
 *
 * Resuming jumps through t1, not ra: `jr ra` is a return hint that pops
 * the return-address stack, which holds the other stack's return and
 * would mispredict.
 *
 * CFI: from the end of SAVE_STATE on, CFA = sp + CG_FRAME_SIZE and every
 * saved register is described at its slot.  The same rule holds on either
 * side of the stack change (both stacks hold such a frame at sp), so a
 * debugger stopped in a callback walks from the old greenlet's switch
 * into its caller, or, once sp has moved, into the resumed greenlet.
 *
 * With CG_NO_FPCTL defined, frm is neither saved nor restored.
 */
#include "select.h"
#ifdef CG_ARCH_RISCV64
#include "frame_riscv64.h"

/* Whether there is an FPU whose state is ours to keep (LP64D); soft-float
   code has no callee-saved FP state. */
#ifdef __riscv_flen
#define HAVE_FPU 1
#endif

        .text

.macro SAVE_STATE
        addi    sp, sp, -CG_FRAME_SIZE
        .cfi_adjust_cfa_offset CG_FRAME_SIZE
        sd      ra, CG_FRAME_RA(sp)
        .cfi_rel_offset ra, CG_FRAME_RA
        sd      s0, CG_FRAME_S0(sp)
        .cfi_rel_offset s0, CG_FRAME_S0
        sd      s1, (CG_FRAME_S1 + 0)(sp)
        .cfi_rel_offset s1, (CG_FRAME_S1 + 0)
        sd      s2, (CG_FRAME_S1 + 8)(sp)
        .cfi_rel_offset s2, (CG_FRAME_S1 + 8)
        sd      s3, (CG_FRAME_S1 + 16)(sp)
        .cfi_rel_offset s3, (CG_FRAME_S1 + 16)
        sd      s4, (CG_FRAME_S1 + 24)(sp)
        .cfi_rel_offset s4, (CG_FRAME_S1 + 24)
        sd      s5, (CG_FRAME_S1 + 32)(sp)
        .cfi_rel_offset s5, (CG_FRAME_S1 + 32)
        sd      s6, (CG_FRAME_S1 + 40)(sp)
        .cfi_rel_offset s6, (CG_FRAME_S1 + 40)
        sd      s7, (CG_FRAME_S1 + 48)(sp)
        .cfi_rel_offset s7, (CG_FRAME_S1 + 48)
        sd      s8, (CG_FRAME_S1 + 56)(sp)
        .cfi_rel_offset s8, (CG_FRAME_S1 + 56)
        sd      s9, (CG_FRAME_S1 + 64)(sp)
        .cfi_rel_offset s9, (CG_FRAME_S1 + 64)
        sd      s10, (CG_FRAME_S1 + 72)(sp)
        .cfi_rel_offset s10, (CG_FRAME_S1 + 72)
        sd      s11, (CG_FRAME_S1 + 80)(sp)
        .cfi_rel_offset s11, (CG_FRAME_S1 + 80)
#ifdef HAVE_FPU
        fsd     fs0, (CG_FRAME_FS0 + 0)(sp)
        .cfi_rel_offset fs0, (CG_FRAME_FS0 + 0)
        fsd     fs1, (CG_FRAME_FS0 + 8)(sp)
        .cfi_rel_offset fs1, (CG_FRAME_FS0 + 8)
        fsd     fs2, (CG_FRAME_FS0 + 16)(sp)
        .cfi_rel_offset fs2, (CG_FRAME_FS0 + 16)
        fsd     fs3, (CG_FRAME_FS0 + 24)(sp)
        .cfi_rel_offset fs3, (CG_FRAME_FS0 + 24)
        fsd     fs4, (CG_FRAME_FS0 + 32)(sp)
        .cfi_rel_offset fs4, (CG_FRAME_FS0 + 32)
        fsd     fs5, (CG_FRAME_FS0 + 40)(sp)
        .cfi_rel_offset fs5, (CG_FRAME_FS0 + 40)
        fsd     fs6, (CG_FRAME_FS0 + 48)(sp)
        .cfi_rel_offset fs6, (CG_FRAME_FS0 + 48)
        fsd     fs7, (CG_FRAME_FS0 + 56)(sp)
        .cfi_rel_offset fs7, (CG_FRAME_FS0 + 56)
        fsd     fs8, (CG_FRAME_FS0 + 64)(sp)
        .cfi_rel_offset fs8, (CG_FRAME_FS0 + 64)
        fsd     fs9, (CG_FRAME_FS0 + 72)(sp)
        .cfi_rel_offset fs9, (CG_FRAME_FS0 + 72)
        fsd     fs10, (CG_FRAME_FS0 + 80)(sp)
        .cfi_rel_offset fs10, (CG_FRAME_FS0 + 80)
        fsd     fs11, (CG_FRAME_FS0 + 88)(sp)
        .cfi_rel_offset fs11, (CG_FRAME_FS0 + 88)
#ifndef CG_NO_FPCTL
        frrm    t0
        sd      t0, CG_FRAME_FRM(sp)
#endif
#endif
.endm

/* Restore the state at sp and jump to the saved ra; a0 is the result the
   resumed call returns: set it before.  The CFI rows of the frame are put
   back after it, for the code that follows in the same function. */
.macro RESUME
        .cfi_remember_state
#if defined(HAVE_FPU) && !defined(CG_NO_FPCTL)
        ld      t0, CG_FRAME_FRM(sp)
        fsrm    t0
#endif
        ld      t1, CG_FRAME_RA(sp)
        .cfi_register ra, t1
        ld      s0, CG_FRAME_S0(sp)
        ld      s1, (CG_FRAME_S1 + 0)(sp)
        ld      s2, (CG_FRAME_S1 + 8)(sp)
        ld      s3, (CG_FRAME_S1 + 16)(sp)
        ld      s4, (CG_FRAME_S1 + 24)(sp)
        ld      s5, (CG_FRAME_S1 + 32)(sp)
        ld      s6, (CG_FRAME_S1 + 40)(sp)
        ld      s7, (CG_FRAME_S1 + 48)(sp)
        ld      s8, (CG_FRAME_S1 + 56)(sp)
        ld      s9, (CG_FRAME_S1 + 64)(sp)
        ld      s10, (CG_FRAME_S1 + 72)(sp)
        ld      s11, (CG_FRAME_S1 + 80)(sp)
#ifdef HAVE_FPU
        fld     fs0, (CG_FRAME_FS0 + 0)(sp)
        fld     fs1, (CG_FRAME_FS0 + 8)(sp)
        fld     fs2, (CG_FRAME_FS0 + 16)(sp)
        fld     fs3, (CG_FRAME_FS0 + 24)(sp)
        fld     fs4, (CG_FRAME_FS0 + 32)(sp)
        fld     fs5, (CG_FRAME_FS0 + 40)(sp)
        fld     fs6, (CG_FRAME_FS0 + 48)(sp)
        fld     fs7, (CG_FRAME_FS0 + 56)(sp)
        fld     fs8, (CG_FRAME_FS0 + 64)(sp)
        fld     fs9, (CG_FRAME_FS0 + 72)(sp)
        fld     fs10, (CG_FRAME_FS0 + 80)(sp)
        fld     fs11, (CG_FRAME_FS0 + 88)(sp)
        .irp    r, fs0, fs1, fs2, fs3, fs4, fs5, fs6, fs7, fs8, fs9, fs10, fs11
        .cfi_restore \r
        .endr
#endif
        /* Every saved register holds its caller's value again (ra's is in
           t1), before the frame is popped and may be overwritten. */
        .irp    r, s0, s1, s2, s3, s4, s5, s6, s7, s8, s9, s10, s11
        .cfi_restore \r
        .endr
        addi    sp, sp, CG_FRAME_SIZE
        .cfi_def_cfa_offset 0
        jr      t1
        .cfi_restore_state
.endm

/* int cg_arch_swap(save_sp, resume_sp, arrive, arg): see switch_x86_64.S */
        .globl  cg_arch_swap
        .type   cg_arch_swap, %function
        .hidden cg_arch_swap
cg_arch_swap:
        .cfi_startproc
        SAVE_STATE
        sd      sp, 0(a0)
        mv      sp, a1
        mv      a0, a3
        jalr    a2
        RESUME
        .cfi_endproc
        .size   cg_arch_swap, .-cg_arch_swap

/* int cg_arch_jump(save_sp, resume_sp): see switch_x86_64.S */
        .globl  cg_arch_jump
        .type   cg_arch_jump, %function
        .hidden cg_arch_jump
cg_arch_jump:
        .cfi_startproc
        SAVE_STATE
        sd      sp, 0(a0)
        mv      sp, a1
        li      a0, 0
        RESUME
        .cfi_endproc
        .size   cg_arch_jump, .-cg_arch_jump

/* int cg_arch_copy_switch_asm(save, restore, arg, entry): see switch_x86_64.S */
        .globl  cg_arch_copy_switch_asm
        .type   cg_arch_copy_switch_asm, %function
        .hidden cg_arch_copy_switch_asm
cg_arch_copy_switch_asm:
        .cfi_startproc
        SAVE_STATE
        mv      s1, a0              /* save    (s1..s4 are saved above) */
        mv      s2, a1              /* restore */
        mv      s3, a2              /* arg */
        mv      s4, a3              /* entry */
        mv      a0, sp
        mv      a1, s3
        jalr    s1
        beqz    a0, 1f
        mv      sp, a0
        mv      a0, s3
        jalr    s2
        bnez    a0, 2f
        RESUME
1:      li      a0, 1
        RESUME
        /* A new greenlet starts here, at the top of its part of the
           stack: nothing above is its caller, so unwinders stop here and
           frame-pointer walkers find a null s0. */
2:      .cfi_undefined ra
        li      s0, 0
        jalr    s4
        unimp
        .cfi_endproc
        .size   cg_arch_copy_switch_asm, .-cg_arch_copy_switch_asm

/* First code on a fresh dedicated stack: entry function in s1, s0 null. */
        .type   cg_arch_trampoline, %function
cg_arch_trampoline:
        .cfi_startproc
        .cfi_undefined ra
        jalr    s1
        unimp
        .cfi_endproc
        .size   cg_arch_trampoline, .-cg_arch_trampoline

        .globl  cg_arch_trampoline_address
        .type   cg_arch_trampoline_address, %function
        .hidden cg_arch_trampoline_address
cg_arch_trampoline_address:
        lla     a0, cg_arch_trampoline
        ret
        .size   cg_arch_trampoline_address, .-cg_arch_trampoline_address

/* void cg_arch_fpctl_store(void *frame): the caller's frm into a fresh
   frame, so a new greenlet inherits its creator's rounding mode. */
        .globl  cg_arch_fpctl_store
        .type   cg_arch_fpctl_store, %function
        .hidden cg_arch_fpctl_store
cg_arch_fpctl_store:
#ifdef HAVE_FPU
        frrm    t0
        sd      t0, CG_FRAME_FRM(a0)
#endif
        ret
        .size   cg_arch_fpctl_store, .-cg_arch_fpctl_store

#endif /* CG_ARCH_RISCV64 */

        .section .note.GNU-stack,"",%progbits
