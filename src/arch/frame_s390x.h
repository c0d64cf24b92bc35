/*
 * Saved-context layout of a suspended greenlet on s390x (64-bit ELF ABI,
 * big-endian).  Shared by switch_s390x.S and arch_asm.c (_Static_assert
 * checks).  Offsets are from the saved stack pointer (r15), 8-byte
 * aligned (16 in practice: every frame size here is a multiple of 16).
 *
 *   offset  contents
 *   ------  --------------------------------------------------------
 *      0    register save area of the functions this frame calls (the
 *           ABI gives each callee 160 bytes of its caller's frame to
 *           store r6-r15 in): holds nothing of ours
 *    160    r6 ... 216 r13
 *    224    r14 (the return address: where the switch resumes)
 *    232    f8 ... 288 f15
 *    296    FPC (4 bytes: rounding mode and exception masks) + 4 pad
 *    304    (caller's frame)
 */
#ifndef CG_FRAME_S390X_H
#define CG_FRAME_S390X_H

#define CG_FRAME_R6 160
#define CG_FRAME_R14 224
#define CG_FRAME_F8 232
#define CG_FRAME_FPC 296
#define CG_FRAME_SIZE 304
/* A callee's register save area, pushed below a stack pointer before
   calling out where the callee must not write above it. */
#define CG_CALLEE_AREA 160

#endif
