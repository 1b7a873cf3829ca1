#!/usr/bin/env bash
# CUDA builds of Headroom's patched llama.cpp on Debian 12 without a GPU: the check that CUDA
# compiles and links, for a consumer architecture, on a machine that cannot run it.
#
#   native/cuda-debian.sh [--arch 89] [--steps sources,install,tools,addon,uninstall] [--log FILE]
#
#   sources    a sources entry for Debian's contrib, non-free and non-free-firmware components, made
#              from this machine's own entries in /etc/apt/sources.list.d/debian.sources (the same
#              mirrors and suites; no address of its own). contrib: the toolkit needs the NVIDIA
#              driver's libcuda1 and libnvidia-ml1 (non-free), which need nvidia-support (contrib)
#   install    Debian's nvidia-cuda-toolkit (CUDA 11.8, with cuBLAS) and g++-11, the newest host
#              compiler CUDA 11.8 accepts; the packages it newly installs are listed in
#              .gpu/cuda-debian-installed.txt
#   tools      llama.cpp's libraries and tools with CUDA (bench/gpu/check.sh --build-only), in .gpu/
#   addon      node-llama-cpp's addon with our patches and CUDA (`npm run build:native -- --gpu cuda`) in a
#              copy of the repository outside it ($HEADROOM_CUDA_ADDON_DIR, default
#              ~/.cache/headroom-cuda-addon): a CUDA build in this checkout's node_modules would be the
#              first GPU build node-llama-cpp tries, on a machine with no CUDA device
#   uninstall  purges what the install step installed and the sources entry: with the driver's
#              libcuda.so.1 and libnvidia-ml.so.1 installed, node-llama-cpp reports CUDA as a GPU
#              runtime of this machine (getLlamaGpuTypes('supported')), so `npm run build:native`
#              would choose CUDA over Vulkan here
#
# Why: a CUDA toolkit without cuBLAS (e.g. the CUDA 13 nvcc alone) cannot link ggml-cuda; Debian's
# 11.8 toolkit has it, but its nvcc lives in /usr/lib/nvidia-cuda-toolkit/bin with headers in
# /usr/include, which CMake's FindCUDAToolkit does not find by itself, and its ptxas, fatbinary and
# nvlink in /usr/bin, behind another CUDA's in /usr/local/bin (links to them go first on PATH), so the
# build gets a CMake
# toolchain file (CMAKE_TOOLCHAIN_FILE in the environment, which cmake-js's configure also reads:
# node-llama-cpp's build folder stays the one the engine looks for) naming nvcc, g++-11 as nvcc's
# host compiler, the architecture and CUDAToolkit_INCLUDE_DIR=/usr/include. CUDA 11.8 cannot build
# sm_90 (Hopper): ggml-cuda uses cudaGridDependencySynchronize there, which needs CUDA 12; a GPU
# machine builds with its own nvcc (bench/gpu/check.sh).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
arch=89
steps=sources,install,tools,addon,uninstall
log=""
while [ $# -gt 0 ]; do
    case "$1" in
        --arch) arch=$2; shift ;;
        --steps) steps=$2; shift ;;
        --log) log=$2; shift ;;
        *) echo "usage: $0 [--arch 89] [--steps sources,install,tools,addon,uninstall] [--log FILE]" >&2; exit 2 ;;
    esac
    shift
done
if [ -n "$log" ]; then
    mkdir -p "$(dirname "$log")"
    exec > >(tee -a "$log") 2>&1
fi
has_step() { case ",$steps," in *",$1,"*) return 0 ;; *) return 1 ;; esac; }
T0=$SECONDS
say() { printf '[%s +%5ds] %s\n' "$(date +%H:%M:%S)" "$((SECONDS - T0))" "$*"; }
took() { local s=$((SECONDS - $1)); echo "$((s / 60)) m $((s % 60)) s"; }
sudo=""; [ "$(id -u)" -eq 0 ] || sudo=sudo
export DEBIAN_FRONTEND=noninteractive

toolkit_bin=/usr/lib/nvidia-cuda-toolkit/bin
work=$root/.gpu
toolchain=$work/cuda-debian-toolchain.cmake
installed=$work/cuda-debian-installed.txt
entry=/etc/apt/sources.list.d/headroom-debian-nonfree.sources
mkdir -p "$work"

if has_step sources; then
    existing=/etc/apt/sources.list.d/debian.sources
    [ -f "$existing" ] || { echo "no $existing: add Debian's non-free component by hand" >&2; exit 1; }
    # every stanza of the machine's own deb822 file, with its components replaced by the non-free ones
    tmp=$(mktemp)
    awk '
        /^[[:space:]]*#/ { next }
        /^[[:space:]]*$/ { if (n) print ""; n = 0; next }
        /^Components:/ { print "Components: contrib non-free non-free-firmware"; n++; next }
        /^(Types|URIs|Suites|Signed-By|Architectures):/ { print; n++ }
    ' "$existing" > "$tmp"
    say "apt sources for contrib and non-free, from $existing:"
    cat "$tmp"
    $sudo install -m 0644 "$tmp" "$entry"
    rm -f "$tmp"
fi

if has_step install; then
    t=$SECONDS
    $sudo apt-get update -qq
    dpkg-query -W -f='${Package}\n' | sort > "$work/packages-before.txt"
    $sudo apt-get install -y -qq --no-install-recommends nvidia-cuda-toolkit g++-11
    dpkg-query -W -f='${Package}\n' | sort | comm -13 "$work/packages-before.txt" - >> "$installed"
    sort -u -o "$installed" "$installed"
    say "$(wc -l < "$installed") packages newly installed (listed in $installed)"
    say "installed: nvidia-cuda-toolkit $(dpkg-query -W -f='${Version}' nvidia-cuda-toolkit), g++-11 $(dpkg-query -W -f='${Version}' g++-11) in $(took $t)"
fi

if has_step tools || has_step addon; then
    [ -x "$toolkit_bin/nvcc" ] || { echo "no $toolkit_bin/nvcc: run the install step" >&2; exit 1; }
    mkdir -p "$work"
    cat > "$toolchain" <<EOF
# Debian's CUDA toolkit (native/cuda-debian.sh): nvcc outside the usual CUDA root, headers in /usr/include
set(CMAKE_CUDA_COMPILER $toolkit_bin/nvcc)
set(CMAKE_CUDA_HOST_COMPILER $(command -v g++-11))
set(CMAKE_CUDA_ARCHITECTURES $arch)
set(CUDAToolkit_INCLUDE_DIR /usr/include CACHE PATH "Debian's CUDA headers")
EOF
    # the toolkit's programs ahead of any other CUDA's (the CUDA 13 nvcc here puts ptxas, fatbinary, nvlink, … in
    # /usr/local/bin, ahead of Debian's in /usr/bin): a folder of links to this package's own, first on PATH
    bin=$work/cuda-debian-bin
    rm -rf "$bin" && mkdir -p "$bin"
    for program in $(dpkg -L nvidia-cuda-toolkit | grep '^/usr/bin/') "$toolkit_bin"/*; do
        [ -f "$program" ] && [ -x "$program" ] && ln -sf "$program" "$bin/$(basename "$program")"
    done
    export PATH="$bin:$toolkit_bin:$PATH" CMAKE_TOOLCHAIN_FILE="$toolchain"
    say "nvcc: $(nvcc --version | grep -i release); host compiler: $(g++-11 --version | head -1); arch sm_$arch; $(nproc) cores"
fi

if has_step tools; then
    t=$SECONDS
    "$root/bench/gpu/check.sh" --build-only --backend cuda --cuda-arch "$arch" --budget-s 0 --out "$work/cuda-tools-sm$arch"
    say "llama.cpp's tools with CUDA for sm_$arch: built in $(took $t) ($work/build-cuda-$arch/bin)"
fi

if has_step addon; then
    t=$SECONDS
    copy=${HEADROOM_CUDA_ADDON_DIR:-$HOME/.cache/headroom-cuda-addon}
    say "a copy of the repository's HEAD in $copy, node_modules linked but for node-llama-cpp (copied without its builds)"
    rm -rf "$copy"
    mkdir -p "$copy/node_modules"
    git -C "$root" archive HEAD | tar -x -C "$copy"
    for entry in "$root"/node_modules/* "$root"/node_modules/.[!.]*; do
        name=$(basename "$entry")
        case "$name" in node-llama-cpp|.bin|.cache|.vite) ;; *) ln -s "$entry" "$copy/node_modules/$name" ;; esac
    done
    cp -a "$root/node_modules/.bin" "$copy/node_modules/.bin"
    tar -C "$root/node_modules" --exclude=node-llama-cpp/llama/localBuilds --exclude=node-llama-cpp/llama/llama.cpp \
        --exclude=node-llama-cpp/llama/lastBuild.json -cf - node-llama-cpp | tar -C "$copy/node_modules" -xf -
    (cd "$copy" && npm run build:native -- --gpu cuda)
    say "node-llama-cpp's addon with CUDA for sm_$arch: built in $(took $t)"
    ls -la "$copy"/node_modules/node-llama-cpp/llama/localBuilds/*/Release/ 2>/dev/null || true
fi
if has_step uninstall; then
    if [ -s "$installed" ]; then
        say "purging what the install step installed: $(tr '\n' ' ' < "$installed")"
        # shellcheck disable=SC2046
        $sudo apt-get purge -y -qq $(cat "$installed") >/dev/null
        rm -f "$installed"
    fi
    $sudo rm -f "$entry"
    $sudo apt-get update -qq || true
    say "uninstalled; node-llama-cpp's CUDA detection needs libcuda.so.1 and libnvidia-ml.so.1: $(ls /usr/lib/x86_64-linux-gnu/libcuda.so.1 /usr/lib/x86_64-linux-gnu/libnvidia-ml.so.1 2>/dev/null | wc -l) of 2 left"
fi
say "done in $(took 0)"
