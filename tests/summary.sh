#!/bin/sh
# Sums the per-configuration counts in DIR and prints the final line.
dir=$1
pass=0 fail=0 skip=0
for f in "$dir"/*; do
    [ -f "$f" ] || continue
    read -r p fl s < "$f"
    pass=$((pass + p)); fail=$((fail + fl)); skip=$((skip + s))
done
echo "$pass passed, $fail failed, $skip skipped"
[ "$fail" -eq 0 ] && [ "$pass" -gt 0 ]
