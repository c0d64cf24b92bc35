/*
 * The one place that decides the switching backend.  Preprocessor only,
 * so the C files and the assembly files both include it, and no build
 * script needs a list of architectures: every build (Makefile, setup.py,
 * tools/build-python.sh) compiles every file of src/arch/, and each file
 * assembles to nothing unless this header picked it.
 *
 * Exactly one of these ends up defined:
 *   CG_ARCH_X86_64   switch_x86_64.S   (System V x86-64, LP64)
 *   CG_ARCH_AARCH64  switch_aarch64.S  (AAPCS64, LP64)
 *   CG_ARCH_RISCV64  switch_riscv64.S  (RV64 LP64D or soft-float LP64)
 *   CG_ARCH_PPC64LE  switch_ppc64le.S  (ELFv2, little-endian, with VMX)
 *   CG_ARCH_S390X    switch_s390x.S    (64-bit ELF ABI, big-endian)
 *   CG_BACKEND_UCONTEXT  switch_ucontext.c, for every other platform, or
 *                    forced by the build (make BACKEND=ucontext)
 * and CG_ARCH_NAME names it for reports (cg_arch_name()).
 * docs/platforms.md lists the platforms and how each is tested.
 */
#ifndef CG_ARCH_SELECT_H
#define CG_ARCH_SELECT_H

#if defined(CG_BACKEND_UCONTEXT)
/* forced by the build */
#elif defined(__x86_64__) && defined(__LP64__)
#define CG_ARCH_X86_64 1
#define CG_ARCH_NAME "x86_64"
#elif defined(__aarch64__) && defined(__LP64__)
#define CG_ARCH_AARCH64 1
#define CG_ARCH_NAME "aarch64"
#elif defined(__riscv) && __riscv_xlen == 64 && (!defined(__riscv_flen) || __riscv_flen == 64)
/* An FPU of single precision only (LP64F) would need other save
   instructions; it takes the fallback. */
#define CG_ARCH_RISCV64 1
#define CG_ARCH_NAME "riscv64"
#elif defined(__powerpc64__) && defined(_CALL_ELF) && _CALL_ELF == 2 && \
    defined(__LITTLE_ENDIAN__) && defined(__ALTIVEC__)
#define CG_ARCH_PPC64LE 1
#define CG_ARCH_NAME "ppc64le"
#elif defined(__s390x__)
#define CG_ARCH_S390X 1
#define CG_ARCH_NAME "s390x"
#else
#define CG_BACKEND_UCONTEXT 1
#endif

#ifdef CG_BACKEND_UCONTEXT
#define CG_ARCH_NAME "ucontext"
#endif

#endif
