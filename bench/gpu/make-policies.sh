#!/usr/bin/env bash
# Writes the per-head KV policy files bench/gpu/check.sh uses (llama.cpp's --kv-head-policy format,
# common/kv-head-policy.h) from DuoAttention's published Llama-3.1-8B-Instruct gates, shipped in
# assets/profiles/duo-attention/. No Node: awk and sort, so a GPU machine can remake them.
#
#   bench/gpu/make-policies.sh [OUT_DIR]      (default: bench/gpu/policies)
#
# Heads are ranked as Headroom's engine ranks them (common/kv/policy.ts rankHeads, engine/profiler/
# duoAttention.ts profileFromDuo): each gate clipped to [0, 1], highest first, ties by earlier layer,
# then lower head; the top round(budget x layers x KV heads) heads are full, the rest stream with 4
# sinks and a 128-token window. Budget 0.5 is DuoAttention's deployed setting for GQA models.
# test/unit/gpuCheckPolicies.test.ts checks that the committed files are what the engine's own code
# makes from the same pattern.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
out=${1:-$here/policies}
tsv=$root/assets/profiles/duo-attention/Meta-Llama-3.1-8B-Instruct/full_attention_heads.tsv
pattern=Meta-Llama-3.1-8B-Instruct
sinks=4
window=128
mkdir -p "$out"

layers=$(awk 'NF > 0' "$tsv" | wc -l)
heads=$(awk 'NF > 0 { print NF; exit }' "$tsv")

# one line per head: clipped gate, layer, head, from most to least important
ranked=$(awk 'NF > 0 {
        for (h = 1; h <= NF; h++) { g = $h + 0; if (g < 0) g = 0; if (g > 1) g = 1; printf "%.17g %d %d\n", g, n, h - 1 }
        n++
    }' "$tsv" | LC_ALL=C sort -k1,1gr -k2,2n -k3,3n)

write_policy() { # budget placement file
    local budget=$1 placement=$2 file=$3 full
    full=$(awk -v b="$budget" -v n="$((layers * heads))" 'BEGIN { x = b * n; printf "%d", int(x + 0.5) }')
    {
        echo "# DuoAttention's $pattern gates (assets/profiles/duo-attention), budget $budget:"
        echo "# the top $full of $((layers * heads)) KV heads by gate keep every token (F), the rest keep"
        echo "# $sinks sinks + a $window-token window (S). Made by bench/gpu/make-policies.sh."
        echo "sinks $sinks"
        echo "window $window"
        echo "full_placement $placement"
        printf '%s\n' "$ranked" | awk -v full="$full" -v L="$layers" -v H="$heads" '
            NR <= full { f[$2 "," $3] = 1 }
            END {
                for (l = 0; l < L; l++) {
                    line = "layer " l
                    for (h = 0; h < H; h++) line = line " " ((l "," h) in f ? "F" : "S")
                    print line
                }
            }'
    } > "$file"
}

for budget in 0.50 0.25; do
    for placement in gpu cpu; do
        write_policy "$budget" "$placement" "$out/duo-$budget-$placement.txt"
    done
done

# every head full: the standard cache's tokens, through the per-head cache
printf '# every KV head keeps every token: must give the standard cache'"'"'s tokens exactly\ndefault F\n' > "$out/all-full-gpu.txt"
printf '# every KV head keeps every token, in CPU RAM (attended by the CPU): for comparison, not exactness\nfull_placement cpu\ndefault F\n' > "$out/all-full-cpu.txt"
echo "wrote $(ls "$out" | wc -l) policy files to $out ($layers layers x $heads KV heads)"
