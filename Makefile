# cgreenlet -- see README.md.
#
#   make                 static + shared library, examples, test programs
#   make check           every test: C (asm, ucontext, each CROSS_ARCHES under qemu)
#   make check-c         the C tests of one configuration (ARCH=, BACKEND=)
#   make check-asan      C tests with AddressSanitizer + UBSan
#   make check-valgrind  C tests under valgrind memcheck
#   make check-debug     C tests with the core's invariant checks (-DCG_DEBUG)
#   make fuzz-c          libFuzzer over the core API (SECONDS=N; 0: unbounded)
#   make bench           benchmarks: C against reference switches (bench-c), Python
#                        module against PyPI's greenlet (bench-python; BENCH_QUICK=1)
#   make bench-report    docs/benchmarks.md's Python section + plots from the last run
#   make python          build the greenlet module in python/ for every
#                        interpreter (or PYTHON=/path/to/python)
#   make check-python    the Python tests on every interpreter
#   make check-python-aarch64  the Python tests on Debian's python3 built
#                        for aarch64, under qemu
#   make soak            the soak tests at full size on every interpreter
#   make wheels          the sdist and a manylinux wheel per interpreter in dist/
#   make check-installed the Python tests against the installed wheels/sdist
#   make check-pypi      gevent, eventlet, gunicorn, SQLAlchemy from PyPI on our wheel
#   make demo            build and run the examples
#   make install PREFIX=/usr/local   (DESTDIR= for staging)
#   make uninstall PREFIX=/usr/local removes what install put there
#   make check-install   install, build against it with pkg-config, uninstall
#
# Knobs: CC, ARCH=native|aarch64|riscv64|ppc64le|s390x (the cross ones
# build with Debian's cross gcc and run under qemu-user), BACKEND=asm|ucontext,
# FPCTL=1|0 (0: do not preserve MXCSR/x87 CW/FPCR/frm across switches),
# SANITIZE=asan.  Which backend a build gets is decided by src/arch/select.h
# alone (BACKEND=ucontext forces the fallback); docs/platforms.md.

CC ?= cc
ARCH ?= native
BACKEND ?= asm
FPCTL ?= 1
SANITIZE ?=
PREFIX ?= /usr/local
OPT ?= -O2

# The architectures tested under qemu-user: each one's Debian triple (the
# cross gcc is TRIPLE-gcc, its libc in /usr/TRIPLE) and the suffix of its
# libc6-dev-*-cross package.  qemu-ARCH runs it, with the guest's library
# path on the cross libc: without it the guest's ld.so reads the host's
# ld.so.cache, and once a multiarch libc of that CPU is installed (e.g.
# libc6:arm64) it mixes that libc with the cross ld.so, and threaded
# programs hang at start.
CROSS_ARCHES := aarch64 riscv64 ppc64le s390x
triple_aarch64 := aarch64-linux-gnu
triple_riscv64 := riscv64-linux-gnu
triple_ppc64le := powerpc64le-linux-gnu
triple_s390x := s390x-linux-gnu
libc_aarch64 := arm64
libc_riscv64 := riscv64
libc_ppc64le := ppc64el
libc_s390x := s390x
CROSS_DEPS := $(foreach a,$(CROSS_ARCHES),qemu-$(a):qemu-user \
    $(triple_$(a))-gcc:gcc-$(triple_$(a)) \
    /usr/$(triple_$(a))/include/stdio.h:libc6-dev-$(libc_$(a))-cross)

ifneq ($(filter $(ARCH),$(CROSS_ARCHES)),)
  CC := $(triple_$(ARCH))-gcc
  RUN := env CG_TEST_LIGHT=1 qemu-$(ARCH) -L /usr/$(triple_$(ARCH)) \
         -E LD_LIBRARY_PATH=/usr/$(triple_$(ARCH))/lib
  CPU := $(ARCH)
else ifneq ($(ARCH),native)
  $(error ARCH=$(ARCH): not native nor one of $(CROSS_ARCHES))
else
  RUN :=
  CPU := $(shell $(CC) -dumpmachine | cut -d- -f1)
endif

VARIANT := $(CPU)-$(BACKEND)$(if $(filter 0,$(FPCTL)),-nofp)$(if $(SANITIZE),-$(SANITIZE))-$(notdir $(firstword $(CC)))
B := build/$(VARIANT)

# Unwind tables everywhere (riscv64's gcc omits them by default), so
# debuggers and backtrace() walk through the library's frames.
CFLAGS_BASE := -std=c11 -g $(OPT) -Wall -Wextra -Werror -fPIC -pthread \
               -fvisibility=hidden -fasynchronous-unwind-tables -D_GNU_SOURCE -Iinclude
ifeq ($(BACKEND),ucontext)
  CFLAGS_BASE += -DCG_BACKEND_UCONTEXT
endif
ifeq ($(FPCTL),0)
  CFLAGS_BASE += -DCG_NO_FPCTL
endif
ifeq ($(SANITIZE),debug)
  CFLAGS_BASE += -DCG_DEBUG
endif
ifeq ($(SANITIZE),tsan)
  CFLAGS_BASE += -fsanitize=thread -fno-omit-frame-pointer
  LDFLAGS += -fsanitize=thread
endif
ifeq ($(SANITIZE),asan)
  CFLAGS_BASE += -fsanitize=address,undefined -fno-omit-frame-pointer \
                 -fno-sanitize-recover=undefined
  LDFLAGS += -fsanitize=address,undefined
endif
CFLAGS ?=
CFLAGS_ALL := $(CFLAGS_BASE) $(CFLAGS)
LDLIBS += -pthread -lm

# The version is set once, in include/cgreenlet.h; the soname carries the
# major number (an ABI break makes a new one), the .pc the whole version.
version_part = $(shell sed -n 's/^.define CG_VERSION_$(1)  *\([0-9][0-9]*\).*/\1/p' include/cgreenlet.h)
CG_MAJOR := $(call version_part,MAJOR)
CG_VERSION := $(CG_MAJOR).$(call version_part,MINOR).$(call version_part,PATCH)
SONAME := libcgreenlet.so.$(CG_MAJOR)

# Every file of src/arch is built: src/arch/select.h makes all but the
# chosen backend's assemble or compile to nothing.
LIB_SRC := $(wildcard src/core/*.c src/stack/*.c src/arch/*.c)
LIB_ASM := $(wildcard src/arch/*.S)
LIB_OBJ := $(patsubst %.c,$(B)/%.o,$(LIB_SRC)) $(patsubst %.S,$(B)/%.o,$(LIB_ASM))
HDRS := include/cgreenlet.h $(wildcard src/*/*.h)

TEST_SRC := $(sort $(wildcard tests/c/test_*.c))
TESTS := $(patsubst tests/c/%.c,$(B)/tests/%,$(TEST_SRC))
EXAMPLE_SRC := $(sort $(wildcard examples/*.c))
EXAMPLES := $(patsubst examples/%.c,$(B)/examples/%,$(EXAMPLE_SRC))

.PHONY: all lib tests examples deps check check-c check-cross check-asan check-asan-c \
        python check-python check-python-all check-python-aarch64 check-python-asan check-python-debug check-python-dedicated check-python-valgrind \
        check-integration check-integration-run check-integration-dedicated check-installed check-pypi wheels soak fuzz fuzz-asan check-fuzz \
        check-valgrind check-valgrind-c check-fuzz-c check-debug check-tsan fuzz-c bench bench-c bench-python bench-report demo install \
        uninstall check-install clean
all: lib examples tests

lib: $(B)/libcgreenlet.a $(B)/libcgreenlet.so
examples: $(EXAMPLES)
tests: $(TESTS)

$(B)/%.o: %.c $(HDRS)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_ALL) -c $< -o $@

$(B)/%.o: %.S $(HDRS)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_ALL) -c $< -o $@

$(B)/libcgreenlet.a: $(LIB_OBJ)
	rm -f $@
	ar rcs $@ $^

$(B)/libcgreenlet.so: $(LIB_OBJ)
	$(CC) -shared $(LDFLAGS) -Wl,-soname,$(SONAME) -o $@ $^ $(LDLIBS)

$(B)/tests/%: tests/c/%.c $(wildcard tests/c/*.h) $(B)/libcgreenlet.a
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_ALL) -Itests/c $< -o $@ $(LDFLAGS) $(B)/libcgreenlet.a $(LDLIBS)

$(B)/examples/%: examples/%.c $(B)/libcgreenlet.a
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_ALL) $< -o $@ $(LDFLAGS) $(B)/libcgreenlet.a $(LDLIBS)

# One configuration's C tests; counts go to build/results/<variant>.
check-c: tests
	@sh tests/run-c-tests.sh "$(VARIANT)$(if $(VALGRIND),-valgrind)" "$(RUN)" $(TESTS)

# The C tests of every CROSS_ARCHES under qemu-user, then the ucontext
# fallback on big-endian s390x (every CPU has an assembly backend now, so
# this is where the fallback meets a CPU other than the build machine's);
# an architecture whose cross gcc, libc or qemu is missing is named and
# counted as skipped.
check-cross: $(addprefix check-cross-,$(CROSS_ARCHES))
	@$(MAKE) --no-print-directory check-cross-s390x CROSS_BACKEND=ucontext

CROSS_BACKEND ?= asm
check-cross-%:
	@t=$(triple_$*); \
	if command -v $$t-gcc >/dev/null && command -v qemu-$* >/dev/null && [ -e /usr/$$t/include/stdio.h ]; then \
	    $(MAKE) --no-print-directory check-c ARCH=$* BACKEND=$(CROSS_BACKEND); \
	else echo "SKIPPED: $* $(CROSS_BACKEND) (needs gcc-$$t, libc6-dev-$(libc_$*)-cross, qemu-user)"; \
	    mkdir -p build/results; echo "0 0 1" > build/results/$*-$(CROSS_BACKEND)-skipped; fi

# Paths that differ between Debian releases (clang's runtime, python3.X)
# are found by wildcard; none found means the package is missing.
PY3_H := $(or $(firstword $(wildcard /usr/include/python3*/Python.h)),/usr/include/python3/Python.h)
PY3_ARM64_H := $(or $(firstword $(wildcard /usr/include/aarch64-linux-gnu/python3*/pyconfig.h)),/usr/include/aarch64-linux-gnu/python3/pyconfig.h)
CLANG_RT := $(or $(firstword $(wildcard /usr/lib/llvm-*/lib/clang/*/lib/linux/libclang_rt.asan-$(CPU).a /usr/lib/llvm-*/lib/clang/*/lib/$(CPU)*/libclang_rt.asan.a)),/usr/lib/llvm/libclang_rt.asan.a)
C_DEPS := gcc:gcc make:make clang:clang $(CLANG_RT):libclang-rt-dev \
          valgrind:valgrind $(CROSS_DEPS) \
          $(PY3_H):python3-dev $(PY3_ARM64_H):libpython3-dev:arm64 \
          /usr/lib/python3/dist-packages/wheel:python3-wheel \
          /usr/lib/python3/dist-packages/gevent:python3-gevent \
          /usr/lib/python3/dist-packages/eventlet:python3-eventlet \
          /usr/lib/python3/dist-packages/greenlet:python3-greenlet \
          /usr/lib/python3/dist-packages/hypothesis:python3-hypothesis \
          /usr/lib/python3/dist-packages/sqlalchemy:python3-sqlalchemy \
          /usr/lib/python3/dist-packages/aiosqlite:python3-aiosqlite \
          pkg-config:pkg-config

deps:
	@sh tools/ensure-deps.sh $(C_DEPS)

# The README's test command: every configuration this machine can run,
# one final count.
check: deps
	@rm -rf build/results
	@$(MAKE) --no-print-directory check-c
	@$(MAKE) --no-print-directory check-c BACKEND=ucontext
	@$(MAKE) --no-print-directory check-cross
	@$(MAKE) --no-print-directory check-asan-c
	@$(MAKE) --no-print-directory check-valgrind-c
	@$(MAKE) --no-print-directory check-fuzz-c
	@$(MAKE) --no-print-directory check-debug
	@$(MAKE) --no-print-directory check-tsan
	@$(MAKE) --no-print-directory check-install
	@$(MAKE) --no-print-directory check-python-all
	@$(MAKE) --no-print-directory check-python-aarch64
	@$(MAKE) --no-print-directory check-python-asan
	@$(MAKE) --no-print-directory check-python-debug
	@$(MAKE) --no-print-directory check-python-dedicated
	@$(MAKE) --no-print-directory check-python-valgrind
	@$(MAKE) --no-print-directory check-fuzz
	@$(MAKE) --no-print-directory check-integration-run
	@$(MAKE) --no-print-directory check-integration-dedicated
	@$(MAKE) --no-print-directory check-installed
	@$(MAKE) --no-print-directory check-pypi
	@sh tests/summary.sh build/results

# ---- the Python module -------------------------------------------------

PYTHONS = $(if $(PYTHON),$(PYTHON),$(shell sh tests/pythons.sh 2>/dev/null | cut -d' ' -f2))

python:
	@for py in $(PYTHONS); do sh tools/build-python.sh $$py || exit 1; done

# Every interpreter present (or PYTHON=...); absent ones are named and
# counted as skipped.
check-python-all:
	@if [ -n "$(PYTHON)" ]; then \
	    sh tests/run-python-tests.sh "$$(basename $(PYTHON))" "$(PYTHON)"; \
	else \
	    sh tests/pythons.sh 2>build/pythons-absent | while read -r label py; do \
	        sh tests/run-python-tests.sh "$$label" "$$py"; done; \
	    while read -r _ label rest; do echo "SKIPPED: python $$label (not installed)"; \
	        echo "0 0 1" > build/results/python-absent-$$label; done < build/pythons-absent; \
	fi

check-python: deps
	@rm -rf build/results
	@$(MAKE) --no-print-directory check-python-all
	@sh tests/summary.sh build/results

# The Python tests on aarch64: Debian's python3 as an aarch64 interpreter
# under qemu-user (tools/aarch64-python.sh), the module cross-compiled for
# it, light sizes.  ~5 min of CPU (~5x native; a third is the start-up of
# the ~150 child interpreters), hence two shards side by side; CG_TEST_QEMU
# lets the tests skip what qemu cannot show.
check-python-aarch64:
	@mkdir -p build/results
	@sh tools/aarch64-python.sh build/aarch64-python > build/aarch64-python.log 2>&1; rc=$$?; \
	if [ $$rc = 2 ]; then \
	    echo "SKIPPED: python aarch64 ($$(tail -n 1 build/aarch64-python.log | sed 's/^aarch64-python.sh: //'))"; \
	    echo "0 0 1" > build/results/python-aarch64-skipped; \
	elif [ $$rc != 0 ]; then \
	    cat build/aarch64-python.log; echo "[python-aarch64] not ok - no aarch64 interpreter"; \
	    echo "0 1 0" > build/results/python-aarch64; \
	else \
	    CC=aarch64-linux-gnu-gcc PYG_ENV="CG_TEST_LIGHT=1 CG_TEST_QEMU=1" \
	        sh tests/run-python-shards.sh aarch64 $(CURDIR)/build/aarch64-python/python3; \
	fi

# tests/python/test_soak.py at full size (CG_SOAK=1: 10 000 000
# create-switch-finish cycles, 20 rounds of 100 threads x 1000 suspended
# greenlets, 30-50 runs of each shutdown storm); the normal suite runs
# them bounded.  Every interpreter, or PYTHON=...
soak:
	@rm -rf build/results
	@for lp in $$(if [ -n "$(PYTHON)" ]; then echo "$$(basename $(PYTHON)):$(PYTHON)"; \
	        else sh tests/pythons.sh 2>/dev/null | tr ' ' ':'; fi); do \
	    PYG_TESTS=test_soak PYG_ENV="CG_SOAK=1" \
	        sh tests/run-python-tests.sh "soak-$${lp%%:*}" "$${lp#*:}"; \
	    grep -h '^soak:' "build/py-soak-$${lp%%:*}/test.log"; done
	@sh tests/summary.sh build/results

# The Python tests with the module built with ASan+UBSan (gcc), on
# Debian's python3 with the sanitizer runtime preloaded.
ASAN_PY ?= /usr/bin/python3
check-python-asan:
	@if [ -x $(ASAN_PY) ]; then \
	    PYG_CFLAGS="-fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined" \
	    PYG_ENV="LD_PRELOAD=$$(gcc -print-file-name=libasan.so) ASAN_OPTIONS=detect_leaks=0:detect_stack_use_after_return=0 CG_TEST_LIGHT=1 CG_TEST_ASAN=1" \
	    CC=gcc sh tests/run-python-tests.sh asan $(ASAN_PY); \
	else echo "SKIPPED: python asan (no $(ASAN_PY))"; echo "0 0 1" > build/results/python-asan-skipped; fi

# The Python tests with every greenlet on a dedicated stack of 8 MiB
# (CGREENLET_STACK_SIZE), on the oldest and the newest interpreter present
# (frame objects / interpreter frames), side by side; or PYTHON=...
check-python-dedicated:
	@if [ -n "$(PYTHON)" ]; then echo "$$(basename $(PYTHON)) $(PYTHON)"; \
	 else sh tests/pythons.sh 2>/dev/null | awk '{k = $$1; sub(/^debian-/, "", k); print k, $$0}' | \
	    sort -V | cut -d' ' -f2- | \
	    awk 'NR == 1 {f = $$0} {l = $$0} END {if (NR) print f; if (NR > 1) print l}'; fi | \
	    { while read -r label py; do \
	        PYG_ENV="CGREENLET_STACK_SIZE=8M" sh tests/run-python-tests.sh "dedicated-$$label" "$$py" & \
	      done; wait; }

# The Python tests on a debug build of the module and the core (-O0,
# invariants checked: PYG_DEBUG, CG_DEBUG), on Debian's python3.
check-python-debug:
	@if [ -x $(ASAN_PY) ]; then \
	    PYG_CFLAGS="-O0 -DPYG_DEBUG -DCG_DEBUG" sh tests/run-python-tests.sh debug $(ASAN_PY); \
	else echo "SKIPPED: python debug (no $(ASAN_PY))"; echo "0 0 1" > build/results/python-debug-skipped; fi

# The Python tests under valgrind memcheck (PYTHONMALLOC=malloc), light
# sizes.  `make check` runs the modules that drive the switch machinery;
# `make check-valgrind` runs every module (VALGRIND_PY_TESTS=all), in two
# shards side by side.
VALGRIND_PY_TESTS ?= test_smoke test_switch test_throw test_attributes test_contextvars \
                     test_capi test_gc_kill test_stacks
VALGRIND_PY_RUN := PYG_RUN="valgrind -q --error-exitcode=99 --suppressions=tests/python/valgrind.supp" \
                   PYG_ENV="PYTHONMALLOC=malloc CG_TEST_LIGHT=1"
check-python-valgrind:
	@if ! command -v valgrind >/dev/null || [ ! -x $(ASAN_PY) ]; then \
	    echo "SKIPPED: python valgrind"; echo "0 0 1" > build/results/python-valgrind-skipped; \
	elif [ "$(VALGRIND_PY_TESTS)" = all ]; then \
	    $(VALGRIND_PY_RUN) sh tests/run-python-shards.sh valgrind $(ASAN_PY); \
	else \
	    PYG_TESTS="$(VALGRIND_PY_TESTS)" $(VALGRIND_PY_RUN) sh tests/run-python-tests.sh valgrind $(ASAN_PY); \
	fi

# gevent, eventlet and gunicorn (Debian's packages, on /usr/bin/python3)
# on our module: build/integ holds the module built for that interpreter.
INTEG_PY ?= /usr/bin/python3
build/integ/greenlet/.built: $(wildcard python/greenlet/*) $(LIB_SRC) $(wildcard src/*/*.h src/arch/*.S)
	@mkdir -p build/integ/greenlet
	@PYG_OUT=build/integ/greenlet sh tools/build-python.sh $(INTEG_PY) >/dev/null
	@cp python/greenlet/__init__.py python/greenlet/greenlet.h build/integ/greenlet/
	@touch $@

# $(call integ_run,NAME,ENV): the integration suite with ENV (VAR=value
# settings), its log in build/integ/NAME.log, its counts in
# build/results/NAME.
define integ_run
	@mkdir -p build/results
	@if [ -x $(INTEG_PY) ] && [ -f $$($(INTEG_PY) -c 'import sysconfig;print(sysconfig.get_paths()["include"])' 2>/dev/null)/Python.h ]; then \
	    $(MAKE) --no-print-directory build/integ/greenlet/.built && \
	    env $(2) sh tests/integration/run.sh build/integ > build/integ/$(1).log 2>&1; rc=$$?; \
	    grep -E '^(FAIL|ERROR):' build/integ/$(1).log | sed 's|^|[$(1)] not ok - |'; \
	    line=$$(grep -E '^integration: [0-9]+ passed' build/integ/$(1).log | tail -1); \
	    if [ -z "$$line" ]; then tail -40 build/integ/$(1).log; echo "0 1 0" > build/results/$(1); \
	    else echo "[$(1): $${line#integration: }]"; echo "$$line" | sed -E 's/integration: ([0-9]+) passed, ([0-9]+) failed, ([0-9]+) skipped.*/\1 \2 \3/' > build/results/$(1); \
	        [ "$$(cut -d' ' -f2 build/results/$(1))" = 0 ] || tail -60 build/integ/$(1).log; fi; \
	    if [ $$rc -ne 0 ] && [ -n "$$line" ]; then \
	        echo "[$(1)] not ok - the runner exited with status $$rc"; tail -5 build/integ/$(1).log; \
	        echo "0 1 0" > build/results/$(1)-exit; fi; \
	else echo "SKIPPED: $(1) (needs $(INTEG_PY) with python3-dev)"; echo "0 0 1" > build/results/$(1)-skipped; fi
endef

check-integration-run:
	$(call integ_run,integration,)

# The same with every greenlet on a dedicated stack of 8 MiB (lighter
# sizes: 20k greenlets in the scale test, under vm.max_map_count).
check-integration-dedicated:
	$(call integ_run,integration-dedicated,CGREENLET_STACK_SIZE=8M CG_TEST_LIGHT=1)

check-integration: deps
	@rm -rf build/results
	@$(MAKE) --no-print-directory check-integration-run
	@sh tests/summary.sh build/results

# libFuzzer over the core API (tests/fuzz-c): SECONDS=0 runs until stopped.
SECONDS ?= 0
fuzz-c:
	@sh tests/fuzz-c/run.sh $(SECONDS)

# A bounded run for `make check`: "P F S" in build/results/fuzz-c.
check-fuzz-c:
	@sh tests/fuzz-c/run.sh 60 build/results/fuzz-c || true

# The C tests with the core's invariant checks at every switch
# (src/core/debug.c), unoptimized.
check-debug:
	@$(MAKE) --no-print-directory check-c SANITIZE=debug OPT=-O0

# The C tests that use threads, under ThreadSanitizer (clang; the core
# announces every stack change as a fiber switch; src/core/sanitizer.h has
# the rules that keep each fiber's shadow call stack balanced, and
# test_refused_switch_repeat crashes at once if a switch path breaks them).
# Part of `make check`; no race has been reported so far.
THREAD_TEST_SRC = $(shell grep -l '<pthread.h>' tests/c/test_*.c)
check-tsan:
	@$(MAKE) --no-print-directory check-c SANITIZE=tsan CC=clang TEST_SRC="$(THREAD_TEST_SRC)"

check-asan-c:
	@$(MAKE) --no-print-directory check-c SANITIZE=asan CC=clang
	@$(MAKE) --no-print-directory check-c SANITIZE=asan CC=gcc

check-valgrind-c:
	@if command -v valgrind >/dev/null; then \
	    $(MAKE) --no-print-directory check-c VALGRIND=1 \
	        RUN="env CG_TEST_LIGHT=1 valgrind -q --error-exitcode=99 --leak-check=full --errors-for-leak-kinds=definite"; \
	else echo "SKIPPED: valgrind (not installed)"; \
	    echo "0 0 1" > build/results/valgrind-skipped; fi

check-asan: deps
	@rm -rf build/results
	@$(MAKE) --no-print-directory check-asan-c
	@$(MAKE) --no-print-directory check-python-asan
	@sh tests/summary.sh build/results

check-valgrind: deps
	@rm -rf build/results
	@$(MAKE) --no-print-directory check-valgrind-c
	@$(MAKE) --no-print-directory check-python-valgrind VALGRIND_PY_TESTS=all
	@sh tests/summary.sh build/results

BENCH_SRC := $(wildcard bench/c/*.c bench/c/*.S)
$(B)/bench/cbench: $(BENCH_SRC) bench/c/bench.h $(B)/libcgreenlet.a
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_ALL) -O2 -Ibench/c $(filter %.c %.S,$^) -o $@ $(LDFLAGS) \
	    $(B)/libcgreenlet.a $(LDLIBS) $(if $(and $(filter native,$(ARCH)),$(wildcard /usr/include/boost/context/detail/fcontext.hpp)),-DHAVE_BOOST_FCONTEXT -lboost_context)

# make bench: the C benchmarks (bench/run.sh), then bench-python.
bench: bench-c bench-python

bench-c: $(B)/bench/cbench
	@$(MAKE) --no-print-directory FPCTL=0 build/$(CPU)-asm-nofp-$(notdir $(firstword $(CC)))/bench/cbench
	@BENCH_RUN="$(RUN)" sh bench/run.sh $(B)/bench/cbench build/$(CPU)-asm-nofp-$(notdir $(firstword $(CC)))/bench/cbench

# make bench-python [BENCH_QUICK=1] [BENCH_PYTHONS="3.12.1 ..."]: our module
# against PyPI's greenlet (and Debian's python3-greenlet) on every
# interpreter of tests/pythons.sh; table on stdout, every figure in
# build/bench/python.json (docs/benchmarks.md lists the knobs).
# bench-report: the generated Python section of docs/benchmarks.md and the
# plots in docs/bench/ from that JSON (matplotlib from PyPI in a venv).
BENCH_DRIVER_PY ?= python3
BENCH_TOOLS := build/bench/tools-venv
bench-python:
	@$(BENCH_DRIVER_PY) bench/python/driver.py

$(BENCH_TOOLS)/.ok:
	@$(BENCH_DRIVER_PY) -m venv $(BENCH_TOOLS)
	@$(BENCH_TOOLS)/bin/python -m pip install -q matplotlib
	@touch $@

bench-report: $(BENCH_TOOLS)/.ok
	@$(BENCH_TOOLS)/bin/python bench/python/report.py

DEMO_DEPS := gcc:gcc make:make $(PY3_H):python3-dev \
             /usr/lib/python3/dist-packages/gevent:python3-gevent \
             /usr/lib/python3/dist-packages/greenlet:python3-greenlet

demo:
	@sh tools/ensure-deps.sh $(DEMO_DEPS)
	@$(MAKE) --no-print-directory examples
	@if [ -x $(INTEG_PY) ]; then $(MAKE) --no-print-directory build/integ/greenlet/.built; fi
	@sh examples/run-demo.sh $(B)/examples build/integ

# Everything install puts under $(DESTDIR)$(PREFIX), and all uninstall
# removes (directories stay: they may hold other packages' files).
INSTALLED := include/cgreenlet.h lib/libcgreenlet.a lib/$(SONAME) lib/libcgreenlet.so \
             lib/pkgconfig/cgreenlet.pc
DEST := $(DESTDIR)$(PREFIX)

install: lib
	install -d $(DEST)/include $(DEST)/lib/pkgconfig
	install -m 644 include/cgreenlet.h $(DEST)/include/
	install -m 644 $(B)/libcgreenlet.a $(DEST)/lib/
	install -m 755 $(B)/libcgreenlet.so $(DEST)/lib/$(SONAME)
	ln -sf $(SONAME) $(DEST)/lib/libcgreenlet.so
	sed -e 's|@PREFIX@|$(PREFIX)|' -e 's|@VERSION@|$(CG_VERSION)|' cgreenlet.pc.in \
	    > $(DEST)/lib/pkgconfig/cgreenlet.pc

uninstall:
	rm -f $(addprefix $(DEST)/,$(INSTALLED))

# install, the README's example built through pkg-config (shared and
# static) and run, then uninstall, all in a staging directory; counted in
# build/results like a C test program.
check-install: lib
	@MAKE="$(MAKE)" CC="$(CC)" sh tests/run-c-tests.sh install-$(VARIANT) sh tests/c/install-test.sh

clean:
	rm -rf build

# ---- packaging: sdist, wheels, the installed package ---------------------
# make wheels [DIST=dist]: the sdist, and from it a manylinux wheel per
# interpreter (tools/wheels.sh; tools and build requirements from PyPI).
# check-installed: the same into build/dist, then the Python suite against
# each wheel installed in a fresh venv, against the sdist built by pip in
# a venv of the newest pyenv interpreter, and against the offline route
# (no index, no build isolation) on Debian's python3.
DIST ?= dist
wheels:
	@sh tools/wheels.sh $(DIST)

check-installed:
	@mkdir -p build/results
	@if sh tools/wheels.sh build/dist > build/wheels.log 2>&1; then \
	    grep -E '^(sdist|wheel):' build/wheels.log | sed 's|^|[packaging] |'; echo "1 0 0" > build/results/wheels; \
	    sh tests/pythons.sh 2>/dev/null | xargs -L1 -P2 sh -c 'sh tests/run-installed.sh wheel "$$0" "$$1" build/dist'; \
	    newest=$$(sh tests/pythons.sh 2>/dev/null | grep -v '^debian' | tail -n 1); \
	    if [ -n "$$newest" ]; then sh tests/run-installed.sh sdist $$newest build/dist; fi; \
	    if [ -x $(ASAN_PY) ]; then sh tests/run-installed.sh offline debian $(ASAN_PY) build/dist; fi; \
	else tail -40 build/wheels.log; echo "[packaging] not ok - make wheels failed"; echo "0 1 0" > build/results/wheels; fi

# check-pypi: tests/integration on the newest gevent, eventlet, gunicorn,
# SQLAlchemy from PyPI, installed after our wheel (build/dist, made by
# check-installed or here) in a fresh venv per interpreter; and, on the
# newest pyenv interpreter, gevent compiled from its sdist against our
# installed greenlet.h (tests/integration/pypi-check.sh).
check-pypi:
	@mkdir -p build/results
	@if ls build/dist/greenlet-*.whl >/dev/null 2>&1 || sh tools/wheels.sh build/dist > build/wheels.log 2>&1; then \
	    sh tests/pythons.sh 2>/dev/null | xargs -L1 -P2 sh -c 'sh tests/integration/pypi-check.sh wheels "$$0" "$$1" build/dist'; \
	    newest=$$(sh tests/pythons.sh 2>/dev/null | grep -v '^debian' | tail -n 1); \
	    if [ -n "$$newest" ]; then sh tests/integration/pypi-check.sh gevent-sdist $$newest build/dist; fi; \
	else tail -40 build/wheels.log; echo "[pypi] not ok - make wheels failed"; echo "0 1 0" > build/results/pypi-wheels; fi

# ---- the stateful fuzzer (tests/fuzz) ------------------------------------
# make fuzz [SECONDS=N] [PYTHON=...]: every interpreter in parallel (or
# PYTHON), until interrupted unless SECONDS is set; logs in
# build/fuzz-LABEL/fuzz.log.  check-fuzz: a bounded run (~2 minutes in
# all, fixed seeds) of every interpreter and the ASan+UBSan build, counted
# in build/results like the tests.
FUZZ_CHECK_SECONDS ?= 100
ASAN_FUZZ_ENV = LD_PRELOAD=$$(gcc -print-file-name=libasan.so) ASAN_OPTIONS=detect_leaks=0:detect_stack_use_after_return=0
ASAN_FUZZ_CFLAGS = -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined

fuzz:
	@mkdir -p build/results
	@if [ -n "$(PYTHON)" ]; then \
	    sh tests/fuzz/run.sh "$$(basename $(PYTHON))" "$(PYTHON)" "$(SECONDS)"; \
	else \
	    sh tests/pythons.sh 2>/dev/null | while read -r label py; do \
	        sh tests/fuzz/run.sh "$$label" "$$py" "$(SECONDS)" & done; wait; \
	fi

# make fuzz-asan [SECONDS=N] [PYTHON=...]: the same on the ASan+UBSan build
# (Debian's python3 unless PYTHON is given), for long sanitizer runs.
fuzz-asan:
	@mkdir -p build/results
	@PYG_CFLAGS="$(ASAN_FUZZ_CFLAGS)" PYG_ENV="$(ASAN_FUZZ_ENV)" CC=gcc \
	    sh tests/fuzz/run.sh asan$(if $(PYTHON),-$(notdir $(patsubst %/bin/python3,%,$(PYTHON)))) \
	        $(or $(PYTHON),$(ASAN_PY)) "$(SECONDS)"

check-fuzz:
	@mkdir -p build/results
	@sh tests/pythons.sh 2>/dev/null | { while read -r label py; do \
	    sh tests/fuzz/run.sh "$$label" "$$py" $(FUZZ_CHECK_SECONDS) --derandomize & done; \
	  if [ -x $(ASAN_PY) ]; then \
	    PYG_CFLAGS="$(ASAN_FUZZ_CFLAGS)" PYG_ENV="$(ASAN_FUZZ_ENV)" CC=gcc \
	        sh tests/fuzz/run.sh asan $(ASAN_PY) $(FUZZ_CHECK_SECONDS) --derandomize & \
	  else echo "SKIPPED: fuzz asan (no $(ASAN_PY))"; echo "0 0 1" > build/results/fuzz-asan-skipped; fi; \
	  wait; }
