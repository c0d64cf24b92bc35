/*
 * Saved-context layout of a suspended greenlet on ppc64le (ELFv2 ABI).
 * Shared by switch_ppc64le.S and arch_asm.c (_Static_assert checks).
 * Offsets are from the saved stack pointer (r1), which is 16-byte aligned;
 * the frame is a proper ELFv2 stack frame, so its first 32 bytes are the
 * header every frame has.
 *
 *   offset  contents
 *   ------  --------------------------------------------------------
 *      0    back chain (r1 before the switch pushed this frame)
 *      8    CR save word and 16 LR save doubleword: the ABI lets the
 *     16    functions this frame calls write there, so nothing of ours
 *     24    TOC pointer (r2)
 *     32    resume address (the LR of the call that switched)
 *     40    CR (fields cr2-cr4 are callee-saved)
 *     48    FPSCR (its control fields: enables, NI, rounding mode)
 *     56    padding
 *     64    r14 ... 200 r31           (18 x 8)
 *    208    f14 ... 344 f31           (18 x 8)
 *    352    v20 ... 528 v31           (12 x 16, 16-byte aligned)
 *    544    (caller's frame)
 */
#ifndef CG_FRAME_PPC64LE_H
#define CG_FRAME_PPC64LE_H

#define CG_FRAME_TOC 24
#define CG_FRAME_RESUME 32
#define CG_FRAME_CR 40
#define CG_FRAME_FPSCR 48
#define CG_FRAME_R14 64
#define CG_FRAME_F14 208
#define CG_FRAME_V20 352
#define CG_FRAME_SIZE 544
/* The minimal frame (header only) the switch pushes below a stack pointer
   before calling out where the callee must not write above it. */
#define CG_MIN_FRAME 32

#endif
