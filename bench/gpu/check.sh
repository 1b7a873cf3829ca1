#!/usr/bin/env bash
# Headroom's GPU check: the patched llama.cpp (native/patches) on a machine with a compiler and
# cmake but no Node, through llama.cpp's own tools and --kv-head-policy. bench/gpu/README.md says
# what it measures and how to read it.
#
#   bench/gpu/check.sh --out DIR                  # CUDA, a Llama-3-8B-shaped Q4_0 model, within 570 s
#   bench/gpu/check.sh --quick --out DIR          # the small run, on the CPU
#   bench/gpu/check.sh --quick --backend vulkan --out DIR
#
# options:
#   --backend cuda|vulkan|cpu   default cuda (cpu with --quick)
#   --src DIR                   the patched llama.cpp source (default: node_modules/node-llama-cpp/llama/llama.cpp
#                               when it is there, else .gpu/llama.cpp.tar.gz from bench/gpu/prepare.sh)
#   --budget-s N                seconds the whole run may take, build included (default 570; --quick: none);
#                               measurements that would not fit are skipped and listed as such
#   --cuda-arch N               CMAKE_CUDA_ARCHITECTURES (default: nvidia-smi's compute capability, e.g. 90-real)
#   --jobs N                    build jobs (default: every core)
#   --build-only                build, record, stop (e.g. to check that CUDA compiles on a machine without a GPU)
#   --depths N[,N]              llama-bench's depths (default 8192,32768; --quick: 2048, on Vulkan 1024)
#   --compact                   DIR gets five files: the tools' logs and llama-bench's lines go into DIR/details.tar.gz
#                               (rewritten after every step), for a device tool that brings back only a few files
#
# writes DIR/gpu-check.json (every measurement with its command), DIR/gpu-check.log (this run's
# log: each step with its time), DIR/logs/ (each tool's own output), DIR/bench/ (llama-bench's JSON
# lines), DIR/kv-bytes.json, DIR/summary.md (tables; needs python3); builds and the model go to .gpu/
# (git-ignored), never into DIR.
set -uo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
WORK=${HEADROOM_GPU_WORK:-$ROOT/.gpu}

quick=0 backend="" out="" src="" budget="" cuda_arch="" jobs="" build_only=0 depths="" compact=0
usage() { sed -n '2,30p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 2; }
while [ $# -gt 0 ]; do
    case "$1" in
        --quick) quick=1 ;;
        --backend) backend=${2:-}; shift ;;
        --out) out=${2:-}; shift ;;
        --src) src=${2:-}; shift ;;
        --budget-s) budget=${2:-}; shift ;;
        --cuda-arch) cuda_arch=${2:-}; shift ;;
        --jobs) jobs=${2:-}; shift ;;
        --build-only) build_only=1 ;;
        --depths) depths=${2:-}; shift ;;
        --compact) compact=1 ;;
        -h|--help) usage ;;
        *) echo "unknown argument: $1" >&2; usage ;;
    esac
    shift
done
[ -n "$out" ] || usage
[ -n "$backend" ] || backend=$([ $quick = 1 ] && echo cpu || echo cuda)
case "$backend" in cuda|vulkan|cpu) ;; *) echo "--backend is cuda, vulkan or cpu" >&2; exit 2 ;; esac
[ -n "$budget" ] || budget=$([ $quick = 1 ] && echo 0 || echo 570)
[ -n "$jobs" ] || jobs=$(nproc)

mkdir -p "$out" "$WORK" || exit 1
out=$(cd "$out" && pwd)
if [ $compact = 1 ]; then DETAILS=$WORK/last-run; else DETAILS=$out; fi
LOGS=$DETAILS/logs BENCHD=$DETAILS/bench PARTS=$DETAILS/parts
mkdir -p "$LOGS" "$BENCHD" "$PARTS" || exit 1
rm -f "$PARTS"/* "$BENCHD"/* "$LOGS"/* "$out/gpu-check.json" "$out/kv-bytes.json" "$out/details.tar.gz"
LOG=$out/gpu-check.log
: > "$LOG"
T0=$SECONDS
STARTED=$(date -u +%Y-%m-%dT%H:%M:%SZ)

# --- helpers ---------------------------------------------------------------------------------

say() { printf '[%s +%4ds] %s\n' "$(date +%H:%M:%S)" "$((SECONDS - T0))" "$*" | tee -a "$LOG"; }
json_str() { # a JSON string
    local s=$1
    s=${s//\\/\\\\}; s=${s//\"/\\\"}; s=${s//$'\n'/\\n}; s=${s//$'\t'/\\t}; s=${s//$'\r'/}
    printf '"%s"' "$s"
}
json_file_str() { json_str "$(cat "$1" 2>/dev/null)"; }
remaining() { if [ "$budget" -gt 0 ]; then echo $((budget - (SECONDS - T0))); else echo 999999; fi; }
# a command as one line, paths inside the repository relative to it
quote_cmd() { local a q=""; for a in "$@"; do q+="${q:+ }$(printf '%q' "$a")"; done; printf '%s' "${q//"$ROOT/"/}"; }
limit_s() { local l=$(( $(remaining) - 20 )); [ "$l" -gt "$1" ] && l=$1; echo "$l"; } # at most $1 s, within the budget

STEP=""; STEP_T0=0
step_start() { STEP=$1; STEP_T0=$SECONDS; say "== $STEP"; }
step_end() { # status [detail]
    local secs=$((SECONDS - STEP_T0))
    printf '{"step": %s, "status": %s, "seconds": %d, "at_seconds": %d, "detail": %s}\n' \
        "$(json_str "$STEP")" "$(json_str "$1")" "$secs" "$((SECONDS - T0))" "$(json_str "${2:-}")" >> "$PARTS/steps.jsonl"
    say "== $STEP: $1 in ${secs} s (total $((SECONDS - T0)) s)${2:+: $2}"
}
skip() { # what why
    printf '{"what": %s, "why": %s}\n' "$(json_str "$1")" "$(json_str "$2")" >> "$PARTS/skipped.jsonl"
    say "skipped: $1 ($2)"
}
# runs a command with its output in logs/NAME.log (stdout in logs/NAME.out when asked); logs the command
run_tool() { # name stdout(0|1) timeout_s cmd...
    local name=$1 sep=$2 limit=$3; shift 3
    say "\$ $(quote_cmd "$@")"
    local rc
    if [ "$sep" = 1 ]; then
        timeout -k 10 "$limit" "$@" > "$LOGS/$name.out" 2> "$LOGS/$name.log"; rc=$?
    else
        timeout -k 10 "$limit" "$@" > "$LOGS/$name.log" 2>&1; rc=$?
    fi
    [ $rc = 0 ] || say "   exit $rc$([ $rc = 124 ] && echo ' (timed out)') — see logs/$name.log"
    return $rc
}
join_jsonl() { [ -s "$1" ] && sed '$!s/$/,/' "$1"; }

# the final JSON, written after every step so a run cut short still leaves one
assemble() {
    local f=$out/gpu-check.json.tmp
    {
        echo "{"
        echo "  \"schema\": \"headroom-gpu-check/1\","
        echo "  \"mode\": \"$([ $quick = 1 ] && echo quick || echo full)\", \"backend\": \"$backend\","
        echo "  \"command\": $(json_str "$COMMAND"),"
        echo "  \"started\": \"$STARTED\", \"updated\": \"$(date -u +%Y-%m-%dT%H:%M:%SZ)\","
        echo "  \"elapsed_seconds\": $((SECONDS - T0)), \"budget_seconds\": $budget, \"finished\": ${FINISHED:-false},"
        echo "  \"machine\": $(cat "$PARTS/machine.json" 2>/dev/null || echo null),"
        echo "  \"source\": $(cat "$PARTS/source.json" 2>/dev/null || echo null),"
        echo "  \"build\": $(cat "$PARTS/build.json" 2>/dev/null || echo null),"
        echo "  \"model\": $(cat "$PARTS/model.json" 2>/dev/null || echo null),"
        echo "  \"exactness\": $(cat "$PARTS/exactness.json" 2>/dev/null || echo null),"
        echo "  \"kv_bytes\": {\"command\": $(json_str "${KV_BYTES_CMD:-}"), \"result\": $(cat "$out/kv-bytes.json" 2>/dev/null || echo null)},"
        echo "  \"speed\": ["; join_jsonl "$PARTS/speed.jsonl"; echo "  ],"
        echo "  \"steps\": ["; join_jsonl "$PARTS/steps.jsonl"; echo "  ],"
        echo "  \"skipped\": ["; join_jsonl "$PARTS/skipped.jsonl"; echo "  ]"
        echo "}"
    } > "$f" && mv "$f" "$out/gpu-check.json"
    if [ $compact = 1 ]; then
        tar -C "$DETAILS" -czf "$out/details.tar.gz.tmp" logs bench parts 2>/dev/null && mv "$out/details.tar.gz.tmp" "$out/details.tar.gz"
    fi
}
COMMAND="bench/gpu/check.sh$([ $quick = 1 ] && echo ' --quick') --backend $backend --out $out --budget-s $budget${cuda_arch:+ --cuda-arch $cuda_arch}${depths:+ --depths $depths}$([ $build_only = 1 ] && echo ' --build-only')$([ $compact = 1 ] && echo ' --compact')"
fail() { step_end failed "$1"; assemble; say "stopped: $1"; exit 1; }

say "Headroom GPU check: $([ $quick = 1 ] && echo quick || echo full), backend $backend, budget ${budget} s, out $out"

# --- the machine -----------------------------------------------------------------------------

step_start machine
gpu_json=null
if [ "$backend" = cuda ] && command -v nvidia-smi >/dev/null; then
    smi=$(nvidia-smi --query-gpu=name,driver_version,memory.total,compute_cap,clocks.max.sm,power.limit --format=csv,noheader 2>/dev/null | head -1)
    smi_cuda=$(nvidia-smi 2>/dev/null | sed -n 's/.*CUDA Version: *\([0-9.]*\).*/\1/p' | head -1)
    gpu_json="{\"nvidia_smi\": $(json_str "$smi"), \"driver_cuda_version\": $(json_str "$smi_cuda")}"
    say "GPU: $smi (driver's CUDA $smi_cuda)"
    [ -n "$cuda_arch" ] || cuda_arch="$(echo "$smi" | awk -F', ' '{ gsub(/\./, "", $4); print $4 }')-real"
fi
if [ "$backend" = vulkan ]; then
    export GGML_VK_VISIBLE_DEVICES=${GGML_VK_VISIBLE_DEVICES:-0}
    mesa=$(dpkg-query -W -f='${Version}' mesa-vulkan-drivers 2>/dev/null || true)
    gpu_json="{\"GGML_VK_VISIBLE_DEVICES\": $(json_str "$GGML_VK_VISIBLE_DEVICES"), \"mesa_vulkan_drivers\": $(json_str "$mesa")}"
fi
nvcc_v=$(command -v nvcc >/dev/null && nvcc --version 2>/dev/null | grep -i release | head -1 || true)
cpu_model=$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo 2>/dev/null | head -1)
mem_kib=$(sed -n 's/^MemTotal: *\([0-9]*\) kB/\1/p' /proc/meminfo 2>/dev/null)
os=$(. /etc/os-release 2>/dev/null && echo "${PRETTY_NAME:-}")
cat > "$PARTS/machine.json" <<EOF
{"gpu": $gpu_json, "nvcc": $(json_str "$nvcc_v"), "cuda_arch": $(json_str "$cuda_arch"), "cpu": $(json_str "$cpu_model"), "cores": $(nproc), "memory_kib": ${mem_kib:-null}, "os": $(json_str "$os"), "cxx": $(json_str "$(c++ --version 2>/dev/null | head -1)"), "cmake": $(json_str "$(cmake --version 2>/dev/null | head -1)"), "ninja": $(json_str "$(ninja --version 2>/dev/null || true)"), "python3": $(json_str "$(python3 --version 2>/dev/null || true)")}
EOF
say "CPU: $cpu_model, $(nproc) cores, $((${mem_kib:-0} / 1048576)) GiB; ${nvcc_v:-no nvcc}"
step_end ok
assemble

# --- the source ------------------------------------------------------------------------------

step_start source
if [ -z "$src" ]; then
    if [ -f "$ROOT/node_modules/node-llama-cpp/llama/llama.cpp/src/llama-kv-cache-headwise.cpp" ]; then
        src=$ROOT/node_modules/node-llama-cpp/llama/llama.cpp
    elif [ -f "$WORK/llama.cpp.tar.gz" ]; then
        sum=$(sha256sum "$WORK/llama.cpp.tar.gz" | cut -d' ' -f1)
        src=$WORK/src/llama.cpp
        if [ "$(cat "$WORK/src/.sha256" 2>/dev/null)" != "$sum" ]; then
            rm -rf "$WORK/src" && mkdir -p "$WORK/src" && tar -xzf "$WORK/llama.cpp.tar.gz" -C "$WORK/src" && echo "$sum" > "$WORK/src/.sha256" \
                || fail "cannot unpack $WORK/llama.cpp.tar.gz"
        fi
    else
        fail "no patched llama.cpp: run bench/gpu/prepare.sh where the source is (npm run build:native makes it), and carry .gpu/llama.cpp.tar.gz"
    fi
fi
src=$(cd "$src" && pwd) || fail "no source at $src"
[ -f "$src/src/llama-kv-cache-headwise.cpp" ] || fail "$src is not the patched llama.cpp"
if [ -f "$src/HEADROOM-SOURCE.txt" ]; then
    source_info=$(cat "$src/HEADROOM-SOURCE.txt")
elif git -C "$src" rev-parse HEAD >/dev/null 2>&1; then
    source_info="HEAD $(git -C "$src" rev-parse HEAD)"$'\n'"commits:"$'\n'"$(git -C "$src" log --format='  %h %s' -6)"
    [ -z "$(git -C "$src" status --porcelain --untracked-files=no)" ] || source_info+=$'\n'"(with uncommitted changes)"
else
    source_info="(unknown)"
fi
echo "{\"path\": $(json_str "$src"), \"info\": $(json_str "$source_info")}" > "$PARTS/source.json"
say "llama.cpp: $src"
step_end ok
assemble

# --- the build -------------------------------------------------------------------------------

# cuBLAS and the driver's library where the CUDA toolkit has neither: a toolkit put together from NVIDIA's pip
# wheels (nvcc, the runtime, CCCL) has no cuBLAS, which PyTorch's wheels bring into its site-packages
# (nvidia/cu13/lib and include, or nvidia/cublas/ for CUDA 12), and no stub libcuda.so, where the driver's
# libcuda.so.1 is the one there is. Named to CMake's FindCUDAToolkit by its cache variables; only cuBLAS's own
# headers are put on the include path, so the toolkit's runtime headers stay the ones it compiles with.
any_file() { local f; for f in "$@"; do [ -e "$f" ] && return 0; done; return 1; }
cuda_libs() {
    local nvcc_bin root lib="" inc="" d sub drv
    nvcc_bin=${CUDACXX:-$(command -v nvcc)}
    [ -n "$nvcc_bin" ] || return 0
    root=$(dirname "$(dirname "$(readlink -f "$nvcc_bin")")")
    if ! any_file "$root"/lib64/libcublas.so* "$root"/lib/libcublas.so* "$root"/targets/*/lib/libcublas.so* \
            /usr/lib/x86_64-linux-gnu/libcublas.so* /usr/lib64/libcublas.so*; then
        for d in $(python3 -c 'import site; print(" ".join(site.getsitepackages()))' 2>/dev/null) /opt/*/.venv/lib/python3*/site-packages \
                /usr/local/lib/python3*/dist-packages /usr/lib/python3/dist-packages; do
            for sub in nvidia/cu13 nvidia/cu12 nvidia/cublas; do
                if any_file "$d/$sub/lib/libcublas.so."* && [ -f "$d/$sub/include/cublas_v2.h" ]; then
                    lib=$d/$sub/lib inc=$d/$sub/include; break 2
                fi
            done
        done
        if [ -n "$lib" ]; then
            mkdir -p "$WORK/cublas-include" && ln -sf "$inc"/cublas*.h "$WORK/cublas-include/"
            cmake_args+=("-DCUDA_cublas_LIBRARY=$(ls "$lib"/libcublas.so.* | sort | head -1)"
                         "-DCUDA_cublasLt_LIBRARY=$(ls "$lib"/libcublasLt.so.* | sort | head -1)"
                         "-DCMAKE_CUDA_FLAGS=-I$WORK/cublas-include" "-DCMAKE_CXX_FLAGS=-I$WORK/cublas-include")
            export LD_LIBRARY_PATH="$lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
            say "cuBLAS is not in the CUDA toolkit at $root: using $lib (headers $inc)"
        else
            say "warning: no cuBLAS in the CUDA toolkit at $root nor in a Python site-packages; ggml-cuda needs it"
        fi
    fi
    if ! any_file "$root"/lib64/stubs/libcuda.so "$root"/lib/stubs/libcuda.so "$root"/targets/*/lib/stubs/libcuda.so "$root"/lib64/libcuda.so \
            /usr/lib/x86_64-linux-gnu/stubs/libcuda.so /usr/lib/x86_64-linux-gnu/libcuda.so /usr/lib64/libcuda.so; then
        drv=$(ldconfig -p 2>/dev/null | awk '/libcuda\.so\.1 / { print $NF; exit }')
        [ -n "$drv" ] || drv=$(ls /usr/local/nvidia/lib64/libcuda.so.1 /usr/local/nvidia/lib/libcuda.so.1 /usr/lib/x86_64-linux-gnu/libcuda.so.1 2>/dev/null | head -1)
        if [ -n "$drv" ]; then
            cmake_args+=("-DCUDA_cuda_driver_LIBRARY=$drv")
            say "no stub libcuda.so in the CUDA toolkit: linking the driver's $drv"
        fi
    fi
}

step_start build
BUILD=$WORK/build-$backend${cuda_arch:+-$(echo "$cuda_arch" | tr -c 'a-z0-9\n' '_')}
generator=(-G Ninja); build_cmd=(ninja -C "$BUILD" -j "$jobs")
if ! command -v ninja >/dev/null; then generator=(-G "Unix Makefiles"); build_cmd=(cmake --build "$BUILD" --parallel "$jobs" --target); fi
cmake_args=(-S "$HERE" -B "$BUILD" "${generator[@]}" -DLLAMA_SRC="$src" -DCMAKE_BUILD_TYPE=Release -DGGML_NATIVE=ON -DGGML_CCACHE=OFF)
case "$backend" in
    cuda)
        [ -n "$cuda_arch" ] || fail "no CUDA architecture: nvidia-smi found no GPU; pass --cuda-arch (e.g. 89 or 90-real)"
        cmake_args+=(-DGGML_CUDA=ON "-DCMAKE_CUDA_ARCHITECTURES=$cuda_arch")
        cuda_libs ;;
    vulkan) cmake_args+=(-DGGML_VULKAN=ON) ;;
    cpu) ;;
esac
tools=(llama-bench llama-completion llama-perplexity headroom-kv-bytes)
run_tool cmake-configure 0 1800 cmake "${cmake_args[@]}" || fail "cmake could not configure (logs/cmake-configure.log)"
# the model writer first (ggml-base only), so the model is written while the GPU backend compiles
run_tool build-random-model 0 1800 "${build_cmd[@]}" headroom-random-model || fail "the model writer did not build (logs/build-random-model.log)"
BIN=$BUILD/bin

if [ $build_only = 0 ]; then
    MODEL_DIR=$WORK/models
    mkdir -p "$MODEL_DIR"
    if [ $quick = 1 ] && [ "$backend" = vulkan ]; then
        # Mesa's llvmpipe runs Vulkan on the CPU, slower than ggml's CPU backend: narrower still
        vocab=$src/models/ggml-vocab-llama-spm.gguf
        model_args=(--layers 32 --embd 512 --heads 8 --kv-heads 8 --ff 512 --rope-base 500000 --ctx-train 131072 --seed 1)
        MODEL=$MODEL_DIR/quick-llama-32L-512.gguf
    elif [ $quick = 1 ]; then
        # small widths, the same layers and KV heads as Llama-3-8B (the DuoAttention pattern is 32 x 8)
        vocab=$src/models/ggml-vocab-llama-spm.gguf
        model_args=(--layers 32 --embd 1024 --heads 16 --kv-heads 8 --ff 1024 --rope-base 500000 --ctx-train 131072 --seed 1)
        MODEL=$MODEL_DIR/quick-llama-32L-1024.gguf
    else
        # Meta-Llama-3-8B's config
        vocab=$src/models/ggml-vocab-llama-bpe.gguf
        model_args=(--layers 32 --embd 4096 --heads 32 --kv-heads 8 --ff 14336 --rope-base 500000 --ctx-train 131072 --seed 1)
        MODEL=$MODEL_DIR/llama3-8b-shape-q4_0.gguf
    fi
    model_cmd=("$BIN/headroom-random-model" --vocab "$vocab" --out "$MODEL" "${model_args[@]}")
    # written once per machine: the same writer and arguments give the same file
    model_key="$(sha256sum < "$HERE/random_model.cpp" | cut -c1-16) $(quote_cmd "${model_args[@]}")"
    if [ -s "$MODEL.json" ] && [ "$(sed -n 1p "$MODEL.args" 2>/dev/null)" = "$model_key" ] && [ -s "$MODEL" ]; then
        say "the model is already written: $MODEL"
        model_pid=""
    else
        rm -f "$MODEL" "$MODEL.json" "$MODEL.args"
        say "\$ $(quote_cmd "${model_cmd[@]}") (in the background)"
        model_t0=$SECONDS
        ( "${model_cmd[@]}" > "$MODEL.json.tmp" 2> "$LOGS/random-model.log" && mv "$MODEL.json.tmp" "$MODEL.json" \
            && echo "$model_key" > "$MODEL.args" ) &
        model_pid=$!
    fi
fi

say "\$ $(quote_cmd "${build_cmd[@]}" "${tools[@]}")"
build_t0=$SECONDS
"${build_cmd[@]}" "${tools[@]}" > "$LOGS/build.log" 2>&1
build_rc=$?
build_secs=$((SECONDS - build_t0))
tail -n 3 "$LOGS/build.log" | sed 's/^/   /' | tee -a "$LOG"
cat > "$PARTS/build.json" <<EOF
{"ok": $([ $build_rc = 0 ] && echo true || echo false), "seconds": $((SECONDS - STEP_T0)), "tools_seconds": $build_secs, "jobs": $jobs, "configure": $(json_str "$(quote_cmd cmake "${cmake_args[@]}")"), "build": $(json_str "$(quote_cmd "${build_cmd[@]}" headroom-random-model) && $(quote_cmd "${build_cmd[@]}" "${tools[@]}")"), "build_dir": $(json_str "$BUILD")}
EOF
[ $build_rc = 0 ] || fail "the build failed (logs/build.log)"
step_end ok "${tools[*]} in $BUILD/bin"
assemble
if [ $build_only = 1 ]; then
    FINISHED=true; assemble
    say "built (--build-only): $(ls "$BIN" | tr '\n' ' ')"
    exit 0
fi

# --- the model -------------------------------------------------------------------------------

step_start model
if [ -n "${model_pid:-}" ]; then
    wait "$model_pid" || fail "the model was not written (logs/random-model.log)"
    say "written in $((SECONDS - model_t0)) s from its start (alongside the build)"
fi
[ -s "$MODEL.json" ] || fail "the model was not written (logs/random-model.log)"
echo "{\"command\": $(json_str "$(quote_cmd "${model_cmd[@]}")"), \"written\": $(cat "$MODEL.json")}" > "$PARTS/model.json"
say "model: $(cat "$MODEL.json")"
step_end ok
assemble

# --- settings of the measurements ------------------------------------------------------------

POL=$HERE/policies
case "$backend" in cpu) ngl=0 ;; *) ngl=99 ;; esac
if [ $quick = 1 ] && [ "$backend" = vulkan ]; then
    BYTES_CTX=2048,8192,32768; DEPTHS=(1024); NP=128; NG=16; PROMPT_CHARS=600; PPL_CTX=256; PPL_CHUNKS=2
elif [ $quick = 1 ]; then
    BYTES_CTX=2048,8192,32768; DEPTHS=(2048); NP=256; NG=32; PROMPT_CHARS=1200; PPL_CTX=512; PPL_CHUNKS=2
else
    BYTES_CTX=8192,32768,131072; DEPTHS=(8192 32768); NP=512; NG=128; PROMPT_CHARS=3000; PPL_CTX=512; PPL_CHUNKS=4
fi
[ -z "$depths" ] || IFS=, read -ra DEPTHS <<< "$depths"
REPS=3
text=$WORK/text.txt   # the tools' input: llama.cpp's own sources, as text
cat "$src/LICENSE" "$src/include/llama.h" "$src/src/llama-context.cpp" > "$text"
prompt=$WORK/prompt.txt
head -c "$PROMPT_CHARS" "$src/include/llama.h" > "$prompt"

# --- KV bytes --------------------------------------------------------------------------------

step_start kv-bytes
kv_cmd=("$BIN/headroom-kv-bytes" -m "$MODEL" -ngl "$ngl" -fa on -ub 512 -b 2048 --decode 16 --ctx "$BYTES_CTX"
        --policy stock --policy "all-full-gpu=$POL/all-full-gpu.txt"
        --policy "duo-0.50-gpu=$POL/duo-0.50-gpu.txt" --policy "duo-0.50-cpu=$POL/duo-0.50-cpu.txt"
        --policy "duo-0.25-gpu=$POL/duo-0.25-gpu.txt" --policy "duo-0.25-cpu=$POL/duo-0.25-cpu.txt")
KV_BYTES_CMD=$(quote_cmd "${kv_cmd[@]}")
limit=$(limit_s 300)
if [ $limit -lt 30 ]; then
    skip "KV bytes" "the budget was spent"
else
    run_tool kv-bytes 1 "$limit" "${kv_cmd[@]}"; rc=$?
    if [ "$(tail -n 1 "$LOGS/kv-bytes.out" 2>/dev/null)" = "}" ]; then
        cp "$LOGS/kv-bytes.out" "$out/kv-bytes.json"
    else # cut short: its output as text, so gpu-check.json stays valid JSON
        echo "{\"incomplete_output\": $(json_file_str "$LOGS/kv-bytes.out")}" > "$out/kv-bytes.json"
    fi
    grep '^headroom-kv-bytes:' "$LOGS/kv-bytes.log" | sed 's/^/   /' | tee -a "$LOG"
    step_end "$([ $rc = 0 ] && echo ok || echo failed)"
fi
assemble

# --- exactness: every head full (default F) against the standard cache ----------------------

step_start exactness
gen_args=(-m "$MODEL" -f "$prompt" -n 48 --temp 0 --seed 1 -c 2048 -b 2048 -ub 512 -fa on -ngl "$ngl" --ignore-eos --no-display-prompt -no-cnv)
ppl_args=(-m "$MODEL" -f "$text" -c "$PPL_CTX" -b "$PPL_CTX" --chunks "$PPL_CHUNKS" -fa on -ngl "$ngl")
ex_parts=()
for variant in stock all-full-gpu all-full-cpu; do
    pol_args=(); [ $variant = stock ] || pol_args=(--kv-head-policy "$POL/$variant.txt")
    if [ "$(remaining)" -lt 60 ]; then skip "exactness $variant" "the budget was spent"; continue; fi
    run_tool "completion-$variant" 1 "$(limit_s 300)" "$BIN/llama-completion" "${gen_args[@]}" "${pol_args[@]}"; grc=$?
    run_tool "perplexity-$variant" 0 "$(limit_s 300)" "$BIN/llama-perplexity" "${ppl_args[@]}" "${pol_args[@]}"; prc=$?
    ppl=$(grep -o 'Final estimate: PPL = .*' "$LOGS/perplexity-$variant.log" | head -1)
    chunks=$(grep -o '^\[1\].*' "$LOGS/perplexity-$variant.log" | head -1)
    tokens_sha=$(sha256sum < "$LOGS/completion-$variant.out" | cut -c1-16)
    say "   $variant: completion ${tokens_sha} ($(wc -c < "$LOGS/completion-$variant.out") bytes), $ppl"
    ex_parts+=("$(json_str "$variant"): {\"completion_command\": $(json_str "$(quote_cmd llama-completion "${gen_args[@]}" "${pol_args[@]}")"), \"completion_exit\": $grc, \"completion_text\": $(json_file_str "$LOGS/completion-$variant.out"), \"completion_sha256_16\": \"$tokens_sha\", \"perplexity_command\": $(json_str "$(quote_cmd llama-perplexity "${ppl_args[@]}" "${pol_args[@]}")"), \"perplexity_exit\": $prc, \"perplexity_chunks\": $(json_str "$chunks"), \"perplexity_final\": $(json_str "$ppl")}")
done
same() { # variant: identical completion text and perplexity lines to stock, both runs ok
    [ -s "$LOGS/completion-stock.out" ] && cmp -s "$LOGS/completion-stock.out" "$LOGS/completion-$1.out" \
        && [ -n "$(grep -o '^\[1\].*' "$LOGS/perplexity-stock.log" | head -1)" ] \
        && [ "$(grep -o '^\[1\].*' "$LOGS/perplexity-stock.log" | head -1)" = "$(grep -o '^\[1\].*' "$LOGS/perplexity-$1.log" | head -1)" ] \
        && [ "$(grep -o 'Final estimate: PPL = .*' "$LOGS/perplexity-stock.log")" = "$(grep -o 'Final estimate: PPL = .*' "$LOGS/perplexity-$1.log")" ]
}
identical=false; same all-full-gpu && identical=true
cpu_identical=false; same all-full-cpu && cpu_identical=true
{
    echo "{\"all_full_gpu_identical_to_stock\": $identical, \"all_full_cpu_identical_to_stock\": $cpu_identical,"
    echo " \"note\": \"identical = the same greedy text (48 tokens, --ignore-eos) and the same per-chunk and final perplexity as the standard cache; all-full-cpu keeps every head in host memory, attended by the CPU: reported, not required to match\","
    echo " \"runs\": {$(IFS=,; echo "${ex_parts[*]}")}}"
} > "$PARTS/exactness.json"
say "exactness: every head full = stock: $identical; full heads in CPU RAM = stock: $cpu_identical"
step_end "$([ $identical = true ] && echo ok || echo failed)"
assemble

# --- prefill and decode speed ---------------------------------------------------------------

step_start speed
bench_one() { # name policy-file|"" depth
    local name=$1 pfile=$2 depth=$3 left limit cmd t0 rc status results
    left=$(remaining)
    if [ "$left" -lt 45 ]; then skip "speed $name at depth $depth" "the budget was spent ($left s left)"; return; fi
    limit=$(limit_s 600)
    cmd=("$BIN/llama-bench" -m "$MODEL" -p "$NP" -n "$NG" -d "$depth" -r "$REPS" -fa on -ngl "$ngl" -ub 512 -b 2048 -o jsonl --progress)
    [ -z "$pfile" ] || cmd+=(--kv-head-policy "$pfile")
    t0=$SECONDS
    say "\$ $(quote_cmd "${cmd[@]}") (limit ${limit} s)"
    timeout -k 10 "$limit" "${cmd[@]}" > "$BENCHD/$name-d$depth.jsonl" 2> "$LOGS/bench-$name-d$depth.log"; rc=$?
    status=ok; [ $rc = 0 ] || status=$([ $rc = 124 ] && echo timed_out || echo "failed ($rc)")
    results=$(grep '^{.*}$' "$BENCHD/$name-d$depth.jsonl" | paste -sd, -)
    printf '{"name": %s, "policy_file": %s, "depth": %d, "n_prompt": %d, "n_gen": %d, "reps": %d, "command": %s, "seconds": %d, "status": %s, "results": [%s]}\n' \
        "$(json_str "$name")" "$([ -n "$pfile" ] && json_str "bench/gpu/policies/$(basename "$pfile")" || echo null)" "$depth" "$NP" "$NG" "$REPS" \
        "$(json_str "$(quote_cmd "${cmd[@]}")")" "$((SECONDS - t0))" "$(json_str "$status")" "$results" >> "$PARTS/speed.jsonl"
    say "   $name @ d$depth: $status in $((SECONDS - t0)) s: $(grep -o '"n_prompt": [0-9]*, "n_gen": [0-9]*\|"avg_ts": [0-9.]*' "$BENCHD/$name-d$depth.jsonl" | tr '\n' ' ' | sed 's/"n_prompt": \([0-9]*\), "n_gen": \([0-9]*\) "avg_ts": /pp\1 tg\2: /g')"
    assemble
}
# the first depth for every layout; the next ones for those the GPU attends (full heads in CPU RAM are attended by
# the CPU, which is the slow part at long depths) while the budget lasts
for depth in "${DEPTHS[@]}"; do
    bench_one stock "" "$depth"
    bench_one duo-0.25-gpu "$POL/duo-0.25-gpu.txt" "$depth"
    bench_one duo-0.50-gpu "$POL/duo-0.50-gpu.txt" "$depth"
    if [ "$depth" = "${DEPTHS[0]}" ] || [ "$backend" = cpu ]; then
        bench_one duo-0.25-cpu "$POL/duo-0.25-cpu.txt" "$depth"
        bench_one duo-0.50-cpu "$POL/duo-0.50-cpu.txt" "$depth"
    else
        skip "speed duo-*-cpu at depth $depth" "full heads in CPU RAM are attended by the CPU: measured at depth ${DEPTHS[0]} only, to fit the budget"
    fi
done
step_end ok
FINISHED=true
assemble

if command -v python3 >/dev/null; then
    python3 "$HERE/summarize.py" "$out/gpu-check.json" > "$out/summary.md" 2>> "$LOG" && cat "$out/summary.md" | tee -a "$LOG" >/dev/null
fi
say "done in $((SECONDS - T0)) s: $out/gpu-check.json"
