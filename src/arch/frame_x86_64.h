/*
 * Saved-context layout of a suspended greenlet on x86-64 (System V).
 * Shared by switch_x86_64.S (which pushes it) and arch_asm.c (which
 * builds the first frame of a dedicated stack and checks these offsets
 * with _Static_assert).  Offsets are from the saved stack pointer.
 *
 *   offset  register
 *   ------  --------------------------------------------------------
 *      0    MXCSR (4 bytes: its control bits are callee-saved)
 *      4    x87 control word (2 bytes, callee-saved) + 2 bytes pad
 *      8    r15
 *     16    r14
 *     24    r13
 *     32    r12
 *     40    rbx
 *     48    rbp
 *     56    return address (resumed with an indirect jmp, not ret)
 *     64    (caller's frame)
 *
 * The saved stack pointer is 16-byte aligned.
 */
#ifndef CG_FRAME_X86_64_H
#define CG_FRAME_X86_64_H

#define CG_FRAME_MXCSR 0
#define CG_FRAME_FPUCW 4
#define CG_FRAME_R15 8
#define CG_FRAME_R14 16
#define CG_FRAME_R13 24
#define CG_FRAME_R12 32
#define CG_FRAME_RBX 40
#define CG_FRAME_RBP 48
#define CG_FRAME_RET 56
#define CG_FRAME_SIZE 64

#endif
