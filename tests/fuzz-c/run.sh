#!/bin/sh
# Builds and runs the libFuzzer target over the C core.
# usage: run.sh SECONDS [RESULT_FILE]
#   SECONDS 0 runs until stopped (or a crash).  With RESULT_FILE, writes
#   "P F S" there for tests/summary.sh: 1 0 0 clean, 0 1 0 crash (or the
#   target does not build), 0 0 1 clang with libFuzzer not available.
# Env: FUZZ_CC (clang), FUZZ_OUT (build/fuzz-c), FUZZ_ARGS (more libFuzzer
# flags), FUZZ_CFLAGS (more compiler flags; -DCG_DEBUG adds the core's
# invariant checks at every switch).
secs=${1:-0}
result=$2
cc=${FUZZ_CC:-clang}
out=${FUZZ_OUT:-build/fuzz-c}
mkdir -p "$out/corpus" "$out/artifacts"
[ -n "$result" ] && mkdir -p "$(dirname "$result")"

say() { [ -n "$result" ] && echo "$1" > "$result"; }

# libFuzzer present?  A trivial target must link.
printf 'int LLVMFuzzerTestOneInput(const unsigned char *d, unsigned long n)\n{ (void)d; (void)n; return 0; }\n' \
    > "$out/probe.c"
if ! command -v "$cc" >/dev/null 2>&1 ||
   ! "$cc" -fsanitize=fuzzer,address "$out/probe.c" -o "$out/probe" >/dev/null 2>&1; then
    echo "SKIPPED: fuzz-c (needs clang with libFuzzer: apt-get install clang libclang-rt-14-dev)"
    say "0 0 1"
    exit 0
fi

# shellcheck disable=SC2086
if ! "$cc" -std=c11 -g -O1 -Wall -Wextra -Werror -pthread -D_GNU_SOURCE -Iinclude \
        -fvisibility=hidden -fsanitize=fuzzer,address,undefined \
        -fno-sanitize-recover=undefined -fno-omit-frame-pointer $FUZZ_CFLAGS \
        src/core/*.c src/stack/*.c src/arch/*.c src/arch/*.S \
        tests/fuzz-c/fuzz_core.c -o "$out/fuzz_core"; then
    echo "[fuzz-c] not ok - the target does not build"
    say "0 1 0"
    exit 1
fi

# detect_stack_use_after_return stays off: fake stacks and copied stack
# slices do not mix (the library tells ASan about stack switches only).
ASAN_OPTIONS=${ASAN_OPTIONS:-detect_stack_use_after_return=0} \
    "$out/fuzz_core" -max_total_time="$secs" -timeout=20 -rss_limit_mb=4096 \
    -artifact_prefix="$out/artifacts/" -print_final_stats=1 $FUZZ_ARGS \
    "$out/corpus" tests/fuzz-c/corpus > "$out/fuzz.log" 2>&1
rc=$?
grep -E '^(stat::number_of_executed_units|stat::new_units_added|#[0-9]+ +DONE)' "$out/fuzz.log" \
    | sed 's|^|[fuzz-c] |'
if [ "$rc" -eq 0 ]; then
    echo "[fuzz-c] ok - ${secs}s of libFuzzer over the core API, no crash"
    say "1 0 0"
else
    grep -vE '^(#[0-9]+|INFO:|MS:|Base64:)' "$out/fuzz.log" | tail -n 60 | sed 's|^|    |'
    echo "[fuzz-c] not ok - libFuzzer crash (exit $rc); inputs in $out/artifacts/"
    say "0 1 0"
fi
exit "$rc"
