/*
 * C side of the assembly backends: builds the first frame of a fresh
 * dedicated stack in the layout the .S file pops, and checks that layout
 * against the offsets the assembly uses.
 */
#include "arch.h"

#ifndef CG_BACKEND_UCONTEXT

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#if defined(CG_ARCH_X86_64)
#include "frame_x86_64.h"

struct cg_frame {
    uint32_t mxcsr;
    uint16_t fpucw;
    uint16_t pad;
    uint64_t r15, r14, r13, r12, rbx, rbp;
    uint64_t ret;
};
_Static_assert(offsetof(struct cg_frame, mxcsr) == CG_FRAME_MXCSR, "MXCSR");
_Static_assert(offsetof(struct cg_frame, fpucw) == CG_FRAME_FPUCW, "x87 CW");
_Static_assert(offsetof(struct cg_frame, r15) == CG_FRAME_R15, "r15");
_Static_assert(offsetof(struct cg_frame, r14) == CG_FRAME_R14, "r14");
_Static_assert(offsetof(struct cg_frame, r13) == CG_FRAME_R13, "r13");
_Static_assert(offsetof(struct cg_frame, r12) == CG_FRAME_R12, "r12");
_Static_assert(offsetof(struct cg_frame, rbx) == CG_FRAME_RBX, "rbx");
_Static_assert(offsetof(struct cg_frame, rbp) == CG_FRAME_RBP, "rbp");
_Static_assert(offsetof(struct cg_frame, ret) == CG_FRAME_RET, "ret");
_Static_assert(sizeof(struct cg_frame) == CG_FRAME_SIZE, "frame size");
_Static_assert(CG_FRAME_SIZE % 16 == 0, "sp stays 16-byte aligned");
#define FRAME_SET_ENTRY(f, entry) ((f)->rbx = (uint64_t)(uintptr_t)(entry))
#define FRAME_SET_RESUME(f, pc) ((f)->ret = (uint64_t)(uintptr_t)(pc))

#elif defined(CG_ARCH_AARCH64)
#include "frame_aarch64.h"

struct cg_frame {
    uint64_t x19_x28[10];
    uint64_t x29, x30;
    uint64_t d8_d15[8];
    uint64_t fpcr;
    uint64_t pad;
};
_Static_assert(offsetof(struct cg_frame, x19_x28) == CG_FRAME_X19, "x19");
_Static_assert(offsetof(struct cg_frame, x29) == CG_FRAME_X29, "x29");
_Static_assert(offsetof(struct cg_frame, x30) == CG_FRAME_X30, "x30");
_Static_assert(offsetof(struct cg_frame, d8_d15) == CG_FRAME_D8, "d8");
_Static_assert(offsetof(struct cg_frame, fpcr) == CG_FRAME_FPCR, "fpcr");
_Static_assert(sizeof(struct cg_frame) == CG_FRAME_SIZE, "frame size");
_Static_assert(CG_FRAME_SIZE % 16 == 0, "sp stays 16-byte aligned");
#define FRAME_SET_ENTRY(f, entry) ((f)->x19_x28[0] = (uint64_t)(uintptr_t)(entry))
#define FRAME_SET_RESUME(f, pc) ((f)->x30 = (uint64_t)(uintptr_t)(pc))

#elif defined(CG_ARCH_RISCV64)
#include "frame_riscv64.h"

struct cg_frame {
    uint64_t ra;
    uint64_t s0;
    uint64_t s1_s11[11];
    uint64_t fs0_fs11[12];
    uint64_t frm;
};
_Static_assert(offsetof(struct cg_frame, ra) == CG_FRAME_RA, "ra");
_Static_assert(offsetof(struct cg_frame, s0) == CG_FRAME_S0, "s0");
_Static_assert(offsetof(struct cg_frame, s1_s11) == CG_FRAME_S1, "s1");
_Static_assert(offsetof(struct cg_frame, fs0_fs11) == CG_FRAME_FS0, "fs0");
_Static_assert(offsetof(struct cg_frame, frm) == CG_FRAME_FRM, "frm");
_Static_assert(sizeof(struct cg_frame) == CG_FRAME_SIZE, "frame size");
_Static_assert(CG_FRAME_SIZE % 16 == 0, "sp stays 16-byte aligned");
/* s0 stays 0 (the memset): the end of the frame-pointer chain. */
#define FRAME_SET_ENTRY(f, entry) ((f)->s1_s11[0] = (uint64_t)(uintptr_t)(entry))
#define FRAME_SET_RESUME(f, pc) ((f)->ra = (uint64_t)(uintptr_t)(pc))

#elif defined(CG_ARCH_PPC64LE)
#include "frame_ppc64le.h"

struct cg_frame {
    uint64_t back_chain;
    uint64_t callee_cr, callee_lr;  /* written by the functions it calls */
    uint64_t toc;
    uint64_t resume;
    uint64_t cr;
    uint64_t fpscr;
    uint64_t pad;
    uint64_t r14_r31[18];
    double f14_f31[18];
    _Alignas(16) unsigned char v20_v31[12][16];
};
_Static_assert(offsetof(struct cg_frame, toc) == CG_FRAME_TOC, "r2");
_Static_assert(offsetof(struct cg_frame, resume) == CG_FRAME_RESUME, "resume");
_Static_assert(offsetof(struct cg_frame, cr) == CG_FRAME_CR, "cr");
_Static_assert(offsetof(struct cg_frame, fpscr) == CG_FRAME_FPSCR, "fpscr");
_Static_assert(offsetof(struct cg_frame, r14_r31) == CG_FRAME_R14, "r14");
_Static_assert(offsetof(struct cg_frame, f14_f31) == CG_FRAME_F14, "f14");
_Static_assert(offsetof(struct cg_frame, v20_v31) == CG_FRAME_V20, "v20");
_Static_assert(sizeof(struct cg_frame) == CG_FRAME_SIZE, "frame size");
_Static_assert(CG_FRAME_SIZE % 16 == 0, "r1 stays 16-byte aligned");
/* The back chain stays 0 (the memset): the trampoline pushes the bottom
   frame's header itself.  cg_arch_fpctl_store fills in r2 as well. */
#define FRAME_SET_ENTRY(f, entry) ((f)->r14_r31[0] = (uint64_t)(uintptr_t)(entry))
#define FRAME_SET_RESUME(f, pc) ((f)->resume = (uint64_t)(uintptr_t)(pc))

#elif defined(CG_ARCH_S390X)
#include "frame_s390x.h"

struct cg_frame {
    unsigned char callee_area[CG_CALLEE_AREA];  /* written by its callees */
    uint64_t r6_r13[8];
    uint64_t r14;
    double f8_f15[8];
    uint32_t fpc;
    uint32_t pad;
};
_Static_assert(offsetof(struct cg_frame, r6_r13) == CG_FRAME_R6, "r6");
_Static_assert(offsetof(struct cg_frame, r14) == CG_FRAME_R14, "r14");
_Static_assert(offsetof(struct cg_frame, f8_f15) == CG_FRAME_F8, "f8");
_Static_assert(offsetof(struct cg_frame, fpc) == CG_FRAME_FPC, "fpc");
_Static_assert(sizeof(struct cg_frame) == CG_FRAME_SIZE, "frame size");
_Static_assert(CG_FRAME_SIZE % 16 == 0, "r15 keeps its alignment");
#define FRAME_SET_ENTRY(f, entry) ((f)->r6_r13[0] = (uint64_t)(uintptr_t)(entry))
#define FRAME_SET_RESUME(f, pc) ((f)->r14 = (uint64_t)(uintptr_t)(pc))

#else
#error "select.h picked an assembly backend arch_asm.c does not know"
#endif

void *cg_arch_trampoline_address(void);
void cg_arch_fpctl_store(void *frame);

const char *
cg_arch_name(void)
{
    return CG_ARCH_NAME;
}

void
cg_arch_make(cg_arch_ctx *ctx, char *lo, char *hi, cg_arch_entry_fn entry)
{
    (void)lo;
    struct cg_frame *f = (struct cg_frame *)(void *)(hi - sizeof(struct cg_frame));
    memset(f, 0, sizeof *f);
    cg_arch_fpctl_store(f);
    FRAME_SET_ENTRY(f, entry);
    FRAME_SET_RESUME(f, cg_arch_trampoline_address());
    ctx->sp = f;
}

void
cg_arch_thread_init(void *scratch)
{
    (void)scratch;
}

void
cg_arch_thread_exit(void)
{
}

#endif /* !CG_BACKEND_UCONTEXT */
