/*
 * Stack switching for ppc64le (ELFv2 ABI).  Assembly only: saves r14-r31,
 * f14-f31, v20-v31, cr2-cr4, the TOC pointer and FPSCR's control fields,
 * changes r1, resumes with an indirect branch (bctr: a blr would pop the
 * link stack, which holds the other stack's return).  Frame layout
 * (offsets from the saved r1) is in frame_ppc64le.h:
 *
 *   0 back chain | 8..23 callee's CR/LR slots | 24 r2 | 32 resume | 40 CR
 *   48 FPSCR | 64..200 r14-r31 | 208..344 f14-f31 | 352..528 v20-v31
 *
 * Unlike x86-64 and aarch64, an ELFv2 callee stores its return address
 * (and may store CR) in its *caller's* frame, 8..23 bytes above the
 * caller's r1.  Where the switch calls out with r1 at the top of memory
 * that is not ours to change -- a fresh stack's top, a new copy-stack
 * greenlet's stop, a target frame that restore is rewriting -- it first
 * pushes a frame header (CG_MIN_FRAME bytes, null back chain where it is
 * a stack's bottom).  Calls through a pointer go with the address in r12
 * (a global entry point computes its TOC from it) and r2 is reloaded after.
 *
 * CFI: from the end of SAVE_STATE on, CFA = r1 + CG_FRAME_SIZE (DWARF: lr
 * is 65, f14 46, v20 97).  As on the other CPUs the rule holds on either
 * side of the stack change, and where a new greenlet starts the return
 * address is undefined, so unwinders stop there.
 *
 * With CG_NO_FPCTL defined, FPSCR is neither saved nor restored.
 */
#include "select.h"
#ifdef CG_ARCH_PPC64LE
#include "frame_ppc64le.h"

        .abiversion 2
        .text

/* Push the frame and save the state into it; r0 and r12 are scratch. */
.macro SAVE_STATE
        mflr    0
        stdu    1, -CG_FRAME_SIZE(1)
        .cfi_adjust_cfa_offset CG_FRAME_SIZE
        std     0, CG_FRAME_RESUME(1)
        .cfi_rel_offset 65, CG_FRAME_RESUME
        std     2, CG_FRAME_TOC(1)
        mfcr    0
        std     0, CG_FRAME_CR(1)
        .irp    n, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 29, 30, 31
        std     \n, (CG_FRAME_R14 + 8 * (\n - 14))(1)
        .cfi_rel_offset \n, (CG_FRAME_R14 + 8 * (\n - 14))
        .endr
        .irp    n, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 29, 30, 31
        stfd    \n, (CG_FRAME_F14 + 8 * (\n - 14))(1)
        .cfi_rel_offset (32 + \n), (CG_FRAME_F14 + 8 * (\n - 14))
        .endr
        .irp    n, 20, 21, 22, 23, 24, 25, 26, 27, 28, 29, 30, 31
        li      12, (CG_FRAME_V20 + 16 * (\n - 20))
        stvx    \n, 1, 12
        .cfi_rel_offset (77 + \n), (CG_FRAME_V20 + 16 * (\n - 20))
        .endr
#ifndef CG_NO_FPCTL
        mffs    0
        stfd    0, CG_FRAME_FPSCR(1)
#endif
.endm

/* Restore the state at r1, pop the frame and branch to the resume
   address; r3 is the result the resumed call returns: set it before.  The
   CFI rows of the frame are put back after it, for the code that follows
   in the same function. */
.macro RESUME
        .cfi_remember_state
#ifndef CG_NO_FPCTL
        lfd     0, CG_FRAME_FPSCR(1)
        mtfsf   0x03, 0             /* fields 6-7: enables, NI, RN */
#endif
        .irp    n, 20, 21, 22, 23, 24, 25, 26, 27, 28, 29, 30, 31
        li      12, (CG_FRAME_V20 + 16 * (\n - 20))
        lvx     \n, 1, 12
        .cfi_restore (77 + \n)
        .endr
        .irp    n, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 29, 30, 31
        lfd     \n, (CG_FRAME_F14 + 8 * (\n - 14))(1)
        .cfi_restore (32 + \n)
        .endr
        .irp    n, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 29, 30, 31
        ld      \n, (CG_FRAME_R14 + 8 * (\n - 14))(1)
        .cfi_restore \n
        .endr
        ld      0, CG_FRAME_CR(1)
        mtcrf   0x38, 0             /* cr2, cr3, cr4 */
        ld      2, CG_FRAME_TOC(1)
        ld      0, CG_FRAME_RESUME(1)
        mtctr   0
        .cfi_register 65, 0
        addi    1, 1, CG_FRAME_SIZE
        .cfi_def_cfa_offset 0
        bctr
        .cfi_restore_state
.endm

/* int cg_arch_swap(save_sp, resume_sp, arrive, arg): see switch_x86_64.S.
   arrive runs with r1 at the target's saved frame: it writes only the
   header slots of that frame, which hold nothing. */
        .globl  cg_arch_swap
        .type   cg_arch_swap, @function
        .hidden cg_arch_swap
cg_arch_swap:
        .cfi_startproc
        SAVE_STATE
        std     1, 0(3)
        mr      1, 4
        mr      12, 5
        mr      3, 6
        mtctr   12
        bctrl
        ld      2, CG_FRAME_TOC(1)
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
        std     1, 0(3)
        mr      1, 4
        li      3, 0
        RESUME
        .cfi_endproc
        .size   cg_arch_jump, .-cg_arch_jump

/* int cg_arch_copy_switch_asm(save, restore, arg, entry): see
   switch_x86_64.S.  restore rewrites the target's slice, its saved frame
   included, so it is called below a frame header of its own. */
        .globl  cg_arch_copy_switch_asm
        .type   cg_arch_copy_switch_asm, @function
        .hidden cg_arch_copy_switch_asm
cg_arch_copy_switch_asm:
        .cfi_startproc
        SAVE_STATE
        mr      14, 3               /* save    (r14..r17 are saved above) */
        mr      15, 4               /* restore */
        mr      16, 5               /* arg */
        mr      17, 6               /* entry */
        mr      3, 1
        mr      4, 16
        mr      12, 14
        mtctr   12
        bctrl
        ld      2, CG_FRAME_TOC(1)
        cmpdi   3, 0
        beq     1f
        mr      1, 3
        stdu    1, -CG_MIN_FRAME(1)
        .cfi_adjust_cfa_offset CG_MIN_FRAME
        std     2, CG_FRAME_TOC(1)
        mr      3, 16
        mr      12, 15
        mtctr   12
        bctrl
        ld      2, CG_FRAME_TOC(1)
        addi    1, 1, CG_MIN_FRAME
        .cfi_adjust_cfa_offset -CG_MIN_FRAME
        cmpwi   3, 0
        bne     2f
        li      3, 0
        RESUME
1:      li      3, 1
        RESUME
        /* A new greenlet starts here, at the top of its part of the
           stack: nothing above is its caller, so unwinders stop here and
           the back chain ends (null) in the header pushed for the call. */
2:      .cfi_undefined 65
        li      0, 0
        stdu    0, -CG_MIN_FRAME(1)
        mr      12, 17
        mtctr   12
        bctrl
        trap
        .cfi_endproc
        .size   cg_arch_copy_switch_asm, .-cg_arch_copy_switch_asm

/* First code on a fresh dedicated stack: entry function in r14, r1 at the
   stack's top; pushes the bottom frame's header (null back chain). */
        .type   cg_arch_trampoline, @function
cg_arch_trampoline:
        .cfi_startproc
        .cfi_undefined 65
        li      0, 0
        stdu    0, -CG_MIN_FRAME(1)
        mr      12, 14
        mtctr   12
        bctrl
        trap
        .cfi_endproc
        .size   cg_arch_trampoline, .-cg_arch_trampoline

/* void *cg_arch_trampoline_address(void): where a fresh frame resumes,
   found PC-relative (no TOC needed). */
        .globl  cg_arch_trampoline_address
        .type   cg_arch_trampoline_address, @function
        .hidden cg_arch_trampoline_address
cg_arch_trampoline_address:
        .cfi_startproc
        mflr    0
        bcl     20, 31, 1f
1:      mflr    3
        mtlr    0
        addi    3, 3, (cg_arch_trampoline - 1b)
        blr
        .cfi_endproc
        .size   cg_arch_trampoline_address, .-cg_arch_trampoline_address

/* void cg_arch_fpctl_store(void *frame): the caller's FPSCR into a fresh
   frame, so a new greenlet inherits its creator's rounding mode; and the
   TOC pointer, which the trampoline resumes with (the entry sets up its
   own from r12, but nothing requires it to when it uses no TOC itself). */
        .globl  cg_arch_fpctl_store
        .type   cg_arch_fpctl_store, @function
        .hidden cg_arch_fpctl_store
cg_arch_fpctl_store:
        .cfi_startproc
        std     2, CG_FRAME_TOC(3)
        mffs    0
        stfd    0, CG_FRAME_FPSCR(3)
        blr
        .cfi_endproc
        .size   cg_arch_fpctl_store, .-cg_arch_fpctl_store

#endif /* CG_ARCH_PPC64LE */

        .section .note.GNU-stack,"",%progbits
