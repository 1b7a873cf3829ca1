// The KV cache's bytes, by kind (full, streaming heads) and by device (GPU, host RAM), for the
// standard cache and for per-head policies, at several context sizes: each context is created
// (and, with --decode N, decodes N tokens to show it works), asked, and freed. Read through the
// C API (llama_kv_headwise_buffers, and llama_get_memory_breakdown for the standard cache), not
// from log lines. Prints one JSON object; llama.cpp's own log goes to stderr.
//
//   headroom-kv-bytes -m MODEL --ctx 8192,32768,131072 --policy stock --policy duo-0.50-gpu=FILE ...
//       [-ngl 99] [-ub 512] [-b 2048] [-fa on|off] [-t N] [--decode 16]
//
// --policy NAME=FILE (a --kv-head-policy file, common/kv-head-policy.h) or "stock" (no policy).
#include "llama.h"
#include "llama-ext.h"
#include "kv-head-policy.h"
#include "ggml-backend.h"

#include <algorithm>
#include <chrono>
#include <cinttypes>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

namespace {

std::string jstr(const std::string & s) {
    std::string out = "\"";
    for (const unsigned char c : s) {
        switch (c) {
            case '"':  out += "\\\""; break;
            case '\\': out += "\\\\"; break;
            case '\n': out += "\\n";  break;
            case '\t': out += "\\t";  break;
            default:
                if (c < 0x20) {
                    char buf[8];
                    snprintf(buf, sizeof(buf), "\\u%04x", c);
                    out += buf;
                } else {
                    out += (char) c;
                }
        }
    }
    return out + "\"";
}

struct named_policy {
    std::string name;
    std::string file; // empty: the standard cache
};

struct options {
    std::string model;
    std::vector<uint32_t> ctx;
    std::vector<named_policy> policies;
    int32_t n_gpu_layers = 999;
    uint32_t n_ubatch = 512;
    uint32_t n_batch = 2048;
    bool flash_attn = true;
    int32_t n_threads = (int32_t) std::max(1u, std::thread::hardware_concurrency());
    int32_t decode = 16;
};

[[noreturn]] void usage(const char * argv0, const std::string & why) {
    fprintf(stderr, "error: %s\n", why.c_str());
    fprintf(stderr, "usage: %s -m MODEL --ctx N[,N...] --policy stock|NAME=FILE [--policy ...] [-ngl N] [-ub N] [-b N]\n"
                    "          [-fa on|off] [-t N] [--decode N]\n", argv0);
    exit(2);
}

options parse(int argc, char ** argv) {
    options o;
    for (int i = 1; i < argc; i++) {
        const std::string a = argv[i];
        if (i + 1 >= argc) {
            usage(argv[0], "missing the value of " + a);
        }
        const std::string v = argv[++i];
        if (a == "-m") {
            o.model = v;
        } else if (a == "--ctx") {
            size_t p = 0;
            while (p <= v.size()) {
                const size_t q = std::min(v.find(',', p), v.size());
                o.ctx.push_back((uint32_t) strtoul(v.substr(p, q - p).c_str(), nullptr, 10));
                p = q + 1;
            }
        } else if (a == "--policy") {
            if (v == "stock") {
                o.policies.push_back({ "stock", "" });
            } else {
                const size_t eq = v.find('=');
                if (eq == std::string::npos || eq == 0 || eq + 1 == v.size()) {
                    usage(argv[0], "--policy takes stock or NAME=FILE, not " + v);
                }
                o.policies.push_back({ v.substr(0, eq), v.substr(eq + 1) });
            }
        } else if (a == "-ngl") {
            o.n_gpu_layers = atoi(v.c_str());
        } else if (a == "-ub") {
            o.n_ubatch = (uint32_t) atoi(v.c_str());
        } else if (a == "-b") {
            o.n_batch = (uint32_t) atoi(v.c_str());
        } else if (a == "-fa") {
            if (v != "on" && v != "off") {
                usage(argv[0], "-fa is on or off");
            }
            o.flash_attn = v == "on";
        } else if (a == "-t") {
            o.n_threads = atoi(v.c_str());
        } else if (a == "--decode") {
            o.decode = atoi(v.c_str());
        } else {
            usage(argv[0], "unknown argument " + a);
        }
    }
    if (o.model.empty() || o.ctx.empty() || o.policies.empty()) {
        usage(argv[0], "-m, --ctx and --policy are required");
    }
    for (uint32_t c : o.ctx) {
        if (c == 0) {
            usage(argv[0], "a context size of 0");
        }
    }
    return o;
}

const char * kind_name(llama_kv_head_policy k) {
    switch (k) {
        case LLAMA_KV_HEAD_FULL:      return "full";
        case LLAMA_KV_HEAD_STREAMING: return "streaming";
        case LLAMA_KV_HEAD_WINDOW:    return "window";
    }
    return "unknown";
}

const char * dev_type_name(ggml_backend_dev_t dev) {
    switch (ggml_backend_dev_type(dev)) {
        case GGML_BACKEND_DEVICE_TYPE_CPU:   return "cpu";
        case GGML_BACKEND_DEVICE_TYPE_GPU:   return "gpu";
        case GGML_BACKEND_DEVICE_TYPE_IGPU:  return "igpu";
        case GGML_BACKEND_DEVICE_TYPE_ACCEL: return "accel";
        default:                             return "other";
    }
}

// free memory of every non-CPU device, as the backends report it (cudaMemGetInfo on CUDA)
std::string devices_free() {
    std::string out = "[";
    bool first = true;
    for (size_t i = 0; i < ggml_backend_dev_count(); i++) {
        ggml_backend_dev_t dev = ggml_backend_dev_get(i);
        if (ggml_backend_dev_type(dev) == GGML_BACKEND_DEVICE_TYPE_CPU) {
            continue;
        }
        size_t free = 0, total = 0;
        ggml_backend_dev_memory(dev, &free, &total);
        char buf[256];
        snprintf(buf, sizeof(buf), "%s{\"device\": %s, \"free\": %zu, \"total\": %zu}", first ? "" : ", ",
                 jstr(ggml_backend_dev_name(dev)).c_str(), free, total);
        out += buf;
        first = false;
    }
    return out + "]";
}

double since(std::chrono::steady_clock::time_point t0) {
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

uint64_t pad_to(uint64_t x, uint64_t n) {
    return (x + n - 1) / n * n;
}

// llama.cpp's log on stderr without its debug lines (a graph reserve lists every input tensor's users)
ggml_log_level last_level = GGML_LOG_LEVEL_INFO;
void log_without_debug(ggml_log_level level, const char * text, void * /* user_data */) {
    if (level != GGML_LOG_LEVEL_CONT) {
        last_level = level;
    }
    if (last_level != GGML_LOG_LEVEL_DEBUG) {
        fputs(text, stderr);
    }
}

} // namespace

int main(int argc, char ** argv) {
    const options o = parse(argc, argv);

    llama_log_set(log_without_debug, nullptr);
    llama_backend_init();
    ggml_backend_load_all();

    llama_model_params mp = llama_model_default_params();
    mp.n_gpu_layers = o.n_gpu_layers;
    const auto t_load = std::chrono::steady_clock::now();
    llama_model * model = llama_model_load_from_file(o.model.c_str(), mp);
    if (!model) {
        fprintf(stderr, "error: cannot load %s\n", o.model.c_str());
        return 1;
    }
    const double load_seconds = since(t_load);

    const int32_t n_layer   = llama_model_n_layer(model);
    const int32_t n_head    = llama_model_n_head(model);
    const int32_t n_head_kv = llama_model_n_head_kv(model);
    const int32_t n_embd    = llama_model_n_embd(model);
    char arch[64] = "llama";
    llama_model_meta_val_str(model, "general.architecture", arch, sizeof(arch));
    int32_t head_k = n_embd / n_head;
    int32_t head_v = head_k;
    {
        char key[128], val[64];
        snprintf(key, sizeof(key), "%s.attention.key_length", arch);
        if (llama_model_meta_val_str(model, key, val, sizeof(val)) > 0) {
            head_k = atoi(val);
        }
        snprintf(key, sizeof(key), "%s.attention.value_length", arch);
        if (llama_model_meta_val_str(model, key, val, sizeof(val)) > 0) {
            head_v = atoi(val);
        }
    }
    // f16 K and V: bytes one token takes in one (layer, KV head)
    const uint64_t head_token_bytes = (uint64_t) (head_k + head_v) * 2;
    const int32_t n_vocab = llama_vocab_n_tokens(llama_model_get_vocab(model));

    // llama.cpp pads the streaming heads' cells to 256 where they live on a CUDA device (its flash-attention
    // kernels' KV lengths), else 32 (native/patches/0001, common/kv/policy.ts streamingCells)
    bool cuda = false;
    for (size_t i = 0; i < ggml_backend_dev_count(); i++) {
        ggml_backend_dev_t dev = ggml_backend_dev_get(i);
        ggml_backend_reg_t reg = ggml_backend_dev_backend_reg(dev);
        if (reg && strcmp(ggml_backend_reg_name(reg), "CUDA") == 0 && o.n_gpu_layers != 0) {
            cuda = true;
        }
    }

    printf("{\n  \"tool\": \"headroom-kv-bytes\",\n");
    printf("  \"model\": {\"path\": %s, \"arch\": %s, \"n_layer\": %d, \"n_head\": %d, \"n_head_kv\": %d, \"n_embd\": %d, "
           "\"head_dim_k\": %d, \"head_dim_v\": %d, \"n_vocab\": %d, \"bytes\": %" PRIu64 ", \"params\": %" PRIu64 ", \"load_seconds\": %.2f},\n",
           jstr(o.model).c_str(), jstr(arch).c_str(), n_layer, n_head, n_head_kv, n_embd, head_k, head_v, n_vocab,
           llama_model_size(model), llama_model_n_params(model), load_seconds);
    printf("  \"settings\": {\"n_gpu_layers\": %d, \"n_ubatch\": %u, \"n_batch\": %u, \"flash_attn\": %s, \"type_k\": \"f16\", "
           "\"type_v\": \"f16\", \"n_threads\": %d, \"decode_tokens\": %d},\n",
           o.n_gpu_layers, o.n_ubatch, o.n_batch, o.flash_attn ? "true" : "false", o.n_threads, o.decode);
    printf("  \"devices\": [");
    for (size_t i = 0; i < ggml_backend_dev_count(); i++) {
        ggml_backend_dev_t dev = ggml_backend_dev_get(i);
        size_t free = 0, total = 0;
        ggml_backend_dev_memory(dev, &free, &total);
        printf("%s{\"name\": %s, \"description\": %s, \"type\": \"%s\", \"free\": %zu, \"total\": %zu}", i ? ", " : "",
               jstr(ggml_backend_dev_name(dev)).c_str(), jstr(ggml_backend_dev_description(dev)).c_str(), dev_type_name(dev), free, total);
    }
    printf("],\n  \"measurements\": [\n");
    fflush(stdout);

    bool first = true;
    int failures = 0;
    for (const uint32_t n_ctx : o.ctx) {
        for (const auto & pol : o.policies) {
            llama_context_params cp = llama_context_default_params();
            cp.n_ctx           = n_ctx;
            cp.n_batch         = o.n_batch;
            cp.n_ubatch        = o.n_ubatch;
            cp.n_seq_max       = 1;
            cp.n_threads       = o.n_threads;
            cp.n_threads_batch = o.n_threads;
            cp.flash_attn_type = o.flash_attn ? LLAMA_FLASH_ATTN_TYPE_ENABLED : LLAMA_FLASH_ATTN_TYPE_DISABLED;

            std::string err;
            std::vector<uint8_t> heads;
            common_kv_head_policy policy;
            if (!pol.file.empty()) {
                try {
                    policy = common_kv_head_policy_load(pol.file);
                    if (!common_kv_head_policy_apply(policy, model, cp, heads, err) && err.empty()) {
                        err = "the policy does not fit the model";
                    }
                } catch (const std::exception & e) {
                    err = e.what();
                }
            }
            const int64_t n_full = pol.file.empty() ? (int64_t) n_layer * n_head_kv : std::count(heads.begin(), heads.end(), (uint8_t) LLAMA_KV_HEAD_FULL);
            const int64_t n_stream = std::count(heads.begin(), heads.end(), (uint8_t) LLAMA_KV_HEAD_STREAMING);

            const std::string sinks  = pol.file.empty() ? "null" : std::to_string(policy.n_sink);
            const std::string window = pol.file.empty() ? "null" : std::to_string(policy.n_window);
            printf("%s    {\"n_ctx_requested\": %u, \"policy\": %s, \"policy_file\": %s, \"full_placement\": \"%s\", "
                   "\"sinks\": %s, \"window\": %s, \"full_heads\": %" PRId64 ", \"streaming_heads\": %" PRId64 ", ",
                   first ? "" : ",\n", n_ctx, jstr(pol.name).c_str(), pol.file.empty() ? "null" : jstr(pol.file).c_str(),
                   pol.file.empty() ? "with the layers" : (policy.full_offload ? "gpu" : "cpu"), sinks.c_str(), window.c_str(), n_full, n_stream);
            first = false;

            if (!err.empty()) {
                printf("\"ok\": false, \"error\": %s}", jstr(err).c_str());
                fflush(stdout);
                failures++;
                continue;
            }

            const std::string free_before = devices_free();
            const auto t_create = std::chrono::steady_clock::now();
            llama_context * ctx = llama_init_from_model(model, cp);
            const double create_seconds = since(t_create);
            if (!ctx) {
                printf("\"ok\": false, \"error\": \"llama_init_from_model failed (see the log)\", \"create_seconds\": %.2f}", create_seconds);
                fflush(stdout);
                failures++;
                continue;
            }
            const std::string free_after = devices_free();
            const uint32_t n_ctx_cells = llama_n_ctx(ctx);

            const char * reason = nullptr;
            const bool active = llama_kv_headwise_active(ctx, &reason);

            // by buffer type: weights, KV (the context's memory) and compute buffers
            uint64_t kv_device = 0, kv_host = 0, compute_device = 0, compute_host = 0;
            std::string by_buft = "[";
            for (const auto & [buft, mb] : llama_get_memory_breakdown(ctx)) {
                const bool host = ggml_backend_buft_is_host(buft);
                (host ? kv_host : kv_device) += mb.context;
                (host ? compute_host : compute_device) += mb.compute;
                char buf[512];
                snprintf(buf, sizeof(buf), "%s{\"buft\": %s, \"host\": %s, \"model\": %zu, \"kv\": %zu, \"compute\": %zu}",
                         by_buft.size() > 1 ? ", " : "", jstr(ggml_backend_buft_name(buft)).c_str(), host ? "true" : "false",
                         mb.model, mb.context, mb.compute);
                by_buft += buf;
            }
            by_buft += "]";

            // the per-head cache's buffers by kind, with the cells each head holds
            std::string buffers = "[";
            uint64_t stream_cells = 0;
            const int32_t n_buf = llama_kv_headwise_buffers(ctx, nullptr, 0);
            std::vector<llama_kv_headwise_buffer> bufs(std::max(n_buf, 0));
            if (n_buf > 0) {
                llama_kv_headwise_buffers(ctx, bufs.data(), n_buf);
            }
            for (const auto & b : bufs) {
                char buf[512];
                snprintf(buf, sizeof(buf), "%s{\"kind\": \"%s\", \"buft\": %s, \"host\": %s, \"bytes\": %" PRIu64 ", \"cells\": %u, \"heads\": %u}",
                         buffers.size() > 1 ? ", " : "", kind_name(b.kind), jstr(b.buft ? b.buft : "").c_str(), b.host ? "true" : "false",
                         b.size, b.n_cells, b.n_heads);
                buffers += buf;
                if (b.kind == LLAMA_KV_HEAD_STREAMING) {
                    stream_cells = b.n_cells;
                }
            }
            buffers += "]";

            // the formula: every full head holds the context's cells; a streaming head holds its sinks, its window and
            // room for a ubatch (or the window before the prompt's end and a new token), padded, at most the context
            uint64_t expected_stream_cells = 0;
            if (n_stream > 0) {
                const uint64_t want = policy.n_sink + std::max<uint64_t>(policy.n_window + o.n_ubatch, 2ull * policy.n_window + 1);
                expected_stream_cells = std::min<uint64_t>(n_ctx_cells, pad_to(want, cuda ? 256 : 32));
            }
            const uint64_t stock_bytes = (uint64_t) n_layer * n_head_kv * n_ctx_cells * head_token_bytes;
            const uint64_t expected_bytes = pol.file.empty() ? stock_bytes
                : (uint64_t) n_full * n_ctx_cells * head_token_bytes + (uint64_t) n_stream * expected_stream_cells * head_token_bytes;

            // a few tokens through the graph, to show the context works at this size
            double decode_seconds = 0;
            bool decoded = true;
            if (o.decode > 0) {
                std::vector<llama_token> toks(o.decode);
                for (int32_t i = 0; i < o.decode; i++) {
                    toks[i] = (llama_token) ((1000 + 7919 * i) % n_vocab);
                }
                const auto t_dec = std::chrono::steady_clock::now();
                decoded = llama_decode(ctx, llama_batch_get_one(toks.data(), (int32_t) toks.size())) == 0;
                llama_token next = toks.back();
                decoded = decoded && llama_decode(ctx, llama_batch_get_one(&next, 1)) == 0;
                decode_seconds = since(t_dec);
            }

            printf("\"ok\": %s, \"n_ctx\": %u, \"headwise_active\": %s, \"headwise_reason\": %s, "
                   "\"kv_device_bytes\": %" PRIu64 ", \"kv_host_bytes\": %" PRIu64 ", \"kv_bytes\": %" PRIu64 ", "
                   "\"kv_expected_bytes\": %" PRIu64 ", \"kv_stock_bytes\": %" PRIu64 ", \"kv_share_of_stock\": %.4f, "
                   "\"streaming_cells\": %" PRIu64 ", \"streaming_cells_expected\": %" PRIu64 ", "
                   "\"compute_device_bytes\": %" PRIu64 ", \"compute_host_bytes\": %" PRIu64 ", "
                   "\"create_seconds\": %.2f, \"decoded\": %s, \"decode_seconds\": %.3f, "
                   "\"by_buffer_type\": %s, \"headwise_buffers\": %s, \"device_free_before\": %s, \"device_free_after\": %s}",
                   decoded ? "true" : "false", n_ctx_cells, active ? "true" : "false", reason ? jstr(reason).c_str() : "null",
                   kv_device, kv_host, kv_device + kv_host, expected_bytes, stock_bytes,
                   stock_bytes ? (double) (kv_device + kv_host) / (double) stock_bytes : 0.0,
                   stream_cells, expected_stream_cells, compute_device, compute_host,
                   create_seconds, decoded ? "true" : "false", decode_seconds,
                   by_buft.c_str(), buffers.c_str(), free_before.c_str(), free_after.c_str());
            fflush(stdout);
            if (!decoded) {
                failures++;
            }
            fprintf(stderr, "headroom-kv-bytes: n_ctx %u, %s: KV %.1f MiB on devices, %.1f MiB in host memory (%.1f%% of stock)\n",
                    n_ctx_cells, pol.name.c_str(), kv_device / 1048576.0, kv_host / 1048576.0,
                    stock_bytes ? 100.0 * (double) (kv_device + kv_host) / (double) stock_bytes : 0.0);

            llama_free(ctx);
        }
    }
    printf("\n  ],\n  \"failures\": %d\n}\n", failures);

    llama_model_free(model);
    llama_backend_free();
    return failures == 0 ? 0 : 1;
}
