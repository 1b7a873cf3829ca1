#!/usr/bin/env python3
"""Tables from a bench/gpu/check.sh run: python3 bench/gpu/summarize.py DIR/gpu-check.json > summary.md

Speeds are llama-bench's own per-repeat samples (tokens per second of the timed part: the prompt
for pp, the generated tokens for tg; the depth before them is not timed), as min / median / max
over the repeats; the ratio is the median against the standard cache's median at the same depth.
"""
import json
import statistics
import sys

MIB = 1024 * 1024


def mib(x):
    return f"{x / MIB:,.1f}"


def spread(samples):
    if not samples:
        return "—", None
    med = statistics.median(samples)
    return f"{min(samples):,.1f} / **{med:,.1f}** / {max(samples):,.1f}", med


def main(path):
    with open(path) as f:
        run = json.load(f)
    m = run.get("machine") or {}
    gpu = m.get("gpu") or {}
    print(f"# GPU check ({run['mode']}, {run['backend']})\n")
    print(f"- command: `{run['command']}`")
    print(f"- started {run['started']}, {run['elapsed_seconds']} s in all (budget {run['budget_seconds'] or 'none'}), finished: {run['finished']}")
    if gpu.get("nvidia_smi"):
        print(f"- GPU: {gpu['nvidia_smi']} (driver's CUDA {gpu.get('driver_cuda_version')}); {m.get('nvcc') or ''}")
    if gpu.get("mesa_vulkan_drivers"):
        print(f"- Vulkan: Mesa {gpu['mesa_vulkan_drivers']}, GGML_VK_VISIBLE_DEVICES={gpu.get('GGML_VK_VISIBLE_DEVICES')}")
    print(f"- CPU: {m.get('cpu')}, {m.get('cores')} cores, {round((m.get('memory_kib') or 0) / 1048576)} GiB; {m.get('os')}")
    model = ((run.get("model") or {}).get("written")) or {}
    if model:
        print(f"- model: random Llama, {model['n_layer']} layers, n_embd {model['n_embd']}, {model['n_head']} heads / "
              f"{model['n_head_kv']} KV heads of {model['head_dim']}, FFN {model['n_ff']}, vocab {model['n_vocab']}, "
              f"{model['type']}, {model['bytes'] / 2**30:.2f} GiB")

    print("\n## Steps\n\n| step | status | seconds | at |\n|---|---|---:|---:|")
    for s in run.get("steps", []):
        print(f"| {s['step']} | {s['status']} | {s['seconds']} | {s['at_seconds']} |")

    ex = run.get("exactness")
    if ex:
        print("\n## Exactness (every head full, `default F`, against no policy)\n")
        print(f"- on the GPU (full_placement gpu): identical = **{ex['all_full_gpu_identical_to_stock']}**")
        print(f"- in CPU RAM (full_placement cpu): identical = {ex['all_full_cpu_identical_to_stock']} (reported, not required)")
        for name, r in ex.get("runs", {}).items():
            print(f"- {name}: completion {r['completion_sha256_16']}, {r['perplexity_final'] or 'no perplexity'}")

    kv = (run.get("kv_bytes") or {}).get("result") or {}
    if kv.get("measurements"):
        print("\n## KV cache bytes (f16), as the contexts report them\n")
        print("| context | layout | full / streaming heads | on the device, MiB | in host RAM, MiB | share of stock | = formula | streaming cells |")
        print("|---:|---|---|---:|---:|---:|---|---:|")
        for r in kv["measurements"]:
            if not r.get("ok") and "kv_bytes" not in r:
                print(f"| {r['n_ctx_requested']} | {r['policy']} | — | failed: {r.get('error', '')} | | | | |")
                continue
            print(f"| {r['n_ctx']:,} | {r['policy']} | {r['full_heads']} / {r['streaming_heads']} | {mib(r['kv_device_bytes'])} | "
                  f"{mib(r['kv_host_bytes'])} | {100 * r['kv_share_of_stock']:.1f} % | "
                  f"{'yes' if r['kv_bytes'] == r['kv_expected_bytes'] else 'no'} | {r['streaming_cells'] or '—'} |")

    speed = run.get("speed", [])
    if speed:
        print("\n## Prefill and decode (llama-bench, tokens/s: min / median / max of the repeats)\n")
        print("| layout | depth | prefill | × stock | decode | × stock | status |")
        print("|---|---:|---:|---:|---:|---:|---|")
        stock = {}
        rows = []
        for e in speed:
            pp = next((r for r in e["results"] if r.get("n_prompt", 0) > 0 and r.get("n_gen", 0) == 0), None)
            tg = next((r for r in e["results"] if r.get("n_gen", 0) > 0 and r.get("n_prompt", 0) == 0), None)
            pps, ppm = spread(pp["samples_ts"] if pp else [])
            tgs, tgm = spread(tg["samples_ts"] if tg else [])
            if e["name"] == "stock":
                stock[e["depth"]] = (ppm, tgm)
            rows.append((e, pps, ppm, tgs, tgm))
        for e, pps, ppm, tgs, tgm in rows:
            sp, st = stock.get(e["depth"], (None, None))
            rp = f"{ppm / sp:.2f}" if ppm and sp else "—"
            rt = f"{tgm / st:.2f}" if tgm and st else "—"
            print(f"| {e['name']} | {e['depth']:,} | {pps} | {rp} | {tgs} | {rt} | {e['status']} ({e['seconds']} s) |")
        print(f"\nprefill = pp{speed[0]['n_prompt']} after the depth, decode = tg{speed[0]['n_gen']} after the depth; "
              f"{speed[0]['reps']} repeats each after llama-bench's warm-up")

    if run.get("skipped"):
        print("\n## Skipped\n")
        for s in run["skipped"]:
            print(f"- {s['what']}: {s['why']}")


if __name__ == "__main__":
    main(sys.argv[1])
