#!/usr/bin/env bash
# Packs the patched llama.cpp source for a machine that has no Node (bench/gpu/check.sh):
#
#   bench/gpu/prepare.sh [SRC]     # SRC: default node_modules/node-llama-cpp/llama/llama.cpp
#
# writes .gpu/llama.cpp.tar.gz (git-ignored): `git archive HEAD` of SRC, which `npm run build:native`
# made as node-llama-cpp's release plus native/patches as commits, with only what check.sh builds
# (no docs, tests, examples or model vocabularies beyond the two it uses), and HEADROOM-SOURCE.txt
# saying which commits it holds (git 2.39 or later, for --add-virtual-file). About 12 MiB: carry it
# to the GPU machine with the working tree (the device tool's `carry: [".gpu/llama.cpp.tar.gz"]`).
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
src=${1:-$root/node_modules/node-llama-cpp/llama/llama.cpp}
out=$root/.gpu/llama.cpp.tar.gz

if [ ! -f "$src/src/llama-kv-cache-headwise.cpp" ] || ! git -C "$src" rev-parse HEAD >/dev/null 2>&1; then
    echo "error: $src is not the patched llama.cpp checkout: run \`npm run build:native\` first" >&2
    exit 1
fi
if [ -n "$(git -C "$src" status --porcelain --untracked-files=no)" ]; then
    echo "warning: $src has uncommitted changes; the archive holds its HEAD, without them" >&2
fi

patches=$(ls "$root"/native/patches/*.patch 2>/dev/null | wc -l)
if git -C "$src" rev-parse -q --verify headroom-base >/dev/null; then
    commits=$(git -C "$src" rev-list --count headroom-base..HEAD)
    if [ "$commits" != "$patches" ]; then
        echo "warning: $src has $commits commits on headroom-base, native/patches has $patches patches" >&2
    fi
    range=headroom-base~1..HEAD
else
    range=HEAD~$patches..HEAD
fi

info=$(
    echo "Headroom's patched llama.cpp, packed by bench/gpu/prepare.sh on $(date -u +%Y-%m-%dT%H:%M:%SZ)"
    echo "HEAD $(git -C "$src" rev-parse HEAD)"
    if [ -f "$root/node_modules/node-llama-cpp/package.json" ]; then
        echo "node-llama-cpp $(sed -n 's/^ *"version": *"\([^"]*\)".*/\1/p' "$root/node_modules/node-llama-cpp/package.json" | head -1)"
    fi
    echo "commits:"
    git -C "$src" log --format='  %h %s' "$range"
    echo "native/patches sha256:"
    (cd "$root/native/patches" && sha256sum ./*.patch | sed 's/^/  /')
)

mkdir -p "$root/.gpu"
git -C "$src" archive --format=tar.gz --prefix=llama.cpp/ --add-virtual-file="llama.cpp/HEADROOM-SOURCE.txt:$info" -o "$out" HEAD -- \
    CMakeLists.txt cmake common ggml include src tools vendor licenses LICENSE \
    models/ggml-vocab-llama-bpe.gguf models/ggml-vocab-llama-spm.gguf

bytes=$(stat -c %s "$out")
echo "$info"
echo "wrote $out ($((bytes / 1024)) KiB; sha256 $(sha256sum "$out" | cut -c1-16)…)"
if [ "$bytes" -gt $((40 * 1024 * 1024)) ]; then
    echo "warning: over 40 MiB; the device tool carries at most 64 MiB with the working tree" >&2
fi
