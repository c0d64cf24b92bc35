#!/bin/sh
# Runs the C benchmarks and prints one table plus a verdict against the
# targets (see docs/benchmarks.md).
#
# usage: bench/run.sh NORMAL_CBENCH NOFP_CBENCH
#   NORMAL_CBENCH  cbench linked with the library as built by default
#                  (MXCSR/x87 CW or FPCR preserved across switches)
#   NOFP_CBENCH    cbench linked with the library built FPCTL=0
#
# Times: each binary runs CBENCH_REPEAT times (default 3; the memory rows
# only in the first run); within a run every pair ours/reference is timed in
# interleaved rounds and the best round counts; across runs the best value
# of each column counts.  ns per operation.
# Instructions per operation: each op of `cbench --list` is run under
# valgrind (cachegrind, no cache simulation) as `cbench --count OP N` and
# as `cbench --count OP 0`; the difference divided by N is printed beside
# the times.  CBENCH_NO_COUNT=1 skips this.
# BENCH_RUN: a command prefix to run the binaries with (qemu-user for
# make bench-c ARCH=...); instruction counts are then skipped (valgrind
# runs host binaries only).
set -u

normal=${1:?usage: run.sh NORMAL_CBENCH NOFP_CBENCH}
nofp=${2:?usage: run.sh NORMAL_CBENCH NOFP_CBENCH}
repeat=${CBENCH_REPEAT:-3}
tmp=$(mktemp -d "${TMPDIR:-/tmp}/cbench.XXXXXX") || exit 1
trap 'rm -rf "$tmp"' EXIT INT TERM

# timing BIN NAME: runs BIN $repeat times into $tmp/NAME.<i>
timing() {
    i=1
    while [ "$i" -le "$repeat" ]; do
        if [ "$i" -eq 1 ]; then opt=; else opt=--no-memory; fi
        echo "== timing, run $i of $repeat: $1 $opt"
        ${BENCH_RUN:-} "$1" $opt > "$tmp/$2.$i" || { cat "$tmp/$2.$i"; echo "cbench failed"; exit 1; }
        cat "$tmp/$2.$i"
        i=$((i + 1))
    done
}
timing "$normal" normal
timing "$nofp" nofp

# ---- instruction counts --------------------------------------------------
# icount BIN OP N -> instructions executed by the whole program
icount() {
    valgrind --tool=cachegrind --cache-sim=no --branch-sim=no \
        --cachegrind-out-file=/dev/null "$1" --count "$2" "$3" 2>&1 |
        awk '/I +refs:/ { gsub(/,/, "", $NF); print $NF }'
}
# perop BIN OP N -> instructions per operation (setup subtracted)
perop() {
    [ "$2" = "-" ] && { echo "-"; return; }
    a=$(icount "$1" "$2" "$3")
    b=$(icount "$1" "$2" 0)
    if [ -z "$a" ] || [ -z "$b" ]; then echo "?"; return; fi
    awk -v a="$a" -v b="$b" -v n="$3" 'BEGIN { printf "%.0f", (a - b) / n }'
}

: > "$tmp/instr"
if [ "${CBENCH_NO_COUNT:-0}" != 1 ] && [ -z "${BENCH_RUN:-}" ] && command -v valgrind >/dev/null 2>&1; then
    echo "== instruction counts (valgrind --tool=cachegrind)"
    for bin in "$normal" "$nofp"; do
        "$bin" --list | while read -r key ours ref n; do
            # the two ops of a row are counted in parallel (2 cores)
            perop "$bin" "$ours" "$n" > "$tmp/o" < /dev/null &
            r=$(perop "$bin" "$ref" "$n" < /dev/null)
            wait
            echo "$key $(cat "$tmp/o") $r" >> "$tmp/instr"
        done
    done
else
    echo "== instruction counts skipped (no valgrind, CBENCH_NO_COUNT=1 or BENCH_RUN)"
fi

# ---- the combined table ----------------------------------------------------
# Rows of all runs, in first-seen order; best (lowest) ours and reference
# per metric -- except capacity rows (unit "count"), where higher is better.
cat "$tmp"/normal.* "$tmp"/nofp.* | grep -v -e '^#' -e '^metric ' | awk '
{
    k = $1
    if (!(k in seen)) { seen[k] = 1; order[++n] = k; unit[k] = $5; ours[k] = $2; ref[k] = $3
        w = ""; for (i = 6; i <= NF; i++) w = w (i > 6 ? " " : "") $i; what[k] = w; next }
    if ($2 != "-" && (ours[k] == "-" || ($5 == "count" ? $2 + 0 > ours[k] + 0 : $2 + 0 < ours[k] + 0))) ours[k] = $2
    if ($3 != "-" && (ref[k] == "-" || ($5 == "count" ? 0 : $3 + 0 < ref[k] + 0))) ref[k] = $3
}
END {
    for (j = 1; j <= n; j++) {
        k = order[j]
        q = (ours[k] != "-" && ref[k] != "-" && ref[k] + 0 > 0) ? sprintf("%.2f", ours[k] / ref[k]) : "-"
        print k, ours[k], ref[k], q, unit[k], what[k]
    }
}' > "$tmp/rows"

echo
echo "== cgreenlet benchmarks: ratio = ours / reference; instr = instructions per op"
awk -v instr="$tmp/instr" '
BEGIN {
    while ((getline line < instr) > 0) {
        split(line, f, " "); io[f[1]] = f[2]; ir[f[1]] = f[3]
    }
    printf "%-26s %10s %10s %6s %-6s %9s %9s  %s\n", "metric", "ours", "reference",
           "ratio", "unit", "instr", "instr ref", "what"
}
{
    what = ""
    for (i = 6; i <= NF; i++) what = what (i > 6 ? " " : "") $i
    a = ($1 in io) ? io[$1] : "-"; b = ($1 in ir) ? ir[$1] : "-"
    printf "%-26s %10s %10s %6s %-6s %9s %9s  %s\n", $1, $2, $3, $4, $5, a, b, what
}' "$tmp/rows"

# ---- verdict -----------------------------------------------------------------
echo
echo "== verdict against the targets"
awk '
# check(label, key, limit, kind): kind "ratio" = ours <= limit x reference,
# "max" = ours <= limit, "min" = ours >= limit
function check(label, key, limit, kind,   o, r, ok, shown) {
    if (!(key in have)) { printf "SKIP  %s (no %s row)\n", label, key; skip++; return }
    o = row[key, 2] + 0; r = row[key, 3]
    if (kind == "ratio") {
        if (r == "-") { printf "SKIP  %s (no reference measured)\n", label; skip++; return }
        ok = (o <= limit * r); shown = sprintf("%.2fx (%s vs %s %s)", o / r, row[key, 2], r, row[key, 5])
    } else if (kind == "max") {
        ok = (o <= limit); shown = sprintf("%s %s", row[key, 2], row[key, 5])
    } else {
        ok = (o >= limit); shown = sprintf("%s", row[key, 2])
    }
    printf "%-5s %s: %s\n", ok ? "PASS" : "MISS", label, shown
    if (ok) pass++; else miss++
}
{ have[$1] = 1; for (i = 2; i <= 5; i++) row[$1, i] = $i }
END {
    check("switch round trip <= 1.0x Boost fcontext, FP control kept, dedicated stack", "switch_rt.dedicated", 1.0, "ratio")
    check("switch round trip <= 1.0x Boost fcontext, FP control kept, copy stack", "switch_rt.copy", 1.0, "ratio")
    check("switch round trip <= 1.2x minimal swap, no FP control, dedicated stack", "switch_rt.dedicated.nofp", 1.2, "ratio")
    check("switch round trip <= 1.2x minimal swap, no FP control, copy stack", "switch_rt.copy.nofp", 1.2, "ratio")
    check("create+switch+finish+destroy <= 1.5x Boost, pooled dedicated stacks", "create.dedicated", 1.5, "ratio")
    check("suspended copy-stack greenlet <= 320 B beyond its saved stack", "mem.copy.beyond_saved", 320, "max")
    check("copy-stack cost <= 1.2x memcpy of the same bytes, 1 KiB live", "copy.1KiB", 1.2, "ratio")
    check("copy-stack cost <= 1.2x memcpy of the same bytes, 4 KiB live", "copy.4KiB", 1.2, "ratio")
    check("copy-stack cost <= 1.2x memcpy of the same bytes, 16 KiB live", "copy.16KiB", 1.2, "ratio")
    check("copy-stack cost <= 1.2x memcpy of the same bytes, 64 KiB live", "copy.64KiB", 1.2, "ratio")
    check("1,000,000 live copy-stack greenlets", "maxlive.copy", 1000000, "min")
    printf "%d PASS, %d MISS, %d SKIP\n", pass, miss, skip
}' "$tmp/rows"
