/*
 * Saved-context layout of a suspended greenlet on aarch64 (AAPCS64).
 * Shared by switch_aarch64.S and arch_asm.c (_Static_assert checks).
 * Offsets are from the saved stack pointer, which is 16-byte aligned.
 *
 *   offset  register
 *   ------  --------------------------------------------------------
 *      0    x19        8   x20       16   x21       24   x22
 *     32    x23       40   x24       48   x25       56   x26
 *     64    x27       72   x28
 *     80    x29 (frame pointer)
 *     88    x30 (link register: where the switch resumes, via br)
 *     96    d8       104   d9       112   d10      120   d11
 *    128    d12      136   d13      144   d14      152   d15
 *    160    FPCR (rounding mode etc.: callee-saved control state)
 *    168    padding (keeps the frame a multiple of 16)
 *    176    (caller's frame)
 */
#ifndef CG_FRAME_AARCH64_H
#define CG_FRAME_AARCH64_H

#define CG_FRAME_X19 0
#define CG_FRAME_X29 80
#define CG_FRAME_X30 88
#define CG_FRAME_D8 96
#define CG_FRAME_FPCR 160
#define CG_FRAME_SIZE 176

#endif
