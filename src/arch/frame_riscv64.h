/*
 * Saved-context layout of a suspended greenlet on riscv64 (LP64D psABI).
 * Shared by switch_riscv64.S and arch_asm.c (_Static_assert checks).
 * Offsets are from the saved stack pointer, which is 16-byte aligned.
 *
 *   offset  register
 *   ------  --------------------------------------------------------
 *      0    ra (where the switch resumes, via an indirect jump)
 *      8    s0 (frame pointer)
 *     16    s1        24   s2        32   s3        40   s4
 *     48    s5        56   s6        64   s7        72   s8
 *     80    s9        88   s10       96   s11
 *    104    fs0      112   fs1      120   fs2      128   fs3
 *    136    fs4      144   fs5      152   fs6      160   fs7
 *    168    fs8      176   fs9      184   fs10     192   fs11
 *    200    frm (dynamic rounding mode, the control part of fcsr)
 *    208    (caller's frame)
 *
 * Built without an FPU (soft-float LP64) the fs and frm slots stay and
 * are not touched.
 */
#ifndef CG_FRAME_RISCV64_H
#define CG_FRAME_RISCV64_H

#define CG_FRAME_RA 0
#define CG_FRAME_S0 8
#define CG_FRAME_S1 16
#define CG_FRAME_FS0 104
#define CG_FRAME_FRM 200
#define CG_FRAME_SIZE 208

#endif
