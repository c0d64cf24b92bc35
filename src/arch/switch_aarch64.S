/*
 * Stack switching for aarch64 (AAPCS64).  Assembly only: saves x19-x30,
 * d8-d15 and FPCR, changes sp, resumes with an indirect branch.  Frame
 * layout (offsets from the saved sp) is in frame_aarch64.h:
 *
 *   0..72 x19-x28 | 80 x29 | 88 x30 | 96..152 d8-d15 | 160 FPCR | 168 pad
 *
 * With CG_NO_FPCTL defined, FPCR is neither saved nor restored.
 *
 * CFI: from the end of SAVE_STATE on, CFA = sp + CG_FRAME_SIZE and every
 * saved register is described at its slot.  The same rule holds on either
 * side of the stack change (both stacks hold such a frame at sp), so a
 * debugger stopped in a callback walks from the old greenlet's switch
 * into its caller, or, once sp has moved, into the resumed greenlet.
 * Where a new greenlet starts (the trampoline, the copy switch's entry
 * call) the return address is undefined: unwinders stop there.
 */
#include "select.h"
#ifdef CG_ARCH_AARCH64
#include "frame_aarch64.h"

        .text

.macro SAVE_STATE
        sub     sp, sp, #CG_FRAME_SIZE
        .cfi_adjust_cfa_offset CG_FRAME_SIZE
        stp     x19, x20, [sp, #0]
        .cfi_rel_offset x19, 0
        .cfi_rel_offset x20, 8
        stp     x21, x22, [sp, #16]
        .cfi_rel_offset x21, 16
        .cfi_rel_offset x22, 24
        stp     x23, x24, [sp, #32]
        .cfi_rel_offset x23, 32
        .cfi_rel_offset x24, 40
        stp     x25, x26, [sp, #48]
        .cfi_rel_offset x25, 48
        .cfi_rel_offset x26, 56
        stp     x27, x28, [sp, #64]
        .cfi_rel_offset x27, 64
        .cfi_rel_offset x28, 72
        stp     x29, x30, [sp, #CG_FRAME_X29]
        .cfi_rel_offset x29, CG_FRAME_X29
        .cfi_rel_offset x30, CG_FRAME_X30
        stp     d8, d9, [sp, #CG_FRAME_D8]
        .cfi_rel_offset d8, CG_FRAME_D8
        .cfi_rel_offset d9, (CG_FRAME_D8 + 8)
        stp     d10, d11, [sp, #(CG_FRAME_D8 + 16)]
        .cfi_rel_offset d10, (CG_FRAME_D8 + 16)
        .cfi_rel_offset d11, (CG_FRAME_D8 + 24)
        stp     d12, d13, [sp, #(CG_FRAME_D8 + 32)]
        .cfi_rel_offset d12, (CG_FRAME_D8 + 32)
        .cfi_rel_offset d13, (CG_FRAME_D8 + 40)
        stp     d14, d15, [sp, #(CG_FRAME_D8 + 48)]
        .cfi_rel_offset d14, (CG_FRAME_D8 + 48)
        .cfi_rel_offset d15, (CG_FRAME_D8 + 56)
#ifndef CG_NO_FPCTL
        mrs     x9, fpcr
        str     x9, [sp, #CG_FRAME_FPCR]
#endif
.endm

/* Restore the state at sp and branch to the saved x30; x0 is the result
   the resumed call returns: set it before.  The CFI rows of the frame are
   put back after it, for the code that follows in the same function. */
.macro RESUME
        .cfi_remember_state
#ifndef CG_NO_FPCTL
        ldr     x9, [sp, #CG_FRAME_FPCR]
        msr     fpcr, x9
#endif
        ldp     x19, x20, [sp, #0]
        ldp     x21, x22, [sp, #16]
        ldp     x23, x24, [sp, #32]
        ldp     x25, x26, [sp, #48]
        ldp     x27, x28, [sp, #64]
        ldp     x29, x30, [sp, #CG_FRAME_X29]
        ldp     d8, d9, [sp, #CG_FRAME_D8]
        ldp     d10, d11, [sp, #(CG_FRAME_D8 + 16)]
        ldp     d12, d13, [sp, #(CG_FRAME_D8 + 32)]
        ldp     d14, d15, [sp, #(CG_FRAME_D8 + 48)]
        /* Every register holds its caller's value again (x30: the resume
           address), before the frame is popped and may be overwritten. */
        .irp    r, x19, x20, x21, x22, x23, x24, x25, x26, x27, x28, x29, x30, d8, d9, d10, d11, d12, d13, d14, d15
        .cfi_restore \r
        .endr
        add     sp, sp, #CG_FRAME_SIZE
        .cfi_def_cfa_offset 0
        br      x30
        .cfi_restore_state
.endm

/* int cg_arch_swap(save_sp, resume_sp, arrive, arg): see switch_x86_64.S */
        .globl  cg_arch_swap
        .type   cg_arch_swap, %function
        .hidden cg_arch_swap
cg_arch_swap:
        .cfi_startproc
        SAVE_STATE
        mov     x9, sp
        str     x9, [x0]
        mov     sp, x1
        mov     x0, x3
        blr     x2
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
        mov     x9, sp
        str     x9, [x0]
        mov     sp, x1
        mov     x0, #0
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
        mov     x19, x0             /* save    (x19..x22 are saved above) */
        mov     x20, x1             /* restore */
        mov     x21, x2             /* arg */
        mov     x22, x3             /* entry */
        mov     x0, sp
        mov     x1, x21
        blr     x19
        cbz     x0, 1f
        mov     sp, x0
        mov     x0, x21
        blr     x20
        cbnz    w0, 2f
        RESUME
1:      mov     x0, #1
        RESUME
        /* A new greenlet starts here, at the top of its part of the
           stack: nothing above is its caller, so unwinders stop here and
           frame-pointer walkers find a null x29. */
2:      .cfi_undefined x30
        mov     x29, #0
        blr     x22
        brk     #0
        .cfi_endproc
        .size   cg_arch_copy_switch_asm, .-cg_arch_copy_switch_asm

/* First code on a fresh dedicated stack: entry function in x19. */
        .type   cg_arch_trampoline, %function
cg_arch_trampoline:
        .cfi_startproc
        .cfi_undefined x30
        blr     x19
        brk     #0
        .cfi_endproc
        .size   cg_arch_trampoline, .-cg_arch_trampoline

        .globl  cg_arch_trampoline_address
        .type   cg_arch_trampoline_address, %function
        .hidden cg_arch_trampoline_address
cg_arch_trampoline_address:
        .cfi_startproc
        adr     x0, cg_arch_trampoline
        ret
        .cfi_endproc
        .size   cg_arch_trampoline_address, .-cg_arch_trampoline_address

/* void cg_arch_fpctl_store(void *frame): the caller's FPCR into a frame. */
        .globl  cg_arch_fpctl_store
        .type   cg_arch_fpctl_store, %function
        .hidden cg_arch_fpctl_store
cg_arch_fpctl_store:
        .cfi_startproc
        mrs     x9, fpcr
        str     x9, [x0, #CG_FRAME_FPCR]
        ret
        .cfi_endproc
        .size   cg_arch_fpctl_store, .-cg_arch_fpctl_store

#endif /* CG_ARCH_AARCH64 */

        .section .note.GNU-stack,"",%progbits
